"""Seed 000, part 1, in the seed's own numpy: logistic regression on quadratic features by mini-batch SGD,
SGD + momentum and RMSprop (100 iterations, batch 4, eta 0.05, w0 = [0, 0, 0, 0, 0, 1]), the loss on the
full data recorded before every step. ``expand``, ``probability``, ``compute_loss``, ``compute_grad`` and
the three loops are the seed's code.

The assignment's data file is not available: the points are drawn as ``fnnet.data.circles`` draws them
(400 points, half uniform in the unit disc, half in the ring out to radius 2, jitter 0.1), with numpy.
The experiment of ``fnnet run linear_quadratic``: 20 data orders x 3 optimizers (``--quick``: one order),
each optimizer re-seeded to see the same batches, as the recipe's do.

Usage: python tools/seed_linear_quadratic.py [--quick] [--repeats 20]
"""
import time

import numpy as np
from seed_common import parser, report


def expand(X):
    X0, X1 = X[:, 0], X[:, 1]
    return np.stack([X0, X1, X0**2, X1**2, X0 * X1, np.ones(len(X))], axis=1)


def probability(X, w):
    return 1. / (1 + np.exp(-np.dot(X, w)))


def compute_loss(X, y, w):
    return -np.mean(y * np.log(probability(X, w)) + (1 - y) * np.log(1 - probability(X, w)))


def compute_grad(X, y, w):
    return np.dot((probability(X, w) - y), X) / X.shape[0]


def circles(rng, n=400, noise=0.1):
    half = n // 2
    u = rng.uniform(size=n)
    r2 = np.where(np.arange(n) < half, u, 1.0 + 3.0 * u)
    angle = rng.uniform(0, 2 * np.pi, size=n)
    points = np.sqrt(r2)[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1) + noise * rng.normal(size=(n, 2))
    labels = (np.arange(n) < half).astype(np.float64)
    order = rng.permutation(n)
    return points[order], labels[order]


def sgd(X_expanded, y, eta=0.05, n_iter=100, batch_size=4):
    w = np.array([0, 0, 0, 0, 0, 1])
    loss = np.zeros(n_iter)
    for i in range(n_iter):
        ind = np.random.choice(X_expanded.shape[0], batch_size)
        loss[i] = compute_loss(X_expanded, y, w)
        dw = compute_grad(X_expanded[ind, :], y[ind], w)
        w = w - eta * dw
    return loss


def momentum(X_expanded, y, eta=0.05, alpha=0.9, n_iter=100, batch_size=4):
    w = np.array([0, 0, 0, 0, 0, 1])
    nu = np.zeros_like(w)
    loss = np.zeros(n_iter)
    for i in range(n_iter):
        ind = np.random.choice(X_expanded.shape[0], batch_size)
        loss[i] = compute_loss(X_expanded, y, w)
        dw = compute_grad(X_expanded[ind, :], y[ind], w)
        nu = alpha * nu + eta * dw
        w = w - nu
    return loss


def rmsprop(X_expanded, y, eta=0.05, alpha=0.9, eps=1e-8, n_iter=100, batch_size=4):
    w = np.array([0, 0, 0, 0, 0, 1])
    G = np.zeros_like(w)
    loss = np.zeros(n_iter)
    for i in range(n_iter):
        ind = np.random.choice(X_expanded.shape[0], batch_size)
        loss[i] = compute_loss(X_expanded, y, w)
        dw = compute_grad(X_expanded[ind, :], y[ind], w)
        G = alpha * G + (1 - alpha) * dw**2
        w = w - eta * dw / np.sqrt(G + eps)
    return loss


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=None, help="data orders (default 20; --quick 1)")
    args = p.parse_args()
    start = time.perf_counter()
    repeats = args.repeats or (1 if args.quick else 20)
    X, y = circles(np.random.default_rng(args.seed))
    X_expanded = expand(X)
    finals = {"SGD": [], "momentum": [], "RMSprop": []}
    for r in range(repeats):
        for name, loop in (("SGD", sgd), ("momentum", momentum), ("RMSprop", rmsprop)):
            np.random.seed(args.seed + r)  # the same batches for the three optimizers
            finals[name].append(float(loop(X_expanded, y)[-1]))
    result = {"final_loss_first_order": {k: round(v[0], 4) for k, v in finals.items()},
              "momentum_below_sgd": sum(m < s for m, s in zip(finals["momentum"], finals["SGD"])),
              "rmsprop_below_sgd": sum(m < s for m, s in zip(finals["RMSprop"], finals["SGD"])), "orders": repeats}
    report("seed_linear_quadratic", start, f"{repeats} data orders x 3 optimizers, 100 iterations, batch 4", result)


if __name__ == "__main__":
    main()
