"""Recipes housing_gd and imdb_regularization (seed 001): quick runs on small files the tests write in the
real datasets' formats, the "data not available" rows, and (marked shared_data) the seed's deterministic
housing numbers on the verified copy in ../shared/data.
"""
import os
from pathlib import Path

import chex
import jax
import numpy as np
import pytest
from test_data_loaders import write_housing_csv

import fnnet
from fnnet import models as M
from fnnet import optim, viz
from fnnet.data import PartialDatasetWarning

import recipes
from recipes import housing_gd, imdb_regularization

SHARED = Path(os.environ.get("FNNET_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
PNG = b"\x89PNG\r\n\x1a\n"


def run_quick(name, data_dir, out_dir, **overrides):
    return recipes.run(name, quick=True, overrides=overrides, data_dir=data_dir, out_dir=out_dir, verbose=False)


def assert_pngs(results):
    assert results["plots"]
    for plot in results["plots"]:
        assert Path(plot).read_bytes()[:8] == PNG


# --- housing ---------------------------------------------------------------------------------------

def write_housing_line(folder, slope=0.4, intercept=0.45, n=400, noise=0.3):
    """A housing.csv whose target (median_house_value / 1e5) is ``slope * median_income + intercept`` plus
    noise; the other columns are plausible and positive. Returns ``(x, y)`` as the loader should read them."""
    rng = np.random.default_rng(1)
    income = rng.uniform(0.5, 10.0, n)
    target = slope * income + intercept + noise * rng.standard_normal(n)
    households = rng.integers(50, 500, n)
    rows = [
        f"{-122 + rng.uniform(0, 4):.2f},{34 + rng.uniform(0, 4):.2f},{rng.integers(1, 52)},{h * 5},{h},{h * 3},{h},"
        f"{x:.4f},{y * 1e5:.1f},INLAND"
        for x, y, h in zip(income, target, households)
    ]
    write_housing_csv(folder / "housing.csv", rows)
    return np.round(income, 4), np.round(target * 1e5, 1) / 1e5


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_housing_quick_gd_heads_for_the_least_squares_line(tmp_path, monkeypatch):
    monkeypatch.delenv("FNNET_DATA_DIR", raising=False)
    x, y = write_housing_line(tmp_path / "data" / "california_housing")
    with pytest.warns(PartialDatasetWarning, match="400 data rows, expected 20,640"):
        results = run_quick("housing_gd", tmp_path / "data", tmp_path / "out", allow_partial_data=True)
    assert_pngs(results)
    assert results["data"].startswith("California housing: 400 block groups")
    # The closed form is numpy's least squares on the file's values (independent of fnnet's training).
    slope, intercept = np.polyfit(x, y, 1)
    np.testing.assert_allclose(results["closed_form"], (slope, intercept), rtol=1e-9)
    # 1,000 full-batch steps from (0.2, 0.2) end close to it, and the MSE falls all the way.
    np.testing.assert_allclose(results["gd"], (slope, intercept), atol=0.02)
    assert results["gd_mse"][0] > results["gd_mse"][-1] > 0
    assert np.all(np.diff(results["gd_mse"]) <= 1e-12), "full-batch GD at a small rate never increases the MSE"
    assert len(results["sgd_mse"]) == housing_gd.Config().sgd_iterations // housing_gd.QUICK["sgd_log_every"] + 1
    # The extra all-features table ends with both MSEs.
    (table,) = results["tables"].values()
    assert table[-1]["coefficient (standardized feature)"] == "MSE"


def test_housing_gd_is_the_seeds_update_rule_in_float64():
    # The seed's loop (f computed once per iteration, both updates from it) on 5 points, by hand.
    x = np.array([[1.0], [2.0], [3.0], [4.5], [6.0]])
    y = np.array([1.1, 1.3, 1.9, 2.2, 2.9])
    m = b = 0.2
    for _ in range(30):
        f = y - (m * x[:, 0] + b)
        m, b = m - 0.01 * (-2 * x[:, 0].dot(f) / 5), b - 0.01 * (-2 * f.sum() / 5)
    fit = housing_gd.gradient_descent(x, y, key=jax.random.key(0), start=0.2, learning_rate=0.01, iterations=30,
                                      log_every=10)
    np.testing.assert_allclose(fit.line, (m, b), rtol=1e-14)
    assert len(fit.mse) == 4  # at the start and after 10, 20, 30 iterations
    with pytest.raises(ValueError, match="multiple of log_every"):
        housing_gd.gradient_descent(x, y, key=jax.random.key(0), start=0.2, learning_rate=0.01, iterations=25,
                                    log_every=10)


def test_housing_mini_batch_sgd_depends_only_on_the_key():
    x, y = np.linspace(0, 5, 200)[:, None], np.linspace(0, 5, 200) * 0.4 + 0.45
    fit = lambda seed: housing_gd.gradient_descent(x, y, key=jax.random.key(seed), start=0.5, learning_rate=0.01,
                                                   iterations=5, batch_size=10).line
    first = fit(3)
    assert fit(3) == first != fit(4)


def test_fitted_lines_plot_checks_its_data(tmp_path):
    path = tmp_path / "lines.png"
    viz.plot_fitted_lines(np.arange(5.0), np.arange(5.0) * 2, {"y = 2x": (2.0, 0.0)}, path)
    assert path.read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="one y per x"):
        viz.plot_fitted_lines(np.zeros(3), np.zeros(2), {}, tmp_path / "bad.png")


def test_housing_missing_data_gives_not_run_rows(tmp_path, no_data):
    results = run_quick("housing_gd", no_data, tmp_path / "out")
    assert len(results["rows"]) == 3 and results["plots"] == []
    for row in results["rows"]:
        assert row["fnnet"].startswith("not run: California housing") and "housing.csv" in row["fnnet"]
    assert results["rows"][0]["seed"] == str(housing_gd.SEED_GD)


@pytest.mark.slow  # a recipe run end to end: the slow tier
@pytest.mark.shared_data
def test_housing_full_run_reproduces_the_seeds_deterministic_numbers(tmp_path):
    if not (SHARED / "california_housing").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set FNNET_SHARED_DATA)")
    config = housing_gd.Config(all_features=False, gd_log_every=1000, sgd_log_every=100)
    results = housing_gd.run(config, key=jax.random.key(0), data_dir=SHARED, out_dir=tmp_path, verbose=False)
    # The seed's printed numbers, to 6 significant digits and better.
    np.testing.assert_allclose(results["gd"], (0.41893244701097204, 0.44612945637258383), rtol=1e-6)
    np.testing.assert_allclose(results["closed_form"], (0.41793849, 0.4508557670326776), rtol=1e-6)
    assert results["gd_matching_digits"] >= 6


