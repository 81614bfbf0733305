"""Learn by writing it: every from-scratch function the seeds ask for, as an exercise fnnet checks.

::

    from fnnet import exercises
    exercises.names("hse")                        # ['hse.expand', 'hse.probability', ...]
    print(exercises.describe("hse.compute_grad"))  # the task, the seed's def line and its layout
    print(exercises.template("hse.compute_grad"))  # an empty function to fill in
    exercises.check("hse.compute_grad", compute_grad)   # CheckResult: .passed, .report (also print())

Exercises are named ``"<course>.<function>"``; the courses are modules of this package exporting
``EXERCISES`` (``hse``, ``planar``, ``housing`` and, where present, ``cs231n``). A learner's numpy
forward/backward pair becomes an fnnet layer with :func:`numpy_layer`, a whole hand-written cost and
gradient a differentiable loss with :func:`numpy_objective` (``planar.learner_objective`` for the planar
assignment's functions).
"""
from __future__ import annotations

import difflib
import functools
import importlib
import textwrap
import types
from collections.abc import Callable, Mapping
from typing import Optional

from fnnet.exercises.checking import CheckResult, run_check
from fnnet.exercises.layers import NumpyLayer, numpy_layer, numpy_objective
from fnnet.exercises.spec import Case, Exercise, Mistake

#: The course modules, in the order :func:`names` lists them; a missing optional one is skipped.
COURSES = ("hse", "planar", "housing", "cs231n")


def _load_catalogue() -> dict[str, Exercise]:
    catalogue: dict[str, Exercise] = {}
    for course in COURSES:
        try:
            module = importlib.import_module(f"fnnet.exercises.{course}")
        except ModuleNotFoundError as err:
            if err.name != f"fnnet.exercises.{course}":
                raise  # the course exists but imports something missing: a real error
            continue
        for exercise in module.EXERCISES:
            if exercise.name in catalogue:
                raise RuntimeError(f"two exercises are named {exercise.name!r}")
            catalogue[exercise.name] = exercise
    return catalogue


@functools.cache
def catalogue() -> Mapping[str, Exercise]:
    """``{name: Exercise}`` of every course, read-only (the course modules are imported on first use)."""
    return types.MappingProxyType(_load_catalogue())


def courses() -> list[str]:
    """The courses that have exercises, e.g. ``['hse', 'planar', 'housing', 'cs231n']``."""
    return list(dict.fromkeys(exercise.course for exercise in catalogue().values()))


def names(course: str | None = None) -> list[str]:
    """Every exercise name, or those of one ``course`` (ValueError for an unknown course)."""
    if course is None:
        return list(catalogue())
    if course not in courses():
        raise ValueError(f"course must be one of {courses()}, got {course!r}")
    return [name for name, exercise in catalogue().items() if exercise.course == course]


def get(name: str) -> Exercise:
    """The :class:`Exercise` called ``name``; ValueError listing the close names for an unknown one."""
    if not isinstance(name, str):
        raise TypeError(f"name must be an exercise name (str) such as 'hse.expand', got {type(name).__name__}")
    found = catalogue().get(name)
    if found is not None:
        return found
    everything = list(catalogue())
    # "expand" alone finds "hse.expand": match the function part too
    close = difflib.get_close_matches(name, everything, n=4, cutoff=0.6)
    close += [n for n in everything if n.split(".", 1)[1] == name and n not in close]
    listed = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"unknown exercise {name!r}{listed} (fnnet.exercises.names() lists all {len(everything)})")


def describe(name: str) -> str:
    """The task, the seed's def line and the layout of exercise ``name``, as text."""
    exercise = get(name)
    wrap = lambda text: "\n".join(textwrap.fill(p, 100) for p in text.strip().split("\n\n"))
    return (f"{exercise.name}\n\n{wrap(exercise.task)}\n\n    {exercise.signature}\n\n"
            f"Layout:\n{textwrap.indent(exercise.layout.strip(), '    ')}")


def template(name: str) -> str:
    """An empty function to fill in: the seed's def line, a docstring with the task and the layout, and
    ``raise NotImplementedError``."""
    exercise = get(name)
    doc = textwrap.fill(" ".join(exercise.task.split()), 96) + "\n\n" + exercise.layout.strip()
    doc = textwrap.indent(doc, "    ")
    return (f"{exercise.signature}\n    \"\"\"\n{doc}\n    \"\"\"\n"
            f"    # your code here\n    raise NotImplementedError\n")


def check(name: str, fn: Callable) -> CheckResult:
    """Runs ``fn`` (the learner's function) on every case of exercise ``name`` and compares it with the
    seed's printed answer or fnnet's reference. Returns a :class:`CheckResult` (``.passed``, ``.report``;
    ``print(result)`` shows the report: the failing case, the shape mismatch or first differing element,
    and a hint for the mistake it looks like). Never raises for what ``fn`` does."""
    return run_check(get(name), fn)


__all__ = ["COURSES", "Case", "CheckResult", "Exercise", "Mistake", "NumpyLayer", "catalogue", "check", "courses",
           "describe", "get", "names", "numpy_layer", "numpy_objective", "template"]
