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

from fnnet._checks import is_traced

LayerSelector = None | str | Sequence[str] | Callable[[str], bool]
LeafSelector = None | str | Sequence[str]


def path_name(path: tuple) -> str:
    """``"dense_0/kernel"`` for the key path ``(DictKey('dense_0'), DictKey('kernel'))``."""
    return jax.tree_util.keystr(path, simple=True, separator="/")


def flatten_with_names(tree: Any) -> list[tuple[str, Any]]:
    """The leaves of ``tree`` in ``jax.tree_util`` order, each with its path name (``"dense_0/kernel"``)."""
    leaves_with_paths, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(path_name(path), leaf) for path, leaf in leaves_with_paths]


def _as_names(name: str, value: str | Sequence[str]) -> tuple[str, ...]:
    """``value`` as a tuple of names; ``name`` is the argument, for the error."""
    # A bare string is one name, not a sequence of one-letter names.
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a name or a list of names (str), got {type(value).__name__} {value!r}")
    return tuple(value)


def _layer_predicate(layers: LayerSelector, layer_names: list[str]) -> Callable[[str], bool]:
    """``layers`` (None, name(s) or predicate) as a predicate on layer names; named layers must exist."""
    if layers is None:
        return lambda name: True
    if callable(layers):
        return layers
    wanted = _as_names("layers", layers)
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
    wanted_leaves = None if leaves is None else _as_names("leaves", leaves)

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
    """Stacks trees of identical structure along a new leading member axis: ``M`` trees -> one tree.

    Raises:
      ValueError: ``trees`` is not a sequence of trees, is empty, or its trees differ in structure or in
        a leaf's shape (naming the first tree that differs and the leaf)."""
    if isinstance(trees, (dict, str)) or not isinstance(trees, Sequence):
        raise ValueError(f"stack needs a list of trees (one per member), got {type(trees).__name__}; "
                         "to stack one tree's members pass [tree_0, tree_1, ...]")
    trees = list(trees)
    if not trees:
        raise ValueError("stack needs at least one tree")
    first = flatten_with_names(trees[0])
    for i, tree in enumerate(trees[1:], start=1):
        named = flatten_with_names(tree)
        if jax.tree_util.tree_structure(tree) != jax.tree_util.tree_structure(trees[0]):
            raise ValueError(f"stack needs trees of one structure: trees[{i}] has leaves {[n for n, _ in named]}, "
                             f"trees[0] has {[n for n, _ in first]}")
        for (name, a), (_, b) in zip(first, named):
            if np.shape(a) != np.shape(b):
                raise ValueError(f"stack needs leaves of one shape: leaf {name!r} has shape {np.shape(b)} in "
                                 f"trees[{i}] and {np.shape(a)} in trees[0]")
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def _check_member_index(i: Any, n: int) -> None:
    """Raises unless ``i`` indexes members ``[0, n)`` (negative ints count from the end, as in Python)."""
    if isinstance(i, slice) or is_traced(i):
        return
    index = np.asarray(i)
    if isinstance(i, (bool, np.bool_)) or not np.issubdtype(index.dtype, np.integer):
        given = f"{type(i).__name__} {i!r}" if index.ndim == 0 else f"an array of dtype {index.dtype}"
        raise ValueError(f"member index must be an int, a slice or an int array, got {given}")
    if index.size and (index.min() < -n or index.max() >= n):
        raise ValueError(f"member index must lie in [-{n}, {n}) for a tree of {n} members, got {index.tolist()}")


def member(tree: Any, i: Any) -> Any:
    """Member ``i`` (an int, a slice or an index array) of a stacked tree: every leaf indexed along axis 0.

    Raises:
      ValueError: ``i`` is not an int, slice or int array, or lies outside the tree's members (JAX would
        clamp it silently to the last member)."""
    _check_member_index(i, num_members(tree))
    return jax.tree.map(lambda leaf: leaf[i], tree)


def num_members(tree: Any) -> int:
    """The length of the leading member axis of a stacked tree.

    Raises:
      ValueError: the tree has no leaves, a scalar leaf, or leaves whose leading axes differ."""
    leaves = jax.tree.leaves(tree)
    lengths = {int(np.shape(leaf)[0]) if np.ndim(leaf) else None for leaf in leaves}
    if len(lengths) == 1 and None not in lengths:
        return lengths.pop()
    # Leaf names only for the error (the engine calls this on every member it takes).
    named = [(name, np.shape(leaf)[:1]) for name, leaf in flatten_with_names(tree)]
    scalar = next((name for name, axis in named if not axis), None)
    if not named or scalar is not None:
        raise ValueError("expected a stacked tree (leaves with a leading member axis), got "
                         + (f"scalar leaf {scalar!r}" if named else "no leaves"))
    (first_name, first_axis), other = named[0], next((n, a) for n, a in named if a != named[0][1])
    raise ValueError(f"expected a stacked tree whose leaves share one member axis: leaf {first_name!r} has "
                     f"{first_axis[0]} along axis 0, leaf {other[0]!r} has {other[1][0]}")
