"""Diagnostics: the troubleshooting checklist of the jhui seed as functions and callbacks.

* :func:`check_grads` -- autodiff (or your hand-written backward pass) against central finite
  differences, one relative error per parameter leaf, and a verdict.
* :class:`TrainingMonitor` -- a callback for :func:`fnnet.fit` whose statistics are computed *inside* the
  compiled train step every ``every`` steps: per-layer gradient norms (vanishing/exploding gradients),
  the update-to-weight ratio ``||lr * dW|| / ||W||`` against the ~1e-3 rule, the fraction of dead ReLU
  units and of saturated tanh/sigmoid units, activation mean/std, NaN/Inf counts. It records them per
  layer and turns them into findings with hints ("dense_1: update/weight 3.1e-01 > 1e-02: lower the
  learning rate").
* :func:`overfit_small_batch` -- "the loss must drop towards 0 on a tiny set with regularization off".
* :func:`lr_range_test` -- the learning rate swept exponentially over a short run (an optax schedule),
  the loss per learning rate, and a suggestion.
* :func:`layer_snapshot` -- every layer's weights, activations and gradients on one batch, for
  :func:`fnnet.viz.plot_layer_histograms`.
* :func:`diagnose` -- all of the above on one setup, as the short report ``fnnet doctor`` prints.

Example::

    monitor = TrainingMonitor(every=50)
    state, history = fnnet.fit(model, loss, opt, (x, y), epochs=5, key=key, callbacks=[monitor])
    print(monitor.report())            # per-layer table, then what looks unhealthy and what to try
"""
from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet import _checks
from fnnet.report import text_table
from fnnet.callbacks import Callback, StepInfo
from fnnet.tree import flatten_with_names

PyTree = Any

#: The update-to-weight ratio the jhui seed aims at (``||lr * dW|| / ||W|| ~ 1e-3``).
TARGET_UPDATE_RATIO = 1e-3


# ----------------------------------------------------------------------------------------------
# Small helpers


def _sci(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1e}"


def _num(value: Optional[float]) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3g}"


def _pct(value: Optional[float]) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def _weights(layer_params: PyTree) -> PyTree:
    """The weights the update/weight rule is about: the ``kernel`` when the layer has one (a zero bias
    would make a ratio meaningless), else all of the layer's leaves (BatchNorm scale/bias...)."""
    if isinstance(layer_params, dict) and "kernel" in layer_params:
        return layer_params["kernel"]
    return layer_params


def layer_activation_kind(layer) -> Optional[str]:
    """The activation a layer applies to its output, by name (``"relu"``, ``"tanh"``, ``"linear"``...),
    ``"maxout"``/``"batchnorm"`` for those layers, or None for layers that only move values around
    (Flatten, Dropout, pooling): their outputs are not monitored."""
    from fnnet.models.layers import BatchNorm, Maxout, _activation_name

    if hasattr(layer, "activation"):
        return _activation_name(layer.activation)
    if isinstance(layer, Maxout):
        return "maxout"
    if isinstance(layer, BatchNorm):
        return "batchnorm"
    return None


def _monitored_layers(model, params) -> dict:
    """``{layer name: activation kind or None}`` in the model's order: layers with parameters and layers
    that apply an activation."""
    names = getattr(model, "names", None)
    layers = getattr(model, "layers", None)
    if names is None or layers is None:
        return {name: None for name in params}
    out = {}
    for layer, name in zip(layers, names):
        kind = layer_activation_kind(layer)
        if name in params or kind is not None:
            out[name] = kind
    return out


def _saturation_test(kind: str, gradient_fraction: float) -> Optional[Callable]:
    """``is_saturated(output)`` for tanh/sigmoid: the activation's derivative, read off its output, is
    below ``gradient_fraction`` of its maximum (tanh: ``1 - a**2``; sigmoid: ``4 a (1 - a)``)."""
    if kind == "tanh":
        return lambda a: 1.0 - a * a < gradient_fraction
    if kind == "sigmoid":
        return lambda a: 4.0 * a * (1.0 - a) < gradient_fraction
    return None


def model_objective(model, loss, *, model_state=None) -> Callable:
    """``objective(params, (x, y)) -> scalar``: the model's loss in evaluation mode (no dropout, so it is
    deterministic) plus its weight penalties, the function :func:`check_grads` differentiates."""
    from fnnet.train import _resolve_loss

    loss_fn = _resolve_loss(loss)
    state = {} if model_state is None else model_state

    def objective(params, batch):
        x, y = batch
        outputs = model.apply(params, x, state=state)[0]
        return loss_fn(outputs, y) + model.penalty(params)

    return objective


# ----------------------------------------------------------------------------------------------
# Gradient check


@dataclasses.dataclass(frozen=True)
class LeafCheck:
    """One parameter leaf of a gradient check: the directional derivatives along the check's directions
    by the gradient under test (``analytic``) and by finite differences (``numeric``, at the step that
    agrees best), and the largest relative error over the directions (see :func:`check_grads`)."""

    name: str
    shape: tuple
    analytic: tuple
    numeric: tuple
    rel_error: float
    passed: bool


