"""The hooks of the training loop: validation, history, progress, callbacks, in-step statistics.

(Checkpoints are a hook too: :class:`fnnet.checkpoint.CheckpointHook`.) Each is written once and works
for one member and for populations alike: per-member values have a member axis ``M`` in the population
case, and ``run.histories[i]`` / ``run.active[i]`` are member ``i``'s.
"""
from __future__ import annotations

from typing import Optional, Sequence

import jax
import numpy as np

from fnnet import distributed
from fnnet.engine import programs
from fnnet.engine.loop import Hook, Piece, Run
from fnnet.engine.progress import EpochBar, no_channel


class Validation(Hook):
    """Evaluates ``(x_val, y_val)`` after every epoch in evaluation mode: ``val_loss``, ``val_<metric>``."""

    def __init__(self, x_val, y_val, batch_size: int):
        self.x_val, self.y_val, self.batch_size = x_val, y_val, batch_size

    def begin(self, run: Run) -> None:
        if run.placement is not None:
            self.x_val, self.y_val = distributed.replicate((self.x_val, self.y_val), run.placement[1])
        self.program = programs.eval_program(run.objective, self.batch_size, run.layout)

    def epoch_end(self, run: Run, logs: list) -> None:
        values = jax.device_get(self.program(run.state.params, run.state.model_state, self.x_val, self.y_val))
        for i, member_logs in enumerate(logs):
            if member_logs is not None:
                member_logs.update({f"val_{k}": float(np.reshape(values[k], -1)[i if run.population.stacked else 0])
                                    for k in run.objective.log_names})


class Record(Hook):
    """Appends each training member's epoch logs to its :class:`~fnnet.state.History`."""

    def epoch_end(self, run: Run, logs: list) -> None:
        steps = sum(len(h["finite"]) for h, _ in run.partial_logs)
        for history, member_logs in zip(run.histories, logs):
            if member_logs is None:
                continue
            skipped = member_logs.pop("_skipped", 0)
            history.steps += steps
            history.skipped_steps += skipped
            history.append(run.epoch, member_logs, run.epoch_seconds)
        for history in run.histories:
            history.compile_time = run.compile_seconds


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def population_summary(run: Run, logs: list) -> str:
    """The epoch line of a population: the best member on the monitored quantity, and each quantity's
    mean and range over the training members."""
    rows = [(i, member_logs) for i, member_logs in enumerate(logs) if member_logs is not None]
    if not rows:
        return ""
    names = [k for k in rows[0][1] if not k.startswith("_")]
    monitor = "val_loss" if "val_loss" in names else "loss"
    best_i, best = min(rows, key=lambda r: r[1][monitor])
    parts = [f"{len(rows)}/{run.size} training", f"best member {best_i} ({monitor} {best[monitor]:.4f})"]
    for name in names:
        values = np.array([member_logs[name] for _, member_logs in rows])
        parts.append(f"{name}: {np.nanmean(values):.4f} [{np.nanmin(values):.4f}, {np.nanmax(values):.4f}]")
    return " - ".join(parts)


class Progress(Hook):
    """``verbose=1``: a per-batch ``tqdm`` bar for each epoch (steps done / total, ETA, running loss; then
    the epoch's logs), fed from inside the compiled program every few batches; ``verbose=2``: one line per
    epoch; ``0``: nothing (and no progress code compiled into the program)."""

    def __init__(self, verbose: int):
        self.verbose = verbose
        self.bar: Optional[EpochBar] = None

    def epoch_begin(self, run: Run) -> None:
        if self.verbose != 1:
            return
        steps = run.plan.steps if run.max_steps is None else min(run.plan.steps, run.budget() + run.batch)
        per_member = run.layout == "map"
        self.bar = EpochBar(f"Epoch {run.epoch + 1}/{run.last_epoch}", steps, members=run.size, per_member=per_member)
        if run.batch:
            self.bar.receive(run.batch - 1, float("nan"), -1)
        run.channel = {"channel": np.int32(self.bar.channel), "every": np.int32(self.bar.every)}

    def _summary(self, run: Run, logs: list) -> str:
        if run.population.stacked:
            return population_summary(run, logs)
        return format_logs({k: v for k, v in logs[0].items() if not k.startswith("_")}) if logs[0] else ""

    def epoch_end(self, run: Run, logs: list) -> None:
        summary = self._summary(run, logs)
        skipped = sum((member_logs or {}).get("_skipped", 0) for member_logs in logs)
        if skipped:
            summary += f" - skipped {skipped} non-finite steps"
        if self.bar is not None:
            self.bar.finish(f"{run.epoch_seconds:.2f}s - {summary}")
            self.bar, run.channel = None, no_channel()
        elif self.verbose == 2:
            print(f"Epoch {run.epoch + 1}/{run.last_epoch} - {run.epoch_seconds:.2f}s - {summary}", flush=True)

    def end(self, run: Run) -> None:
        if self.bar is not None:
            self.bar.finish(None)
            self.bar = None


