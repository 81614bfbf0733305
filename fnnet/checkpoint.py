"""Checkpoints of a training run, written by orbax-checkpoint: atomic saves, the last K and the best
kept, and an exact resume.

``fit`` drives it::

    state, history = fnnet.fit(model, loss, opt, (x, y), epochs=50, batch_size=128, key=key,
                               validation_data=(xv, yv), metrics=["accuracy"],
                               checkpoint_dir="runs/mnist", checkpoint_every=500,   # steps (or "epoch")
                               keep=3, keep_best="val_accuracy", resume=True)
    best_state, best_history = fnnet.checkpoint.restore("runs/mnist", model, opt, x[:1], step="best")

A checkpoint is the directory ``<checkpoint_dir>/<step>/`` (``step`` = optimizer steps taken so far)
written by an :class:`orbax.checkpoint.CheckpointManager`. Orbax writes into a temporary directory and
renames it only when every file is complete, so a process killed while saving leaves the earlier
checkpoints intact (the temporary one is deleted the next time the directory is opened). It holds:

* ``arrays``: the :class:`~fnnet.train.TrainState` (params, optimizer state, model state, step, the
  per-step PRNG key) and the shuffling key, saved as arrays with their exact bits;
* ``meta``: JSON with the data-order position (the next epoch and how many of its batches are done),
  the :class:`~fnnet.train.History`, the callbacks' progress, the batching plan and, for a checkpoint
  taken mid-epoch, the per-step logs of the epoch so far;
* ``metrics``: ``{monitor: value}`` for checkpoints taken at the end of an epoch (orbax uses it to keep
  the best one).

Because ``fit`` derives every random draw from the saved keys, the step count and the epoch index,
training resumed from a checkpoint continues bit for bit as the uninterrupted run would have.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import warnings
from typing import Any, Optional, Sequence, Union

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

PyTree = Any

FORMAT_VERSION = 1
_ARRAYS, _META = "arrays", "meta"


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be resumed from: every checkpoint in it is unreadable, or it
    holds a run that does not match the current model, optimizer or data."""


# ----------------------------------------------------------------------------------------------
# The orbax manager


def _abs_dir(directory) -> str:
    if not isinstance(directory, (str, os.PathLike)):
        raise ValueError(f"checkpoint_dir must be a path (str or os.PathLike), got {type(directory).__name__}")
    return os.path.abspath(os.fspath(directory))


def _manager(directory: str, *, keep: Optional[int] = None, best: Optional[tuple] = None,
             writer: bool = True) -> ocp.CheckpointManager:
    """An orbax manager for ``directory``.

    ``best = (monitor, "min" | "max")`` ranks the checkpoints that carry metrics (those taken at the end
    of an epoch). A ``writer`` keeps the ``keep`` newest checkpoints plus the best one, creates the
    directory, and removes saves left unfinished by a crash; a reader only lists and loads (it must not
    delete the temporary directory of a save in progress in another process) and can name the best step.
    """
    metric = None if best is None else (lambda metrics, name=best[0]: metrics[name])
    mode = "max" if best is None else best[1]
    preserve = [policies.LatestN(keep)]
    if best is not None:
        # BestN keeps the n highest; reverse the order so that "highest" is "best" in min mode too.
        preserve.append(policies.BestN(get_metric_fn=metric, reverse=mode == "min", n=1,
                                       keep_checkpoints_without_metrics=False))
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policies.AnyPreservationPolicy(preserve) if writer else None,
        best_fn=metric,  # orbax writes a checkpoint's metrics, and ranks them, only with a best_fn
        best_mode=mode,
        cleanup_tmp_directories=writer,
        create=writer,
    )
    handlers = {_ARRAYS: ocp.StandardCheckpointHandler(), _META: ocp.JsonCheckpointHandler()}
    return ocp.CheckpointManager(directory, options=options, item_handlers=handlers)


@contextlib.contextmanager
def _absl_filtered(text: str):
    """Drops orbax's (absl) log records containing ``text`` while the block runs."""
    logger = logging.getLogger("absl")
    drop = logging.Filter()
    drop.filter = lambda record: text not in record.getMessage()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _first_line(err: BaseException, limit: int = 200) -> str:
    text = (str(err).strip().splitlines() or [""])[0]
    text = text if len(text) <= limit else text[:limit] + "..."
    return f"{type(err).__name__}: {text}"


# ----------------------------------------------------------------------------------------------
# Compatibility of a checkpoint with the running model


