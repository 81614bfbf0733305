"""``fnnet exercises`` and ``fnnet check``: list the exercises, grade a learner's file or a folder of them.

    fnnet exercises                               # every exercise with its one-line task
    fnnet exercises --course planar
    fnnet check hse.expand my_expand.py           # the function `expand` in my_expand.py: the full report
    fnnet check hse.expand my_file.py:my_expand   # another function name
    fnnet check planar.backward_propagation submissions/   # every .py in the folder: one line each, a summary

The exit status is 0 when every file passes, 1 otherwise (2 for a bad command line), so a teacher's
script can grade a folder. :func:`add_subcommands` and :func:`run_command` are what ``fnnet/cli.py`` hooks in.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import traceback
from pathlib import Path

from fnnet import exercises
from fnnet.exercises.checking import CheckResult


def add_subcommands(subparsers) -> None:
    """Adds ``exercises`` and ``check`` to the ``fnnet`` command's subparsers."""
    p_list = subparsers.add_parser("exercises", help="list the from-scratch exercises (fnnet.exercises)")
    p_list.add_argument("--course", default=None, help="only this course's (hse, planar, housing, cs231n)")
    p_list.set_defaults(func=run_command)

    p_check = subparsers.add_parser(
        "check", help="check a learner's function against an exercise: fnnet check NAME path/to/file.py[:function]")
    p_check.add_argument("name", metavar="NAME", help="the exercise, e.g. hse.expand (see `fnnet exercises`)")
    p_check.add_argument("path", metavar="PATH[:FUNCTION]",
                         help="a .py file (optionally :function, default the exercise's function name) or a folder "
                              "of .py files to grade")
    p_check.set_defaults(func=run_command)


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match.group(1) if match else text


def _list(course: str | None) -> int:
    names = exercises.names(course)
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name:{width}s}  {_first_sentence(exercises.get(name).task)}")
    return 0


def _split_target(target: str) -> tuple[Path, str | None]:
    """``file.py:function`` -> (path, function); a plain path (a folder, or ``C:\\...``) -> (path, None)."""
    head, sep, tail = target.rpartition(":")
    if sep and tail.isidentifier() and not Path(target).exists():
        return Path(head), tail
    return Path(target), None


def _load_function(path: Path, function: str):
    """The function ``function`` of the Python file ``path``, or a failure message (never an exception)."""
    module_name = f"fnnet_submission_{abs(hash(str(path.resolve())))}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException as err:  # a submission's syntax error or crash at import is its grade, not ours
        if isinstance(err, KeyboardInterrupt):
            raise
        last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
        line = f" (line {last[0].lineno})" if last and last[0].filename == str(path) else ""
        return None, f"could not import {path.name}: {type(err).__name__}: {err}{line}"
    fn = getattr(module, function, None)
    if fn is None:
        defined = sorted(n for n, v in vars(module).items()
                         if callable(v) and getattr(v, "__module__", "") == module_name)
        return None, f"{path.name} defines no function {function!r} (it defines {defined or 'none'})"
    return fn, None


def _grade(name: str, path: Path, function: str) -> CheckResult:
    fn, problem = _load_function(path, function)
    if problem:
        return CheckResult(name, False, f"{name}: FAILED\n  {problem}", 0, 0)
    return exercises.check(name, fn)


def _check(name: str, target: str) -> int:
    exercise = exercises.get(name)  # an unknown name: ValueError with the close names (exit status 2)
    path, function = _split_target(target)
    function = function or exercise.function
    if path.is_dir():
        files = sorted(p for p in path.glob("*.py") if p.is_file())
        if not files:
            raise ValueError(f"no .py files in the folder {str(path)!r}")
        passed = 0
        for file in files:
            result = _grade(name, file, function)
            passed += result.passed
            detail = result.report.splitlines()[1].strip() if not result.passed and "\n" in result.report else ""
            print(f"{'PASS' if result.passed else 'FAIL'}  {file.name}" + (f"  {detail}" if detail else ""))
        print(f"{passed} of {len(files)} submissions pass {name}")
        return 0 if passed == len(files) else 1
    if not path.is_file():
        raise ValueError(f"path must be a .py file or a folder of them, {str(path)!r} does not exist")
    result = _grade(name, path, function)
    print(result.report)
    return 0 if result.passed else 1


def run_command(args: argparse.Namespace) -> int:
    """Runs ``fnnet exercises`` / ``fnnet check`` from parsed arguments; the exit status."""
    if args.command == "exercises":
        return _list(args.course)
    if args.command == "check":
        return _check(args.name, args.path)
    raise ValueError(f"not an exercises command: {args.command!r}")


def main(argv=None) -> int:
    """``python -m fnnet.exercises.cli exercises|check ...`` (the same as ``fnnet exercises|check ...``)."""
    parser = argparse.ArgumentParser(prog="fnnet")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return run_command(args)
    except ValueError as err:
        print(f"fnnet: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
