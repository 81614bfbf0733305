"""What the diagnostics know about layers: which are monitored, their activation kind, saturation, and
the number formats of the reports."""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

PyTree = Any

#: The update-to-weight ratio the jhui seed aims at (``||lr * dW|| / ||W|| ~ 1e-3``).
TARGET_UPDATE_RATIO = 1e-3


def fmt_sci(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1e}"


def fmt_num(value: Optional[float]) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3g}"


def fmt_pct(value: Optional[float]) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def weights_of(layer_params: PyTree) -> PyTree:
    """The weights the update/weight rule is about: the ``kernel`` when the layer has one (a zero bias
    would make a ratio meaningless), else all of the layer's leaves (BatchNorm scale/bias...)."""
    if isinstance(layer_params, dict) and "kernel" in layer_params:
        return layer_params["kernel"]
    return layer_params


def layer_activation_kind(layer) -> Optional[str]:
    """The activation a layer applies to its output, by name (``"relu"``, ``"tanh"``, ``"linear"``...),
    ``"maxout"``/``"batchnorm"`` for those layers, or None for layers that only move values around
    (Flatten, Dropout, pooling): their outputs are not monitored."""
    from fnnet.models.layers import BatchNorm, Maxout, activation_name

    if hasattr(layer, "activation"):
        return activation_name(layer.activation)
    if isinstance(layer, Maxout):
        return "maxout"
    if isinstance(layer, BatchNorm):
        return "batchnorm"
    return None


def monitored_layers(model, params) -> dict:
    """``{layer name: activation kind or None}`` in the model's order: layers with parameters and layers
    that apply an activation."""
    names = getattr(model, "names", None)
    layers = getattr(model, "layers", None)
    if names is None or layers is None:
        return {name: None for name in params}
    out = {}
    for layer, name in zip(layers, names):
        kind = layer_activation_kind(layer)
        if name in params or kind is not None:
            out[name] = kind
    return out


def saturation_test(kind: str, gradient_fraction: float) -> Optional[Callable]:
    """``is_saturated(output)`` for tanh/sigmoid: the activation's derivative, read off its output, is
    below ``gradient_fraction`` of its maximum (tanh: ``1 - a**2``; sigmoid: ``4 a (1 - a)``)."""
    if kind == "tanh":
        return lambda a: 1.0 - a * a < gradient_fraction
    if kind == "sigmoid":
        return lambda a: 4.0 * a * (1.0 - a) < gradient_fraction
    return None