def _leaf_signature(leaf) -> tuple:
    """``(shape, dtype name)`` as stored: typed PRNG keys are stored as their raw key data."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.eval_shape(jax.random.key_data, leaf)
    return tuple(leaf.shape), np.dtype(leaf.dtype).name


_PART_ORDER = {"params": 0, "model_state": 1, "opt_state": 2}


def _describe_mismatch(stored: dict, expected: dict) -> list[str]:
    """One line per leaf that differs, params first (the most telling), named like
    ``params/dense_0/kernel``."""

    def order(path):
        return (_PART_ORDER.get(path[1], 3) if len(path) > 1 and path[0] == "state" else 3, path)

    problems = []
    for path in sorted(set(stored) | set(expected), key=order):
        name = "/".join(map(str, path[1:] if path[0] == "state" else path))
        if path not in expected:
            problems.append(f"{name} is in the checkpoint but not in this run")
        elif path not in stored:
            problems.append(f"{name} is in this run but not in the checkpoint")
        elif stored[path] != expected[path]:
            (s_shape, s_dtype), (e_shape, e_dtype) = stored[path], expected[path]
            problems.append(
                f"{name} is {s_dtype}{list(s_shape)} in the checkpoint but {e_dtype}{list(e_shape)} in this run"
            )
    return problems


def _check_compatible(directory: str, step: int, stored_tree: PyTree, like: PyTree) -> None:
    """Raises :class:`CheckpointError` naming the first differing leaves when the arrays saved at
    ``step`` do not have the structure, shapes and dtypes of ``like`` (checked from orbax's metadata,
    before any array is read)."""
    stored = {k: (tuple(v.shape), np.dtype(v.dtype).name) for k, v in ocp.tree.to_flat_dict(stored_tree).items()
              if v is not None}
    expected = {k: _leaf_signature(v) for k, v in
                ocp.tree.to_flat_dict(ocp.tree.serialize_tree(like, keep_empty_nodes=False)).items()}
    problems = _describe_mismatch(stored, expected)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise CheckpointError(
            f"the checkpoint at step {step} in {directory} was saved from a different model or optimizer: "
            f"{shown}. Use the same model, optimizer and input shape to resume, or a new checkpoint_dir."
        )


def _check_plan(directory: str, stored: dict, plan: dict) -> None:
    diffs = [f"{k}={stored.get(k)!r} there, {v!r} here" for k, v in plan.items() if stored.get(k) != v]
    if diffs:
        raise CheckpointError(
            f"{directory} holds a run with different data or batching ({'; '.join(diffs)}); the data order "
            "could not continue where it stopped. Resume with the same training data and batch settings, "
            "or use a new checkpoint_dir."
        )


# ----------------------------------------------------------------------------------------------
# JSON forms of host-side records


def _logs_to_json(step_logs: Sequence[tuple]) -> list:
    """``[(per-step logs pytree, batch size)]`` of a partial epoch -> JSON lists (float64 holds every
    float32 exactly, so the epoch's reported means are unchanged by the round trip)."""
    host = jax.device_get([logs for logs, _ in step_logs])
    return [{"batch_size": int(w), "logs": jax.tree_util.tree_map(lambda a: np.asarray(a).tolist(), h)}
            for h, (_, w) in zip(host, step_logs)]


def _logs_from_json(records: list) -> list:
    as_arrays = lambda tree: jax.tree_util.tree_map(np.asarray, tree, is_leaf=lambda v: isinstance(v, list))
    return [(as_arrays(r["logs"]), r["batch_size"]) for r in records]


# ----------------------------------------------------------------------------------------------
# What fit uses


@dataclasses.dataclass
class Resumed:
    """A run restored by :meth:`FitCheckpointer.restore`.

    ``epoch`` is the epoch to run next and ``batch`` how many of its batches are already done (0 for a
    checkpoint taken at the end of an epoch); ``partial_logs`` are those batches' per-step logs;
    ``history`` the :class:`~fnnet.train.History` fields; ``callbacks`` the callbacks' saved progress."""

    step: int
    state: PyTree
    shuffle_key: jax.Array
    epoch: int
    batch: int
    history: dict
    partial_logs: list
    callbacks: list


class FitCheckpointer:
    """The checkpoints of one ``fit`` run in ``directory`` (see the module docstring).

    Args:
      directory: where the step directories go (created if missing).
      every: ``"epoch"`` (a checkpoint at the end of every epoch) or an int ``N``: also one after
        every ``N`` batches of an epoch, counted from the epoch's first batch.
      keep: how many of the newest checkpoints to keep.
      keep_best: ``(monitor, "min" | "max")``: also keep the epoch-end checkpoint with the best value
        of the epoch log ``monitor``; or None.
      plan: the batching settings of the run; resuming with different ones is an error.
    """

    def __init__(self, directory, *, every: Union[str, int] = "epoch", keep: int = 3,
                 keep_best: Optional[tuple] = None, plan: dict):
        self.directory = _abs_dir(directory)
        if every != "epoch" and (not isinstance(every, int) or isinstance(every, bool) or every < 1):
            raise ValueError(f"checkpoint_every must be 'epoch' or a positive number of steps, got {every!r}")
        if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
            raise ValueError(f"keep must be a positive int (checkpoints to keep), got {keep!r}")
        self.every = None if every == "epoch" else every
        self.keep_best = keep_best
        self.plan = dict(plan)
        self._manager = _manager(self.directory, keep=keep, best=keep_best)

    def check_empty(self) -> None:
        """Raises ``ValueError`` when the directory already holds checkpoints (a fresh run must not
        interleave its steps with another run's)."""
        if self._manager.latest_step() is not None:
            raise ValueError(
                f"checkpoint_dir {self.directory} already holds checkpoints (latest step "
                f"{self._manager.latest_step()}); pass resume=True to continue that run, or use another directory"
            )

    def save(self, state, shuffle_key, *, epoch: int, batch: int, history: dict, callbacks: Sequence,
             partial_logs: Sequence = (), logs: Optional[dict] = None) -> None:
        """Saves a checkpoint at optimizer step ``state.step`` (asynchronously: the arrays are copied to
        the host before this returns, so the caller may donate their buffers right away).

        ``epoch``/``batch`` is the position to continue from; ``logs`` the finished epoch's logs (the
        monitored value is taken from them), None for a checkpoint taken mid-epoch."""
        metrics = None
        if self.keep_best is not None and logs is not None and np.isfinite(logs.get(self.keep_best[0], np.nan)):
            metrics = {self.keep_best[0]: float(logs[self.keep_best[0]])}
        meta = {
            "format": FORMAT_VERSION,
            "epoch": epoch,
            "batch": batch,
            "history": history,
            "partial_logs": _logs_to_json(partial_logs),
            "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()} for cb in callbacks],
            "plan": self.plan,
            "keep_best": None if self.keep_best is None else list(self.keep_best),
            "typed_keys": bool(jax.dtypes.issubdtype(state.key.dtype, jax.dtypes.prng_key)),
        }
        arrays = {"state": state, "shuffle_key": shuffle_key}
        # Mid-epoch checkpoints have no metrics on purpose; orbax would warn about each one.
        with _absl_filtered("did not provide metrics"):
            self._manager.save(
                int(state.step),
                args=ocp.args.Composite(**{_ARRAYS: ocp.args.StandardSave(arrays), _META: ocp.args.JsonSave(meta)}),
                metrics=metrics,
            )

    def restore(self, like_state, like_shuffle_key) -> Optional[Resumed]:
        """The newest readable checkpoint restored onto the shapes, dtypes and shardings of
        ``like_state`` (a freshly initialized state), or None when the directory has none.

        A checkpoint that cannot be read (truncated or corrupted files) is skipped with a warning in
        favour of the next older one, and deleted (the resumed run writes it again); raises
        :class:`CheckpointError` when none can be read, or when the newest readable one belongs to a
        different model, optimizer or batching."""
        like = {"state": like_state, "shuffle_key": like_shuffle_key}
        found = _restore_newest(self._manager, self.directory, like, steps=None, delete_damaged=True)
        if found is None:
            return None
        step, arrays, meta = found
        _check_plan(self.directory, meta["plan"], self.plan)
        return Resumed(
            step=step, state=arrays["state"], shuffle_key=arrays["shuffle_key"], epoch=meta["epoch"],
            batch=meta["batch"], history=meta["history"], partial_logs=_logs_from_json(meta["partial_logs"]),
            callbacks=meta["callbacks"],
        )

    def close(self) -> None:
        """Waits for a pending asynchronous save to be on disk, then releases the manager."""
        self._manager.wait_until_finished()
        self._manager.close()


def load_callback_states(callbacks: Sequence, saved: list) -> None:
    """Gives each callback its saved progress; warns (and restores nothing) when the callbacks are not
    the ones the checkpointed run had."""
    if [type(cb).__name__ for cb in callbacks] != [s["class"] for s in saved]:
        warnings.warn(
            f"the checkpointed run had callbacks {[s['class'] for s in saved]}, this one has "
            f"{[type(cb).__name__ for cb in callbacks]}; their progress (e.g. early-stopping patience) starts afresh",
            stacklevel=3,
        )
        return
    for cb, s in zip(callbacks, saved):
        cb.load_state_dict(s["state"])


def _read_meta(manager, step: int) -> dict:
    meta = manager.restore(step, args=ocp.args.Composite(**{_META: ocp.args.JsonRestore()}))[_META]
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"step {step} is not an fnnet checkpoint of format {FORMAT_VERSION}")
    return meta


