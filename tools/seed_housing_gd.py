"""Seed 001, section 2, in the seed's own numpy: ``y = m x + b`` on California housing (MedInc -> target),
full-batch gradient descent (m = b = 0.2, lr 0.01, 1000 iterations; the seed prints (m, b) =
(0.41893244701097204, 0.44612945637258383)) and mini-batch SGD (m = b = 0.5, lr 0.01, 100 iterations,
batch 100, ``np.random.randint``). ``gradient_descent`` and ``stochastic_gradient_descent`` are the
seed's code with pandas Series replaced by numpy arrays (``X.dot(f).sum()`` is the same number) and
sklearn's ``mean_squared_error`` by its formula; the closed form (the seed's sklearn ``LinearRegression``)
by ``np.linalg.lstsq``.

``--quick`` changes nothing (the seed's run takes milliseconds); ``--seed`` seeds the SGD draws.

Usage: python tools/seed_housing_gd.py --data-dir ../shared/data
"""
import time

import numpy as np
from seed_common import housing, parser, report


def mean_squared_error(y, y_pred):
    return np.mean((y - y_pred) ** 2)


def gradient_descent(X, y, lr=0.05, iterations=10):
    m, b = 0.2, 0.2
    log, mse = [], []
    N = len(X)
    for _ in range(iterations):
        f = y - (m * X + b)
        m -= lr * (-2 * X.dot(f).sum() / N)
        b -= lr * (-2 * f.sum() / N)
        log.append((m, b))
        mse.append(mean_squared_error(y, (m * X + b)))
    return m, b, log, mse


def stochastic_gradient_descent(X, y, lr=0.05, iterations=10, batch_size=10):
    m, b = 0.5, 0.5
    log, mse = [], []
    for _ in range(iterations):
        indexes = np.random.randint(0, len(X), batch_size)
        Xs = np.take(X, indexes)
        ys = np.take(y, indexes)
        N = len(Xs)
        f = ys - (m * Xs + b)
        m -= lr * (-2 * Xs.dot(f).sum() / N)
        b -= lr * (-2 * f.sum() / N)
        log.append((m, b))
        mse.append(mean_squared_error(y, m * X + b))
    return m, b, log, mse


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    start = time.perf_counter()
    X, Y = housing(args.data_dir)
    m, b, log, mse = gradient_descent(X, Y, lr=0.01, iterations=1000)
    coef, intercept = np.linalg.lstsq(np.stack([X, np.ones_like(X)], axis=1), Y, rcond=None)[0]
    np.random.seed(args.seed)
    sm, sb, _, _ = stochastic_gradient_descent(X, Y, lr=0.01, iterations=100, batch_size=100)
    result = {"gd_m_b": [m, b], "closed_form_m_b": [float(coef), float(intercept)], "sgd_m_b": [sm, sb],
              "gd_final_mse": float(mse[-1])}
    report("seed_housing_gd", start, "GD 1000 iterations lr 0.01; SGD 100 iterations batch 100", result)


if __name__ == "__main__":
    main()
