"""Declared settings of the recipes: the type and allowed values of every ``Config`` field, checked in one
place (:func:`recipes.make_config`) before anything runs.

Each recipe module states one table, ``SETTINGS = {field: rule}``, with a rule for every field of its
``Config``, and optionally ``RELATIONS``, checks that involve several settings::

    SETTINGS = {
        "n_h": V.integer(1),                    # an int >= 1
        "learning_rate": V.number(0, low_open=True),
        "sweep_sizes": V.items(V.integer(1)),   # a non-empty tuple of ints >= 1 ("1,4" on the command line)
        "float64": V.flag(),
    }
    RELATIONS = [V.multiple_of("iterations", "log_every")]

A rule parses the command line's text (``parse``), tests a value (``test``) and says in words what it
accepts (``text``, for error messages and ``fnnet run NAME --help``); relations are checked after every
setting passed its own rule. :func:`table` lists a recipe's
settings with their defaults; :func:`check` raises ``ValueError`` naming the setting, what it accepts and
what it got.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

#: Training examples of the datasets the recipes load (the bound of a batch size).
DATASET_TRAIN_SIZES = {"mnist": 60_000, "fashion_mnist": 60_000, "cifar10": 50_000, "mnist_small": 5_000}
#: The 28 x 28 grey-scale datasets the MNIST recipes accept.
MNIST_LIKE = ("mnist", "mnist_small", "fashion_mnist")

_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")


@dataclasses.dataclass(frozen=True)
class Rule:
    """What one setting accepts: ``text`` in words, ``test(value) -> bool``, ``parse(text) -> value``
    (raises ValueError on text that is not of the type)."""

    text: str
    test: Callable[[Any], bool]
    parse: Callable[[str], Any]


@dataclasses.dataclass(frozen=True)
class Relation:
    """A check over several settings: ``test(config) -> bool``; ``text`` says what must hold (for
    ``--help``) and ``explain(config)`` why a config fails it (for the error)."""

    names: tuple[str, ...]
    text: str
    test: Callable[[Any], bool]
    explain: Callable[[Any], str]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _bounds_text(low, high, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def _within(value, low, high, low_open: bool, high_open: bool) -> bool:
    if low is not None and (value <= low if low_open else value < low):
        return False
    return high is None or (value < high if high_open else value <= high)


def integer(low: int | None = None, high: int | None = None, *, note: str = "") -> Rule:
    """An int in ``[low, high]`` (a None bound is open-ended). ``note`` adds words, e.g. "0: all"."""
    bounds = _bounds_text(low, high, False, False)
    text = "an int" + (f" {bounds}" if bounds else "") + (f" ({note})" if note else "")
    return Rule(text, lambda v: _is_int(v) and _within(v, low, high, False, False), int)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
           note: str = "") -> Rule:
    """A finite number (int or float) within the bounds; ``*_open`` excludes the bound itself."""
    bounds = _bounds_text(low, high, low_open, high_open)
    text = "a finite number" + (f" {bounds}" if bounds else "") + (f" ({note})" if note else "")
    return Rule(text, lambda v: _is_number(v) and _within(v, low, high, low_open, high_open), float)


def positive(*, note: str = "") -> Rule:
    """A finite number > 0 (learning rates, scales)."""
    return number(0, low_open=True, note=note)


def flag() -> Rule:
    """True or False (``true/false/yes/no/1/0`` on the command line)."""

    def parse(text: str) -> bool:
        if text.lower() not in _TRUE + _FALSE:
            raise ValueError("expects true or false")
        return text.lower() in _TRUE

    return Rule("true or false", lambda v: isinstance(v, bool), parse)


def choice(*options: str) -> Rule:
    """One of ``options`` (strings)."""
    return Rule(f"one of {', '.join(options)}", lambda v: v in options, str)


def items(rule: Rule, *, min_len: int = 1, length: int | None = None, unique: bool = False) -> Rule:
    """A tuple whose items each satisfy ``rule`` (``a,b,c`` on the command line): at least ``min_len``
    items, exactly ``length`` when given, no repeats with ``unique``."""
    size = f"{length}" if length is not None else f"{min_len} or more"
    text = f"a tuple of {size}{' distinct' if unique else ''} items, each {rule.text}"

    def test(value) -> bool:
        if not isinstance(value, tuple) or len(value) < min_len or (length is not None and len(value) != length):
            return False
        return all(rule.test(v) for v in value) and (not unique or len(set(value)) == len(value))

    return Rule(text, test, lambda text: tuple(rule.parse(v.strip()) for v in text.split(",") if v.strip()))


def subset(options: Sequence[str], *, min_len: int = 1) -> Rule:
    """A tuple of distinct names from ``options`` (at least ``min_len``)."""
    return items(choice(*options), min_len=min_len, unique=True)


def log_axis() -> Rule:
    """``(low, high, count)``: a log-spaced axis from ``low > 0`` to ``high > low`` with ``count >= 1`` points."""

    def test(value) -> bool:
        return (isinstance(value, tuple) and len(value) == 3 and all(_is_number(v) for v in value)
                and 0 < value[0] < value[1] and float(value[2]).is_integer() and value[2] >= 1)

    return Rule("(low, high, count) with 0 < low < high and an integral count >= 1", test,
                lambda text: tuple(float(v) for v in text.split(",") if v.strip()))


def any_text() -> Rule:
    return Rule("any text", lambda v: isinstance(v, str), str)


def multiple_of(name: str, divisor: str) -> Relation:
    """``name`` is a whole multiple of ``divisor`` (e.g. iterations of log_every)."""
    return Relation((name, divisor), f"{name} is a multiple of {divisor}",
                    lambda c: getattr(c, name) % getattr(c, divisor) == 0,
                    lambda c: f"{name}={getattr(c, name)} is not a multiple of {divisor}={getattr(c, divisor)}")


def less_than(name: str, bound: str) -> Relation:
    """``name < bound`` (e.g. a validation split smaller than the data it is cut from)."""
    return Relation((name, bound), f"{name} < {bound}", lambda c: getattr(c, name) < getattr(c, bound),
                    lambda c: f"{name}={getattr(c, name)} must be less than {bound}={getattr(c, bound)}")


def same_length(name: str, other: str) -> Relation:
    """Tuples ``name`` and ``other`` have one item each for the other's (e.g. one rate per optimizer)."""
    return Relation((name, other), f"{name} has one item per item of {other}",
                    lambda c: len(getattr(c, name)) == len(getattr(c, other)),
                    lambda c: f"{name} has {len(getattr(c, name))} items but {other} has {len(getattr(c, other))}")


