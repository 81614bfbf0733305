"""Seed 003 ("Weight initialization"), the article's numbers in numpy: 20,000 draws of W ~ N(0, 1)
(the article: σ² = 0.998); a node with 1000 inputs, half of them 1 and half 0, and 20,000 outputs
y = W x + b (σ² = 497.6); the same with ``w = np.random.randn(n) * sqrt(2.0/n)`` (the article's ReLU
scaling; variance 500 * 2 / 1000 = 1). ``--quick``: 5,000 outputs (the recipe's --quick).

Usage: python tools/seed_init_scale.py [--quick]
"""
import time
from math import sqrt

import numpy as np
from seed_common import parser, report


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    start = time.perf_counter()
    np.random.seed(args.seed)
    n, outputs = 1000, 5000 if args.quick else 20000
    W = np.random.randn(outputs)
    x = np.zeros(n)
    x[: n // 2] = 1.0
    weights = np.random.randn(outputs, n)
    y = weights @ x  # b = 0
    he = (np.random.randn(outputs, n) * sqrt(2.0 / n)) @ x
    result = {"var_W": round(float(W.var()), 4), "var_Wx": round(float(y.var()), 2), "var_Wx_he": round(float(he.var()), 4)}
    report("seed_init_scale", start, f"{outputs} outputs, {n} inputs half ones", result)


if __name__ == "__main__":
    main()
