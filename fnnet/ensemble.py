"""Ensembles trained as one compiled program, and the ways to combine their predictions.

``fit_ensemble`` trains ``M`` copies of a model, each from its own key (initialization, dropout, data
order), in ONE compiled program of the training engine that also runs :func:`fnnet.fit` (its population
case: one batched step for all members, or a compiled loop over them). Parameters are *stacked*: every
leaf of the returned ``TrainState`` has a leading member axis of length ``M``::

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

from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks, checkpoint, engine
from fnnet.callbacks import Callback, resolve_mode
from fnnet.engine import inputs
from fnnet.engine import programs as programs_lib
from fnnet.engine.options import Checkpointing, TrainOptions
from fnnet.models.core import Model
from fnnet.objective import check_model, make_objective
from fnnet.state import PopulationHistory, TrainState
from fnnet.train import resolve_optimizer
from fnnet.tree import member, num_members, stack  # noqa: F401  (member: re-exported as fnnet.ensemble.member)

PyTree = Any

METHODS = ("average", "vote", "weighted_vote")


# ----------------------------------------------------------------------------------------------
# Stacked trees


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
    _checks.check_int("n_members", n_members)
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
    """The stacked :class:`~fnnet.state.TrainState` the members start from: member ``i`` is the state
    ``fit(..., key=keys[i])`` starts from (its init key is the first half of ``split(keys[i])``)."""
    init_keys = jax.vmap(jax.random.split)(_as_key_array(keys))[:, 0]
    return programs_lib.init_population(model, resolve_optimizer(optimizer), init_keys, x_sample)


EnsembleHistory = PopulationHistory  # the name of fnnet 0.1


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
    validation_split: Optional[float] = None,
    metrics: Sequence = (),
    callbacks: Sequence[Callback] = (),
    augment=None,
    verbose: int = 1,
    checkpoint: Optional[Checkpointing] = None,
    devices=None,
    options: Optional[TrainOptions] = None,
    **deprecated,
) -> tuple[TrainState, PopulationHistory]:
    """Trains ``M`` members of ``model`` in one compiled program; returns ``(stacked state, history)``.

    The arguments are :func:`fnnet.fit`'s, applied to every member (the same training loop runs them:
    validation, progress, callbacks and early stopping, checkpoints with bitwise resume, in-step
    statistics, the non-finite guard), plus:

    Args:
      n_members, keys, key: the members' PRNG keys (see :func:`member_keys`): ``keys`` (one per member)
        or ``n_members`` and ``key``. Member ``i`` uses ``keys[i]`` as ``fit`` uses its ``key``: for its
        initialization, its dropout/augmentation keys and its data order.
      shared_order: all members visit the examples in the same order (the first member's), so each step
        feeds the same batch to every member. Initialization and dropout stay per member.
      initial_state: a stacked ``TrainState`` (leading axis ``M``) to continue from; it is not consumed.
        ``fnnet.search`` uses it to give the members different hyper-parameters.
      callbacks: every member gets its own deep copy of each callback (``history.callbacks[i]``), sees its
        own logs and state, and stops on its own: a stopped member's state is kept at that epoch (``fit``'s
        result for it) while the others go on; training ends when all have stopped.
      devices: place the members on the devices of a 1-D mesh (or a list of devices): each device trains
        ``M / devices`` whole members; the data is replicated and no gradient crosses devices.
      options: as for ``fit``, plus ``member_layout`` (``"vmap"``: one batched step for all members;
        ``"map"``: a compiled loop over the members inside one program; ``"auto"``: chosen per backend and
        member size) and ``chunk`` (train at most that many members at a time).

    Returns:
      ``(state, history)``: ``state`` a :class:`~fnnet.state.TrainState` whose leaves have a leading member
      axis ``M`` (``member(state, i)`` is member ``i``'s), ``history`` a :class:`~fnnet.state.PopulationHistory`.
      Member ``i`` equals ``fit(model, loss, optimizer, data, key=keys[i], ...)`` up to float rounding of
      the batched products (bitwise with ``member_layout="map"``; README, "How equal 'equal' is", gives the
      measured gap).

    Raises:
      ValueError: bad arguments (as ``fit``), a key count that does not match ``n_members``, an
        ``initial_state`` whose member axis is not ``M``.
      NonFiniteError: with ``on_nonfinite="raise"``, for the first member whose loss, gradient or
        parameters became NaN/Inf (``.member``; ``.state`` is that member's state before the step).
    """
    options, checkpoint, devices = inputs.resolve_options(options, checkpoint, devices, deprecated,
                                                          front="fit_ensemble")
    keys = member_keys(n_members=n_members, keys=keys, key=key)
    m = keys.shape[0]
    _checks.check_int("epochs", epochs)
    _checks.check_int("batch_size", batch_size)
    _checks.check_bool("shared_order", shared_order)
    objective = make_objective(model, loss, metrics)
    tx = resolve_optimizer(optimizer)
    callbacks = inputs.check_callbacks(callbacks)
    x, y, validation = inputs.prepare_training_data(objective, train_data, validation_data, validation_split)
    mesh = inputs.resolve_mesh(devices)
    if initial_state is None:
        state = init_members(model, tx, keys, x[:1])
    else:
        state = inputs.copy_state(inputs.check_state("initial_state", initial_state, stacked=m))
    order_keys = jax.vmap(jax.random.split)(keys)[:, 1]
    if shared_order:
        order_keys = order_keys[:1]
    layout = engine.choose_layout(options.member_layout, model=model, params=state.params, batch_size=batch_size,
                                  members=m, mesh=mesh)
    population = engine.Population(state, order_keys, layout=layout)
    run = engine.train(objective, tx, population, x, y, epochs=epochs, batch_size=batch_size, options=options,
                       validation=validation, callbacks=inputs.member_callbacks(callbacks, m), augment=augment,
                       verbose=verbose, checkpoint=checkpoint, mesh=mesh)
    callbacks_hook = next(h for h in run.hooks if isinstance(h, engine.hooks_lib.Callbacks))
    history = PopulationHistory(members=run.histories, callbacks=callbacks_hook.per_member,
                                epoch_times=[float(t) for t in run.histories[0].epoch_times] if run.histories else [],
                                compile_time=run.compile_seconds, epoch_mode=run.mode, member_layout=layout)
    return run.state, history


# ----------------------------------------------------------------------------------------------
# Prediction


def _stacked_params_and_state(model, state_or_params, model_state, x) -> tuple[PyTree, PyTree]:
    """The members' params and model state, checked against ``model`` for inputs like ``x``."""
    check_model(model)
    if isinstance(state_or_params, TrainState):
        params, state = state_or_params.params, state_or_params.model_state
    else:
        params, state = state_or_params, {}
    state = model_state if model_state is not None else state
    inputs.check_members_params("state_or_params", params, model, x[:1], stacked=True)
    num_members(params)
    return params, state


def predict_members(model: Model, state_or_params, x, *, batch_size: int = 1000, model_state=None) -> jax.Array:
    """Every member's outputs (logits for classifiers) for ``x`` in evaluation mode: ``(M, N, ...)``.

    ``state_or_params``: a stacked TrainState (from :func:`fit_ensemble`) or stacked params (e.g.
    :func:`stack` of several runs' params, :meth:`Snapshots.stacked`); stacked ``model_state`` for
    models with BatchNorm."""
    x = inputs.as_examples("x", x)
    params, state = _stacked_params_and_state(model, state_or_params, model_state, x)
    _checks.check_int("batch_size", batch_size)
    return programs_lib.forward_program(model, batch_size, "vmap")(params, state, jnp.asarray(x))


def class_probabilities(outputs) -> jax.Array:
    """Members' logits ``(M, N, C)`` -> class probabilities ``(M, N, C)`` (softmax); single-logit binary
    outputs ``(M, N, 1)`` -> ``(M, N, 2)`` columns ``[1 - p, p]`` with ``p = sigmoid(logit)``."""
    outputs = jnp.asarray(outputs)
    _checks.check_ndim("outputs", outputs, 3)
    if outputs.shape[-1] == 1:
        p = jax.nn.sigmoid(outputs)
        return jnp.concatenate([1.0 - p, p], axis=-1)
    return jax.nn.softmax(outputs, axis=-1)


def check_probabilities(probabilities) -> jax.Array:
    """Members' class probabilities ``(M, N, C)`` as an array, checked: values in [0, 1], each row summing
    to 1 (logits given here would be combined into meaningless scores: use :func:`class_probabilities`)."""
    probs = jnp.asarray(_checks.as_array("probabilities", probabilities))
    _checks.check_ndim("probabilities", probs, 3)
    try:
        _checks.check_range("probabilities", probs, 0.0, 1.0)
        _checks.check_rows_sum_to_one("probabilities", probs)
    except ValueError as err:
        raise ValueError(f"{err} (members' logits become probabilities with "
                         "fnnet.ensemble.class_probabilities)") from None
    return probs


def combine(probabilities, method: str = "average") -> jax.Array:
    """Combines members' class probabilities ``(M, N, C)`` into ensemble scores ``(N, C)``.

    * ``"average"``: the mean probability of each class over the members.
    * ``"vote"``: one vote per member for its most probable class; the score is the fraction of
      votes. ``argmax`` of the scores breaks ties towards the lowest class index.
    * ``"weighted_vote"``: each member votes for its most probable class with a weight equal to its
      confidence (that class's probability); scores are the weights' shares, summing to 1 per example.
    """
    _checks.check_choice("method", method, METHODS)
    probs = check_probabilities(probabilities)
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
    probs = check_probabilities(probabilities)
    y = np.asarray(_checks.as_array("labels", labels))
    _checks.check_labels("labels", y, probs.shape[-1])
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
        _checks.check_int("every", every, allow_none=True)
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
            if resolve_mode(self.monitor, mode) == "max":
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
