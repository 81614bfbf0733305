"""Compiled training: a train state, jit-compiled steps, whole epochs under ``lax.scan``, and ``fit``.

The pieces, smallest first::

    state = create_train_state(model, optimizer, key, x[:1])     # params, opt_state, model_state, step, key
    step  = make_train_step(model, loss, optimizer, metrics=["accuracy"])
    state, logs = jax.jit(step)(state, x_batch, y_batch)       # one SGD step, pure

    state, history = fit(model, "softmax_cross_entropy", optimizer("adam", 1e-3), (x, y),
                         epochs=10, batch_size=128, validation_data=(xv, yv), metrics=["accuracy"],
                         callbacks=[EarlyStopping("val_accuracy", patience=5)], key=key)

``fit`` keeps the data on the device and runs each epoch as one compiled program: a ``lax.scan`` over
the epoch's batches (``epoch_mode="scan"``) or a Python loop over a jit-compiled step that gathers its
own batch on the device (``"step"``), whichever is faster for the model (``"auto"``). Shuffling,
dropout and augmentation draw from keys derived from ``key``, so the same key gives bitwise-identical
results.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import time
from typing import Any, Callable, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from fnnet import _checks, checkpoint, distributed
from fnnet.callbacks import Callback, StepInfo, _resolve_mode
from fnnet.data.batching import epoch_order, remainder_indices
from fnnet.models.core import Model

PyTree = Any
LossFn = Callable[[jax.Array, jax.Array], jax.Array]


# ----------------------------------------------------------------------------------------------
# State


@struct.dataclass
class TrainState:
    """Everything that changes during training, as one pytree.

    ``params`` trainable weights; ``opt_state`` the optimizer's state; ``model_state`` non-trainable
    variables (BatchNorm statistics; ``{}`` otherwise); ``step`` int32 count of batches processed;
    ``key`` the base PRNG key from which step ``t`` derives ``fold_in(key, t)`` for dropout/augmentation.
    """

    params: PyTree
    opt_state: PyTree
    model_state: PyTree
    step: jax.Array
    key: jax.Array


def create_train_state(model: Model, optimizer, key: jax.Array, x_sample, *, params=None) -> TrainState:
    """Initializes a :class:`TrainState`: params from ``key`` (unless given), optimizer state, step 0.

    ``key`` is split into the init key and the key for per-step randomness."""
    tx = _resolve_optimizer(optimizer)
    init_key, step_key = jax.random.split(key)
    new_params, model_state = model.init_with_state(init_key, x_sample)
    params = new_params if params is None else params
    return TrainState(
        params=params,
        opt_state=tx.init(params),
        model_state=model_state,
        step=jnp.zeros((), jnp.int32),
        key=step_key,
    )


# ----------------------------------------------------------------------------------------------
# Name resolution


def _resolve_loss(loss) -> LossFn:
    from fnnet import losses

    return losses.get(loss)


def _resolve_metrics(metrics) -> dict[str, Callable]:
    from fnnet import metrics as metrics_lib

    resolved = {}
    for m in metrics or ():
        fn = metrics_lib.get(m)
        name = m if isinstance(m, str) else getattr(fn, "__name__", f"metric_{len(resolved)}")
        resolved[name] = fn
    return resolved


def _resolve_optimizer(optimizer) -> optax.GradientTransformation:
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    from fnnet import optim

    return optim.get(optimizer)


# ----------------------------------------------------------------------------------------------
# Compiled steps


def make_train_step(
    model: Model,
    loss,
    optimizer,
    *,
    metrics: Sequence = (),
    augment: Optional[Callable] = None,
    statistics: Sequence[Callback] = (),
    guard: bool = True,
):
    """Returns the pure function ``train_step(state, x, y) -> (new_state, logs)``.

    ``logs`` holds scalars: ``loss`` (data loss + the model's weight penalties, as Keras reports it),
    each metric on the training-mode outputs, and ``finite`` (bool). A step whose loss or gradients are
    not finite leaves params, optimizer and model state unchanged (``fit`` then raises or skips).
    ``augment(key, x) -> x`` runs inside the step, so augmentation is compiled with it.

    ``guard=False`` drops that protection: the step always applies its update and only reports
    ``finite``, for callers that discard bad steps themselves (``fit_ensemble`` does it once for all
    members, see :func:`fnnet.ensemble.guarded_member_step`).

    ``statistics``: callbacks declaring in-step statistics (``statistics_every > 0``, see
    :mod:`fnnet.callbacks`). Callback ``i``'s :meth:`~fnnet.callbacks.Callback.step_statistics` runs
    under ``lax.cond`` on the steps whose index is a multiple of its ``statistics_every`` (zeros
    elsewhere); its values, packed into one vector, land in ``logs["statistics"][str(i)]`` as
    ``{"values", "step", "computed"}`` (``train_step.statistics_layouts`` says how to unpack them;
    ``fit`` does). They only read the step's values, so the new state is the same with or without them.
    """
    loss_fn = _resolve_loss(loss)
    tx = _resolve_optimizer(optimizer)
    metric_fns = _resolve_metrics(metrics)
    statistics = tuple(statistics)
    # Statistics read the layers' activations: run the forward pass that returns them (same arithmetic).
    with_activations = bool(statistics) and hasattr(model, "apply_with_activations")

    def train_step(state: TrainState, x, y):
        step_key = jax.random.fold_in(state.key, state.step)
        augment_key, dropout_key = jax.random.split(step_key)
        if augment is not None:
            x = augment(augment_key, x)

        def objective(params):
            if with_activations:
                outputs, new_model_state, activations = model.apply_with_activations(
                    params, x, key=dropout_key, train=True, state=state.model_state
                )
            else:
                activations = {}
                outputs, new_model_state = model.apply(
                    params, x, key=dropout_key, train=True, state=state.model_state
                )
            total = loss_fn(outputs, y) + model.penalty(params)
            return total, (outputs, new_model_state, activations)

        (loss_value, (outputs, new_model_state, activations)), grads = jax.value_and_grad(
            objective, has_aux=True)(state.params)
        finite = jnp.isfinite(loss_value) & jnp.isfinite(optax.tree.norm(grads))

        # The updates leave the branch only when statistics read them (an unused output still costs a copy).
        def apply(_):
            updates, new_opt_state = tx.update(grads, state.opt_state, state.params)
            return (optax.apply_updates(state.params, updates), new_opt_state, new_model_state,
                    updates if statistics else None)

        def skip(_):
            no_updates = jax.tree_util.tree_map(jnp.zeros_like, state.params) if statistics else None
            return state.params, state.opt_state, state.model_state, no_updates

        # A branch rather than jnp.where(finite, new, old) over every leaf: that select is one more pass
        # over params and both Adam moments per step, ~20% of a small MLP's step on a CPU
        # (benchmarks/cpu_paths.py). Under vmap a batched predicate would make it a select again: ensembles
        # build the step with guard=False and take one cond for all members (ensemble.guarded_member_step).
        if guard:
            new_params, new_opt_state, new_model_state, updates = jax.lax.cond(finite, apply, skip, None)
        else:
            new_params, new_opt_state, new_model_state, updates = apply(None)
        new_state = state.replace(
            params=new_params, opt_state=new_opt_state, model_state=new_model_state, step=state.step + 1
        )
        logs = {"loss": loss_value, **{name: fn(outputs, y) for name, fn in metric_fns.items()}}
        logs["finite"] = finite
        if statistics:
            info = StepInfo(step=state.step, model=model, params=state.params, new_params=new_state.params,
                            grads=grads, updates=updates, activations=activations, loss=loss_value)
            logs["statistics"] = {str(i): _in_step_statistics(cb, info, layouts, str(i))
                                  for i, cb in enumerate(statistics)}
        return new_state, logs

    # Where fit finds how to unpack the statistics (filled in when the step is traced).
    layouts: dict = {}
    train_step.statistics_layouts = layouts
    return train_step


def _in_step_statistics(callback: Callback, info, layouts: dict, name: str) -> dict:
    """``callback.step_statistics(info)`` on the steps whose index is a multiple of its
    ``statistics_every``, zeros on the others (``lax.cond`` runs only one branch), packed into ONE
    vector (a step's outputs then stay three arrays however many statistics there are);
    ``layouts[name]`` records how to unpack it (:func:`_unpack_statistics`)."""
    compute = lambda: callback.step_statistics(info)
    shapes = jax.eval_shape(compute)
    leaves, treedef = jax.tree_util.tree_flatten(shapes)
    dtype = functools.reduce(jnp.promote_types, [s.dtype for s in leaves if jnp.issubdtype(s.dtype, jnp.floating)],
                             jnp.float32)
    layouts[name] = (treedef, [(s.shape, s.dtype) for s in leaves])
    pack = lambda: jnp.concatenate([jnp.ravel(v).astype(dtype) for v in jax.tree_util.tree_leaves(compute())]
                                   or [jnp.zeros((0,), dtype)])
    size = sum(int(np.prod(s.shape)) for s in leaves)
    computed = info.step % callback.statistics_every == 0
    values = jax.lax.cond(computed, pack, lambda: jnp.zeros((size,), dtype))
    return {"values": values, "step": info.step, "computed": computed}


def _unpack_statistics(layout: tuple, values: np.ndarray):
    """The statistics tree of ``k`` steps from their packed ``(k, size)`` values."""
    treedef, shapes = layout
    cuts = np.cumsum([int(np.prod(shape)) for shape, _ in shapes])[:-1]
    parts = np.split(values, cuts, axis=1) if shapes else []
    leaves = [part.reshape((len(values), *shape)).astype(dtype) for part, (shape, dtype) in zip(parts, shapes)]
    return jax.tree_util.tree_unflatten(treedef, leaves)


def make_eval_step(model: Model, loss, *, metrics: Sequence = ()):
    """Returns ``eval_step(state, x, y) -> logs``: loss (with penalties) and metrics in eval mode."""
    loss_fn = _resolve_loss(loss)
    metric_fns = _resolve_metrics(metrics)

    def eval_step(state: TrainState, x, y):
        outputs = model.apply(state.params, x, state=state.model_state)[0]
        logs = {"loss": loss_fn(outputs, y) + model.penalty(state.params)}
        logs.update({name: fn(outputs, y) for name, fn in metric_fns.items()})
        return logs

    return eval_step


# ----------------------------------------------------------------------------------------------
# History and errors


@dataclasses.dataclass
class History:
    """Per-epoch record of a ``fit`` run, Keras-style: ``history.history["val_accuracy"][-1]``.

    ``epoch_times`` are wall seconds per epoch (compilation excluded, see ``compile_time``);
    ``steps`` is the number of optimizer steps taken; ``skipped_steps`` counts non-finite steps skipped.
    """

    history: dict = dataclasses.field(default_factory=dict)
    epochs: list = dataclasses.field(default_factory=list)
    epoch_times: list = dataclasses.field(default_factory=list)
    compile_time: float = 0.0
    steps: int = 0
    skipped_steps: int = 0
    stopped_early: bool = False
    epoch_mode: str = ""

    def append(self, epoch: int, logs: dict, seconds: float) -> None:
        self.epochs.append(epoch)
        self.epoch_times.append(seconds)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def __getitem__(self, key: str) -> list:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def last(self) -> dict:
        """The final epoch's logs."""
        return {k: v[-1] for k, v in self.history.items()}

    def best(self, monitor: str = "val_loss", mode: str = "auto") -> tuple[int, float]:
        """``(epoch, value)`` of the best ``monitor`` value (max for accuracies, else min)."""
        values = self.history[monitor]
        use_max = mode == "max" or (mode == "auto" and "acc" in monitor)
        i = int(np.argmax(values) if use_max else np.argmin(values))
        return self.epochs[i], values[i]


class NonFiniteLossError(FloatingPointError):
    """Raised by ``fit`` when a step's loss or gradient is NaN/Inf (``on_nonfinite="raise"``).

    ``step`` is the global step (from 0) and ``epoch``/``batch`` locate it; ``state`` is the training
    state with that step's update *not* applied, for inspection."""

    def __init__(self, message: str, *, step: int, epoch: int, batch: int, state: TrainState):
        super().__init__(message)
        self.step, self.epoch, self.batch, self.state = step, epoch, batch, state


# ----------------------------------------------------------------------------------------------
# Input validation

_CATEGORICAL_LOSSES = {
    "softmax_cross_entropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "multiclass_hinge",
    "hinge",
}
_BINARY_LOSSES = {"sigmoid_binary_cross_entropy", "binary_crossentropy"}


def _prepare_xy(model: Model, loss, x, y, *, x_name: str, y_name: str, x_sample=None):
    """Checks a dataset against the model and loss; returns device arrays ``(x, y)``."""
    x = _checks.as_array(x_name, x)
    y = _checks.as_array(y_name, y)
    if np.ndim(x) < 1 or np.shape(x)[0] == 0:
        raise ValueError(f"{x_name} must be a non-empty batch of examples, got shape {np.shape(x)}")
    _checks.check_same_length(**{x_name: x, y_name: y})
    _checks.check_finite(x_name, x)
    _checks.check_finite(y_name, y)
    if x_sample is not None and np.shape(x)[1:] != np.shape(x_sample)[1:]:
        raise ValueError(
            f"{x_name} has examples of shape {np.shape(x)[1:]}, but the training data's are {np.shape(x_sample)[1:]}"
        )
    loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "")
    if loss_name in _CATEGORICAL_LOSSES or loss_name in _BINARY_LOSSES:
        out = _output_shape(model, x)
        if loss_name in _CATEGORICAL_LOSSES:
            _checks.check_labels(y_name, y, int(out[-1]))
        else:
            _check_binary_targets(y_name, np.asarray(y), loss_name)
    y = jnp.asarray(y)
    if jnp.issubdtype(y.dtype, jnp.integer) and y.dtype != jnp.int32:
        y = y.astype(jnp.int32)
    if loss_name in _BINARY_LOSSES and not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(jnp.float32)
    return jnp.asarray(x), y


def _check_binary_targets(y_name: str, y: np.ndarray, loss_name: str) -> None:
    """Integer targets must be labels 0/1; floating targets may be any probabilities in [0, 1] (soft
    labels, or pixel intensities reconstructed by an autoencoder under sigmoid cross-entropy)."""
    if np.issubdtype(y.dtype, np.floating):
        low, high = float(y.min()), float(y.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"{y_name} must hold binary labels 0/1 or probabilities in [0, 1] for {loss_name}, "
                f"got values in [{low}, {high}]"
            )
        return
    values = np.unique(y)
    if not np.all(np.isin(values, (0, 1))):
        raise ValueError(f"{y_name} must hold binary labels 0/1 for {loss_name}, got values {values[:10]}")


def _output_shape(model: Model, x) -> tuple:
    sample = jax.ShapeDtypeStruct((1,) + tuple(np.shape(x)[1:]), jnp.float32)

    def forward(s):
        params, state = model.init_with_state(jax.random.key(0), s)
        return model.apply(params, s, state=state)[0]

    return jax.eval_shape(forward, sample).shape


def _has_conv(model: Model) -> bool:
    from fnnet.models.layers import Conv2D

    return any(isinstance(l, Conv2D) or (isinstance(l, Model) and _has_conv(l)) for l in model.layers)


def _default_epoch_mode(model: Model) -> str:
    """``scan`` unless the model convolves on a CPU, where XLA's convolution gradients run far slower
    inside a loop than as separate calls (measured in ``benchmarks/peers.py``)."""
    return "step" if (_has_conv(model) and jax.default_backend() == "cpu") else "scan"


# XLA's CPU backend hands convolutions to YNNPACK by default (its library fusions REDUCE,
# INDIVIDUAL_DOT and INDIVIDUAL_CONVOLUTION); leaving convolutions out sends them to XLA's Eigen
# convolutions, which train the CS4487 deep CNN 1.36x and the workshop CIFAR-10 CNN 1.75x faster per
# step and run the deep CNN's forward pass 1.9x faster on the x86 machine of README "Performance"
# (benchmarks/cpu_paths.py). Dots and
# reductions keep the default, so a model without convolutions compiles exactly as without the option.
_CPU_CONV_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_REDUCE,LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


@functools.cache
def _cpu_conv_options_supported() -> bool:
    try:
        jax.jit(lambda a: a + 1, compiler_options=_CPU_CONV_OPTIONS).lower(1.0).compile()
        return True
    except jax.errors.JaxRuntimeError:  # "No such compile option" in another jaxlib
        return False


def _compiler_options(model: Model) -> Optional[dict]:
    """XLA compiler options for ``model``'s programs: Eigen convolutions for a convolutional model on a
    CPU (``_CPU_CONV_OPTIONS``), None otherwise or when this jaxlib does not know the option."""
    if jax.default_backend() == "cpu" and _has_conv(model) and _cpu_conv_options_supported():
        return _CPU_CONV_OPTIONS
    return None


# ----------------------------------------------------------------------------------------------
# Epoch programs


class _EpochPrograms:
    """The compiled pieces of an epoch over device-resident ``(x, y)`` visited in the order ``idx``.

    * ``scan(state, x, y, idx)``: every batch of ``idx`` (shape ``(n_batches, batch_size)``) in one
      ``lax.scan``; returns the state and the per-step logs stacked along a leading axis.
    * ``step(state, x, y, idx, i)``: batch ``i`` of ``idx`` only; used by the step-loop mode and for
      the partial last batch (``idx`` of shape ``(1, remainder)``).

    The batch is gathered on the device inside the program, so no data crosses from the host per step.
    ``precompile`` compiles the full-epoch shapes ahead of time (so epoch timings exclude compilation);
    other shapes (the remainder batch, a partial epoch under ``max_steps``) compile on first use.
    """

    def __init__(self, train_step, *, donate: bool = True, compiler_options: Optional[dict] = None):
        def run_batch(state, x, y, batch_idx):
            return train_step(state, jnp.take(x, batch_idx, axis=0), jnp.take(y, batch_idx, axis=0))

        def scan(state, x, y, idx):
            return jax.lax.scan(lambda s, b: run_batch(s, x, y, b), state, idx)

        def step(state, x, y, idx, i):
            state, logs = run_batch(state, x, y, jax.lax.dynamic_index_in_dim(idx, i, keepdims=False))
            return state, jax.tree_util.tree_map(lambda v: v[None], logs)

        donate_argnums = (0,) if donate else ()
        self._jit = {mode: jax.jit(fn, donate_argnums=donate_argnums, compiler_options=compiler_options)
                     for mode, fn in (("scan", scan), ("step", step))}
        self._compiled: dict = {}

    def precompile(self, mode: str, state, x, y, idx_shape, idx_sharding=None) -> float:
        """Compiles ``mode``'s program for ``idx_shape`` (placed as ``idx_sharding``, default: the
        default device); returns the seconds it took."""
        t0 = time.perf_counter()
        idx = jax.ShapeDtypeStruct(idx_shape, jnp.int32, sharding=idx_sharding)
        args = (state, x, y, idx) + ((0,) if mode == "step" else ())
        self._compiled[(mode, idx_shape)] = self._jit[mode].lower(*args).compile()
        return time.perf_counter() - t0

    def __call__(self, mode: str, *args):
        fn = self._compiled.get((mode, tuple(args[3].shape)), self._jit[mode])
        return fn(*args)


def _copy_tree(tree):
    return jax.tree_util.tree_map(lambda a: a.copy() if hasattr(a, "copy") else a, tree)


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


# ----------------------------------------------------------------------------------------------
# fit / evaluate / predict


def _prepare_fit_inputs(
    model: Model, loss, train_data, validation_data, *, epochs, batch_size, drop_remainder, max_steps,
    steps_per_epoch, epoch_mode, on_nonfinite,
) -> tuple[jax.Array, jax.Array, Optional[tuple]]:
    """Checks ``fit``'s arguments (shared with ``fnnet.ensemble.fit_ensemble``) before anything is traced;
    returns the device arrays ``(x, y, (x_val, y_val) or None)``."""
    _checks.check_choice("epoch_mode", epoch_mode, ("auto", "scan", "step"))
    _checks.check_choice("on_nonfinite", on_nonfinite, ("raise", "skip"))
    if not isinstance(train_data, (tuple, list)) or len(train_data) != 2:
        raise ValueError("train_data must be a tuple (x, y) of arrays")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    for name, value in (("max_steps", max_steps), ("steps_per_epoch", steps_per_epoch)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    x, y = _prepare_xy(model, loss, *train_data, x_name="train_data[0] (x)", y_name="train_data[1] (y)")
    n = x.shape[0]
    if (drop_remainder or steps_per_epoch) and n < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} training examples (only full batches are used)")
    if validation_data is None:
        return x, y, None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a tuple (x_val, y_val) of arrays")
    x_val, y_val = _prepare_xy(
        model, loss, *validation_data, x_name="validation_data[0]", y_name="validation_data[1]", x_sample=x
    )
    return x, y, (x_val, y_val)


def fit(
    model: Model,
    loss,
    optimizer,
    train_data: tuple,
    *,
    epochs: int,
    batch_size: int = 32,
    key: jax.Array,
    validation_data: Optional[tuple] = None,
    metrics: Sequence = (),
    callbacks: Sequence[Callback] = (),
    augment: Optional[Callable] = None,
    shuffle: bool = True,
    drop_remainder: bool = False,
    max_steps: Optional[int] = None,
    steps_per_epoch: Optional[int] = None,
    initial_state: Optional[TrainState] = None,
    epoch_mode: str = "auto",
    on_nonfinite: str = "raise",
    eval_batch_size: int = 1000,
    verbose: int = 1,
    checkpoint_dir=None,
    checkpoint_every: Union[str, int, None] = None,
    keep: Optional[int] = None,
    keep_best: Optional[str] = None,
    resume: bool = False,
    mesh: Optional[jax.sharding.Mesh] = None,
    devices: Optional[Sequence[jax.Device]] = None,
) -> tuple[TrainState, History]:
    """Trains ``model`` on ``train_data = (x, y)`` and returns ``(final_state, history)``.

    Args:
      model: an fnnet :class:`~fnnet.models.Model`.
      loss: a loss name (``"softmax_cross_entropy"``, ``"binary_crossentropy"``, ``"mse"``...) or a
        function ``loss(outputs, y) -> scalar``.
      optimizer: an optax ``GradientTransformation`` (e.g. ``fnnet.optim.optimizer("adam", 1e-3)``) or a
        name with default settings.
      train_data: ``(x, y)`` arrays with the same leading length ``N``.
      epochs: passes over the data. ``max_steps`` caps the total number of optimizer steps (the last
        epoch is then partial).
      batch_size: examples per step; the last batch of an epoch is smaller unless ``drop_remainder``.
      steps_per_epoch: optimizer steps per (logged, compiled) epoch when that is not one pass over the
        data, e.g. full-batch gradient descent for 10,000 iterations as ``batch_size=N, epochs=10,
        steps_per_epoch=1000``. Batches then come from consecutive shuffled passes, full batches only.
      key: PRNG key driving initialization, shuffling, dropout and augmentation.
      validation_data: ``(x_val, y_val)``, evaluated after every epoch in evaluation mode
        (logged as ``val_loss``, ``val_<metric>``).
      metrics: metric names or functions ``metric(outputs, y) -> scalar``.
      callbacks: e.g. ``[EarlyStopping("val_accuracy", min_delta=1e-4, patience=5)]``.
      augment: ``augment(key, x_batch) -> x_batch``, applied to every training batch inside the
        compiled step (see ``fnnet.data``).
      initial_state: continue from this state instead of initializing from ``key`` (it is not consumed).
      epoch_mode: ``"scan"`` (one ``lax.scan`` per epoch), ``"step"`` (a loop over a compiled step) or
        ``"auto"``.
      on_nonfinite: ``"raise"`` stops with :class:`NonFiniteLossError` naming the first step whose loss
        or gradient was NaN/Inf; ``"skip"`` drops such updates and counts them in the history.
      verbose: 1 prints one line per epoch, 0 is silent.
      checkpoint_dir: directory for checkpoints of the run (see :mod:`fnnet.checkpoint`): the train
        state, shuffling key, data-order position, history and callbacks' progress, written atomically
        by orbax-checkpoint.
      checkpoint_every: ``"epoch"`` (default): a checkpoint at the end of every epoch; an int ``N``: also
        one after every ``N`` batches within an epoch (an epoch then runs as compiled pieces of ``N``
        steps, with the same results).
      keep: how many of the newest checkpoints to keep (default 3).
      keep_best: an epoch log name (``"val_accuracy"``, ``"val_loss"``...): also keep the end-of-epoch
        checkpoint with its best value (max for accuracies, else min, as in ``EarlyStopping``).
      resume: continue from the newest readable checkpoint in ``checkpoint_dir`` when there is one
        (with the checkpoint's keys and position: the result equals the uninterrupted run's); start
        afresh when there is none. Without ``resume`` the directory must hold no checkpoints.
      mesh, devices: data-parallel training on a 1-D :class:`jax.sharding.Mesh` (or one built over
        ``devices``, see :mod:`fnnet.distributed`): every batch is split over the devices, params and
        optimizer state are replicated, XLA all-reduces the gradients. ``batch_size`` must be a multiple
        of the device count; the partial last batch of an epoch need not be (XLA pads and masks it).
    """
    x, y, validation = _prepare_fit_inputs(
        model, loss, train_data, validation_data, epochs=epochs, batch_size=batch_size, drop_remainder=drop_remainder,
        max_steps=max_steps, steps_per_epoch=steps_per_epoch, epoch_mode=epoch_mode, on_nonfinite=on_nonfinite,
    )
    if validation is not None:
        x_val, y_val = validation
    tx = _resolve_optimizer(optimizer)
    n = x.shape[0]
    mode = _default_epoch_mode(model) if epoch_mode == "auto" else epoch_mode
    mesh = distributed.resolve_mesh(mesh, devices)
    if mesh is not None:
        distributed.check_divisible("batch_size", batch_size, mesh)
    loss_fn, metric_fns = _resolve_loss(loss), _resolve_metrics(metrics)
    checkpoints = _make_checkpointer(
        checkpoint_dir, checkpoint_every, keep, keep_best, resume, validation_data is not None, metric_fns,
        plan=dict(examples=n, batch_size=batch_size, steps_per_epoch=steps_per_epoch, drop_remainder=drop_remainder,
                  shuffle=shuffle),
    )

    init_key, shuffle_key = jax.random.split(key)
    if initial_state is None:
        state = create_train_state(model, tx, init_key, x[:1])
    else:
        state = _copy_tree(initial_state)  # fit donates its state buffers; keep the caller's intact
    monitors = _statistics_callbacks(callbacks)
    train_step = make_train_step(model, loss, tx, metrics=metrics, augment=augment, statistics=monitors)
    layouts = getattr(train_step, "statistics_layouts", {})
    if mesh is not None:  # data-parallel: everything whole on every device, each batch split over them
        state, shuffle_key, x, y = distributed.replicate((state, shuffle_key, x, y), mesh)
        if validation_data is not None:
            x_val, y_val = distributed.replicate((x_val, y_val), mesh)
        train_step = distributed.data_parallel_step(train_step, mesh)
    programs = _EpochPrograms(train_step, compiler_options=_compiler_options(model))

    plan = _EpochPlan(n, batch_size, shuffle=shuffle, drop_remainder=drop_remainder, steps_per_epoch=steps_per_epoch)
    history = History(epoch_mode=mode)
    resumed = None
    if checkpoints is not None and resume:
        resumed = checkpoints.restore(state, shuffle_key)
    elif checkpoints is not None:
        checkpoints.check_empty()
    if resumed is not None:
        state, shuffle_key = resumed.state, resumed.shuffle_key
        history = History(**{**resumed.history, "epoch_mode": mode})
        if verbose:
            print(f"Resuming from the checkpoint at step {resumed.step} (epoch {resumed.epoch + 1}, "
                  f"batch {resumed.batch}) in {checkpoints.directory}", flush=True)
    start_epoch, start_batch, carried_logs = 0, 0, []
    if resumed is not None:
        start_epoch, start_batch, carried_logs = resumed.epoch, resumed.batch, resumed.partial_logs
    every = checkpoints.every if checkpoints is not None else None
    # Scan epochs with mid-epoch checkpoints run as pieces of `every` batches; step epochs index the whole epoch.
    compiled_batches = min(every, plan.full_batches) if every and mode == "scan" else plan.full_batches
    if plan.full_batches:
        history.compile_time = programs.precompile(mode, state, x, y, (compiled_batches, batch_size),
                                                   None if mesh is None else distributed.replicated(mesh))

    for cb in callbacks:
        cb.on_train_begin(state, history)
    if resumed is not None:
        checkpoint.load_callback_states(callbacks, resumed.callbacks)
    # The step count at the start of the history (before any resumed epochs), for locating bad steps.
    first_step = int(state.step) - history.steps - start_batch
    finished = history.stopped_early or (max_steps is not None and history.steps >= max_steps)
    try:
        for epoch in range(start_epoch, start_epoch if finished else epochs):
            t_epoch = time.perf_counter()
            budget = None if max_steps is None else max_steps - history.steps
            idx, rest = plan.indices(jax.random.fold_in(shuffle_key, epoch), budget)
            if mesh is not None:
                idx, rest = distributed.replicate((idx, rest), mesh)
            step_logs, carried_logs = carried_logs, []
            for lo, hi, last in _epoch_pieces(idx.shape[0], start_batch, every):
                state, piece_logs = _run_epoch(programs, mode, state, x, y, idx, rest if last else None,
                                               start=lo, stop=hi)
                step_logs += piece_logs
                if not last:  # a mid-epoch checkpoint: position (epoch, hi)
                    checkpoints.save(state, shuffle_key, epoch=epoch, batch=hi, history=dataclasses.asdict(history),
                                     callbacks=callbacks, partial_logs=step_logs)
            start_batch = 0
            epoch_steps = sum(len(logs["finite"]) for logs, _ in step_logs)
            if monitors:  # one device-to-host transfer for the logs and the statistics
                step_logs = list(zip(jax.device_get([logs for logs, _ in step_logs]), [w for _, w in step_logs]))
                _deliver_statistics(monitors, layouts, epoch, step_logs)  # before a raise: they show the run-up to it
            epoch_logs, bad = _reduce_step_logs(step_logs, ["loss", *metric_fns])
            if bad and on_nonfinite == "raise":
                global_step = first_step + history.steps + bad[0]
                raise NonFiniteLossError(
                    f"non-finite loss or gradient at step {global_step} (epoch {epoch + 1}, batch {bad[0] + 1} "
                    f"of {epoch_steps}); lower the learning rate, clip gradients (clip_norm=...) or check the data. "
                    "That step's update was not applied; the state is available as this exception's .state",
                    step=global_step, epoch=epoch, batch=bad[0], state=state,
                )
            history.steps += epoch_steps
            history.skipped_steps += len(bad)
            if validation_data is not None:
                val_logs = _evaluate_arrays(model, state.params, state.model_state, x_val, y_val, loss_fn, metric_fns,
                                            eval_batch_size)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            seconds = time.perf_counter() - t_epoch
            history.append(epoch, epoch_logs, seconds)
            if verbose:
                skipped = f" - skipped {len(bad)} non-finite steps" if bad else ""
                print(f"Epoch {epoch + 1}/{epochs} - {seconds:.2f}s - {_format_logs(epoch_logs)}{skipped}", flush=True)
            stop = False
            for cb in callbacks:
                stop = bool(cb.on_epoch_end(epoch, epoch_logs, state)) or stop
            history.stopped_early = stop
            if checkpoints is not None:
                checkpoints.save(state, shuffle_key, epoch=epoch + 1, batch=0, history=dataclasses.asdict(history),
                                 callbacks=callbacks, logs=epoch_logs)
            if stop:
                break
            if max_steps is not None and history.steps >= max_steps:
                break
    finally:
        if checkpoints is not None:
            checkpoints.close()  # waits for the last (asynchronous) save
    for cb in callbacks:
        replacement = cb.on_train_end(state)
        if replacement is not None:
            state = replacement
    return state, history


def _statistics_callbacks(callbacks: Sequence[Callback]) -> list[Callback]:
    """The callbacks that declare in-step statistics (``statistics_every > 0``), checked."""
    monitors = []
    for cb in callbacks:
        every = getattr(cb, "statistics_every", 0)
        if not isinstance(every, (int, np.integer)) or every < 0:
            raise ValueError(f"{type(cb).__name__}.statistics_every must be an int >= 0 (0: no in-step "
                             f"statistics), got {every!r}")
        if every:
            monitors.append(cb)
    return monitors


def _deliver_statistics(monitors: Sequence[Callback], layouts: dict, epoch: int, step_logs: list) -> None:
    """Hands each monitor its in-step statistics of the epoch (from the host copy of the step logs): the
    computed steps' values unpacked and stacked along a leading axis, with their ``"step"``."""
    host = [logs["statistics"] for logs, _ in step_logs]
    if not host:
        return
    for i, cb in enumerate(monitors):
        parts = [h[str(i)] for h in host]
        computed = np.concatenate([np.asarray(p["computed"], bool).reshape(-1) for p in parts])
        values = np.concatenate([np.asarray(p["values"]).reshape(-1, np.shape(p["values"])[-1]) for p in parts])
        steps = np.concatenate([np.asarray(p["step"]).reshape(-1) for p in parts])
        statistics = _unpack_statistics(layouts[str(i)], values[computed])
        cb.on_step_statistics(epoch, {**statistics, "step": steps[computed]})


def _make_checkpointer(directory, every, keep, keep_best, resume, has_validation, metric_fns, *, plan):
    """fit's checkpoint settings checked and turned into a :class:`~fnnet.checkpoint.FitCheckpointer`
    (None without ``checkpoint_dir``)."""
    if directory is None:
        settings = (("checkpoint_every", every), ("keep", keep), ("keep_best", keep_best))
        given = [name for name, value in settings if value is not None]
        if resume:
            given.append("resume")
        if given:
            raise ValueError(f"{', '.join(given)} need checkpoint_dir (a directory for the checkpoints)")
        return None
    best = None
    if keep_best is not None:
        logged = ["loss", *metric_fns]
        _checks.check_choice("keep_best", keep_best, logged + ([f"val_{k}" for k in logged] if has_validation else []))
        best = (keep_best, _resolve_mode(keep_best, "auto"))
    return checkpoint.FitCheckpointer(directory, every="epoch" if every is None else every,
                                      keep=3 if keep is None else keep, keep_best=best, plan=plan)


class _EpochPlan:
    """Which examples each step of an epoch sees, as index matrices for the compiled programs.

    Default: one pass over the data in the order :func:`epoch_order` draws, ``n // batch_size`` full
    batches plus (unless ``drop_remainder``) a partial last batch. With ``steps_per_epoch``: that many
    full batches from consecutive passes, each pass with its own permutation.
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool, drop_remainder: bool, steps_per_epoch):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.steps_per_epoch = steps_per_epoch
        self.remainder = 0 if (drop_remainder or steps_per_epoch) else n % batch_size
        self.full_batches = steps_per_epoch or n // batch_size

    def indices(self, key, budget: Optional[int]):
        """``(idx (k, batch_size), rest (1, remainder) or None)`` for an epoch limited to ``budget`` steps."""
        per_pass = self.n // self.batch_size
        passes = -(-self.full_batches // per_pass)
        keys = jax.random.split(key, passes) if self.steps_per_epoch else key[None]
        orders = jax.vmap(lambda k: epoch_order(k, self.n, shuffle=self.shuffle))(keys)
        idx = orders[:, : per_pass * self.batch_size].reshape(-1, self.batch_size)
        n_full = self.full_batches if budget is None else min(self.full_batches, budget)
        rest = None
        if self.remainder and (budget is None or budget > self.full_batches):
            rest = remainder_indices(orders[0], self.batch_size)[None, :]
        return idx[:n_full], rest


def _run_epoch(programs, mode, state, x, y, idx, rest, *, start: int = 0, stop: Optional[int] = None):
    """Runs the batches ``idx[start:stop]`` (default all) and then the partial batch ``rest``; returns
    the state and ``[(stacked per-step logs, batch size)]``. The batch size is the index matrices' last
    axis (an ensemble's ``(steps, members, batch)`` indices have a member axis before it)."""
    stop = idx.shape[0] if stop is None else stop
    step_logs = []
    if stop > start and mode == "scan":
        state, logs = programs("scan", state, x, y, idx[start:stop])
        step_logs.append((logs, idx.shape[-1]))
    else:
        for i in range(start, stop):
            state, logs = programs("step", state, x, y, idx, i)
            step_logs.append((logs, idx.shape[-1]))
    if rest is not None:
        state, logs = programs("step", state, x, y, rest, 0)
        step_logs.append((logs, rest.shape[-1]))
    return state, step_logs


def _epoch_pieces(n_batches: int, start: int, every: Optional[int]) -> list[tuple[int, int, bool]]:
    """``[(lo, hi, last)]``: the full batches ``start..n_batches`` of an epoch split where the batch
    count since the epoch's start reaches a multiple of ``every`` (one piece when ``every`` is None);
    ``last`` marks the piece after which the partial batch runs and the epoch ends."""
    cuts = [] if not every else list(range((start // every + 1) * every, n_batches, every))
    edges = [start, *cuts, n_batches]
    return [(lo, hi, i == len(edges) - 2) for i, (lo, hi) in enumerate(itertools.pairwise(edges))]


def _reduce_step_logs(step_logs: list, names: Sequence[str]) -> tuple[dict, list]:
    """Averages per-step logs over an epoch (weighted by batch size, non-finite steps excluded).

    Returns ``(epoch_logs, indices of non-finite steps)``; one device-to-host transfer per epoch."""
    if not step_logs:
        return {}, []
    host = jax.device_get([logs for logs, _ in step_logs])
    weights = np.concatenate([np.full(len(h["finite"]), w, np.float64) for h, (_, w) in zip(host, step_logs)])
    finite = np.concatenate([np.asarray(h["finite"], bool) for h in host])
    bad = [int(i) for i in np.flatnonzero(~finite)]
    weights = np.where(finite, weights, 0.0)
    total = weights.sum()
    epoch_logs = {}
    for name in names:
        values = np.concatenate([np.asarray(h[name], np.float64).reshape(-1) for h in host])
        epoch_logs[name] = float(np.sum(np.where(finite, values, 0.0) * weights) / total) if total else float("nan")
    return epoch_logs, bad


def _params_and_state(state_or_params) -> tuple[PyTree, PyTree]:
    if isinstance(state_or_params, TrainState):
        return state_or_params.params, state_or_params.model_state
    return state_or_params, None


def predict(model: Model, state_or_params, x, *, batch_size: int = 1000, model_state=None) -> jax.Array:
    """Model outputs (logits for classifiers) for ``x`` in evaluation mode, computed in batches.

    ``state_or_params`` is a :class:`TrainState` or a params tree (then pass ``model_state`` for
    models with BatchNorm). The last batch is padded to ``batch_size`` so only one program compiles."""
    params, state = _params_and_state(state_or_params)
    state = model_state if model_state is not None else (state if state is not None else {})
    x = _checks.as_array("x", x)
    _checks.check_finite("x", x)
    if np.ndim(x) < 1 or np.shape(x)[0] == 0:
        raise ValueError(f"x must be a non-empty batch, got shape {np.shape(x)}")
    return _predict_arrays(model, params, state, x, batch_size)


def _predict_arrays(model: Model, params, state, x, batch_size: int) -> jax.Array:
    n = np.shape(x)[0]
    bs = min(batch_size, n)
    forward = _forward_fn(model)
    outputs = []
    for start in range(0, n, bs):
        chunk = jnp.asarray(x[start : start + bs])
        pad = bs - chunk.shape[0]
        if pad:
            chunk = jnp.concatenate([chunk, jnp.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
        out = forward(params, state, chunk)
        outputs.append(out[: bs - pad] if pad else out)
    return jnp.concatenate(outputs) if len(outputs) > 1 else outputs[0]


_FORWARD_CACHE: dict = {}


def _forward_fn(model: Model):
    """jit-compiled eval-mode forward pass, cached per model description (models are immutable)."""
    try:
        return _FORWARD_CACHE[model]
    except (KeyError, TypeError):
        fn = jax.jit(lambda params, state, xb: model.apply(params, xb, state=state)[0],
                     compiler_options=_compiler_options(model))
        try:
            _FORWARD_CACHE[model] = fn
        except TypeError:  # unhashable layer settings (e.g. an array in a Lambda): no caching
            pass
        return fn


def predict_proba(model: Model, state_or_params, x, **kwargs) -> jax.Array:
    """Class probabilities: softmax of the logits, or sigmoid for a single-logit binary model."""
    logits = predict(model, state_or_params, x, **kwargs)
    return jax.nn.sigmoid(logits) if logits.shape[-1] == 1 else jax.nn.softmax(logits, axis=-1)


def evaluate(
    model: Model,
    state_or_params,
    x,
    y,
    *,
    loss,
    metrics: Sequence = (),
    batch_size: int = 1000,
    model_state=None,
) -> dict:
    """Loss (including weight penalties) and metrics over ``(x, y)`` in evaluation mode, as floats.

    The outputs are computed in batches and the loss/metrics on all of them at once, so the result is
    the exact mean over the dataset whatever the batch size."""
    x, y = _prepare_xy(model, loss, x, y, x_name="x", y_name="y")
    params, state = _params_and_state(state_or_params)
    state = model_state if model_state is not None else (state if state is not None else {})
    return _evaluate_arrays(model, params, state, x, y, _resolve_loss(loss), _resolve_metrics(metrics), batch_size)


def _evaluate_arrays(model, params, model_state, x, y, loss_fn, metric_fns, batch_size) -> dict:
    outputs = _predict_arrays(model, params, model_state, x, batch_size)
    logs = {"loss": loss_fn(outputs, y) + model.penalty(params)}
    logs.update({name: fn(outputs, y) for name, fn in metric_fns.items()})
    return {k: float(v) for k, v in logs.items()}
