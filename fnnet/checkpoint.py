"""Checkpoints of a training run, written by orbax-checkpoint: atomic saves, the last K and the best
kept, and an exact resume, for ``fit`` and for populations (ensembles, sweeps) alike.

Every training front takes them as one argument::

    state, history = fnnet.fit(model, loss, opt, (x, y), epochs=50, batch_size=128, key=key,
                               validation_data=(xv, yv), metrics=["accuracy"],
                               checkpoint=fnnet.Checkpointing("runs/mnist", every=500, keep=3,
                                                              keep_best="val_accuracy", resume=True))
    best_state, best_history = fnnet.checkpoint.restore("runs/mnist", model, opt, x[:1], step="best")

A checkpoint is the directory ``<directory>/<step>/`` (``step`` = optimizer steps taken so far)
written by an :class:`orbax.checkpoint.CheckpointManager`. Orbax writes into a temporary directory and
renames it only when every file is complete, so a process killed while saving leaves the earlier
checkpoints intact (the temporary one is deleted the next time the directory is opened). It holds:

* ``arrays``: the :class:`~fnnet.state.TrainState` (stacked for a population), the data-order keys and
  which members are still training, saved as arrays with their exact bits;
* ``meta``: JSON with the data-order position (the next epoch and how many of its batches are done),
  every member's :class:`~fnnet.state.History`, the callbacks' progress, the run's *fingerprint* (a
  digest of the training data, the model, loss, metrics, optimizer and its hyper-parameters, the
  batching) and, for a checkpoint taken mid-epoch, the per-step logs of the epoch so far;
* ``metrics``: ``{monitor: value}`` for checkpoints taken at the end of an epoch (the members' mean for a
  population; orbax uses it to keep the best one).

Because training derives every random draw from the saved keys, the step count and the epoch index,
training resumed from a checkpoint continues bit for bit as the uninterrupted run would have. The
directory is checked (a directory, writable) before training starts, and a lock file keeps a second
writer out while a run writes it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import socket
import tempfile
import warnings
from typing import Any, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from fnnet.engine.loop import Hook
from fnnet.state import History, PopulationHistory, improves_upwards

PyTree = Any

FORMAT_VERSION = 2
_ARRAYS, _META = "arrays", "meta"


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be used: not writable, written by another process right now,
    every checkpoint in it unreadable, or holding a run that does not match the current one."""


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
# The directory: checked before training, one writer at a time


_LOCK_NAME = ".fnnet-writer.lock"


