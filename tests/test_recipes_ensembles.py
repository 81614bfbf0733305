"""The `ensemble` and `grid_search` recipes in quick mode, through the `fnnet run` command (offline: the
embedded mnist_small)."""
import json

import numpy as np
import pytest

from fnnet import cli

import recipes


def _run_quick(name, out):
    assert cli.main(["run", name, "--quick", "--quiet", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["quick"] is True
    assert results["data"].startswith("mnist_small")
    assert results["config"]["dataset"] == "mnist_small"
    for plot in results["plots"]:
        assert (out / plot.split("/")[-1]).stat().st_size > 1000
    return results


@pytest.mark.parametrize("name", ["ensemble", "grid_search"])
def test_missing_mnist_gives_not_run_rows(name, tmp_path, monkeypatch):
    monkeypatch.delenv("FNNET_DATA_DIR", raising=False)
    empty = tmp_path / "no-data"
    empty.mkdir()
    results = recipes.run(name, quick=True, overrides={"dataset": "mnist"}, data_dir=empty, out_dir=tmp_path / name,
                          verbose=False)
    assert results["data"] == "not available" and results["plots"] == []
    assert [row["fnnet"].startswith("not run: MNIST was not found") for row in results["rows"]] == [True]


@pytest.mark.slow  # trains several MNIST MLP programs: ~10-20 s on 2 cores
def test_ensemble_recipe_quick(tmp_path):
    quick = recipes.make_config(recipes.load("ensemble"), quick=True)
    results = _run_quick("ensemble", tmp_path)
    members = np.asarray(results["members"])
    assert members.shape == (quick.n_members,)
    assert len(np.unique(members)) > 1  # own keys: own initializations and data orders
    assert members.min() > 0.8
    assert results["best_single"] in results["members"]
    for method in ("vote", "weighted_vote", "average"):
        by_size = results["accuracy_by_members"][method]
        assert by_size[0] == pytest.approx(members[0])  # an ensemble of one member is that member
        assert by_size[-1] == pytest.approx(results[method])  # of all members: the reported ensemble
        assert results[method] > members.min()
    snapshots = results["snapshot"]["members"]
    assert len(snapshots) == quick.epochs // quick.snapshot_every
    assert len(results["plots"]) == 4


@pytest.mark.slow  # two vmapped meshes and a final fit: ~10-15 s on 2 cores
def test_grid_search_recipe_quick(tmp_path):
    quick = recipes.make_config(recipes.load("grid_search"), quick=True)
    results = _run_quick("grid_search", tmp_path)
    trials = results["trials"]
    coarse = [t for t in trials if t["round"] == 0]
    fine = [t for t in trials if t["round"] == 1]
    n_lr, n_l2 = quick.learning_rates[2], quick.l2s[2]
    assert len(coarse) == len(fine) == n_lr * n_l2
    scores = [t["val_accuracy"] for t in trials]
    assert scores == sorted(scores, reverse=True)
    assert results["best"]["val_accuracy"] == max(scores)
    # Coarse points: mesh values moved by at most jitter/2 of the spacing (in decades).
    lr_spacing = np.log10(quick.learning_rates[1] / quick.learning_rates[0]) / (n_lr - 1)
    lr_low, lr_high = np.log10(quick.learning_rates[:2])
    for t in coarse:
        assert lr_low - quick.jitter / 2 * lr_spacing <= np.log10(t["learning_rate"]) <= lr_high + quick.jitter / 2 * lr_spacing
    # Fine points: a mesh with spacing / zoom around the best coarse point (plus its own jitter).
    best_coarse = max(coarse, key=lambda t: t["val_accuracy"])
    fine_spacing = lr_spacing / quick.zoom
    reach = fine_spacing * ((n_lr - 1) / 2 + quick.jitter / 2)
    for t in fine:
        assert abs(np.log10(t["learning_rate"] / best_coarse["learning_rate"])) <= reach + 1e-9
    assert results["best"]["test_accuracy"] > 0.7
