"""The training fronts' argument checks, written once: data, callbacks, options and their old names.

Everything here runs on the host before anything is traced, so a bad argument is a ``ValueError``
naming it (what was expected, what was given), never a deep JAX traceback.
"""
from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks
from fnnet.engine.options import Checkpointing, TrainOptions
from fnnet.state import TrainState

# fit's keywords of fnnet 0.1, kept one release: where each now lives.
_OLD_OPTIONS = ("shuffle", "drop_remainder", "steps_per_epoch", "max_steps", "epoch_mode", "on_nonfinite",
                "eval_batch_size", "chunk")
_OLD_CHECKPOINT = {"checkpoint_dir": "directory", "checkpoint_every": "every", "keep": "keep",
                   "keep_best": "keep_best", "resume": "resume"}


def resolve_options(options: Optional[TrainOptions], checkpoint, devices, deprecated: dict, *, front: str):
    """``(TrainOptions, Checkpointing or None, devices)`` from the new arguments and the old keywords
    (each old keyword warns once with its new place; an unknown keyword is a TypeError as Python's)."""
    if options is None:
        options = TrainOptions()
    elif not isinstance(options, TrainOptions):
        raise ValueError(f"options must be a fnnet.TrainOptions(...), got {type(options).__name__}")
    unknown = sorted(set(deprecated) - set(_OLD_OPTIONS) - set(_OLD_CHECKPOINT) - {"mesh"})
    if unknown:
        raise TypeError(f"{front}() got unexpected keyword argument(s) {unknown}")
    moved = {k: v for k, v in deprecated.items() if k in _OLD_OPTIONS}
    if moved:
        warnings.warn(f"{front}({', '.join(f'{k}=' for k in moved)}) is deprecated: pass "
                      f"options=fnnet.TrainOptions({', '.join(f'{k}=...' for k in moved)})", DeprecationWarning,
                      stacklevel=3)
        options = options.replace(**moved)
    old_ckpt = {k: v for k, v in deprecated.items() if k in _OLD_CHECKPOINT}
    if old_ckpt:
        if checkpoint is not None:
            raise ValueError(f"give checkpoint=Checkpointing(...) or the old {sorted(old_ckpt)}, not both")
        if "checkpoint_dir" not in old_ckpt or old_ckpt["checkpoint_dir"] is None:
            rest = [k for k, v in old_ckpt.items() if v not in (None, False)]
            if rest:
                raise ValueError(f"{', '.join(rest)} need checkpoint_dir (a directory for the checkpoints)")
        else:
            warnings.warn(f"{front}(checkpoint_dir=...) is deprecated: pass checkpoint=fnnet.Checkpointing(directory, "
                          "every=, keep=, keep_best=, resume=)", DeprecationWarning, stacklevel=3)
            checkpoint = Checkpointing(**{_OLD_CHECKPOINT[k]: v for k, v in old_ckpt.items() if v is not None})
    if checkpoint is not None and not isinstance(checkpoint, Checkpointing):
        raise ValueError(f"checkpoint must be fnnet.Checkpointing(directory, ...), got {type(checkpoint).__name__}")
    if "mesh" in deprecated and deprecated["mesh"] is not None:
        if devices is not None:
            raise ValueError("pass either devices (a mesh or a list of devices) or mesh, not both")
        devices = deprecated["mesh"]
    return options, checkpoint, devices


def resolve_mesh(devices):
    """A 1-D mesh from ``devices``: a :class:`jax.sharding.Mesh` or a sequence of devices (or None)."""
    from fnnet import distributed

    if devices is None:
        return None
    if isinstance(devices, (str, int, jax.Device)):
        raise ValueError(f"devices must be a jax.sharding.Mesh or a non-empty list of jax devices (e.g. "
                         f"jax.devices()[:4]), got {type(devices).__name__} {devices!r}")
    if isinstance(devices, jax.sharding.Mesh):
        return distributed.resolve_mesh(devices, None)
    return distributed.resolve_mesh(None, devices)


