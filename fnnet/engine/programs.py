"""The compiled programs of training and evaluation, built once per set of pieces and cached.

A program is keyed by what determines it: the :class:`~fnnet.objective.Objective` (model, loss,
metrics), the optimizer's ``program_key`` (its stages and static settings; learning rate and the other
numbers are *inputs*, in the optimizer state), the augmentation, the in-step statistics, the guard mode,
the member layout, the epoch mode and the placement. ``jax.jit`` then keeps one executable per input
shapes and dtypes under each entry. :data:`CACHE` holds at most :attr:`ProgramCache.maxsize` entries
(least recently used dropped first); :func:`clear_cache` empties it.

Shapes of the pieces (``M`` members, ``k`` batches of ``B`` examples):

* single member: state unstacked; ``idx (k, B)``; logs ``(k,)`` per quantity;
* ``"vmap"`` population: state stacked ``(M, ...)``; ``idx (k, M, B)`` (own orders) or ``(k, B)``
  (shared order); one batched step per batch; logs ``(k, M)``;
* ``"map"`` population: state stacked; ``idx (M, k, B)`` or ``(k, B)``; a compiled loop over the members
  (``lax.map``), each running its whole piece; logs ``(k, M)``.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import threading
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet import distributed
from fnnet.engine import progress as progress_lib
from fnnet.objective import Objective
from fnnet.state import StepInfo, TrainState, initial_state

PyTree = Any


# ----------------------------------------------------------------------------------------------
# The cache


class ProgramCache:
    """A bounded least-recently-used map from program keys to built programs (thread-safe)."""

    def __init__(self, maxsize: int = 64):
        self.maxsize = maxsize
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key, build: Callable[[], Any]):
        """The program stored under ``key``, built by ``build()`` on a miss. An unhashable key (e.g. a
        ``Lambda`` layer holding an array) is built every time and not stored."""
        try:
            hash(key)
        except TypeError:
            self.misses += 1
            return build()
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        program = build()
        with self._lock:
            self.misses += 1
            self._entries[key] = program
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return program

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)


CACHE = ProgramCache()


def clear_cache() -> None:
    """Forgets every cached program (their executables are freed once nothing else holds them)."""
    CACHE.clear()


def cache_info() -> dict:
    """``{"entries", "maxsize", "hits", "misses"}`` of the program cache."""
    return {"entries": len(CACHE), "maxsize": CACHE.maxsize, "hits": CACHE.hits, "misses": CACHE.misses}


# ----------------------------------------------------------------------------------------------
# Optimizers: identity and hyper-parameters


def optimizer_key(tx) -> Any:
    """What of an optax transformation determines its compiled programs: the ``program_key`` of an
    optimizer built by :func:`fnnet.optim.optimizer` (equal for optimizers that differ only in numbers),
    else the transformation object itself."""
    key = getattr(tx, "program_key", None)
    return ("optax", tx) if key is None else key


def with_hyperparams(opt_state, tx):
    """``opt_state`` with the numeric hyper-parameters of ``tx`` (an :class:`fnnet.optim.Optimizer`)
    written in: a program built for an equal-keyed optimizer then runs with this one's numbers."""
    values = getattr(tx, "hyperparams", None)
    if not values or not hasattr(opt_state, "hyperparams"):
        return opt_state
    current = opt_state.hyperparams
    updated = {k: jnp.full(jnp.shape(v), values[k], jnp.result_type(v)) if k in values else v
               for k, v in current.items()}
    return opt_state._replace(hyperparams=updated)


# ----------------------------------------------------------------------------------------------
# Compiler options


def has_conv(model) -> bool:
    from fnnet.models.layers import Conv2D

    layers = getattr(model, "layers", ())
    return any(isinstance(layer, Conv2D) or has_conv(layer) for layer in layers)


def default_epoch_mode(model) -> str:
    """``scan`` unless the model convolves on a CPU, where XLA's convolution gradients run far slower
    inside a loop than as separate calls (``benchmarks/cpu_paths.py``)."""
    return "step" if (has_conv(model) and jax.default_backend() == "cpu") else "scan"


