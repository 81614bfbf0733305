"""benchmarks/peers.py: its quick mode trains every model correctly, fnnet's two epoch modes agree, and
the report's ratios are the per-repeat ratios it claims."""
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import chex
import jax
import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_peers():
    spec = importlib.util.spec_from_file_location("benchmarks_peers", REPO / "benchmarks" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


peers = _load_peers()
JAX_FRAMEWORKS = ["fnnet_scan", "fnnet_step", "flax_step", "flax_scan"]


def _quick_run(model: str, frameworks):
    specs = [peers._quick_spec(peers.SPECS[model])]
    results = peers.measure_throughput(specs, frameworks, repeats=1, key=jax.random.key(0), quick=True, log=lambda *a: None)
    return specs, results


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_quick_mlp_trains_in_every_jax_framework_and_fnnet_modes_agree():
    specs, results = _quick_run("mlp", JAX_FRAMEWORKS)
    assert peers.check_results(specs, results) == []
    # 784-256-100-10 with biases, counted by hand
    expected_params = (784 * 256 + 256) + (256 * 100 + 100) + (100 * 10 + 10)
    assert {f: e["params"] for f, e in results["mlp"].items()} == dict.fromkeys(JAX_FRAMEWORKS, expected_params)
    # the scan epoch and the per-step loop run the same steps on the same batches
    chex.assert_trees_all_close(results["mlp"]["fnnet_scan"]["losses"], results["mlp"]["fnnet_step"]["losses"], rtol=1e-5)
    chex.assert_trees_all_close(results["mlp"]["flax_scan"]["losses"], results["mlp"]["flax_step"]["losses"], rtol=1e-5)


def test_fnnet_default_mode_reads_fits_choice_for_the_mlp():
    # fit scans whole epochs unless a model convolves on a CPU (fnnet.train's documented default)
    assert peers.fnnet_default_mode(peers._quick_spec(peers.SPECS["mlp"])) == "scan"


@pytest.mark.slow
def test_quick_deep_cnn_fnnet_modes_agree_and_default_mode():
    expected_mode = "step" if jax.default_backend() == "cpu" else "scan"
    assert peers.fnnet_default_mode(peers._quick_spec(peers.SPECS["deep_cnn"])) == expected_mode
    specs, results = _quick_run("deep_cnn", ["fnnet_scan", "fnnet_step"])
    assert peers.check_results(specs, results) == []
    chex.assert_trees_all_close(results["deep_cnn"]["fnnet_scan"]["losses"], results["deep_cnn"]["fnnet_step"]["losses"], rtol=1e-5)


def test_check_results_flags_non_finite_losses_and_parameter_mismatch():
    results = {"mlp": {
        "fnnet_scan": {"losses": [1.0], "params": 10},
        "torch": {"losses": [math.nan], "params": 10},
        "keras": {"losses": [1.0], "params": 12},
    }}
    problems = peers.check_results([peers.SPECS["mlp"]], results)
    assert len(problems) == 2
    assert problems[0].startswith("mlp/torch: non-finite") and problems[1].startswith("mlp/keras: 12 parameters")


def test_throughput_table_ratios_are_per_repeat_medians():
    spec = peers.SPECS["mlp"]
    results = {"mlp": {"fnnet_scan": {"steps_per_s": [10.0, 20.0, 30.0]}, "torch": {"steps_per_s": [5.0, 5.0, 10.0]}}}
    table = peers.throughput_table([spec], results, {"mlp": "scan"}, {"mlp": 2e9}, peak=100.0)
    fnnet_row, torch_row = table.splitlines()[2:]
    # per-repeat ratios 10/5, 20/5, 30/10 = 2, 4, 3; torch's median 5 steps/s x 2 GFLOP = 10 GFLOP/s = 10% of 100
    assert torch_row == "| MLP 784-256-100-10 (100) | PyTorch eager | 5.0 [5.0–10.0] | 3.00 [2.00–4.00]x | 10.0 | 10% |"
    assert "fit's default" in fnnet_row and "| 20.0 [10.0–30.0] | — |" in fnnet_row


@pytest.mark.slow
def test_quick_mode_command_with_peers_exits_zero():
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    env = dict(os.environ, PYTHONPATH=str(REPO), KERAS_BACKEND="jax")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "peers.py"), "--quick", "--models", "mlp"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PROBLEM" not in done.stdout
    for framework in peers.FRAMEWORKS:
        assert f"{framework} loss" in done.stdout


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_cpu_paths_convolution_variants_agree():
    # benchmarks/cpu_paths.py times a convolution's im2col variants against XLA's; each variant's
    # gradients are checked against XLA's convolution (Eigen and YNNPACK) inside conv_experiment
    spec = importlib.util.spec_from_file_location("benchmarks_cpu_paths", REPO / "benchmarks" / "cpu_paths.py")
    cpu_paths = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cpu_paths)
    results = cpu_paths.conv_experiment(repeats=1, batch=2)
    assert len(results) == 5 and all(rate > 0 for rate, _ in results.values())
    assert cpu_paths._same_padding(7, 5, 1) == (2, 2) and cpu_paths._same_padding(28, 5, 2) == (1, 2)  # TF "same"