def batch_fits_data(batch: str = "batch_size", *, dataset: str = "dataset", limit: str | None = "train_limit",
                    synthetic: str | None = None, examples: int | str | None = None) -> Relation:
    """``batch`` is at most the number of training examples: ``examples`` when given (a count, or the
    setting holding a generated set's size), else those of ``config.<dataset>`` (the smallest of several),
    or ``config.<synthetic>`` when ``config.synthetic`` is set; capped by ``config.<limit>`` when not 0."""

    def available(c) -> int:
        if examples is not None:
            n = examples if isinstance(examples, int) else getattr(c, examples)
        elif synthetic is not None and c.synthetic:
            n = getattr(c, synthetic)
        else:
            names = getattr(c, dataset)
            n = min(DATASET_TRAIN_SIZES.get(d, math.inf) for d in (names if isinstance(names, tuple) else (names,)))
        return min(n, getattr(c, limit)) if limit is not None and getattr(c, limit) else n

    def explain(c) -> str:
        given = ", ".join(f"{n}={getattr(c, n)!r}" for n in names[1:])
        return (f"{batch}={getattr(c, batch):,} is larger than the {available(c):,} training examples"
                + (f" ({given})" if given else ""))

    source = dataset if examples is None else (examples if isinstance(examples, str) else None)
    names = tuple(n for n in (batch, source, limit, synthetic) if n is not None)
    return Relation(names, f"{batch} <= the number of training examples", lambda c: getattr(c, batch) <= available(c),
                    explain)


def rules(module) -> dict[str, Rule]:
    """``module.SETTINGS``, checked to declare exactly the fields of ``module.Config``."""
    fields = [f.name for f in dataclasses.fields(module.Config)]
    declared = getattr(module, "SETTINGS", None)
    if declared is None or set(declared) != set(fields):
        missing = sorted(set(fields) - set(declared or {}))
        extra = sorted(set(declared or {}) - set(fields))
        raise TypeError(f"recipe {module.__name__}: SETTINGS must declare every Config field (missing {missing}, "
                        f"unknown {extra})")
    return declared


def parse(module, name: str, text: str):
    """The value of setting ``name`` from command-line ``text`` (ValueError naming the setting)."""
    rule = rules(module)[name]
    try:
        return rule.parse(text)
    except ValueError:
        raise ValueError(f"setting {name} expects {rule.text}, got {text!r}") from None


def check(module, config) -> None:
    """Raises ValueError for the first setting of ``config`` its rule rejects, then for the first failing
    relation, naming the setting, what it accepts and the value given."""
    for name, rule in rules(module).items():
        value = getattr(config, name)
        if not rule.test(value):
            raise ValueError(f"setting {name} expects {rule.text}, got {value!r}")
    for relation in getattr(module, "RELATIONS", ()):
        if not relation.test(config):
            raise ValueError(f"settings {', '.join(relation.names)}: {relation.explain(config)}")


@dataclasses.dataclass(frozen=True)
class SettingRow:
    """One line of a recipe's settings table (for ``fnnet run NAME --help``)."""

    name: str
    default: Any
    quick: Any  # the value under --quick (the default when QUICK does not change it)
    allowed: str


def table(module) -> list[SettingRow]:
    """Every setting of a recipe in ``Config`` order with its default, its ``--quick`` value and what it
    accepts (the recipe's relations are ``module.RELATIONS``; each has a ``text``)."""
    declared = rules(module)
    defaults, quick = module.Config(), getattr(module, "QUICK", {})
    return [SettingRow(f.name, getattr(defaults, f.name), quick.get(f.name, getattr(defaults, f.name)),
                       declared[f.name].text) for f in dataclasses.fields(module.Config)]
