"""Count and checksum checks of the known datasets (fnnet.data.integrity): a partial or damaged copy is an
IncompleteDatasetError naming the file and the count, loadable only with allow_partial=True (a warning).

The first part works on tiny files in the real formats, with the expected counts and digests patched to
theirs; the part marked shared_data damages copies of the verified files in ../shared/data.
"""
import gzip
import hashlib
import io
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from test_data_loaders import HOUSING_HEADER, HOUSING_ROWS, idx_bytes, mnist_like_arrays, write_acl_imdb, write_idx_set

from fnnet.data import (
    IncompleteDatasetError,
    PartialDatasetWarning,
    integrity,
    load,
    load_california_housing,
    load_cifar10,
    load_imdb,
    load_mnist,
    sources,
)

SHARED = Path(os.environ.get("FNNET_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("FNNET_DATA_DIR", str(tmp_path / "default_data"))
    monkeypatch.setenv("FNNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sources, "import_tfds", lambda: None)


def test_digest_table_has_one_distinct_digest_per_canonical_file():
    # The values themselves are tested against the verified files (shared_data tests here and in
    # test_data_shared.py, which load them); this catches a copy-paste slip that repeats one.
    digests = [d for parts in integrity.IDX_SHA256.values() for d in parts.values()] + [integrity.HOUSING_CSV_SHA256]
    assert len(set(digests)) == 9 and all(len(d) == 64 for d in digests)
    assert integrity.EXPECTED_COUNTS["MNIST"] == {"train": 60_000, "test": 10_000}


# --- tiny files, expected numbers patched -----------------------------------------------------------


def idx_digests(arrays):
    parts = ("train_images", "train_labels", "test_images", "test_labels")
    return {part: hashlib.sha256(idx_bytes(a)).hexdigest() for part, a in zip(parts, arrays.values(), strict=True)}


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """A 5 + 3 image IDX set that fnnet is told is the complete, canonical MNIST."""
    arrays = mnist_like_arrays()
    write_idx_set(tmp_path, arrays)
    monkeypatch.setitem(integrity.EXPECTED_COUNTS, "MNIST", {"train": 5, "test": 3})
    monkeypatch.setitem(integrity.IDX_SHA256, "MNIST", idx_digests(arrays))
    return tmp_path, arrays


def test_complete_canonical_files_load_without_a_warning(tiny_mnist, recwarn):
    folder, _ = tiny_mnist
    assert len(load_mnist(folder).x_train) == 5
    assert not [w for w in recwarn if issubclass(w.category, PartialDatasetWarning)]


def test_a_cut_idx_set_names_each_file_and_its_count(tiny_mnist):
    folder, arrays = tiny_mnist
    arrays["train-images-idx3-ubyte"] = arrays["train-images-idx3-ubyte"][:4]
    arrays["train-labels-idx1-ubyte"] = arrays["train-labels-idx1-ubyte"][:4]
    write_idx_set(folder, arrays)
    with pytest.raises(IncompleteDatasetError, match=r"train-images-idx3-ubyte.gz: 4 images, expected 5") as info:
        load_mnist(folder)
    assert "train-labels-idx1-ubyte.gz: 4 labels, expected 5" in str(info.value)
    assert "t10k" not in str(info.value) and "allow_partial=True" in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.warns(PartialDatasetWarning, match="4 images, expected 5") as record:
        ds = load("mnist", data_dir=folder, allow_partial=True)
    assert len(ds.x_train) == 4 and len(record) == 1
    assert record[0].filename == __file__  # the warning points at the caller, not into fnnet


def test_one_changed_pixel_fails_the_checksum(tiny_mnist):
    folder, arrays = tiny_mnist
    arrays["t10k-images-idx3-ubyte"] = arrays["t10k-images-idx3-ubyte"].copy()
    arrays["t10k-images-idx3-ubyte"][1, 5, 5] ^= 1
    write_idx_set(folder, arrays)
    with pytest.raises(IncompleteDatasetError, match=r"t10k-images-idx3-ubyte.gz: content differs from the canonical"):
        load_mnist(folder)
    with pytest.warns(PartialDatasetWarning, match="content differs"):
        load_mnist(folder, allow_partial=True)


def test_regzipped_or_raw_copies_of_canonical_files_pass(tiny_mnist):
    folder, arrays = tiny_mnist  # the checksum is over the decompressed content
    for path in folder.glob("*.gz"):
        path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1, mtime=12345))
    assert len(load_mnist(folder).x_test) == 3
    write_idx_set(folder / "raw", arrays, gz=False)
    assert len(load_mnist(folder / "raw").x_test) == 3


def test_keras_mnist_npz_is_checked_by_counts(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((100, 28, 28), np.uint8), y_train=np.zeros(100, np.uint8),
             x_test=np.zeros((10, 28, 28), np.uint8), y_test=np.zeros(10, np.uint8))
    with pytest.raises(IncompleteDatasetError, match=r"mnist.npz x_train: 100 images, expected 60,000"):
        load_mnist(tmp_path)


def test_allow_partial_must_be_a_bool(tiny_mnist):
    with pytest.raises(TypeError, match="allow_partial must be True or False, got 'yes'"):
        load_mnist(tiny_mnist[0], allow_partial="yes")


def write_cifar(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": np.zeros((n, 3072), np.uint8), b"labels": [i % 10 for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar_batches_must_hold_10000_images_each(tmp_path, monkeypatch):
    write_cifar(tmp_path / "cifar-10-batches-py", 4)
    with pytest.raises(IncompleteDatasetError, match=r"data_batch_1: 4 images, expected 10,000"):
        load_cifar10(tmp_path)
    monkeypatch.setitem(integrity.EXPECTED_COUNTS, "CIFAR-10", {"batch": 4, "train": 20, "test": 4})
    assert len(load_cifar10(tmp_path).x_train) == 20


def write_housing(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HOUSING_HEADER, *rows]) + "\n")
    return path