@dataclasses.dataclass(frozen=True)
class GradientCheck:
    """The result of :func:`check_grads`: one :class:`LeafCheck` per leaf and the verdict."""

    leaves: tuple
    rtol: float
    steps: tuple
    dtype: str

    @property
    def passed(self) -> bool:
        return all(leaf.passed for leaf in self.leaves)

    @property
    def max_rel_error(self) -> float:
        return max(leaf.rel_error for leaf in self.leaves)

    @property
    def failed(self) -> list[str]:
        """Names of the leaves whose gradient disagrees with finite differences."""
        return [leaf.name for leaf in self.leaves if not leaf.passed]

    def verdict(self) -> str:
        if self.passed:
            return (f"passed: {len(self.leaves)} leaves, max relative error {self.max_rel_error:.1e} "
                    f"(tolerance {self.rtol:.0e}, {self.dtype})")
        return (f"FAILED for {', '.join(self.failed)}: relative error up to {self.max_rel_error:.1e} "
                f"(tolerance {self.rtol:.0e}, {self.dtype}); the gradient of these leaves is wrong")

    def __str__(self) -> str:
        rows = [{"leaf": leaf.name, "shape": str(leaf.shape), "gradient . v": f"{leaf.analytic[0]: .6e}",
                 "finite diff . v": f"{leaf.numeric[0]: .6e}", "rel error": f"{leaf.rel_error:.1e}",
                 "check": "ok" if leaf.passed else "WRONG"} for leaf in self.leaves]
        return f"{text_table(rows)}\ngradient check {self.verdict()}"


#: Defaults per precision: (the finite-difference steps along a unit direction, tolerance). A correct
#: gradient agrees with the difference quotient of at least one step, a wrong one with none: rounding
#: error (~1e-7 of the loss in float32, divided by the step) favours the large steps, ReLU kinks crossed
#: by a step the small ones.
_GRAD_CHECK_DEFAULTS = {"float32": ((1e-2, 2.5e-3, 6.25e-4, 1.5625e-4), 3e-2),
                        "float64": ((1e-4, 1e-5, 1e-6, 1e-7), 1e-6)}


