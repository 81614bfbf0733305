"""tools/seed_*.py, the seeds' own programs: each prints one JSON line with its result and wall time, the
numpy ones reproduce the seeds' deterministic numbers, and the shared readers give fnnet's arrays."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"
SHARED = Path(os.environ.get("FNNET_SHARED_DATA", REPO / ".." / "shared" / "data"))
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED} (set FNNET_SHARED_DATA)")


def _run(name, *args):
    done = subprocess.run([sys.executable, str(TOOLS / f"{name}.py"), *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    line = json.loads(lines[0])
    assert line["program"] == name
    return line


def _common():
    spec = importlib.util.spec_from_file_location("seed_common", TOOLS / "seed_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["seed_linear_quadratic", "seed_polynomial", "seed_init_scale"])
def test_numpy_seed_programs_print_one_json_line(name):
    line = _run(name, "--quick")
    assert line["seconds"] > 0 and line["result"] and line["settings"]


def test_linear_quadratic_momentum_and_rmsprop_fall_below_sgd():
    result = _run("seed_linear_quadratic", "--repeats", "3")["result"]
    assert result["orders"] == 3 and result["momentum_below_sgd"] == 3 and result["rmsprop_below_sgd"] == 3


def test_polynomial_order_9_interpolates_its_10_points():
    result = _run("seed_polynomial", "--quick")["result"]
    assert result["order 9"]["lstsq"]["train_mse"] < 1e-12 < result["order 1"]["lstsq"]["train_mse"]


def test_peer_program_without_its_framework_says_it_skipped(tmp_path):
    # an interpreter that cannot import keras: a sitecustomize that hides it
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nclass _Hide:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('keras', 'torch'):\n            raise ImportError(name)\n"
        "sys.meta_path.insert(0, _Hide())\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, str(TOOLS / "seed_keras_mnist_mlp.py"), "--quick"], capture_output=True,
                          text=True, timeout=120, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line["program"] == "seed_keras_mnist_mlp" and "keras not installed" in line["skipped"]


def test_imdb_tokenizer_is_fnnets():
    from fnnet.data import tokenize

    text = "Don't!<br />OK, it's 10/10 -- a_b ÉTÉ l'été's"
    assert _common()._WORD.findall(text.lower().replace("<br />", " ")) == tokenize(text)


@pytest.mark.shared_data
@needs_shared
def test_mnist_reader_gives_fnnets_arrays():
    from fnnet.data import load

    x_train, _, _, y_test = _common().mnist(SHARED)
    data = load("mnist", data_dir=SHARED)
    np.testing.assert_array_equal(x_train.reshape(data.x_train.shape), data.x_train)
    np.testing.assert_array_equal(y_test, data.y_test)


@pytest.mark.shared_data
@needs_shared
def test_housing_gd_is_the_seeds_number():
    result = _run("seed_housing_gd", "--data-dir", str(SHARED))["result"]
    np.testing.assert_allclose(result["gd_m_b"], [0.41893244701097204, 0.44612945637258383], rtol=1e-13)
    np.testing.assert_allclose(result["closed_form_m_b"], [0.41793849, 0.4508557670326776], rtol=1e-7)
