"""The exercise notebooks, built from the catalogue: ``python -m fnnet.exercises.notebooks notebooks/``.

Each exercise is three cells: its task (markdown), the empty function from :func:`fnnet.exercises.template`
(cell metadata ``{"exercise": name}``) and ``exercises.check(name, function)`` (metadata ``{"check": name}``).
tests/test_exercise_notebooks.py runs them with the reference solutions in the exercise cells and
asserts that every check passed, and that the committed notebooks are what this module writes.
"""
from __future__ import annotations

import sys
from pathlib import Path

from fnnet import exercises

SETUP = """import numpy as np

from fnnet import exercises


def sigmoid(z):  # the planar assignment's helper: "We can use the function sigmoid()"
    return 1 / (1 + np.exp(-z))"""

NOTEBOOKS = {
    "exercises_seed000.ipynb": (
        ("# Learn by writing it: seed 000 (HSE linear models, deeplearning.ai planar data)\n\n"
        "The from-scratch functions of seed 000's two assignments, in their own layout: the HSE linear classifier "
        "(rows are samples, `X` is `[n_samples, 6]`) and the deeplearning.ai one-hidden-layer net (columns are "
        "examples, `X` is `(n_x, m)`, `W1` is `(n_h, n_x)`). Replace each `raise NotImplementedError` by your "
        "code, then run the check cell below it: `fnnet.exercises.check` runs your function on the seed's printed "
        "example and on random and edge cases, compares it with fnnet's reference and explains what differs."),
        [*exercises.names("hse"), *exercises.names("planar")],
    ),
    "exercises_seed001.ipynb": (
        ("# Learn by writing it: seed 001 (the workshop's gradient descent for y = m*x + b)\n\n"
        "The workshop derives the gradient of the mean squared error by hand and fits `y = m*x + b` on one "
        "feature of California housing. Write each function, then run the check cell below it."),
        exercises.names("housing"),
    ),
}


def build(title: str, names: list[str]):
    """The notebook (an ``nbformat`` node) of the exercises ``names``, with stable cell ids."""
    import nbformat

    cells = [nbformat.v4.new_markdown_cell(title), nbformat.v4.new_code_cell(SETUP)]
    for name in names:
        exercise = exercises.get(name)
        cells.append(nbformat.v4.new_markdown_cell(f"## `{name}`\n\n{exercise.task}\n\n```\n{exercise.layout}\n```"))
        cells.append(nbformat.v4.new_code_cell(exercises.template(name).rstrip(), metadata={"exercise": name}))
        cells.append(nbformat.v4.new_code_cell(f'exercises.check("{name}", {exercise.function})',
                                               metadata={"check": name}))
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i:03d}"
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}}
    return notebook


def write_all(folder: str | Path) -> list[Path]:
    """Writes every notebook of :data:`NOTEBOOKS` into ``folder``; returns their paths."""
    import nbformat

    paths = []
    for filename, (title, names) in NOTEBOOKS.items():
        path = Path(folder) / filename
        nbformat.write(build(title, names), path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all(sys.argv[1] if len(sys.argv) > 1 else "notebooks"):
        print(written)
