"""Preprocessing (scaling, standardization, whitening, one-hot) and splits (sklearn-identical, CS4487)."""
import chex
import jax
import numpy as np
import pytest

from fnnet.data import (
    Dataset,
    Standardizer,
    Whitener,
    cs4487_split,
    one_hot,
    scale_pixels,
    train_test_indices,
    train_test_split,
)


def test_scale_pixels():
    pixels = np.array([[0, 51, 255]], np.uint8)
    scaled = scale_pixels(pixels)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[0.0, 0.2, 1.0]], rtol=1e-7)
    np.testing.assert_allclose(scale_pixels(np.array([2.0]), max_value=4.0), [0.5])
    with pytest.raises(ValueError, match="max_value must be finite and > 0"):
        scale_pixels(pixels, max_value=0)


def test_standardizer_per_feature_and_centering_only():
    x = np.array([[1.0, 10.0, 5.0], [3.0, 30.0, 5.0], [5.0, 20.0, 5.0]])
    fitted = Standardizer.fit(x)
    # By hand: means (3, 20, 5), population stds (sqrt(8/3), sqrt(200/3), 0 -> 1).
    np.testing.assert_allclose(fitted.mean, [3.0, 20.0, 5.0])
    np.testing.assert_allclose(fitted.scale, [np.sqrt(8 / 3), np.sqrt(200 / 3), 1.0])
    z = fitted(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, 0], np.array([-2.0, 0.0, 2.0]) / np.sqrt(8 / 3), rtol=1e-6)
    np.testing.assert_allclose(z[:, 2], 0.0)
    np.testing.assert_allclose(fitted.inverse(z), x, rtol=1e-6)
    centered = Standardizer.fit(x, with_std=False)
    np.testing.assert_allclose(centered(np.array([[3.0, 21.0, 6.0]])), [[0.0, 1.0, 1.0]])


def test_standardizer_on_images_uses_training_statistics_per_pixel():
    rng = np.random.RandomState(0)
    train, test = rng.rand(20, 4, 4, 1), rng.rand(5, 4, 4, 1)
    fitted = Standardizer.fit(train, with_std=False)
    chex.assert_shape(fitted.mean, (4, 4, 1))
    np.testing.assert_allclose(fitted(test), test - train.mean(axis=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"per-example shape \(4, 4, 1\)"):
        fitted(rng.rand(2, 16))
    with pytest.raises(ValueError, match="x contains 1 non-finite value"):
        Standardizer.fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="at least 2 examples"):
        Standardizer.fit(np.ones((1, 3)))


@pytest.mark.parametrize("method", ["pca", "zca"])
def test_whitening_gives_identity_covariance_on_training_data(method):
    rng = np.random.RandomState(0)
    mixing = np.array([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [-1.0, 0.3, 3.0]])
    x = rng.randn(4000, 3) @ mixing + np.array([5.0, -2.0, 1.0])
    white = Whitener.fit(x, method=method, eps=1e-5)
    z = white(x)
    chex.assert_shape(z, (4000, 3))
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.cov(z, rowvar=False, bias=True), np.eye(3), atol=1e-4)


def test_zca_stays_in_input_coordinates_and_applies_train_statistics_to_test():
    rng = np.random.RandomState(1)
    x_train, x_test = rng.randn(500, 4) * [1, 2, 3, 4], rng.randn(50, 4)
    zca = Whitener.fit(x_train, method="zca", eps=0.0)
    np.testing.assert_allclose(zca.matrix, zca.matrix.T, atol=1e-10)  # symmetric: no rotation
    # Independently: ZCA matrix = C^(-1/2) from the eigendecomposition of the training covariance.
    cov = np.cov(x_train, rowvar=False, bias=True)
    values, vectors = np.linalg.eigh(cov)
    inverse_sqrt = vectors @ np.diag(values**-0.5) @ vectors.T
    np.testing.assert_allclose(zca(x_test), (x_test - x_train.mean(0)) @ inverse_sqrt, rtol=1e-4, atol=1e-5)


def test_pca_components_and_bad_arguments():
    rng = np.random.RandomState(2)
    x = rng.randn(300, 5) * [10, 3, 2, 1, 0.5]
    pca = Whitener.fit(x, method="pca", n_components=2)
    z = pca(x)
    chex.assert_shape(z, (300, 2))
    np.testing.assert_allclose(np.cov(z, rowvar=False, bias=True), np.eye(2), atol=1e-4)
    # The leading component is the axis with the largest spread (feature 0, std about 10).
    leading = pca.matrix[:, 0]
    assert abs(leading[0]) / np.linalg.norm(leading) > 0.99
    np.testing.assert_allclose(1 / np.linalg.norm(leading), x[:, 0].std(), rtol=0.02)
    with pytest.raises(ValueError, match="method must be one of"):
        Whitener.fit(x, method="svd")
    with pytest.raises(ValueError, match="n_components applies to method='pca' only"):
        Whitener.fit(x, method="zca", n_components=2)
    with pytest.raises(ValueError, match=r"n_components must be an integer in \[1, 5\]"):
        Whitener.fit(x, method="pca", n_components=6)
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        Whitener.fit(x.reshape(300, 5, 1))
    with pytest.raises(ValueError, match="x must have 5 features"):
        pca(x[:, :3])


