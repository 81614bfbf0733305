"""Train/test splits: keyed (jax) or scikit-learn-identical (numpy seed), and the CS4487 protocol."""
from __future__ import annotations

import math

import jax
import numpy as np

from fnnet._checks import as_array, check_same_length
from fnnet.data.dataset import Dataset


def _split_sizes(n: int, test_size, train_size) -> tuple[int, int]:
    """``(n_train, n_test)`` by scikit-learn's rule: a float ``test_size`` takes ``ceil(test_size*n)``, a
    float ``train_size`` ``floor(train_size*n)``, an int is a count, a missing one is the complement;
    neither given means ``test_size=0.25``."""
    if test_size is None and train_size is None:
        test_size = 0.25

    def count(name: str, size) -> int | None:
        if size is None:
            return None
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a fraction in (0, 1) or a count in [1, {n - 1}], got {size!r}")
        if isinstance(size, (float, np.floating)):
            if not 0 < size < 1:
                raise ValueError(f"{name} as a fraction must lie in (0, 1), got {size!r}")
            return math.ceil(size * n) if name == "test_size" else math.floor(size * n)
        if not 1 <= size < n:
            raise ValueError(f"{name} as a count must lie in [1, {n - 1}] for {n} examples, got {size!r}")
        return int(size)

    n_test, n_train = count("test_size", test_size), count("train_size", train_size)
    n_test = n - n_train if n_test is None else n_test
    n_train = n - n_test if n_train is None else n_train
    if n_train < 1 or n_test < 1 or n_train + n_test > n:
        raise ValueError(
            f"test_size={test_size!r}, train_size={train_size!r} give {n_train} train + {n_test} test examples "
            f"out of {n}; both must be >= 1 and together at most {n}"
        )
    return n_train, n_test


def train_test_indices(
    n: int,
    *,
    test_size: float | int | None = None,
    train_size: float | int | None = None,
    key: jax.Array | None = None,
    seed: int | None = None,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx (n_train,), test_idx (n_test,))`` int64 indices into ``n`` examples.

    Sizes follow scikit-learn (see :func:`train_test_split`). With ``shuffle``, exactly one of ``key`` (a
    ``jax.random.permutation``) or ``seed`` (scikit-learn's ``ShuffleSplit`` algorithm:
    ``perm = np.random.RandomState(seed).permutation(n)``, test = ``perm[:n_test]``, train =
    ``perm[n_test:n_test + n_train]``, so ``seed=s`` reproduces ``train_test_split(..., random_state=s)``
    exactly). Without ``shuffle``: the first ``n_train`` examples train, the next ``n_test`` test.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"need at least 2 examples to split, got {n!r}")
    n_train, n_test = _split_sizes(int(n), test_size, train_size)
    if not shuffle:
        if key is not None or seed is not None:
            raise ValueError("shuffle=False takes no key or seed")
        return np.arange(n_train), np.arange(n_train, n_train + n_test)
    if (key is None) == (seed is None):
        raise ValueError("pass exactly one of key (jax.random) or seed (scikit-learn's numpy RandomState split)")
    if key is not None:
        permutation = np.asarray(jax.random.permutation(key, int(n)), dtype=np.int64)
    else:
        permutation = np.random.RandomState(seed).permutation(int(n))  # legacy RNG: sklearn's exact split
    return permutation[n_test : n_test + n_train], permutation[:n_test]


def train_test_split(
    *arrays,
    test_size: float | int | None = None,
    train_size: float | int | None = None,
    key: jax.Array | None = None,
    seed: int | None = None,
    shuffle: bool = True,
) -> list:
    """Splits arrays of equal length like ``sklearn.model_selection.train_test_split``.

    Returns ``[a_train, a_test, b_train, b_test, ...]``. Sizes: a float is a fraction (``test_size``
    rounds up, ``train_size`` down), an int a count; one of them defaults to the complement of the other,
    and ``test_size=0.25`` when neither is given. Randomness: ``key=`` (jax) or ``seed=`` (identical to
    scikit-learn's ``random_state=seed``); see :func:`train_test_indices`.
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    arrays = [as_array(f"arrays[{i}]", a) for i, a in enumerate(arrays)]
    n = check_same_length(**{f"arrays[{i}]": a for i, a in enumerate(arrays)})
    train_idx, test_idx = train_test_indices(
        n, test_size=test_size, train_size=train_size, key=key, seed=seed, shuffle=shuffle
    )
    return [part for a in arrays for part in (a[train_idx], a[test_idx])]


def cs4487_split(dataset: Dataset, *, every: int = 10, val_size: float = 0.1, seed: int = 4487) -> Dataset:
    """The CS4487 lecture-9b protocol: every ``every``-th training image, then a fixed validation split.

    From MNIST: ``x_train[::10]`` -> 6,000 images; then scikit-learn's ``train_test_split(train_size=0.9,
    test_size=0.1, random_state=4487)``, reproduced exactly -> ``x_train`` 5,400 (in the split's shuffled
    order, as the seed trains on them), ``x_val`` 600; ``x_test`` unchanged (all 10,000).

    Note: for its dense models the seed centers with the mean of all 6,000 subsampled images (fitted before
    the split): ``Standardizer.fit(np.concatenate([x_train, x_val]), with_std=False)`` reproduces that.
    """
    if int(every) != every or every < 1:
        raise ValueError(f"every must be a positive integer, got {every!r}")
    x, y = dataset.x_train[::every], dataset.y_train[::every]
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_size, train_size=round(1.0 - val_size, 12), seed=seed
    )
    return dataset.replace(
        x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
        name=f"{dataset.name}/cs4487", source=f"{dataset.source} [::{every}], val_size={val_size}, seed={seed}",
    )
