"""The bottom layer: what training produces and records, imported by every training module.

Nothing here imports another fnnet module above :mod:`fnnet.tree`, so :mod:`fnnet.train`,
:mod:`fnnet.engine`, :mod:`fnnet.checkpoint`, :mod:`fnnet.ensemble` and :mod:`fnnet.diagnostics` all
build on the same records without importing each other:

* :class:`TrainState`: everything that changes during training, one pytree (stacked for populations);
* :class:`History` (one run) and :class:`PopulationHistory` (one History per member);
* :class:`StepInfo` and :class:`StepStatistics`: what in-step statistics read, and how often;
* :class:`NonFiniteError`: a step whose loss, gradient or new parameters were NaN/Inf.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

PyTree = Any


# ----------------------------------------------------------------------------------------------
# Train state


@struct.dataclass
class TrainState:
    """Everything that changes during training, as one pytree.

    ``params`` trainable weights; ``opt_state`` the optimizer's state; ``model_state`` non-trainable
    variables (BatchNorm statistics; ``{}`` otherwise); ``step`` int32 count of batches processed;
    ``epoch`` int32 count of finished epochs (a later ``fit(..., initial_state=state)`` numbers its
    epochs on from it, as Keras' ``initial_epoch``); ``key`` the base PRNG key from which step ``t``
    derives ``fold_in(key, t)`` for dropout and augmentation.

    A population's state (:func:`fnnet.ensemble.fit_ensemble`) is the same tree with a leading member
    axis ``M`` on every leaf.
    """

    params: PyTree
    opt_state: PyTree
    model_state: PyTree
    step: jax.Array
    epoch: jax.Array
    key: jax.Array


def initial_state(params: PyTree, opt_state: PyTree, model_state: PyTree, key: jax.Array) -> TrainState:
    """A :class:`TrainState` at step 0, epoch 0."""
    return TrainState(params=params, opt_state=opt_state, model_state=model_state, step=jnp.zeros((), jnp.int32),
                      epoch=jnp.zeros((), jnp.int32), key=key)


# ----------------------------------------------------------------------------------------------
# Histories


@dataclasses.dataclass
class History:
    """Per-epoch record of one run, Keras-style: ``history.history["val_accuracy"][-1]``.

    ``epochs`` are the epoch indices (from 0; a run continued from a state numbers on from its
    ``epoch``); ``epoch_times`` wall seconds per epoch (compilation excluded, see ``compile_time``);
    ``steps`` optimizer steps taken; ``skipped_steps`` non-finite steps skipped (``on_nonfinite="skip"``).
    """

    history: dict = dataclasses.field(default_factory=dict)
    epochs: list = dataclasses.field(default_factory=list)
    epoch_times: list = dataclasses.field(default_factory=list)
    compile_time: float = 0.0
    steps: int = 0
    skipped_steps: int = 0
    stopped_early: bool = False
    epoch_mode: str = ""

    def append(self, epoch: int, logs: dict, seconds: float) -> None:
        self.epochs.append(int(epoch))
        self.epoch_times.append(float(seconds))
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def extend(self, later: History) -> History:
        """This run followed by ``later`` (a ``fit`` continued with ``initial_state=``), as a new History."""
        names = dict.fromkeys([*self.history, *later.history])
        pad = lambda h, n: h.history.get(n, [float("nan")] * len(h.epochs))
        return History(
            history={n: [*pad(self, n), *pad(later, n)] for n in names},
            epochs=[*self.epochs, *later.epochs], epoch_times=[*self.epoch_times, *later.epoch_times],
            compile_time=self.compile_time + later.compile_time, steps=self.steps + later.steps,
            skipped_steps=self.skipped_steps + later.skipped_steps, stopped_early=later.stopped_early,
            epoch_mode=later.epoch_mode or self.epoch_mode,
        )

    __add__ = extend

    def __getitem__(self, key: str) -> list:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def last(self) -> dict:
        """The final epoch's logs."""
        return {k: v[-1] for k, v in self.history.items()}

    def best(self, monitor: str = "val_loss", mode: str = "auto") -> tuple[int, float]:
        """``(epoch, value)`` of the best ``monitor`` value (max for accuracies, else min)."""
        values = self.history[monitor]
        i = int(np.nanargmax(values) if improves_upwards(monitor, mode) else np.nanargmin(values))
        return self.epochs[i], values[i]


def improves_upwards(monitor: str, mode: str = "auto") -> bool:
    """Keras' rule for ``mode="auto"``: accuracy-like quantities improve upwards, the rest (losses) downwards."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode == "max"
    return "acc" in monitor or monitor.endswith("auc")


@dataclasses.dataclass
class PopulationHistory:
    """What a population run records (:func:`fnnet.ensemble.fit_ensemble`, :func:`fnnet.search.fit_sweep`).

    * ``members[i]`` is member ``i``'s :class:`History`, with the entries ``fit`` would record for it
      (a member stopped early by its callbacks has fewer epochs);
    * ``history[name]`` (or ``history.history[name]``) is a float64 array ``(epochs, M)``: column ``i``
      is member ``i``'s curve, NaN after the member stopped;
    * ``callbacks[i]`` are member ``i``'s own copies of the callbacks (e.g. ``callbacks[i][0].best_epoch``);
    * ``epoch_times`` wall seconds per epoch of the whole population, ``compile_time`` seconds spent
      compiling, ``member_layout`` how the member axis ran (``"vmap"`` or ``"map"``).
    """

    members: list
    callbacks: list
    epoch_times: list = dataclasses.field(default_factory=list)
    compile_time: float = 0.0
    epoch_mode: str = ""
    member_layout: str = ""

    def __len__(self) -> int:
        return len(self.members)

    @property
    def history(self) -> dict:
        names = dict.fromkeys(k for h in self.members for k in h.history)
        return {name: self[name] for name in names}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self:
            raise KeyError(f"{name!r} was not recorded; recorded: {sorted(self.members[0].history)}")
        first = min(h.epochs[0] for h in self.members if h.epochs)
        epochs = max(h.epochs[-1] for h in self.members if h.epochs) - first + 1
        table = np.full((epochs, len(self.members)), np.nan)
        for i, h in enumerate(self.members):
            for epoch, value in zip(h.epochs, h.history.get(name, [])):
                table[epoch - first, i] = value
        return table

    def __contains__(self, name: str) -> bool:
        return any(name in h.history for h in self.members)

    def last(self) -> dict:
        """Each member's final-epoch logs: ``{name: (M,) array}``."""
        return {name: np.array([h.history[name][-1] for h in self.members]) for name in self.members[0].history}

    def best(self, monitor: str = "val_loss", mode: str = "auto") -> tuple[np.ndarray, np.ndarray]:
        """Per member, ``(epochs (M,), values (M,))`` of the best ``monitor`` value (see ``History.best``)."""
        pairs = [h.best(monitor, mode) for h in self.members]
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])

    @property
    def stopped_early(self) -> list:
        return [h.stopped_early for h in self.members]


