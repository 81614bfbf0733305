"""Argument checks shared by the whole library.

Every public entry point validates its inputs on the host, before anything is traced, so that a user
sees a ``ValueError`` that names the argument and says what was expected, never a deep XLA traceback
or a silently wrong answer. Checks that need concrete values (finiteness, label ranges) are skipped
when the value is a JAX tracer: inside ``jit`` only static facts (shapes, dtypes) can be checked.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def caller_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` (called by the function that calls this) that points the
    warning at the first frame outside the fnnet package: the user's call, however deep inside fnnet the
    warning is issued."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def is_traced(x: Any) -> bool:
    """True when ``x`` is an abstract value inside a JAX transformation (no concrete data)."""
    return isinstance(x, jax.core.Tracer)


def as_array(name: str, x: Any) -> Any:
    """Returns ``x`` as an array (numpy or jax), or raises naming ``name`` when it is not a numeric array."""
    if isinstance(x, (np.ndarray, jax.Array)):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as err:  # pragma: no cover - numpy's own message is kept as the cause
            raise ValueError(f"{name} must be array-like, got {type(x).__name__}") from err
    if arr.dtype == object:
        raise ValueError(f"{name} must be a numeric array, got an object array (ragged or mixed types?)")
    check_numeric(name, arr)
    return arr


def check_numeric(name: str, x: Any) -> None:
    """Raises unless ``x`` holds numbers (bool, int, float): text or bytes arrays name their dtype."""
    dtype = np.asarray(x).dtype if not isinstance(x, jax.Array) else x.dtype
    if dtype.kind in "USV":
        raise ValueError(f"{name} must be a numeric array, got dtype {dtype} (text or bytes: encode it as "
                         "numbers first)")


def check_bool(name: str, value: Any) -> None:
    """Raises unless ``value`` is True or False (a string such as 'no' would count as true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_int(name: str, value: Any, *, low: int = 1, allow_none: bool = False) -> None:
    """Raises unless ``value`` is an int (not a bool, not a float such as 1.5) ``>= low`` (or ``None``
    with ``allow_none``)."""
    if allow_none and value is None:
        return
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < low:
        want = "a positive int" if low == 1 else f"an int >= {low}"
        raise ValueError(f"{name} must be {want}{' or None' if allow_none else ''}, got {value!r}")


def check_ndim(name: str, x: Any, ndim: int | Sequence[int]) -> None:
    """Raises unless ``x.ndim`` is ``ndim`` (or one of them)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if np.ndim(x) not in allowed:
        want = " or ".join(str(d) for d in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(np.shape(x))}")


def check_finite(name: str, x: Any) -> None:
    """Raises when a concrete floating array holds NaN or Inf (says how many and where the first is)."""
    if is_traced(x):
        return
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.complexfloating):
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or Inf); first at index {first}. "
            "Clean or impute the data before training."
        )


def check_same_length(**arrays: Any) -> int:
    """Raises unless all arrays have the same leading dimension; returns it."""
    lengths = {name: int(np.shape(a)[0]) for name, a in arrays.items() if a is not None and np.ndim(a) > 0}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{n} has {k}" for n, k in lengths.items())
        raise ValueError(f"mismatched batch sizes: {desc} examples along axis 0; they must be equal")
    return next(iter(lengths.values())) if lengths else 0


def check_labels(name: str, y: Any, n_classes: int) -> None:
    """Raises unless integer labels lie in ``[0, n_classes)``, or one-hot/probability labels have
    ``n_classes`` columns. Float arrays whose last axis is ``n_classes`` are treated as one-hot."""
    if is_traced(y):
        return
    arr = np.asarray(y)
    if np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.bool_):
        if arr.size == 0:
            return
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n_classes:
            raise ValueError(
                f"{name} must hold integer class labels in [0, {n_classes}), got values in [{lo}, {hi}]"
            )
        return
    check_finite(name, arr)
    if arr.ndim >= 2 and arr.shape[-1] == n_classes:
        return
    if arr.ndim >= 1 and n_classes == 1:
        return
    if np.all(arr == np.round(arr)):
        check_labels(name, arr.astype(np.int64), n_classes)
        return
    raise ValueError(
        f"{name} must be integer labels in [0, {n_classes}) or one-hot rows of length {n_classes}, "
        f"got float array of shape {arr.shape}"
    )


def check_key(name: str, key: Any) -> None:
    """Raises unless ``key`` is one JAX PRNG key: a typed key (``jax.random.key(0)``) or a raw ``uint32``
    key of shape ``(2,)`` (``jax.random.PRNGKey(0)``)."""
    typed = isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    raw = (not typed and isinstance(key, (jax.Array, np.ndarray)) and np.shape(key) == (2,)
           and np.asarray(key).dtype == np.uint32)
    if typed and np.shape(key) == ():
        return
    if raw:
        return
    if typed:
        raise ValueError(f"{name} must be one PRNG key, got a batch of keys of shape {tuple(np.shape(key))}; "
                         f"pass one key such as jax.random.key(0) (split it yourself for several runs)")
    given = f"{type(key).__name__} {key!r}" if isinstance(key, (int, float, type(None), str)) else \
        f"{type(key).__name__} of shape {tuple(np.shape(key))}"
    raise ValueError(f"{name} must be a jax.random key: pass {name}=jax.random.key(0) (any int seed), got {given}")


def as_numbers(name: str, value: Any) -> np.ndarray:
    """``value`` (a number or an array of them) as float64, or a ``ValueError`` naming ``name``: text,
    ``None`` and ``True``/``False`` are not numbers here (numpy would read ``True`` as 1)."""
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {type(value).__name__} "
                         f"{value!r}") from None


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raises unless a concrete scalar (or every element) is > 0 (>= 0 with ``allow_zero``)."""
    if is_traced(value):
        return
    arr = as_numbers(name, value)
    ok = arr >= 0 if allow_zero else arr > 0
    if not np.all(ok) or not np.all(np.isfinite(arr)):
        rel = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {rel}, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raises unless ``value`` is one of ``choices`` (listing them)."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(map(str, choices))}, got {value!r}")