def check_grads(
    loss_fn: Callable,
    params: PyTree,
    batch: Any,
    *,
    grad_fn: Optional[Callable] = None,
    key: Optional[jax.Array] = None,
    directions: int = 2,
    float64: bool = False,
    steps: Optional[Sequence[float]] = None,
    rtol: Optional[float] = None,
) -> GradientCheck:
    """Checks a gradient against central finite differences, leaf by leaf.

    For every leaf ``W`` of ``params`` and each of ``directions`` unit directions ``v`` (a random
    direction plus the gradient's own, so the difference quotient stays well above rounding noise even
    for large leaves) it compares the directional derivative ``a = <g_W, v>`` of the gradient under test
    with central differences ``n(h) = (L(W + h v) - L(W - h v)) / 2h`` for each step ``h`` in ``steps``.
    The relative error is ``min_h |a - n(h)| / max(|a|, |n(h)|, floor)`` with
    ``floor = 1e-3 * max_leaf ||g_leaf||`` (a leaf with almost no gradient is judged on the scale of the
    whole gradient). A correct gradient agrees with at least one step: rounding error (~1e-7 of the loss
    in float32, divided by ``h``) favours large steps, ReLU kinks crossed by the step small ones. A wrong
    gradient typically gives errors of order 0.1 to 1 at every step.

    In float32 (default) the tolerance is 3e-2: a ReLU input closer to its kink than the smallest step
    can cost a correct gradient about 1e-2 (on small tanh/sigmoid/ReLU MLPs, correct gradients stayed
    below 1.3e-2, wrong backward rules gave 0.1 and more). ``float64=True`` (computed under
    ``jax.enable_x64``) is precise: tolerance 1e-6.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar`` (e.g. :func:`model_objective`); traced with ``vmap``.
      params: the point to check at (a pytree of float arrays).
      batch: passed through to ``loss_fn`` (e.g. ``(x, y)``).
      grad_fn: the gradient under test, ``grad_fn(params, batch) -> tree like params``; default
        ``jax.grad(loss_fn)`` (which checks any ``custom_vjp`` backward rule used inside ``loss_fn``).
      key: PRNG key for the directions (default ``jax.random.key(0)``).
      float64: compute everything in double precision.
      steps, rtol: the finite-difference steps along a unit direction and the tolerance; defaults
        ``(1e-2, 2.5e-3, 6.25e-4, 1.6e-4)`` / ``3e-2`` in float32, ``(1e-4, ..., 1e-7)`` / ``1e-6`` in
        float64.

    Returns:
      A :class:`GradientCheck` (``.passed``, ``.failed``, ``.max_rel_error``; ``print`` shows the table).
    """
    if not isinstance(directions, int) or directions < 1:
        raise ValueError(f"directions must be a positive int, got {directions!r}")
    dtype = "float64" if float64 else "float32"
    default_steps, default_rtol = _GRAD_CHECK_DEFAULTS[dtype]
    steps = tuple(float(h) for h in (default_steps if steps is None else steps))
    rtol = default_rtol if rtol is None else rtol
    if not steps or not all(h > 0 for h in steps):
        raise ValueError(f"steps must be a non-empty sequence of positive step sizes, got {steps!r}")
    if not rtol > 0:
        raise ValueError(f"rtol must be positive, got {rtol!r}")
    key = jax.random.key(0) if key is None else key
    with jax.enable_x64(float64):
        cast = lambda a: jnp.asarray(a, dtype) if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating) else a
        params = jax.tree_util.tree_map(cast, params)
        batch = jax.tree_util.tree_map(cast, batch)
        named = flatten_with_names(params)
        if not named:
            raise ValueError("params must hold at least one array")
        for name, leaf in named:
            if not jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating):
                raise ValueError(f"params leaf {name} must be a float array, got dtype {jnp.asarray(leaf).dtype}")
        grads = (grad_fn or jax.grad(loss_fn))(params, batch)
        if jax.tree_util.tree_structure(grads) != jax.tree_util.tree_structure(params):
            raise ValueError("grad_fn must return a tree with the structure of params, got "
                             f"{jax.tree_util.tree_structure(grads)}")
        grad_leaves = [jnp.asarray(g, dtype) for _, g in flatten_with_names(grads)]
        for (name, leaf), g in zip(named, grad_leaves):
            if g.shape != jnp.shape(leaf):
                raise ValueError(f"grad_fn's {name} has shape {g.shape}, the parameter {jnp.shape(leaf)}")
        sizes = [int(np.prod(jnp.shape(leaf))) for _, leaf in named]
        noise = jax.random.normal(key, (directions, sum(sizes)), dtype)  # one draw, split per leaf below
        cuts = np.cumsum(sizes)[:-1]
        random = [z.reshape((directions, *jnp.shape(leaf))) for z, (_, leaf) in zip(jnp.split(noise, cuts, axis=1), named)]
        analytic, numeric = _directional_derivatives(loss_fn, params, batch, grad_leaves, random, steps)
        scale = max(float(jnp.linalg.norm(g.ravel())) for g in grad_leaves)
        floor = 1e-3 * scale + 1e-30
        checks = []
        for (name, leaf), a_row, n_rows in zip(named, np.asarray(analytic), np.asarray(numeric)):
            errors = np.abs(a_row - n_rows) / np.maximum(np.maximum(np.abs(a_row), np.abs(n_rows)), floor)
            errors = np.where(np.isnan(errors), np.inf, errors)  # a NaN gradient or loss fails the check
            best = np.argmin(errors, axis=0)  # per direction: the step whose quotient agrees best
            n_row = n_rows[best, np.arange(len(best))]
            error = float(np.max(errors[best, np.arange(len(best))]))
            checks.append(LeafCheck(name, tuple(jnp.shape(leaf)), tuple(a_row.tolist()), tuple(n_row.tolist()), error,
                                    bool(error <= rtol)))
    return GradientCheck(tuple(checks), rtol=rtol, steps=steps, dtype=dtype)


