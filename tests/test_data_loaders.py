"""Loaders on small files the tests write themselves, including corrupt ones, and the resolution order."""
import gzip
import json
import os
import pickle
import tarfile

import chex
import numpy as np
import pytest

from fnnet.data import (
    CIFAR10_CLASSES,
    DatasetNotFoundError,
    load,
    load_california_housing,
    load_cifar10,
    load_fashion_mnist,
    load_imdb,
    load_mnist,
    load_mnist_small,
    loaders,
    sources,
    tokenize,
)
from fnnet.data import imdb as imdb_module

# The files written here are tiny stand-ins in the real formats, loaded with allow_partial=True; the
# count and checksum checks themselves are tested in test_data_integrity.py.
pytestmark = pytest.mark.filterwarnings("ignore::fnnet.data.PartialDatasetWarning")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """No test may see the user's ~/.fnnet or a real $FNNET_DATA_DIR, or import tensorflow-datasets."""
    monkeypatch.setenv("FNNET_DATA_DIR", str(tmp_path / "default_data"))
    monkeypatch.setenv("FNNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sources, "import_tfds", lambda: None)


# --- IDX helpers: the format written by hand, independently of the reader --------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 0x0000, type 0x08, ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def mnist_like_arrays(n_train=5, n_test=3, seed=0):
    rng = np.random.RandomState(seed)
    return {
        "train-images-idx3-ubyte": rng.randint(0, 256, (n_train, 28, 28)).astype(np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.randint(0, 256, (n_test, 28, 28)).astype(np.uint8),
        "t10k-labels-idx1-ubyte": ((np.arange(n_test) + 3) % 10).astype(np.uint8),
    }


def write_idx_set(folder, arrays, *, gz=True, overrides=None):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        data = (overrides or {}).get(stem, idx_bytes(array))
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("subdir", ["mnist", None])
def test_mnist_idx_gz_and_raw_in_subfolder_or_flat(tmp_path, gz, subdir):
    arrays = mnist_like_arrays()
    write_idx_set(tmp_path / subdir if subdir else tmp_path, arrays, gz=gz)
    ds = load_mnist(tmp_path, allow_partial=True)
    chex.assert_shape(ds.x_train, (5, 28, 28, 1))
    chex.assert_shape(ds.x_test, (3, 28, 28, 1))
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int32
    np.testing.assert_array_equal(ds.x_train[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.y_train, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(ds.x_test[..., 0], arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.y_test, [3, 4, 5])
    assert ds.class_names == tuple("0123456789") and ds.num_classes == 10


def test_mnist_dotted_names_of_the_cs4487_seed(tmp_path):
    arrays = mnist_like_arrays()
    for stem, array in arrays.items():
        (tmp_path / stem.replace("-idx", ".idx")).write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(load_mnist(tmp_path, allow_partial=True).y_train, [0, 1, 2, 3, 4])


def test_data_dir_argument_env_variable_and_subfolder_precedence(tmp_path, monkeypatch):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    write_idx_set(env_dir / "mnist", mnist_like_arrays(n_train=4))
    write_idx_set(arg_dir / "mnist", mnist_like_arrays(n_train=6))
    write_idx_set(arg_dir, mnist_like_arrays(n_train=2))  # flat copy: the subfolder wins
    monkeypatch.setenv("FNNET_DATA_DIR", str(env_dir))
    assert len(load_mnist(allow_partial=True).x_train) == 4
    assert len(load("mnist", allow_partial=True).x_train) == 4
    assert len(load_mnist(arg_dir, allow_partial=True).x_train) == 6
    assert len(load("MNIST", data_dir=arg_dir, allow_partial=True).x_train) == 6


def test_default_data_dir_is_dot_fnnet_data_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("FNNET_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sources.data_root() == tmp_path / ".fnnet" / "data"
    with pytest.raises(DatasetNotFoundError, match=r"Searched:\n.*\.fnnet/data/mnist  \(does not exist\)"):
        load_mnist(allow_partial=True)
    write_idx_set(tmp_path / ".fnnet" / "data" / "mnist", mnist_like_arrays(n_train=3))
    assert len(load_mnist(allow_partial=True).x_train) == 3


def test_keras_mnist_npz(tmp_path):
    rng = np.random.RandomState(1)
    x_train = rng.randint(0, 256, (4, 28, 28)).astype(np.uint8)
    x_test = rng.randint(0, 256, (2, 28, 28)).astype(np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=np.array([1, 2, 3, 4], np.uint8), x_test=x_test,
             y_test=np.array([9, 0], np.uint8))
    ds = load_mnist(tmp_path, allow_partial=True)
    np.testing.assert_array_equal(ds.x_train[..., 0], x_train)
    np.testing.assert_array_equal(ds.y_test, [9, 0])
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=np.array([1, 2, 3, 4], np.uint8))
    with pytest.raises(ValueError, match=r"mnist.npz: missing arrays \['x_test', 'y_test'\]"):
        load_mnist(tmp_path, allow_partial=True)


def test_missing_files_error_says_which_files_to_put_where(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(tmp_path / "nowhere")
    message = str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FileNotFoundError)
    for expected in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "mnist.npz",
                     str(tmp_path / "nowhere" / "mnist"), "does not exist", "tensorflow-datasets is not installed"):
        assert expected in message


def test_partial_idx_set_names_the_missing_file(tmp_path):
    write_idx_set(tmp_path, mnist_like_arrays())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match=r"incomplete dataset: .*not \['t10k-labels-idx1-ubyte.gz'\]"):
        load_mnist(tmp_path, allow_partial=True)


def corrupt_cases():
    arrays = mnist_like_arrays()
    good_images = idx_bytes(arrays["train-images-idx3-ubyte"])
    return {
        "wrong magic": (
            {"train-images-idx3-ubyte": b"\x12\x34\x08\x03" + good_images[4:]},
            "not an IDX file: magic number 0x12340803",
        ),
        "truncated": (
            {"train-images-idx3-ubyte": good_images[:-100]},
            r"truncated: the header gives dimensions \(5, 28, 28\)",
        ),
        "too long": ({"train-images-idx3-ubyte": good_images + b"\x00"}, "too long"),
        "short header": ({"train-labels-idx1-ubyte": b"\x00\x00"}, "magic number none"),
        "wrong counts": (
            {"train-labels-idx1-ubyte": idx_bytes(np.zeros(4, np.uint8))},
            "wrong counts: .* 5 images but .* 4 labels",
        ),
        "bad label": (
            {"train-labels-idx1-ubyte": idx_bytes(np.array([0, 1, 2, 3, 10], np.uint8))},
            r"labels must lie in \[0, 10\)",
        ),
        "wrong image size": (
            {"t10k-images-idx3-ubyte": idx_bytes(np.zeros((3, 27, 28), np.uint8))},
            r"shape \(N, 28, 28\)",
        ),
    }


@pytest.mark.parametrize("case", sorted(corrupt_cases()))
def test_corrupt_idx_files_raise_value_error_naming_the_file(tmp_path, case):
    overrides, message = corrupt_cases()[case]
    write_idx_set(tmp_path, mnist_like_arrays(), overrides=overrides)
    with pytest.raises(ValueError, match=message) as info:
        load_mnist(tmp_path, allow_partial=True)
    assert str(tmp_path) in str(info.value)


def test_truncated_gzip_stream(tmp_path):
    write_idx_set(tmp_path, mnist_like_arrays())
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: corrupt or truncated gzip data"):
        load_mnist(tmp_path, allow_partial=True)


def test_fashion_mnist_folders_and_debian_location(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "data" / "fashion-mnist", mnist_like_arrays(n_train=3))
    ds = load_fashion_mnist(tmp_path / "data", allow_partial=True)
    assert len(ds.x_train) == 3 and ds.class_names[0] == "T-shirt/top" and ds.name == "fashion_mnist"
    debian = tmp_path / "usr_share_datasets_fashion-mnist"
    write_idx_set(debian, mnist_like_arrays(n_train=7))
    monkeypatch.setattr(loaders, "DEBIAN_FASHION_MNIST_DIR", debian)
    assert len(load_fashion_mnist(tmp_path / "empty", allow_partial=True).x_train) == 7  # after the data dir
    assert len(load("fashion-mnist", data_dir=tmp_path / "data", allow_partial=True).x_train) == 3  # the data dir wins


# --- tensorflow-datasets path (with a stand-in module: TensorFlow is not installed) ----------------


class FakeTfds:
    """Records the call and returns what ``tfds.load(..., batch_size=-1, as_supervised=True)`` returns."""

    def __init__(self, splits):
        self.splits, self.calls = splits, []

    def load(self, name, **kwargs):
        self.calls.append((name, kwargs))
        return [self.splits[s] for s in kwargs["split"]]

    def as_numpy(self, tree):
        return tree


def test_tfds_is_used_after_files_with_whole_splits(tmp_path, monkeypatch):
    train = (np.zeros((2, 28, 28, 1), np.uint8), np.array([3, 4], np.int64))
    test = (np.ones((1, 28, 28, 1), np.uint8), np.array([5], np.int64))
    fake = FakeTfds({"train": train, "test": test})
    monkeypatch.setattr(sources, "import_tfds", lambda: fake)
    ds = load_mnist(tmp_path, allow_partial=True)
    assert fake.calls == [("mnist", dict(split=["train", "test"], batch_size=-1, as_supervised=True))]
    assert ds.source == "tfds:mnist" and ds.y_train.dtype == np.int32
    np.testing.assert_array_equal(ds.y_test, [5])
    write_idx_set(tmp_path, mnist_like_arrays())
    assert load_mnist(tmp_path, allow_partial=True).source == str(tmp_path)  # files come first
    assert load_mnist(tmp_path, source="tfds", allow_partial=True).source == "tfds:mnist"


def test_source_tfds_without_tfds_and_bad_source(tmp_path):
    write_idx_set(tmp_path, mnist_like_arrays())
    with pytest.raises(DatasetNotFoundError, match="source='tfds' .* tensorflow-datasets is not installed"):
        load_mnist(tmp_path, source="tfds", allow_partial=True)
    with pytest.raises(ValueError, match="source must be one of"):
        load_mnist(tmp_path, source="web")


def test_unknown_name_lists_known_datasets():
    with pytest.raises(ValueError, match=r"name must be one of \['california_housing', 'cifar10', .*'mnist_small'\]"):
        load("mnits")


# --- CIFAR-10 ------------------------------------------------------------------------------------


def cifar_batch(n, offset):
    rng = np.random.RandomState(offset)
    return {b"batch_label": b"x", b"labels": [(offset + i) % 10 for i in range(n)],
            b"data": rng.randint(0, 256, (n, 3072)).astype(np.uint8)}


def write_cifar_folder(folder, n=2):
    folder.mkdir(parents=True, exist_ok=True)
    batches = {f"data_batch_{i}": cifar_batch(n, i) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(n + 1, 7)
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    names = [c.upper().encode() for c in CIFAR10_CLASSES]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return batches


def check_cifar(ds, batches, n=2):
    chex.assert_shape(ds.x_train, (5 * n, 32, 32, 3))
    chex.assert_shape(ds.x_test, (n + 1, 32, 32, 3))
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int32
    row = batches["data_batch_2"][b"data"][1]  # the second image of the second batch
    image = ds.x_train[n + 1]
    # The pickle stores the red plane, then green, then blue, each row-major 32x32.
    for r, c, channel in [(0, 0, 0), (5, 7, 1), (31, 30, 2)]:
        assert image[r, c, channel] == row[channel * 1024 + r * 32 + c]
    np.testing.assert_array_equal(ds.y_test, [7, 8, 9])
    assert ds.class_names[0] == "AIRPLANE"  # read from batches.meta


def test_cifar_folder_and_flat_batches(tmp_path):
    batches = write_cifar_folder(tmp_path / "cifar10" / "cifar-10-batches-py")
    check_cifar(load_cifar10(tmp_path, allow_partial=True), batches)
    flat_batches = write_cifar_folder(tmp_path / "flat")
    check_cifar(load("cifar10", data_dir=tmp_path / "flat", allow_partial=True), flat_batches)


def test_cifar_tarball(tmp_path):
    batches = write_cifar_folder(tmp_path / "src" / "cifar-10-batches-py")
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    check_cifar(load_cifar10(tmp_path, allow_partial=True), batches)
    (tmp_path / "cifar-10-python.tar.gz").write_bytes((tmp_path / "cifar-10-python.tar.gz").read_bytes()[:300])
    with pytest.raises(ValueError, match="cifar-10-python.tar.gz: corrupt or truncated tar archive"):
        load_cifar10(tmp_path, allow_partial=True)


def test_cifar_bad_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder)
    (folder / "data_batch_3").write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="data_batch_3: not a valid CIFAR-10 batch pickle"):
        load_cifar10(tmp_path, allow_partial=True)
    # A pickle that would run code is refused, not executed.
    (folder / "data_batch_3").write_bytes(pickle.dumps(_Exploit(), protocol=2))
    with pytest.raises(ValueError, match=r"refusing to load (posix|nt|os)\.system"):
        load_cifar10(tmp_path, allow_partial=True)
    write_cifar_folder(folder)
    (folder / "data_batch_4").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"data_batch_4: 'data' must be uint8 of shape \(N, 3072\)"):
        load_cifar10(tmp_path, allow_partial=True)
    write_cifar_folder(folder)
    (folder / "data_batch_5").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}))
    with pytest.raises(ValueError, match="wrong counts"):
        load_cifar10(tmp_path, allow_partial=True)
    write_cifar_folder(folder)
    (folder / "test_batch").unlink()
    with pytest.raises(ValueError, match=r"incomplete CIFAR-10: missing \['test_batch'\]"):
        load_cifar10(tmp_path, allow_partial=True)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


