"""Progress inside an epoch: a ``tqdm`` bar fed from inside the compiled program.

The compiled step reports every ``every`` batches through ``jax.debug.callback`` (under ``lax.cond``:
the other steps do nothing), so the bar moves while one compiled ``lax.scan`` runs a whole epoch, and
no step waits for the host. The program carries only a channel number: which bar a report goes to is
looked up here, so one compiled program serves every call (and every bar).
"""
from __future__ import annotations

import itertools
import threading
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

_BARS: dict = {}
_LOCK = threading.Lock()
_NEXT = itertools.count(1)


def report(channel, every, position, loss, member) -> None:
    """Inside a compiled step: sends ``(position, loss)`` to bar ``channel`` when ``position + 1`` is a
    multiple of ``every`` (all traced scalars)."""
    due = (position + 1) % jnp.maximum(every, 1) == 0
    member = jnp.asarray(member, jnp.int32)

    def send():
        jax.debug.callback(_receive, channel, position, loss, member)

    jax.lax.cond(due, send, lambda: None)


def _receive(channel, position, loss, member) -> None:
    bar = _BARS.get(int(channel))
    if bar is not None:
        bar.receive(int(position), float(np.asarray(loss)), int(member))


class EpochBar:
    """One epoch's bar: ``steps`` batches (times ``members`` when members run one after another, the
    ``"map"`` layout), the running mean of the reported losses, then the epoch's logs."""

    def __init__(self, description: str, steps: int, *, members: int = 1, per_member: bool = False):
        from tqdm.auto import tqdm

        self.per_member = per_member
        self.steps = steps
        self._done = np.zeros(members if per_member else 1, np.int64)
        self._losses: list = []
        self._bar = tqdm(total=steps * (members if per_member else 1), desc=description, unit="step",
                         leave=True, dynamic_ncols=True, mininterval=0.2)
        with _LOCK:
            self.channel = next(_NEXT)
            _BARS[self.channel] = self

    @property
    def every(self) -> int:
        """Report every this many batches: about 50 updates per epoch."""
        return max(1, self.steps // 50)

    def receive(self, position: int, loss: float, member: int) -> None:
        slot = member if (self.per_member and member >= 0) else 0
        with _LOCK:
            if position + 1 <= self._done[slot]:
                return  # the same report from another device of a mesh
            self._done[slot] = position + 1
            self._losses.append(loss)
            self._bar.n = int(self._done.sum())
            self._bar.set_postfix_str(f"loss: {np.nanmean(self._losses):.4f}", refresh=False)
            self._bar.refresh()

    def finish(self, summary: Optional[str]) -> None:
        """Completes the bar with the epoch's logs and closes it."""
        with _LOCK:
            _BARS.pop(self.channel, None)
            self._bar.n = self._bar.total
            if summary:
                self._bar.set_postfix_str(summary, refresh=False)
            self._bar.refresh()
            self._bar.close()


def no_channel() -> dict:
    """Progress controls for a program compiled without a bar (or with one that is not shown)."""
    return {"channel": jnp.int32(0), "every": jnp.int32(1)}