def check_run_extras(*, verbose, augment) -> None:
    """The fronts' ``verbose`` (0, 1 or 2) and ``augment`` (None or a function ``(key, x) -> x``)."""
    if not isinstance(verbose, (int, np.integer)) or verbose not in (0, 1, 2):  # True/False count as 1/0
        raise ValueError(f"verbose must be 0 (silent), 1 (a progress bar) or 2 (one line per epoch), got {verbose!r}")
    if augment is not None and not callable(augment):
        raise ValueError(f"augment must be None or a function augment(key, x_batch) -> x_batch (e.g. "
                         f"fnnet.data.augment.Augment(...)), got {type(augment).__name__} {augment!r}")


def check_callbacks(callbacks) -> list:
    """``callbacks`` as a list of :class:`fnnet.callbacks.Callback` (a single callback is a common slip)."""
    from fnnet.callbacks import Callback

    if isinstance(callbacks, Callback):
        raise ValueError(f"callbacks must be a list of callbacks, got one {type(callbacks).__name__}: pass "
                         f"callbacks=[{type(callbacks).__name__}(...)]")
    if isinstance(callbacks, (dict, str)):
        raise ValueError(f"callbacks must be a list of callbacks, e.g. callbacks=[EarlyStopping()], got "
                         f"{type(callbacks).__name__} {callbacks!r}")
    callbacks = list(callbacks or ())
    for i, cb in enumerate(callbacks):
        if isinstance(cb, (list, tuple)):
            raise ValueError(f"callbacks must be one flat list of callbacks, but callbacks[{i}] is a "
                             f"{type(cb).__name__}: in a population every member gets its own copy of each "
                             "callback (history.callbacks[i] holds member i's), so there are no per-member lists")
        if not isinstance(cb, Callback):
            raise ValueError(f"callbacks[{i}] must be a fnnet.callbacks.Callback, got {type(cb).__name__}")
    return callbacks