# --- California housing --------------------------------------------------------------------------

HOUSING_HEADER = ("longitude,latitude,housing_median_age,total_rooms,total_bedrooms,population,households,"
                  "median_income,median_house_value,ocean_proximity")
HOUSING_ROWS = [
    "-122.23,37.88,41.0,880.0,129.0,322.0,126.0,8.3252,452600.0,NEAR BAY",
    "-122.22,37.86,21.0,7099.0,,2401.0,1138.0,8.3014,358500.0,NEAR BAY",
    "-122.24,37.85,52.0,1467.0,190.0,496.0,177.0,7.2574,352100.0,NEAR BAY",
]


def write_housing_csv(path, rows=HOUSING_ROWS, header=HOUSING_HEADER):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


def test_housing_csv_medinc_and_all_features(tmp_path):
    write_housing_csv(tmp_path / "california_housing" / "housing.csv")
    ds = load_california_housing(tmp_path, features="MedInc", allow_partial=True)
    chex.assert_shape(ds.x_train, (3, 1))
    np.testing.assert_array_equal(ds.x_train[:, 0], [8.3252, 8.3014, 7.2574])
    np.testing.assert_allclose(ds.y_train, [4.526, 3.585, 3.521])
    assert ds.x_test is None and ds.feature_names == ("MedInc",) and ds.x_train.dtype == np.float64

    with pytest.raises(ValueError, match=r"housing.csv: 1 rows have missing values \(features \['AveBedrms'\]"):
        load_california_housing(tmp_path, allow_partial=True)
    ds = load("california_housing", data_dir=tmp_path, drop_missing=True, allow_partial=True)
    # sklearn's derived features for the first row, by hand: 880/126, 129/126, 322/126.
    np.testing.assert_allclose(
        ds.x_train, [[8.3252, 41, 880 / 126, 129 / 126, 322, 322 / 126, 37.88, -122.23],
                     [7.2574, 52, 1467 / 177, 190 / 177, 496, 496 / 177, 37.85, -122.24]]
    )
    ds = load_california_housing(tmp_path, features=["Latitude", "HouseAge"], allow_partial=True)
    np.testing.assert_array_equal(ds.x_train, [[37.88, 41], [37.86, 21], [37.85, 52]])


