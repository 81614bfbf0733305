"""The fnnet command and the recipes package: the README's main job in quick mode."""
import json
import math

import jax
import pytest

from fnnet import cli

import recipes


def test_list_shows_every_recipe(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in recipes.names():
        assert name in out
    assert "planar" in out


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_run_planar_quick_writes_results_and_plots(tmp_path, capsys):
    assert cli.main(["run", "planar", "--quick", "--quiet", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    assert results["logreg_accuracy"] < 0.6  # a line cannot separate the petals
    assert results["accuracy"] > 0.85
    for plot in results["plots"]:
        assert (tmp_path / plot.split("/")[-1]).stat().st_size > 1000
    assert any(plot.endswith("tanh_net_layer_statistics.png") for plot in results["plots"])
    assert set(results["monitor"]["summary"]) == {"dense_0", "dense_1"}
    assert "logistic regression" in capsys.readouterr().out
    # The cost curve starts at iteration 0: the course's tiny initial weights give a cost of ln 2.
    assert results["cost_at_0"] == pytest.approx(math.log(2), abs=1e-3)
    assert len(results["costs"]) == results["config"]["iterations"] // results["config"]["log_every"]
    assert "figures" not in results  # Figures are not JSON: they went out as the PNGs above


def test_run_name_help_lists_the_recipes_settings_with_defaults_and_quick_values(capsys):
    assert cli.main(["run", "planar", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: fnnet run" in out and "recipe planar:" in out
    line = next(line.split() for line in out.splitlines() if line.startswith("sweep_sizes"))
    assert line[:3] == ["sweep_sizes", "1,2,3,4,5,20,50", "1,4"]  # as --set takes them
    assert next(line for line in out.splitlines() if line.startswith("n_h")).split()[1:3] == ["4", "(same)"]
    assert "iterations is a multiple of log_every" in out
    assert cli.main(["run", "--help"]) == 0
    assert "settings (--set" not in capsys.readouterr().out
    assert cli.main(["run", "nope", "--help"]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run"])
    assert "give the recipe(s) to run" in capsys.readouterr().err


def test_unknown_recipe_and_bad_setting_exit_with_a_message(tmp_path, capsys):
    assert cli.main(["run", "no_such_recipe", "--out", str(tmp_path)]) == 2
    assert "unknown recipe 'no_such_recipe'" in capsys.readouterr().err
    assert cli.main(["run", "planar", "--quick", "--set", "n_h=four", "--out", str(tmp_path)]) == 2
    assert "n_h expects an int" in capsys.readouterr().err
    assert cli.main(["run", "planar", "--quick", "--set", "hidden=3", "--out", str(tmp_path)]) == 2
    assert "no setting 'hidden'" in capsys.readouterr().err


def test_make_config_applies_quick_then_overrides():
    module = recipes.load("planar")
    config = recipes.make_config(module, quick=True, overrides={"n_h": "5", "sweep_sizes": "2,3"})
    assert config.n_h == 5 and config.sweep_sizes == (2, 3)
    assert config.iterations == module.QUICK["iterations"]
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.load("nope")


def test_fnnet_run_keeps_compiled_programs_in_the_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FNNET_CACHE_DIR", str(tmp_path / "xla"))
    previous = jax.config.jax_compilation_cache_dir
    try:
        assert cli.use_compile_cache() == tmp_path / "xla"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "xla") and (tmp_path / "xla").is_dir()
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
