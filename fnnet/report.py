"""The markdown report of recipe runs (``RESULTS.md``); its tables come from :mod:`fnnet.text`.

A *row* is a dict of printable cells (``{"experiment": ..., "seed": ..., "fnnet": ...}`` for the recipes).

A report is built from *entries*, one per recipe run (see :func:`make_entry`): the recipe's rows and
tables, the data it used, its settings, the exact command, the wall time and the machine. Each section of
the markdown file embeds its entry as JSON in an HTML comment, so the file can be re-read
(:func:`read_entries`) and partly updated (:func:`write_report` with ``replace=False`` keeps the sections of
recipes that were not re-run, and of runs of a recipe on other data: a section is one recipe on one
``dataset`` setting). Regenerating the whole file is running every recipe again.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import re
from pathlib import Path
from typing import Iterable, Optional, Sequence

from fnnet.text import markdown_table, table_columns, text_table  # noqa: F401  (re-exported)

_ENTRY_MARK = "fnnet-report-entry"
_ENTRY_RE = re.compile(r"<!-- " + _ENTRY_MARK + r" (.*?) -->", re.DOTALL)


def machine() -> dict:
    """What a timing depends on: CPU count, platform, Python, jax version, backend, device, load."""
    import jax

    devices = jax.devices()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": f"{len(devices)} x {devices[0].device_kind}",
        "load_average": None if load is None else [round(v, 2) for v in load],
    }


def describe_machine(info: dict) -> str:
    text = (f"{info['cpus']} CPUs, {info['platform']}, Python {info['python']}, jax {info['jax']} "
            f"({info['backend']}: {info['device']})")
    if info.get("load_average"):
        text += f"; load average at start {', '.join(f'{v:.2f}' for v in info['load_average'])} (1/5/15 min)"
    return text


def now_utc() -> str:
    """The current time as the report prints it, e.g. ``2026-11-22 01:52 UTC``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def make_entry(name: str, results: dict, *, description: str, command: str, wall_seconds: float,
               machine_info: dict, quick: bool, finished: Optional[str] = None, note: str = "") -> dict:
    """One report entry from a recipe's results dict (only its printable parts are kept).

    ``finished`` defaults to now (a report written right after the run); ``note`` is a free-text remark
    printed under the section's facts (e.g. how an older run's command was established)."""
    return {
        "name": name,
        "description": description,
        "command": command,
        "wall_seconds": round(float(wall_seconds), 1),
        "machine": machine_info,
        "finished": finished or now_utc(),
        "note": note,
        "quick": bool(quick),
        # as JSON has it (tuples as lists): a report written now and one assembled from results.json agree
        "config": json.loads(json.dumps(results.get("config", {}), default=str)),
        "data": str(results.get("data", "")),
        "rows": [{k: str(v) for k, v in row.items()} for row in results.get("rows", [])],
        "tables": {title: [{k: str(v) for k, v in row.items()} for row in table]
                   for title, table in results.get("tables", {}).items()},
        "plots": [str(p) for p in results.get("plots", [])],
    }


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(float(seconds)), 60)  # round of a float is an int
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"


def _short_data(entry: dict, row: dict) -> str:
    return row.get("data") or entry["data"].split(":")[0]


def entry_datasets(entry: dict) -> tuple:
    """The datasets an entry's run used: its ``dataset`` setting as a tuple (``()`` without one)."""
    value = entry.get("config", {}).get("dataset")
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else (str(value),)


def _heading(entry: dict, entries: Sequence[dict]) -> str:
    """``name``, or ``name (dataset, ...)`` when the report holds several runs of that recipe."""
    if sum(e["name"] == entry["name"] for e in entries) < 2:
        return entry["name"]
    return f"{entry['name']} ({', '.join(entry_datasets(entry)) or 'default data'})"


def _entry_section(entry: dict, heading: Optional[str] = None) -> str:
    lines = [f"## {heading or entry['name']}", "", entry["description"], ""]
    if entry["quick"]:
        lines += ["**Quick settings** (a smoke run, not the seed's protocol).", ""]
    settings = ", ".join(f"{k}={v}" for k, v in entry["config"].items())
    lines += [
        f"* command: `{entry['command']}`",
        f"* data: {entry['data']}",
        f"* wall time: {_duration(entry['wall_seconds'])} (finished {entry['finished']})",
        f"* machine: {describe_machine(entry['machine'])}",
        f"* settings: `{settings}`" if settings else "* settings: -",
    ]
    if entry.get("note"):
        lines += [f"* note: {entry['note']}"]
    lines += [
        "",
        markdown_table([_seed_before_fnnet(row) for row in entry["rows"]]),
        "",
    ]
    for title, table in entry["tables"].items():
        lines += [f"**{title}**", "", markdown_table(table), ""]
    if entry["plots"]:
        lines += ["plots (written by the run, not committed): " + ", ".join(f"`{p}`" for p in entry["plots"]), ""]
    # JSON never contains "--" outside strings, and "\u002d" keeps it out of strings: the comment stays closed.
    # Keys keep their order (a table's columns are its rows' keys in order).
    payload = json.dumps(entry).replace("--", "-\\u002d")
    lines += [f"<!-- {_ENTRY_MARK} {payload} -->", ""]
    return "\n".join(lines)


