"""Data parallelism on one device, argument checks, and the 8-device suite in a subprocess.

XLA fixes the number of (fake) CPU devices when a process starts, and pytest's workers have one, so
the 8-device tests (``test_distributed_devices.py``) run in a fresh process started here."""
import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import chex
import jax
import numpy as np
import optax
import pytest

from fnnet import distributed
from fnnet import models as M
from fnnet.train import fit

REPO = Path(__file__).resolve().parents[1]
rng = np.random.RandomState(0)
X = rng.randn(200, 6).astype(np.float32)
Y = (X @ rng.randn(6, 3)).argmax(1)
MODEL = M.mlp([16, 3], dropout=0.2, flatten=False)


def _fit(**kw):
    return fit(MODEL, "softmax_cross_entropy", optax.adam(1e-2), (X, Y), epochs=2, batch_size=32,
               key=jax.random.key(0), verbose=0, **kw)


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_a_one_device_mesh_is_the_same_training_as_no_mesh():
    plain, plain_hist = _fit()
    meshed, meshed_hist = _fit(devices=jax.devices()[:1])
    chex.assert_trees_all_equal(meshed.params, plain.params)
    assert meshed_hist.history == plain_hist.history


def test_mesh_arguments_are_checked():
    mesh = distributed.data_mesh()
    with pytest.raises(ValueError, match="either devices .* or mesh, not both|either mesh or devices, not both"):
        _fit(mesh=mesh, devices=jax.devices())
    with pytest.raises(ValueError, match="mesh must be a 1-D jax.sharding.Mesh"):
        _fit(mesh=jax.sharding.Mesh(np.asarray(jax.devices()).reshape(1, -1), ("a", "b")))
    with pytest.raises(ValueError, match="devices must be a non-empty sequence of jax devices"):
        distributed.data_mesh([])
    with pytest.raises(ValueError, match="devices must not repeat a device"):
        distributed.data_mesh(jax.devices() * 2)
    with pytest.raises(ValueError, match=r"leaf \['s'\] is a scalar"):
        distributed.shard_leading_axis({"s": np.float32(1.0)}, mesh)


@pytest.mark.slow
def test_eight_device_suite_passes_in_its_own_process():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "tests" / "test_distributed_devices.py"), "-n", "0",
         "-p", "no:cacheprovider", "-rs"],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    passed = re.search(r"(\d+) passed", output)
    # every test of the file ran (9 of them): none skipped for want of devices
    assert passed and int(passed.group(1)) == 9 and "skipped" not in output, output[-3000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_joined_by_jax_distributed_train_like_one_device(tmp_path):
    """The README's multi-host command, run as 2 local processes x 2 CPU devices (gloo collectives),
    ends with the parameters of a single-device run of the same script, up to float rounding."""
    script = REPO / "benchmarks" / "multihost.py"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("XLA_FLAGS", None)
    port = _free_port()
    common = ["--coordinator", f"localhost:{port}", "--num-processes", "2", "--cpu-devices", "2", "--epochs", "2"]
    procs = [subprocess.Popen([sys.executable, str(script), *common, "--process-id", str(i),
                               *(["--out", str(tmp_path / "multi.npz")] if i == 0 else [])],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in (0, 1)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outputs)
    assert "2 process(es), 4 devices" in outputs[0]
    spec = importlib.util.spec_from_file_location("multihost", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--epochs", "2", "--out", str(tmp_path / "single.npz")])
    multi, single = np.load(tmp_path / "multi.npz"), np.load(tmp_path / "single.npz")
    assert sorted(multi.files) == sorted(single.files) and len(multi.files) == 4
    for name in single.files:
        np.testing.assert_allclose(multi[name], single[name], rtol=1e-5, atol=1e-6, err_msg=name)
