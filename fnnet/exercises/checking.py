"""The machinery of :func:`fnnet.exercises.check`: compare outputs, find the first difference, finite
differences, and run a learner's function on an exercise's cases into a :class:`CheckResult`.

Public helpers a course module may use: :func:`compare_outputs`, :func:`first_difference`,
:func:`numeric_gradient`, :func:`like` (a diagnose rule "the output equals this wrong solution's") and
:func:`first_hint` (try diagnose rules in order).
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import traceback
from collections.abc import Callable, Mapping

import numpy as np

from fnnet.exercises.spec import Case, Exercise

# ----------------------------------------------------------------------------------------------
# Comparing outputs


def _kind(a: np.ndarray) -> str:
    """dtype kind with signed and unsigned integers the same kind (a shape count is an int either way)."""
    return "i" if a.dtype.kind in "iu" else a.dtype.kind


def first_difference(expected, got, *, rtol: float = 1e-5, atol: float = 1e-7) -> tuple | None:
    """``(index, expected_value, got_value)`` of the first element (C order) where two arrays of the same
    shape differ beyond ``|got - expected| <= atol + rtol * |expected|`` (NaN differs from everything
    but NaN), or None where they agree."""
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.dtype.kind in "fc" or got.dtype.kind in "fc":
        close = np.isclose(got.astype(complex if got.dtype.kind == "c" else float),
                           expected.astype(complex if expected.dtype.kind == "c" else float),
                           rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = got == expected
    bad = np.argwhere(~np.broadcast_to(close, expected.shape))
    if not len(bad):
        return None
    index = tuple(int(i) for i in bad[0])
    return index, expected[index], got[index]


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return repr(value.item()) if isinstance(value, np.generic) else repr(value)


def compare_outputs(expected, got, *, rtol: float = 1e-5, atol: float = 1e-7, path: str = "output") -> str | None:
    """Why ``got`` is not ``expected``, in one sentence naming where (``output[1]['dW1']``), or None when it is.

    Dicts are compared key by key (a missing or extra key is named), tuples and lists element by element
    (their lengths first), everything else as arrays: the shape, then the dtype kind (bool / integer /
    float; signed and unsigned integers count the same), then the values with ``np.isclose(rtol, atol)``,
    reporting the first differing element.
    """
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            return f"{path} should be a dict with keys {sorted(expected)}, got {type(got).__name__}"
        missing = [k for k in expected if k not in got]
        if missing:
            return f"{path} is missing the key(s) {missing} (it has {sorted(got, key=str)})"
        extra = [k for k in got if k not in expected]
        if extra:
            return f"{path} has unexpected key(s) {extra} (expected only {list(expected)})"
        for k in expected:
            problem = compare_outputs(expected[k], got[k], rtol=rtol, atol=atol, path=f"{path}[{k!r}]")
            if problem:
                return problem
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"{path} should be a tuple of {len(expected)} values, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"{path} should have {len(expected)} values, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = compare_outputs(e, g, rtol=rtol, atol=atol, path=f"{path}[{i}]")
            if problem:
                return problem
        return None
    if got is None:
        return f"{path} is None"
    try:
        g = np.asarray(got)
    except Exception:
        return f"{path} should be an array, got {type(got).__name__}"
    e = np.asarray(expected)
    if g.dtype == object:
        shown = repr(got)
        shown = shown if len(shown) <= 100 else shown[:97] + "..."
        return f"{path} should be an array of numbers of shape {e.shape}, got {shown}"
    if g.shape != e.shape:
        hint = " (the transpose of the expected shape)" if g.ndim == 2 and g.shape == e.shape[::-1] else ""
        return f"{path} has shape {g.shape}, expected {e.shape}{hint}"
    if _kind(g) != _kind(e):
        return f"{path} has dtype {g.dtype}, expected a {e.dtype.kind!r}-kind dtype like {e.dtype}"
    diff = first_difference(e, g, rtol=rtol, atol=atol)
    if diff is None:
        return None
    index, want, have = diff
    where = f"{path}[{', '.join(map(str, index))}]" if index else path
    return f"{where} is {_fmt(have)}, expected {_fmt(want)}"


# ----------------------------------------------------------------------------------------------
# Finite differences


def numeric_gradient(f: Callable, x, eps: float = 1e-5, *, df=None) -> np.ndarray:
    """Central finite differences ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every element ``i``.

    ``f(x)`` returns a scalar, or an array when ``df`` (the upstream gradient, shaped like ``f(x)``) is
    given: the result is then ``sum(df * d f / d x_i)`` per element, cs231n's
    ``eval_numerical_gradient_array``. ``x`` is copied to float64 and never changed; the result has its
    shape. ``f`` may close over other arrays (``lambda w: affine_forward(x, w, b)[0]``).
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    upstream = None if df is None else np.asarray(df, dtype=np.float64)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + eps
        plus = np.asarray(f(x.copy()), dtype=np.float64)
        x[i] = original - eps
        minus = np.asarray(f(x.copy()), dtype=np.float64)
        x[i] = original
        change = (plus - minus) / (2 * eps)
        grad[i] = np.sum(change * upstream) if upstream is not None else float(np.sum(change))
    return grad


