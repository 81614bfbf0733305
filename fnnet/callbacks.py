"""Callbacks: host-side hooks the training loop calls between compiled epochs (Keras' callbacks).

A callback sees the epoch's logs (``{"loss": ..., "val_accuracy": ...}``) and the current
:class:`~fnnet.state.TrainState`; it can ask training to stop and, at the end, hand back a different
state (e.g. the best weights). Its hooks run on the host between compiled pieces, so they cost nothing
inside the step. In a population (``fit_ensemble``, ``fit_sweep``) every member has its own copy.

A callback may also *consume an in-step statistic* (gradient norms, dead units, the loss on a whole
data set after every step...): :meth:`Callback.statistics` returns a
:class:`~fnnet.state.StepStatistics` (a pure function of the step's values and an interval), the
compiled step computes it under ``lax.cond`` on those steps only, and after each compiled piece the loop
hands the values to :meth:`Callback.on_step_statistics`. Callbacks that declare none add no work to the
step.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional

import jax

from fnnet.state import StepInfo, StepStatistics, improves_upwards


class Callback:
    """Base class. Override any of the hooks; all are optional."""

    #: The older way to declare an in-step statistic: ``step_statistics`` every this many steps (0: never).
    statistics_every: int = 0

    def statistics(self) -> Optional[StepStatistics]:
        """The in-step statistic this callback consumes, or None. Default: :meth:`step_statistics` every
        ``statistics_every`` steps when that is set."""
        every = getattr(self, "statistics_every", 0)
        if not isinstance(every, int) or isinstance(every, bool) or every < 0:
            raise ValueError(f"{type(self).__name__}.statistics_every must be an int >= 0 (0: no in-step "
                             f"statistics), got {every!r}")
        return StepStatistics(self.step_statistics, every) if every else None

    def step_statistics(self, info: StepInfo) -> dict:
        """Statistics computed *inside* the compiled train step (see :meth:`statistics`): a (nested) dict of
        small arrays, written with ``jax.numpy`` (it is traced). It must depend on nothing but ``info``,
        and must not change the callback (it runs once, while the step is compiled)."""
        return {}

    def set_model(self, model) -> None:
        """Called before training with the model being trained (as Keras' ``Callback.set_model``)."""
        self.model = model

    def on_step_statistics(self, epoch: int, statistics: dict) -> None:
        """Called after each compiled piece of an epoch (before :meth:`on_epoch_end`, and before training
        raises on a non-finite step) with the piece's in-step statistics: the statistic's tree with every
        leaf stacked along a new leading axis over the steps that computed it, plus ``"step"`` (their
        indices), all numpy arrays."""

    def on_train_begin(self, state, history) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, epoch: int, logs: dict, state) -> Optional[bool]:
        """Called after each epoch (``epoch`` counts from 0). Return True to stop training."""
        return None

    def on_train_end(self, state):
        """Called once after training; may return a replacement :class:`TrainState` (else None)."""
        return None

    def state_dict(self) -> dict:
        """The callback's progress as a JSON-serializable dict, saved in ``fit``'s checkpoints so that a
        resumed run continues it (e.g. an early-stopping patience counter). Default: nothing."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restores what :meth:`state_dict` returned; ``fit`` calls it after ``on_train_begin`` when
        it resumes from a checkpoint."""


def resolve_mode(monitor: str, mode: str) -> str:
    """``"min"`` or ``"max"``: ``mode``, or for ``"auto"`` Keras' rule (accuracy-like quantities improve
    upwards, everything else downwards)."""
    return "max" if improves_upwards(monitor, mode) else "min"


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has stopped improving (Keras semantics).

    An epoch improves on the best value so far when it beats it by more than ``min_delta``
    (``current > best + min_delta`` in ``max`` mode). After ``patience`` epochs in a row without
    improvement training stops. With ``restore_best_weights`` the state of the best epoch is returned
    at the end (the default keeps the last epoch's, as Keras does).

    Attributes after training: ``best``, ``best_epoch``, ``stopped_epoch`` (None if it never fired).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
        verbose: bool = False,
    ):
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.mode = resolve_mode(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self.verbose = verbose
        self._reset()

    def _reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: Optional[int] = None
        self.stopped_epoch: Optional[int] = None
        self.wait = 0
        self._best_state = None
        self._best_before_resume = False  # the best epoch's weights were lost in a resume

    def _improved(self, current: float) -> bool:
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_train_begin(self, state, history):
        self._reset()

    def on_epoch_end(self, epoch, logs, state):
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r} but the epoch logs only have {sorted(logs)}; "
                "monitoring a val_* quantity needs validation_data"
            )
        current = float(logs[self.monitor])
        if self._improved(current):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            self._best_before_resume = False
            if self.restore_best_weights:
                # fit donates the state's buffers to the next epoch, so keep a copy, not a reference.
                self._best_state = jax.tree_util.tree_map(lambda a: a.copy(), state)
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping (best {self.monitor} {self.best:.4f} at epoch {self.best_epoch + 1})")
            return True
        return False

    def on_train_end(self, state):
        if self.restore_best_weights and self._best_state is not None:
            return self._best_state
        if self.restore_best_weights and self._best_before_resume:
            warnings.warn(
                f"EarlyStopping could not restore the best weights (epoch {self.best_epoch + 1}): they were "
                "reached before training resumed from a checkpoint and are not in memory; returning the last "
                f"state. Keep them with fit(..., keep_best={self.monitor!r}) and load them with "
                "fnnet.checkpoint.restore(..., step='best').",
                stacklevel=2,
            )
        return None

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = float(state["best"]), state["best_epoch"]
        self.wait, self.stopped_epoch = int(state["wait"]), state["stopped_epoch"]
        self._best_before_resume = self.best_epoch is not None


class LambdaCallback(Callback):
    """Wraps plain functions as a callback: ``LambdaCallback(on_epoch_end=lambda e, logs, s: ...)``."""

    def __init__(self, *, on_train_begin=None, on_epoch_end=None, on_train_end=None):
        self._begin, self._epoch, self._end = on_train_begin, on_epoch_end, on_train_end

    def on_train_begin(self, state, history):
        if self._begin:
            self._begin(state, history)

    def on_epoch_end(self, epoch, logs, state):
        return self._epoch(epoch, logs, state) if self._epoch else None

    def on_train_end(self, state):
        return self._end(state) if self._end else None
