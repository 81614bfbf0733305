"""``fnnet doctor``: the whole troubleshooting checklist on one setup, as a short report."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import optax

from fnnet.diagnostics.gradients import GradientCheck, check_grads, model_objective
from fnnet.diagnostics.monitor import Finding, TrainingMonitor
from fnnet.diagnostics.sanity import LRRangeResult, OverfitResult, layer_snapshot, lr_range_test, overfit_small_batch

PyTree = Any


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
    state, history = fnnet.fit(setup.model, setup.loss, tx, (x, y), epochs=1, batch_size=batch_size, key=keys[0],
                               initial_state=initial, callbacks=[monitor], verbose=0,
                               options=fnnet.TrainOptions(steps_per_epoch=steps, on_nonfinite="skip"))
    findings += monitor.findings()
    if history.skipped_steps:
        findings.append(Finding("model", f"{history.skipped_steps} of {steps} steps had a NaN/Inf loss or gradient",
                                "lower the learning rate by 10x or clip gradients"))
    report = DoctorReport(setup, steps, monitor, history, grad_check, overfit_result, range_result, findings,
                          skipped_steps=history.skipped_steps)
    if out_dir is not None:
        figures = {"doctor_layer_statistics.png": viz.plot_layer_statistics(monitor.history, title=setup.name)}
        snapshot = layer_snapshot(setup.model, setup.loss, state.params, jnp.asarray(x[:256]), jnp.asarray(y[:256]),
                                  model_state=state.model_state)
        figures["doctor_histograms.png"] = viz.plot_layer_histograms(snapshot, title=setup.name)
        if range_result is not None:
            figures["doctor_lr_range.png"] = viz.plot_lr_vs_loss(
                range_result.learning_rates, range_result.losses, smoothed=range_result.smoothed,
                suggested=range_result.suggested)
        report.plots += viz.save_figures(figures, Path(out_dir))
    return report