# XLA's CPU backend hands convolutions to YNNPACK by default; leaving them out of its library fusions
# sends them to XLA's Eigen convolutions, faster for the course's CNNs (benchmarks/cpu_paths.py). Dots
# and reductions keep the default, so a model without convolutions compiles exactly as without the option.
CPU_CONV_OPTIONS = {
    "xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_REDUCE,LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT",
}


@functools.cache
def cpu_conv_options_supported() -> bool:
    try:
        jax.jit(lambda a: a + 1, compiler_options=CPU_CONV_OPTIONS).lower(1.0).compile()
        return True
    except jax.errors.JaxRuntimeError:  # "No such compile option" in another jaxlib
        return False


def compiler_options(model) -> Optional[dict]:
    """XLA options for ``model``'s programs: Eigen convolutions for a convolutional model on a CPU."""
    if jax.default_backend() == "cpu" and has_conv(model) and cpu_conv_options_supported():
        return CPU_CONV_OPTIONS
    return None


def _jit(fn, model, **kwargs):
    return jax.jit(fn, compiler_options=compiler_options(model), **kwargs)


# ----------------------------------------------------------------------------------------------
# Initialization


def _init_programs(model, tx) -> dict:
    """The compiled initialization of ``model`` and of ``tx``'s state (one lookup: hashing a model's
    description is not free, and a population initializes many members)."""
    def build():
        def init(k, s):
            init_key, step_key = jax.random.split(k)
            new_params, model_state = model.init_with_state(init_key, s)
            return new_params, model_state, step_key

        return {"model": jax.jit(init), "opt": jax.jit(tx.init)}

    return CACHE.get(("init", model, optimizer_key(tx)), build)


def init_state(model, tx, key: jax.Array, x_sample, *, params=None) -> TrainState:
    """A :class:`TrainState` at step 0: params from ``key`` (unless given), the optimizer's state, the
    per-step key. Compiled once per model, optimizer key and sample shape."""
    programs = _init_programs(model, tx)
    new_params, model_state, step_key = programs["model"](key, x_sample)
    params = new_params if params is None else params
    opt_state = with_hyperparams(programs["opt"](params), tx)
    return initial_state(params, opt_state, model_state, step_key)


def init_population(model, tx, keys: jax.Array, x_sample) -> TrainState:
    """The stacked states members start from: member ``i`` is ``init_state(model, tx, keys[i], x_sample)``.

    Each member runs :func:`init_state`'s programs (the ones ``fit`` compiles too) and one compiled
    stack joins them: a vmapped initialization would be a second, slower-compiling program of the same
    work."""
    programs = _init_programs(model, tx)
    states = []
    for k in keys:
        params, model_state, step_key = programs["model"](k, x_sample)
        states.append(initial_state(params, programs["opt"](params), model_state, step_key))
    stack = CACHE.get(("stack", len(states), jax.tree.structure(states[0])),
                      lambda: jax.jit(lambda *trees: jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)))
    state = stack(*states)
    return state.replace(opt_state=with_hyperparams(state.opt_state, tx))


# ----------------------------------------------------------------------------------------------
# The train step of one member


@dataclasses.dataclass(frozen=True)
class StepSpec:
    """What determines a train step (hashable: the program cache's key)."""

    objective: Objective
    optimizer: Any  # optimizer_key(tx)
    augment: Any
    statistics: tuple  # ((fn, every), ...)
    skip_nonfinite: bool  # drop non-finite updates (and check every step fully)
    full_check: bool = False  # "finite" also covers the gradient norm and the new parameters
    tx: Any = dataclasses.field(default=None, compare=False, hash=False, repr=False)

    @classmethod
    def make(cls, objective, tx, *, augment=None, statistics=(), skip_nonfinite=False) -> StepSpec:
        return cls(objective, optimizer_key(tx), augment, tuple(s.program_key for s in statistics),
                   bool(skip_nonfinite), bool(skip_nonfinite), tx)

    def checking(self) -> StepSpec:
        """The same step with the full finiteness check and no guard: what a replay runs to locate a bad step."""
        return dataclasses.replace(self, skip_nonfinite=False, full_check=True)


