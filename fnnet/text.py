"""Tables as text: a fixed-width table for terminals and a markdown table for reports (shared by the
diagnostics, the recipes and the ``RESULTS.md`` report).

A *row* is a dict of printable cells; a table's columns are the union of its rows' keys in order of
first appearance.
"""
from __future__ import annotations

from typing import Optional, Sequence


def table_columns(rows: Sequence[dict]) -> list[str]:
    """The union of the rows' keys, in order of first appearance."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns


def text_table(rows: Sequence[dict]) -> str:
    """A fixed-width plain-text table (header, rule, one line per row); empty string for no rows."""
    if not rows:
        return ""
    columns = table_columns(rows)
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in cells]
    return "\n".join(lines)


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[dict], columns: Optional[Sequence[str]] = None) -> str:
    """A GitHub-markdown table of ``rows`` (``|`` in cells escaped); ``columns`` defaults to all keys."""
    if not rows:
        return ""
    columns = list(columns) if columns is not None else table_columns(rows)
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
