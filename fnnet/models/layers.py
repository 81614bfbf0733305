"""Layers: small frozen descriptions with pure ``layer_init`` / ``layer_apply`` functions.

Each layer wraps a Flax Linen module (or a parameter-free ``jax.nn`` function) and exposes the two
functions :class:`fnnet.models.Sequential` composes::

    layer_init(key, x)                        -> (params, state)      # x: a sample batch
    layer_apply(params, state, x, *, key, train) -> (y, new_state)

``params`` holds the trainable arrays (``{"kernel", "bias"}`` for Dense/Conv2D), ``state`` the
non-trainable collections (BatchNorm's ``{"batch_stats": {"mean", "var"}}``); both are ``{}`` for
parameter-free layers. Shapes follow Keras: Dense maps ``(..., in) -> (..., units)``; images are NHWC.
"""
from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Callable, ClassVar, Optional, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks, initializers

Array = jax.Array
PyTree = Any

# ----------------------------------------------------------------------------------------------
# Activations


def _leaky_relu(x, negative_slope: float = 0.01):
    return jax.nn.leaky_relu(x, negative_slope)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "linear": lambda x: x,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "leaky_relu": _leaky_relu,
    "elu": jax.nn.elu,
    "gelu": jax.nn.gelu,
    "softplus": jax.nn.softplus,
    "softmax": lambda x: jax.nn.softmax(x, axis=-1),
    "log_softmax": lambda x: jax.nn.log_softmax(x, axis=-1),
}


def get_activation(activation: Union[str, Callable, None]) -> Callable[[Array], Array]:
    """Resolves an activation name (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"leaky_relu"``,
    ``"softmax"``, ...) or passes a callable through; ``None`` means identity."""
    if activation is None:
        return ACTIVATIONS["linear"]
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[activation]


def activation_name(activation) -> str:
    if activation is None:
        return "linear"
    return activation if isinstance(activation, str) else getattr(activation, "__name__", "custom")


# ----------------------------------------------------------------------------------------------
# Base classes


class Layer:
    """Base of all layers. Subclasses are frozen dataclasses and set ``kind`` (the name prefix
    Sequential uses: ``dense`` -> ``dense_0``, ``dense_1`` ...)."""

    kind: ClassVar[str] = "layer"

    def layer_init(self, key: Array, x: Array) -> tuple[PyTree, PyTree]:
        return {}, {}

    def layer_apply(self, params, state, x, *, key: Optional[Array], train: bool):
        raise NotImplementedError

    def check_input(self, params: PyTree, x: Array) -> Optional[str]:
        """Returns a description of why ``x`` cannot be this layer's input, or None when it can."""
        return None

    def check_sample(self, x: Array) -> Optional[str]:
        """Like :meth:`check_input` for the sample batch at ``init`` time, before any params exist:
        the facts that need no params (the input's rank). Flax would otherwise fail deep inside its
        own shape code (e.g. a Conv2D given flat ``(N, 784)`` inputs)."""
        return None

    def check_training_input(self, x: Array) -> str | None:
        """Like :meth:`check_input`, for ``apply(train=True)`` only: what makes ``x`` unusable in training
        (BatchNorm: a single value per feature). Shapes only, so it works under ``jit``."""
        return None

    def penalty(self, params: PyTree) -> Array:
        """Weight penalty this layer adds to the training loss (Keras ``kernel_regularizer``)."""
        return jnp.zeros((), jnp.float32)

    @property
    def needs_rng(self) -> bool:
        """True when ``layer_apply(train=True)`` draws random numbers (Dropout)."""
        return False

    @property
    def stateful(self) -> bool:
        """True when the layer carries non-trainable state that ``apply`` must be given."""
        return False

    def describe(self) -> str:
        """Short type description for model summaries, e.g. ``Dense(128, relu)``."""
        return type(self).__name__


