"""Model architectures as JSON-ready configs: :func:`model_config` and its inverse :func:`model_from_config`.

A config is plain data (dicts, lists, strings, numbers), so ``json.dumps(model_config(model))`` is the
architecture on disk (what :func:`fnnet.save_model` writes)::

    {"class": "Sequential", "name": "mlp", "names": ["flatten_0", "dense_0"],
     "layers": [{"class": "Flatten", "config": {}}, {"class": "Dense", "config": {"units": 10, ...}}]}

Every built-in layer (Dense, Conv2D, Maxout, BatchNorm, Activation, Dropout, MaxPool2D, Flatten, Reshape)
and nested Sequential models round-trip: ``model_from_config(model_config(m)) == m``. Layers that hold
code rather than settings (``Lambda``, ``FlaxLayer``, or a built-in layer given a callable activation or
initializer) cannot be written as data: their entry is ``{"class": ..., "custom": "<why>"}`` and
rebuilding raises, naming the layer; pass the model itself instead (``fnnet.load_model(path, model=...)``).
"""
from __future__ import annotations

import dataclasses
import numbers
from typing import Any

from fnnet.models.core import Model, Sequential
from fnnet.models.layers import (
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    Maxout,
    MaxPool2D,
    Reshape,
)

BUILTIN_LAYERS: dict[str, type] = {
    cls.__name__: cls for cls in (Dense, Conv2D, Maxout, BatchNorm, Activation, Dropout, MaxPool2D, Flatten, Reshape)
}
MODEL_CLASS = "Sequential"


class CustomLayerError(ValueError):
    """A config names a layer that holds code (Lambda, FlaxLayer, a callable setting): it cannot be rebuilt
    from data."""


def _json_value(value: Any) -> Any:
    """A layer setting as JSON data, or raises TypeError (a callable, an object) for the caller to mark custom."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    raise TypeError(f"{type(value).__name__} {value!r}")


def _from_json_value(value: Any) -> Any:
    """JSON lists back to tuples: layer settings are hashable (layers are cache keys)."""
    return tuple(_from_json_value(v) for v in value) if isinstance(value, list) else value


def layer_config(layer: Layer) -> dict:
    """One layer's config: ``{"class", "config"}`` for a built-in layer, the nested model's config for a
    :class:`Model`, or ``{"class", "custom": reason}`` for a layer that holds code."""
    if isinstance(layer, Model):
        return {"class": MODEL_CLASS, "name": layer.name, "names": list(layer.names),
                "layers": [layer_config(inner) for inner in layer.layers]}
    cls = type(layer).__name__
    if BUILTIN_LAYERS.get(cls) is not type(layer):
        return {"class": cls, "custom": f"{layer.describe()} is a {cls} layer, which holds code"}
    settings = {}
    for field in dataclasses.fields(layer):
        value = getattr(layer, field.name)
        try:
            settings[field.name] = _json_value(value)
        except TypeError:
            return {"class": cls, "custom": f"{layer.describe()} has a callable or object {field.name} ({value!r})"}
    return {"class": cls, "config": settings}


def model_config(model: Model) -> dict:
    """``model``'s architecture as JSON-ready data (see the module docstring)."""
    if not isinstance(model, Model):
        raise TypeError(f"model must be an fnnet Model (Sequential([...])), got {type(model).__name__}")
    return layer_config(model)


def custom_layers(config: dict, prefix: str = "") -> list[str]:
    """``"path/to/layer: reason"`` for every layer of ``config`` that cannot be rebuilt from data."""
    found = []
    for name, entry in zip(config.get("names", ()), config.get("layers", ())):
        if entry.get("class") == MODEL_CLASS and "layers" in entry:
            found += custom_layers(entry, f"{prefix}{name}/")
        elif "custom" in entry:
            found.append(f"{prefix}{name}: {entry['custom']}")
    return found


def _layer_from_config(entry: Any, path: str) -> Layer:
    """The layer of one config entry; ``path`` is its name inside the outer model (``"encoder/dense_0"``)."""
    where = f"'{path}'"
    if not isinstance(entry, dict) or "class" not in entry:
        raise ValueError(f"layer config {where} must be a dict with a 'class' entry, got {entry!r}")
    if entry["class"] == MODEL_CLASS and "layers" in entry:
        return model_from_config(entry, _prefix=f"{path}/")
    if "custom" in entry:
        raise CustomLayerError(
            f"layer {where} cannot be rebuilt from the saved config: {entry['custom']}; rebuild the model in "
            "code and pass it: fnnet.load_model(path, model=...)"
        )
    cls = BUILTIN_LAYERS.get(entry["class"])
    if cls is None:
        raise ValueError(f"layer {where} has unknown class {entry['class']!r}; known: {', '.join(BUILTIN_LAYERS)}")
    settings = entry.get("config", {})
    try:
        return cls(**{k: _from_json_value(v) for k, v in settings.items()})
    except TypeError as err:  # a setting this version's layer does not take
        raise ValueError(f"layer {where} ({entry['class']}) has settings {sorted(settings)} that do not fit: {err}") \
            from None


def model_from_config(config: dict, *, _prefix: str = "") -> Model:
    """The :class:`Model` a :func:`model_config` describes. Raises :class:`CustomLayerError` (a ValueError)
    naming the first layer that holds code, ValueError for a config that is not a model's."""
    where = f"model '{_prefix[:-1]}'" if _prefix else "model"
    if not isinstance(config, dict) or config.get("class") != MODEL_CLASS or not isinstance(config.get("layers"), list):
        raise ValueError(f"{where} config must be a dict with class {MODEL_CLASS!r} and a 'layers' list, got "
                         f"{str(config)[:200]}")
    names = config.get("names") or [None] * len(config["layers"])
    if len(names) != len(config["layers"]):
        raise ValueError(f"{where} config has {len(names)} names for {len(config['layers'])} layers")
    layers = [_layer_from_config(entry, f"{_prefix}{name}") for name, entry in zip(names, config["layers"])]
    return Sequential(layers, names=names, name=config.get("name", "sequential"))