def test_housing_statlib_data_and_tarball(tmp_path):
    # cal_housing.data: no header, 9 numeric columns (no ocean_proximity), same raw order.
    lines = [",".join(r.split(",")[:9]).replace(",,", ",200.0,") for r in HOUSING_ROWS]
    folder = tmp_path / "housing"
    folder.mkdir()
    (folder / "cal_housing.data").write_text("\n".join(lines) + "\n")
    ds = load_california_housing(tmp_path, allow_partial=True)
    np.testing.assert_allclose(ds.x_train[1, 3], 200.0 / 1138.0)
    (folder / "cal_housing.data").rename(tmp_path / "cal_housing.data")
    with tarfile.open(folder / "cal_housing.tgz", "w:gz") as tar:
        tar.add(tmp_path / "cal_housing.data", arcname="CaliforniaHousing/cal_housing.data")
    ds_tar = load_california_housing(tmp_path, allow_partial=True)
    assert ds_tar.source.endswith("cal_housing.tgz:CaliforniaHousing/cal_housing.data")
    np.testing.assert_array_equal(ds_tar.x_train, ds.x_train)


@pytest.mark.parametrize(
    "header, rows, message",
    [
        (HOUSING_HEADER.replace("median_income", "income"), HOUSING_ROWS,
         r"wrong columns: missing \['median_income'\]"),
        (HOUSING_HEADER, HOUSING_ROWS[:1] + ["-122.2,37.8,41.0"], "housing.csv, line 3: 3 fields, expected 10"),
        (HOUSING_HEADER, [HOUSING_ROWS[0].replace("8.3252", "high")], "housing.csv, line 2: 'high' is not a number"),
        (HOUSING_HEADER, [], "housing.csv: no data rows"),
    ],
)
def test_housing_bad_csv(tmp_path, header, rows, message):
    write_housing_csv(tmp_path / "housing.csv", rows, header)
    with pytest.raises(ValueError, match=message):
        load_california_housing(tmp_path, features="MedInc", allow_partial=True)