@dataclasses.dataclass(frozen=True)
class FlaxLayer(Layer):
    """Adapter that turns any Flax Linen module into a layer.

    ``train_arg`` names the module's keyword that switches behaviour between training and evaluation
    and ``train_value_when_training`` the value it takes when training (e.g.
    ``("deterministic", False)`` for ``nn.Dropout``, ``("use_running_average", False)`` for
    ``nn.BatchNorm``). Non-``params`` collections are the layer's state and are updated in training.
    """

    module: nn.Module
    train_arg: Optional[str] = None
    train_value_when_training: Any = True
    has_state: bool = False
    kind: ClassVar[str] = "flax"

    @property
    def stateful(self) -> bool:
        return self.has_state

    def _call_kwargs(self, train: bool) -> dict:
        if self.train_arg is None:
            return {}
        value = self.train_value_when_training if train else (not self.train_value_when_training)
        return {self.train_arg: value}

    def layer_init(self, key, x):
        param_key, dropout_key = jax.random.split(key)
        variables = self.module.init({"params": param_key, "dropout": dropout_key}, x, **self._call_kwargs(False))
        variables = dict(variables)
        params = variables.pop("params", {})
        return params, variables

    def layer_apply(self, params, state, x, *, key, train):
        variables = {"params": params, **state}
        rngs = {"dropout": key} if key is not None else {}
        if train and state:
            y, updated = self.module.apply(
                variables, x, rngs=rngs, mutable=list(state.keys()), **self._call_kwargs(True)
            )
            return y, {**state, **dict(updated)}
        return self.module.apply(variables, x, rngs=rngs, **self._call_kwargs(train)), state

    def describe(self) -> str:
        return type(self.module).__name__


def _kernel_penalty(params, l1: float, l2: float) -> Array:
    """Keras regularizer convention on the kernel: ``l1 * sum|W| + l2 * sum W**2``."""
    from fnnet import losses

    total = jnp.zeros((), jnp.float32)
    if l1:
        total = total + losses.l1_penalty(params, l1)
    if l2:
        total = total + losses.l2_penalty(params, l2)
    return total


# ----------------------------------------------------------------------------------------------
# Layers with weights


class _KernelLayer(Layer):
    """A flax ``nn.Dense``/``nn.Conv`` (``_module``) followed by ``activation``, with Keras-style
    ``l1``/``l2`` penalties on its kernel: what Dense and Conv2D share."""

    activation: Union[str, Callable, None]
    l1: float
    l2: float

    @property
    def _module(self) -> nn.Module:
        raise NotImplementedError

    def layer_init(self, key, x):
        return dict(self._module.init(key, x)["params"]), {}

    def layer_apply(self, params, state, x, *, key, train):
        return get_activation(self.activation)(self._module.apply({"params": params}, x)), state

    def penalty(self, params):
        return _kernel_penalty(params, self.l1, self.l2)


@dataclasses.dataclass(frozen=True)
class Dense(_KernelLayer):
    """Fully connected layer ``y = activation(x @ kernel + bias)``: ``(..., in) -> (..., units)``.

    ``kernel_init`` defaults to Keras' ``glorot_uniform``; ``l1``/``l2`` add Keras-style kernel
    penalties to the training loss.
    """

    units: int
    activation: Union[str, Callable, None] = None
    use_bias: bool = True
    kernel_init: Union[str, Callable] = "glorot_uniform"
    bias_init: Union[str, Callable] = "zeros"
    l1: float = 0.0
    l2: float = 0.0
    kind: ClassVar[str] = "dense"

    def __post_init__(self):
        _check_positive_int("Dense", "units", self.units)
        get_activation(self.activation)

    @property
    def _module(self) -> nn.Dense:
        return nn.Dense(
            self.units,
            use_bias=self.use_bias,
            kernel_init=initializers.get(self.kernel_init),
            bias_init=initializers.get(self.bias_init),
        )

    def check_input(self, params, x):
        expected = params["kernel"].shape[0]
        if x.ndim < 2 or x.shape[-1] != expected:
            return f"expects inputs of shape (batch, ..., {expected}), got {tuple(x.shape)}"
        return None

    def check_sample(self, x):
        if x.ndim < 2:
            return f"expects inputs of shape (batch, ..., features), got {tuple(x.shape)}"
        return None

    def describe(self):
        return f"Dense({self.units}, {activation_name(self.activation)})"


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_positive_int(layer: str, arg: str, value) -> None:
    _checks.check_int(f"{layer} {arg}", value)


