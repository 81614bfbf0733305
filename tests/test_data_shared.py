"""Loaders on the verified offline copies in ../shared/data (skipped when they are absent).

Expected numbers come from each dataset's SOURCE.md and the seeds, not from the code under test.
Point ``FNNET_SHARED_DATA`` at the folder when it is not ``<repository>/../shared/data``.
"""
import hashlib
import importlib.util
import os
from pathlib import Path

import chex
import numpy as np
import pytest

from fnnet.data import (
    cs4487_split,
    load,
    load_california_housing,
    load_fashion_mnist,
    load_imdb,
    load_mnist,
    load_mnist_small,
)

SHARED = Path(os.environ.get("FNNET_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED} (set FNNET_SHARED_DATA)"),
]


def needs(*parts):
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


def test_mnist_matches_source_md():
    needs("mnist")
    ds = load("mnist", data_dir=SHARED)
    chex.assert_shape(ds.x_train, (60000, 28, 28, 1))
    chex.assert_shape(ds.x_test, (10000, 28, 28, 1))
    np.testing.assert_array_equal(np.bincount(ds.y_train), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    np.testing.assert_array_equal(np.bincount(ds.y_test), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    np.testing.assert_allclose([ds.x_train.mean(), ds.x_test.mean()], [33.318, 33.791], atol=5e-4)


def test_fashion_mnist_matches_source_md_and_is_not_confused_with_mnist():
    needs("fashion_mnist")
    ds = load_fashion_mnist(SHARED)
    chex.assert_shape(ds.x_train, (60000, 28, 28, 1))
    np.testing.assert_array_equal(np.bincount(ds.y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [1000] * 10)
    np.testing.assert_allclose([ds.x_train.mean(), ds.x_test.mean()], [72.940, 73.147], atol=5e-4)
    # Both use the same file names; a folder holding one is never read as the other.
    with pytest.raises(ValueError, match="these are the Fashion-MNIST files, not MNIST"):
        load_mnist(SHARED / "fashion_mnist")
    needs("mnist")
    with pytest.raises(ValueError, match="these are the MNIST files, not Fashion-MNIST"):
        load_fashion_mnist(SHARED / "mnist")


def test_california_housing_reproduces_the_seed_gradient_descent_exactly():
    needs("california_housing")
    ds = load_california_housing(SHARED, features="MedInc")
    chex.assert_shape(ds.x_train, (20640, 1))
    x, y = ds.x_train[:, 0], ds.y_train
    m = b = 0.2
    for _ in range(1000):  # the seed's loop; pandas' Series.sum adds sequentially, hence cumsum
        f = y - (m * x + b)
        m -= 0.01 * (-2 * x.dot(f) / len(x))
        b -= 0.01 * (-2 * np.cumsum(f)[-1] / len(x))
    assert (float(m), float(b)) == (0.41893244701097204, 0.44612945637258383)
    slope, intercept = np.linalg.lstsq(np.c_[x, np.ones_like(x)], y, rcond=None)[0]
    np.testing.assert_allclose([slope, intercept], [0.41793849, 0.4508557670326776], rtol=1e-7)
    everything = load("california_housing", data_dir=SHARED, drop_missing=True)
    chex.assert_shape(everything.x_train, (20640 - 207, 8))


@pytest.mark.slow
def test_imdb_from_the_tarball(tmp_path):
    needs("imdb")
    ds = load_imdb(SHARED, cache_dir=tmp_path)
    chex.assert_shape(ds.x_train, (25000, 10000))
    chex.assert_shape(ds.x_test, (25000, 10000))
    np.testing.assert_array_equal(np.bincount(ds.y_train), [12500, 12500])
    np.testing.assert_array_equal(np.bincount(ds.y_test), [12500, 12500])
    assert ds.feature_names[:5] == ("the", "and", "a", "of", "to")
    assert 0.4 < ds.y_train[:10000].mean() < 0.6  # shuffled: DLwP's x_train[:10000] validation has both labels
    cached = load_imdb(SHARED, cache_dir=tmp_path)
    np.testing.assert_array_equal(cached.x_train, ds.x_train)


def test_embedded_subset_is_rebuilt_byte_for_byte(tmp_path):
    needs("mnist")
    tool = Path(__file__).resolve().parents[1] / "tools" / "build_mnist_small.py"
    spec = importlib.util.spec_from_file_location("build_mnist_small", tool)
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    builder.build(SHARED / "mnist", tmp_path)
    shipped = Path(load_mnist_small.__code__.co_filename).parent / "embedded"
    assert (tmp_path / "mnist_small.npz").read_bytes() == (shipped / "mnist_small.npz").read_bytes()
    assert (tmp_path / "README.md").read_text() == (shipped / "README.md").read_text()
    # Its images are the official ones at the recorded rows.
    full, small = load_mnist(SHARED), load_mnist_small()
    with np.load(shipped / "mnist_small.npz") as archive:
        np.testing.assert_array_equal(small.x_train, full.x_train[archive["train_index"]])
        np.testing.assert_array_equal(small.y_test, full.y_test[archive["test_index"]])
    # The provenance README lists the canonical md5s of SOURCE.md.
    assert hashlib.md5((SHARED / "mnist" / "train-images-idx3-ubyte.gz").read_bytes()).hexdigest() in (
        shipped / "README.md"
    ).read_text()


def test_cs4487_protocol_on_real_mnist():
    needs("mnist")
    full = load_mnist(SHARED)
    ds = cs4487_split(full)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (5400, 600, 10000)
    # The 6,000 images are the seed's range(0, 60000, 10); the split only reorders and partitions them.
    np.testing.assert_array_equal(
        np.bincount(np.concatenate([ds.y_train, ds.y_val])), np.bincount(full.y_train[np.arange(0, 60000, 10)])
    )
