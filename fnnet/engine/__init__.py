"""The training engine: one compiled loop for a population of ``M >= 1`` members, compiled once.

:func:`train` is what every front calls (``fnnet.fit`` with one member, ``fnnet.ensemble.fit_ensemble``
and ``fnnet.search.fit_sweep`` with many, the diagnostics' short runs): it places the data, chooses the
epoch mode and the member layout, assembles the hooks (in-step statistics, validation, history,
progress, callbacks, checkpoints) and runs :class:`~fnnet.engine.loop.Run`. The compiled programs are
cached across calls (:mod:`fnnet.engine.programs`), so a second run with the same pieces and shapes
compiles nothing.
"""
from __future__ import annotations

from typing import Optional, Sequence

import jax
import numpy as np

from fnnet import distributed
from fnnet.engine import hooks as hooks_lib
from fnnet.engine import inputs, programs
from fnnet.engine.compiles import count_compiles
from fnnet.engine.loop import Hook, Piece, Population, Run
from fnnet.engine.options import Checkpointing, TrainOptions
from fnnet.engine.plan import EpochPlan
from fnnet.engine.programs import cache_info, clear_cache
from fnnet.state import StepStatistics
from fnnet.tree import member

# Per-member work (parameters x batch size) above which a CPU runs members one after another inside the
# program ("map") rather than as one batched step ("vmap"): large batched products run slower per FLOP
# than plain ones on a CPU, small ones amortize the per-step overhead (measured by
# benchmarks/member_layout.py).
CPU_MAP_THRESHOLD = 80_000_000


def choose_layout(requested: str, *, model, params, batch_size: int, members: int, mesh) -> str:
    """The member layout of a population: ``requested`` unless ``"auto"``; then ``"vmap"`` on
    accelerators and for small members, ``"map"`` for large members on a CPU. A mesh places members with
    the batched layout."""
    if members == 1 and requested == "auto":
        return "vmap"
    if mesh is not None or requested != "auto":
        return "vmap" if mesh is not None else requested
    if jax.default_backend() != "cpu" or programs.has_conv(model):  # convolutions: vmap, measured too
        return "vmap"
    size = sum(int(np.prod(np.shape(leaf)[1:])) for leaf in jax.tree.leaves(params))
    return "map" if size * batch_size > CPU_MAP_THRESHOLD else "vmap"


def statistics_of(callbacks: Sequence) -> list:
    """The in-step statistics the callbacks declare, as ``[(StepStatistics, consumer)]``."""
    found = []
    for cb in callbacks:
        spec = cb.statistics() if hasattr(cb, "statistics") else None
        if spec is not None:
            if not isinstance(spec, StepStatistics):
                raise ValueError(f"{type(cb).__name__}.statistics() must return a StepStatistics or None, got {spec!r}")
            found.append((spec, cb))
    return found


def _check_a_batch_of_one_trains(model, population: Population, x, batch_size: int) -> None:
    """Every epoch would end in a batch of one example: fail now, naming the fix, if the model cannot
    train on one (BatchNorm's batch statistics), rather than after the epoch's full batches."""
    state = member(population.state, 0) if population.stacked else population.state
    try:
        jax.eval_shape(lambda p, s: model.apply(p, x[:1], key=jax.random.key(0), train=True, state=s),
                       state.params, state.model_state)
    except ValueError as err:
        raise ValueError(
            f"batch_size={batch_size} leaves a last batch of 1 example in every epoch ({int(x.shape[0])} rows), "
            f"and the model cannot train on one: {err}. Choose another batch_size or pass "
            "options=TrainOptions(drop_remainder=True)") from None


def train(objective, tx, population: Population, x, y, *, epochs: int, batch_size: int,
          options: TrainOptions, validation: Optional[tuple], callbacks: Sequence[Sequence], augment=None,
          verbose: int = 1, checkpoint: Optional[Checkpointing] = None, mesh=None,
          extra_hooks: Sequence[Hook] = ()) -> Run:
    """Trains ``population`` on the device arrays ``(x, y)`` and returns the finished :class:`Run`
    (``run.state``, ``run.histories``).

    ``callbacks[i]`` are member ``i``'s callbacks (one list for a single run); ``validation`` is
    ``(x_val, y_val)`` or None; ``mesh`` a 1-D mesh: a single run splits every batch over it, a population
    places whole members on its devices."""
    inputs.check_run_extras(verbose=verbose, augment=augment)
    stacked = population.stacked
    plan = EpochPlan.make(int(x.shape[0]), batch_size, shuffle=options.shuffle,
                          drop_remainder=options.drop_remainder, steps_per_epoch=options.steps_per_epoch)
    if plan.remainder == 1:
        _check_a_batch_of_one_trains(objective.model, population, x, batch_size)
    if mesh is not None:
        distributed.check_divisible("batch_size" if not stacked else "the number of members",
                                    plan.batch_size if not stacked else population.size, mesh)
        if stacked and options.chunk is not None:
            distributed.check_divisible("chunk", options.chunk, mesh)
    mode = programs.default_epoch_mode(objective.model) if options.epoch_mode == "auto" else options.epoch_mode
    declared = [statistics_of(cbs) for cbs in callbacks]
    specs = [spec for spec, _ in declared[0]] if declared else []
    consumers = [[member_stats[j][1] for member_stats in declared] for j in range(len(specs))]
    step_spec = programs.StepSpec.make(objective, tx, augment=augment, statistics=specs,
                                       skip_nonfinite=options.on_nonfinite == "skip")
    placement = None
    if mesh is not None:
        placement = ("members" if stacked else "data", mesh)
        population.state = (distributed.shard_leading_axis(population.state, mesh) if stacked
                            else distributed.replicate(population.state, mesh))
        population.order_keys, x, y = distributed.replicate((population.order_keys, x, y), mesh)
    callbacks_hook = hooks_lib.Callbacks(callbacks)
    hooks: list = [hooks_lib.Statistics(consumers)]
    if validation is not None:
        hooks.append(hooks_lib.Validation(*validation, batch_size=options.eval_batch_size))
    hooks += [hooks_lib.Record(), hooks_lib.Progress(verbose), callbacks_hook, *extra_hooks]
    if checkpoint is not None:
        from fnnet import checkpoint as checkpoint_lib  # the checkpoint hook lives with the checkpoint format

        names = objective.log_names + ([f"val_{n}" for n in objective.log_names] if validation is not None else [])
        hooks.append(checkpoint_lib.CheckpointHook(
            checkpoint, callbacks=callbacks_hook, log_names=names,
            fingerprint=checkpoint_lib.fingerprint(x=x, y=y, objective=objective, optimizer_key=step_spec.optimizer,
                                                   opt_state=population.state.opt_state, plan=plan.as_dict(),
                                                   members=population.size)))
    run = Run(step_spec=step_spec, population=population, x=x, y=y, plan=plan, epochs=epochs, mode=mode,
              on_nonfinite=options.on_nonfinite, max_steps=options.max_steps, chunk=options.chunk if stacked else None,
              hooks=hooks, statistics=specs, placement=placement,
              # Every process of a multi-host run must compile the same program: the progress reports are in
              # it on all of them (a process that shows no bar ignores them).
              progress=verbose == 1 or jax.process_count() > 1, verbose=verbose)
    return run.run()


__all__ = [
    "CPU_MAP_THRESHOLD", "Checkpointing", "EpochPlan", "Hook", "Piece", "Population", "Run", "TrainOptions",
    "cache_info", "choose_layout", "clear_cache", "count_compiles", "statistics_of", "train",
]