def test_one_hot():
    encoded = one_hot(np.array([0, 2, 1]), 3)
    np.testing.assert_array_equal(encoded, [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert encoded.dtype == np.float32 and isinstance(encoded, np.ndarray)
    with pytest.raises(ValueError, match=r"labels must hold integer class labels in \[0, 3\), got values in \[0, 3\]"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="labels must be integer class labels"):
        one_hot(np.array([0.5]), 3)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        one_hot(np.array([0]), 0)


# --- splits ------------------------------------------------------------------------------------


def test_seeded_split_matches_scikit_learn_documented_examples():
    # sklearn's ShuffleSplit docstring: 6 samples, test_size=.25, random_state=0 -> TRAIN [1 3 0 4] TEST [5 2].
    train, test = train_test_indices(6, test_size=0.25, seed=0)
    np.testing.assert_array_equal(train, [1, 3, 0, 4])
    np.testing.assert_array_equal(test, [5, 2])
    # sklearn's train_test_split docstring: X = arange(10).reshape(5, 2), test_size=0.33, random_state=42.
    x, y = np.arange(10).reshape((5, 2)), np.arange(5)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.33, seed=42)
    np.testing.assert_array_equal(x_train, [[4, 5], [0, 1], [6, 7]])
    np.testing.assert_array_equal(x_test, [[2, 3], [8, 9]])
    np.testing.assert_array_equal(y_train, [2, 0, 3])
    np.testing.assert_array_equal(y_test, [1, 4])


def test_split_sizes_follow_scikit_learn_rounding():
    # Float test sizes round up, float train sizes down; one defaults to the complement; 0.25 by default.
    assert [len(i) for i in train_test_indices(10, test_size=0.25, shuffle=False)] == [7, 3]
    assert [len(i) for i in train_test_indices(10, train_size=0.25, shuffle=False)] == [2, 8]
    assert [len(i) for i in train_test_indices(10, shuffle=False)] == [7, 3]
    assert [len(i) for i in train_test_indices(10, test_size=2, train_size=5, shuffle=False)] == [5, 2]
    train, test = train_test_indices(5, test_size=2, shuffle=False)
    np.testing.assert_array_equal(train, [0, 1, 2])
    np.testing.assert_array_equal(test, [3, 4])


def test_keyed_split_is_a_deterministic_partition():
    key = jax.random.key(0)
    x = np.arange(100) * 10
    a_train, a_test = train_test_split(x, test_size=0.2, key=key)
    b_train, b_test = train_test_split(x, test_size=0.2, key=key)
    np.testing.assert_array_equal(a_train, b_train)
    assert len(a_train) == 80 and len(a_test) == 20
    np.testing.assert_array_equal(np.sort(np.concatenate([a_train, a_test])), x)
    c_train, _ = train_test_split(x, test_size=0.2, key=jax.random.key(1))
    assert not np.array_equal(a_train, c_train)
    assert not np.array_equal(a_train, np.sort(a_train))  # shuffled


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(test_size=0.2), "exactly one of key"),
        (dict(test_size=0.2, seed=1, key=jax.random.key(0)), "exactly one of key"),
        (dict(test_size=1.5, seed=1), r"test_size as a fraction must lie in \(0, 1\)"),
        (dict(test_size=10, seed=1), r"test_size as a count must lie in \[1, 9\]"),
        (dict(test_size=0.6, train_size=0.6, seed=1), "together at most 10"),
        (dict(test_size="half", seed=1), "test_size must be a fraction"),
        (dict(test_size=0.2, seed=1, shuffle=False), "shuffle=False takes no key or seed"),
    ],
)
def test_split_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_test_split(np.arange(10), **kwargs)


def test_split_mismatched_lengths():
    with pytest.raises(ValueError, match="mismatched batch sizes"):
        train_test_split(np.arange(10), np.arange(9), seed=0)


def test_cs4487_split_sizes_and_the_seed_validation_set():
    n = 60000
    ids = np.arange(n, dtype=np.int32)  # each image carries its row number
    full = Dataset(x_train=ids.reshape(n, 1, 1, 1), y_train=ids % 10,
                   x_test=np.zeros((10000, 1, 1, 1)), y_test=np.zeros(10000, np.int32), name="mnist")
    ds = cs4487_split(full)
    chex.assert_shape(ds.x_train, (5400, 1, 1, 1))
    chex.assert_shape(ds.x_val, (600, 1, 1, 1))
    chex.assert_shape(ds.y_val, (600,))
    assert len(ds.x_test) == 10000
    picked = np.concatenate([ds.x_train.ravel(), ds.x_val.ravel()])
    np.testing.assert_array_equal(np.sort(picked), np.arange(0, n, 10))  # every 10th training image
    np.testing.assert_array_equal(ds.y_train, ds.x_train.ravel() % 10)  # labels stay with their images
    # scikit-learn's algorithm for train_size=0.9, test_size=0.1, random_state=4487 on 6,000 rows, by
    # its definition: permutation of RandomState(4487); the first 600 validate, the next 5,400 train.
    permutation = np.random.RandomState(4487).permutation(6000)
    np.testing.assert_array_equal(ds.x_val.ravel(), permutation[:600] * 10)
    np.testing.assert_array_equal(ds.x_train.ravel(), permutation[600:] * 10)
    assert ds.name == "mnist/cs4487"
