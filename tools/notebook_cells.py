"""What the ``tools/build_*_notebook.py`` scripts share: a notebook from ``(kind, source)`` cells, written
unexecuted and with stable cell ids, so that rebuilding gives the same file unless a cell changes
(``tests/test_notebooks.py`` checks that the committed notebooks are exactly what their builders write)."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]


def build_notebook(cells: list, id_prefix: str) -> nbformat.NotebookNode:
    """``cells``: ``("md" | "code", source)`` pairs; cell ``i`` gets the id ``f"{id_prefix}-{i:02d}"``."""
    notebook = new_notebook(metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                                      "language_info": {"name": "python"}})
    for i, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell["id"] = f"{id_prefix}-{i:02d}"  # stable ids: rebuilding changes nothing unless a cell does
        notebook.cells.append(cell)
    return notebook


def write(notebook: nbformat.NotebookNode, path: Path) -> None:
    nbformat.write(notebook, path)
    print(f"wrote {path.relative_to(ROOT)}")
