"""Counting XLA compilations and the seconds they take, from JAX's own monitoring events.

``History.compile_time`` is measured this way, and tests and benchmarks check that a second call with
the same pieces compiles nothing::

    with count_compiles() as compiles:
        fnnet.fit(...)
    assert compiles.count == 0
"""
from __future__ import annotations

import contextlib
import threading

from jax import monitoring

_TRACE = "/jax/core/compile/jaxpr_trace_duration"
_LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_BACKEND = "/jax/core/compile/backend_compile_duration"


class _Totals:
    def __init__(self):
        self.count = 0  # backend compilations
        self.seconds = 0.0  # tracing + lowering + compiling
        self.lock = threading.Lock()

    def __call__(self, event: str, duration: float, **kwargs) -> None:
        if event in (_TRACE, _LOWER, _BACKEND):
            with self.lock:
                self.seconds += duration
                self.count += event == _BACKEND


_TOTALS = _Totals()
monitoring.register_event_duration_secs_listener(_TOTALS)


def totals() -> tuple[int, float]:
    """``(compilations, seconds)`` since the process started (all threads)."""
    return _TOTALS.count, _TOTALS.seconds


class Compiles:
    """What was compiled while a :func:`count_compiles` block ran: ``count`` and ``seconds``."""

    def __init__(self):
        self._start = totals()
        self._end = None

    @property
    def count(self) -> int:
        end = self._end or totals()
        return end[0] - self._start[0]

    @property
    def seconds(self) -> float:
        end = self._end or totals()
        return end[1] - self._start[1]


@contextlib.contextmanager
def count_compiles():
    """Counts XLA compilations (and their seconds) inside the block."""
    compiles = Compiles()
    try:
        yield compiles
    finally:
        compiles._end = totals()
