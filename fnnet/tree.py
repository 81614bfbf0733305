"""Parameter-tree utilities: naming, selecting and counting the leaves of a params tree.

fnnet params are nested dicts ``{layer_name: {leaf_name: array}}`` (see DESIGN.md), e.g.
``{"dense_0": {"kernel": (3, 4) f32, "bias": (4,) f32}, "batchnorm_0": {"scale": ..., "bias": ...}}``.
A leaf is addressed by its path ``"dense_0/kernel"``: the first key of the path is its *layer name*, the
last key its *leaf name*. Penalties (``fnnet.losses.l2_penalty``), optimizer weight-decay masks
(``fnnet.optim.optimizer(..., decay_mask=...)``) and diagnostics all select leaves the same way, through
:func:`param_mask`: by layer (all, a list of names, or a predicate on the name) and by leaf name
(default: ``kernel`` only, the Keras ``kernel_regularizer`` convention — biases and BatchNorm
scale/shift are not regularized).

Norms of trees come from optax (``optax.global_norm``, ``optax.tree.norm``), sizes from ``optax.tree.size``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

LayerSelector = None | str | Sequence[str] | Callable[[str], bool]
LeafSelector = None | str | Sequence[str]


def path_name(path: tuple) -> str:
    """``"dense_0/kernel"`` for the key path ``(DictKey('dense_0'), DictKey('kernel'))``."""
    return jax.tree_util.keystr(path, simple=True, separator="/")


def flatten_with_names(tree: Any) -> list[tuple[str, Any]]:
    """The leaves of ``tree`` in ``jax.tree_util`` order, each with its path name (``"dense_0/kernel"``)."""
    leaves_with_paths, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(path_name(path), leaf) for path, leaf in leaves_with_paths]


def _as_names(value: str | Sequence[str]) -> tuple[str, ...]:
    # A bare string is one name, not a sequence of one-letter names.
    return (value,) if isinstance(value, str) else tuple(value)


def _layer_predicate(layers: LayerSelector, layer_names: list[str]) -> Callable[[str], bool]:
    """``layers`` (None, name(s) or predicate) as a predicate on layer names; named layers must exist."""
    if layers is None:
        return lambda name: True
    if callable(layers):
        return layers
    wanted = _as_names(layers)
    missing = [name for name in wanted if name not in layer_names]
    if missing:
        raise ValueError(f"layers names {missing} not found in params; its layers are {layer_names}")
    return lambda name: name in wanted


def param_mask(params: Any, *, layers: LayerSelector = None, leaves: LeafSelector = ("kernel",)) -> Any:
    """A tree of Python bools with the structure of ``params``: True where a leaf is selected.

    Args:
      params: a params tree ``{layer_name: {leaf_name: array}}`` (any pytree works: the first key of a
        leaf's path is its layer name, the last key its leaf name).
      layers: ``None`` = every layer; a layer name or a sequence of layer names (each must exist); or a
        predicate ``f(layer_name) -> bool``.
      leaves: a leaf name or a sequence of leaf names to include (default ``("kernel",)``); ``None`` = all.

    Raises:
      ValueError: a named layer is not in ``params``, or the selection is empty (a silent empty selection
        would make a penalty or a weight decay a no-op).

    The result can be passed as an optax ``mask`` (``optax.add_decayed_weights(mask=...)``).
    """
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    layer_ok = _layer_predicate(layers, sorted({path_name(p[:1]) for p in paths}))
    wanted_leaves = None if leaves is None else _as_names(leaves)

    def selected(path: tuple) -> bool:
        return layer_ok(path_name(path[:1])) and (wanted_leaves is None or path_name(path[-1:]) in wanted_leaves)

    mask = jax.tree_util.tree_map_with_path(lambda path, _: selected(path), params)
    if paths and not any(jax.tree_util.tree_leaves(mask)):
        raise ValueError(
            f"layers={layers!r} with leaves={leaves!r} selects no parameter; "
            f"params has {[path_name(p) for p in paths]}"
        )
    return mask


def select(params: Any, *, layers: LayerSelector = None, leaves: LeafSelector = ("kernel",)) -> dict[str, Any]:
    """The selected leaves as ``{path_name: array}`` (same selection rules as :func:`param_mask`)."""
    mask = param_mask(params, layers=layers, leaves=leaves)
    return {
        name: leaf
        for (name, leaf), keep in zip(flatten_with_names(params), jax.tree_util.tree_leaves(mask))
        if keep
    }


def count_params(tree: Any) -> int:
    """Total number of scalar entries in all leaves of ``tree`` (a Python int)."""
    # Works on arrays and on abstract jax.ShapeDtypeStruct leaves (model summaries use those).
    return int(sum(math.prod(np.shape(leaf)) for leaf in jax.tree_util.tree_leaves(tree)))


# ----------------------------------------------------------------------------------------------
# Stacked trees: a population's members along a leading axis


def stack(trees: Sequence[Any]) -> Any:
    """Stacks trees of identical structure along a new leading member axis: ``M`` trees -> one tree."""
    trees = list(trees)
    if not trees:
        raise ValueError("stack needs at least one tree")
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def member(tree: Any, i: Any) -> Any:
    """Member ``i`` (an int, a slice or an index array) of a stacked tree: every leaf indexed along axis 0."""
    return jax.tree.map(lambda leaf: leaf[i], tree)


def num_members(tree: Any) -> int:
    """The length of the leading member axis of a stacked tree."""
    leaves = jax.tree.leaves(tree)
    if not leaves or np.ndim(leaves[0]) == 0:
        raise ValueError("expected a stacked tree (leaves with a leading member axis)")
    return int(np.shape(leaves[0])[0])
