"""A trained model on disk: :func:`save_model` / :func:`load_model` (Keras' ``model.save`` / ``load_model``).

A saved model is a folder::

    path/model.json   the format, the architecture (:func:`fnnet.models.config.model_config`), the step,
                      epoch and the shape and dtype of every array
    path/arrays/      params, model state (BatchNorm statistics, Dropout rate overrides) and the PRNG key,
                      written by orbax (``StandardCheckpointer``)

Both are written into a temporary sibling folder that is renamed into place when complete, so a crash
mid-save leaves the previous save (or nothing) at ``path``, never half a model. The optimizer state is not
saved: a saved model is for inference (``fnnet.predict``) or a new ``fit``; to resume a run exactly, use
``fit(..., checkpoint=fnnet.Checkpointing(...))``.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from fnnet.models.config import custom_layers, model_config, model_from_config
from fnnet.models.core import Model
from fnnet.state import TrainState

FORMAT = "fnnet.saved_model"
FORMAT_VERSION = 1
CONFIG_FILE = "model.json"
ARRAYS_DIR = "arrays"


def _fnnet_version() -> str:
    try:
        return importlib.metadata.version("fnnet")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _pruned(tree: Any) -> Any:
    """``tree`` without empty dicts (orbax stores leaves; an empty subtree would not come back)."""
    if isinstance(tree, Mapping):
        kept = {str(k): _pruned(v) for k, v in tree.items()}
        return {k: v for k, v in kept.items() if not (isinstance(v, dict) and not v)}
    return tree


def _spec(tree: Any) -> Any:
    """The JSON description of an array tree: the same nested dicts with ``"float32[2, 3]"`` leaves."""
    if isinstance(tree, Mapping):
        return {k: _spec(v) for k, v in tree.items()}
    if not hasattr(tree, "shape") and not isinstance(tree, (int, float, np.number)):
        raise TypeError(f"expected arrays in nested dicts, got a {type(tree).__name__}")
    return f"{np.dtype(jnp.asarray(tree).dtype).name}{list(np.shape(tree))}"


def _abstract(spec: Any, where: str) -> Any:
    """``jax.ShapeDtypeStruct`` tree of a :func:`_spec` (what orbax restores into)."""
    if isinstance(spec, dict):
        return {k: _abstract(v, f"{where}/{k}") for k, v in spec.items()}
    try:
        dtype, shape = spec.split("[", 1)
        return jax.ShapeDtypeStruct(tuple(json.loads("[" + shape)), jnp.dtype(dtype))
    except (AttributeError, ValueError, TypeError):
        raise ValueError(f"{CONFIG_FILE} describes array {where} as {spec!r}, expected e.g. 'float32[2, 3]' "
                         "(damaged file?)") from None


def _state_parts(state, model_state) -> tuple[Any, Any, dict, Optional[jax.Array]]:
    """``(params, model_state, counters, key data)`` of a TrainState or a params tree; ``counters`` also
    names the key's implementation (``"threefry2x32"``) for a typed key."""
    if isinstance(state, TrainState):
        key = state.key
        counters = {"step": np.asarray(state.step).tolist(), "epoch": np.asarray(state.epoch).tolist()}
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            counters["key_impl"] = str(jax.random.key_impl(key))
            key = jax.random.key_data(key)
        return state.params, state.model_state if model_state is None else model_state, counters, key
    if isinstance(state, Mapping):
        return state, {} if model_state is None else model_state, {"step": 0, "epoch": 0}, None
    raise TypeError(f"state must be a TrainState (what fnnet.fit returns) or a params dict, got {type(state).__name__}")


def save_model(path, model: Model, state, *, model_state=None, overwrite: bool = True) -> Path:
    """Writes ``model``'s architecture and ``state``'s params and model state to the folder ``path``.

    Args:
      path: the folder to write (created; its parent too). An existing saved model there is replaced
        (atomically) unless ``overwrite=False``; any other existing path is left alone and raises.
      model: the :class:`fnnet.models.Model`. A model with layers that hold code (``Lambda``,
        ``FlaxLayer``, a callable activation) is saved with a UserWarning naming them: loading it then needs
        ``load_model(path, model=...)`` with the model rebuilt in code.
      state: a :class:`fnnet.TrainState` (``fit``'s), or a params dict (then ``model_state=`` for BatchNorm).
    Returns:
      ``Path(path)``.
    """
    path = Path(path)
    config = model_config(model)
    params, model_state, counters, key = _state_parts(state, model_state)
    arrays = _pruned({"params": params, "model_state": model_state or {},
                      **({} if key is None else {"key": key})})
    try:
        spec = _spec(arrays)
    except TypeError as err:
        raise TypeError(f"state must hold arrays in nested dicts: {err}") from None
    custom = custom_layers(config)
    if custom:
        warnings.warn(f"saving model '{model.name}' with layers that hold code, which {CONFIG_FILE} cannot "
                      f"describe: {'; '.join(custom)}. load_model({str(path)!r}) will need model=... (the model "
                      "rebuilt in code).", UserWarning, stacklevel=2)
    if path.exists():
        if not (path / CONFIG_FILE).is_file():
            raise FileExistsError(f"{path} exists and is not a saved fnnet model: not replacing it")
        if not overwrite:
            raise FileExistsError(f"{path} already holds a saved model; pass overwrite=True to replace it")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fnnet_version": _fnnet_version(),
            "model": config, "custom_layers": custom, **counters, "arrays": spec}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.saving-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        temporary.mkdir()
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(temporary.resolve() / ARRAYS_DIR, arrays)
            checkpointer.wait_until_finished()
        (temporary / CONFIG_FILE).write_text(json.dumps(meta, indent=1))
        _replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return path


