"""Runnable reproductions of the course documents' experiments, built only from the fnnet library.

Each recipe is a module ``recipes.<name>`` with

* ``DESCRIPTION``: one line for ``fnnet list``;
* ``Config``: a frozen dataclass of the experiment's settings (the seed's values by default),
  ``SETTINGS``: the type and allowed values of each of them (:mod:`recipes._settings`; optionally
  ``RELATIONS`` between them), checked before the recipe runs, and ``QUICK``: the overrides that make it
  finish in seconds (tests, ``--quick``);
* ``run(config=None, *, key, data_dir=None, out_dir=None, verbose=True) -> dict`` returning the
  measured numbers (``results["rows"]``: the seed's number next to fnnet's), a line naming the data the
  numbers come from (``results["data"]``), the PNG files it wrote (``results["plots"]``), the same plots
  as figures (``results["figures"]``: ``{file name: fnnet.viz.Figure}``, shown inline in a notebook) and,
  optionally, further tables (``results["tables"]``: ``{title: rows}``). A dataset that is not available gives rows
  saying so (``fnnet`` column "not run: ..."), never numbers from other data.

``recipes.run(name, quick=True, overrides={"epochs": 2})`` is what ``fnnet run`` calls.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Optional

import jax

from . import _settings


def names() -> list[str]:
    """The available recipe names (every public module of this package)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> ModuleType:
    """The recipe module ``recipes.<name>``; an unknown name lists the known ones."""
    known = names()
    if name not in known:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(known)}")
    return importlib.import_module(f"{__name__}.{name}")


def make_config(module: ModuleType, *, quick: bool = False, overrides: Optional[dict] = None):
    """``module.Config`` with ``module.QUICK`` applied when ``quick`` and then ``overrides`` (values given
    as strings, e.g. from the command line, are parsed by the setting's rule), checked against the
    recipe's ``SETTINGS``/``RELATIONS`` (:func:`recipes._settings.check`): a bad setting is a ValueError
    naming it, what it accepts and what it got, before anything runs."""
    config = module.Config()
    if quick:
        config = dataclasses.replace(config, **getattr(module, "QUICK", {}))
    fields = {f.name for f in dataclasses.fields(config)}
    converted = {}
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise ValueError(f"recipe config has no setting {key!r}; settings: {', '.join(sorted(fields))}")
        converted[key] = _settings.parse(module, key, value) if isinstance(value, str) else value
    config = dataclasses.replace(config, **converted)
    _settings.check(module, config)
    return config


def settings_table(name: str) -> list[_settings.SettingRow]:
    """The settings of recipe ``name``: one row per ``Config`` field with its default, its ``--quick``
    value and what it accepts (e.g. ``"an int >= 1"``); the recipe's relations between settings are
    ``recipes.load(name).RELATIONS``."""
    return _settings.table(load(name))


def run(
    name: str,
    *,
    quick: bool = False,
    overrides: Optional[dict] = None,
    key: Optional[jax.Array] = None,
    data_dir=None,
    out_dir=None,
    verbose: bool = True,
) -> dict:
    """Runs recipe ``name`` and returns its results dict (see the package docstring), with the settings
    it ran under added as ``results["config"]``."""
    module = load(name)
    config = make_config(module, quick=quick, overrides=overrides)
    out = Path(out_dir) if out_dir is not None else Path("outputs") / name
    results = module.run(config, key=jax.random.key(0) if key is None else key, data_dir=data_dir, out_dir=out,
                         verbose=verbose)
    return {**results, "config": dataclasses.asdict(config)}