def check_range(
    name: str, value: Any, low: float | None = None, high: float | None = None, *, high_open: bool = False
) -> None:
    """Raises unless a concrete value (or every element) lies in ``[low, high]`` (``[low, high)`` with
    ``high_open``); a ``None`` bound is not checked. Skipped for tracers (e.g. under ``vmap``)."""
    if is_traced(value):
        return
    arr = as_numbers(name, value)
    ok = np.isfinite(arr)
    if low is not None:
        ok &= arr >= low
    if high is not None:
        ok &= (arr < high) if high_open else (arr <= high)
    if not np.all(ok):
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        raise ValueError(f"{name} must lie in [{lo}, {hi}{')' if high_open or high is None else ']'}, got "
                         f"{describe_values(arr) if arr.ndim else repr(value)}")


def describe_values(arr: np.ndarray) -> str:
    """``values in [min, max]`` of an array (``NaN`` and ``Inf`` named when present), for error messages."""
    finite = arr[np.isfinite(arr)]
    bad = arr.size - finite.size
    span = f"values in [{finite.min():.6g}, {finite.max():.6g}]" if finite.size else "no finite values"
    return span + (f" and {bad} NaN/Inf" if bad else "")


def check_binary_targets(name: str, y: Any) -> None:
    """Raises unless concrete targets of a binary loss are labels 0/1 (integers) or probabilities in
    [0, 1] (floats: soft labels, or pixel intensities an autoencoder reconstructs)."""
    if is_traced(y):
        return
    arr = np.asarray(y)
    if np.issubdtype(arr.dtype, np.floating):
        check_finite(name, arr)
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise ValueError(f"{name} must be binary labels 0/1 or probabilities in [0, 1] for a sigmoid "
                             f"cross-entropy, got {describe_values(arr)}")
        return
    values = np.unique(arr)
    if not np.all(np.isin(values, (0, 1))):
        raise ValueError(f"{name} must be binary labels 0/1 for a sigmoid cross-entropy, got values "
                         f"{values[:10].tolist()}{' ...' if values.size > 10 else ''} (several classes need "
                         "softmax_cross_entropy and one output per class)")