def as_examples(name: str, x) -> Any:
    """``x`` as an array with a leading, non-empty batch axis, checked finite."""
    x = _checks.as_array(name, x)
    if np.ndim(x) < 1 or np.shape(x)[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch of examples (leading batch axis), got shape {np.shape(x)}")
    _checks.check_finite(name, x)
    return x


def _device_targets(y):
    y = jnp.asarray(y)
    if jnp.issubdtype(y.dtype, jnp.integer) and y.dtype != jnp.int32:
        y = y.astype(jnp.int32)
    return y


def prepare_pair(objective, data, *, name: str, x_like=None, names: Optional[tuple] = None):
    """Checks one ``(x, y)`` pair against the objective (shapes, finiteness, the loss's and metrics' own
    target checks) and returns device arrays. Errors call them ``names`` (default ``name[0] (x)``...)."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"{name} must be a tuple (x, y) of arrays, got {type(data).__name__}")
    x_name, y_name = names or (f"{name}[0] (x)", f"{name}[1] (y)")
    x = as_examples(x_name, data[0])
    y = as_examples(y_name, data[1])
    _checks.check_same_length(**{x_name: x, y_name: y})
    if x_like is not None and np.shape(x)[1:] != np.shape(x_like)[1:]:
        raise ValueError(f"{x_name} has examples of shape {np.shape(x)[1:]}, but the training data's are "
                         f"{np.shape(x_like)[1:]}")
    objective.check_data(x, y, x_name=x_name, y_name=y_name)
    return jnp.asarray(x), _device_targets(y)


def prepare_training_data(objective, train_data, validation_data=None, validation_split=None):
    """``(x, y, (x_val, y_val) or None)`` as device arrays, checked. ``validation_split`` (a fraction in
    (0, 1)) takes the *last* fraction of ``train_data`` before any shuffling, as Keras does."""
    if validation_split is not None:
        if validation_data is not None:
            raise ValueError("give validation_data or validation_split, not both")
        if isinstance(validation_split, bool) or not isinstance(validation_split, (float, int)) or \
                not 0.0 < validation_split < 1.0:
            raise ValueError(f"validation_split must be a fraction in (0, 1), e.g. 0.1, got {validation_split!r}")
        if not isinstance(train_data, (tuple, list)) or len(train_data) != 2:
            raise ValueError(f"train_data must be a tuple (x, y) of arrays, got {type(train_data).__name__}")
        x_all, y_all = (_checks.as_array(f"train_data[{i}]", a) for i, a in enumerate(train_data))
        _checks.check_same_length(**{"train_data[0] (x)": x_all, "train_data[1] (y)": y_all})
        n = int(np.shape(x_all)[0])
        n_val = int(n * validation_split)  # Keras: the last int(n * split) examples
        if n_val < 1 or n_val >= n:
            raise ValueError(f"validation_split={validation_split} of {n} examples leaves {n - n_val} for training "
                             f"and {n_val} for validation; both need at least one")
        train_data = (x_all[: n - n_val], y_all[: n - n_val])
        validation_data = (x_all[n - n_val:], y_all[n - n_val:])
    x, y = prepare_pair(objective, train_data, name="train_data")
    validation = None
    if validation_data is not None:
        validation = prepare_pair(objective, validation_data, name="validation_data", x_like=x)
    return x, y, validation


def check_state(name: str, state, *, stacked: Optional[int] = None) -> TrainState:
    """Checks a state given to continue from: a :class:`TrainState`, unstacked (``stacked=None``) or
    with a leading member axis of ``stacked`` members."""
    if not isinstance(state, TrainState):
        raise ValueError(f"{name} must be a fnnet TrainState (from fit or create_train_state), got "
                         f"{type(state).__name__}")
    shape = tuple(np.shape(state.step))
    if stacked is None and shape != ():
        raise ValueError(f"{name} is a population's stacked state (step of shape {shape}); continue it with "
                         "fnnet.ensemble.fit_ensemble(..., initial_state=state), or take one member with "
                         "fnnet.tree.member(state, i)")
    if stacked is not None and shape != (stacked,):
        raise ValueError(f"{name} must be a stacked TrainState with a leading member axis of {stacked} (one per "
                         f"member), got step of shape {shape}")
    return state


def check_members_params(name: str, params, model, x_sample, *, stacked: bool = False) -> None:
    """Raises naming the first leaf when ``params`` do not have the tree, shapes and dtypes ``model``
    initializes for inputs like ``x_sample``; with ``stacked``, every leaf has a leading member axis
    before the model's shape (one model's params given for a population's are named as such)."""
    dtype = np.asarray(x_sample).dtype if np.issubdtype(np.asarray(x_sample).dtype, np.integer) else jnp.float32
    expected = jax.eval_shape(lambda s: model.init_with_state(jax.random.key(0), s)[0],
                              jax.ShapeDtypeStruct(np.shape(x_sample), dtype))
    from fnnet.tree import flatten_with_names

    want = dict(flatten_with_names(expected))
    got = {k: v for k, v in flatten_with_names(params)}
    for key in sorted(set(want) | set(got)):
        if key not in got:
            raise ValueError(f"{name} lacks {key} {tuple(want[key].shape)} that model '{model.name}' has")
        if key not in want:
            raise ValueError(f"{name} has {key} that model '{model.name}' does not have")
        shape, model_shape = tuple(np.shape(got[key])), tuple(want[key].shape)
        if stacked and shape == model_shape:
            raise ValueError(f"{name} must be stacked (a leading member axis, as fit_ensemble returns or "
                             f"fnnet.tree.stack([...]) builds), but {key} has the shape of one model {shape}; "
                             "for one model's outputs use fnnet.predict")
        if (shape[1:] if stacked else shape) != model_shape:
            want_desc = f"(members, {', '.join(map(str, model_shape))})" if stacked else f"{model_shape}"
            raise ValueError(f"{name}: {key} has shape {shape} but model '{model.name}' expects {want_desc}")


def copy_state(state: TrainState) -> TrainState:
    """A copy of a state the caller keeps (training pieces may donate their input buffers)."""
    return jax.tree.map(lambda a: a.copy() if hasattr(a, "copy") else a, state)


def member_callbacks(callbacks: Sequence, members: int) -> list:
    """Each member's own callbacks: ``cb.for_member(i)`` for a callback that collects all members (e.g.
    :class:`~fnnet.callbacks.StepLog`), otherwise a deep copy."""
    import copy

    return [[cb.for_member(i) if hasattr(cb, "for_member") else copy.deepcopy(cb) for cb in callbacks]
            for i in range(members)]
