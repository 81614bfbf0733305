"""Diagnostics: the troubleshooting checklist of the jhui seed as functions and callbacks.

One module per concept: :mod:`~fnnet.diagnostics.gradients` (gradient check), :mod:`~fnnet.diagnostics.monitor`
(in-step training monitor), :mod:`~fnnet.diagnostics.sanity` (overfit, LR range test, layer snapshot),
:mod:`~fnnet.diagnostics.doctor` (all of them as one report).

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
* :func:`class_balance`, :func:`input_scaling`, :func:`beats_baseline` (against :func:`trivial_baseline`),
  :func:`top_activating` -- the checklist's data checks (:mod:`~fnnet.diagnostics.data`).
* :func:`diagnose` -- all of the above on one setup, as the short report ``fnnet doctor`` prints.

Example::

    monitor = TrainingMonitor(every=50)
    state, history = fnnet.fit(model, loss, opt, (x, y), epochs=5, key=key, callbacks=[monitor])
    print(monitor.report())            # per-layer table, then what looks unhealthy and what to try
"""
from fnnet.diagnostics.data import (
    DataCheck,
    beats_baseline,
    class_balance,
    input_scaling,
    is_classification,
    top_activating,
    trivial_baseline,
)
from fnnet.diagnostics.doctor import DoctorReport, DoctorSetup, diagnose
from fnnet.diagnostics.gradients import GradientCheck, LeafCheck, check_grads, model_objective
from fnnet.diagnostics.layers import TARGET_UPDATE_RATIO, layer_activation_kind
from fnnet.diagnostics.monitor import MONITOR_STATISTICS, Finding, LossRecorder, MonitorStatistics, TrainingMonitor
from fnnet.diagnostics.sanity import (
    LRRangeResult,
    OverfitResult,
    layer_snapshot,
    lr_range_test,
    overfit_small_batch,
    without_regularization,
)

__all__ = [
    "MONITOR_STATISTICS",
    "TARGET_UPDATE_RATIO",
    "DataCheck",
    "DoctorReport",
    "DoctorSetup",
    "Finding",
    "GradientCheck",
    "LRRangeResult",
    "LeafCheck",
    "LossRecorder",
    "MonitorStatistics",
    "OverfitResult",
    "TrainingMonitor",
    "beats_baseline",
    "check_grads",
    "class_balance",
    "diagnose",
    "input_scaling",
    "is_classification",
    "layer_activation_kind",
    "layer_snapshot",
    "lr_range_test",
    "model_objective",
    "overfit_small_batch",
    "top_activating",
    "trivial_baseline",
    "without_regularization",
]