def _sum_is_finite(tree) -> jax.Array:
    """True when every entry of ``tree`` is finite, read from one sum per leaf: NaN and Inf propagate
    through a sum, and the sum fuses into the loop that produced the leaf (an all-of-isfinite reduction
    costs a separate pass)."""
    total = sum((jnp.sum(leaf) for leaf in jax.tree.leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.floating)),
                jnp.zeros((), jnp.float32))
    return jnp.isfinite(total)


def member_step(spec: StepSpec, *, guard: bool = True):
    """``step(state, x, y, t, data) -> (state, logs)`` for one member: a training-mode forward pass of the
    objective, its gradient, the optimizer's update.

    ``logs``: ``"loss"`` (data loss + penalties), each metric on the training outputs, ``"finite"``,
    and ``"statistics"`` (one entry per in-step statistic: ``{"values", "computed"}``; zeros on the steps
    that skip it). ``t`` is the loop's step index (it schedules the statistics), ``data`` the statistics'
    arrays. ``"finite"`` is the loss's finiteness; with ``full_check`` it also requires a finite gradient
    norm and finite new parameters, and with ``skip_nonfinite`` (and ``guard``) a step that is not finite
    keeps the old params, optimizer and model state (the step count advances). Without them every update
    is applied: the loop notices a bad step after the compiled piece and replays the piece with the full
    check to locate it (``fnnet.engine.loop``), so the fast path pays only for the loss's finiteness.
    """
    objective, tx, augment = spec.objective, spec.tx, spec.augment
    statistics = spec.statistics

    def step(state: TrainState, x, y, t, data):
        step_key = jax.random.fold_in(state.key, state.step)
        augment_key, dropout_key = jax.random.split(step_key)
        if augment is not None:
            x = augment(augment_key, x)
        loss_of = lambda p: objective(p, state.model_state, x, y, key=dropout_key, train=True,
                                      activations=bool(statistics))
        (loss, aux), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new = state.replace(params=params, opt_state=opt_state, model_state=aux["model_state"], step=state.step + 1)
        finite = jnp.isfinite(loss)
        if spec.full_check:
            finite = finite & jnp.isfinite(optax.tree.norm(grads)) & _sum_is_finite(params)
        if spec.skip_nonfinite and guard:
            new = jax.lax.cond(finite, lambda: new, lambda: state.replace(step=state.step + 1))
        logs = {"loss": loss, **aux["metrics"], "finite": finite}
        if statistics:
            info = StepInfo(step=t, model=objective.model, params=state.params, new_params=params,
                            model_state=aux["model_state"], grads=grads, updates=updates,
                            activations=aux["activations"], loss=loss, objective=objective)
            logs["statistics"] = tuple(_statistic(fn, every, info, d) for (fn, every), d in zip(statistics, data))
        return new, logs

    return step


def _statistic(fn, every: int, info: StepInfo, data) -> dict:
    """``fn(info)`` on the steps ``t`` with ``t % every == 0``, zeros of its shapes on the others."""
    info = dataclasses.replace(info, data=data)
    compute = lambda: fn(info)
    zeros = lambda: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(compute))
    computed = info.step % every == 0
    return {"values": jax.lax.cond(computed, compute, zeros), "computed": computed}