def _seed_before_fnnet(row: dict) -> dict:
    """A result row with its columns in the report's order: experiment, seed, fnnet, then any others
    (rows stored by older reports came back with their keys sorted)."""
    first = [k for k in ("experiment", "seed", "fnnet") if k in row]
    return {k: row[k] for k in [*first, *(k for k in row if k not in first)]}


def render_report(entries: Iterable[dict], *, title: str = "fnnet results: the seed experiments reproduced") -> str:
    """The whole markdown report: how it was made, a summary per recipe, every seed number next to
    fnnet's, then one section per recipe."""
    entries = list(entries)
    summary = [{"recipe": _heading(e, entries), "data": e["data"].split(":")[0] or "-", "rows": str(len(e["rows"])),
                "wall time": _duration(e["wall_seconds"]), "finished": e["finished"],
                "settings": "quick" if e["quick"] else "full"} for e in entries]
    numbers = [{"recipe": e["name"], "experiment": r.get("experiment", ""), "data": _short_data(e, r),
                "seed": r.get("seed", ""), "fnnet": r.get("fnnet", "")} for e in entries for r in e["rows"]]
    commands = sorted({e["command"] for e in entries})
    parts = [
        f"# {title}",
        "",
        "Written by `fnnet run ... --report PATH` (or assembled from saved runs' `results.json` by "
        "`fnnet report PATH FILE...`) from the runs listed below; do not edit by hand. "
        "`fnnet run all --report PATH` regenerates the whole file; `fnnet run NAME [NAME...] --report PATH` "
        "replaces only those recipes' sections. Each section gives the exact command, the data, the settings, "
        "the wall time and the machine of the run its numbers come from. A \"not run\" cell names data that "
        "was not available; no other data is substituted for it.",
        "",
        "Commands: " + "; ".join(f"`{c}`" for c in commands),
        "",
        "## Summary",
        "",
        markdown_table(summary),
        "",
        "## Every seed number next to fnnet's",
        "",
        markdown_table(numbers),
        "",
    ]
    parts += [_entry_section(e, _heading(e, entries)) for e in entries]
    return "\n".join(parts).rstrip() + "\n"


SAVED_RUN_KEYS = ("recipe", "description", "command", "machine", "finished", "wall_seconds", "quick")


def entry_from_saved_run(saved: dict) -> dict:
    """The report entry of a run saved by ``fnnet run`` (its ``results.json``): the recipe's results plus
    ``SAVED_RUN_KEYS`` (and an optional ``note``). A report can so be assembled later from runs made at
    different times or on different machines (``fnnet report``)."""
    missing = [k for k in SAVED_RUN_KEYS if k not in saved]
    if missing:
        raise ValueError(f"saved run: expected the keys {', '.join(SAVED_RUN_KEYS)} (results.json written by "
                         f"`fnnet run`); missing {', '.join(missing)}")
    return make_entry(saved["recipe"], saved, description=saved["description"], command=saved["command"],
                      wall_seconds=saved["wall_seconds"], machine_info=saved["machine"], quick=saved["quick"],
                      finished=saved["finished"], note=saved.get("note", ""))


def read_entries(path) -> list[dict]:
    """The entries embedded in an existing report (empty when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(match) for match in _ENTRY_RE.findall(path.read_text())]


def merge_entries(old: Sequence[dict], new: Sequence[dict]) -> list[dict]:
    """``old`` updated with ``new``, in turn: an entry replaces every earlier entry of the same recipe whose
    data overlap its own (the same ``dataset`` setting, or either has none) and is kept next to the others.
    So ``cs4487_table`` run once with ``dataset=mnist`` and once with ``dataset=fashion_mnist`` keeps both
    sections, a second MNIST run replaces the first, and a recipe without a dataset setting keeps one."""
    merged: list[dict] = list(old)
    for entry in new:
        merged = [e for e in merged if e["name"] != entry["name"] or not _data_overlap(entry, e)] + [entry]
    return merged


def _data_overlap(entry: dict, other: dict) -> bool:
    """Whether two entries ran on overlapping data: they share a dataset, or either has no ``dataset`` setting."""
    ours, theirs = set(entry_datasets(entry)), set(entry_datasets(other))
    return not ours or not theirs or bool(ours & theirs)


def write_report(path, entries: Sequence[dict], *, replace: bool = True, order: Sequence[str] = ()) -> Path:
    """Writes the report at ``path``. ``replace=True``: exactly ``entries``; ``replace=False``: the
    existing file's entries, where an entry of the same recipe on the same data is replaced by the new one
    and runs of a recipe on other data are kept (:func:`merge_entries`). Sections follow ``order`` (recipe
    names), then the remaining names alphabetically; runs of one recipe follow their datasets' names."""
    path = Path(path)
    merged = merge_entries([] if replace else read_entries(path), entries)
    rank = {name: i for i, name in enumerate(order)}
    merged.sort(key=lambda e: (rank.get(e["name"], len(rank)), e["name"], entry_datasets(e)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(merged))
    return path