def test_housing_csv_cut_at_a_row_boundary(tmp_path, monkeypatch):
    path = write_housing(tmp_path / "housing.csv", HOUSING_ROWS)
    monkeypatch.setitem(integrity.EXPECTED_COUNTS, "California housing", {"rows": 3})
    monkeypatch.setattr(integrity, "HOUSING_CSV_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(load_california_housing(tmp_path, features="MedInc").x_train) == 3
    write_housing(path, HOUSING_ROWS[:2])
    with pytest.raises(IncompleteDatasetError, match=r"housing.csv: 2 data rows, expected 3"):
        load_california_housing(tmp_path, features="MedInc")
    write_housing(path, [HOUSING_ROWS[0].replace("8.3252", "8.3253"), *HOUSING_ROWS[1:]])
    with pytest.raises(IncompleteDatasetError, match=r"housing.csv: content differs from the canonical file"):
        load_california_housing(tmp_path, features="MedInc")


def test_statlib_housing_is_checked_by_rows_only(tmp_path):
    lines = [",".join(r.split(",")[:9]).replace(",,", ",200.0,") for r in HOUSING_ROWS]
    (tmp_path / "cal_housing.data").write_text("\n".join(lines) + "\n")
    with pytest.raises(IncompleteDatasetError, match=r"cal_housing.data: 3 data rows, expected 20,640"):
        load_california_housing(tmp_path)


def test_partly_extracted_acl_imdb_names_the_short_folders(tmp_path, monkeypatch):
    write_acl_imdb(tmp_path)  # 2 + 2 training reviews, 1 + 1 test reviews
    with pytest.raises(IncompleteDatasetError, match=r"aclImdb/train/pos/: 2 reviews, expected 12,500") as info:
        load_imdb(tmp_path, cache=False)
    assert "aclImdb/test/neg/: 1 reviews" in str(info.value)
    monkeypatch.setitem(integrity.EXPECTED_COUNTS, "IMDB", {"class": 2, "train": 4, "test": 4})
    with pytest.raises(IncompleteDatasetError, match=r"aclImdb/test/pos/: 1 reviews, expected 2") as info:
        load_imdb(tmp_path, cache=False)
    assert "aclImdb/train/" not in str(info.value)  # the complete folders are not listed


def test_imdb_tarball_cut_at_a_member_boundary(tmp_path, monkeypatch):
    write_acl_imdb(tmp_path / "src")
    monkeypatch.setitem(integrity.EXPECTED_COUNTS, "IMDB", {"class": 2, "train": 4, "test": 2})
    for polarity in ("pos", "neg"):  # 2 reviews in every folder, so the whole set is "complete"
        (tmp_path / "src" / "aclImdb" / "test" / polarity / "5_5.txt").write_text("fine fine", encoding="utf-8")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(tmp_path / "src" / "aclImdb", arcname="aclImdb")
    with tarfile.open(fileobj=io.BytesIO(raw.getvalue())) as tar:
        members = tar.getmembers()
    last = max(members, key=lambda m: m.offset)
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(gzip.compress(raw.getvalue()))
    assert len(load_imdb(tmp_path, cache=False).x_train) == 4
    assert last.name == "aclImdb/train/pos/1_8.txt"  # tar.add sorts: the cut drops this review only
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(gzip.compress(raw.getvalue()[: last.offset]))
    with pytest.raises(IncompleteDatasetError, match=r"aclImdb_v1.tar.gz: aclImdb/train/pos/: 1 reviews, expected 2"):
        load_imdb(tmp_path, cache=False)
    with pytest.warns(PartialDatasetWarning, match="aclImdb/train/pos/: 1 reviews"):
        ds = load_imdb(tmp_path, cache=False, allow_partial=True)
    assert len(ds.x_train) == 3 and len(ds.x_test) == 4


# --- the verified copies in ../shared/data, damaged in tmp folders --------------------------------------

shared = pytest.mark.shared_data


def needs(*parts):
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (set FNNET_SHARED_DATA)")
    return path


@shared
def test_shared_housing_csv_cut_at_row_993(tmp_path):
    lines = needs("california_housing", "housing.csv").read_text().splitlines(keepends=True)
    (tmp_path / "housing.csv").write_text("".join(lines[:994]))
    with pytest.raises(IncompleteDatasetError, match=r"housing.csv: 993 data rows, expected 20,640"):
        load_california_housing(tmp_path, features="MedInc")
    with pytest.warns(PartialDatasetWarning, match="993 data rows"):
        assert len(load_california_housing(tmp_path, features="MedInc", allow_partial=True).x_train) == 993
    assert len(load_california_housing(SHARED, features="MedInc").x_train) == 20_640


@shared
def test_shared_mnist_with_one_flipped_bit_fails_the_checksum(tmp_path):
    for path in needs("mnist").glob("*.gz"):
        shutil.copy(path, tmp_path / path.name)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] ^= 1  # label 0..9 stays in range, so only the checksum can tell
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(IncompleteDatasetError, match=r"t10k-labels-idx1-ubyte.gz: content differs"):
        load_mnist(tmp_path)


