"""What an exercise is: the data every course module declares and :func:`fnnet.exercises.check` reads.

A course module (``hse``, ``planar``, ``housing``, ``cs231n``) exports ``EXERCISES``: a tuple of
:class:`Exercise`. Each pairs the seed's task, worded and laid out as the seed writes it, with fnnet's
reference solution (numpy in, numpy out, computed with jax/fnnet), the cases to run a learner's function
on, a ``diagnose`` function that turns a wrong answer into a hint, and the typical wrong solutions the
tests use to prove that the hints fire.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np


@dataclasses.dataclass(frozen=True)
class Case:
    """One call of the function under test: ``fn(*args, **kwargs)``.

    ``name`` says what the case is ("the seed's printed example", "random (5, 3)", "edge: all zeros");
    ``args`` are what the seed's own code passes (numpy arrays, dicts of arrays, tuples, Python numbers),
    copied afresh for every call so a function that mutates its inputs cannot change the next case.
    ``expected``: the seed's printed answer where it has one; otherwise ``None`` and the reference's
    output is the expected value.
    """

    name: str
    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    expected: Any = None


@dataclasses.dataclass(frozen=True)
class Mistake:
    """A typical wrong solution and the hint :func:`check` must give for it (the tests assert both)."""

    name: str
    fn: Callable
    hint: str


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One function the seed asks the learner to write.

    Attributes:
      name: ``"<course>.<function>"``, e.g. ``"hse.expand"``, ``"cs231n.affine_backward"``.
      task: what to write, in the seed's words (one paragraph).
      signature: the seed's def line, e.g. ``"def expand(X):"``; :func:`template` builds on it.
      layout: shapes and conventions as the seed writes them (``X: (n_x, m)`` features x examples...).
      reference: fnnet's solution, the same signature; numpy in, numpy out.
      cases: ``cases(rng: np.random.Generator) -> list[Case]``: the seed's printed examples first, then
        random cases of several shapes, then edge cases.
      project: what of an output is compared, e.g. ``lambda out: out[0]`` to ignore a cs231n ``cache``;
        the identity by default. Outputs may be arrays, numbers, tuples or dicts of arrays.
      diagnose: ``diagnose(case, expected, got) -> str | None``: a hint for a mismatch (forgot to divide
        by m, transposed W, ...), or None when no known mistake explains it.
      mistakes: typical wrong solutions, each failing with its hint.
      rtol, atol: tolerances of the comparison.
      numeric: for backward exercises, ``numeric(case) -> expected`` by central finite differences of
        the reference forward, or None on a case where finite differences do not apply (a ReLU kink, a
        max-pool tie); :func:`check` reports when a learner's gradient matches neither this nor
        ``reference``.
    """

    name: str
    task: str
    signature: str
    layout: str
    reference: Callable
    cases: Callable[[np.random.Generator], list]
    project: Callable = lambda out: out
    diagnose: Callable[[Case, Any, Any], Optional[str]] = lambda case, expected, got: None
    mistakes: tuple = ()
    rtol: float = 1e-5
    atol: float = 1e-7
    numeric: Optional[Callable[[Case], Any]] = None

    @property
    def course(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def function(self) -> str:
        return self.name.split(".", 1)[1]


__all__ = ["Case", "Exercise", "Mistake"]