def check_directory(directory: str) -> None:
    """Raises :class:`CheckpointError` before any training when ``directory`` cannot hold checkpoints: it
    is a file, or it (or the folder it would be created in) cannot be written."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CheckpointError(f"checkpoint directory {directory} is a file, not a directory; give a directory path")
    parent = directory
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".fnnet-probe-", delete=True) as probe:
            probe.write(b"0")
            probe.flush()
    except OSError as err:
        raise CheckpointError(f"checkpoint directory {directory} cannot be written ({_first_line(err)}); "
                              "choose a writable directory (and one with free space)") from None


class WriterLock:
    """An exclusive lock file in the checkpoint directory: a second process writing the same directory
    gets a clear error at once instead of corrupting the first one's checkpoints. A lock left by a process
    that no longer runs (killed) is taken over."""

    def __init__(self, directory: str):
        self.path = os.path.join(directory, _LOCK_NAME)
        self.held = False

    def acquire(self) -> None:
        mine = f"{os.getpid()} {socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and owner != mine and self._alive(owner):
                    raise CheckpointError(
                        f"another process (pid {owner.split()[0]} on {owner.split()[-1]}) is writing checkpoints to "
                        f"{os.path.dirname(self.path)}; two runs cannot share a checkpoint directory. Wait for it to "
                        "finish or use another directory") from None
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path)  # stale: its writer is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(mine)
            self.held = True
            return
        raise CheckpointError(f"could not take the writer lock {self.path}")

    def _owner(self) -> Optional[str]:
        try:
            with open(self.path) as f:
                return f.read().strip() or None
        except OSError:
            return None

    @staticmethod
    def _alive(owner: str) -> bool:
        pid, _, host = owner.partition(" ")
        if host != socket.gethostname():
            return True  # another machine's process: assume it runs
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            return False
        except PermissionError:
            return True
        return True

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
            self.held = False


# ----------------------------------------------------------------------------------------------
# The run's fingerprint: what must not change between a run and its resumption


def data_digest(*arrays) -> str:
    """A BLAKE2 digest of the arrays' shapes, dtypes and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        digest.update(f"{a.shape}{a.dtype}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def stable_repr(value) -> str:
    """A description of ``value`` that is the same in every process: functions by their qualified name
    (their ``repr`` holds a memory address), containers and dataclasses element by element."""
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(stable_repr(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {stable_repr(v)}" for k, v in value.items()) + "}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Fields at their default are left out: a setting added in a later version (with a default that
        # keeps the old behaviour) must not make older checkpoints look like another model's.
        fields = ", ".join(f"{f.name}={stable_repr(getattr(value, f.name))}" for f in dataclasses.fields(value)
                           if not _at_default(value, f))
        return f"{type(value).__name__}({fields})"
    if callable(value):
        return _name(value)
    return repr(value)


def _at_default(value, field: dataclasses.Field) -> bool:
    if field.default is dataclasses.MISSING:
        return False
    current = getattr(value, field.name)
    try:
        return type(current) is type(field.default) and bool(current == field.default)
    except (TypeError, ValueError):  # arrays and the like compare elementwise: keep them
        return False


def _optimizer_description(optimizer_key, opt_state) -> str:
    """The optimizer of a run: an fnnet optimizer's key (its kind, stages and static settings), or for another
    optax transformation the structure of its state (its numbers are not visible from outside)."""
    if isinstance(optimizer_key, tuple) and optimizer_key and optimizer_key[0] == "optax":
        return "optax state " + str(jax.tree_util.tree_structure(opt_state)).replace("PyTreeDef", "")
    return stable_repr(optimizer_key)


def fingerprint(*, x, y, objective, optimizer_key, opt_state, plan: dict, members: int) -> dict:
    """What defines a run, as JSON-able text: a digest of the training data, the model, the loss and
    metrics, the optimizer (its kind and every numeric hyper-parameter in its state), the batching and the
    number of members. Resuming with another value of any of them is refused (see :class:`Checkpointing`)."""
    hyper = getattr(opt_state, "hyperparams", None) or {}
    return {
        "data": data_digest(x, y),
        "model": stable_repr(objective.model),
        "loss": _name(objective.loss),
        "metrics": [name for name, _ in objective.metrics],
        "optimizer": _optimizer_description(optimizer_key, opt_state),
        "hyperparameters": {k: np.round(np.asarray(v, np.float64), 12).tolist() for k, v in sorted(hyper.items())},
        "batching": plan,
        "members": members,
    }


def _name(fn) -> str:
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"


def _fingerprint_changes(stored: dict, current: dict) -> list[str]:
    what = {"data": "the training data", "model": "the model", "loss": "the loss", "metrics": "the metrics",
            "optimizer": "the optimizer", "hyperparameters": "the optimizer's hyper-parameters",
            "batching": "the batching", "members": "the number of members"}
    changes = []
    for key, label in what.items():
        before, now = stored.get(key), current.get(key)
        if before == now:
            continue
        if key in ("data", "model", "optimizer"):
            changes.append(label)
        elif isinstance(before, dict) and isinstance(now, dict):
            diffs = [f"{k}={before.get(k)!r} there, {now.get(k)!r} here" for k in dict.fromkeys([*before, *now])
                     if before.get(k) != now.get(k)]
            changes.append(f"{label} ({'; '.join(diffs)})")
        else:
            changes.append(f"{label} ({before!r} there, {now!r} here)")
    return changes


# ----------------------------------------------------------------------------------------------
# The checkpoint hook of the training loop


@contextlib.contextmanager
def _quiet_orbax():
    """Keeps orbax's (absl) log records below ERROR out of the user's terminal while we read or write."""
    logger = logging.getLogger("absl")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


class CheckpointHook(Hook):
    """Checkpoints of a run of the training loop (see the module docstring): restores the newest one at
    the start (``resume``), saves after every ``every`` batches and at every epoch end, keeps the newest
    ``keep`` and the best, and takes the directory's writer lock for the run's duration.

    ``fingerprint``: see :func:`fingerprint`; ``callbacks``: the :class:`~fnnet.engine.hooks.Callbacks`
    hook whose progress is saved (or None)."""

    def __init__(self, config, *, fingerprint: dict, callbacks=None, log_names: Sequence[str] = ()):
        self.config = config
        self.directory = _abs_dir(config.directory)
        self.fingerprint, self.callbacks = fingerprint, callbacks
        self.best = None
        if config.keep_best is not None:
            names = list(log_names)
            _check_choice_name("keep_best", config.keep_best, names)
            self.best = (config.keep_best, "max" if improves_upwards(config.keep_best) else "min")
        self._manager = None
        self._lock = WriterLock(self.directory)

    # -- start -----------------------------------------------------------------------------------
    def prepare(self, run) -> None:
        check_directory(self.directory)
        self._lock.acquire()
        with _quiet_orbax():
            self._manager = _manager(self.directory, keep=self.config.keep, best=self.best)
        run.piece_every = self.config.steps_between
        if not self.config.resume:
            latest = self._manager.latest_step()
            if latest is not None:
                raise CheckpointError(
                    f"checkpoint directory {self.directory} already holds checkpoints (latest step {latest}); pass "
                    "Checkpointing(..., resume=True) to continue that run, or use another directory")
            return
        like = {"state": run.state, "order_keys": run.population.order_keys, "active": np.ones(run.size, bool)}
        with _quiet_orbax():
            found = _restore_newest(self._manager, self.directory, like, steps=None, delete_damaged=True)
        if found is None:
            return
        step, arrays, meta = found
        self._check_fingerprint(meta)
        run.state = arrays["state"]
        run.population.order_keys = arrays["order_keys"]
        run.active = np.asarray(arrays["active"], bool).copy()
        run.epoch, run.batch = meta["epoch"], meta["batch"]
        run.first_epoch, run.last_epoch = meta["first_epoch"], meta["first_epoch"] + (run.last_epoch - run.first_epoch)
        run.first_step, run.steps_done = meta["first_step"], meta["steps_done"]
        run.partial_logs = _logs_from_json(meta["partial_logs"])
        run.histories = [History(**h) for h in meta["histories"]]
        run.restored_callbacks = meta["callbacks"] if run.population.stacked else meta["callbacks"][0]
        if run.verbose:
            print(f"Resuming from the checkpoint at step {step} (epoch {run.epoch + 1}, batch {run.batch}) in "
                  f"{self.directory}", flush=True)

    def _check_fingerprint(self, meta: dict) -> None:
        changes = _fingerprint_changes(meta.get("fingerprint", {}), self.fingerprint)
        if not changes:
            return
        message = (f"{self.directory} holds a run that differs from this one in {', '.join(changes)}; resuming would "
                   "continue a different run silently")
        if self.config.allow_changes:
            warnings.warn(message + ". Continuing anyway (Checkpointing(allow_changes=True))", stacklevel=4)
            return
        raise CheckpointError(message + ". Resume with the same data and settings, use a new directory, or pass "
                              "Checkpointing(..., allow_changes=True) to continue anyway")

    # -- saves -----------------------------------------------------------------------------------
    def piece_end(self, run, piece) -> None:
        if not piece.last:
            self._save(run, epoch=run.epoch, batch=piece.hi, logs=None)

    def epoch_end(self, run, logs: list) -> None:
        if run.epoch_complete:  # an epoch cut short by max_steps was saved as a mid-epoch piece
            self._save(run, epoch=run.epoch + 1, batch=0, logs=logs, partial=False)

    def _save(self, run, *, epoch: int, batch: int, logs: Optional[list], partial: bool = True) -> None:
        metrics = None
        if self.best is not None and logs is not None:
            values = [member_logs.get(self.best[0], np.nan) for member_logs in logs if member_logs is not None]
            value = float(np.nanmean(values)) if values and np.isfinite(values).any() else np.nan
            if np.isfinite(value):
                metrics = {self.best[0]: value}
        meta = {
            "format": FORMAT_VERSION,
            "epoch": epoch,
            "batch": batch,
            "first_epoch": run.first_epoch,
            "first_step": run.first_step,
            "steps_done": run.steps_done,
            "histories": [dataclasses.asdict(h) for h in run.histories],
            "partial_logs": _logs_to_json(run.partial_logs if partial else []),
            "callbacks": self.callbacks.states() if self.callbacks is not None else [[] for _ in range(run.size)],
            "fingerprint": self.fingerprint,
            "keep_best": None if self.best is None else list(self.best),
            "typed_keys": bool(jax.dtypes.issubdtype(run.population.order_keys.dtype, jax.dtypes.prng_key)),
            "members": run.size if run.population.stacked else None,
        }
        arrays = {"state": run.state, "order_keys": run.population.order_keys, "active": np.asarray(run.active)}
        step = int(np.max(np.asarray(run.state.step)))
        try:
            # Mid-epoch checkpoints have no metrics on purpose; orbax would warn about each one.
            with _absl_filtered("did not provide metrics"), _quiet_orbax():
                self._manager.save(step, args=ocp.args.Composite(
                    **{_ARRAYS: ocp.args.StandardSave(arrays), _META: ocp.args.JsonSave(meta)}), metrics=metrics)
        except Exception as err:
            raise CheckpointError(f"could not write the checkpoint at step {step} to {self.directory} "
                                  f"({_first_line(err)}); the earlier checkpoints are intact") from None

    # -- end -------------------------------------------------------------------------------------
    def end(self, run) -> None:
        try:
            if self._manager is not None:
                with _quiet_orbax():
                    self._manager.wait_until_finished()  # the last (asynchronous) save
                    self._manager.close()
        except Exception as err:
            if run.error is None:
                raise CheckpointError(f"could not finish writing checkpoints to {self.directory} "
                                      f"({_first_line(err)}); the earlier checkpoints are intact") from None
        finally:
            self._lock.release()


def _check_choice_name(name: str, value: str, names: Sequence[str]) -> None:
    if value not in names:
        raise ValueError(f"{name} must be one of the logged quantities {sorted(names)}, got {value!r}")


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
    """Loads a checkpoint written by a training run with ``checkpoint=Checkpointing(directory)``.

    Args:
      directory: the run's checkpoint directory.
      model, optimizer, x_sample: as given to the run (``x_sample`` a batch such as ``x[:1]``); they
        define the shapes the arrays are restored to (nothing is initialized for real).
      step: ``"latest"``, ``"best"`` (the run must have used ``keep_best=``) or a step number from
        :func:`steps`.

    Returns:
      ``(TrainState, History)`` as they were at that checkpoint; for a population's run (``fit_ensemble``,
      ``fit_sweep``) the stacked state and a :class:`~fnnet.state.PopulationHistory`. ``step="latest"``
      falls back to an older checkpoint, with a warning, when the newest is damaged.
    """
    from fnnet.engine.programs import init_population, init_state
    from fnnet.optim import get as get_optimizer

    directory = _abs_dir(directory)
    available = steps(directory)
    if not available:
        raise CheckpointError(f"no checkpoints in {directory}")
    if step not in ("latest", "best") and step not in available:
        raise ValueError(f"step must be 'latest', 'best' or one of the saved steps {available}, got {step!r}")
    run = _run_settings(directory, available)
    if step == "best" and not run["keep_best"]:
        raise ValueError(f"step='best' needs a run saved with keep_best=<monitor>; the run in {directory} kept none")
    tx = get_optimizer(optimizer)
    make_key = jax.random.key if run["typed_keys"] else jax.random.PRNGKey
    members = run["members"]

    def like_tree(k):
        if members is None:
            return {"state": init_state(model, tx, k, x_sample), "order_keys": k, "active": jnp.ones((1,), bool)}
        keys = jax.random.split(k, members)
        return {"state": init_population(model, tx, keys, x_sample), "order_keys": keys,
                "active": jnp.ones((members,), bool)}

    with _quiet_orbax():
        manager = _manager(directory, best=tuple(run["keep_best"]) if run["keep_best"] else None, writer=False)
        try:
            wanted = None if step == "latest" else [manager.best_step() if step == "best" else step]
            if wanted == [None]:
                raise CheckpointError(f"no end-of-epoch checkpoint in {directory} has a finite {run['keep_best'][0]}")
            like = jax.eval_shape(like_tree, make_key(0))
            like["active"] = np.ones(like["active"].shape, bool)
            _, arrays, meta = _restore_newest(manager, directory, like, steps=wanted)
        finally:
            manager.close()
    histories = [History(**h) for h in meta["histories"]]
    if members is None:
        return arrays["state"], histories[0]
    return arrays["state"], PopulationHistory(members=histories, callbacks=[[] for _ in histories])


def _run_settings(directory: str, available: Sequence[int]) -> dict:
    """The run-wide settings (``keep_best``, ``typed_keys``) from the newest checkpoint whose JSON reads."""
    manager = _manager(directory, writer=False)
    try:
        for step in sorted(available, reverse=True):
            try:
                meta = _read_meta(manager, step)
            except Exception:  # damaged: the settings are the same in every checkpoint of the run
                continue
            return {"keep_best": meta.get("keep_best"), "typed_keys": meta.get("typed_keys", True),
                    "members": meta.get("members")}
    finally:
        manager.close()
    raise CheckpointError(f"no readable checkpoint in {directory}")


__all__ = ["CheckpointError", "CheckpointHook", "WriterLock", "check_directory", "data_digest", "fingerprint",
           "restore", "steps"]
