"""Training one model: ``fit``, ``evaluate``, ``predict``, and the pure pieces underneath.

::

    state, history = fit(model, "softmax_cross_entropy", optimizer("adam", 1e-3), (x, y),
                         epochs=10, batch_size=128, validation_data=(xv, yv), metrics=["accuracy"],
                         callbacks=[EarlyStopping("val_accuracy", patience=5)], key=jax.random.key(0))

``fit`` is the one-member case of the training engine (:mod:`fnnet.engine`): the data stays on the
device, each epoch is one compiled program (a ``lax.scan`` over the batches, or a loop over a compiled
step where that is faster), and the programs are cached, so a second ``fit`` with the same model, loss,
optimizer kind, metrics and shapes compiles nothing (learning rates and the other optimizer numbers are
inputs of the program). Shuffling, dropout and augmentation draw from keys derived from ``key``: the
same key gives bitwise-identical results.

The pieces, for use on their own::

    state = create_train_state(model, optimizer, key, x[:1])   # params, opt_state, model_state, step, epoch, key
    step  = jax.jit(make_train_step(model, loss, optimizer, metrics=["accuracy"]))
    state, logs = step(state, x_batch, y_batch)                # one optimizer step, pure
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks, engine, optim
from fnnet.engine import inputs
from fnnet.engine import programs as programs_lib
from fnnet.engine.options import Checkpointing, TrainOptions
from fnnet.objective import check_model, make_objective
from fnnet.state import History, NonFiniteError, NonFiniteLossError, StepStatistics, TrainState

PyTree = Any

__all__ = [
    "Checkpointing", "History", "NonFiniteError", "NonFiniteLossError", "TrainOptions", "TrainState",
    "create_train_state", "evaluate", "fit", "make_eval_step", "make_train_step", "predict", "predict_proba",
]


def resolve_optimizer(optimizer):
    """An optax transformation, or a name (any case) for :func:`fnnet.optim.optimizer` with its defaults."""
    if isinstance(optimizer, str):
        return optim.optimizer(optimizer)
    if not hasattr(optimizer, "init") or not hasattr(optimizer, "update"):
        raise ValueError(f"optimizer must be an optax GradientTransformation (e.g. fnnet.optim.optimizer('adam', "
                         f"1e-3)) or an optimizer name, got {type(optimizer).__name__}")
    return optimizer


def create_train_state(model, optimizer, key: jax.Array, x_sample, *, params=None) -> TrainState:
    """A :class:`TrainState` at step 0: params from ``key`` (unless given), the optimizer state, the
    per-step key (``key`` is split into the init key and the key of per-step randomness)."""
    _checks.check_key("key", key)
    check_model(model)
    x_sample = inputs.as_examples("x_sample", x_sample)
    return programs_lib.init_state(model, resolve_optimizer(optimizer), key, x_sample, params=params)


def make_train_step(model, loss, optimizer, *, metrics: Sequence = (), augment: Optional[Callable] = None,
                    statistics: Sequence[StepStatistics] = (), guard: bool = True):
    """The pure function ``train_step(state, x, y) -> (new_state, logs)`` that ``fit`` compiles.

    ``logs`` holds scalars: ``loss`` (data loss + the model's weight penalties, as Keras reports it), each
    metric on the training-mode outputs, ``finite``, and ``statistics`` (one entry per in-step statistic).
    With ``guard`` a step whose loss or new parameters are not finite leaves params, optimizer and model
    state unchanged (the step count advances); ``guard=False`` applies every update and only reports
    ``finite``. ``augment(key, x) -> x`` runs inside the step.
    """
    objective = make_objective(model, loss, metrics)
    tx = resolve_optimizer(optimizer)
    statistics = tuple(statistics)
    spec = programs_lib.StepSpec.make(objective, tx, augment=augment, statistics=statistics, skip_nonfinite=guard)
    step = programs_lib.member_step(spec, guard=guard)
    data = tuple(s.data for s in statistics)

    def train_step(state: TrainState, x, y):
        return step(state, x, y, state.step, data)

    return train_step


def make_eval_step(model, loss, *, metrics: Sequence = ()):
    """``eval_step(state, x, y) -> logs``: loss (with penalties) and metrics in evaluation mode."""
    objective = make_objective(model, loss, metrics)

    def eval_step(state: TrainState, x, y):
        outputs = model.apply(state.params, x, state=state.model_state)[0]
        return objective.logs(state.params, outputs, y)

    return eval_step


def fit(
    model,
    loss,
    optimizer,
    train_data: tuple,
    *,
    epochs: int,
    batch_size: int = 32,
    key: jax.Array,
    validation_data: Optional[tuple] = None,
    validation_split: Optional[float] = None,
    metrics: Sequence = (),
    callbacks: Sequence = (),
    augment: Optional[Callable] = None,
    initial_state: Optional[TrainState] = None,
    verbose: int = 1,
    checkpoint: Optional[Checkpointing] = None,
    devices=None,
    options: Optional[TrainOptions] = None,
    **deprecated,
) -> tuple[TrainState, History]:
    """Trains ``model`` on ``train_data = (x, y)``; returns ``(final_state, history)``.

    Args:
      model: an fnnet :class:`~fnnet.models.Model` (ending in logits for classification).
      loss: a loss name (``"softmax_cross_entropy"``, ``"binary_crossentropy"``, ``"mse"``..., any case) or a
        function ``loss(outputs, y) -> scalar``.
      optimizer: an optax ``GradientTransformation`` (e.g. ``fnnet.optim.optimizer("adam", 1e-3)``) or a name.
      train_data: ``(x, y)`` arrays with the same leading length ``N``.
      epochs: passes over the data in this call. A run continued from ``initial_state`` numbers its epochs
        on from ``initial_state.epoch`` (Keras' ``initial_epoch``).
      batch_size: examples per step; the last batch of an epoch is smaller (unless
        ``options.drop_remainder``); above ``N`` it is one batch of all examples.
      key: a PRNG key (``jax.random.key(0)``) driving initialization, shuffling, dropout and augmentation.
      validation_data: ``(x_val, y_val)``, evaluated after every epoch in evaluation mode
        (logged as ``val_loss``, ``val_<metric>``).
      validation_split: instead of ``validation_data``: hold out the last fraction of ``train_data``
        (before shuffling), as Keras.
      metrics: metric names or functions ``metric(outputs, y) -> scalar``.
      callbacks: e.g. ``[EarlyStopping("val_accuracy", patience=5)]`` (see :mod:`fnnet.callbacks`).
      augment: ``augment(key, x_batch) -> x_batch`` applied to every training batch inside the compiled step.
      initial_state: continue from this state (its step and epoch counts go on); it is not consumed.
      verbose: 1 a per-batch progress bar per epoch, 2 one line per epoch, 0 silent.
      checkpoint: :class:`~fnnet.Checkpointing` ``(directory, every=, keep=, keep_best=, resume=)``.
      devices: data-parallel training over a 1-D :class:`jax.sharding.Mesh` or a list of devices: every
        batch is split over them, params replicated, XLA all-reduces the gradients (``batch_size`` a multiple
        of the device count).
      options: :class:`~fnnet.TrainOptions` (shuffling, partial batches, steps per epoch, a step budget,
        the epoch mode, non-finite handling, the evaluation batch size).

    Returns:
      ``(state, history)``: the final :class:`TrainState` (or the one a callback handed back, e.g. the best
      weights) and the :class:`History`.

    Raises:
      ValueError: a bad argument, named (before anything is compiled).
      NonFiniteError: (``options.on_nonfinite="raise"``) at the first step whose loss, gradient or new
        parameters are NaN/Inf; its ``.state`` is the state before that step.
      CheckpointError: a checkpoint directory that cannot be used or resumed.
    """
    options, checkpoint, devices = inputs.resolve_options(options, checkpoint, devices, deprecated, front="fit")
    _checks.check_key("key", key)
    _checks.check_int("epochs", epochs)
    _checks.check_int("batch_size", batch_size)
    if options.chunk is not None or options.member_layout != "auto":
        raise ValueError("TrainOptions.chunk and member_layout apply to populations (fit_ensemble, fit_sweep), "
                         "not to fit")
    objective = make_objective(model, loss, metrics)
    tx = resolve_optimizer(optimizer)
    callbacks = inputs.check_callbacks(callbacks)
    x, y, validation = inputs.prepare_training_data(objective, train_data, validation_data, validation_split)
    mesh = inputs.resolve_mesh(devices)
    init_key, shuffle_key = jax.random.split(key)
    if initial_state is None:
        state = programs_lib.init_state(model, tx, init_key, x[:1])
    else:
        state = inputs.copy_state(inputs.check_state("initial_state", initial_state))
        inputs.check_members_params("initial_state.params", state.params, model, x[:1])
    run = engine.train(objective, tx, engine.Population(state, shuffle_key), x, y, epochs=epochs,
                       batch_size=batch_size, options=options, validation=validation, callbacks=[callbacks],
                       augment=augment, verbose=verbose, checkpoint=checkpoint, mesh=mesh)
    history = run.histories[0]
    history.epoch_mode = run.mode
    return run.state, history


def _params_and_state(state_or_params, model_state, *, front: str):
    if isinstance(state_or_params, TrainState):
        params, state = state_or_params.params, state_or_params.model_state
        if np.ndim(state_or_params.step) != 0:
            raise ValueError(f"{front} got a population's stacked state (step of shape "
                             f"{np.shape(state_or_params.step)}); use fnnet.ensemble.predict_members / "
                             "ensemble_predict / evaluate_ensemble, or one member: fnnet.tree.member(state, i)")
    else:
        params, state = state_or_params, None
    return params, model_state if model_state is not None else (state if state is not None else {})


def _check_batch_size(value) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"batch_size must be a positive int, got {value!r}")


def predict(model, state_or_params, x, *, batch_size: int = 1000, model_state=None) -> jax.Array:
    """Model outputs (logits for classifiers) for ``x`` in evaluation mode, ``batch_size`` examples at a
    time inside one compiled program (cached per model, batch size and input shape).

    ``state_or_params``: a :class:`TrainState` or a params tree (then pass ``model_state`` for models
    with BatchNorm)."""
    check_model(model)
    _check_batch_size(batch_size)
    params, state = _params_and_state(state_or_params, model_state, front="predict")
    x = inputs.as_examples("x", x)
    _check_fits(model, params, state, x)
    return programs_lib.forward_program(model, int(batch_size))(params, state, jnp.asarray(x))


def _check_fits(model, params, model_state, x) -> None:
    """Runs the model's own input checks (names the layer) abstractly, before the compiled program."""
    jax.eval_shape(lambda p, s, xb: model.apply(p, xb, state=s)[0], params, model_state,
                   jax.ShapeDtypeStruct((1, *np.shape(x)[1:]), jnp.result_type(np.asarray(x[:0]).dtype)))


def predict_proba(model, state_or_params, x, **kwargs) -> jax.Array:
    """Class probabilities: softmax of the logits, or sigmoid for a single-logit binary model."""
    logits = predict(model, state_or_params, x, **kwargs)
    return jax.nn.sigmoid(logits) if logits.shape[-1] == 1 else jax.nn.softmax(logits, axis=-1)


def evaluate(model, state_or_params, x, y, *, loss, metrics: Sequence = (), batch_size: int = 1000,
             model_state=None) -> dict:
    """Loss (including weight penalties) and metrics over ``(x, y)`` in evaluation mode, as floats.

    The outputs are computed in batches and the loss and metrics on all of them at once, so the result is
    the exact mean over the data set whatever the batch size. One compiled program, cached."""
    _check_batch_size(batch_size)
    params, state = _params_and_state(state_or_params, model_state, front="evaluate")
    objective = make_objective(model, loss, metrics)
    objective.check_logits()
    x, y = inputs.prepare_pair(objective, (x, y), name="(x, y)", names=("x", "y"))
    _check_fits(model, params, state, x)
    logs = programs_lib.eval_program(objective, int(batch_size), "single")(params, state, x, y)
    return {k: float(v) for k, v in jax.device_get(logs).items()}