# ----------------------------------------------------------------------------------------------
# benchmarks/recipes.py: recipes against the seeds' own programs

SHARED = Path(os.environ.get("FNNET_SHARED_DATA", REPO / ".." / "shared" / "data"))


def _load_recipes_benchmark():
    spec = importlib.util.spec_from_file_location("benchmarks_recipes", REPO / "benchmarks" / "recipes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_recipe_benchmark_pairs_every_recipe_and_names_existing_programs():
    import recipes

    bench = _load_recipes_benchmark()
    assert sorted(p.recipe for p in bench.PAIRS) == sorted(recipes.names())
    for pair in bench.PAIRS:
        assert (REPO / "tools" / f"{pair.program}.py").is_file() if pair.program else pair.why


def test_recipe_benchmark_table_ratio_and_missing_sides():
    bench = _load_recipes_benchmark()
    args = bench.argparse.Namespace(quick=True)
    pair, lone = bench.Pair("planar", "seed_planar", note="n"), bench.Pair("optimizers", why="no program")
    text = bench.table([(pair, bench.Timed(6.0, result="cost 0.2"), bench.Timed(3.0, 2.5, "{}")),
                        (lone, bench.Timed(4.0, result="r"), bench.Timed(result="no seed program: no program"))],
                       args, "1.00", "2.00")
    rows = [line for line in text.splitlines() if line.startswith(("| planar", "| optimizers"))]
    assert rows[0] == "| planar | 6.0 | 3.0 [2.5] | 2.00 | cost 0.2 | `tools/seed_planar.py` {} | n |"
    assert rows[1].startswith("| optimizers | 4.0 | – | – | r |") and "no seed program" in rows[1]
    args.old = "/old"  # --old: the old checkout's time and the speed-up come first
    text = bench.table([(pair, bench.Timed(6.0, result="cost 0.2", before=30.0), bench.Timed(3.0, 2.5, "{}")),
                        (lone, bench.Timed(4.0, result="r"), bench.Timed(result="no seed program"))], args, "1", "2")
    rows = [line for line in text.splitlines() if line.startswith(("| planar", "| optimizers"))]
    assert rows[0].startswith("| planar | 30.0 | 5.0x | 6.0 | 3.0 [2.5] | 2.00 |")
    assert rows[1].startswith("| optimizers | failed there | – | 4.0 |") and "checkout /old" in text


@pytest.mark.slow  # a recipe run end to end: the slow tier
@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED} (set FNNET_SHARED_DATA)")
def test_recipe_benchmark_quick_times_a_recipe_and_its_numpy_seed_program(tmp_path):
    out = tmp_path / "table.md"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "recipes.py"), "--quick", "--only", "housing_gd",
                           "--data-dir", str(SHARED), "--out", str(out)], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    row = next(line for line in out.read_text().splitlines() if line.startswith("| housing_gd |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    first, again = (float(t) for t in cells[1].split(" / "))  # fnnet s: "first / again"
    ours, theirs = first, float(cells[2].split()[0])
    assert ours > 0 and theirs > 0 and again > 0
    # the ratio of the unrounded times: within what the 0.1 s rounding of the printed times allows
    assert (ours - 0.05) / (theirs + 0.05) - 0.005 <= float(cells[3]) <= (ours + 0.05) / (theirs - 0.05) + 0.005
    assert "0.41893244701" in cells[4] and "0.41893244701" in cells[5]  # both reach the seed's GD slope
    assert done.stdout == out.read_text()
