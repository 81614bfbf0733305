"""Seed 003 ("Overfit", "Regularization"), as a numpy program: the article shows its pictures, not its
code, so this is the experiment it describes, written plainly. Noisy points of y = x (10 evenly spaced x
in [0, 20], y = x + N(0, 1)); polynomials of orders 1, 3, 5, 7, 9 on the powers of x / 20, fitted by
least squares (``np.linalg.lstsq``) and trained by full-batch gradient descent on the article's cost
``J = MSE + λ ||c||`` (λ = 0, and λ = 1 "after many repetitions of trial"; the norm as written, not
squared, over every coefficient), 20,000 steps of learning rate 0.1 (``--quick``: 2,000, orders 1 and 9).
Reports per order the train MSE, the MSE on 101 fresh test points and the mean squared gap to y = x.

Usage: python tools/seed_polynomial.py [--quick]
"""
import time

import numpy as np
from seed_common import parser, report


def powers(x, order):
    return (x[:, None] / 20.0) ** np.arange(order + 1)


def train(A, y, lam, steps, lr=0.1):
    c = np.zeros(A.shape[1])
    for _ in range(steps):
        grad = 2 * A.T @ (A @ c - y) / len(y)
        norm = np.linalg.norm(c)
        if lam and norm > 0:
            grad += lam * c / norm
        c -= lr * grad
    return c


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    orders, steps = ((1, 9), 2000) if args.quick else ((1, 3, 5, 7, 9), 20000)
    x, x_test, grid = np.linspace(0, 20, 10), np.linspace(0, 20, 101), np.linspace(0, 20, 401)
    y, y_test = x + rng.normal(size=10), x_test + rng.normal(size=101)
    result = {}
    for order in orders:
        A = powers(x, order)
        fits = {"lstsq": np.linalg.lstsq(A, y, rcond=None)[0], "gd": train(A, y, 0.0, steps),
                "gd_lambda_1": train(A, y, 1.0, steps)}
        result[f"order {order}"] = {
            name: {"train_mse": float(np.mean((A @ c - y) ** 2)),
                   "test_mse": round(float(np.mean((powers(x_test, order) @ c - y_test) ** 2)), 4),
                   "gap_to_line": round(float(np.mean((powers(grid, order) @ c - grid) ** 2)), 4)}
            for name, c in fits.items()}
    report("seed_polynomial", start, f"orders {list(orders)}, lstsq and {steps} GD steps, λ 0 and 1", result)


if __name__ == "__main__":
    main()