def _restore_newest(manager, directory: str, like: PyTree, steps: Optional[Sequence[int]], *,
                    delete_damaged: bool = False):
    """``(step, arrays, meta)`` of the newest readable checkpoint among ``steps`` (default all), or None
    when there are none. Unreadable ones are skipped with a warning (and deleted with
    ``delete_damaged``); see :meth:`FitCheckpointer.restore`."""
    candidates = sorted(manager.all_steps() if steps is None else steps, reverse=True)
    failures = []
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
    for step in candidates:
        try:
            meta = _read_meta(manager, step)
            stored_tree = manager.item_metadata(step)[_ARRAYS].tree
        except Exception as err:  # orbax/tensorstore report damage with many error types
            failures.append((step, err))
            continue
        _check_compatible(directory, step, stored_tree, like)  # a different model is not damage: no fallback
        try:
            restore_args = ocp.args.Composite(**{_ARRAYS: ocp.args.StandardRestore(abstract)})
            arrays = manager.restore(step, args=restore_args)[_ARRAYS]
        except Exception as err:
            failures.append((step, err))
            continue
        if failures:
            # Training continues from here and writes the same steps again (bit for bit), so the
            # damaged ones are removed to make room; a reader leaves the directory as it is.
            if delete_damaged:
                for bad_step, _ in failures:
                    manager.delete(bad_step)
            warnings.warn(
                f"skipped unreadable checkpoint(s) in {directory}: "
                + "; ".join(f"step {s} ({_first_line(e)})" for s, e in failures)
                + f"; using step {step}" + (" (the unreadable ones were deleted)" if delete_damaged else ""),
                stacklevel=3,
            )
        return step, arrays, meta
    if failures:
        raise CheckpointError(
            f"no readable checkpoint in {directory}: "
            + "; ".join(f"step {s}: {_first_line(e)}" for s, e in failures)
            + ". Delete the damaged step directories (or the whole directory) to start afresh."
        )
    return None