@shared
def test_shared_partly_extracted_acl_imdb(tmp_path):
    per_folder = {}
    with tarfile.open(needs("imdb", "aclImdb_labeled.tar.gz")) as tar:
        chosen = []
        for member in tar:  # the first 50 reviews of each of the four folders
            parts = member.name.split("/")
            if len(parts) == 4 and parts[2] in ("pos", "neg") and member.isfile():
                folder = tuple(parts[1:3])
                per_folder[folder] = count = per_folder.get(folder, 0) + 1
                if count <= 50:
                    chosen.append(member)
            if len(chosen) == 200:
                break
        tar.extractall(tmp_path, members=chosen, filter="data")
    with pytest.raises(IncompleteDatasetError, match=r"aclImdb/train/pos/: 50 reviews, expected 12,500"):
        load_imdb(tmp_path, num_words=100, cache=False)


@shared
@pytest.mark.slow
def test_shared_imdb_tarball_cut_at_a_member_boundary(tmp_path):
    raw = gzip.decompress(needs("imdb", "aclImdb_labeled.tar.gz").read_bytes())
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
    cut = next(m for m in members if m.name.startswith("aclImdb/train/pos/") and m.name.endswith("_7.txt"))
    (tmp_path / "aclImdb_labeled.tar.gz").write_bytes(gzip.compress(raw[: cut.offset], compresslevel=1))
    with pytest.raises(IncompleteDatasetError, match=r"aclImdb/train/pos/: [\d,]+ reviews, expected 12,500"):
        load_imdb(tmp_path, num_words=100, cache=False)