# ----------------------------------------------------------------------------------------------
# Diagnose rules


def like(wrong: Callable, hint: str, *, project: Callable = lambda out: out, rtol: float = 1e-5,
         atol: float = 1e-7) -> Callable:
    """A diagnose rule: ``hint`` when the learner's (projected) output equals what ``wrong`` (a typical
    wrong solution, same signature) returns on the same case. ``wrong`` failing on a case means "no"."""

    def rule(case: Case, expected, got) -> str | None:
        try:
            with np.errstate(all="ignore"):  # wrong solutions may overflow on purpose
                out = project(wrong(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)))
        except Exception:
            return None
        return hint if compare_outputs(out, got, rtol=rtol, atol=atol) is None else None

    return rule


def first_hint(*rules: Callable) -> Callable:
    """``diagnose(case, expected, got)`` trying ``rules`` in order; the first hint wins. A rule that raises
    (it met an output of an unforeseen type) counts as no hint."""

    def diagnose(case: Case, expected, got) -> str | None:
        for rule in rules:
            try:
                hint = rule(case, expected, got)
            except Exception:
                hint = None
            if hint:
                return hint
        return None

    return diagnose


# ----------------------------------------------------------------------------------------------
# Running a learner's function


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """What :func:`fnnet.exercises.check` found: ``passed``, the ``report`` (``str(result)``), and how many
    cases ran and failed."""

    name: str
    passed: bool
    report: str
    cases_run: int
    cases_failed: int

    def __str__(self) -> str:
        return self.report

    def __bool__(self) -> bool:
        return self.passed

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython shows the report, not the dataclass
        printer.text(self.report)


def _signature_problem(exercise: Exercise, fn: Callable, case: Case) -> str | None:
    if not callable(fn):
        return f"expected a function ({exercise.signature}), got {type(fn).__name__}"
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # a builtin or C function: calling it will tell
    try:
        signature.bind(*case.args, **case.kwargs)
    except TypeError as err:
        return (f"your function has the wrong parameters: it is ({', '.join(signature.parameters)}), the exercise "
                f"calls it as {exercise.signature.removeprefix('def ').rstrip(':')} with {len(case.args)} "
                f"argument(s) ({err})")
    return None


def _raised(err: BaseException, fn: Callable) -> str:
    """``raised ValueError: msg (at line N of your function: `code`)``: the learner's own frame."""
    code = getattr(fn, "__code__", None)
    frames = traceback.extract_tb(err.__traceback__)
    mine = [f for f in frames if code is not None and f.filename == code.co_filename]
    where = ""
    if mine:
        code_line = (mine[-1].line or "").strip()
        where = f" (line {mine[-1].lineno}" + (f": `{code_line}`)" if code_line else ")")
    return f"raised {type(err).__name__}: {err}{where}"


