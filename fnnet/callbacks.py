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

import copy
import functools
import math
import os
import warnings
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks
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

    def update_state(self, state):
        """Called after :meth:`on_epoch_end`; may return a replacement :class:`TrainState` for the next
        epoch (else None), e.g. a new learning rate written into the optimizer's injected
        hyper-parameters: the same compiled program trains on, nothing is recompiled."""
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


def check_monitor(callback: str, monitor) -> None:
    """Raises unless ``monitor`` names a log (a non-empty str such as ``"val_loss"``)."""
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"{callback}(monitor=...) must name a log such as 'val_loss' or 'accuracy', got "
                         f"{type(monitor).__name__} {monitor!r}")


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
        check_monitor("EarlyStopping", monitor)
        _checks.check_int("EarlyStopping(patience=...)", patience, low=0)
        _checks.check_range("EarlyStopping(min_delta=...)", min_delta)  # any finite number: Keras uses its size
        _checks.check_bool("EarlyStopping(restore_best_weights=...)", restore_best_weights)
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
                print(f"Epoch {epoch + 1}: early stopping "
                      f"(best {self.monitor} {self.best:.4f} at epoch {self.best_epoch + 1})")
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
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = float(state["best"]), state["best_epoch"]
        self.wait, self.stopped_epoch = int(state["wait"]), state["stopped_epoch"]
        self._best_before_resume = self.best_epoch is not None