def population_step(step, *, shared_order: bool, skip_nonfinite: bool, masked: bool = True):
    """``pop_step(states, x, y, t, data, active)``: the unguarded member ``step`` vmapped over stacked
    members (``x``/``y`` ``(M, B, ...)``, or ``(B, ...)`` shared by all), keeping the state of members that
    are not ``active`` (stopped by their callbacks) or, with ``skip_nonfinite``, not finite.

    ONE ``lax.cond`` on "every member kept" for the population: a per-member ``cond`` under ``vmap``
    becomes a select over every parameter and optimizer leaf of every member on every step; here the
    select runs only on steps where some member is frozen or failed. Without ``masked`` (every member
    active for the whole piece, as the loop knows before it starts one) and without ``skip_nonfinite``
    there is nothing to keep, and no ``cond`` at all."""
    data_axis = None if shared_order else 0
    batched = jax.vmap(step, in_axes=(0, data_axis, data_axis, None, None))
    if not masked and not skip_nonfinite:
        return lambda states, x, y, t, data, active: batched(states, x, y, t, data)

    def pop_step(states: TrainState, x, y, t, data, active):
        new, logs = batched(states, x, y, t, data)
        keep = active & logs["finite"] if skip_nonfinite else active

        def pick(mask):
            return lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (jnp.ndim(a) - 1)), a, b)

        def select():
            core = jax.tree.map(pick(keep), (new.params, new.opt_state, new.model_state),
                                (states.params, states.opt_state, states.model_state))
            counts = jax.tree.map(pick(active), (new.step, new.epoch), (states.step, states.epoch))
            return new.replace(params=core[0], opt_state=core[1], model_state=core[2], step=counts[0], epoch=counts[1])

        return jax.lax.cond(jnp.all(keep), lambda: new, select), logs

    return pop_step


# ----------------------------------------------------------------------------------------------
# Pieces of an epoch


@dataclasses.dataclass(frozen=True)
class PieceSpec:
    """What determines an epoch-piece program, beyond the step."""

    step: StepSpec
    layout: str  # "single" | "vmap" | "map"
    shared_order: bool
    mode: str  # "scan" | "step"
    progress: bool
    placement: Any  # None | ("data", mesh) | ("members", mesh)
    masked: bool = True  # some member may be inactive during the piece (vmap layout)


def _gather(x, y, rows):
    return jnp.take(x, rows, axis=0), jnp.take(y, rows, axis=0)


def _zero_logs(fn, *args):
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, *args)[1])


def piece_program(spec: PieceSpec):
    """The cached compiled piece ``run(state, x, y, idx, ctl, data) -> (state, logs)``.

    ``ctl``: ``{"t0": int32 loop step of the piece's first batch, "pos0": its batch index in the epoch,
    "active": (M,) bool (populations), "every": int32 progress interval, "channel": int32 progress bar,
    "i": int32 (step mode: which row of idx)}``. Scan mode runs every row of ``idx``; step mode row ``i``."""
    return CACHE.get(("piece", spec), lambda: _build_piece(spec))


def _build_piece(spec: PieceSpec):
    placement = spec.placement
    single = member_step(spec.step, guard=spec.layout != "vmap")
    if placement is not None and placement[0] == "data":
        single = distributed.data_parallel_step(single, placement[1])

    def report(ctl, pos, loss, member):
        if spec.progress:
            progress_lib.report(ctl["channel"], ctl["every"], pos, loss, member)

    def member_rows(state, x, y, idx, ctl, data, member):
        """One member (or the single run) over ``idx`` rows ``(k, B)`` (scan) or row ``ctl["i"]`` (step)."""
        def one(state, row, i):
            xb, yb = _gather(x, y, row)
            state, logs = single(state, xb, yb, ctl["t0"] + i, data)
            report(ctl, ctl["pos0"] + i, logs["loss"], member)
            return state, logs

        if spec.mode == "step":
            state, logs = one(state, jax.lax.dynamic_index_in_dim(idx, ctl["i"], keepdims=False), 0)
            return state, jax.tree.map(lambda v: v[None], logs)
        return jax.lax.scan(lambda s, inp: one(s, *inp), state, (idx, jnp.arange(idx.shape[0])))

    if spec.layout == "single":
        def run(state, x, y, idx, ctl, data):
            return member_rows(state, x, y, idx, ctl, data, -1)

    elif spec.layout == "vmap":
        pop = population_step(member_step(spec.step, guard=False), shared_order=spec.shared_order,
                              skip_nonfinite=spec.step.skip_nonfinite, masked=spec.masked)
        if placement is not None:
            pop = distributed.member_parallel_step(pop, placement[1], per_member_batches=not spec.shared_order)

        def run(states, x, y, idx, ctl, data):
            def one(states, row, i):
                xb, yb = _gather(x, y, row)
                states, logs = pop(states, xb, yb, ctl["t0"] + i, data, ctl["active"])
                report(ctl, ctl["pos0"] + i, jnp.mean(logs["loss"]), -1)
                return states, logs

            if spec.mode == "step":
                states, logs = one(states, jax.lax.dynamic_index_in_dim(idx, ctl["i"], keepdims=False), 0)
                return states, jax.tree.map(lambda v: v[None], logs)
            return jax.lax.scan(lambda s, inp: one(s, *inp), states, (idx, jnp.arange(idx.shape[0])))

    else:  # "map": a compiled loop over the members, each running its whole piece
        def run(states, x, y, idx, ctl, data):
            members = jnp.arange(ctl["active"].shape[0])

            def one(args):
                state, rows, active, m = args
                rows = idx if spec.shared_order else rows
                go = lambda: member_rows(state, x, y, rows, ctl, data, m)
                return jax.lax.cond(active, go, lambda: (state, _zero_logs(go)))

            mapped_idx = jnp.zeros(members.shape, jnp.int32) if spec.shared_order else idx
            states, logs = jax.lax.map(one, (states, mapped_idx, ctl["active"], members))
            return states, jax.tree.map(lambda v: jnp.swapaxes(v, 0, 1), logs)

    return _jit(run, spec.step.objective.model, donate_argnums=(0,) if spec.mode == "step" else ())