def _replace(new: Path, path: Path) -> None:
    """Renames ``new`` to ``path``; an existing ``path`` is moved aside first and deleted after."""
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.replaced-{uuid.uuid4().hex[:8]}"
        path.rename(old)
    new.rename(path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _read_meta(path: Path) -> dict:
    if not path.is_dir():
        raise FileNotFoundError(f"no saved model at {path} (save_model writes a folder)")
    file = path / CONFIG_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a saved fnnet model: {CONFIG_FILE} is missing")
    try:
        meta = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{file} is damaged (not valid JSON: {err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{file} is not an fnnet saved-model description (format {FORMAT!r} expected)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{file} has format version {meta.get('format_version')!r}; this fnnet reads version "
                         f"{FORMAT_VERSION}")
    for entry in ("model", "arrays"):
        if entry not in meta:
            raise ValueError(f"{file} is damaged: its {entry!r} entry is missing")
    return meta


def _check_given_model(model: Model, saved: dict, path: Path) -> None:
    """A ``model=`` passed to :func:`load_model` must have the saved model's layer names and kinds."""
    given = model_config(model)

    def outline(config):
        return [(name, entry.get("class"), outline(entry) if "layers" in entry else None)
                for name, entry in zip(config.get("names", ()), config.get("layers", ()))]

    if outline(given) != outline(saved):
        describe = lambda config: [f"{name} ({cls})" for name, cls, _ in outline(config)]
        raise ValueError(f"model= does not match the model saved at {path}: saved layers {describe(saved)}, "
                         f"given {describe(given)}")


def load_model(path, model: Optional[Model] = None) -> tuple[Model, TrainState]:
    """The ``(model, state)`` :func:`save_model` wrote, ready for ``fnnet.predict(model, state, x)``.

    ``state`` is a :class:`fnnet.TrainState` with the saved params, model state, step, epoch and key and no
    optimizer state (``opt_state=()``). ``model`` rebuilds the architecture in code instead of from
    ``model.json``: needed when the saved model has layers that hold code (``Lambda``, ``FlaxLayer``); its
    layer names and kinds must match the saved ones.

    Raises FileNotFoundError when ``path`` is not a saved model, ValueError when a file is damaged or
    incomplete, and :class:`fnnet.models.config.CustomLayerError` (a ValueError) naming the layer when
    ``model`` is needed but not given.
    """
    path = Path(path)
    meta = _read_meta(path)
    if model is None:
        model = model_from_config(meta["model"])
    else:
        if not isinstance(model, Model):
            raise TypeError(f"model must be an fnnet Model (Sequential([...])) or None, got {type(model).__name__}")
        _check_given_model(model, meta["model"], path)
    target = _abstract(meta["arrays"], "")
    arrays_dir = (path / ARRAYS_DIR).resolve()
    if not arrays_dir.is_dir():
        raise FileNotFoundError(f"{path} is incomplete: {ARRAYS_DIR}/ (the params) is missing")
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            arrays = checkpointer.restore(arrays_dir, target)
    except Exception as err:  # orbax/tensorstore report damage with many error types
        raise ValueError(f"the arrays in {arrays_dir} cannot be read (damaged or incomplete save): "
                         f"{type(err).__name__}: {str(err)[:300]}") from None
    key = arrays.get("key")
    if key is None:
        key = jax.random.key(0)
    elif "key_impl" in meta:
        key = jax.random.wrap_key_data(jnp.asarray(key), impl=meta["key_impl"])
    state = TrainState(params=arrays.get("params", {}), opt_state=(), model_state=arrays.get("model_state", {}),
                       step=jnp.asarray(meta.get("step", 0), jnp.int32),
                       epoch=jnp.asarray(meta.get("epoch", 0), jnp.int32), key=key)
    return model, state
