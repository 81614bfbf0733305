"""The one training loop: compiled epoch pieces for a population of ``M >= 1`` members, and its hooks.

``fit`` is the one-member case (no member axis), ensembles and sweeps are many members; all of them run
:func:`run`. One epoch is::

    indices of the epoch (from the members' order keys and the global epoch index)
    for each piece of the epoch (the whole epoch, or pieces between mid-epoch checkpoints):
        the compiled piece (one lax.scan, or a loop over a compiled step), members in chunks if asked
        non-finite check: a bad step is located by replaying the piece (raise) or was dropped (skip)
        hooks.piece_end   (in-step statistics delivered, mid-epoch checkpoints)
    epoch logs: per member, the batch-size-weighted mean over the finite steps
    hooks.epoch_end       (validation, history, progress, callbacks and early stopping, checkpoints)

Everything around an epoch is a :class:`Hook`; the fronts (``fit``, ``fit_ensemble``, ``fit_sweep``,
the diagnostics' runs) only choose the hooks and the population.
"""
from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import distributed
from fnnet.engine import compiles, programs
from fnnet.engine.plan import EpochPlan
from fnnet.engine.progress import no_channel
from fnnet.state import History, NonFiniteError, TrainState
from fnnet.tree import member

PyTree = Any


@dataclasses.dataclass
class Population:
    """The members a run trains.

    ``state``: a :class:`TrainState`, stacked ``(M, ...)`` unless ``layout == "single"``;
    ``order_keys``: the keys the data orders come from: a scalar key (single), ``(1,)`` (all members share
    member 0's order) or ``(M,)`` (own orders); ``layout``: ``"single"``, ``"vmap"`` or ``"map"``.
    """

    state: TrainState
    order_keys: jax.Array
    layout: str = "single"

    @property
    def stacked(self) -> bool:
        return self.layout != "single"

    @property
    def shared_order(self) -> bool:
        return self.stacked and self.order_keys.shape[0] == 1 and self.size > 1

    @property
    def size(self) -> int:
        return int(np.shape(self.state.step)[0]) if self.stacked else 1


@dataclasses.dataclass
class Piece:
    """A finished piece of an epoch: batches ``lo..hi`` (and the partial batch when ``rest``); ``logs``
    the host copy of the per-step logs, ``[(logs, batch size)]``, each leaf ``(k,)`` or ``(k, M)``."""

    epoch: int
    lo: int
    hi: int
    rest: bool
    logs: list
    last: bool


class Hook:
    """Something done around the compiled pieces of every epoch. All methods are optional."""

    def prepare(self, run: Run) -> None:
        """Before any ``begin``: where a checkpoint hook restores the run it resumes."""

    def begin(self, run: Run) -> None:
        """Before the first epoch (the run as restored)."""

    def epoch_begin(self, run: Run) -> None:
        """Before the epoch's first piece."""

    def piece_end(self, run: Run, piece: Piece) -> None:
        """After each piece (its non-finite steps already handled)."""

    def piece_failed(self, run: Run, piece: Piece) -> None:
        """After a piece with a non-finite step, just before the loop raises (``run.state`` is the piece's
        end state, which is not kept)."""

    def epoch_end(self, run: Run, logs: list) -> None:
        """After the epoch: ``logs[i]`` is member ``i``'s epoch logs (None for a member not training);
        hooks may add to them (validation) before later hooks see them."""

    def end(self, run: Run) -> None:
        """After training, also when it stops with an exception (``run.error`` is then set)."""