class Callbacks(Hook):
    """Runs each member's callbacks: ``set_model``, ``on_train_begin`` (then the progress a resumed
    checkpoint saved for them), ``on_epoch_end`` (a True return stops that member: its state is kept and
    the others go on), ``on_train_end`` (may hand back a replacement state, e.g. the best weights)."""

    def __init__(self, per_member: Sequence[Sequence]):
        self.per_member = [list(cbs) for cbs in per_member]

    def begin(self, run: Run) -> None:
        saved = getattr(run, "restored_callbacks", None)
        states = run.member_states() if any(self.per_member) else None
        for i, cbs in enumerate(self.per_member):
            for cb in cbs:
                cb.set_model(run.objective.model)
                cb.on_train_begin(states[i], run.histories[i])
            if saved is not None:
                load_callback_states(cbs, saved[i] if run.population.stacked else saved)

    def epoch_end(self, run: Run, logs: list) -> None:
        wanted = any(cbs and logs[i] is not None for i, cbs in enumerate(self.per_member))
        states = run.member_states() if wanted else None
        for i, cbs in enumerate(self.per_member):
            if logs[i] is None or not cbs:
                continue
            state_i = states[i]
            visible = {k: v for k, v in logs[i].items() if not k.startswith("_")}
            stop = False
            for cb in cbs:
                stop = bool(cb.on_epoch_end(run.epoch, visible, state_i)) or stop
            replaced = False
            for cb in cbs:
                new_state = cb.update_state(state_i) if hasattr(cb, "update_state") else None
                if new_state is not None:
                    state_i, replaced = new_state, True
            if replaced:
                run.set_member_state(i, state_i)
            if stop:
                run.active[i] = False
                run.histories[i].stopped_early = True

    def end(self, run: Run) -> None:
        if run.error is not None:
            return
        replacements = {}
        states = run.member_states() if any(self.per_member) else None
        for i, cbs in enumerate(self.per_member):
            current = None
            for cb in cbs:
                replacement = cb.on_train_end(current if current is not None else states[i])
                if replacement is not None:
                    current = replacement
            if current is not None:
                replacements[i] = current
        if not replacements:
            return
        if not run.population.stacked:
            run.state = replacements[0]
            return
        from fnnet.tree import stack

        run.state = stack([replacements.get(i, states[i]) for i in range(run.size)])

    def states(self) -> list:
        """Each member's callbacks' progress (for checkpoints)."""
        return [[{"class": type(cb).__name__, "state": cb.state_dict()} for cb in cbs] for cbs in self.per_member]


def load_callback_states(callbacks: Sequence, saved: list) -> None:
    """Gives each callback its saved progress; warns (and restores nothing) when the callbacks are not
    the ones the checkpointed run had."""
    import warnings

    if [type(cb).__name__ for cb in callbacks] != [s["class"] for s in saved]:
        warnings.warn(
            f"the checkpointed run had callbacks {[s['class'] for s in saved]}, this one has "
            f"{[type(cb).__name__ for cb in callbacks]}; their progress (e.g. early-stopping patience) starts afresh",
            stacklevel=4,
        )
        return
    for cb, s in zip(callbacks, saved):
        cb.load_state_dict(s["state"])


class Statistics(Hook):
    """Hands each in-step statistic's values to its consumers after every piece: the values of the steps
    that computed it, stacked along a leading axis, plus ``"step"`` (those steps' indices).
    ``consumers[j][i]`` is member ``i``'s consumer of statistic ``j`` (an object with
    ``on_step_statistics(epoch, values)``)."""

    def __init__(self, consumers: Sequence[Sequence]):
        self.consumers = [list(c) for c in consumers]

    def piece_end(self, run: Run, piece: Piece) -> None:
        if not self.consumers or not piece.logs:
            return
        k = sum(len(h["finite"]) for h, _ in piece.logs)
        steps = run.first_step + run.steps_done - k + np.arange(k)
        for j, consumers in enumerate(self.consumers):
            parts = [h["statistics"][j] for h, _ in piece.logs]
            computed = np.concatenate([np.asarray(p["computed"]).reshape(len(p["computed"]), -1) for p in parts])
            values = jax.tree.map(lambda *v: np.concatenate(v), *[p["values"] for p in parts])
            for i, consumer in enumerate(consumers):
                if not run.active[i]:
                    continue
                mine, mask = _member_values(values, computed, i, stacked=run.population.stacked)
                consumer.on_step_statistics(piece.epoch, {**mine, "step": steps[mask]})

    piece_failed = piece_end


def _member_values(values, computed: np.ndarray, i: int, *, stacked: bool):
    """Member ``i``'s values on the steps that computed them, and that mask of steps."""
    mask = computed[:, i if stacked else 0].astype(bool)
    return jax.tree.map(lambda v: v[:, i][mask] if stacked else v[mask], values), mask
