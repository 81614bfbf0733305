"""Every notebook in notebooks/ runs headless from top to bottom (its quick default settings, no files).

The kernel is the ``python3`` kernel spec (``python -m ipykernel install --user`` creates it; CI's
``.ci/run`` does); it imports this checkout's ``fnnet`` and ``recipes``. Plots go to a temporary folder.
The kernel gets the test session's persistent XLA compilation cache (conftest.py) through jax's
environment variables: compiling the notebook's eleven models is most of its run time.
"""
import importlib.util
import os
from pathlib import Path

import jax
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_headless(path, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("FNNET_NOTEBOOK_OUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for option in ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
                   "jax_persistent_cache_min_entry_size_bytes"):
        monkeypatch.setenv(option.upper(), str(getattr(jax.config, option)))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert list((tmp_path / "outputs").glob("*.png")), "the notebook shows its plots from PNG files"


def test_there_are_notebooks_to_run():
    assert NOTEBOOKS, "notebooks/*.ipynb"


BUILDERS = sorted((ROOT / "tools").glob("build_*_notebook.py"))


@pytest.mark.parametrize("builder", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_built_notebooks_are_committed_as_their_builder_writes_them(builder, monkeypatch):
    """A notebook that a tools/ builder writes is committed exactly so (no outputs, stable cell ids): edit
    the builder's cells and rebuild, never the notebook."""
    monkeypatch.syspath_prepend(str(ROOT / "tools"))  # as when the builder runs as a script
    spec = importlib.util.spec_from_file_location(builder.stem, builder)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert nbformat.writes(module.build()) + "\n" == module.PATH.read_text(encoding="utf-8"), \
        f"{module.PATH.name} differs from what {builder.name} writes: run python {builder.relative_to(ROOT)}"
