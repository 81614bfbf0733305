"""Losses: pure functions ``loss(outputs, targets) -> scalar`` (mean over the batch), and penalties.

Classification losses take **logits/scores** (what fnnet classifiers output) and are numerically stable
for any logit magnitude: they are built on ``optax`` (``softmax_cross_entropy[_with_integer_labels]``,
``sigmoid_binary_cross_entropy``, which work in log-space via ``log_softmax`` / ``log_sigmoid``).
Classification targets are integer labels ``(N,)`` or one-hot/probability rows ``(N, C)``, told apart by
their rank.

Every function validates its arguments on the host before computing: ranks, batch sizes and row widths
always (they are static, so this also works while tracing under ``jit``); label values (range,
finiteness) only when they are concrete, and before they become JAX arrays, so that tracing a loss with
abstract outputs and concrete labels (``Objective.check_data``) still checks them. A bad argument raises
``ValueError`` naming it.

Conventions worth knowing:

* ``multiclass_hinge`` is the multiclass SVM loss of the jhui seed (cs231n / Weston-Watkins):
  ``sum_{j != y} max(0, s_j - s_y + margin)``. ``optax.losses.multiclass_hinge_loss`` is the
  Crammer-Singer variant ``max_j (s_j + [j != y]) - s_y`` (the worst violator only): on the seed's example
  it gives 5, not 5.5, so it is not used here.
* ``categorical_crossentropy`` / ``binary_crossentropy`` take Keras's names but default to
  ``from_logits=True`` (Keras defaults to probabilities) because fnnet models end in logits. With
  ``from_logits=False`` they clip probabilities to ``[1e-7, 1 - 1e-7]`` as Keras does. Both Keras names
  accept either label form (Keras insists on one-hot / integer respectively).
* ``entropy``, ``cross_entropy`` and ``kl_divergence`` are the information-theory functions of the seed,
  on probability vectors, in bits by default (``base=2``); they are not in the ``get`` registry because
  their arguments are ``(p, q)`` distributions, not ``(outputs, targets)``.
* Penalties follow Keras: ``l2_penalty(params, s)`` = ``s * sum(w**2)`` (``keras.regularizers.l2(s)``);
  ``half=True`` gives TensorFlow's ``s * tf.nn.l2_loss(w)`` = ``s * sum(w**2) / 2`` used by the jhui seed.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from fnnet import tree
from fnnet._checks import (
    align_targets,
    as_array,
    check_binary_targets,
    check_bool,
    check_choice,
    check_ndim,
    check_positive,
    check_range,
    classification_labels,
)

# Keras's backend.epsilon(): how far probabilities are kept from 0 and 1 before taking logs.
KERAS_EPSILON = 1e-7

softmax = jax.nn.softmax  # stable: subtracts the row max before exponentiating


def _float_array(name: str, x: Any) -> jax.Array:
    """``x`` as a floating JAX array (integer scores become the default float dtype)."""
    x = jnp.asarray(as_array(name, x))
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


def _clipped_log(probabilities: jax.Array) -> jax.Array:
    return jnp.log(jnp.clip(probabilities, KERAS_EPSILON, 1.0 - KERAS_EPSILON))


# ----------------------------------------------------------------------------------------------
# Classification


def softmax_cross_entropy(logits: Any, labels: Any) -> jax.Array:
    """Mean softmax cross-entropy (nats) of ``(N, C)`` float logits.

    ``labels``: int ``(N,)`` class indices in ``[0, C)``, or ``(N, C)`` one-hot/probability rows.
    Returns a float scalar.
    """
    logits = _float_array("logits", logits)
    labels, sparse = classification_labels("logits", logits, "labels", as_array("labels", labels))
    if sparse:
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    return jnp.mean(optax.softmax_cross_entropy(logits, labels))


def sigmoid_binary_cross_entropy(logits: Any, labels: Any) -> jax.Array:
    """Mean sigmoid cross-entropy (nats) of float logits ``(N,)``, ``(N, 1)`` or multi-label ``(N, K)``.

    ``labels``: 0/1 (or probabilities in [0, 1]) of the logits' shape; ``(N,)`` labels are accepted for
    ``(N, 1)`` logits and vice versa. Returns a float scalar (mean over all entries).
    """
    logits = _float_array("logits", logits)
    check_ndim("logits", logits, (1, 2))
    labels = align_targets("logits", logits, "labels", as_array("labels", labels))
    check_binary_targets("labels", labels)
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.asarray(labels)))


def categorical_crossentropy(outputs: Any, labels: Any, from_logits: bool = True) -> jax.Array:
    """Keras-named softmax cross-entropy: ``outputs`` ``(N, C)`` are logits (default) or, with
    ``from_logits=False``, probabilities (rows renormalized and clipped to ``[1e-7, 1 - 1e-7]``, as Keras).
    ``labels`` as in :func:`softmax_cross_entropy`. Returns a float scalar."""
    check_bool("from_logits", from_logits)
    if from_logits:
        return softmax_cross_entropy(outputs, labels)
    probabilities = _float_array("outputs", outputs)
    labels, sparse = classification_labels("outputs", probabilities, "labels", as_array("labels", labels))
    check_range("outputs", probabilities, 0.0)
    if sparse:
        labels = jax.nn.one_hot(labels, probabilities.shape[1], dtype=probabilities.dtype)
    probabilities = probabilities / jnp.sum(probabilities, axis=-1, keepdims=True)
    return jnp.mean(-jnp.sum(labels * _clipped_log(probabilities), axis=-1))


# Keras has two names because it insists on one label form for each; here both accept either form.
sparse_categorical_crossentropy = categorical_crossentropy


def binary_crossentropy(outputs: Any, labels: Any, from_logits: bool = True) -> jax.Array:
    """Keras-named sigmoid cross-entropy: ``outputs`` are logits (default) or, with ``from_logits=False``,
    probabilities in [0, 1] (clipped to ``[1e-7, 1 - 1e-7]`` as Keras). Shapes as in
    :func:`sigmoid_binary_cross_entropy`. Returns a float scalar."""
    check_bool("from_logits", from_logits)
    if from_logits:
        return sigmoid_binary_cross_entropy(outputs, labels)
    probabilities = _float_array("outputs", outputs)
    check_ndim("outputs", probabilities, (1, 2))
    check_range("outputs", probabilities, 0.0, 1.0)
    labels = align_targets("outputs", probabilities, "labels", as_array("labels", labels))
    check_binary_targets("labels", labels)
    labels = jnp.asarray(labels)
    log_p, log_not_p = _clipped_log(probabilities), _clipped_log(1.0 - probabilities)
    return jnp.mean(-(labels * log_p + (1.0 - labels) * log_not_p))


def multiclass_hinge(scores: Any, labels: Any, margin: float = 1.0) -> jax.Array:
    """Multiclass SVM (hinge) loss: mean over examples of ``sum_{j != y} max(0, s_j - s_y + margin)``.

    ``scores`` ``(N, C)`` float; ``labels`` int ``(N,)`` or one-hot ``(N, C)`` (the argmax is the class).
    The seed's example: scores (8, 14, 9.5, 10), true class index 3 -> 0 + 5 + 0.5 = 5.5.
    """
    scores = _float_array("scores", scores)
    labels, sparse = classification_labels("scores", scores, "labels", as_array("labels", labels))
    check_positive("margin", margin, allow_zero=True)
    if not sparse:
        labels = jnp.argmax(labels, axis=-1)
    true_scores = jnp.take_along_axis(scores, labels[:, None], axis=1)
    violations = jnp.maximum(0.0, scores - true_scores + margin)
    is_true_class = jax.nn.one_hot(labels, scores.shape[1], dtype=jnp.bool_)
    return jnp.mean(jnp.sum(jnp.where(is_true_class, 0.0, violations), axis=1))


# ----------------------------------------------------------------------------------------------
# Regression


def _regression_inputs(predictions: Any, targets: Any) -> tuple[jax.Array, jax.Array]:
    predictions = _float_array("predictions", predictions)
    targets = align_targets("predictions", predictions, "targets", _float_array("targets", targets))
    return predictions, targets


def mse(predictions: Any, targets: Any) -> jax.Array:
    """Mean squared error over all entries; ``targets`` of the predictions' shape (``(N,)`` is accepted
    for ``(N, 1)``). Returns a float scalar."""
    predictions, targets = _regression_inputs(predictions, targets)
    return jnp.mean(optax.losses.squared_error(predictions, targets))


def mae(predictions: Any, targets: Any) -> jax.Array:
    """Mean absolute error over all entries; shapes as in :func:`mse`. Returns a float scalar."""
    predictions, targets = _regression_inputs(predictions, targets)
    return jnp.mean(jnp.abs(predictions - targets))


# ----------------------------------------------------------------------------------------------
# Information theory on probability vectors (the seed's entropy / cross-entropy / KL section)


def _distribution(name: str, p: Any) -> jax.Array:
    """``p`` as float ``(C,)`` or ``(N, C)`` probability rows; concrete rows must be >= 0 and sum to 1."""
    p = _float_array(name, p)
    check_ndim(name, p, (1, 2))
    check_range(name, p, 0.0, 1.0)
    check_range(f"the row sums of {name}", jnp.sum(p, axis=-1), 1.0 - 1e-3, 1.0 + 1e-3)
    return p


def _distribution_pair(p: Any, q: Any) -> tuple[jax.Array, jax.Array]:
    # Shapes first: a row-sum complaint about q would hide that q is not shaped like p at all.
    if jnp.shape(p) != jnp.shape(q):
        raise ValueError(f"q must have the shape of p {jnp.shape(p)}, got {jnp.shape(q)}")
    return _distribution("p", p), _distribution("q", q)


def _log_base(base: float) -> float:
    check_positive("base", base)
    if base == 1:
        raise ValueError("base must be a positive number other than 1, got 1")
    return math.log(base)


def entropy(p: Any, base: float = 2.0) -> jax.Array:
    """``H(p) = -sum_i p_i log p_i`` in units of ``log(base)`` (bits by default); ``0 log 0 = 0``.

    ``p``: ``(C,)`` or ``(N, C)`` probability rows (the mean over rows is returned). The seed's example:
    ``entropy([.25, .25, .5]) = 1.5`` bits.
    """
    p = _distribution("p", p)
    return jnp.mean(jnp.sum(jax.scipy.special.entr(p), axis=-1)) / _log_base(base)


def cross_entropy(p: Any, q: Any, base: float = 2.0) -> jax.Array:
    """``H(p, q) = -sum_i p_i log q_i`` (bits by default): coding ``p`` with the code built for ``q``.
    ``p``, ``q``: probability rows of the same shape ``(C,)`` or ``(N, C)``; mean over rows."""
    p, q = _distribution_pair(p, q)
    return jnp.mean(-jnp.sum(jax.scipy.special.xlogy(p, q), axis=-1)) / _log_base(base)


def kl_divergence(p: Any, q: Any, base: float = 2.0) -> jax.Array:
    """``D_KL(p || q) = sum_i p_i log(p_i / q_i) = H(p, q) - H(p)`` (bits by default); mean over rows.

    Terms with ``p_i = 0`` are 0 whatever ``q_i`` is (``0 log 0 = 0``, as in :func:`entropy`), so one-hot
    rows work; a term with ``p_i > 0 = q_i`` is ``inf``. The terms are ``jax.scipy.special.rel_entr``
    (scipy's), whose gradient is also finite at ``p_i = q_i = 0``; ``optax.kl_divergence(log q, p)``
    would give ``0 * (-inf) = NaN`` there.
    """
    p, q = _distribution_pair(p, q)
    return jnp.mean(jnp.sum(jax.scipy.special.rel_entr(p, q), axis=-1)) / _log_base(base)


# ----------------------------------------------------------------------------------------------
# Penalties over a chosen subset of the params tree (see fnnet.tree.param_mask for the selection)


def l2_penalty(
    params: Any, scale: float, *, layers: tree.LayerSelector = None, leaves: tree.LeafSelector = ("kernel",),
    half: bool = False,
) -> jax.Array:
    """``scale * sum(w**2)`` over the selected leaves (Keras ``l2(scale)``); ``half=True`` gives
    ``scale * sum(w**2) / 2`` (TensorFlow ``tf.nn.l2_loss``, the jhui seed). Default selection: every
    layer's ``kernel``. Returns a float scalar, differentiable in ``params``."""
    check_positive("scale", scale, allow_zero=True)
    selected = tree.select(params, layers=layers, leaves=leaves)
    return scale * optax.tree.norm(selected, squared=True) * (0.5 if half else 1.0)


def l1_penalty(
    params: Any, scale: float, *, layers: tree.LayerSelector = None, leaves: tree.LeafSelector = ("kernel",)
) -> jax.Array:
    """``scale * sum(|w|)`` over the selected leaves (Keras ``l1(scale)``). Returns a float scalar."""
    check_positive("scale", scale, allow_zero=True)
    return scale * optax.tree.norm(tree.select(params, layers=layers, leaves=leaves), ord=1)


def l0_count(
    params: Any, *, tol: float = 0.0, layers: tree.LayerSelector = None, leaves: tree.LeafSelector = ("kernel",)
) -> jax.Array:
    """Number of selected weights with ``|w| > tol`` (an int32 scalar): the "L0 norm", a sparsity *metric*.

    It is not offered as a penalty: the count is piecewise constant in ``w``, so its gradient is zero
    almost everywhere (and undefined at the jumps) and gradient descent cannot minimize it; L1 is the
    usual differentiable surrogate that drives weights to exactly zero.
    """
    check_positive("tol", tol, allow_zero=True)
    selected = tree.select(params, layers=layers, leaves=leaves)
    return sum(jnp.count_nonzero(jnp.abs(w) > tol) for w in selected.values()).astype(jnp.int32)


# ----------------------------------------------------------------------------------------------
# Lookup by name

LossFn = Callable[[Any, Any], jax.Array]

_REGISTRY: dict[str, LossFn] = {
    "softmax_cross_entropy": softmax_cross_entropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "sigmoid_binary_cross_entropy": sigmoid_binary_cross_entropy,
    "binary_crossentropy": binary_crossentropy,
    "multiclass_hinge": multiclass_hinge,
    # Unlike Keras's binary "hinge" (labels +-1), "hinge" here is the multiclass SVM loss of the seed.
    "hinge": multiclass_hinge,
    "mse": mse,
    "mean_squared_error": mse,
    "mae": mae,
    "mean_absolute_error": mae,
}


def canonical_name(name: str) -> str:
    """The registered spelling of a loss name matched case-insensitively (Keras' ``"MSE"`` is ``"mse"``);
    an unknown name comes back unchanged."""
    return name.lower() if isinstance(name, str) and name.lower() in _REGISTRY else name


def get(name_or_fn: str | LossFn) -> LossFn:
    """The loss registered under ``name_or_fn`` (any case: ``"MSE"``, ``"mse"``); a callable passes through
    unchanged."""
    if callable(name_or_fn):
        return name_or_fn
    name = canonical_name(name_or_fn)
    check_choice("loss", name, tuple(_REGISTRY))
    return _REGISTRY[name]
