"""Which examples each step of an epoch sees: index matrices drawn from keys, on the device."""
from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import jax

from fnnet.data.batching import epoch_order, remainder_indices


@dataclasses.dataclass(frozen=True)
class EpochPlan:
    """The batching of a run over ``n`` examples.

    Default: one pass over the data per epoch in the order :func:`~fnnet.data.batching.epoch_order`
    draws, ``n // batch_size`` full batches plus (unless ``drop_remainder``) a partial last batch. With
    ``steps_per_epoch``: that many full batches from consecutive passes, each pass with its own
    permutation. A ``batch_size`` above ``n`` is one batch of all ``n`` examples (as Keras), unless
    ``drop_remainder`` (then there is no full batch: an error, raised by :meth:`make`).
    """

    n: int
    batch_size: int
    shuffle: bool = True
    drop_remainder: bool = False
    steps_per_epoch: Optional[int] = None

    @classmethod
    def make(cls, n: int, batch_size: int, *, shuffle: bool, drop_remainder: bool, steps_per_epoch) -> EpochPlan:
        if batch_size > n:
            if drop_remainder:
                raise ValueError(f"batch_size {batch_size} exceeds the {n} training examples and drop_remainder=True "
                                 "keeps only full batches: no batch is left. Lower batch_size or set "
                                 "drop_remainder=False (one batch of all examples)")
            batch_size = n
        return cls(n, batch_size, shuffle, drop_remainder, steps_per_epoch)

    @property
    def remainder(self) -> int:
        return 0 if (self.drop_remainder or self.steps_per_epoch) else self.n % self.batch_size

    @property
    def full_batches(self) -> int:
        return self.steps_per_epoch or self.n // self.batch_size

    @property
    def steps(self) -> int:
        """Optimizer steps of a whole epoch."""
        return self.full_batches + (1 if self.remainder else 0)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def indices(self, keys: jax.Array, n_full: int, with_rest: bool, *, per_member: bool = False):
        """``(idx (n_full, batch), rest (1, remainder) or None)`` for the epoch key ``keys``, or with
        ``per_member`` (``keys`` one per member) one order per member: ``(M, n_full, batch)``, ``(M, 1, remainder)``."""
        return _indices_program(self, n_full, with_rest, per_member)(keys)


@functools.lru_cache(maxsize=128)
def _indices_program(plan: EpochPlan, n_full: int, with_rest: bool, per_member: bool):
    def one(key):
        per_pass = plan.n // plan.batch_size
        passes = -(-max(n_full, 1) // per_pass)
        keys = jax.random.split(key, passes) if plan.steps_per_epoch else key[None]
        orders = jax.vmap(lambda k: epoch_order(k, plan.n, shuffle=plan.shuffle))(keys)
        idx = orders[:, : per_pass * plan.batch_size].reshape(-1, plan.batch_size)[:n_full]
        rest = remainder_indices(orders[0], plan.batch_size)[None, :] if with_rest else None
        return idx, rest

    return jax.jit(jax.vmap(one) if per_member else one)
