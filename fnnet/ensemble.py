"""Ensembles trained as one compiled program, and the ways to combine their predictions.

``fit_ensemble`` trains ``M`` copies of a model, each from its own key (initialization, dropout, data
order), as ONE program: :func:`fnnet.train.make_train_step` under ``jax.vmap``, whole epochs under
``lax.scan`` exactly as :func:`fnnet.train.fit` runs them. Parameters are *stacked*: every leaf of the
returned ``TrainState`` has a leading member axis of length ``M``::

    state, history = fit_ensemble(model, "softmax_cross_entropy", optimizer("adam", 1e-3), (x, y),
                                  n_members=8, key=key, epochs=10, batch_size=100,
                                  validation_data=(xv, yv), metrics=["accuracy"])
    state.params["dense_0"]["kernel"].shape          # (8, 784, 256)
    history["val_accuracy"]                          # (epochs, 8) array; history.members[i] is a History
    scores = evaluate_ensemble(model, state, x_test, y_test)   # members, best single, average, votes

Member ``i`` computes what ``fit(model, loss, optimizer, data, key=keys[i], ...)`` computes (up to float
rounding of the batched matrix products). Prediction rules (:func:`combine`): the average of the
members' class probabilities, the majority vote and the confidence-weighted vote (the jhui seed's "one
vote per model" and "weighted votes based on the confidence level"). Snapshot ensembles of one run use
the same predictors: :class:`Snapshots` keeps the params at chosen epochs, ``Snapshots.stacked()``
stacks them like an ensemble's; :func:`checkpoint_snapshots` stacks a run's saved checkpoints the same way.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks, checkpoint, distributed
from fnnet.callbacks import Callback, _resolve_mode
from fnnet.models.core import Model
from fnnet.train import (
    History,
    NonFiniteLossError,
    TrainState,
    _compiler_options,
    _copy_tree,
    _default_epoch_mode,
    _EpochPlan,
    _EpochPrograms,
    _predict_arrays,
    _prepare_fit_inputs,
    _reduce_step_logs,
    _resolve_loss,
    _resolve_metrics,
    _resolve_optimizer,
    _run_epoch,
    _statistics_callbacks,
    create_train_state,
    make_train_step,
)

PyTree = Any

METHODS = ("average", "vote", "weighted_vote")


# ----------------------------------------------------------------------------------------------
# Stacked trees


def stack(trees: Sequence[PyTree]) -> PyTree:
    """Stacks trees of identical structure along a new leading member axis: ``M`` trees -> one tree."""
    trees = list(trees)
    if not trees:
        raise ValueError("stack needs at least one tree")
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def member(tree: PyTree, i: int) -> PyTree:
    """Member ``i`` of a stacked tree (every leaf indexed along its leading axis)."""
    return jax.tree.map(lambda leaf: leaf[i], tree)


def num_members(tree: PyTree) -> int:
    """The length of the leading member axis of a stacked tree."""
    leaves = jax.tree.leaves(tree)
    if not leaves or np.ndim(leaves[0]) == 0:
        raise ValueError("expected a stacked tree (leaves with a leading member axis)")
    return int(np.shape(leaves[0])[0])


def member_keys(*, n_members: Optional[int] = None, keys=None, key: Optional[jax.Array] = None) -> jax.Array:
    """The members' PRNG keys as one ``(M,)`` key array.

    Give either ``keys`` (a key array of shape ``(M,)``, raw ``uint32`` keys ``(M, 2)``, or a list of
    keys; ``n_members``, when also given, must equal their number) or ``n_members`` and ``key``
    (``jax.random.split(key, n_members)``)."""
    if keys is not None:
        if key is not None:
            raise ValueError("give either keys= (one per member) or key= with n_members=, not both")
        keys = _as_key_array(keys)
        if n_members is not None and n_members != keys.shape[0]:
            raise ValueError(f"keys holds {keys.shape[0]} keys but n_members is {n_members}; they must match")
        return keys
    if key is None or n_members is None:
        raise ValueError("pass keys= (one PRNG key per member), or n_members= together with key=")
    if not isinstance(n_members, int) or n_members < 1:
        raise ValueError(f"n_members must be a positive int, got {n_members!r}")
    return jax.random.split(key, n_members)


def _as_key_array(keys) -> jax.Array:
    if isinstance(keys, (list, tuple)):
        if not keys:
            raise ValueError("keys must hold at least one PRNG key")
        keys = jnp.stack([jnp.asarray(k) for k in keys])
    keys = jnp.asarray(keys)
    if not jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key):
        try:
            keys = jax.random.wrap_key_data(keys) if keys.ndim == 2 and keys.dtype == jnp.uint32 else None
        except TypeError:
            keys = None
        if keys is None:
            raise ValueError("keys must be PRNG keys of shape (n_members,) or raw uint32 keys (n_members, 2)")
    if keys.ndim != 1 or keys.shape[0] == 0:
        raise ValueError(f"keys must be a non-empty 1-D array of PRNG keys, got shape {keys.shape}")
    return keys


def init_members(model: Model, optimizer, keys: jax.Array, x_sample) -> TrainState:
    """The stacked :class:`~fnnet.train.TrainState` the members start from: member ``i`` is the state
    ``fit(..., key=keys[i])`` starts from (its init key is the first half of ``split(keys[i])``)."""
    tx = _resolve_optimizer(optimizer)
    init_keys = jax.vmap(jax.random.split)(_as_key_array(keys))[:, 0]
    return jax.vmap(lambda k: create_train_state(model, tx, k, x_sample))(init_keys)


# ----------------------------------------------------------------------------------------------
# History


@dataclasses.dataclass
class EnsembleHistory:
    """What :func:`fit_ensemble` records: one :class:`~fnnet.train.History` per member plus array views.

    * ``members[i]`` is member ``i``'s History, with the entries ``fit`` would record for it (a member
      stopped early by its callbacks has fewer epochs);
    * ``history[name]`` (or ``history.history[name]``) is a float64 array ``(epochs, M)``: column ``i``
      is member ``i``'s curve, NaN after the member stopped;
    * ``callbacks[i]`` are member ``i``'s own copies of the callbacks (e.g. ``callbacks[i][0].best_epoch``);
    * ``epoch_times`` wall seconds per epoch of the whole ensemble (summed over chunks), ``compile_time``
      seconds spent compiling the epoch programs.
    """

    members: list
    callbacks: list
    epoch_times: list = dataclasses.field(default_factory=list)
    compile_time: float = 0.0
    epoch_mode: str = ""

    def __len__(self) -> int:
        return len(self.members)

    @property
    def history(self) -> dict:
        names = dict.fromkeys(k for h in self.members for k in h.history)
        return {name: self[name] for name in names}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self:
            raise KeyError(f"{name!r} was not recorded; recorded: {sorted(self.members[0].history)}")
        epochs = max(len(h.epochs) for h in self.members)
        table = np.full((epochs, len(self.members)), np.nan)
        for i, h in enumerate(self.members):
            values = h.history.get(name, [])
            table[: len(values), i] = values
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
# Training


def fit_ensemble(
    model: Model,
    loss,
    optimizer,
    train_data: tuple,
    *,
    epochs: int,
    batch_size: int = 32,
    n_members: Optional[int] = None,
    keys=None,
    key: Optional[jax.Array] = None,
    shared_order: bool = False,
    initial_state: Optional[TrainState] = None,
    validation_data: Optional[tuple] = None,
    metrics: Sequence = (),
    callbacks: Sequence[Callback] = (),
    augment=None,
    shuffle: bool = True,
    drop_remainder: bool = False,
    max_steps: Optional[int] = None,
    steps_per_epoch: Optional[int] = None,
    epoch_mode: str = "auto",
    on_nonfinite: str = "raise",
    eval_batch_size: int = 1000,
    chunk: Optional[int] = None,
    verbose: int = 1,
    mesh: Optional[jax.sharding.Mesh] = None,
    devices: Optional[Sequence[jax.Device]] = None,
) -> tuple[TrainState, EnsembleHistory]:
    """Trains ``M`` members of ``model`` in one vmapped program; returns ``(stacked state, history)``.

    The arguments are :func:`fnnet.train.fit`'s, applied to every member, plus:

    Args:
      n_members, keys, key: the members' PRNG keys (see :func:`member_keys`): ``keys`` (one per member)
        or ``n_members`` and ``key``. Member ``i`` uses ``keys[i]`` as ``fit`` uses its ``key``: for its
        initialization, its dropout/augmentation keys and its data order.
      shared_order: all members visit the examples in the same order (the first member's), so each step
        feeds the same batch to every member; the first layer's matrix products of all members then
        become one larger product. Initialization and dropout stay per member.
      initial_state: a stacked ``TrainState`` (leading axis ``M``) to continue from; it is not consumed.
        ``fnnet.search`` uses it to give the members different hyper-parameters.
      callbacks: every member gets its own deep copy of each callback (``history.callbacks[i]``), sees
        its own logs and state, and stops on its own: a stopped member's state is frozen at that epoch
        (``fit``'s result for it) while the others go on; training ends when all have stopped.
      chunk: train the members in groups of at most ``chunk``, one group after the other (one program
        per group), when ``M`` models do not fit in memory at once. The result equals the unchunked one.
      verbose: 1 prints one line per epoch with each quantity's mean and range over the members.
      mesh, devices: place the members on the devices of a 1-D :class:`jax.sharding.Mesh` (or of one built
        over ``devices``, see :mod:`fnnet.distributed`): each device holds and trains ``M / devices``
        whole members (with ``chunk``: ``chunk / devices`` at a time); the data is replicated and no
        gradient crosses devices. ``M`` (and ``chunk``) must be multiples of the device count. The
        result equals the unplaced run's up to float rounding.

    Returns:
      ``(state, history)``: ``state`` a :class:`~fnnet.train.TrainState` whose leaves have a leading
      member axis ``M`` (``member(state, i)`` is member ``i``'s), ``history`` an :class:`EnsembleHistory`.

    Raises:
      ValueError: bad arguments (as ``fit``), a key count that does not match ``n_members``, an
        ``initial_state`` whose member axis is not ``M``, ``chunk`` not a positive int.
      NonFiniteLossError: with ``on_nonfinite="raise"``, for the first member whose loss or gradient
        became NaN/Inf (its index is in the message; ``.state`` is that member's state).
    """
    keys = member_keys(n_members=n_members, keys=keys, key=key)
    m = keys.shape[0]
    if _statistics_callbacks(callbacks):
        raise ValueError("callbacks with in-step statistics (statistics_every > 0, e.g. TrainingMonitor) are "
                         "not supported by fit_ensemble; monitor one member with fnnet.fit")
    if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"chunk must be a positive int or None, got {chunk!r}")
    mesh = distributed.resolve_mesh(mesh, devices)
    if mesh is not None:
        distributed.check_divisible("the number of members", m, mesh)
        if chunk is not None:
            distributed.check_divisible("chunk", chunk, mesh)
    x, y, validation = _prepare_fit_inputs(
        model, loss, train_data, validation_data, epochs=epochs, batch_size=batch_size, drop_remainder=drop_remainder,
        max_steps=max_steps, steps_per_epoch=steps_per_epoch, epoch_mode=epoch_mode, on_nonfinite=on_nonfinite,
    )
    if initial_state is not None:
        steps = np.shape(initial_state.step)
        if steps != (m,):
            raise ValueError(f"initial_state must be a stacked TrainState with a leading member axis of {m} "
                             f"(one per key), got step of shape {steps}")
    tx = _resolve_optimizer(optimizer)
    mode = _default_epoch_mode(model) if epoch_mode == "auto" else epoch_mode
    trainer = _MemberTrainer(
        model, loss, tx, x, y, validation, metrics=metrics, augment=augment, mode=mode, epochs=epochs,
        plan=_EpochPlan(x.shape[0], batch_size, shuffle=shuffle, drop_remainder=drop_remainder,
                        steps_per_epoch=steps_per_epoch),
        max_steps=max_steps, on_nonfinite=on_nonfinite, eval_batch_size=eval_batch_size, verbose=verbose,
        mesh=mesh,
    )
    shuffle_keys = jax.vmap(jax.random.split)(keys)[:, 1]
    size = m if chunk is None else chunk
    states, members, member_callbacks = [], [], []
    history = EnsembleHistory(members=members, callbacks=member_callbacks, epoch_mode=mode)
    for start in range(0, m, size):
        part = slice(start, min(start + size, m))
        if initial_state is None:
            state = init_members(model, tx, keys[part], x[:1])
        else:
            state = _copy_tree(member(initial_state, part))  # the programs donate their state buffers
        order_keys = shuffle_keys[:1] if shared_order else shuffle_keys[part]
        chunk_callbacks = [[copy.deepcopy(cb) for cb in callbacks] for _ in range(part.stop - part.start)]
        state, chunk_history = trainer.run(state, order_keys, chunk_callbacks, shared_order=shared_order,
                                           first_member=start)
        states.append(state)
        members.extend(chunk_history.members)
        member_callbacks.extend(chunk_callbacks)
        history.compile_time += chunk_history.compile_time
        history.epoch_times = [a + b for a, b in _zip_longest_zero(history.epoch_times, chunk_history.epoch_times)]
    state = states[0] if len(states) == 1 else jax.tree.map(lambda *parts: jnp.concatenate(parts), *states)
    return state, history


def _zip_longest_zero(a: list, b: list):
    n = max(len(a), len(b))
    return zip(a + [0.0] * (n - len(a)), b + [0.0] * (n - len(b)))


def guarded_member_step(step, *, shared_order: bool = False):
    """``member_step(states, x, y) -> (states, logs)``: the unguarded ``step`` (``make_train_step(...,
    guard=False)``) vmapped over stacked members, x/y ``(M, batch, ...)`` (or ``(batch, ...)`` shared by
    all with ``shared_order``), and a member whose loss or gradient is not finite keeps its params,
    optimizer and model state (the step counter advances, as in ``fit``).

    One ``lax.cond`` on "every member finite" for the whole ensemble: vmapping ``fit``'s per-step
    ``lax.cond`` would turn it into a select over every parameter and optimizer leaf of every member on
    every step (one more pass over params and both Adam moments, ~0.9x on the MNIST MLP:
    ``benchmarks/cpu_paths.py --only mlp``); here that select only runs on steps where some member failed.
    """
    data_axis = None if shared_order else 0
    batched = jax.vmap(step, in_axes=(0, data_axis, data_axis))

    def member_step(states: TrainState, x, y):
        new, logs = batched(states, x, y)
        finite = logs["finite"]  # (M,)
        fresh = (new.params, new.opt_state, new.model_state)

        def keep_failed_members(_):
            def pick(new_leaf, old_leaf):
                return jnp.where(finite.reshape(finite.shape + (1,) * (jnp.ndim(new_leaf) - 1)), new_leaf, old_leaf)

            return jax.tree_util.tree_map(pick, fresh, (states.params, states.opt_state, states.model_state))

        params, opt_state, model_state = jax.lax.cond(jnp.all(finite), lambda _: fresh, keep_failed_members, None)
        return new.replace(params=params, opt_state=opt_state, model_state=model_state), logs

    return member_step


class _MemberTrainer:
    """Runs ``fit``'s epoch loop for a stacked group of members (one chunk)."""

    def __init__(self, model, loss, tx, x, y, validation, *, metrics, augment, mode, epochs, plan, max_steps,
                 on_nonfinite, eval_batch_size, verbose, mesh=None):
        if mesh is not None:  # every device holds the whole data set and its own members
            x, y, validation = distributed.replicate((x, y, validation), mesh)
        self.model, self.x, self.y, self.validation, self.mesh = model, x, y, validation, mesh
        self.mode, self.epochs, self.plan, self.max_steps = mode, epochs, plan, max_steps
        self.on_nonfinite, self.eval_batch_size, self.verbose = on_nonfinite, eval_batch_size, verbose
        self.loss_fn, self.metric_fns = _resolve_loss(loss), _resolve_metrics(metrics)
        self.step = make_train_step(model, loss, tx, metrics=metrics, augment=augment, guard=False)

    def _indices(self, order_keys, epoch: int, budget, shared_order: bool):
        """``(idx, rest)`` for one epoch: ``(steps, M, batch)``/``(1, M, rest)`` with per-member orders,
        or ``(steps, batch)``/``(1, rest)`` when all members share ``order_keys[0]``'s order."""
        if shared_order:
            return self.plan.indices(jax.random.fold_in(order_keys[0], epoch), budget)
        idx, rest = jax.vmap(lambda k: self.plan.indices(jax.random.fold_in(k, epoch), budget))(order_keys)
        return jnp.swapaxes(idx, 0, 1), (None if rest is None else jnp.swapaxes(rest, 0, 1))

    def _evaluate(self, state) -> dict:
        """Validation logs of every member: ``{"val_loss": (M,), "val_<metric>": (M,)}`` as numpy."""
        x_val, y_val = self.validation
        model, loss_fn, metric_fns = self.model, self.loss_fn, self.metric_fns
        outputs = jax.vmap(lambda p, s: _predict_arrays(model, p, s, x_val, self.eval_batch_size))(
            state.params, state.model_state)

        def logs(out, params):
            values = {"loss": loss_fn(out, y_val) + model.penalty(params)}
            values.update({name: fn(out, y_val) for name, fn in metric_fns.items()})
            return values

        return {f"val_{k}": np.asarray(v, np.float64) for k, v in jax.vmap(logs)(outputs, state.params).items()}

    def run(self, state: TrainState, order_keys, member_callbacks: list, *, shared_order: bool, first_member: int):
        """Trains the stacked ``state`` of ``len(member_callbacks)`` members; returns the final stacked
        state and an :class:`EnsembleHistory` of these members."""
        m = len(member_callbacks)
        member_step = guarded_member_step(self.step, shared_order=shared_order)
        idx_sharding = None
        if self.mesh is not None:
            member_step = distributed.member_parallel_step(member_step, self.mesh, per_member_batches=not shared_order)
            state = distributed.shard_leading_axis(state, self.mesh)
            idx_sharding = distributed.replicated(self.mesh)
        programs = _EpochPrograms(member_step, compiler_options=_compiler_options(self.model))
        histories = [History(epoch_mode=self.mode) for _ in range(m)]
        result = EnsembleHistory(members=histories, callbacks=member_callbacks, epoch_mode=self.mode)
        plan = self.plan
        if plan.full_batches:
            idx_shape = (plan.full_batches, plan.batch_size) if shared_order else (plan.full_batches, m, plan.batch_size)
            result.compile_time = programs.precompile(self.mode, state, self.x, self.y, idx_shape, idx_sharding)
        has_callbacks = any(member_callbacks)
        for i, cbs in enumerate(member_callbacks):
            for cb in cbs:
                cb.on_train_begin(member(state, i), histories[i])
        first_steps = np.asarray(state.step)
        active = np.ones(m, bool)
        frozen: dict[int, TrainState] = {}
        steps_done = 0
        names = ["loss", *self.metric_fns]
        for epoch in range(self.epochs):
            t_epoch = time.perf_counter()
            budget = None if self.max_steps is None else self.max_steps - steps_done
            idx, rest = self._indices(order_keys, epoch, budget, shared_order)
            if self.mesh is not None:
                idx, rest = distributed.replicate((idx, rest), self.mesh)
            state, step_logs = _run_epoch(programs, self.mode, state, self.x, self.y, idx, rest)
            host = jax.device_get([logs for logs, _ in step_logs])
            weights = [w for _, w in step_logs]
            epoch_steps = sum(len(h["finite"]) for h in host)
            reduced = [_reduce_step_logs([(jax.tree.map(lambda a: a[:, i], h), w) for h, w in zip(host, weights)],
                                         names) for i in range(m)]
            for i in np.flatnonzero(active):
                bad = reduced[i][1]
                if bad and self.on_nonfinite == "raise":
                    global_step = int(first_steps[i]) + steps_done + bad[0]
                    raise NonFiniteLossError(
                        f"member {first_member + i}: non-finite loss or gradient at step {global_step} (epoch "
                        f"{epoch + 1}, batch {bad[0] + 1} of {epoch_steps}); lower the learning rate, clip "
                        "gradients (clip_norm=...) or check the data. That step's update was not applied; the "
                        "member's state is available as this exception's .state",
                        step=global_step, epoch=epoch, batch=bad[0], state=member(state, i),
                    )
            steps_done += epoch_steps
            val_logs = self._evaluate(state) if self.validation is not None else {}
            seconds = time.perf_counter() - t_epoch
            result.epoch_times.append(seconds)
            for i in np.flatnonzero(active):
                epoch_logs, bad = reduced[i]
                epoch_logs.update({k: float(v[i]) for k, v in val_logs.items()})
                histories[i].steps += epoch_steps
                histories[i].skipped_steps += len(bad)
                histories[i].append(epoch, epoch_logs, seconds)
            if self.verbose:
                print(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.2f}s - members {first_member}-{first_member + m - 1}"
                      f" ({int(active.sum())} training) - "
                      + _format_member_logs([histories[i] for i in np.flatnonzero(active)]), flush=True)
            if has_callbacks:
                for i in np.flatnonzero(active):
                    state_i = member(state, i)
                    stop = False
                    for cb in member_callbacks[i]:
                        stop = bool(cb.on_epoch_end(epoch, histories[i].last(), state_i)) or stop
                    if stop:
                        active[i] = False
                        frozen[i] = state_i
                        histories[i].stopped_early = True
                if not active.any():
                    break
            if self.max_steps is not None and steps_done >= self.max_steps:
                break
        return self._finish(state, frozen, member_callbacks), result

    @staticmethod
    def _finish(state, frozen: dict, member_callbacks: list) -> TrainState:
        """Puts back the members frozen when they stopped and the states their callbacks hand back."""
        finals = {}
        for i, cbs in enumerate(member_callbacks):
            current = frozen.get(i)
            for cb in cbs:
                replacement = cb.on_train_end(current if current is not None else member(state, i))
                if replacement is not None:
                    current = replacement
            if current is not None:
                finals[i] = current
        if not finals:
            return state
        return stack([finals[i] if i in finals else member(state, i) for i in range(len(member_callbacks))])


def _format_member_logs(histories: list) -> str:
    parts = []
    for name in histories[0].history:
        values = np.array([h.history[name][-1] for h in histories])
        parts.append(f"{name}: {values.mean():.4f} [{values.min():.4f}, {values.max():.4f}]")
    return " - ".join(parts)


# ----------------------------------------------------------------------------------------------
# Prediction


def _stacked_params_and_state(state_or_params, model_state) -> tuple[PyTree, PyTree]:
    if isinstance(state_or_params, TrainState):
        params, state = state_or_params.params, state_or_params.model_state
    else:
        params, state = state_or_params, {}
    state = model_state if model_state is not None else state
    num_members(params)
    return params, state


def predict_members(model: Model, state_or_params, x, *, batch_size: int = 1000, model_state=None) -> jax.Array:
    """Every member's outputs (logits for classifiers) for ``x`` in evaluation mode: ``(M, N, ...)``.

    ``state_or_params``: a stacked TrainState (from :func:`fit_ensemble`) or stacked params (e.g.
    :func:`stack` of several runs' params, :meth:`Snapshots.stacked`); stacked ``model_state`` for
    models with BatchNorm."""
    params, state = _stacked_params_and_state(state_or_params, model_state)
    x = _checks.as_array("x", x)
    _checks.check_finite("x", x)
    if np.ndim(x) < 1 or np.shape(x)[0] == 0:
        raise ValueError(f"x must be a non-empty batch, got shape {np.shape(x)}")
    in_axes = (0, 0 if jax.tree.leaves(state) else None)
    return jax.vmap(lambda p, s: _predict_arrays(model, p, s, x, batch_size), in_axes=in_axes)(params, state)


def class_probabilities(outputs) -> jax.Array:
    """Members' logits ``(M, N, C)`` -> class probabilities ``(M, N, C)`` (softmax); single-logit binary
    outputs ``(M, N, 1)`` -> ``(M, N, 2)`` columns ``[1 - p, p]`` with ``p = sigmoid(logit)``."""
    outputs = jnp.asarray(outputs)
    _checks.check_ndim("outputs", outputs, 3)
    if outputs.shape[-1] == 1:
        p = jax.nn.sigmoid(outputs)
        return jnp.concatenate([1.0 - p, p], axis=-1)
    return jax.nn.softmax(outputs, axis=-1)


def combine(probabilities, method: str = "average") -> jax.Array:
    """Combines members' class probabilities ``(M, N, C)`` into ensemble scores ``(N, C)``.

    * ``"average"``: the mean probability of each class over the members.
    * ``"vote"``: one vote per member for its most probable class; the score is the fraction of
      votes. ``argmax`` of the scores breaks ties towards the lowest class index.
    * ``"weighted_vote"``: each member votes for its most probable class with a weight equal to its
      confidence (that class's probability); scores are the weights' shares, summing to 1 per example.
    """
    _checks.check_choice("method", method, METHODS)
    probs = jnp.asarray(probabilities)
    _checks.check_ndim("probabilities", probs, 3)
    if method == "average":
        return probs.mean(axis=0)
    votes = jax.nn.one_hot(jnp.argmax(probs, axis=-1), probs.shape[-1], dtype=probs.dtype)  # (M, N, C)
    if method == "vote":
        return votes.mean(axis=0)
    weighted = votes * probs.max(axis=-1, keepdims=True)
    return weighted.sum(axis=0) / weighted.sum(axis=(0, 2))[:, None]


def ensemble_predict(model: Model, state_or_params, x, *, method: str = "average", batch_size: int = 1000,
                     model_state=None) -> jax.Array:
    """Ensemble class scores ``(N, C)`` for ``x`` (see :func:`combine`; ``argmax`` gives the labels)."""
    _checks.check_choice("method", method, METHODS)
    outputs = predict_members(model, state_or_params, x, batch_size=batch_size, model_state=model_state)
    return combine(class_probabilities(outputs), method)


def accuracies(probabilities, labels, *, methods: Sequence[str] = METHODS) -> dict:
    """Accuracy of each member and of the ensemble by each method, from the members' class
    probabilities ``(M, N, C)`` and labels: integers ``(N,)`` or one-hot rows ``(N, C)``.

    Returns ``{"members": (M,) float64 array, "best_member": float, "best_member_index": int,
    "mean_member": float, <method>: float, ...}``."""
    for method in methods:
        _checks.check_choice("methods", method, METHODS)
    probs = jnp.asarray(probabilities)
    _checks.check_ndim("probabilities", probs, 3)
    y = np.asarray(_checks.as_array("labels", labels))
    labels = y.argmax(-1) if y.ndim == 2 else y.reshape(-1)
    if labels.shape[0] != probs.shape[1]:
        raise ValueError(f"labels has {labels.shape[0]} labels but probabilities has {probs.shape[1]} examples")
    members = np.asarray(jnp.mean(jnp.argmax(probs, -1) == labels[None, :], axis=1), np.float64)
    results = {"members": members, "best_member": float(members.max()),
               "best_member_index": int(members.argmax()), "mean_member": float(members.mean())}
    for method in methods:
        results[method] = float(jnp.mean(jnp.argmax(combine(probs, method), -1) == labels))
    return results


def evaluate_ensemble(model: Model, state_or_params, x, y, *, methods: Sequence[str] = METHODS,
                      batch_size: int = 1000, model_state=None) -> dict:
    """Test accuracy of each member, of the best single member, and of the ensemble by each method
    (see :func:`accuracies`); ``y``: integer labels ``(N,)`` or one-hot rows ``(N, C)``."""
    for method in methods:
        _checks.check_choice("methods", method, METHODS)
    _checks.check_same_length(x=x, y=y)  # before the (costly) predictions
    outputs = predict_members(model, state_or_params, x, batch_size=batch_size, model_state=model_state)
    return accuracies(class_probabilities(outputs), y, methods=methods)


# ----------------------------------------------------------------------------------------------
# Snapshot ensembles


class Snapshots(Callback):
    """Keeps copies of the params and model state at chosen epochs of a run (a "snapshot ensemble":
    the checkpoints of ONE run used as ensemble members, as the jhui seed suggests).

    ``epochs``: the epoch indices to keep, as callbacks count them (0 = after the first epoch);
    ``every``: keep every ``every``-th epoch (after epochs ``every``, ``2 * every``... counted from 1).
    Optionally ``monitor`` records that log value with each snapshot (``values``).
    After training, :meth:`stacked` returns ``(params, model_state)`` with a leading member axis, for
    :func:`predict_members`, :func:`ensemble_predict` and :func:`evaluate_ensemble`.
    Under :func:`fit_ensemble` every member keeps its own snapshots (``history.callbacks[i]``).
    """

    def __init__(self, epochs: Optional[Sequence[int]] = None, *, every: Optional[int] = None,
                 monitor: Optional[str] = None):
        if (epochs is None) == (every is None):
            raise ValueError("give Snapshots either epochs=[...] (0-based epoch indices) or every=N")
        if every is not None and (not isinstance(every, int) or every < 1):
            raise ValueError(f"every must be a positive int, got {every!r}")
        if epochs is not None:
            epochs = sorted(set(epochs))
            if not epochs or any(not isinstance(e, (int, np.integer)) or e < 0 for e in epochs):
                raise ValueError(f"epochs must be non-empty non-negative epoch indices, got {epochs!r}")
        self.wanted, self.every, self.monitor = epochs, every, monitor
        self._reset()

    def _reset(self):
        self.epochs: list[int] = []
        self.values: list[float] = []
        self._params: list = []
        self._model_states: list = []

    def on_train_begin(self, state, history):
        self._reset()

    def _selected(self, epoch: int) -> bool:
        return (epoch + 1) % self.every == 0 if self.every is not None else epoch in self.wanted

    def on_epoch_end(self, epoch, logs, state):
        if self._selected(epoch):
            # fit donates the state's buffers to the next epoch: keep copies, not references.
            self._params.append(jax.tree.map(jnp.copy, state.params))
            self._model_states.append(jax.tree.map(jnp.copy, state.model_state))
            self.epochs.append(epoch)
            if self.monitor is not None:
                if self.monitor not in logs:
                    raise ValueError(f"Snapshots monitors {self.monitor!r} but the logs only have {sorted(logs)}")
                self.values.append(float(logs[self.monitor]))
        return False

    def __len__(self) -> int:
        return len(self.epochs)

    def stacked(self, best: Optional[int] = None, mode: str = "auto") -> tuple[PyTree, PyTree]:
        """``(params, model_state)`` of the kept snapshots stacked along a leading member axis.

        ``best=k`` keeps only the ``k`` snapshots with the best ``monitor`` values ("we pick the best
        models from the checkpoints"), in epoch order."""
        if not self.epochs:
            raise ValueError("no snapshot was taken: the run ended before any chosen epoch")
        chosen = list(range(len(self.epochs)))
        if best is not None:
            if self.monitor is None:
                raise ValueError("best= needs Snapshots(monitor=...) to rank the snapshots")
            if not isinstance(best, int) or not 1 <= best <= len(chosen):
                raise ValueError(f"best must be an int in [1, {len(chosen)}], got {best!r}")
            order = np.argsort(self.values)
            if _resolve_mode(self.monitor, mode) == "max":
                order = order[::-1]
            chosen = sorted(int(i) for i in order[:best])
        return stack([self._params[i] for i in chosen]), stack([self._model_states[i] for i in chosen])


def checkpoint_snapshots(directory, model: Model, optimizer, x_sample, *,
                         steps: Optional[Sequence[int]] = None) -> tuple[PyTree, PyTree]:
    """A snapshot ensemble from the checkpoints ``fit(..., checkpoint_dir=directory)`` wrote: the params
    and model state of the chosen checkpoints stacked along a leading member axis, like
    :meth:`Snapshots.stacked` (for :func:`predict_members`, :func:`ensemble_predict`,
    :func:`evaluate_ensemble`).

    Args:
      directory, model, optimizer, x_sample: as for :func:`fnnet.checkpoint.restore`.
      steps: the checkpoint steps to use, oldest first (default: every checkpoint in ``directory``;
        ``fit`` keeps the newest ``keep`` of them, 3 by default, plus the best with ``keep_best``).

    Raises:
      ValueError: no checkpoint in ``directory``, or a step that is not one of the saved ones.
    """
    available = checkpoint.steps(directory)
    chosen = available if steps is None else list(steps)
    if not chosen:
        raise ValueError(f"directory holds no checkpoints to build a snapshot ensemble from: {directory}")
    unknown = [step for step in chosen if step not in available]
    if unknown:
        raise ValueError(f"steps must be saved checkpoint steps {available}, got {unknown}")
    states = [checkpoint.restore(directory, model, optimizer, x_sample, step=step)[0] for step in chosen]
    return stack([state.params for state in states]), stack([state.model_state for state in states])