# ----------------------------------------------------------------------------------------------
# In-step statistics


@dataclasses.dataclass(frozen=True)
class StepInfo:
    """What in-step statistics can read, inside the compiled train step (traced arrays).

    What a statistic reads costs even on the steps that skip it, because XLA must keep it: ``params``
    (a copy, since the update overwrites them in place) and ``updates`` (otherwise fused into the update
    and never stored) cost most; ``new_params``, ``grads``, ``activations`` and ``loss`` little.

    Attributes:
      step: int32 scalar, the index of this step (0 for the first step of training).
      model: the :class:`~fnnet.models.Model` being trained (a static description).
      params: the parameters *before* this step's update.
      new_params: the parameters after it (what the step returns).
      model_state: the model state after the step (BatchNorm statistics).
      grads: ``d loss / d params`` of this step (same tree as ``params``).
      updates: what the optimizer adds to the parameters (``params + updates = new_params``).
      activations: ``{layer name: output}`` of the model's top-level layers in this step's
        training-mode forward pass.
      loss: the step's loss (data loss plus weight penalties).
      objective: the run's :class:`~fnnet.objective.Objective` (evaluate the model on other data).
      data: the arrays the statistic asked for (:attr:`StepStatistics.data`), whole on the device.
    """

    step: jax.Array
    model: Any
    params: Any
    new_params: Any
    model_state: Any
    grads: Any
    updates: Any
    activations: dict
    loss: jax.Array
    objective: Any = None
    data: Any = None


@dataclasses.dataclass(frozen=True, eq=False)
class StepStatistics:
    """An in-step statistic: ``fn(info: StepInfo) -> pytree of small arrays``, computed inside the
    compiled step (under ``lax.cond``) on the steps whose index is a multiple of ``every``.

    ``fn`` must be a pure function of ``info`` (it is traced once and compiled into the step; it cannot
    change training). ``data``: arrays the statistic needs whole (e.g. the full training set to log its
    loss after every step); they enter the compiled program as inputs, not constants, and are read as
    ``info.data``. ``fn`` (with ``every``) is part of the compiled program's identity: reuse the same
    function object to reuse the program.
    """

    fn: Callable[[StepInfo], PyTree]
    every: int = 1
    data: Any = None

    def __post_init__(self):
        if not isinstance(self.every, (int, np.integer)) or isinstance(self.every, bool) or self.every < 1:
            raise ValueError(f"StepStatistics.every must be a positive int (steps), got {self.every!r}")
        if not callable(self.fn):
            raise ValueError(f"StepStatistics.fn must be a function of a StepInfo, got {self.fn!r}")

    @property
    def program_key(self) -> tuple:
        """What of this statistic determines the compiled step (the data's shapes enter as inputs)."""
        return (self.fn, int(self.every))


# ----------------------------------------------------------------------------------------------
# Errors


class NonFiniteError(FloatingPointError):
    """A training step whose loss, gradient or new parameters were NaN/Inf (``on_nonfinite="raise"``).

    ``step`` is the global step (from 0); ``epoch``/``batch`` locate it (both from 0); ``member`` the
    population member (None for ``fit``); ``state`` is the training state *before* that step (for a
    population: that member's), for inspection."""

    def __init__(self, message: str, *, step: int, epoch: int, batch: int, state: TrainState,
                 member: Optional[int] = None):
        super().__init__(message)
        self.step, self.epoch, self.batch, self.state, self.member = step, epoch, batch, state, member


NonFiniteLossError = NonFiniteError  # the name of fnnet 0.1


__all__ = [
    "History", "NonFiniteError", "NonFiniteLossError", "PopulationHistory", "StepInfo", "StepStatistics",
    "TrainState", "improves_upwards", "initial_state",
]