def test_housing_bad_feature_name(tmp_path):
    with pytest.raises(ValueError, match="features must be 'all' or names from"):
        load_california_housing(tmp_path, features="Rooms")


# --- IMDB ----------------------------------------------------------------------------------------

IMDB_TEXTS = {
    ("train", "pos", 0, 9): "Good good movie<br /><br />Great!",
    ("train", "pos", 1, 8): "A good one",
    ("train", "neg", 0, 1): "Bad movie.",
    ("train", "neg", 1, 2): "Bad, BAD acting; don't watch",
    ("test", "pos", 0, 10): "great acting, superb",
    ("test", "neg", 0, 3): "bad bad",
}
# Training counts: bad 3, good 3, movie 2, a 1, acting 1, don't 1, great 1, one 1, watch 1; ties are
# broken alphabetically, so the ranks are: bad 0, good 1, movie 2, a 3, acting 4, don't 5, great 6, ...
IMDB_VOCAB = ("bad", "good", "movie", "a", "acting", "don't", "great", "one", "watch")


def write_acl_imdb(root):
    for (split, polarity, review_id, rating), text in IMDB_TEXTS.items():
        folder = root / "aclImdb" / split / polarity
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{review_id}_{rating}.txt").write_text(text, encoding="utf-8")
    (root / "aclImdb" / "imdb.vocab").write_text("ignored\n")


