"""Sanity tests of a setup: overfit a tiny set, the learning-rate range test, one batch's layer snapshot."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet import _checks
from fnnet.diagnostics.gradients import model_objective
from fnnet.diagnostics.layers import monitored_layers, weights_of
from fnnet.diagnostics.monitor import LossRecorder

PyTree = Any


# ----------------------------------------------------------------------------------------------
# Overfitting a tiny set


def without_regularization(model):
    """``model`` with dropout rates and the layers' ``l1``/``l2`` penalties set to 0 (nested models too).
    The parameter tree is unchanged, so params of one fit the other."""
    from fnnet.models.core import Model
    from fnnet.models.layers import Dropout

    layers = []
    for layer in model.layers:
        if isinstance(layer, Model):
            layer = without_regularization(layer)
        elif isinstance(layer, Dropout):
            layer = dataclasses.replace(layer, rate=0.0)
        elif dataclasses.is_dataclass(layer) and {"l1", "l2"} <= {f.name for f in dataclasses.fields(layer)}:
            layer = dataclasses.replace(layer, l1=0.0, l2=0.0)
        layers.append(layer)
    return dataclasses.replace(model, layers=tuple(layers))


@dataclasses.dataclass(frozen=True)
class OverfitResult:
    """The verdict of :func:`overfit_small_batch`. ``losses`` is the training loss every ``every``
    steps (at ``loss_steps``)."""

    passed: bool
    initial_loss: float
    final_loss: float
    target: float
    examples: int
    steps: int
    loss_steps: tuple
    losses: tuple

    @property
    def message(self) -> str:
        what = (f"loss {self.initial_loss:.4g} -> {self.final_loss:.4g} on {self.examples} examples in "
                f"{self.steps} steps, regularization off")
        if self.passed:
            return f"passed: {what} (target <= {self.target:.3g})"
        return (f"FAILED: {what}, not below {self.target:.3g}: the model cannot even memorize a tiny set; check "
                "the labels, the loss/output pairing, the learning rate and the initialization")

    def __str__(self) -> str:
        return self.message


def overfit_small_batch(
    model,
    loss,
    optimizer,
    x,
    y,
    *,
    key: jax.Array,
    steps: int = 200,
    examples: Optional[int] = None,
    target: Optional[float] = None,
    target_fraction: float = 0.1,
    initial_params: Optional[PyTree] = None,
) -> OverfitResult:
    """The sanity check "overfit a tiny dataset: the loss must drop quickly towards 0 with
    regularization off".

    Trains :func:`without_regularization` ``(model)`` full-batch on ``x[:examples], y[:examples]`` for
    ``steps`` steps (no augmentation) and compares the final loss (evaluation mode) with ``target``,
    by default ``target_fraction`` of the initial loss. Weight decay inside the optimizer is not
    removed: pass an optimizer without it.

    Returns an :class:`OverfitResult` (``.passed``, ``.final_loss``, ``.message``).
    """
    import fnnet
    from fnnet.train import create_train_state, resolve_optimizer

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not 0 < target_fraction < 1:
        raise ValueError(f"target_fraction must be in (0, 1), got {target_fraction!r}")
    x, y = _checks.as_array("x", x), _checks.as_array("y", y)
    _checks.check_same_length(x=x, y=y)
    if examples is not None:
        if not isinstance(examples, int) or examples < 1:
            raise ValueError(f"examples must be a positive int, got {examples!r}")
        x, y = x[:examples], y[:examples]
    plain = without_regularization(model)
    tx = resolve_optimizer(optimizer)
    init_key, fit_key = jax.random.split(key)
    initial = create_train_state(plain, tx, init_key, x[:1], params=initial_params)
    initial_loss = fnnet.evaluate(plain, initial, x, y, loss=loss)["loss"]
    recorder = LossRecorder(max(1, steps // 50))
    state, _ = fnnet.fit(plain, loss, tx, (x, y), epochs=1, batch_size=len(x), key=fit_key, initial_state=initial,
                         callbacks=[recorder], verbose=0,
                         options=fnnet.TrainOptions(steps_per_epoch=steps, on_nonfinite="skip"))
    final_loss = fnnet.evaluate(plain, state, x, y, loss=loss)["loss"]
    target = target_fraction * initial_loss if target is None else target
    passed = bool(np.isfinite(final_loss) and final_loss <= target)
    return OverfitResult(passed, float(initial_loss), float(final_loss), float(target), len(x), steps,
                         tuple(recorder.steps), tuple(recorder.losses))


# ----------------------------------------------------------------------------------------------
# Learning-rate range test


@dataclasses.dataclass(frozen=True)
class LRRangeResult:
    """The losses of :func:`lr_range_test`: ``losses[i]`` is the training loss of the step taken with
    learning rate ``learning_rates[i]``. ``suggested`` is a tenth of the rate with the lowest smoothed
    loss (a rule of thumb: the loss is still falling steeply there); ``diverged_at`` the first rate
    where the smoothed loss exceeded 4x its minimum or became NaN/Inf (None if it never did)."""

    learning_rates: tuple
    losses: tuple
    smoothed: tuple
    best: float
    suggested: float
    diverged_at: Optional[float]

    def __str__(self) -> str:
        diverged = f", diverges from {self.diverged_at:.2g}" if self.diverged_at is not None else ""
        return (f"LR range test over {self.learning_rates[0]:.1e}..{self.learning_rates[-1]:.1e}: lowest loss at "
                f"lr {self.best:.2g}{diverged}; suggested lr {self.suggested:.2g}")


def lr_range_test(
    model,
    loss,
    x,
    y,
    *,
    key: jax.Array,
    make_optimizer: Optional[Callable[[Any], optax.GradientTransformation]] = None,
    min_lr: float = 1e-5,
    max_lr: float = 10.0,
    steps: int = 100,
    batch_size: int = 32,
    smoothing: float = 0.9,
    initial_params: Optional[PyTree] = None,
) -> LRRangeResult:
    """Sweeps the learning rate exponentially from ``min_lr`` to ``max_lr`` over ``steps`` training
    steps (one short run, from the initialization) and records the loss of every step (Smith's
    LR range test).

    The rate is the optax schedule ``exponential_decay(min_lr, steps - 1, max_lr / min_lr)``, i.e.
    ``lr_t = min_lr * (max_lr / min_lr) ** (t / (steps - 1))``, handed to ``make_optimizer(schedule)``
    (default: plain SGD, ``fnnet.optim.optimizer("sgd", schedule)``); the per-step losses come from the
    compiled step (in-step statistics), so the run is one compiled epoch. ``smoothing`` is the factor
    of the exponential moving average (bias-corrected) the suggestion is read from.
    """
    import fnnet
    from fnnet import optim
    from fnnet.train import create_train_state

    if not 0 < min_lr < max_lr:
        raise ValueError(f"min_lr and max_lr must satisfy 0 < min_lr < max_lr, got {min_lr!r}, {max_lr!r}")
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2, got {steps!r}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
    make_optimizer = make_optimizer or (lambda lr: optim.optimizer("sgd", lr))
    schedule = optax.exponential_decay(min_lr, transition_steps=steps - 1, decay_rate=max_lr / min_lr)
    tx = make_optimizer(schedule)
    init_key, fit_key = jax.random.split(key)
    initial = create_train_state(model, tx, init_key, jnp.asarray(x[:1]), params=initial_params)
    recorder = LossRecorder(1)
    fnnet.fit(model, loss, tx, (x, y), epochs=1, batch_size=min(batch_size, len(x)), key=fit_key,
              initial_state=initial, callbacks=[recorder], verbose=0,
              options=fnnet.TrainOptions(steps_per_epoch=steps, on_nonfinite="skip"))
    rates = np.asarray(jax.vmap(schedule)(jnp.asarray(recorder.steps)), np.float64)
    losses = np.asarray(recorder.losses, np.float64)
    smoothed, average = [], 0.0
    for t, value in enumerate(losses):
        average = smoothing * average + (1 - smoothing) * (value if np.isfinite(value) else np.inf)
        smoothed.append(average / (1 - smoothing ** (t + 1)))
    smoothed = np.asarray(smoothed)
    if not np.isfinite(smoothed).any():
        raise ValueError(f"the loss was NaN/Inf from the first step (lr {min_lr:g}): check the data and the model")
    best_index = int(np.nanargmin(np.where(np.isfinite(smoothed), smoothed, np.nan)))
    bad = np.flatnonzero(~np.isfinite(smoothed) | (smoothed > 4 * smoothed[best_index]))
    bad = bad[bad > best_index]
    diverged = float(rates[bad[0]]) if len(bad) else None
    return LRRangeResult(tuple(rates.tolist()), tuple(losses.tolist()), tuple(smoothed.tolist()),
                         float(rates[best_index]), float(rates[best_index] / 10), diverged)


# ----------------------------------------------------------------------------------------------
# Weights, activations and gradients of one batch


def layer_snapshot(model, loss, params: PyTree, x, y, *, model_state=None) -> dict:
    """Every monitored layer's weights (kernel), outputs and kernel gradients on the batch ``(x, y)`` in
    evaluation mode, as numpy arrays: ``{"weights": {layer: W}, "activations": {layer: a},
    "gradients": {layer: dL/dW}}`` -- what :func:`fnnet.viz.plot_layer_histograms` draws (the seed's
    "weight, activation and gradient histograms for all layers").

    ``(x, y)`` are checked as :func:`fnnet.evaluate` checks them (same length, finite, labels in range).
    The gradients and activations are one compiled program: run op by op, a model's first snapshot
    compiled every primitive separately, about ten times slower."""
    from fnnet.engine import inputs
    from fnnet.objective import make_objective

    state = {} if model_state is None else model_state
    x, y = inputs.prepare_pair(make_objective(model, loss), (x, y), name="(x, y)", names=("x", "y"))

    @jax.jit
    def gradients_and_activations(params, state, x, y):
        grads = jax.grad(model_objective(model, loss, model_state=state))(params, (x, y))
        _, _, activations = model.apply_with_activations(params, x, state=state)
        return grads, activations

    grads, activations = gradients_and_activations(params, state, x, y)
    layers = monitored_layers(model, params)
    flat = lambda tree: np.concatenate([np.ravel(np.asarray(a)) for a in jax.tree_util.tree_leaves(tree)])
    return {
        "weights": {name: flat(weights_of(params[name])) for name in layers if name in params},
        "activations": {name: np.asarray(activations[name]) for name, kind in layers.items() if kind is not None},
        "gradients": {name: flat(weights_of(grads[name])) for name in layers if name in params},
    }