# ----------------------------------------------------------------------------------------------
# Public helpers


def steps(directory) -> list[int]:
    """The steps of the checkpoints in ``directory``, oldest first (empty when there are none)."""
    directory = _abs_dir(directory)
    if not os.path.isdir(directory):
        return []
    manager = _manager(directory, writer=False)
    try:
        return list(manager.all_steps())
    finally:
        manager.close()


def restore(directory, model, optimizer, x_sample, *, step: Union[str, int] = "latest"):
    """Loads a checkpoint written by ``fit(..., checkpoint_dir=directory)``.

    Args:
      directory: the run's ``checkpoint_dir``.
      model, optimizer, x_sample: as given to ``fit`` (``x_sample`` a batch such as ``x[:1]``); they
        define the shapes the arrays are restored to (nothing is initialized for real).
      step: ``"latest"``, ``"best"`` (the run must have used ``keep_best=``) or a step number from
        :func:`steps`.

    Returns:
      ``(TrainState, History)`` as they were at that checkpoint. ``step="latest"`` falls back to an
      older checkpoint, with a warning, when the newest is damaged.
    """
    from fnnet.train import History, create_train_state

    directory = _abs_dir(directory)
    available = steps(directory)
    if not available:
        raise CheckpointError(f"no checkpoints in {directory}")
    if step not in ("latest", "best") and step not in available:
        raise ValueError(f"step must be 'latest', 'best' or one of the saved steps {available}, got {step!r}")
    run = _run_settings(directory, available)
    if step == "best" and not run["keep_best"]:
        raise ValueError(f"step='best' needs a run saved with keep_best=<monitor>; the run in {directory} kept none")
    manager = _manager(directory, best=tuple(run["keep_best"]) if run["keep_best"] else None, writer=False)
    try:
        wanted = None if step == "latest" else [manager.best_step() if step == "best" else step]
        if wanted == [None]:
            raise CheckpointError(f"no end-of-epoch checkpoint in {directory} has a finite {run['keep_best'][0]}")
        make_key = jax.random.key if run["typed_keys"] else jax.random.PRNGKey
        like = jax.eval_shape(
            lambda k: {"state": create_train_state(model, optimizer, k, x_sample), "shuffle_key": k}, make_key(0)
        )
        _, arrays, meta = _restore_newest(manager, directory, like, steps=wanted)
    finally:
        manager.close()
    return arrays["state"], History(**meta["history"])


def _run_settings(directory: str, available: Sequence[int]) -> dict:
    """The run-wide settings (``keep_best``, ``typed_keys``) from the newest checkpoint whose JSON reads."""
    manager = _manager(directory, writer=False)
    try:
        for step in sorted(available, reverse=True):
            try:
                meta = _read_meta(manager, step)
            except Exception:  # damaged: the settings are the same in every checkpoint of the run
                continue
            return {"keep_best": meta.get("keep_best"), "typed_keys": meta.get("typed_keys", True)}
    finally:
        manager.close()
    raise CheckpointError(f"no readable checkpoint in {directory}")


__all__ = ["CheckpointError", "FitCheckpointer", "Resumed", "load_callback_states", "restore", "steps"]