def test_tokenize():
    assert tokenize("Don't!<br />OK, it's 10/10 -- a_b") == ["don't", "ok", "it's", "10", "10", "a", "b"]


def check_imdb_unshuffled(ds, num_words):
    # File order: negatives then positives, by review id.
    np.testing.assert_array_equal(ds.y_train, [0, 0, 1, 1])
    np.testing.assert_array_equal(ds.y_test, [0, 1])
    expected_train = np.zeros((4, num_words), np.uint8)
    for row, words in enumerate([["bad", "movie"], ["bad", "acting", "don't", "watch"],
                                 ["good", "movie", "great"], ["a", "good", "one"]]):
        for w in words:
            if IMDB_VOCAB.index(w) < num_words:
                expected_train[row, IMDB_VOCAB.index(w)] = 1
    np.testing.assert_array_equal(ds.x_train, expected_train)
    expected_test = np.zeros((2, num_words), np.uint8)
    expected_test[0, 0] = 1  # "bad bad"
    for w in ("great", "acting"):  # "superb" is not a training word
        if IMDB_VOCAB.index(w) < num_words:
            expected_test[1, IMDB_VOCAB.index(w)] = 1
    np.testing.assert_array_equal(ds.x_test, expected_test)


def test_imdb_text_folder_vocabulary_and_multi_hot(tmp_path):
    write_acl_imdb(tmp_path / "imdb")
    ds = load_imdb(tmp_path, num_words=5, shuffle_seed=None, allow_partial=True)
    assert ds.feature_names == IMDB_VOCAB[:5] and ds.class_names == ("neg", "pos")
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int32
    check_imdb_unshuffled(ds, 5)
    wide = load("imdb", data_dir=tmp_path, num_words=12, shuffle_seed=None, dtype=np.float32, allow_partial=True)
    assert wide.x_train.dtype == np.float32 and wide.feature_names[-3:] == ("", "", "")
    check_imdb_unshuffled(wide.replace(x_train=wide.x_train.astype(np.uint8), x_test=wide.x_test.astype(np.uint8)), 12)