@functools.partial(jax.jit, static_argnums=0)
def _directional_derivatives(loss_fn, params, batch, grad_leaves, random, steps):
    """``analytic (leaves, directions)``: ``<g, v>``, and ``numeric (leaves, steps, directions)``: the
    central differences ``(L(W + h v) - L(W - h v)) / 2h`` along unit directions ``v`` of each leaf (a
    random direction plus the gradient's own). One compiled program; each leaf's
    ``2 * steps * directions`` loss evaluations are one ``vmap``."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    analytic, numeric = [], []
    for i, (leaf, g, z) in enumerate(zip(leaves, grad_leaves, random)):
        directions = z.shape[0]
        g_norm = jnp.linalg.norm(g.ravel())
        g_dir = jnp.where(g_norm > 0, g / jnp.where(g_norm > 0, g_norm, 1.0), 0.0)
        z = z / jnp.linalg.norm(z.reshape(directions, -1), axis=1).reshape((directions,) + (1,) * leaf.ndim)
        v = g_dir + 0.5 * z  # ||v|| >= 0.5 whatever the draw (a one-element leaf included)
        v = v / jnp.linalg.norm(v.reshape(directions, -1), axis=1).reshape((directions,) + (1,) * leaf.ndim)
        steps = jnp.asarray(steps, leaf.dtype)
        h = steps.reshape((-1, 1) + (1,) * leaf.ndim)
        deltas = jnp.concatenate([h * v, -h * v]).reshape((-1,) + leaf.shape)  # (2 * steps * directions, ...)
        moved = lambda d: jax.tree_util.tree_unflatten(treedef, [*leaves[:i], leaf + d, *leaves[i + 1:]])
        values = jax.vmap(lambda d: loss_fn(moved(d), batch))(deltas).reshape(2, len(steps), directions)
        numeric.append((values[0] - values[1]) / (2 * steps[:, None]))
        analytic.append(jnp.sum((g * v).reshape(directions, -1), axis=1))
    return jnp.stack(analytic), jnp.stack(numeric)  # (leaves, directions), (leaves, steps, directions)


# ----------------------------------------------------------------------------------------------
# Training monitor


@dataclasses.dataclass(frozen=True)
class Finding:
    """Something that looks unhealthy: the layer (or ``"model"``), what was measured and what to try."""

    layer: str
    problem: str
    hint: str

    def __str__(self) -> str:
        return f"{self.layer}: {self.problem}: {self.hint}"


#: The per-layer statistics a :class:`TrainingMonitor` records, with their table headers.
MONITOR_STATISTICS = {
    "grad_norm": "grad norm",
    "update_ratio": "update/weight",
    "dead": "dead ReLU",
    "saturated": "saturated",
    "act_mean": "act mean",
    "act_std": "act std",
}


class TrainingMonitor(Callback):
    """Per-layer health statistics computed inside ``fit``'s compiled step every ``every`` steps.

    On each monitored step it computes, for every top-level layer (``dense_0``, ``conv2d_0``...):

    * ``grad_norm``: the L2 norm of the layer's gradient (all its leaves): the seed's layer-by-layer
      log that shows gradients vanishing towards the input or exploding;
    * ``update_ratio``: ``||update|| / ||W||`` of its kernel, the optimizer's actual step (``lr * dW``
      for SGD) relative to the weights; the seed's rule wants ~1e-3;
    * ``dead`` (ReLU layers): the fraction of units (channels for convolutions) that output 0 for every
      example (and position) of the batch;
    * ``saturated`` (tanh/sigmoid layers): the fraction of outputs where the activation's derivative is
      below ``saturation_gradient`` of its maximum (tanh ``|a| > 0.975``; sigmoid ``a < 0.013`` or
      ``a > 0.987``, i.e. ``|z| > 4.4`` -- the seed's "higher than 5 or smaller than -5");
    * ``act_mean``/``act_std`` of the layer's output, and ``nonfinite_grads``/``nonfinite_activations``:
      how many of its gradient and output values are NaN/Inf;
    * and the step's ``loss``.

    The arrays are small (one number per layer), stay on the device until the epoch ends and are then
    appended to ``monitor.history``: ``history["grad_norm"]["dense_0"]`` is a list with one value per
    monitored step, ``history["step"]``/``history["epoch"]``/``history["loss"]`` the matching steps,
    epochs and losses. Monitoring only reads the step's values: the trained parameters are the same.
    :meth:`findings` and :meth:`report` turn the recent values into hints.

    Args:
      every: monitor every this many steps (steps whose index is a multiple of it, from step 0).
      update_ratio_range: healthy band of the update/weight ratio around the 1e-3 target; above it:
        lower the learning rate, below it: raise it.
      dead_max, saturated_max: fractions above which a layer is reported.
      saturation_gradient: what counts as saturated (see above).
      vanishing_ratio: report a layer whose gradient norm is below this fraction of the largest layer's.
      exploding_growth: report gradients whose norm grew by more than this factor since the first step.
      update_ratio: measure the update/weight ratio. It is the costly statistic: XLA then stores every
        step's update, which it otherwise fuses into the parameter update (see the README's Diagnostics
        section for the measured cost); False leaves it out.
      verbose: print the per-layer values after every epoch, like the seed's log.
    """

    def __init__(
        self,
        every: int = 10,
        *,
        update_ratio_range: tuple = (1e-4, 1e-2),
        dead_max: float = 0.5,
        saturated_max: float = 0.5,
        saturation_gradient: float = 0.05,
        vanishing_ratio: float = 1e-3,
        exploding_growth: float = 100.0,
        update_ratio: bool = True,
        verbose: bool = False,
    ):
        if not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        low, high = update_ratio_range
        if not 0 < low < high:
            raise ValueError(f"update_ratio_range must be (low, high) with 0 < low < high, got {update_ratio_range!r}")
        for name, value in (("dead_max", dead_max), ("saturated_max", saturated_max),
                            ("saturation_gradient", saturation_gradient), ("vanishing_ratio", vanishing_ratio)):
            if not 0 < value < 1:
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if not exploding_growth > 1:
            raise ValueError(f"exploding_growth must be > 1, got {exploding_growth!r}")
        self.statistics_every = int(every)
        self.update_ratio_range = (float(low), float(high))
        self.dead_max, self.saturated_max = dead_max, saturated_max
        self.saturation_gradient = saturation_gradient
        self.vanishing_ratio, self.exploding_growth = vanishing_ratio, exploding_growth
        self.update_ratio = update_ratio
        self.verbose = verbose
        self.layers: dict = {}
        self.history: dict = {}
        self._reset()

    @property
    def every(self) -> int:
        return self.statistics_every

    def _reset(self) -> None:
        self.history = {"step": [], "epoch": [], "loss": [], "nonfinite_grads": {}, "nonfinite_activations": {},
                        **{name: {} for name in MONITOR_STATISTICS}}

    # -- inside the compiled step ----------------------------------------------------------
    def step_statistics(self, info: StepInfo) -> dict:
        # The layer kinds are static facts of the model: recorded while the step is traced.
        self.layers = _monitored_layers(info.model, info.grads)
        stats = {"loss": info.loss, "grad_norm": {}, "update_ratio": {}, "nonfinite_grads": {}, "dead": {},
                 "saturated": {}, "act_mean": {}, "act_std": {}, "nonfinite_activations": {}}
        for name, kind in self.layers.items():
            if name in info.grads and jax.tree_util.tree_leaves(info.grads[name]):
                grads = info.grads[name]
                stats["grad_norm"][name] = optax.tree.norm(grads)
                stats["nonfinite_grads"][name] = sum(jnp.sum(~jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
                if self.update_ratio:
                    # ||W|| after the update: within a factor 1 +- ratio of the one before, and reading the
                    # new weights costs XLA no copy (see fnnet.callbacks.StepInfo).
                    w_norm = optax.tree.norm(_weights(info.new_params[name]))
                    u_norm = optax.tree.norm(_weights(info.updates[name]))
                    stats["update_ratio"][name] = jnp.where(w_norm > 0, u_norm / jnp.where(w_norm > 0, w_norm, 1.0),
                                                            jnp.nan)
            act = info.activations.get(name)
            if act is None or kind is None:
                continue
            act = jnp.asarray(act, jnp.float32)
            stats["act_mean"][name] = jnp.mean(act)
            stats["act_std"][name] = jnp.std(act)
            stats["nonfinite_activations"][name] = jnp.sum(~jnp.isfinite(act))
            if kind == "relu":
                units = act.reshape(-1, act.shape[-1])
                stats["dead"][name] = jnp.mean(jnp.all(units <= 0, axis=0))
            saturated = _saturation_test(kind, self.saturation_gradient)
            if saturated is not None:
                stats["saturated"][name] = jnp.mean(saturated(act))
        return stats

    # -- on the host ------------------------------------------------------------------------
    def on_train_begin(self, state, history):
        self._reset()

    def on_step_statistics(self, epoch: int, statistics: dict) -> None:
        steps = [int(s) for s in statistics["step"]]
        self.history["step"] += steps
        self.history["epoch"] += [epoch] * len(steps)
        self.history["loss"] += [float(v) for v in statistics["loss"]]
        for stat, by_layer in statistics.items():
            if isinstance(by_layer, dict):
                for layer, values in by_layer.items():
                    self.history[stat].setdefault(layer, []).extend(float(v) for v in values)
        if self.verbose and steps:
            print(self._log_lines(-1), flush=True)

    def _log_lines(self, index: int) -> str:
        """The seed's layer-by-layer log for one monitored step."""
        h = self.history
        lines = [f"step {h['step'][index]}: loss={h['loss'][index]:.4g}"]
        for layer in self.layers:
            parts = []
            for stat, label in (("grad_norm", "gradient"), ("update_ratio", "update/weight")):
                if layer in h[stat]:
                    parts.append(f"{label} = {h[stat][layer][index]:.3e}")
            for stat, label in (("dead", "dead"), ("saturated", "saturated")):
                if layer in h[stat]:
                    parts.append(f"{label} {_pct(h[stat][layer][index])}")
            if parts:
                lines.append(f"  {layer}: " + ", ".join(parts))
        return "\n".join(lines)

    def _recent(self) -> slice:
        """The records the summary is about: the later half of the run (at least the last record), so it
        describes the network as training left it, not its initialization only."""
        n = len(self.history["step"])
        return slice(n - max(1, n // 2), n)

    def summary(self) -> dict:
        """``{layer: {"activation": kind, statistic: median over the recent records, ...}}`` with the
        statistics that apply to the layer (``dead`` only for ReLU layers...); recent = the later half
        of the monitored steps; non-finite values are left out of the medians."""
        recent = self._recent()
        out = {}
        for layer, kind in self.layers.items():
            row = {"activation": kind or "-"}
            for stat in MONITOR_STATISTICS:
                values = [v for v in self.history[stat].get(layer, [])[recent] if math.isfinite(v)]
                if values:  # NaN/Inf values are reported by findings() on their own
                    row[stat] = float(np.median(values))
            out[layer] = row
        return out

    def findings(self) -> list[Finding]:
        """What looks unhealthy, each with a hint, from the recorded statistics (empty: nothing found).

        Checked: NaN/Inf in gradients or outputs (anywhere in the run), the update/weight ratio outside
        ``update_ratio_range``, dead ReLUs above ``dead_max``, saturation above ``saturated_max``, a layer
        whose gradient norm is below ``vanishing_ratio`` of the largest, gradients that grew by more
        than ``exploding_growth``, and a loss (median of the recent records against the first step's)
        that rose by more than 10% or moved by less than 1%."""
        h, found = self.history, []
        if not h["step"]:
            return found
        nan_hint = ("lower the learning rate (x0.1 at a time), clip gradients (clip_norm=...) or check the data for "
                    "extreme values")
        for stat, norms, what in (("nonfinite_grads", "grad_norm", "gradient"), ("nonfinite_activations", None, "outputs")):
            for layer, counts in h[stat].items():
                overflow = h[norms][layer] if norms else [0.0] * len(counts)  # finite values whose norm overflows
                bad = [s for s, c, n in zip(h["step"], counts, overflow) if c > 0 or not math.isfinite(n)]
                if bad:
                    found.append(Finding(layer, f"NaN/Inf in its {what} from step {bad[0]}", nan_hint))
        bad = [s for s, loss in zip(h["step"], h["loss"]) if not math.isfinite(loss)]
        if bad:
            found.append(Finding("model", f"NaN/Inf loss from step {bad[0]}", nan_hint))
        summary = self.summary()
        low, high = self.update_ratio_range
        nan = float("nan")
        for layer, row in summary.items():
            ratio = row.get("update_ratio", nan)
            if row.get("grad_norm") == 0.0:
                found.append(Finding(layer, "zero gradient: the layer does not learn",
                                     "look for dead or saturated units between it and the loss"))
            elif ratio > high:
                found.append(Finding(layer, f"update/weight {ratio:.1e} > {high:.0e} (target ~{TARGET_UPDATE_RATIO:.0e})",
                                     "lower the learning rate"))
            elif ratio < low:
                found.append(Finding(layer, f"update/weight {ratio:.1e} < {low:.0e} (target ~{TARGET_UPDATE_RATIO:.0e})",
                                     "raise the learning rate"))
            if row.get("dead", nan) > self.dead_max:
                found.append(Finding(layer, f"{_pct(row['dead'])} dead ReLUs (no output for any example of a batch)",
                                     "lower the learning rate, use He initialization, or try leaky_relu/maxout"))
            if row.get("saturated", nan) > self.saturated_max:
                found.append(Finding(layer, f"{row['activation']} saturated at {_pct(row['saturated'])} of its outputs "
                                     "(almost no gradient passes)",
                                     "use smaller initial weights (glorot/he), standardize the inputs, "
                                     "or use relu/batch normalization"))
        norms = {layer: row["grad_norm"] for layer, row in summary.items() if "grad_norm" in row}
        if len(norms) > 1:
            largest = max(norms, key=norms.get)
            for layer, value in norms.items():
                if value < self.vanishing_ratio * norms[largest]:
                    found.append(Finding(layer, f"gradient norm {value:.1e} is {value / norms[largest]:.0e} of "
                                         f"{largest}'s {norms[largest]:.1e} (vanishing gradient)",
                                         "use relu with He initialization, batch normalization or fewer layers"))
        for layer, last in norms.items():
            first = h["grad_norm"][layer][0]
            if first > 0 and last > self.exploding_growth * first:
                found.append(Finding(layer, f"gradient norm grew {last / first:.0f}x since step {h['step'][0]} "
                                     "(exploding gradient)",
                                     "lower the learning rate or clip gradients (clip_norm=...)"))
        losses = np.asarray(h["loss"], np.float64)
        recent = losses[self._recent()]
        recent = recent[np.isfinite(recent)]
        if len(losses) >= 2 and np.isfinite(losses[0]) and len(recent):
            start, end = losses[0], float(np.median(recent))
            if end > 1.1 * start:
                found.append(Finding("model", f"the loss rose from {start:.4g} to {end:.4g}",
                                     "the learning rate is too high: lower it by 10x"))
            elif abs(start - end) <= 0.01 * abs(start):
                found.append(Finding("model", f"the loss did not move ({start:.4g} -> {end:.4g})",
                                     "raise the learning rate (10x at a time) or check the initialization"))
        return found

    def table(self) -> str:
        """The per-layer summary as a text table."""
        formats = {"grad_norm": _sci, "update_ratio": _sci, "dead": _pct, "saturated": _pct, "act_mean": _num,
                   "act_std": _num}
        rows = [{"layer": layer, "activation": row["activation"],
                 **{label: formats[stat](row.get(stat)) for stat, label in MONITOR_STATISTICS.items()}}
                for layer, row in self.summary().items()]
        return text_table(rows)

    def report(self) -> str:
        """The per-layer table, then the findings (or "findings: none")."""
        h = self.history
        if not h["step"]:
            return "no monitored steps yet"
        n = len(h["step"])
        head = (f"monitored {n} steps ({h['step'][0]}..{h['step'][-1]}, every {self.every}); "
                f"medians over the last {len(range(n)[self._recent()])}")
        findings = self.findings()
        lines = [head, self.table(), "findings:" if findings else "findings: none"]
        lines += [f"  - {f}" for f in findings]
        return "\n".join(lines)


class _LossRecorder(Callback):
    """Records the training loss of every ``every``-th step from inside the compiled step."""

    def __init__(self, every: int = 1):
        self.statistics_every = every
        self.steps: list = []
        self.losses: list = []

    def step_statistics(self, info: StepInfo) -> dict:
        return {"loss": info.loss}

    def on_step_statistics(self, epoch, statistics):
        self.steps += [int(s) for s in statistics["step"]]
        self.losses += [float(v) for v in statistics["loss"]]


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
    from fnnet.train import _resolve_optimizer, create_train_state

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
    tx = _resolve_optimizer(optimizer)
    init_key, fit_key = jax.random.split(key)
    initial = create_train_state(plain, tx, init_key, x[:1], params=initial_params)
    initial_loss = fnnet.evaluate(plain, initial, x, y, loss=loss)["loss"]
    recorder = _LossRecorder(max(1, steps // 50))
    state, _ = fnnet.fit(plain, loss, tx, (x, y), epochs=1, steps_per_epoch=steps, batch_size=len(x), key=fit_key,
                         initial_state=initial, callbacks=[recorder], on_nonfinite="skip", verbose=0)
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
    make_optimizer: Callable[[Any], optax.GradientTransformation] = None,
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
    recorder = _LossRecorder(1)
    fnnet.fit(model, loss, tx, (x, y), epochs=1, steps_per_epoch=steps, batch_size=min(batch_size, len(x)),
              key=fit_key, initial_state=initial, callbacks=[recorder], on_nonfinite="skip", verbose=0)
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
    from fnnet.train import _prepare_xy

    state = {} if model_state is None else model_state
    x, y = _prepare_xy(model, loss, x, y, x_name="x", y_name="y")

    @jax.jit
    def gradients_and_activations(params, state, x, y):
        grads = jax.grad(model_objective(model, loss, model_state=state))(params, (x, y))
        _, _, activations = model.apply_with_activations(params, x, state=state)
        return grads, activations

    grads, activations = gradients_and_activations(params, state, x, y)
    layers = _monitored_layers(model, params)
    flat = lambda tree: np.concatenate([np.ravel(np.asarray(a)) for a in jax.tree_util.tree_leaves(tree)])
    return {
        "weights": {name: flat(_weights(params[name])) for name in layers if name in params},
        "activations": {name: np.asarray(activations[name]) for name, kind in layers.items() if kind is not None},
        "gradients": {name: flat(_weights(grads[name])) for name in layers if name in params},
    }


# ----------------------------------------------------------------------------------------------
# The doctor


@dataclasses.dataclass(frozen=True)
class DoctorSetup:
    """What :func:`diagnose` (``fnnet doctor``) needs: a model, its loss, how to build its optimizer
    for a learning rate, and training data. Recipes that support the doctor return one from
    ``diagnose_setup(config, *, key, data_dir)``.

    ``make_optimizer(lr)`` must accept a float or an optax schedule (``fnnet.optim.optimizer`` does);
    ``initial_params`` replaces the model's initialization (e.g. the course's exact weights)."""

    name: str
    model: Any
    loss: Any
    make_optimizer: Callable[[Any], optax.GradientTransformation]
    learning_rate: float
    train: tuple
    batch_size: int
    initial_params: Optional[PyTree] = None


@dataclasses.dataclass
class DoctorReport:
    """What :func:`diagnose` found; ``str(report)`` is the text ``fnnet doctor`` prints."""

    setup: DoctorSetup
    steps: int
    monitor: TrainingMonitor
    history: Any
    gradient_check: Optional[GradientCheck]
    overfit: Optional[OverfitResult]
    lr_range: Optional[LRRangeResult]
    findings: list
    skipped_steps: int = 0
    plots: list = dataclasses.field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.findings

    def __str__(self) -> str:
        s = self.setup
        loss = self.monitor.history["loss"]
        lines = [
            f"fnnet doctor: {s.name}",
            f"model {getattr(s.model, 'name', type(s.model).__name__)}, loss {s.loss}, learning rate {s.learning_rate:g}, "
            f"batch {s.batch_size}, {len(s.train[0]):,} training examples",
        ]
        if self.gradient_check is not None:
            lines.append(f"gradient check: {self.gradient_check.verdict()}")
        if self.overfit is not None:
            lines.append(f"overfit a tiny set: {self.overfit.message}")
        if self.lr_range is not None:
            lines.append(str(self.lr_range))
        if loss:
            lines.append(f"training {self.steps} steps with monitors every {self.monitor.every}: loss {loss[0]:.4g} "
                         f"(step {self.monitor.history['step'][0]}) -> {loss[-1]:.4g} (step {self.monitor.history['step'][-1]})"
                         + (f", {self.skipped_steps} non-finite steps skipped" if self.skipped_steps else ""))
            lines.append(self.monitor.table())
        lines.append("findings:" if self.findings else "findings: none")
        lines += [f"  - {f}" for f in self.findings]
        verdict = "healthy" if self.healthy else f"{len(self.findings)} problem(s) found"
        lines.append(f"verdict: {verdict}")
        return "\n".join(lines)


def diagnose(
    setup: DoctorSetup,
    *,
    key: jax.Array,
    steps: int = 300,
    every: Optional[int] = None,
    gradient_check: bool = True,
    overfit: bool = True,
    overfit_examples: int = 32,
    overfit_steps: int = 200,
    lr_range: bool = True,
    lr_range_steps: int = 120,
    out_dir=None,
) -> DoctorReport:
    """Runs the troubleshooting checklist on ``setup`` and returns a :class:`DoctorReport`:

    1. :func:`check_grads` of the model's loss on a batch of up to 64 examples;
    2. :func:`overfit_small_batch` on ``overfit_examples`` examples for ``overfit_steps`` steps;
    3. :func:`lr_range_test` from ``lr / 1e4`` to ``lr * 100`` over ``lr_range_steps`` steps, reported
       as a finding when the configured rate is past the point where the loss diverges;
    4. ``steps`` steps of training (from the setup's initialization, NaN/Inf steps skipped and counted)
       with a :class:`TrainingMonitor` every ``every`` steps (default ``steps // 50``): its findings.

    With ``out_dir`` it also writes PNGs: the monitored statistics over the steps, the weight /
    activation / gradient histograms after training, and the LR range curve.
    """
    import fnnet
    from fnnet import viz
    from fnnet.train import create_train_state

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    x, y = setup.train
    keys = jax.random.split(key, 4)
    tx = setup.make_optimizer(setup.learning_rate)
    initial = create_train_state(setup.model, tx, keys[0], jnp.asarray(x[:1]), params=setup.initial_params)
    findings: list = []
    grad_check = None
    if gradient_check:
        batch = (jnp.asarray(x[:64]), jnp.asarray(y[:64]))
        grad_check = check_grads(model_objective(setup.model, setup.loss, model_state=initial.model_state),
                                 initial.params, batch, key=keys[1])
        if not grad_check.passed:
            findings.append(Finding("model", f"gradient check failed for {', '.join(grad_check.failed)}",
                                    "a custom layer or loss has a wrong backward pass"))
    overfit_result = None
    if overfit:
        overfit_result = overfit_small_batch(setup.model, setup.loss, tx, x, y, key=keys[2], steps=overfit_steps,
                                             examples=min(overfit_examples, len(x)), initial_params=initial.params)
        if not overfit_result.passed:
            findings.append(Finding("model", f"could not overfit {overfit_result.examples} examples "
                                    f"(loss {overfit_result.initial_loss:.4g} -> {overfit_result.final_loss:.4g})",
                                    "check the labels and the loss, then the learning rate and initialization"))
    range_result = None
    if lr_range:
        range_result = lr_range_test(setup.model, setup.loss, x, y, key=keys[3], make_optimizer=setup.make_optimizer,
                                     min_lr=setup.learning_rate * 1e-4, max_lr=setup.learning_rate * 100,
                                     steps=lr_range_steps, batch_size=setup.batch_size, initial_params=initial.params)
        if range_result.diverged_at is not None and setup.learning_rate >= range_result.diverged_at:
            findings.append(Finding("model", f"learning rate {setup.learning_rate:g} is past the LR range test's "
                                    f"divergence point {range_result.diverged_at:.2g}",
                                    f"lower it, e.g. to {range_result.suggested:.2g}"))
    every = every or max(1, steps // 50)
    monitor = TrainingMonitor(every)
    batch_size = min(setup.batch_size, len(x))
    state, history = fnnet.fit(setup.model, setup.loss, tx, (x, y), epochs=1, steps_per_epoch=steps,
                               batch_size=batch_size, key=keys[0], initial_state=initial, callbacks=[monitor],
                               on_nonfinite="skip", verbose=0)
    findings += monitor.findings()
    if history.skipped_steps:
        findings.append(Finding("model", f"{history.skipped_steps} of {steps} steps had a NaN/Inf loss or gradient",
                                "lower the learning rate by 10x or clip gradients"))
    report = DoctorReport(setup, steps, monitor, history, grad_check, overfit_result, range_result, findings,
                          skipped_steps=history.skipped_steps)
    if out_dir is not None:
        out = Path(out_dir)
        report.plots.append(str(viz.plot_layer_statistics(monitor.history, out / "doctor_layer_statistics.png",
                                                          title=setup.name)))
        snapshot = layer_snapshot(setup.model, setup.loss, state.params, jnp.asarray(x[:256]), jnp.asarray(y[:256]),
                                  model_state=state.model_state)
        report.plots.append(str(viz.plot_layer_histograms(snapshot, out / "doctor_histograms.png", title=setup.name)))
        if range_result is not None:
            report.plots.append(str(viz.plot_lr_vs_loss(range_result.learning_rates, range_result.losses,
                                                        out / "doctor_lr_range.png", smoothed=range_result.smoothed,
                                                        suggested=range_result.suggested)))
    return report