# --- IMDB ------------------------------------------------------------------------------------------

POSITIVE = ("great", "wonderful", "superb", "loved", "brilliant")
NEGATIVE = ("awful", "boring", "worst", "hated", "dull")
NEUTRAL = tuple(f"word{i}" for i in range(60))


def write_imdb_like(folder, per_class=40):
    """An aclImdb/ folder of ``per_class`` short reviews in each of train/test x pos/neg: neutral filler
    words plus three words of the review's sentiment (one in ten reviews gets the other sentiment's)."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for polarity, own, other in (("pos", POSITIVE, NEGATIVE), ("neg", NEGATIVE, POSITIVE)):
            target = folder / "aclImdb" / split / polarity
            target.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                words = list(rng.choice(NEUTRAL, 12)) + list(rng.choice(own if rng.random() > 0.1 else other, 3))
                rng.shuffle(words)
                rating = 8 if polarity == "pos" else 2
                (target / f"{i}_{rating}.txt").write_text(" ".join(words).capitalize() + ".<br />", encoding="utf-8")


@pytest.mark.slow  # a recipe run end to end: the slow tier
def test_imdb_quick_trains_every_model_and_plots_the_books_comparisons(tmp_path, monkeypatch):
    monkeypatch.delenv("FNNET_DATA_DIR", raising=False)
    monkeypatch.setenv("FNNET_CACHE_DIR", str(tmp_path / "cache"))  # the tokenized corpus is cached here
    write_imdb_like(tmp_path / "data" / "imdb")
    with pytest.warns(PartialDatasetWarning, match="40 reviews, expected 12,500"):
        results = run_quick("imdb_regularization", tmp_path / "data", tmp_path / "out", allow_partial_data=True,
                            synthetic=False)
    assert_pngs(results)
    assert sorted(Path(p).name for p in results["plots"]) == ["dropout.png", "l2.png", "size.png"]
    assert "80 training reviews" in results["data"]
    curves = results["curves"]
    assert set(curves) == {"original", "smaller", "bigger", "l2", "dropout"}
    quick = imdb_regularization.QUICK
    for curve in curves.values():
        assert len(curve["val_loss"]) == quick["epochs"]
    # num_words=100 columns: 100*16+16 + 16*16+16 + 16+1 weights.
    assert curves["original"]["params"] == 1905
    assert curves["bigger"]["params"] == 100 * 64 + 64 + 64 * 64 + 64 + 65
    # The sentiment words separate the classes: the original net learns them.
    assert curves["original"]["val_accuracy"][-1] > 0.75
    assert curves["original"]["train_loss"][-1] < curves["original"]["train_loss"][0]
    claims = [r for r in results["rows"] if r["experiment"].endswith("vs original")]
    assert len(claims) == 4 and claims[1]["seed"].startswith("bigger net overfits sooner")


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_imdb_quick_runs_on_the_synthetic_stand_in_and_says_so(tmp_path, no_data):
    results = run_quick("imdb_regularization", no_data, tmp_path / "out", models="original,bigger", epochs=4)
    assert results["data"].startswith("SYNTHETIC stand-in") and "not IMDB" in results["data"]
    assert all(row["experiment"].endswith("[SYNTHETIC stand-in, not IMDB]") for row in results["rows"])
    original, bigger = results["curves"]["original"], results["curves"]["bigger"]
    assert original["val_accuracy"][-1] > 0.6  # the sentiment words are learnable
    assert max(bigger["val_loss"]) - min(bigger["val_loss"]) > 0  # curves recorded per epoch
    assert len(results["plots"]) == 1  # size.png: original vs bigger


def test_synthetic_reviews_are_multi_hot_keyed_and_labelled():
    make = lambda seed: imdb_regularization.synthetic_reviews(jax.random.key(seed), n_train=200, n_test=100,
                                                                       num_words=50)
    data = make(0)
    assert data.x_train.shape == (200, 50) and data.x_test.shape == (100, 50) and data.x_train.dtype == np.uint8
    assert set(np.unique(data.x_train)) <= {0, 1} and set(np.unique(data.y_train)) == {0, 1}
    np.testing.assert_array_equal(make(0).x_train, data.x_train)
    assert not np.array_equal(make(1).x_train, data.x_train)


def test_imdb_missing_data_gives_not_run_rows(tmp_path, no_data):
    results = run_quick("imdb_regularization", no_data, tmp_path / "out", synthetic=False)
    assert len(results["rows"]) == 5 and results["plots"] == []
    for row in results["rows"]:
        assert row["fnnet"].startswith("not run: IMDB") and str(no_data) in row["fnnet"]


def test_imdb_net_shapes_penalty_and_dropout():
    x = np.zeros((3, 50), np.uint8)
    plain, l2, dropped = M.workshop_imdb_net(4), M.workshop_imdb_net(4, l2=0.001), M.workshop_imdb_net(4, dropout=0.5)
    params = plain.init(jax.random.key(0), x)
    assert sorted(params) == ["dense_0", "dense_1", "dense_2"]
    chex.assert_shape(plain.apply(params, x), (3, 1))
    hidden = sum(float(np.sum(np.square(params[f"dense_{i}"]["kernel"]))) for i in (0, 1))
    np.testing.assert_allclose(float(l2.penalty(params)), 0.001 * hidden, rtol=1e-6)  # not the output layer
    assert [type(layer).__name__ for layer in dropped.layers] == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    with pytest.raises(ValueError, match="units must be a positive int"):
        M.workshop_imdb_net(0)


def test_fit_on_uint8_multi_hot_equals_fit_on_float32():
    # The recipe keeps the 25,000 x 10,000 matrices as uint8 on the device (a quarter of float32's bytes):
    # the first Dense layer promotes each batch, so training is the float32 run bit for bit.
    x = (jax.random.uniform(jax.random.key(1), (64, 30)) < 0.2).astype(np.uint8)
    y = np.asarray(x[:, 0] | x[:, 1], np.int32)
    runs = [
        fnnet.fit(M.workshop_imdb_net(8, dropout=0.5), "binary_crossentropy", optim.optimizer("rmsprop", 1e-2),
                  (np.asarray(x, dtype), y), epochs=2, batch_size=16, key=jax.random.key(0), verbose=0)
        for dtype in (np.uint8, np.float32)
    ]
    chex.assert_trees_all_equal(runs[0][0].params, runs[1][0].params)
    assert runs[0][1].history == runs[1][1].history