class Run:
    """The state of one training run, which the loop advances and the hooks read and update.

    Attributes the hooks use: ``state`` (the population's state), ``objective``, ``population``,
    ``epoch`` (the global index of the epoch running or next), ``batch`` (batches of it already done),
    ``last_epoch`` (exclusive), ``histories`` (one :class:`History` per member), ``active`` ((M,) bool:
    members still training), ``steps_done`` (loop steps in this run), ``piece_every`` (batches between
    piece ends; set by a checkpoint hook), ``partial_logs`` (the host logs of the current epoch's
    finished pieces), ``data`` (the statistics' arrays), ``verbose``.
    """

    def __init__(self, *, step_spec, population: Population, x, y, plan: EpochPlan, epochs: int, mode: str,
                 on_nonfinite: str, max_steps: Optional[int], chunk: Optional[int], hooks: Sequence[Hook],
                 statistics: Sequence = (), placement=None, progress: bool = False, verbose: int = 0):
        self.step_spec, self.objective = step_spec, step_spec.objective
        self.population = population
        self.state = population.state
        self.x, self.y, self.plan, self.mode = x, y, plan, mode
        self.on_nonfinite, self.max_steps, self.chunk = on_nonfinite, max_steps, chunk
        self.hooks, self.placement, self.progress, self.verbose = list(hooks), placement, progress, verbose
        self.data = tuple(s.data for s in statistics)
        m = population.size
        self.first_epoch = self._epoch_of(self.state)
        self.epoch, self.batch, self.last_epoch = self.first_epoch, 0, self.first_epoch + epochs
        self.epoch_complete = True  # False for an epoch that max_steps cuts short
        self.histories = [History(epoch_mode=mode) for _ in range(m)]
        self.active = np.ones(m, bool)
        self.steps_done = 0
        self.first_step = self._step_of(self.state)
        self.piece_every: Optional[int] = None
        self.partial_logs: list = []
        self.channel = no_channel()
        self.compile_seconds = 0.0
        self.error: Optional[BaseException] = None

    # -- small facts ----------------------------------------------------------------------------
    def _epoch_of(self, state) -> int:
        return int(np.max(np.asarray(state.epoch)))

    def _step_of(self, state) -> int:
        return int(np.max(np.asarray(state.step)))

    @property
    def size(self) -> int:
        return self.population.size

    @property
    def layout(self) -> str:
        return self.population.layout

    def member_states(self) -> list[TrainState]:
        """Every member's state at once (``[self.state]`` for a single run). The leaves are copied to the
        host once and sliced there: taking members one by one runs one device operation per leaf and
        member, which in a population of many small members costs more than the epoch. PRNG keys stay JAX
        keys. The copies are the caller's to keep."""
        if not self.population.stacked:
            return [self.state]
        host = jax.tree.map(_host_copy, self.state)
        return [jax.tree.map(lambda leaf, i=i: leaf[i], host) for i in range(self.size)]

    def set_member_state(self, i: int, state: TrainState) -> None:
        """Replaces member ``i``'s state (the whole state for a single run), e.g. a callback's new
        learning rate; the arrays keep their shapes and dtypes, so the programs stay the same."""
        if not self.population.stacked:
            self.state = state
        else:
            self.state = jax.tree.map(lambda every, one: every.at[i].set(one), self.state, state)

    def budget(self) -> Optional[int]:
        return None if self.max_steps is None else self.max_steps - self.steps_done

    def finished(self) -> bool:
        budget = self.budget()
        return self.epoch >= self.last_epoch or not self.active.any() or (budget is not None and budget <= 0)

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> Run:
        try:
            for hook in self.hooks:
                hook.prepare(self)
            for hook in self.hooks:
                hook.begin(self)
            while not self.finished():
                self._run_epoch()
        except BaseException as err:
            self.error = err
            raise
        finally:
            for hook in self.hooks:
                hook.end(self)
        return self

    def _run_epoch(self) -> None:
        t_epoch = time.perf_counter()
        compiled_before = compiles.totals()[1]
        idx, rest = self._epoch_indices()
        for hook in self.hooks:
            hook.epoch_begin(self)
        n_rows = idx.shape[1] if self.layout == "map" and not self.population.shared_order else idx.shape[0]
        budget = self.budget()
        # An epoch cut short by max_steps is not finished: its state keeps the epoch count and its
        # checkpoint is a mid-epoch one, so that a resumed run goes on with the rest of this epoch.
        self.epoch_complete = budget is None or budget >= self.plan.steps - self.batch
        for lo, hi, last in epoch_pieces(n_rows, self.batch, self.piece_every):
            logs, failure = self._run_piece(idx, rest if last else None, lo, hi)
            self.steps_done += sum(len(h["finite"]) for h, _ in logs)
            piece = Piece(self.epoch, lo, hi, rest is not None and last, logs, last and self.epoch_complete)
            if failure is not None:
                for hook in self.hooks:  # e.g. in-step statistics: they show the run-up to the failure
                    hook.piece_failed(self, piece)
                raise failure
            self.batch = hi
            self.partial_logs = self.partial_logs + logs
            for hook in self.hooks:
                hook.piece_end(self, piece)
        epoch_logs = self._reduce(self.partial_logs)
        compiled = compiles.totals()[1] - compiled_before
        self.compile_seconds += compiled
        self.epoch_seconds = time.perf_counter() - t_epoch - compiled
        if self.epoch_complete:
            self._advance_epoch_counters()
        for hook in self.hooks:
            hook.epoch_end(self, epoch_logs)
        self.partial_logs, self.batch = [], 0
        self.epoch += 1

    def _epoch_indices(self):
        """This epoch's index matrices in the piece programs' layout (see :mod:`fnnet.engine.programs`)."""
        plan, budget = self.plan, self.budget()
        n_full = plan.full_batches if budget is None else min(plan.full_batches, self.batch + budget)
        with_rest = bool(plan.remainder) and (budget is None or self.batch + budget > plan.full_batches)
        keys = self.population.order_keys
        per_member = self.population.stacked and not self.population.shared_order
        if self.population.stacked:
            keys = keys if per_member else keys[0]
        epoch_keys = jax.vmap(lambda k: jax.random.fold_in(k, self.epoch))(keys) if per_member else \
            jax.random.fold_in(keys, self.epoch)
        idx, rest = plan.indices(epoch_keys, n_full, with_rest, per_member=per_member)
        if idx.ndim == 3 and self.layout == "vmap":  # (M, k, B) -> (k, M, B): one row per step
            idx = jnp.swapaxes(idx, 0, 1)
            rest = None if rest is None else jnp.swapaxes(rest, 0, 1)
        if self.placement is not None:
            idx, rest = distributed.replicate((idx, rest), self.placement[1])
        return idx, rest

    def _programs(self, mode: str, active, *, checking: bool = False):
        """The piece program; ``active`` (the members training in this piece) decides whether it must
        keep some members' state unchanged (a stopped member)."""
        step = self.step_spec.checking() if checking else self.step_spec
        masked = self.population.stacked and not bool(np.all(active))
        spec = programs.PieceSpec(step, self.layout, self.population.shared_order, mode,
                                  self.progress and not checking, self.placement, masked)
        return programs.piece_program(spec)

    def _ctl(self, t0: int, pos0: int, i: int, active) -> dict:
        ctl = {"t0": np.int32(t0), "pos0": np.int32(pos0), "i": np.int32(i), **self.channel}
        if self.population.stacked:
            ctl["active"] = active
        return ctl

    def _chunks(self):
        m = self.size
        if not self.population.stacked or self.chunk is None or self.chunk >= m:
            return [None]
        return [slice(a, min(a + self.chunk, m)) for a in range(0, m, self.chunk)]

    def _run_piece(self, idx, rest, lo: int, hi: int) -> list:
        """Runs batches ``lo..hi`` (and ``rest``) of the epoch for every chunk of members; returns the host
        logs ``[(logs, batch size)]`` and, for a non-finite step under ``"raise"``, the located error."""
        parts, failure = [], None
        for members in self._chunks():
            state = self.state if members is None else member(self.state, members)
            active = self.active if members is None else self.active[members]
            start = state
            if self.mode == "step":  # step programs donate their state: run on a copy, keep `start` for a replay
                state = jax.tree.map(jnp.copy, state)
            state, logs = self._execute(state, idx, rest, lo, hi, active, members)
            logs = jax.device_get(logs)
            if self.on_nonfinite == "raise" and failure is None:
                failure = self._nonfinite_error(start, state, logs, idx, rest, lo, hi, active, members)
            parts.append((state, logs))
        if len(parts) == 1:
            self.state, logs = parts[0]
            return logs, failure
        self.state = jax.tree.map(lambda *leaves: jnp.concatenate(leaves), *[s for s, _ in parts])
        joined = [(jax.tree.map(lambda *v: np.concatenate(v, axis=1), *[lg[j][0] for _, lg in parts]),
                   parts[0][1][j][1])
                  for j in range(len(parts[0][1]))]
        return joined, failure

    def _member_idx(self, idx, members):
        if members is None or self.population.shared_order or idx is None:
            return idx
        return idx[:, members] if self.layout == "vmap" else idx[members]

    def _execute(self, state, idx, rest, lo, hi, active, members):
        idx, rest = self._member_idx(idx, members), self._member_idx(rest, members)
        out = []
        t = self.first_step + self.steps_done
        batch = idx.shape[-1]
        if hi > lo:
            program = self._programs(self.mode, active)
            if self.mode == "scan":
                rows = idx[:, lo:hi] if (self.layout == "map" and not self.population.shared_order) else idx[lo:hi]
                state, logs = program(state, self.x, self.y, rows, self._ctl(t, lo, 0, active), self.data)
                out.append((logs, batch))
            else:
                for i in range(lo, hi):
                    state, logs = program(state, self.x, self.y, idx, self._ctl(t + i - lo, i, i, active), self.data)
                    out.append((logs, batch))
        if rest is not None:
            rest_program = self._programs("step", active)
            state, logs = rest_program(state, self.x, self.y, rest, self._ctl(t + hi - lo, hi, 0, active), self.data)
            out.append((logs, rest.shape[-1]))
        return state, out

    # -- non-finite steps -----------------------------------------------------------------------
    def _nonfinite_error(self, start, state, logs, idx, rest, lo, hi, active, members) -> Optional[NonFiniteError]:
        stacked = self.population.stacked
        finite = np.concatenate([np.asarray(h["finite"], bool).reshape(len(h["finite"]), -1) for h, _ in logs]) \
            if logs else np.ones((0, 1), bool)
        ok = finite.all(axis=0) & np.atleast_1d(programs.state_is_finite(state, stacked=stacked))
        if stacked:
            ok |= ~np.asarray(active, bool)
        if ok.all():
            return None
        step, bad_member, pre = self._replay(start, idx, rest, lo, hi, active, members)
        offset = 0 if members is None else members.start
        where = "" if not stacked else f"member {offset + bad_member}: "
        epoch_steps = self.plan.full_batches + (1 if self.plan.remainder else 0)
        global_step = self.first_step + self.steps_done + (step - lo)
        return NonFiniteError(
            f"{where}non-finite loss, gradient or parameters at step {global_step} (epoch {self.epoch + 1}, batch "
            f"{step + 1} of {epoch_steps}); lower the learning rate, clip gradients (clip_norm=...) or check the "
            "data. The state before that step is this exception's .state",
            step=global_step, epoch=self.epoch, batch=step, member=None if not stacked else offset + bad_member,
            state=member(pre, bad_member) if stacked else pre)

    def _replay(self, start, idx, rest, lo, hi, active, members):
        """Re-runs the piece from ``start`` one batch at a time (the same keys give the same steps) until a
        member's loss or new state is not finite; returns ``(batch, member, state before that batch)``."""
        idx, rest = self._member_idx(idx, members), self._member_idx(rest, members)
        program = self._programs("step", active, checking=True)
        stacked = self.population.stacked
        state = jax.tree.map(jnp.copy, start)
        t = self.first_step + self.steps_done
        batches = [(idx, i) for i in range(lo, hi)] + ([(rest, 0)] if rest is not None else [])
        for n, (rows, i) in enumerate(batches):
            before = jax.tree.map(jnp.copy, state)
            state, logs = program(state, self.x, self.y, rows, self._ctl(t + n, lo + n, i, active), self.data)
            state_finite = np.atleast_1d(programs.state_is_finite(state, stacked=stacked))
            ok = np.asarray(logs["finite"], bool).reshape(-1) & state_finite
            if stacked:
                ok |= ~np.asarray(active, bool)
            if not ok.all():
                return lo + n, int(np.flatnonzero(~ok)[0]), before
        raise FloatingPointError("a non-finite value appeared in training but did not reappear when the piece was "
                                 "replayed (a nondeterministic computation?)")

    # -- epoch logs -----------------------------------------------------------------------------
    def _reduce(self, step_logs: list) -> list:
        """Per member: the batch-size-weighted mean of each logged quantity over the finite steps, plus
        ``"_skipped"`` (non-finite steps dropped); None for members not training."""
        names = self.objective.log_names
        m = self.size
        if not step_logs:
            return [None] * m
        as2d = lambda a: np.asarray(a).reshape(len(a), -1)
        weights = np.concatenate([np.full(len(h["finite"]), w, np.float64) for h, w in step_logs])[:, None]
        finite = np.concatenate([as2d(h["finite"]).astype(bool) for h, _ in step_logs])
        w = np.where(finite, weights, 0.0)
        total = w.sum(axis=0)
        result = []
        for i in range(m):
            if not self.active[i]:
                result.append(None)
                continue
            logs = {}
            for name in names:
                values = np.concatenate([as2d(h[name]).astype(np.float64) for h, _ in step_logs])[:, i]
                logs[name] = (float(np.sum(np.where(finite[:, i], values, 0.0) * w[:, i]) / total[i]) if total[i]
                              else float("nan"))
            logs["_skipped"] = int((~finite[:, i]).sum())
            result.append(logs)
        return result

    def _advance_epoch_counters(self) -> None:
        if self.population.stacked:
            self.state = self.state.replace(epoch=self.state.epoch + jnp.asarray(self.active, jnp.int32))
        else:
            self.state = self.state.replace(epoch=self.state.epoch + 1)


def epoch_pieces(n_batches: int, start: int, every: Optional[int]) -> list[tuple[int, int, bool]]:
    """``[(lo, hi, last)]``: the full batches ``start..n_batches`` of an epoch split where the batch count
    since the epoch's start reaches a multiple of ``every`` (one piece when ``every`` is None); ``last``
    marks the piece after which the partial batch runs and the epoch ends."""
    cuts = [] if not every else list(range((start // every + 1) * every, n_batches, every))
    edges = [start, *cuts, n_batches]
    return [(lo, hi, i == len(edges) - 2) for i, (lo, hi) in enumerate(itertools.pairwise(edges))]


def _host_copy(leaf):
    """A numpy copy of an array leaf; a typed PRNG key array stays on the device (numpy cannot hold it)."""
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return leaf
    return np.array(leaf)
