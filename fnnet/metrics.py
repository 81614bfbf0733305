"""Metrics: pure functions ``metric(outputs, targets) -> scalar`` on model outputs (logits/scores).

Inputs are validated like the losses' (see ``fnnet.losses``): shapes always, label values when concrete.
Accuracies are float32 fractions in [0, 1]; ``confusion_matrix`` counts are int32.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import losses
from fnnet._checks import (
    align_targets,
    as_array,
    check_choice,
    check_labels,
    check_ndim,
    check_range,
    check_same_length,
    classification_labels,
    is_traced,
)

mse = losses.mse
mae = losses.mae


def _class_indices(outputs: jax.Array, labels: Any) -> jax.Array:
    """Validated labels of ``(N, C)`` ``outputs`` as int ``(N,)`` class indices (one-hot rows -> argmax)."""
    labels, sparse = classification_labels("outputs", outputs, "labels", as_array("labels", labels))
    return labels if sparse else jnp.argmax(labels, axis=-1)


def _is_single_logit(outputs: Any) -> bool:
    return np.ndim(outputs) == 1 or (np.ndim(outputs) == 2 and np.shape(outputs)[1] == 1)


def binary_accuracy(outputs: Any, labels: Any, threshold: float = 0.0) -> jax.Array:
    """Fraction of entries where ``outputs > threshold`` agrees with ``labels > 0.5``.

    ``outputs``: ``(N,)``, ``(N, 1)`` or multi-label ``(N, K)``; the default threshold 0 suits logits
    (use 0.5 for probabilities). ``labels``: 0/1 (or probabilities) of the outputs' shape; ``(N,)`` is
    accepted for ``(N, 1)``.
    """
    if isinstance(threshold, (str, bytes, bool)) or not (is_traced(threshold) or np.ndim(threshold) == 0):
        raise ValueError(f"threshold must be a number (0 for logits, 0.5 for probabilities), got {threshold!r}")
    outputs = jnp.asarray(as_array("outputs", outputs))
    check_ndim("outputs", outputs, (1, 2))
    labels = align_targets("outputs", outputs, "labels", as_array("labels", labels))
    check_range("labels", labels, 0.0, 1.0)
    return _nan_unless_finite(outputs, jnp.mean((outputs > threshold) == (jnp.asarray(labels) > 0.5),
                                                dtype=jnp.float32))


def accuracy(outputs: Any, labels: Any) -> jax.Array:
    """Fraction of examples classified correctly.

    ``(N, C)`` outputs with C > 1: the argmax is the prediction; labels int ``(N,)`` or one-hot ``(N, C)``.
    ``(N,)`` or ``(N, 1)`` outputs: binary logits, see :func:`binary_accuracy` (threshold 0).
    """
    if _is_single_logit(outputs):
        return binary_accuracy(outputs, labels)
    outputs = jnp.asarray(as_array("outputs", outputs))
    labels = _class_indices(outputs, labels)
    return _nan_unless_finite(outputs, jnp.mean(jnp.argmax(outputs, axis=-1) == labels, dtype=jnp.float32))


def _nan_unless_finite(outputs: jax.Array, value: jax.Array) -> jax.Array:
    """``value``, or NaN when any output is NaN/Inf: an argmax of NaN logits is no prediction (it would
    otherwise count as class 0 and could report a perfect accuracy)."""
    return jnp.where(jnp.all(jnp.isfinite(outputs)), value, jnp.nan)


def top_k_accuracy(k: int) -> Callable[[Any, Any], jax.Array]:
    """A metric: the fraction of examples whose true class is among the ``k`` highest of ``(N, C)``
    outputs (labels int ``(N,)`` or one-hot). Its ``__name__`` is ``top_{k}_accuracy``; the same ``k``
    gives the same function object (so a compiled training program with it is reused)."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return _top_k_metric(int(k))


@functools.cache
def _top_k_metric(k: int) -> Callable[[Any, Any], jax.Array]:

    def metric(outputs: Any, labels: Any) -> jax.Array:
        outputs = jnp.asarray(as_array("outputs", outputs))
        labels = _class_indices(outputs, labels)
        if k > outputs.shape[1]:
            raise ValueError(f"k must be at most the number of classes {outputs.shape[1]}, got {k}")
        _, top_classes = jax.lax.top_k(outputs, k)
        return _nan_unless_finite(outputs, jnp.mean(jnp.any(top_classes == labels[:, None], axis=1), dtype=jnp.float32))

    metric.__name__ = metric.__qualname__ = f"top_{k}_accuracy"
    return metric


def confusion_matrix(predicted_labels: Any, labels: Any, n_classes: int) -> jax.Array:
    """``(C, C)`` int32 counts: entry ``[i, j]`` = examples of true class ``i`` predicted as ``j``
    (sklearn's convention: rows are the truth). Both label arrays are int ``(N,)`` in ``[0, n_classes)``."""
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    predicted_labels, labels = as_array("predicted_labels", predicted_labels), as_array("labels", labels)
    check_ndim("predicted_labels", predicted_labels, 1)
    check_ndim("labels", labels, 1)
    check_same_length(predicted_labels=predicted_labels, labels=labels)
    check_labels("predicted_labels", predicted_labels, n_classes)
    check_labels("labels", labels, n_classes)
    counts = jnp.zeros((n_classes, n_classes), jnp.int32)
    return counts.at[jnp.asarray(labels, jnp.int32), jnp.asarray(predicted_labels, jnp.int32)].add(1)


MetricFn = Callable[[Any, Any], jax.Array]

_REGISTRY: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "acc": accuracy,
    # Keras's two names; here both accept either label form.
    "categorical_accuracy": accuracy,
    "sparse_categorical_accuracy": accuracy,
    "binary_accuracy": binary_accuracy,
    "top_k_categorical_accuracy": top_k_accuracy(5),  # Keras's default k
    **{name: losses.get(name) for name in ("mse", "mean_squared_error", "mae", "mean_absolute_error")},
}
_TOP_K_NAME = re.compile(r"top_(\d+)_accuracy")


def canonical_name(name: str) -> str:
    """The registered spelling of a metric name matched case-insensitively (Keras' ``"Accuracy"`` is
    ``"accuracy"``, ``"Top_5_Accuracy"`` is ``"top_5_accuracy"``); an unknown name comes back unchanged."""
    if not isinstance(name, str):
        return name
    lower = name.lower()
    return lower if lower in _REGISTRY or _TOP_K_NAME.fullmatch(lower) else name


def get(name_or_fn: str | MetricFn) -> MetricFn:
    """The metric registered under ``name_or_fn`` (any case; also ``"top_<k>_accuracy"`` for any k); a
    callable passes through unchanged."""
    if callable(name_or_fn):
        return name_or_fn
    name = canonical_name(name_or_fn)
    top_k = _TOP_K_NAME.fullmatch(name) if isinstance(name, str) else None
    if top_k:
        return top_k_accuracy(int(top_k.group(1)))
    check_choice("metric", name, tuple(_REGISTRY) + ("top_<k>_accuracy",))
    return _REGISTRY[name]
