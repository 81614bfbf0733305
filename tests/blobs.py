"""Small linearly separable classification data for the ensemble and sweep tests."""
import numpy as np


def blobs(n: int, seed: int, d: int = 6, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: ``x`` ``(n, d)`` float32 standard normal, ``y`` ``(n,)`` int labels ``argmax(x @ w)``
    for one fixed ``w`` (the same for every ``seed``, so that splits drawn with different seeds share
    the decision rule). Legacy numpy seeds: the data only needs to be reproducible."""
    x = np.random.RandomState(seed).randn(n, d).astype(np.float32)
    w = np.random.RandomState(99).randn(d, classes)
    return x, (x @ w).argmax(1)
