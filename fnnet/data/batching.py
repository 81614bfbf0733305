"""Mini-batching driven by an explicit PRNG key.

Two forms of the same epoch order:

* :func:`iterate_batches` yields ``(x, y)`` host/device batches one at a time (any data size);
* :func:`epoch_batches` gathers a whole epoch as stacked arrays ``(n_batches, batch_size, ...)`` on the
  device, the form ``lax.scan`` consumes.

Both use :func:`epoch_order`, so for the same key they visit examples in the same order.
"""
from __future__ import annotations

from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_positive, check_same_length


def epoch_order(key: jax.Array | None, n: int, *, shuffle: bool = True) -> jax.Array:
    """Indices ``(n,)`` int32 in the order an epoch visits the examples.

    ``key=None`` or ``shuffle=False`` gives ``arange(n)``; otherwise a permutation drawn from ``key``.
    """
    if not shuffle or key is None:
        return jnp.arange(n, dtype=jnp.int32)
    return jax.random.permutation(key, n).astype(jnp.int32)


def num_batches(n: int, batch_size: int, *, drop_remainder: bool = False) -> int:
    """Number of batches per epoch: ``n // batch_size`` (+1 for a partial last batch unless dropped)."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest and not drop_remainder else 0)


def iterate_batches(
    key: jax.Array | None,
    x,
    y=None,
    *,
    batch_size: int,
    shuffle: bool = True,
    drop_remainder: bool = False,
) -> Iterator[tuple]:
    """Yields ``(x_batch, y_batch)`` (``y_batch`` is None when ``y`` is None) in the order of
    :func:`epoch_order`. The last batch is smaller than ``batch_size`` unless ``drop_remainder``."""
    check_positive("batch_size", batch_size)
    n = check_same_length(x=x, y=y)
    order = np.asarray(epoch_order(key, n, shuffle=shuffle))
    stop = (n // batch_size) * batch_size if drop_remainder else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], (None if y is None else y[idx])


def epoch_batches(x: jax.Array, y: jax.Array | None, order: jax.Array, batch_size: int):
    """Gathers the full batches of one epoch as stacked device arrays.

    Args:
      x: ``(n, ...)`` examples, y: ``(n, ...)`` targets or None, order: ``(n,)`` from :func:`epoch_order`.
    Returns:
      ``(xb, yb)`` with shapes ``(n // batch_size, batch_size, ...)``; the ``n % batch_size`` examples
      at the end of ``order`` are not included (see :func:`remainder_indices`). Works under ``jit``.
    """
    n_full = x.shape[0] // batch_size
    idx = order[: n_full * batch_size].reshape(n_full, batch_size)
    xb = jnp.take(x, idx, axis=0)
    yb = None if y is None else jnp.take(y, idx, axis=0)
    return xb, yb


def remainder_indices(order: jax.Array, batch_size: int) -> jax.Array:
    """The indices of the partial last batch of an epoch (possibly empty), shape ``(n % batch_size,)``."""
    n = order.shape[0]
    return order[(n // batch_size) * batch_size :]