class LambdaCallback(Callback):
    """Wraps plain functions as a callback: ``LambdaCallback(on_epoch_end=lambda e, logs, s: ...)``."""

    def __init__(self, *, on_train_begin=None, on_epoch_end=None, on_train_end=None):
        for name, fn in (("on_train_begin", on_train_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_end", on_train_end)):
            if fn is not None and not callable(fn):
                raise ValueError(f"LambdaCallback({name}=...) must be a function or None, got "
                                 f"{type(fn).__name__} {fn!r}")
        self._begin, self._epoch, self._end = on_train_begin, on_epoch_end, on_train_end

    def on_train_begin(self, state, history):
        if self._begin:
            self._begin(state, history)

    def on_epoch_end(self, epoch, logs, state):
        return self._epoch(epoch, logs, state) if self._epoch else None

    def on_train_end(self, state):
        return self._end(state) if self._end else None


@functools.cache
def full_data_logs(every: int) -> Callable[[StepInfo], dict]:
    """The in-step statistic of :class:`StepLog` for an interval: the run's loss and metrics on
    ``info.data = (x, y)`` (inference mode) with the parameters after step ``t`` when ``t + 1`` steps
    are a multiple of ``every`` (``"after"``), and before step 0 (``"before"``); ``"logged"`` says
    which of the two the step computed (zeros otherwise). One function object per interval, so that
    logs of the same shapes share one compiled program."""

    def statistic(info: StepInfo) -> dict:
        x, y = info.data

        def logs(params):
            outputs, _ = info.model.apply(params, x, train=False, state=info.model_state)
            return info.objective.logs(params, outputs, y)

        zeros = lambda: jax.tree.map(jnp.zeros_like, jax.eval_shape(logs, info.new_params))
        after_due, before_due = (info.step + 1) % every == 0, info.step == 0
        after = jax.lax.cond(after_due, lambda: logs(info.new_params), zeros)
        before = jax.lax.cond(before_due, lambda: logs(info.params), zeros)
        return {"after": after, "before": before, "logged": {"after": after_due, "before": before_due}}

    return statistic


class StepLog(Callback):
    """Logs the loss and the run's metrics on the whole of ``(x, y)`` every ``every`` steps, inside the
    compiled loop (no one-step epochs, no host round trip per step): the per-step curves of the seeds'
    gradient-descent plots.

    After training, ``values[name]`` is a float array: ``(n,)`` under :func:`fnnet.fit`, ``(members, n)``
    under :func:`fnnet.ensemble.fit_ensemble` / :func:`fnnet.search.fit_sweep`, where entry ``k`` is the
    value once ``steps[k]`` steps are taken: ``steps == [0, every, 2 every, ...]`` (so the last entry is the
    final state's when the run's step count is a multiple of ``every``). When training starts at step 0 the
    first entry is the value before any step (``steps[0] == 0``). Evaluated in inference mode (no dropout, BatchNorm
    with its running statistics), with the loss's weight penalties included as in the training loss.
    """

    def __init__(self, x, y, *, every: int = 1):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
            raise ValueError(f"StepLog(x, y): x and y must have the same number of rows, got x {x.shape} and "
                             f"y {y.shape}")
        _checks.check_int("StepLog(every=...) (steps)", every)
        self.x, self.y, self.every = x, y, int(every)
        self.member: Optional[int] = None
        self._rows: dict = {}  # member (None under fit) -> list of (step, {name: value})

    def statistics(self) -> StepStatistics:
        # Computed on every step under its own schedule (the log's entries fall after steps every, 2 every...,
        # while in-step statistics are due on steps 0, every...): the step pays a cond, not an evaluation.
        return StepStatistics(full_data_logs(self.every), 1, data=(self.x, self.y))

    def for_member(self, i: int) -> StepLog:
        """Member ``i``'s view in a population: it writes into this log's row ``i``."""
        view = copy.copy(self)
        view.member = i
        return view

    def on_train_begin(self, state, history) -> None:
        self._rows[self.member] = []

    def on_step_statistics(self, epoch: int, statistics: dict) -> None:
        rows = self._rows.setdefault(self.member, [])
        steps, logged = np.asarray(statistics["step"]), statistics["logged"]
        for k, step in enumerate(steps):
            if logged["before"][k]:
                rows.append((0, {n: float(v[k]) for n, v in statistics["before"].items()}))
            if logged["after"][k]:
                rows.append((int(step) + 1, {n: float(v[k]) for n, v in statistics["after"].items()}))

    @property
    def steps(self) -> np.ndarray:
        """The step counts of the entries of :attr:`values` (the same for every member)."""
        if not self._rows:
            return np.zeros(0, np.int64)
        member = self.member if (self.member is not None or None in self._rows) else min(self._rows)
        return np.array([s for s, _ in self._rows[member]], dtype=np.int64)

    @property
    def values(self) -> dict:
        if not self._rows:
            return {}
        if self.member is not None or list(self._rows) == [None]:
            rows = self._rows[self.member]
            return {n: np.array([v[n] for _, v in rows]) for n in (rows[0][1] if rows else {})}
        members = [self._rows[i] for i in sorted(self._rows)]
        names = members[0][0][1] if members[0] else {}
        return {n: np.array([[v[n] for _, v in rows] for rows in members]) for n in names}



class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` has not improved for ``patience``
    epochs (Keras 3's rule and defaults).

    Each epoch end: during a cooldown, ``cooldown_counter -= 1`` and ``wait = 0``; then an epoch improves
    when ``current < best - min_delta`` (``current > best + min_delta`` in ``max`` mode) and sets ``best``
    and ``wait = 0``; otherwise, outside a cooldown, ``wait += 1`` and when ``wait >= patience`` and
    ``lr > min_lr`` the rate becomes ``max(lr * factor, min_lr)``, ``cooldown_counter = cooldown`` and
    ``wait = 0``.

    The learning rate is the optimizer state's injected hyper-parameter (``fnnet.optim.optimizer(name, lr)``
    keeps it there by default), so changing it recompiles nothing. A schedule would overwrite it at every
    step: give a constant learning rate. ``learning_rates``: the rate used in each epoch.
    """

    def __init__(self, monitor: str = "val_loss", *, factor: float = 0.1, patience: int = 10, mode: str = "auto",
                 min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0, verbose: bool = False):
        rate_factor = _checks.as_numbers("ReduceLROnPlateau(factor=...)", factor)
        if rate_factor.ndim or not 0.0 < rate_factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau(factor=...) must lie in (0, 1), got {factor!r}")
        check_monitor("ReduceLROnPlateau", monitor)
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            _checks.check_int(f"ReduceLROnPlateau({name}=...)", value, low=0)
        _checks.check_positive("ReduceLROnPlateau(min_lr=...)", min_lr, allow_zero=True)
        _checks.check_range("ReduceLROnPlateau(min_delta=...)", min_delta)  # any finite number: Keras uses its size
        self.monitor, self.factor, self.patience, self.cooldown = monitor, float(factor), patience, cooldown
        self.mode = resolve_mode(monitor, mode)
        self.min_delta, self.min_lr, self.verbose = abs(min_delta), float(min_lr), verbose
        self._reset()

    def _reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = self.cooldown_counter = 0
        self.learning_rates: list = []
        self._new_lr: Optional[float] = None

    def on_train_begin(self, state, history):
        self._reset()
        self._learning_rate(state)  # fail before the first epoch when there is none to change

    def _learning_rate(self, state) -> float:
        injected = getattr(state.opt_state, "hyperparams", None)
        if not injected or "learning_rate" not in injected:
            raise ValueError("ReduceLROnPlateau needs the learning rate in the optimizer state: build the optimizer "
                             "with fnnet.optim.optimizer(name, learning_rate) (inject=True, the default) or "
                             "optax.inject_hyperparams(...)(learning_rate=...)")
        return float(np.asarray(injected["learning_rate"]))

    def on_epoch_end(self, epoch, logs, state):
        lr = self._learning_rate(state)
        self.learning_rates.append(lr)
        if self.monitor not in logs:
            warnings.warn(f"ReduceLROnPlateau: '{self.monitor}' is not in the logs (have {sorted(logs)}); "
                          "the learning rate is left as it is", stacklevel=2)
            return None
        current = float(logs[self.monitor])
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        improved = current < self.best - self.min_delta if self.mode == "min" else current > self.best + self.min_delta
        if improved:
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and lr > np.float32(self.min_lr):
                self._new_lr = max(lr * self.factor, self.min_lr)
                self.cooldown_counter, self.wait = self.cooldown, 0
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {self._new_lr:.4g}.")
        return None

    def update_state(self, state):
        if self._new_lr is None:
            return None
        injected = state.opt_state.hyperparams
        old = injected["learning_rate"]
        new_lr = jnp.full_like(old, self._new_lr)
        opt_state = state.opt_state._replace(hyperparams={**injected, "learning_rate": new_lr})
        self._new_lr = None
        return state.replace(opt_state=opt_state)

    def state_dict(self) -> dict:
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.wait = float(state["best"]), int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])


class CSVLogger(Callback):
    """Appends each epoch's logs to a CSV file as Keras' ``CSVLogger``: a header ``epoch,<names sorted>``
    and one row per epoch (``epoch`` from 0). In a population every member writes to the same file, with
    a ``member`` column first. Each row is written and closed at once, so a killed run keeps its rows.
    ``append=True`` continues an existing file (e.g. a resumed run) instead of starting it afresh."""

    def __init__(self, filename, separator: str = ",", append: bool = False):
        if not isinstance(filename, (str, os.PathLike)):
            raise ValueError(f"CSVLogger(filename=...) must be a path, got {type(filename).__name__}")
        if not isinstance(separator, str) or len(separator) != 1 or separator in "\n\r\"":
            raise ValueError(f"CSVLogger(separator=...) must be one character such as ',' or '\\t' (not a "
                             f"newline or a quote), got {separator!r}")
        _checks.check_bool("CSVLogger(append=...)", append)
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.member: Optional[int] = None
        self._started = {"fresh": not append}  # shared by the members' views

    def for_member(self, i: int) -> CSVLogger:
        view = copy.copy(self)
        view.member = i
        return view

    def on_train_begin(self, state, history):
        if self._started.pop("fresh", False) and os.path.exists(self.filename):
            os.remove(self.filename)

    def on_epoch_end(self, epoch, logs, state):
        names = sorted(logs)
        columns = (["member"] if self.member is not None else []) + ["epoch", *names]
        values = ([str(self.member)] if self.member is not None else []) + [str(epoch)]
        values += [repr(float(logs[n])) if np.ndim(logs[n]) == 0 else str(logs[n]) for n in names]
        new_file = not os.path.exists(self.filename) or os.path.getsize(self.filename) == 0
        with open(self.filename, "a", newline="") as f:
            if new_file:
                f.write(self.separator.join(columns) + "\n")
            f.write(self.separator.join(values) + "\n")
        return None


class TensorBoard(Callback):
    """Writes each epoch's logs as TensorBoard scalars (``tensorboard --logdir LOG_DIR``): ``train/loss``,
    ``validation/loss`` (from ``val_loss``)..., at step = epoch. A population writes one run per member
    (``LOG_DIR/member_i``). Needs the optional writer ``tensorboardX`` (``pip install fnnet[tensorboard]``)."""

    def __init__(self, log_dir="logs"):
        if not isinstance(log_dir, (str, os.PathLike)):
            raise ValueError(f"TensorBoard(log_dir=...) must be a path, got {type(log_dir).__name__} {log_dir!r}")
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            raise ImportError("fnnet.callbacks.TensorBoard writes with tensorboardX: pip install 'fnnet[tensorboard]' "
                              "(or pip install tensorboardX)") from None
        self.log_dir = os.fspath(log_dir)
        self.member: Optional[int] = None
        self._writer = None

    def for_member(self, i: int) -> TensorBoard:
        view = copy.copy(self)
        view.member, view._writer = i, None
        return view

    @property
    def run_dir(self) -> str:
        return self.log_dir if self.member is None else os.path.join(self.log_dir, f"member_{self.member}")

    def on_train_begin(self, state, history):
        from tensorboardX import SummaryWriter

        self._writer = SummaryWriter(self.run_dir)

    def on_epoch_end(self, epoch, logs, state):
        for name, value in logs.items():
            tag = f"validation/{name[4:]}" if name.startswith("val_") else f"train/{name}"
            if np.ndim(value) == 0:
                self._writer.add_scalar(tag, float(value), epoch)
        self._writer.flush()
        return None

    def on_train_end(self, state):
        if self._writer is not None:
            self._writer.close()
        return None

    def __deepcopy__(self, memo):  # a writer holds a thread and a file: copies start without one
        view = copy.copy(self)
        view._writer = None
        return view


class ModelCheckpoint(Callback):
    """Saves the model with :func:`fnnet.save_model` (architecture, params and model state, written
    into a temporary folder and renamed, so a killed run never leaves a half-written model) at the end
    of epochs, as Keras' ``ModelCheckpoint``: ``filepath`` may name the epoch and logs
    (``"models/{epoch:02d}-{val_loss:.3f}"``, ``epoch`` from 1 as in Keras); with ``save_best_only`` only
    when ``monitor`` improves (``mode`` as :class:`EarlyStopping`). In a population each member saves to
    ``<path>/member_<i>``. ``saved``: the paths written. Load one with ``fnnet.load_model(path)``.

    For resumable training (optimizer state, data position, bitwise continuation) use
    ``fit(..., checkpoint=fnnet.Checkpointing(...))`` instead: this callback keeps models for inference.
    """

    def __init__(self, filepath, monitor: str = "val_loss", *, save_best_only: bool = False, mode: str = "auto",
                 verbose: bool = False):
        if not isinstance(filepath, (str, os.PathLike)):
            raise ValueError(f"ModelCheckpoint(filepath=...) must be a path, got {type(filepath).__name__}")
        check_monitor("ModelCheckpoint", monitor)
        _checks.check_bool("ModelCheckpoint(save_best_only=...)", save_best_only)
        self.filepath, self.monitor, self.save_best_only = os.fspath(filepath), monitor, save_best_only
        self.mode, self.verbose = resolve_mode(monitor, mode), verbose
        self.member: Optional[int] = None
        self.best = math.inf if self.mode == "min" else -math.inf
        self.saved: list = []

    def for_member(self, i: int) -> ModelCheckpoint:
        view = copy.deepcopy(self)
        view.member = i
        return view

    def on_train_begin(self, state, history):
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs, state):
        from fnnet.saving import save_model  # orbax and the model config only when saving

        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: '{self.monitor}' is not in the logs (have {sorted(logs)}); "
                              "nothing saved", stacklevel=2)
                return None
            better = current < self.best if self.mode == "min" else current > self.best
            if not better:
                return None
            self.best = float(current)
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"ModelCheckpoint(filepath={self.filepath!r}) names {err} that is not 'epoch' or a log "
                             f"of this run ({sorted(logs)})") from None
        if self.member is not None:
            path = os.path.join(path, f"member_{self.member}")
        save_model(path, self.model, state)
        self.saved.append(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved the model to {path}")
        return None
