"""Weight initializers, by name or as functions ``init(key, shape, dtype) -> array``.

All are ``jax.nn.initializers`` underneath; this module gives them the names the course uses.

=========================  ============================================================================
name                       distribution (``fan_in`` = inputs per unit, ``fan_out`` = outputs per unit)
=========================  ============================================================================
``"course_normal"``        N(0, 0.01²): the course's ``np.random.randn(a, b) * 0.01``
``"he_normal"``            N(0, 2/fan_in)
``"he_truncated_normal"``  truncated at ±2σ and rescaled so the variance is still 2/fan_in
``"tf_truncated_normal"``  TF1's ``tf.truncated_normal(stddev=sqrt(2/fan_in))``: cut at ±2σ, *not*
                           rescaled (variance ≈ 0.774·2/fan_in), exactly what the jhui MNIST MLP used
``"glorot_normal"``        N(0, 2/(fan_in+fan_out))
``"glorot_truncated_normal"`` truncated, variance-preserving Glorot
``"glorot_uniform"``       U(±sqrt(6/(fan_in+fan_out))), Keras' default for Dense/Conv kernels
``"lecun_normal"``         N(0, 1/fan_in)
``"zeros"``, ``"ones"``    constants
=========================  ============================================================================
"""
from __future__ import annotations

from typing import Callable, Union

import jax
import jax.numpy as jnp
from jax.nn import initializers as jinit

Initializer = Callable[..., jax.Array]


def normal(stddev: float) -> Initializer:
    """N(0, stddev²), e.g. ``normal(0.01)`` for the course's ``randn * 0.01``."""
    return jinit.normal(stddev)


def tf_truncated_normal(scale: float = 2.0) -> Initializer:
    """TF1 ``truncated_normal(stddev=sqrt(scale/fan_in))``: samples outside ±2σ are redrawn and the
    result is *not* rescaled, so its variance is about 0.774·scale/fan_in (the jhui seed's He init)."""

    def init(key, shape, dtype=jnp.float32):
        fan_in = _fan_in(shape)
        std = (scale / fan_in) ** 0.5
        return jinit.truncated_normal(stddev=std)(key, shape, dtype)

    return init


def _fan_in(shape) -> int:
    """Inputs per unit for a Dense kernel (in, out) or an HWIO conv kernel (h, w, in, out)."""
    fan_in = 1
    for d in shape[:-1]:
        fan_in *= d
    return max(fan_in, 1)


_NAMED = {
    "course_normal": lambda: jinit.normal(0.01),
    "he_normal": lambda: jinit.variance_scaling(2.0, "fan_in", "normal"),
    "he_truncated_normal": lambda: jinit.variance_scaling(2.0, "fan_in", "truncated_normal"),
    "he_uniform": lambda: jinit.variance_scaling(2.0, "fan_in", "uniform"),
    "tf_truncated_normal": tf_truncated_normal,
    "glorot_normal": lambda: jinit.variance_scaling(1.0, "fan_avg", "normal"),
    "glorot_truncated_normal": lambda: jinit.variance_scaling(1.0, "fan_avg", "truncated_normal"),
    "glorot_uniform": lambda: jinit.variance_scaling(1.0, "fan_avg", "uniform"),
    "lecun_normal": lambda: jinit.variance_scaling(1.0, "fan_in", "normal"),
    "zeros": lambda: jinit.zeros,
    "ones": lambda: jinit.ones,
}

NAMES = tuple(sorted(_NAMED))


def get(init: Union[str, Initializer]) -> Initializer:
    """Resolves an initializer name (see the module table) or passes a callable through."""
    if callable(init):
        return init
    if init not in _NAMED:
        raise ValueError(f"unknown initializer {init!r}; known names: {', '.join(NAMES)}")
    return _NAMED[init]()
