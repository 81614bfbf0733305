"""Models as pure ``init``/``apply`` pairs, the :func:`Sequential` combinator and :func:`summary`.

A :class:`Model` is an immutable description; all data lives in the ``params`` / ``state`` pytrees the
functions return and take::

    model = Sequential([Flatten(), Dense(128, "relu"), Dropout(0.5), Dense(10)])
    params = model.init(key, x[:1])                           # {"dense_0": {...}, "dense_1": {...}}
    logits = model.apply(params, x)                           # evaluation mode
    logits = model.apply(params, x, key=k, train=True)        # dropout on

Models with state (BatchNorm statistics) use ``init_with_state`` and pass ``state=``; ``apply`` then
returns ``(outputs, new_state)``. A Model is itself a layer, so models nest (an autoencoder is
``Sequential([encoder, decoder])`` with params ``{"encoder": ..., "decoder": ...}``).
"""
from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import caller_stacklevel
from fnnet.models.layers import Conv2D, Layer, MaxPool2D
from fnnet.tree import count_params

Array = jax.Array
PyTree = Any


def _as_input(x) -> Array:
    """Model inputs as arrays; integer/bool inputs (e.g. uint8 pixels) become float32, as in Keras."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    return x


def _shapes_of_init(layer: Layer, shape: tuple, dtype) -> tuple[PyTree, PyTree]:
    """``(params, state)`` of ``layer.layer_init`` for inputs of ``shape``/``dtype``, as nested dicts of shape
    tuples, found abstractly (``jax.eval_shape``: nothing is computed)."""
    params, state = jax.eval_shape(lambda x: layer.layer_init(jax.random.key(0), x), jax.ShapeDtypeStruct(shape, dtype))
    as_shapes = lambda tree: jax.tree_util.tree_map(lambda leaf: tuple(leaf.shape), tree)
    return as_shapes(params), as_shapes(state)


_cached_shapes_of_init = functools.lru_cache(maxsize=512)(_shapes_of_init)


def expected_variable_shapes(layer: Layer, x) -> tuple[PyTree, PyTree]:
    """The ``(params, state)`` shapes ``layer`` has for inputs shaped like ``x`` (cached per layer and input
    shape, so eager ``apply`` calls trace each layer's init once)."""
    args = (layer, tuple(x.shape), jnp.dtype(x.dtype))
    try:
        hash(layer)
    except TypeError:  # a layer holding an unhashable setting: not cached
        return _shapes_of_init(*args)
    return _cached_shapes_of_init(*args)


def _tree_misfit(path: str, expected: PyTree, given: PyTree) -> Optional[str]:
    """Where ``given`` (arrays) differs from ``expected`` (nested dicts of shape tuples), or None."""
    if isinstance(expected, dict):
        if not isinstance(given, Mapping):
            return f"{path} must be a dict with entries {sorted(expected)}, got {type(given).__name__}"
        if set(given) != set(expected):
            return f"{path} has entries {sorted(given)}, expected {sorted(expected)}"
        problems = (_tree_misfit(f"{path}['{k}']", expected[k], given[k]) for k in sorted(expected))
        return next((p for p in problems if p is not None), None)
    shape = tuple(np.shape(given))
    return None if shape == expected else f"{path} has shape {shape}, expected {expected}"


def _has_image_layers(model: Model) -> bool:
    return any(isinstance(layer, (Conv2D, MaxPool2D)) or (isinstance(layer, Model) and _has_image_layers(layer))
               for layer in model.layers)


def looks_channels_first(shape: tuple) -> bool:
    """True for a 4-D shape that reads as NCHW images: 1 or 3 on axis 1 and image-sized axes 2 and 3
    (``(N, 1, 28, 28)``, ``(N, 3, 32, 32)``); as NHWC that would be a 1- or 3-pixel-high image with many
    channels."""
    return len(shape) == 4 and shape[1] in (1, 3) and shape[2] >= 8 and shape[3] >= 8


def _auto_names(layers: Sequence[Layer]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        kind = layer.kind
        names.append(f"{kind}_{counts.get(kind, 0)}")
        counts[kind] = counts.get(kind, 0) + 1
    return tuple(names)


@dataclasses.dataclass(frozen=True)
class Model(Layer):
    """A sequence of named layers with pure ``init`` / ``apply`` functions (see module docstring)."""

    layers: tuple
    names: tuple
    name: str = "sequential"
    kind: ClassVar[str] = "model"

    def __post_init__(self):
        if len(self.layers) != len(self.names):
            raise ValueError("layers and names must have the same length")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"layer names must be unique, got {self.names}")

    # -- the user-facing contract ----------------------------------------------------------
    def init(self, key: Array, x_sample) -> PyTree:
        """Trainable parameters for inputs shaped like ``x_sample`` (a batch, e.g. ``X[:1]``)."""
        params, _ = self.init_with_state(key, x_sample)
        return params

    def init_with_state(self, key: Array, x_sample) -> tuple[PyTree, PyTree]:
        """``(params, state)``; ``state`` holds non-trainable variables (BatchNorm statistics)."""
        x = _as_input(x_sample)
        if x.ndim < 1:
            raise ValueError(f"x_sample must be a batch with a leading batch axis, got shape {tuple(x.shape)}")
        if looks_channels_first(tuple(x.shape)) and _has_image_layers(self):
            n, c, h, w = x.shape
            warnings.warn(
                f"x_sample has shape {tuple(x.shape)}, which looks like channels-first (NCHW) images, but fnnet's "
                f"image layers take NHWC (batch, height, width, channels): as given, these are {h}-pixel-wide, "
                f"{c}-pixel-high images with {w} channels. Transpose the images with x.transpose(0, 2, 3, 1) "
                f"(shape ({n}, {h}, {w}, {c})).",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        return self.layer_init(key, x)

    def apply(self, params: PyTree, x, *, key: Optional[Array] = None, train: bool = False, state=None):
        """Forward pass. Returns ``y``, or ``(y, new_state)`` when ``state`` is given.

        Raises ValueError when the model has state (BatchNorm) and none is passed, when dropout needs a
        ``key`` in training, or when ``x`` does not fit the first layers' parameters.
        """
        y, new_state, _ = self.apply_with_activations(params, x, key=key, train=train, state=state)
        return y if state is None else (y, new_state)

    def apply_with_activations(self, params, x, *, key=None, train=False, state=None):
        """Like :meth:`apply` but also returns every layer's output: ``(y, new_state, {name: act})``.

        Under ``jit`` unused activations cost nothing (XLA drops them)."""
        if state is None:
            if self.stateful:
                raise ValueError(
                    f"model '{self.name}' has non-trainable state (BatchNorm statistics): create it with "
                    "init_with_state(key, x) and pass state=... to apply()"
                )
            state = {}
        return self._run(params, state, _as_input(x), key=key, train=train)

    def summary(self, x_sample, *, print_fn=print) -> ModelSummary:
        """Keras' ``model.summary()``, given a sample batch (fnnet models learn their input shape from it):
        prints (with ``print_fn``; ``None`` to stay quiet) and returns the table of layers, output shapes and
        parameter counts. See :func:`summary`."""
        return summary(self, x_sample, print_fn=print_fn)

    def penalty(self, params: PyTree) -> Array:
        """Sum of the layers' weight penalties (``l1=``/``l2=`` on Dense/Conv2D)."""
        total = jnp.zeros((), jnp.float32)
        for layer, name in zip(self.layers, self.names):
            if name in params:
                total = total + layer.penalty(params[name])
        return total

    @property
    def stateful(self) -> bool:
        """True when the model carries non-trainable state (BatchNorm statistics)."""
        return any(layer.stateful for layer in self.layers)

    @property
    def needs_rng(self) -> bool:
        return any(layer.needs_rng for layer in self.layers)

    # -- the layer protocol (so models nest) ----------------------------------------------
    def layer_init(self, key, x):
        params, state = {}, {}
        for i, (layer, name) in enumerate(zip(self.layers, self.names)):
            self._raise_if_unfit(layer, name, layer.check_sample(x))
            layer_params, layer_state = layer.layer_init(jax.random.fold_in(key, i), x)
            if layer_params:
                params[name] = layer_params
            if layer_state:
                state[name] = layer_state
            x, _ = layer.layer_apply(layer_params, layer_state, x, key=jax.random.fold_in(key, i), train=False)
        return params, state

    def layer_apply(self, params, state, x, *, key, train):
        y, new_state, _ = self._run(params, state, x, key=key, train=train)
        return y, new_state

    def check_input(self, params, x):
        if not self.layers:
            return None
        first, name = self.layers[0], self.names[0]
        return first.check_input(params.get(name, {}), x)

    def _run(self, params, state, x, *, key, train):
        if train and key is None and self.needs_rng:
            raise ValueError(f"model '{self.name}' uses dropout: apply(..., train=True) needs key=...")
        self._check_layer_names(params, state)
        activations = {}
        new_state = dict(state)
        for i, (layer, name) in enumerate(zip(self.layers, self.names)):
            layer_params = params.get(name, {})
            # The model's input is the caller's x: a misfit there is x's fault, so check it first. Deeper
            # inputs were made by the layers before, so a misfit there means this layer's params are wrong.
            if i == 0:
                self._raise_if_unfit(layer, name, layer.check_input(layer_params, x))
            self._check_variables(layer, name, params, state, x)
            self._raise_if_unfit(layer, name, layer.check_input(layer_params, x))
            if train:
                self._raise_if_unfit(layer, name, layer.check_training_input(x))
            layer_key = None if key is None else jax.random.fold_in(key, i)
            x, layer_state = layer.layer_apply(layer_params, state.get(name, {}), x, key=layer_key, train=train)
            if layer_state:
                new_state[name] = layer_state
            activations[name] = x
        return x, new_state, activations

    def _check_layer_names(self, params, state) -> None:
        for what, tree in (("params", params), ("state", state)):
            if not isinstance(tree, Mapping):
                raise ValueError(
                    f"{what} must be a dict with one entry per layer of model '{self.name}' (as init_with_state "
                    f"returns), got {type(tree).__name__}"
                )
            unknown = sorted(set(tree) - set(self.names))
            if unknown:
                raise ValueError(
                    f"{what} has entries {unknown} that are not layers of model '{self.name}' (layers: "
                    f"{list(self.names)}): {what} of another model?"
                )

    def _check_variables(self, layer: Layer, name: str, params, state, x) -> None:
        """Raises when ``params[name]``/``state[name]`` do not have the entries and shapes ``layer.layer_init``
        makes for inputs shaped like ``x`` (naming the layer, the expected and the received shapes)."""
        if isinstance(layer, Model):
            return  # a nested model checks its own layers
        expected_params, expected_state = expected_variable_shapes(layer, x)
        checks = [("params", params, expected_params, "the params returned by init (or fit's state.params)")]
        if expected_state:  # layers without init state may still carry overrides (Dropout's rate)
            checks.append(("state", state, expected_state, "the state returned by init_with_state (or fit's "
                                                          "state.model_state)"))
        for what, tree, wanted, remedy in checks:
            if not wanted and name not in tree:
                continue
            if name not in tree:
                problem = f"{what}['{name}'] is missing, expected {wanted}; pass {remedy}"
            else:
                problem = _tree_misfit(f"{what}['{name}']", wanted, tree[name])
                if problem is not None:
                    problem += f" for inputs of shape {tuple(x.shape)} ({what} of another model?)"
            if problem is not None:
                verb = "do" if what == "params" else "does"
                raise ValueError(f"{what} {verb} not fit layer '{name}' ({layer.describe()}) of model '{self.name}': "
                                 f"{problem}")

    def _raise_if_unfit(self, layer: Layer, name: str, problem: Optional[str]) -> None:
        if problem is not None:
            raise ValueError(f"x does not fit layer '{name}' ({layer.describe()}) of model '{self.name}': {problem}")

    def describe(self):
        return f"Model({self.name})"

    def __repr__(self):
        inner = ", ".join(f"{n}={layer.describe()}" for layer, n in zip(self.layers, self.names))
        return f"Model({self.name!r}: {inner})"


def Sequential(layers: Sequence[Layer], *, names: Optional[Sequence[Optional[str]]] = None,
               name: str = "sequential") -> Model:
    """Chains layers into a :class:`Model` (Keras ``Sequential``).

    Layers are named by kind and per-kind index (``dense_0``, ``dense_1``, ``conv2d_0``...) unless
    ``names`` gives explicit names (``None`` entries keep the automatic name). Nested models are named by
    their own ``name``.
    """
    layers = tuple(layers)
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ValueError(
                f"layers[{i}] must be an fnnet layer (Dense, Conv2D, ... or a Model), got {type(layer).__name__}"
            )
    auto = list(_auto_names(layers))
    for i, layer in enumerate(layers):
        if isinstance(layer, Model):
            auto[i] = layer.name
    if names is not None:
        if len(names) != len(layers):
            raise ValueError(f"names has {len(names)} entries but there are {len(layers)} layers")
        auto = [given if given is not None else a for given, a in zip(names, auto)]
    return Model(layers, tuple(auto), name=name)


# ----------------------------------------------------------------------------------------------
# Summary


@dataclasses.dataclass(frozen=True)
class SummaryRow:
    name: str
    type: str
    output_shape: tuple
    params: int
    non_trainable: int


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    """Keras-style table of a model: one row per layer (output shape with ``None`` batch, params)."""

    name: str
    rows: tuple
    trainable_params: int
    non_trainable_params: int

    @property
    def total_params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    def __str__(self) -> str:
        header = ("Layer (type)", "Output Shape", "Param #")
        body = [
            (f"{r.name} ({r.type})", str((None,) + tuple(r.output_shape[1:])), f"{r.params + r.non_trainable:,}")
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in [header] + body) + 2 for i in range(3)]
        rule = "-" * sum(widths)
        fmt = lambda row: "".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        lines = [f'Model: "{self.name}"', rule, fmt(header), "=" * sum(widths)]
        lines += [fmt(row) for row in body]
        lines += [
            "=" * sum(widths),
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            rule,
        ]
        return "\n".join(lines)


def summary(model: Model, x_sample, *, print_fn=print) -> ModelSummary:
    """Builds (and prints with ``print_fn``; pass ``None`` to stay quiet) the Keras-style summary.

    Shapes are found abstractly with ``jax.eval_shape``: nothing is computed, so it is instant even for
    large models. Non-trainable params are the model state (BatchNorm moving mean/variance).
    """
    dtype = x_sample.dtype if hasattr(x_sample, "dtype") else np.asarray(x_sample).dtype  # or a ShapeDtypeStruct
    x = jax.ShapeDtypeStruct(np.shape(x_sample), _as_input(np.zeros((), dtype)).dtype)

    def shapes(x):
        params, state = model.init_with_state(jax.random.key(0), x)
        _, _, acts = model.apply_with_activations(params, x, state=state)
        return params, state, acts

    params, state, acts = jax.eval_shape(shapes, x)
    rows = tuple(
        SummaryRow(
            name=name,
            type=layer.describe(),
            output_shape=tuple(acts[name].shape),
            params=count_params(params.get(name, {})),
            non_trainable=count_params(state.get(name, {})),
        )
        for layer, name in zip(model.layers, model.names)
    )
    result = ModelSummary(model.name, rows, count_params(params), count_params(state))
    if print_fn is not None:
        print_fn(str(result))
    return result