def _gradient_note(exercise: Exercise, case: Case, got) -> str:
    """For backward exercises: whether the learner's gradient agrees with finite differences."""
    if exercise.numeric is None:
        return ""
    try:
        numeric = exercise.numeric(case)
    except Exception as err:
        return f"\n  (finite differences could not be computed: {type(err).__name__}: {err})"
    if numeric is None:  # the course says finite differences do not apply here (a kink: ReLU at 0, max-pool ties)
        return ""
    problem = compare_outputs(numeric, got, rtol=1e-4, atol=1e-6, path="gradient")
    if problem is None:
        return ("\n  Your gradient does agree with central finite differences of the forward pass, though: "
                "check the tolerance or the convention (e.g. mean vs sum).")
    return ("\n  Your gradient matches neither the reference nor central finite differences of the forward pass: "
            "the backward formula itself is wrong.")


def _run_case(exercise: Exercise, fn: Callable, case: Case) -> str | None:
    """What is wrong with ``fn`` on ``case`` (the difference, the hint, the gradient note), or None."""
    expected = case.expected
    if expected is None:
        expected = exercise.project(exercise.reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)))
    try:
        out = fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
    except NotImplementedError as err:
        return ("not written yet: your function raises NotImplementedError" + (f" ({err})" if str(err) else "")
                + "; replace that line by your code")
    except Exception as err:
        return _raised(err, fn)
    if out is None:
        return "your function returned None: did you forget the `return` line?"
    try:
        got = exercise.project(out)
    except Exception:
        got = out
    problem = compare_outputs(expected, got, rtol=exercise.rtol, atol=exercise.atol)
    if problem is None:
        return None
    try:
        hint = exercise.diagnose(case, expected, got)
    except Exception:
        hint = None
    return problem + (f"\n  Hint: {hint}" if hint else "") + _gradient_note(exercise, case, got)


def run_check(exercise: Exercise, fn: Callable) -> CheckResult:
    """Runs ``fn`` on every case of ``exercise`` (arguments deep-copied per call) and reports: the first
    failing case in detail (the difference and the hint of ``exercise.diagnose``), then the names of the
    others. Nothing the learner's function does (raising, returning None, wrong parameters) escapes as
    an exception."""
    cases = list(exercise.cases(np.random.default_rng(0)))
    if not cases:
        raise RuntimeError(f"exercise {exercise.name} has no cases")  # a bug of the course, not the learner's
    problem = _signature_problem(exercise, fn, cases[0])
    if problem:
        return CheckResult(exercise.name, False, f"{exercise.name}: FAILED\n  {problem}", 0, 0)
    failures = [(case, detail) for case in cases if (detail := _run_case(exercise, fn, case)) is not None]
    if not failures:
        return CheckResult(exercise.name, True, f"{exercise.name}: passed all {len(cases)} cases", len(cases), 0)
    case, detail = failures[0]
    lines = [f"{exercise.name}: FAILED {len(failures)} of {len(cases)} cases", f"  case {case.name!r}: {detail}"]
    if len(failures) > 1:
        lines.append("  also failed: " + ", ".join(repr(c.name) for c, _ in failures[1:]))
    return CheckResult(exercise.name, False, "\n".join(lines), len(cases), len(failures))


def scaled(factor: Callable[[Case], float], hint: str, *, rtol: float = 1e-5, atol: float = 1e-7) -> Callable:
    """A diagnose rule: ``hint`` when the learner's output is the expected one times ``factor(case)``
    (e.g. the number of examples: "forgot to divide by m")."""

    def rule(case: Case, expected, got) -> str | None:
        want = np.asarray(expected, dtype=float) * factor(case)
        return hint if compare_outputs(want, got, rtol=rtol, atol=atol) is None else None

    return rule


def diagnose_from(mistakes, *rules: Callable, project: Callable = lambda out: out) -> Callable:
    """``diagnose`` for an exercise: the hint of the first of ``mistakes`` (:class:`Mistake`) whose output
    the learner's equals on the failing case, else the first of ``rules`` that gives one."""
    return first_hint(*(like(m.fn, m.hint, project=project) for m in mistakes), *rules)


def numpy_reference(fn: Callable) -> Callable:
    """Wraps a jax reference solution: runs it in float64 (``jax.enable_x64``) and returns numpy arrays
    (every leaf of a tuple/dict output), as the seed's numpy code does."""
    import functools

    import jax

    @functools.wraps(fn)
    def reference(*args, **kwargs):
        with jax.enable_x64(True):
            out = fn(*args, **kwargs)
            return jax.tree_util.tree_map(np.asarray, out)

    return reference
