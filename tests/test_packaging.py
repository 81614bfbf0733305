"""Packaging: the version comes from one place, the wheel holds every fnnet package, and the recipes are
installed as ``fnnet_recipes`` (not a generic top-level ``recipes``) where ``fnnet run`` still finds them."""
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import fnnet
from fnnet import cli

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_is_the_installed_distributions():
    assert fnnet.__version__ == importlib.metadata.version("fnnet")
    assert "version = " not in (ROOT / "fnnet" / "__init__.py").read_text().replace("__version__ = ", "")


def test_every_fnnet_package_is_listed_and_recipes_install_as_fnnet_recipes():
    config = _pyproject()["tool"]["setuptools"]
    folders = {p.parent for p in (ROOT / "fnnet").rglob("*") if p.is_file() and "__pycache__" not in p.parts
               and p.suffix in (".py", ".npz")}
    wanted = {".".join(folder.relative_to(ROOT).parts) for folder in folders}
    assert wanted <= set(config["packages"]), f"add to pyproject's packages: {sorted(wanted - set(config['packages']))}"
    assert config["package-dir"] == {"fnnet_recipes": "recipes"}
    assert "recipes" not in config["packages"]


def test_a_checkout_runs_its_own_recipes_folder():
    recipes = cli.load_recipes()
    assert Path(recipes.__file__).resolve().parent == ROOT / "recipes"


@pytest.mark.slow
def test_an_installed_wheel_runs_recipes_from_fnnet_recipes(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("fnnet", "recipes"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(tmp_path / "dist")],
                   check=True, cwd=source, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("fnnet-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {"fnnet", "fnnet_recipes"} <= tops and "recipes" not in tops
    subprocess.run([*pip, "install", "--no-deps", "--target", str(tmp_path / "site"), str(wheel)], check=True,
                   capture_output=True)
    script = """
import sys
from fnnet import cli
recipes = cli.load_recipes()
assert recipes.__name__ == "fnnet_recipes", recipes
assert recipes.load("planar").__name__ == "fnnet_recipes.planar"
assert "recipes" not in sys.modules
sys.exit(cli.main(["run", "planar", "--help"]))
"""
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "recipe planar:" in done.stdout and "sweep_sizes" in done.stdout
