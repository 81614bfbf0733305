"""The checklist's data checks: class balance, input scaling, the trivial baseline, the examples that
most activate a unit; and that ``fnnet doctor``'s report carries them."""
import jax
import numpy as np
import pytest

import fnnet
from fnnet import diagnostics as D
from fnnet import models as M

RNG = np.random.RandomState(0)


def test_class_balance_counts_and_flags_missing_or_dominant_classes():
    balanced = D.class_balance(np.array([0, 1, 2] * 10))
    assert balanced.passed and balanced.details["counts"] == [10, 10, 10]
    skewed = D.class_balance(np.array([0] * 40 + [1] * 10))
    assert not skewed.passed and skewed.details["ratio"] == 4.0 and "rebalance" in skewed.hint
    missing = D.class_balance(np.eye(3)[[0, 0, 2, 2]])  # one-hot rows; class 1 absent
    assert not missing.passed and missing.details["missing"] == [1]
    with pytest.raises(ValueError, match="integer class labels"):
        D.class_balance(np.array([0.5, 1.5]))


def test_input_scaling_flags_raw_pixels_nans_and_constant_inputs():
    assert D.input_scaling(RNG.rand(20, 5)).passed
    pixels = D.input_scaling(RNG.randint(0, 256, (20, 28, 28)))
    assert not pixels.passed and "/ 255" in pixels.hint
    with_nan = np.ones((4, 3))
    with_nan[1, 2] = np.nan
    assert not D.input_scaling(with_nan).passed
    assert not D.input_scaling(np.ones((5, 3))).passed


def test_trivial_baseline_is_the_majority_class_or_the_mean():
    base = D.trivial_baseline(np.array([1, 1, 1, 0]), np.array([1, 0, 0, 0]))
    assert base["majority_class"] == 1 and base["majority_accuracy"] == 0.25 and base["chance"] == 0.5
    reg = D.trivial_baseline(np.array([1.0, 3.0]), np.array([2.0, 4.0]))
    assert reg["task"] == "regression" and reg["mean_mse"] == pytest.approx((0 + 4) / 2)
    assert D.is_classification(np.array([[0.0], [1.0]])) and not D.is_classification(np.array([0.2, 1.0]))


def test_a_trained_model_beats_the_baseline_and_an_untrained_one_does_not():
    x = RNG.randn(200, 4).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    model = M.mlp([8, 2], flatten=False)
    state, _ = fnnet.fit(model, "softmax_cross_entropy", "adam", (x, y), epochs=20, batch_size=50,
                         key=jax.random.key(0), verbose=0)
    check = D.beats_baseline(model, state, x, y)
    assert check.passed and check.details["accuracy"] > 0.8
    zero = state.replace(params=jax.tree.map(np.zeros_like, state.params))
    assert not D.beats_baseline(model, zero, x, y).passed  # constant outputs: the majority class at best


def test_top_activating_returns_the_strongest_examples_first():
    model = M.Sequential([M.Dense(3, "relu")])
    x = np.eye(4, dtype=np.float32) * np.array([[1.0], [3.0], [2.0], [0.5]], np.float32)
    params = {"dense_0": {"kernel": np.ones((4, 3), np.float32), "bias": np.zeros(3, np.float32)}}
    indices, values = D.top_activating(model, params, x, layer="dense_0", unit=1, k=2)
    assert indices.tolist() == [1, 2] and values.tolist() == [3.0, 2.0]
    with pytest.raises(ValueError, match="layer must be one of"):
        D.top_activating(model, params, x, layer="conv", unit=0)
    with pytest.raises(ValueError, match=r"unit must be an int in \[0, 3\)"):
        D.top_activating(model, params, x, layer="dense_0", unit=3)