def check_rows_sum_to_one(name: str, rows: Any, tol: float = 1e-3) -> None:
    """Raises unless every row of concrete probability/one-hot rows ``(N, C)`` sums to 1 (within ``tol``):
    doubled one-hot rows or unnormalized soft labels would train to a meaningless (even negative) loss."""
    if is_traced(rows):
        return
    sums = np.asarray(rows, np.float64).sum(axis=-1)
    bad = np.argwhere(np.abs(sums - 1.0) > tol)
    if bad.size:
        first = tuple(int(i) for i in bad[0])
        where = str(first[0]) if len(first) == 1 else str(first)
        raise ValueError(f"{name} rows must be probabilities summing to 1 (one-hot or soft labels); "
                         f"{len(bad)} row(s) do not, first row {where} sums to {sums[first]:.6g}")


def _one_per_example(shape: tuple) -> tuple | None:
    """``(N,)`` for shapes ``(N,)`` and ``(N, 1)`` (one value per example), else None."""
    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
        return shape[:1]
    return None


def align_targets(outputs_name: str, outputs: Any, targets_name: str, targets: Any) -> Any:
    """Returns ``targets`` shaped like ``outputs`` for elementwise losses and metrics, or raises.

    Equal shapes pass; ``(N,)`` targets for ``(N, 1)`` outputs (and the reverse) are reshaped, because
    broadcasting ``(N, 1) - (N,)`` would silently build an ``(N, N)`` array. Any other mismatch raises a
    ``ValueError`` naming both arguments and their shapes.
    """
    out_shape, tgt_shape = tuple(np.shape(outputs)), tuple(np.shape(targets))
    if out_shape == tgt_shape:
        return targets
    if _one_per_example(out_shape) is not None and _one_per_example(out_shape) == _one_per_example(tgt_shape):
        return targets.reshape(out_shape)
    raise ValueError(
        f"{targets_name} must have the shape of {outputs_name} {out_shape} (or (N,) for (N, 1)), "
        f"got {tgt_shape}"
    )


def classification_labels(outputs_name: str, outputs: Any, labels_name: str, labels: Any) -> tuple[Any, bool]:
    """Validates ``(N, C)`` scores against labels; returns ``(labels, sparse)`` in canonical form.

    ``labels`` may be integer class indices ``(N,)`` (returned as int32, ``sparse=True``; integral floats
    are accepted) or one-hot/probability rows ``(N, C)`` (returned as ``outputs``' dtype,
    ``sparse=False``). Static facts (ranks, batch sizes, row width) are always checked; label values
    (range, finiteness, rows in [0, 1]) only when concrete.
    """
    check_ndim(outputs_name, outputs, 2)
    check_ndim(labels_name, labels, (1, 2))
    check_same_length(**{outputs_name: outputs, labels_name: labels})
    n_classes = int(np.shape(outputs)[1])
    if np.ndim(labels) == 2 and np.shape(labels)[1] != n_classes:
        raise ValueError(
            f"{labels_name} rows must have {n_classes} columns (one per column of {outputs_name}), "
            f"got shape {tuple(np.shape(labels))} (integer class labels must be 1-D, shape (N,))"
        )
    check_labels(labels_name, labels, n_classes)
    if np.ndim(labels) == 1:
        return jnp.asarray(labels).astype(jnp.int32), True
    check_range(labels_name, labels, 0.0, 1.0)
    check_rows_sum_to_one(labels_name, labels)
    return jnp.asarray(labels).astype(jnp.result_type(outputs)), False