# ----------------------------------------------------------------------------------------------
# Evaluation and prediction


def _forward_all(model, params, model_state, x, batch_size: int):
    """Eval-mode outputs for all of ``x``, ``batch_size`` examples at a time (``lax.map``), inside jit."""
    n = x.shape[0]
    bs = min(batch_size, n)
    full = (n // bs) * bs
    forward = lambda xb: model.apply(params, xb, state=model_state)[0]
    parts = []
    if full:
        batches = x[:full].reshape((n // bs, bs) + x.shape[1:])
        out = jax.lax.map(forward, batches)
        parts.append(out.reshape((full,) + out.shape[2:]))
    if n > full:
        parts.append(forward(x[full:]))
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts)


def eval_program(objective: Objective, batch_size: int, layout: str):
    """Cached ``evaluate(params, model_state, x, y) -> {"loss", <metric>...}`` in evaluation mode over a
    whole data set (exact means, whatever the batch size); populations give ``(M,)`` values."""
    def build():
        def one(params, model_state, x, y):
            outputs = _forward_all(objective.model, params, model_state, x, batch_size)
            return objective.logs(params, outputs, y)

        if layout == "single":
            fn = one
        elif layout == "vmap":
            fn = jax.vmap(one, in_axes=(0, 0, None, None))
        else:
            fn = lambda p, s, x, y: jax.lax.map(lambda ps: one(ps[0], ps[1], x, y), (p, s))
        return _jit(fn, objective.model)

    return CACHE.get(("eval", objective, batch_size, layout), build)


def forward_program(model, batch_size: int, layout: str = "single"):
    """Cached ``forward(params, model_state, x) -> outputs`` in evaluation mode, in batches."""
    def build():
        one = lambda p, s, x: _forward_all(model, p, s, x, batch_size)
        fn = one if layout == "single" else jax.vmap(one, in_axes=(0, 0, None))
        return _jit(fn, model)

    return CACHE.get(("forward", model, batch_size, layout), build)


@functools.cache
def _finite_program(stacked: bool):
    def finite(state):
        core = (state.params, state.opt_state, state.model_state)
        if not stacked:
            return _all_finite(core)
        return jax.vmap(_all_finite)(core)

    return jax.jit(finite)


def _all_finite(tree) -> jax.Array:
    flags = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.floating)]
    return jnp.all(jnp.stack(flags)) if flags else jnp.asarray(True)


def state_is_finite(state: TrainState, *, stacked: bool) -> np.ndarray:
    """Whether every floating leaf of params, optimizer and model state is finite (``(M,)`` when stacked)."""
    return np.asarray(_finite_program(stacked)(state))
