"""The exercise notebooks: committed as fnnet.exercises.notebooks builds them, and, run headless with fnnet's
reference solutions in place of the empty functions, every check cell passes."""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from fnnet import exercises
from fnnet.exercises import notebooks as builder

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(builder.NOTEBOOKS)


@pytest.mark.parametrize("filename", NOTEBOOKS)
def test_committed_notebook_is_what_the_builder_writes(filename):
    title, names, finale = builder.NOTEBOOKS[filename]
    committed = nbformat.read(ROOT / "notebooks" / filename, as_version=4)
    assert committed == builder.build(title, names, finale), "rebuild: python -m fnnet.exercises.notebooks notebooks"
    exercise_cells = [c.metadata["exercise"] for c in committed.cells if "exercise" in c.metadata]
    assert exercise_cells == names
    assert all(exercises.template(c.metadata["exercise"]).rstrip() == c.source
               for c in committed.cells if "exercise" in c.metadata)


@pytest.mark.slow
@pytest.mark.parametrize("filename", NOTEBOOKS)
def test_notebook_with_the_reference_solutions_passes_every_check(filename, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("FNNET_NOTEBOOK_OUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(ROOT / "notebooks" / filename, as_version=4)
    for cell in notebook.cells:
        if "exercise" in cell.metadata:  # the learner's empty function -> fnnet's solution, same name
            name = cell.metadata["exercise"]
            cell.source = f'{exercises.get(name).function} = exercises.get("{name}").reference'
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    checks = [cell for cell in notebook.cells if "check" in cell.metadata]
    assert len(checks) == len(builder.NOTEBOOKS[filename][1])
    for cell in checks:
        text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        assert f"{cell.metadata['check']}: passed all" in text, text
    finale = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert finale.startswith("your "), finale  # the learner's (here: the substituted) code, not the fallback
    assert list((tmp_path / "outputs").glob("*.png"))
