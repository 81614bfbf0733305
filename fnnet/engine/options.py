"""The settings objects the training fronts share: :class:`TrainOptions` and :class:`Checkpointing`."""
from __future__ import annotations

import dataclasses
import os
from typing import Optional, Union

from fnnet import _checks

MEMBER_LAYOUTS = ("auto", "vmap", "map")


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """How the training loop runs, beyond the everyday arguments of ``fit``.

    Attributes:
      shuffle: visit the examples in a new random order every epoch (from the run's key).
      drop_remainder: skip the partial last batch of an epoch.
      steps_per_epoch: optimizer steps per logged epoch when that is not one pass over the data (full
        batches from consecutive shuffled passes), e.g. full-batch gradient descent for 10,000 iterations
        as ``batch_size=N, epochs=10, steps_per_epoch=1000``.
      max_steps: stop after this many optimizer steps in all (the last epoch is then partial).
      epoch_mode: ``"scan"`` (an epoch is one compiled ``lax.scan``), ``"step"`` (a loop over a compiled
        step) or ``"auto"`` (scan, except convolutional models on a CPU, where XLA's convolution gradients
        run far slower inside a loop).
      on_nonfinite: ``"raise"`` stops with :class:`~fnnet.state.NonFiniteError` at the first step whose
        loss, gradient or new parameters are NaN/Inf, carrying the state before it; ``"skip"`` drops such
        updates (each step then checks its new parameters before keeping them) and counts them.
      eval_batch_size: examples per batch when evaluating validation data.
      member_layout: populations only: ``"vmap"`` (all members in one batched step), ``"map"`` (a compiled
        loop over the members inside one program) or ``"auto"`` (the engine's choice per backend and size).
      chunk: populations only: train at most this many members at a time (bounds the memory of the
        batched step); the result is the unchunked one bitwise with ``member_layout="map"``, up to float
        rounding of batched products with ``"vmap"`` (README, "How equal 'equal' is").
    """

    shuffle: bool = True
    drop_remainder: bool = False
    steps_per_epoch: Optional[int] = None
    max_steps: Optional[int] = None
    epoch_mode: str = "auto"
    on_nonfinite: str = "raise"
    eval_batch_size: int = 1000
    member_layout: str = "auto"
    chunk: Optional[int] = None

    def __post_init__(self):
        for name in ("shuffle", "drop_remainder"):
            _checks.check_bool(f"TrainOptions.{name}", getattr(self, name))
        _checks.check_int("steps_per_epoch", self.steps_per_epoch, allow_none=True)
        _checks.check_int("max_steps", self.max_steps, allow_none=True)
        _checks.check_int("chunk", self.chunk, allow_none=True)
        _checks.check_choice("epoch_mode", self.epoch_mode, ("auto", "scan", "step"))
        _checks.check_choice("on_nonfinite", self.on_nonfinite, ("raise", "skip"))
        _checks.check_choice("member_layout", self.member_layout, MEMBER_LAYOUTS)
        size = self.eval_batch_size
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"eval_batch_size must be a positive int, got {self.eval_batch_size!r}")

    def replace(self, **changes) -> TrainOptions:
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class Checkpointing:
    """Checkpoints of a training run (see :mod:`fnnet.checkpoint`), as one argument:
    ``fit(..., checkpoint=Checkpointing("runs/mnist", every=500, keep=3, keep_best="val_accuracy", resume=True))``.

    Attributes:
      directory: where the step directories go (created if missing; checked writable before training).
      every: ``"epoch"``: a checkpoint at the end of every epoch; an int ``N``: also one after every ``N``
        batches within an epoch (a scan epoch then runs as compiled pieces of ``N`` steps, same results).
      keep: how many of the newest checkpoints to keep.
      keep_best: an epoch log name (``"val_accuracy"``...): also keep the end-of-epoch checkpoint with its
        best value (max for accuracies, else min).
      resume: continue from the newest readable checkpoint in ``directory`` when there is one (bit for
        bit the uninterrupted run); without it the directory must hold no checkpoints.
      allow_changes: resume even when the run's fingerprint (data, model, loss, optimizer settings,
        batching) differs from the checkpoint's, with a warning naming what changed.
    """

    directory: Union[str, os.PathLike]
    every: Union[str, int] = "epoch"
    keep: int = 3
    keep_best: Optional[str] = None
    resume: bool = False
    allow_changes: bool = False

    def __post_init__(self):
        if not isinstance(self.directory, (str, os.PathLike)):
            raise ValueError(f"Checkpointing.directory must be a path (str or os.PathLike), got "
                             f"{type(self.directory).__name__}")
        steps = self.every
        if steps != "epoch" and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
            raise ValueError(f"Checkpointing.every must be 'epoch' or a positive number of steps, got {self.every!r}")
        if not isinstance(self.keep, int) or isinstance(self.keep, bool) or self.keep < 1:
            raise ValueError(f"Checkpointing.keep must be a positive int (checkpoints to keep), got {self.keep!r}")
        for name in ("resume", "allow_changes"):
            _checks.check_bool(f"Checkpointing.{name}", getattr(self, name))
        if self.keep_best is not None and (not isinstance(self.keep_best, str) or not self.keep_best.strip()):
            raise ValueError(f"Checkpointing.keep_best must be a log name such as 'val_accuracy', "
                             f"got {self.keep_best!r}")

    @property
    def steps_between(self) -> Optional[int]:
        """Batches between mid-epoch checkpoints, or None for epoch ends only."""
        return None if self.every == "epoch" else self.every