def test_imdb_shuffle_is_keras_order(tmp_path):
    write_acl_imdb(tmp_path)
    plain = load_imdb(tmp_path, num_words=9, shuffle_seed=None, allow_partial=True)
    shuffled = load_imdb(tmp_path, num_words=9, shuffle_seed=113, allow_partial=True)
    rng = np.random.RandomState(113)  # Keras' load_data: shuffle train indices, then test, one generator
    order_train, order_test = np.arange(4), np.arange(2)
    rng.shuffle(order_train)
    rng.shuffle(order_test)
    np.testing.assert_array_equal(shuffled.x_train, plain.x_train[order_train])
    np.testing.assert_array_equal(shuffled.y_train, plain.y_train[order_train])
    np.testing.assert_array_equal(shuffled.x_test, plain.x_test[order_test])


def test_imdb_tarball_and_cache(tmp_path, monkeypatch):
    write_acl_imdb(tmp_path / "src")
    with tarfile.open(tmp_path / "aclImdb_v1.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "aclImdb", arcname="aclImdb")
    cache = tmp_path / "my_cache"
    first = load_imdb(tmp_path, num_words=5, shuffle_seed=None, cache_dir=cache, allow_partial=True)
    check_imdb_unshuffled(first, 5)
    assert len(list(cache.glob("imdb-*.npz"))) == 1

    def no_tokenizing(texts):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(imdb_module, "_corpus_from_texts", no_tokenizing)
    second = load_imdb(tmp_path, num_words=5, shuffle_seed=None, cache_dir=cache, allow_partial=True)
    check_imdb_unshuffled(second, 5)
    assert second.feature_names == first.feature_names
    with pytest.raises(AssertionError, match="cache should have been used"):
        load_imdb(tmp_path, num_words=5, cache=False, allow_partial=True)
    # A damaged cache is ignored with a warning and rebuilt.
    monkeypatch.undo()
    monkeypatch.setattr(sources, "import_tfds", lambda: None)
    next(cache.glob("imdb-*.npz")).write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="ignoring the unreadable IMDB cache"):
        ds = load_imdb(tmp_path, num_words=5, shuffle_seed=None, cache_dir=cache, allow_partial=True)
    check_imdb_unshuffled(ds, 5)