def _check_window(layer: str, arg: str, value) -> None:
    """``value`` must be a positive int or a pair of them (a 2-D window: kernel, pool or stride size)."""
    pair = (value, value) if _is_int(value) else value
    if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(_is_int(v) and v > 0 for v in pair):
        raise ValueError(f"{layer} {arg} must be a positive int or a pair of positive ints (height, width), "
                         f"got {value!r}")


def _padding(padding: str) -> str:
    p = padding.upper() if isinstance(padding, str) else None
    if p not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
    return p


def _window_misfit(arg: str, window: tuple[int, int], padding: str, x) -> str | None:
    """Why a ``window`` (kernel or pool size) cannot slide over NHWC ``x`` with ``padding``, or None: with
    ``'valid'`` (no padding) the window must fit inside the image, else the output would be empty."""
    if x.ndim != 4 or _padding(padding) != "VALID":
        return None
    height, width = x.shape[1:3]
    if window[0] > height or window[1] > width:
        return (
            f"{arg} {window} is larger than the input's (height, width) {(height, width)} with padding='valid' "
            f"(the output would be empty); use a smaller {arg} or padding='same'"
        )
    return None


@dataclasses.dataclass(frozen=True)
class Conv2D(_KernelLayer):
    """2-D convolution over NHWC images with an HWIO kernel ``(kh, kw, in, filters)``.

    ``padding`` is ``"valid"`` (no padding, Keras' default) or ``"same"`` (TF-style zero padding so
    that ``out = ceil(in / stride)``). Output ``(N, H', W', filters)``.
    """

    filters: int
    kernel_size: Union[int, Sequence[int]] = 3
    strides: Union[int, Sequence[int]] = 1
    padding: str = "valid"
    activation: Union[str, Callable, None] = None
    use_bias: bool = True
    kernel_init: Union[str, Callable] = "glorot_uniform"
    bias_init: Union[str, Callable] = "zeros"
    l1: float = 0.0
    l2: float = 0.0
    kind: ClassVar[str] = "conv2d"

    def __post_init__(self):
        _check_positive_int("Conv2D", "filters", self.filters)
        _check_window("Conv2D", "kernel_size", self.kernel_size)
        _check_window("Conv2D", "strides", self.strides)
        _padding(self.padding)
        get_activation(self.activation)

    @property
    def _module(self) -> nn.Conv:
        return nn.Conv(
            self.filters,
            kernel_size=_pair(self.kernel_size),
            strides=_pair(self.strides),
            padding=_padding(self.padding),
            use_bias=self.use_bias,
            kernel_init=initializers.get(self.kernel_init),
            bias_init=initializers.get(self.bias_init),
        )

    def check_input(self, params, x):
        channels = params["kernel"].shape[2]
        if x.ndim != 4 or x.shape[-1] != channels:
            return f"expects NHWC images of shape (batch, height, width, {channels}), got {tuple(x.shape)}"
        return _window_misfit("kernel_size", _pair(self.kernel_size), self.padding, x)

    def check_sample(self, x):
        if x.ndim != 4:
            return f"expects NHWC images (batch, height, width, channels), got {tuple(x.shape)}"
        return _window_misfit("kernel_size", _pair(self.kernel_size), self.padding, x)

    def describe(self):
        k = "x".join(map(str, _pair(self.kernel_size)))
        s = _pair(self.strides)[0]
        return f"Conv2D({self.filters}, {k}, s{s}, {self.padding}, {activation_name(self.activation)})"


@dataclasses.dataclass(frozen=True)
class Maxout(Layer):
    """Maxout units: ``y_j = max_k (x @ W_k + b_k)_j`` over ``pieces`` affine maps
    (Goodfellow et al. 2013; the jhui seed's ``max(W1 x + b1, W2 x + b2)`` is ``pieces=2``)."""

    units: int
    pieces: int = 2
    kernel_init: Union[str, Callable] = "glorot_uniform"
    kind: ClassVar[str] = "maxout"

    def __post_init__(self):
        _check_positive_int("Maxout", "units", self.units)
        _check_positive_int("Maxout", "pieces", self.pieces)

    @property
    def _module(self) -> nn.Dense:
        return nn.Dense(self.units * self.pieces, kernel_init=initializers.get(self.kernel_init))

    def layer_init(self, key, x):
        return dict(self._module.init(key, x)["params"]), {}

    def layer_apply(self, params, state, x, *, key, train):
        z = self._module.apply({"params": params}, x)
        return z.reshape(z.shape[:-1] + (self.units, self.pieces)).max(axis=-1), state

    def check_input(self, params, x):
        return Dense.check_input(self, params, x)

    def check_sample(self, x):
        return Dense.check_sample(self, x)

    def describe(self):
        return f"Maxout({self.units}x{self.pieces})"


