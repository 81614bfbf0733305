"""Data-parallel placement on a 1-D device mesh, with JAX's sharding doing the work.

fnnet does not run its own collectives: arrays carry a :class:`jax.sharding.NamedSharding`, jit-compiled
programs constrain the batch to be split along the mesh axis, and XLA's SPMD partitioner inserts the
gradient all-reduce. The pieces::

    mesh  = data_mesh()                          # 1-D mesh over jax.devices(), axis "data"
    state = replicate(state, mesh)               # params, optimizer state, keys: a full copy per device
    xb    = shard_leading_axis(x_batch, mesh)    # rows split over the devices
    step  = data_parallel_step(train_step, mesh) # train_step with its batch constrained to the split

``fnnet.fit(..., mesh=mesh)`` (or ``devices=[...]``) does all of this. Ensembles use the same helpers
the other way round: ``shard_leading_axis(stacked_members, mesh)`` places whole members on different
devices, and a ``vmap`` over the member axis then trains them without exchanging gradients
(``fnnet.ensemble.fit_ensemble(..., mesh=mesh)`` does this, with :func:`member_parallel_step`; its
non-finite guard reduces one boolean per step over all members).

Multi-host: call ``jax.distributed.initialize(...)`` in every process before anything else touches
JAX; ``jax.devices()`` then lists the devices of all hosts and ``data_mesh()`` spans them.
:func:`replicate` accepts host data that is identical in every process (the same arrays, keys and
seeds), which is how ``fit`` runs unchanged on many hosts.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

PyTree = Any

DATA_AXIS = "data"
"""Name of the single axis of the meshes built here; batches (or ensemble members) split along it."""


def data_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
    """A 1-D :class:`~jax.sharding.Mesh` with axis ``"data"`` over ``devices`` (default: all devices of
    all processes, ``jax.devices()``)."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise ValueError(
            f"devices must be a non-empty sequence of jax devices (e.g. jax.devices()[:4]), got {devices!r}"
        )
    if len(set(devices)) != len(devices):
        raise ValueError(f"devices must not repeat a device, got {devices}")
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def resolve_mesh(mesh: Optional[Mesh] = None, devices: Optional[Sequence[jax.Device]] = None) -> Optional[Mesh]:
    """The 1-D mesh selected by ``mesh=`` or ``devices=`` (at most one of them), or None for neither."""
    if mesh is not None and devices is not None:
        raise ValueError("pass either mesh or devices, not both")
    if devices is not None:
        return data_mesh(devices)
    if mesh is None:
        return None
    if not isinstance(mesh, Mesh) or len(mesh.axis_names) != 1:
        raise ValueError(
            f"mesh must be a 1-D jax.sharding.Mesh (e.g. fnnet.distributed.data_mesh()), got {mesh!r}"
        )
    return mesh


def mesh_size(mesh: Mesh) -> int:
    """Number of devices in ``mesh``."""
    return int(mesh.devices.size)


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding that keeps a full copy of an array on every device of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec())


def leading_axis_sharded(mesh: Mesh) -> NamedSharding:
    """The sharding that splits an array's axis 0 evenly over the devices of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))


def _place(tree: PyTree, sharding: NamedSharding) -> PyTree:
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)
    # Multi-host: this process holds the whole value (identical in every process) and supplies the
    # pieces that live on its own devices; arrays already placed so are left as they are.
    def place(a):
        if isinstance(a, jax.Array) and a.sharding.is_equivalent_to(sharding, a.ndim):
            return a
        return jax.make_array_from_process_local_data(sharding, a)

    return jax.tree_util.tree_map(place, tree)


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """Places every array leaf of ``tree`` (any shape and dtype, PRNG keys included) whole on every
    device of ``mesh``. On several hosts each process must pass the same values."""
    return _place(tree, replicated(mesh))


def check_divisible(name: str, size: int, mesh: Mesh) -> None:
    """Raises ``ValueError`` unless ``size`` splits evenly over the devices of ``mesh``."""
    d = mesh_size(mesh)
    if size % d:
        below, above = (size // d) * d, (size // d + 1) * d
        hint = f"{below} or {above}" if below else f"{above}"
        raise ValueError(f"{name} must be a multiple of the {d} devices of the mesh to split evenly over them, "
                         f"got {size} (use e.g. {hint})")


def shard_leading_axis(tree: PyTree, mesh: Mesh) -> PyTree:
    """Places every leaf of ``tree`` with its axis 0 split evenly over the devices of ``mesh``.

    For a batch ``(N, ...)`` each device gets ``N / devices`` rows; for an ensemble stacked as
    ``(members, ...)`` each device gets whole members. Raises ``ValueError`` naming the leaf when an
    axis 0 does not divide by the device count."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if np.ndim(leaf) == 0:
            raise ValueError(f"leaf {jax.tree_util.keystr(path) or 'tree'} is a scalar; it has no axis 0 to split")
        check_divisible(f"axis 0 of leaf {jax.tree_util.keystr(path) or 'tree'}", np.shape(leaf)[0], mesh)
    return _place(tree, leading_axis_sharded(mesh))


def constrain_leading_axis(tree: PyTree, mesh: Mesh) -> PyTree:
    """Inside ``jit``: asks XLA to split every leaf's axis 0 over ``mesh``.

    A length that does not divide by the device count is still exact: XLA pads the last devices' rows
    and masks the padding out of every reduction (uneven sharding), at the cost of idle rows."""
    sharding = leading_axis_sharded(mesh)
    return jax.tree_util.tree_map(lambda a: jax.lax.with_sharding_constraint(a, sharding), tree)


def data_parallel_step(train_step: Callable, mesh: Mesh) -> Callable:
    """Wraps ``train_step(state, x, y, *rest) -> (state, logs)`` so that, under ``jit``, the batch ``(x, y)``
    is split over ``mesh`` along axis 0 while the new state is kept whole on every device.

    The loss is still the mean over the *global* batch, so XLA computes per-device partial gradients
    and all-reduces them; the update is the single-device update up to float summation order."""

    def sharded_step(state, x, y, *rest):
        x, y = constrain_leading_axis((x, y), mesh)
        new_state, logs = train_step(state, x, y, *rest)
        return jax.lax.with_sharding_constraint(new_state, replicated(mesh)), logs

    return sharded_step


def member_parallel_step(member_step: Callable, mesh: Mesh, *, per_member_batches: bool) -> Callable:
    """Wraps a ``vmap``-ed ``member_step(states, x, y) -> (states, logs)`` of stacked ensemble members
    so that, under ``jit``, the members (axis 0 of every state leaf) stay split over ``mesh``: each
    device trains its own members and no gradient crosses devices. ``per_member_batches``: ``x``/``y``
    carry a leading member axis too (each member's own batch), split the same way; otherwise every
    member sees the same batch, which stays whole on every device."""

    def sharded_step(states, x, y, *rest):
        if per_member_batches:
            x, y = constrain_leading_axis((x, y), mesh)
        new_states, logs = member_step(constrain_leading_axis(states, mesh), x, y, *rest)
        return constrain_leading_axis(new_states, mesh), logs

    return sharded_step