def test_imdb_missing_folder_and_bad_review(tmp_path):
    write_acl_imdb(tmp_path)
    for path in (tmp_path / "aclImdb" / "test" / "pos").iterdir():
        path.unlink()
    with pytest.raises(ValueError, match=r"no reviews in \['aclImdb/test/pos/'\]"):
        load_imdb(tmp_path, cache=False, allow_partial=True)
    write_acl_imdb(tmp_path)
    (tmp_path / "aclImdb" / "train" / "neg" / "0_1.txt").write_bytes(b"\xff\xfe bad bytes")
    with pytest.raises(ValueError, match="0_1.txt: review is not UTF-8 text"):
        load_imdb(tmp_path, cache=False, allow_partial=True)
    with pytest.raises(ValueError, match="num_words must be"):
        load_imdb(tmp_path, num_words=0)


def write_keras_imdb_npz(path, y_train=(1, 0)):
    # Keras' imdb.npz holds ragged lists of word ranks (1 = most frequent) as object arrays.
    x_train = np.empty(2, dtype=object)
    x_train[:] = [[1, 4, 4, 2], [3]]
    x_test = np.empty(1, dtype=object)
    x_test[:] = [[2, 9]]
    np.savez(path, x_train=x_train, y_train=np.array(y_train), x_test=x_test, y_test=np.array([1]))


def test_keras_imdb_npz_with_word_index(tmp_path):
    write_keras_imdb_npz(tmp_path / "imdb.npz")
    (tmp_path / "imdb_word_index.json").write_text(json.dumps({"the": 1, "and": 2, "a": 3, "of": 4}))
    ds = load_imdb(tmp_path, num_words=4, shuffle_seed=None, allow_partial=True)
    np.testing.assert_array_equal(ds.x_train, [[1, 1, 0, 1], [0, 0, 1, 0]])
    np.testing.assert_array_equal(ds.x_test, [[0, 1, 0, 0]])  # rank 9 is beyond num_words
    np.testing.assert_array_equal(ds.y_train, [1, 0])
    assert ds.feature_names == ("the", "and", "a", "of")
    write_keras_imdb_npz(tmp_path / "imdb.npz", y_train=(1,))
    with pytest.raises(ValueError, match="wrong counts in .*imdb.npz: x_train has 2 reviews, y_train 1"):
        load_imdb(tmp_path, allow_partial=True)
    (tmp_path / "imdb.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="imdb.npz: not a readable .npz archive"):
        load_imdb(tmp_path, allow_partial=True)


# --- the embedded subset -------------------------------------------------------------------------


def test_mnist_small_is_embedded_and_stratified():
    ds = load("mnist_small")
    chex.assert_shape(ds.x_train, (5000, 28, 28, 1))
    chex.assert_shape(ds.x_test, (1000, 28, 28, 1))
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(ds.y_train), [500] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [100] * 10)
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0
    assert 25 < ds.x_train.mean() < 45  # MNIST's mean pixel is about 33
    with pytest.raises(ValueError, match="takes no data_dir"):
        load("mnist_small", data_dir="x")
    assert load_mnist_small().source.startswith("embedded")


def test_dataset_repr_shows_shapes_not_arrays():
    text = repr(load_mnist_small())
    assert "x_train=(5000, 28, 28, 1) uint8" in text and len(text) < 400
