"""The training monitor: per-layer health statistics computed inside the compiled step, and findings."""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet.callbacks import Callback
from fnnet.diagnostics.layers import (
    TARGET_UPDATE_RATIO,
    fmt_num,
    fmt_pct,
    fmt_sci,
    monitored_layers,
    saturation_test,
    weights_of,
)
from fnnet.state import StepInfo, StepStatistics
from fnnet.text import text_table


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


@dataclasses.dataclass(frozen=True)
class MonitorStatistics:
    """The traced part of :class:`TrainingMonitor`: ``info -> {statistic: {layer: value}}`` for every
    monitored layer, plus the step's ``loss``. A pure function of the step's values (and hashable, so the
    compiled step it is part of is cached)."""

    update_ratio: bool = True
    saturation_gradient: float = 0.05

    def __call__(self, info: StepInfo) -> dict:
        stats = {"loss": info.loss, "grad_norm": {}, "update_ratio": {}, "nonfinite_grads": {}, "dead": {},
                 "saturated": {}, "act_mean": {}, "act_std": {}, "nonfinite_activations": {}}
        for name, kind in monitored_layers(info.model, info.grads).items():
            if name in info.grads and jax.tree_util.tree_leaves(info.grads[name]):
                grads = info.grads[name]
                stats["grad_norm"][name] = optax.tree.norm(grads)
                leaves = jax.tree_util.tree_leaves(grads)
                stats["nonfinite_grads"][name] = sum(jnp.sum(~jnp.isfinite(g)) for g in leaves)
                if self.update_ratio:
                    # ||W|| after the update: within a factor 1 +- ratio of the one before, and reading the
                    # new weights costs XLA no copy (see fnnet.state.StepInfo).
                    w_norm = optax.tree.norm(weights_of(info.new_params[name]))
                    u_norm = optax.tree.norm(weights_of(info.updates[name]))
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
            saturated = saturation_test(kind, self.saturation_gradient)
            if saturated is not None:
                stats["saturated"][name] = jnp.mean(saturated(act))
        return stats


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
        self.every = int(every)
        self.update_ratio_range = (float(low), float(high))
        self.dead_max, self.saturated_max = dead_max, saturated_max
        self.saturation_gradient = saturation_gradient
        self.vanishing_ratio, self.exploding_growth = vanishing_ratio, exploding_growth
        self.update_ratio = update_ratio
        self.verbose = verbose
        self.layers: dict = {}
        self.history: dict = {}
        self._reset()

    def _reset(self) -> None:
        self.history = {"step": [], "epoch": [], "loss": [], "nonfinite_grads": {}, "nonfinite_activations": {},
                        **{name: {} for name in MONITOR_STATISTICS}}

    # -- inside the compiled step ----------------------------------------------------------
    def statistics(self) -> StepStatistics:
        """The per-layer statistics every ``every`` steps (:class:`MonitorStatistics`: equal settings give
        an equal function, so a second run with a new monitor reuses the compiled step)."""
        return StepStatistics(MonitorStatistics(self.update_ratio, self.saturation_gradient), self.every)

    def set_model(self, model) -> None:
        super().set_model(model)
        self._model = model

    # -- on the host ------------------------------------------------------------------------
    def on_train_begin(self, state, history):
        self._reset()
        # The layer kinds are static facts of the model, found on the host (not while the step is traced).
        self.layers = monitored_layers(getattr(self, "_model", None), state.params)

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
                    parts.append(f"{label} {fmt_pct(h[stat][layer][index])}")
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
        checks = (("nonfinite_grads", "grad_norm", "gradient"), ("nonfinite_activations", None, "outputs"))
        for stat, norms, what in checks:
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
                found.append(Finding(layer, f"update/weight {ratio:.1e} > {high:.0e} "
                                     f"(target ~{TARGET_UPDATE_RATIO:.0e})",
                                     "lower the learning rate"))
            elif ratio < low:
                found.append(Finding(layer, f"update/weight {ratio:.1e} < {low:.0e} "
                                     f"(target ~{TARGET_UPDATE_RATIO:.0e})",
                                     "raise the learning rate"))
            if row.get("dead", nan) > self.dead_max:
                found.append(Finding(layer, f"{fmt_pct(row['dead'])} dead ReLUs (no output for any example of a batch)",
                                     "lower the learning rate, use He initialization, or try leaky_relu/maxout"))
            if row.get("saturated", nan) > self.saturated_max:
                found.append(Finding(layer, f"{row['activation']} saturated at {fmt_pct(row['saturated'])} "
                                            "of its outputs "
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
        formats = {"grad_norm": fmt_sci, "update_ratio": fmt_sci, "dead": fmt_pct, "saturated": fmt_pct,
                   "act_mean": fmt_num, "act_std": fmt_num}
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


def step_loss(info: StepInfo) -> dict:
    """An in-step statistic: the step's training loss."""
    return {"loss": info.loss}


class LossRecorder(Callback):
    """Records the training loss of every ``every``-th step from inside the compiled step (``steps``,
    ``losses``)."""

    def __init__(self, every: int = 1):
        self.every = every
        self.steps: list = []
        self.losses: list = []

    def statistics(self) -> StepStatistics:
        return StepStatistics(step_loss, self.every)

    def on_step_statistics(self, epoch, statistics):
        self.steps += [int(s) for s in statistics["step"]]
        self.losses += [float(v) for v in statistics["loss"]]