def stable_moments(x: Array) -> tuple[Array, Array]:
    """Per-feature ``(mean, biased variance)`` of ``x (..., features)`` over all but the last axis, in at least
    float32, numerically stable for features whose mean is large compared with their spread.

    The variance is the mean of squared deviations (flax's ``use_fast_variance=True`` form
    ``E[x^2] - E[x]^2`` cancels catastrophically: at mean 1e4, std 1 it is off by ~100%). The mean gets one
    correction step, ``m = m1 + mean(x - m1)``: the float32 rounding of the first pass alone still moves the
    normalized outputs by ~2e-3 at mean 1e4; corrected, they are within float32's own resolution there
    (ulp(1e4) / 2 / std, about 5e-4) of a float64 computation.
    """
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    axes = tuple(range(x.ndim - 1))
    first = x.mean(axes)
    mean = first + (x - first).mean(axes)
    return mean, jnp.square(x - mean).mean(axes)


class _StableBatchNorm(nn.Module):
    """``nn.BatchNorm`` over the last axis with :func:`stable_moments`; the same variables as flax's
    (params ``scale``/``bias``, ``batch_stats`` ``mean``/``var``) and the same running-average update."""

    momentum: float
    epsilon: float

    @nn.compact
    def __call__(self, x, *, use_running_average: bool):
        features = x.shape[-1]
        running_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros(features, jnp.float32))
        running_var = self.variable("batch_stats", "var", lambda: jnp.ones(features, jnp.float32))
        scale = self.param("scale", nn.initializers.ones, (features,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
        if use_running_average:
            mean, var = running_mean.value, running_var.value
        else:
            mean, var = stable_moments(x)
            if not self.is_initializing():
                running_mean.value = self.momentum * running_mean.value + (1.0 - self.momentum) * mean
                running_var.value = self.momentum * running_var.value + (1.0 - self.momentum) * var
        dtype = jnp.result_type(x, scale)
        y = (x - mean) * (jax.lax.rsqrt(var + self.epsilon) * scale) + bias
        return y.astype(dtype)


@dataclasses.dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalization over the last (feature/channel) axis.

    Training: ``y = (x - mean) / sqrt(var + epsilon) * scale + bias`` with the batch's per-feature mean and
    biased variance (over every axis but the last: batch, height, width), computed stably
    (:func:`stable_moments`), and the running averages updated as
    ``running = momentum * running + (1 - momentum) * batch`` (Keras' convention; PyTorch's ``momentum`` is
    ``1 -`` this one). The running variance is the *biased* batch variance, as in Keras; PyTorch stores the
    unbiased one (``n / (n - 1)`` larger). Evaluation: the running averages. Defaults follow Keras
    (momentum 0.99, epsilon 1e-3). State: ``{"batch_stats": {"mean", "var"}}``.

    Raises ValueError at construction for ``momentum`` outside ``[0, 1)`` or ``epsilon <= 0``, and at
    ``apply(train=True)`` when there is only one value per feature (a batch of one example of flat
    features), which would normalize every output to exactly 0 (PyTorch raises there too). A batch of one
    *image* is fine: the statistics are over its pixels.
    """

    momentum: float = 0.99
    epsilon: float = 1e-3
    kind: ClassVar[str] = "batchnorm"

    def __post_init__(self):
        if not _is_real(self.momentum) or not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"BatchNorm momentum must be a number in [0, 1), got {self.momentum!r}")
        if not _is_real(self.epsilon) or not (0.0 < self.epsilon < float("inf")):
            raise ValueError(f"BatchNorm epsilon must be a finite number > 0, got {self.epsilon!r}")

    @property
    def _adapter(self) -> FlaxLayer:
        return FlaxLayer(
            _StableBatchNorm(momentum=float(self.momentum), epsilon=float(self.epsilon)),
            train_arg="use_running_average",
            train_value_when_training=False,
            has_state=True,
        )

    def layer_init(self, key, x):
        return self._adapter.layer_init(key, x)

    def layer_apply(self, params, state, x, *, key, train):
        return self._adapter.layer_apply(params, state, x, key=None, train=train)

    @property
    def stateful(self) -> bool:
        return True

    def check_input(self, params, x):
        if "scale" not in params:
            return f"expects params {{'scale', 'bias'}}, got {sorted(params)}"
        features = params["scale"].shape[0]
        if x.shape[-1] != features:
            return f"expects {features} features on the last axis, got shape {tuple(x.shape)}"
        return None

    def check_training_input(self, x):
        if x.ndim >= 1 and x.size == x.shape[-1]:
            return (
                f"in training, batch statistics need more than one value per feature, got shape {tuple(x.shape)} "
                "(a batch of one example would normalize every output to 0); use batches of 2 or more examples"
            )
        return None

    def describe(self):
        return "BatchNorm"


# ----------------------------------------------------------------------------------------------
# Parameter-free layers


@dataclasses.dataclass(frozen=True)
class Activation(Layer):
    """Applies an activation function by name or callable (``Activation("relu")``)."""

    activation: Union[str, Callable]
    kind: ClassVar[str] = "activation"

    def __post_init__(self):
        get_activation(self.activation)

    def layer_apply(self, params, state, x, *, key, train):
        return get_activation(self.activation)(x), state

    def describe(self):
        return f"Activation({activation_name(self.activation)})"


class _RateDropout(nn.Module):
    """``nn.Dropout`` with the rate as an array argument instead of a static attribute, so the rate can
    be traced (``vmap`` over rates). For the same key and rate it draws ``nn.Dropout``'s exact mask."""

    @nn.compact
    def __call__(self, x, rate):
        keep = 1.0 - rate
        mask = jax.random.bernoulli(self.make_rng("dropout"), p=keep, shape=x.shape)
        return jax.lax.select(mask, x / keep, jnp.zeros_like(x))


class _KeepMask(nn.Module):
    """The boolean keep-mask ``nn.Dropout`` draws for this key and rate (``bernoulli(1 - rate)``), for
    classic dropout, which multiplies by the mask without rescaling."""

    @nn.compact
    def __call__(self, x, rate):
        return jax.random.bernoulli(self.make_rng("dropout"), p=1.0 - rate, shape=x.shape)


@dataclasses.dataclass(frozen=True)
class Dropout(Layer):
    """Dropout of each unit with probability ``rate`` in training. Needs a ``key`` when ``train=True``.

    * ``inverted=True`` (default; Keras, PyTorch, flax): training computes ``x * mask / (1 - rate)`` with
      ``mask ~ Bernoulli(1 - rate)``, evaluation returns ``x`` unchanged.
    * ``inverted=False``, classic dropout (Srivastava et al. 2014; seed 001's worked example
      ``[0.2, 0.5, 1.3, 0.8, 1.1] -> [0, 0.5, 1.3, 0, 1.1]``, CS4487's "scale by p at test time"):
      training computes ``x * mask`` (kept units unscaled), evaluation ``x * (1 - rate)``.

    Both have the same expectation over masks, ``E[train output] = evaluation output``; for one key they
    drop the same units and their training outputs differ by the factor ``1 / (1 - rate)``.

    Rate override: when the layer's entry in the model state holds ``{"rate": r}`` (a float32 scalar
    array in [0, 1)), ``r`` replaces ``rate`` (in training, and in classic dropout's evaluation scale).
    The state is an array, not a static setting, so ``jax.vmap`` can train one model per rate in a single
    program (``fnnet.search.set_hyperparams(state, model, dropout=rates)`` writes it)."""

    rate: float
    inverted: bool = True
    kind: ClassVar[str] = "dropout"

    def __post_init__(self):
        if not _is_real(self.rate) or not 0.0 <= self.rate < 1.0:
            raise ValueError(f"Dropout rate must be a number in [0, 1), got {self.rate!r}")
        if not isinstance(self.inverted, bool):
            raise TypeError(f"Dropout inverted must be True or False, got {self.inverted!r}")

    def layer_apply(self, params, state, x, *, key, train):
        overridden = "rate" in state
        if self.rate == 0.0 and not overridden:
            return x, state
        if not train:
            if self.inverted:
                return x, state
            rate = state["rate"] if overridden else self.rate
            return x * jnp.asarray(1.0 - rate, x.dtype), state
        if key is None:
            raise ValueError("Dropout in training mode needs a PRNG key: pass key=... to apply()")
        if not self.inverted:
            rate = state["rate"] if overridden else self.rate
            mask = _KeepMask().apply({}, x, rate, rngs={"dropout": key})
            return jax.lax.select(mask, x, jnp.zeros_like(x)), state
        if overridden:
            return _RateDropout().apply({}, x, state["rate"], rngs={"dropout": key}), state
        return nn.Dropout(self.rate, deterministic=False).apply({}, x, rngs={"dropout": key}), state

    @property
    def needs_rng(self):
        return self.rate > 0.0

    def describe(self):
        return f"Dropout({self.rate:g})" if self.inverted else f"Dropout({self.rate:g}, inverted=False)"


@dataclasses.dataclass(frozen=True)
class MaxPool2D(Layer):
    """Max pooling over NHWC images; ``strides`` defaults to ``pool_size`` (Keras)."""

    pool_size: Union[int, Sequence[int]] = 2
    strides: Union[int, Sequence[int], None] = None
    padding: str = "valid"
    kind: ClassVar[str] = "maxpool2d"

    def __post_init__(self):
        _check_window("MaxPool2D", "pool_size", self.pool_size)
        if self.strides is not None:
            _check_window("MaxPool2D", "strides", self.strides)
        _padding(self.padding)

    def layer_apply(self, params, state, x, *, key, train):
        window = _pair(self.pool_size)
        strides = _pair(self.strides) if self.strides is not None else window
        return nn.max_pool(x, window, strides=strides, padding=_padding(self.padding)), state

    def check_input(self, params, x):
        return self.check_sample(x)

    def check_sample(self, x):
        if x.ndim != 4:
            return f"expects NHWC images (4 dimensions), got shape {tuple(x.shape)}"
        return _window_misfit("pool_size", _pair(self.pool_size), self.padding, x)

    def describe(self):
        return f"MaxPool2D({'x'.join(map(str, _pair(self.pool_size)))})"


@dataclasses.dataclass(frozen=True)
class Flatten(Layer):
    """Flattens everything but the batch axis: ``(N, ...) -> (N, prod(...))``."""

    kind: ClassVar[str] = "flatten"

    def layer_apply(self, params, state, x, *, key, train):
        return x.reshape(x.shape[0], -1), state


@dataclasses.dataclass(frozen=True)
class Reshape(Layer):
    """Reshapes every example: ``(N, ...) -> (N, *target_shape)``."""

    target_shape: tuple
    kind: ClassVar[str] = "reshape"

    def check_input(self, params, x):
        return self.check_sample(x)

    def check_sample(self, x):
        target = tuple(self.target_shape)
        size = int(np.prod(x.shape[1:]))
        if -1 not in target and int(np.prod(target)) != size:
            return (f"cannot reshape each example of shape {tuple(x.shape[1:])} ({size} values) into target_shape "
                    f"{target}")
        return None

    def layer_apply(self, params, state, x, *, key, train):
        return x.reshape((x.shape[0],) + tuple(self.target_shape)), state


@dataclasses.dataclass(frozen=True)
class Lambda(Layer):
    """A parameter-free pure function ``fn(x) -> y`` used as a layer (e.g. feature expansion)."""

    fn: Callable[[Array], Array]
    name_hint: str = "lambda"
    kind: ClassVar[str] = "lambda"

    def layer_apply(self, params, state, x, *, key, train):
        return self.fn(x), state

    def describe(self):
        return f"Lambda({self.name_hint})"
