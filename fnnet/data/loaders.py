"""Loaders for the real datasets the course seeds use, and the one public entry :func:`load`.

Each loader returns a :class:`~fnnet.data.Dataset` of numpy arrays. Files are found as described in
:mod:`fnnet.data.sources` (``data_dir`` / ``$FNNET_DATA_DIR`` / ``~/.fnnet/data``, then tensorflow-datasets);
the accepted file forms of each dataset are listed in its docstring.
"""
from __future__ import annotations

import os
import tarfile
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from fnnet._checks import check_finite
from fnnet.data import formats, integrity
from fnnet.data.dataset import Dataset
from fnnet.data.imdb import load_imdb
from fnnet.data.integrity import Checks, sha256
from fnnet.data.sources import FileForm, first_existing, locate_parts, resolve, tfds_splits

PathLike = str | os.PathLike

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# --- MNIST and Fashion-MNIST (IDX) ----------------------------------------------------------------


def _idx_names(stem: str) -> tuple[str, ...]:
    """Accepted names of one IDX file: the canonical ``train-images-idx3-ubyte`` (gzipped or raw) and
    LeCun's original dotted spelling ``train-images.idx3-ubyte`` that the CS4487 seed reads."""
    dotted = stem.replace("-idx", ".idx")
    return (f"{stem}.gz", stem, f"{dotted}.gz", dotted)


_IDX_PARTS = {
    "train_images": _idx_names("train-images-idx3-ubyte"),
    "train_labels": _idx_names("train-labels-idx1-ubyte"),
    "test_images": _idx_names("t10k-images-idx3-ubyte"),
    "test_labels": _idx_names("t10k-labels-idx1-ubyte"),
}
_IDX_DESCRIPTION = (
    "the 4 IDX files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
    "t10k-labels-idx1-ubyte.gz (gzipped or raw)"
)

_IDX_UNITS = {"train_images": "images", "train_labels": "labels", "test_images": "images", "test_labels": "labels"}


def _idx_sha256(array: np.ndarray) -> str:
    """SHA-256 of the IDX encoding of a uint8 array: the decompressed file's digest, since
    :func:`formats.read_idx` accepts only files that are exactly header + data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return sha256(header, np.ascontiguousarray(array, np.uint8))


def _read_idx_dataset(
    paths: dict[str, Path], *, title: str, name: str, class_names: tuple[str, ...], allow_partial: bool
) -> Dataset:
    arrays = {part: formats.read_idx(path) for part, path in paths.items()}
    for split in ("train", "test"):
        formats.check_image_label_pair(
            arrays[f"{split}_images"], arrays[f"{split}_labels"], image_shape=(28, 28), num_classes=10,
            images_name=str(paths[f"{split}_images"]), labels_name=str(paths[f"{split}_labels"]),
        )
    digests = {part: _idx_sha256(array) for part, array in arrays.items()}
    # MNIST and Fashion-MNIST use the same file names, so a folder holding one could be read as the other.
    for other, known in integrity.IDX_SHA256.items():
        if other != title and digests["train_labels"] == known["train_labels"]:
            raise ValueError(f"{paths['train_labels']}: these are the {other} files, not {title}")
    checks, expected = Checks(title, allow_partial=allow_partial), integrity.EXPECTED_COUNTS[title]
    for part, array in arrays.items():
        split = part.split("_")[0]
        checks.count(str(paths[part]), _IDX_UNITS[part], len(array), expected[split])
        checks.digest(str(paths[part]), digests[part], integrity.IDX_SHA256[title][part])
    checks.finish()
    return Dataset(
        x_train=arrays["train_images"][..., None],
        y_train=arrays["train_labels"].astype(np.int32),
        x_test=arrays["test_images"][..., None],
        y_test=arrays["test_labels"].astype(np.int32),
        name=name,
        class_names=class_names,
        source=str(paths["train_images"].parent),
    )


def _check_split_counts(title: str, counts: dict[str, tuple[str, int]], unit: str, allow_partial: bool) -> None:
    """The count check of a form without canonical checksums: ``counts`` maps the name of an array (for
    messages) to ``(split, examples)``."""
    checks = Checks(title, allow_partial=allow_partial)
    for where, (split, got) in counts.items():
        checks.count(where, unit, got, integrity.EXPECTED_COUNTS[title][split])
    checks.finish()


def _read_keras_mnist_npz(path: Path, allow_partial: bool) -> Dataset:
    with np.load(path, allow_pickle=False) as archive:
        formats.require_keys(archive, ("x_train", "y_train", "x_test", "y_test"), str(path))
        arrays = {k: archive[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    for split in ("train", "test"):
        formats.check_image_label_pair(
            arrays[f"x_{split}"], arrays[f"y_{split}"], image_shape=(28, 28), num_classes=10,
            images_name=f"{path} x_{split}", labels_name=f"{path} y_{split}",
        )
    counts = {f"{path} x_{split}": (split, len(arrays[f"x_{split}"])) for split in ("train", "test")}
    _check_split_counts("MNIST", counts, "images", allow_partial)
    return Dataset(
        x_train=arrays["x_train"][..., None], y_train=arrays["y_train"].astype(np.int32),
        x_test=arrays["x_test"][..., None], y_test=arrays["y_test"].astype(np.int32),
        name="mnist", class_names=MNIST_CLASSES, source=str(path),
    )


def _from_tfds_images(
    tfds_name: str, name: str, class_names: tuple[str, ...], *, title: str, allow_partial: bool
) -> Callable:
    def build(tfds) -> Dataset:
        (x_train, y_train), (x_test, y_test) = tfds_splits(tfds, tfds_name)
        counts = {f"tfds:{tfds_name} train": ("train", len(x_train)), f"tfds:{tfds_name} test": ("test", len(x_test))}
        _check_split_counts(title, counts, "images", allow_partial)
        return Dataset(
            x_train=np.asarray(x_train, np.uint8), y_train=np.asarray(y_train, np.int32),
            x_test=np.asarray(x_test, np.uint8), y_test=np.asarray(y_test, np.int32),
            name=name, class_names=class_names, source=f"tfds:{tfds_name}",
        )

    return build


def load_mnist(data_dir: PathLike | None = None, *, source: str = "auto", allow_partial: bool = False) -> Dataset:
    """MNIST: ``x_train (60000, 28, 28, 1)`` uint8, ``y_train (60000,)`` int32, ``x_test (10000, 28, 28, 1)``,
    ``y_test (10000,)``; pixels 0..255 (background 0), labels 0..9.

    Files, in ``<data_dir>/mnist/`` or ``<data_dir>/``: the 4 IDX files (``train-images-idx3-ubyte.gz`` ...,
    gzipped or raw, also LeCun's ``train-images.idx3-ubyte`` spelling), or Keras' ``mnist.npz``. Then
    tensorflow-datasets (``mnist``). ``source``: ``"auto"``, ``"files"`` or ``"tfds"``.

    Files with other counts than 60,000/10,000, or IDX files whose content is not the canonical one, raise
    :class:`~fnnet.data.IncompleteDatasetError` naming each file; ``allow_partial=True`` loads them with a
    :class:`~fnnet.data.PartialDatasetWarning` instead (see :mod:`fnnet.data.integrity`).
    """
    forms = [
        FileForm(
            _IDX_DESCRIPTION,
            lambda folder: locate_parts(folder, _IDX_PARTS),
            lambda paths: _read_idx_dataset(
                paths, title="MNIST", name="mnist", class_names=MNIST_CLASSES, allow_partial=allow_partial
            ),
        ),
        FileForm(
            "Keras' mnist.npz (x_train, y_train, x_test, y_test)",
            lambda folder: first_existing(folder, ["mnist.npz"]),
            lambda path: _read_keras_mnist_npz(path, allow_partial),
        ),
    ]
    return resolve(
        "MNIST", data_dir=data_dir, subdirs=["mnist"], forms=forms,
        from_tfds=_from_tfds_images("mnist", "mnist", MNIST_CLASSES, title="MNIST", allow_partial=allow_partial),
        source=source,
    )


#: Where Debian's ``dataset-fashion-mnist`` package installs the four files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def load_fashion_mnist(
    data_dir: PathLike | None = None, *, source: str = "auto", allow_partial: bool = False
) -> Dataset:
    """Fashion-MNIST: same shapes, dtypes and file format as :func:`load_mnist` (10 clothing classes,
    :data:`FASHION_MNIST_CLASSES`).

    Files: the 4 IDX files in ``<data_dir>/fashion_mnist/``, ``<data_dir>/fashion-mnist/`` or
    ``<data_dir>/``, then Debian's ``/usr/share/datasets/fashion-mnist/`` (``apt-get install
    dataset-fashion-mnist``), then tensorflow-datasets (``fashion_mnist``). Counts, checksums and
    ``allow_partial``: as in :func:`load_mnist`.
    """
    forms = [
        FileForm(
            _IDX_DESCRIPTION,
            lambda folder: locate_parts(folder, _IDX_PARTS),
            lambda paths: _read_idx_dataset(
                paths, title="Fashion-MNIST", name="fashion_mnist", class_names=FASHION_MNIST_CLASSES,
                allow_partial=allow_partial,
            ),
        )
    ]
    return resolve(
        "Fashion-MNIST", data_dir=data_dir, subdirs=["fashion_mnist", "fashion-mnist"], forms=forms,
        extra_dirs=[DEBIAN_FASHION_MNIST_DIR],
        from_tfds=_from_tfds_images("fashion_mnist", "fashion_mnist", FASHION_MNIST_CLASSES, title="Fashion-MNIST",
                                    allow_partial=allow_partial),
        source=source,
    )


# --- CIFAR-10 (python pickles) --------------------------------------------------------------------

_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_CIFAR_TARBALLS = ("cifar-10-python.tar.gz", "cifar-10-python.tgz")


def _cifar_from_streams(
    open_member: Callable[[str], object], names: set[str], where: str, allow_partial: bool
) -> Dataset:
    """Builds CIFAR-10 from batch files; ``open_member(name)`` opens one of ``names`` (a binary stream)."""
    missing = [b for b in _CIFAR_BATCHES if b not in names]
    if missing:
        raise ValueError(f"{where}: incomplete CIFAR-10: missing {missing}")
    parts = {}
    for batch in _CIFAR_BATCHES:
        name = f"{where}/{batch}"
        with open_member(batch) as stream:
            parts[batch] = formats.cifar_batch_arrays(formats.read_pickle(stream, name), name)
    checks, expected = Checks("CIFAR-10", allow_partial=allow_partial), integrity.EXPECTED_COUNTS["CIFAR-10"]["batch"]
    for batch in _CIFAR_BATCHES:
        checks.count(f"{where}/{batch}", "images", len(parts[batch][0]), expected)
    checks.finish()
    class_names = CIFAR10_CLASSES
    if "batches.meta" in names:
        with open_member("batches.meta") as stream:
            meta_name = f"{where}/batches.meta"
            class_names = formats.cifar_label_names(formats.read_pickle(stream, meta_name), meta_name)
    x_train = np.concatenate([parts[b][0] for b in _CIFAR_BATCHES[:5]])
    y_train = np.concatenate([parts[b][1] for b in _CIFAR_BATCHES[:5]])
    x_test, y_test = parts["test_batch"]
    return Dataset(x_train, y_train, x_test, y_test, name="cifar10", class_names=class_names, source=where)


def _locate_cifar_folder(folder: Path) -> Path | None:
    for candidate in (folder / _CIFAR_DIR, folder):
        if any((candidate / b).is_file() for b in _CIFAR_BATCHES):
            return candidate
    return None


def _read_cifar_folder(folder: Path, allow_partial: bool) -> Dataset:
    names = {p.name for p in folder.iterdir() if p.is_file()}
    return _cifar_from_streams(lambda name: open(folder / name, "rb"), names, str(folder), allow_partial)


def _read_cifar_tarball(path: Path, allow_partial: bool) -> Dataset:
    try:
        with tarfile.open(path, "r:*") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile() and _CIFAR_DIR in m.name}
            return _cifar_from_streams(
                lambda name: tar.extractfile(members[name]), set(members), str(path), allow_partial
            )
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"{path}: corrupt or truncated tar archive ({err})") from err


def load_cifar10(data_dir: PathLike | None = None, *, source: str = "auto", allow_partial: bool = False) -> Dataset:
    """CIFAR-10: ``x_train (50000, 32, 32, 3)`` uint8 NHWC RGB, ``y_train (50000,)`` int32 in 0..9,
    ``x_test (10000, 32, 32, 3)``, ``y_test (10000,)``; classes :data:`CIFAR10_CLASSES` (or ``batches.meta``).

    Files, in ``<data_dir>/cifar10/``, ``<data_dir>/cifar-10/`` or ``<data_dir>/``: the python pickles
    (``data_batch_1`` ... ``data_batch_5``, ``test_batch``, optional ``batches.meta``) either in a
    ``cifar-10-batches-py/`` folder or directly, or the unextracted ``cifar-10-python.tar.gz``. Then
    tensorflow-datasets (``cifar10``). Pickles are read with an unpickler that only admits numpy arrays.

    A batch file with other than 10,000 images (or tfds splits other than 50,000/10,000) raises
    :class:`~fnnet.data.IncompleteDatasetError`; ``allow_partial=True`` loads it with a warning.
    """
    forms = [
        FileForm(
            f"the python batches {', '.join(_CIFAR_BATCHES)} (+ batches.meta), in a {_CIFAR_DIR}/ folder or directly",
            _locate_cifar_folder,
            lambda folder: _read_cifar_folder(folder, allow_partial),
        ),
        FileForm(
            "the tarball cifar-10-python.tar.gz (not extracted)",
            lambda folder: first_existing(folder, _CIFAR_TARBALLS),
            lambda path: _read_cifar_tarball(path, allow_partial),
        ),
    ]
    return resolve(
        "CIFAR-10", data_dir=data_dir, subdirs=["cifar10", "cifar-10"], forms=forms,
        from_tfds=_from_tfds_images("cifar10", "cifar10", CIFAR10_CLASSES, title="CIFAR-10",
                                    allow_partial=allow_partial),
        source=source,
    )


# --- California housing (CSV) ---------------------------------------------------------------------

_HOUSING_TAR_MEMBERS = {"housing.tgz": "housing.csv", "cal_housing.tgz": "CaliforniaHousing/cal_housing.data"}


def _read_housing_raw(path: Path) -> tuple[np.ndarray, str, bytes]:
    """``(raw (N, 9) float64 table, name for messages, the CSV's bytes)`` from any accepted housing file."""
    if path.name in _HOUSING_TAR_MEMBERS:
        member = _HOUSING_TAR_MEMBERS[path.name]
        try:
            with tarfile.open(path, "r:*") as tar:
                data = tar.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError, KeyError) as err:
            raise ValueError(f"{path}: corrupt archive or no member {member!r} ({err})") from err
        name = f"{path}:{member}"
    else:
        data, name = formats.read_bytes(path), str(path)
    header = not name.endswith(".data")  # StatLib's cal_housing.data has no header row
    return formats.read_housing_table(formats.text_lines(data), name, header=header), name, data


def load_california_housing(
    data_dir: PathLike | None = None,
    *,
    features: str | tuple[str, ...] | list[str] = "all",
    drop_missing: bool = False,
    allow_partial: bool = False,
) -> Dataset:
    """California housing (1990 census block groups, 20,640 rows) with scikit-learn's features and target.

    Returns ``x_train (N, k)`` float64 (the chosen features, in order), ``y_train (N,)`` float64 = median
    house value / 100,000; no test split (use :func:`fnnet.data.train_test_split`). ``feature_names`` lists
    the columns. Features (sklearn's ``fetch_california_housing``): MedInc, HouseAge, AveRooms
    (total_rooms / households), AveBedrms (total_bedrooms / households), Population, AveOccup (population /
    households), Latitude, Longitude.

    Args:
      features: ``"all"`` (the 8 above), one name (e.g. ``"MedInc"``, the seed's x: shape ``(N, 1)``) or a
        sequence of names.
      drop_missing: ``housing.csv`` leaves total_bedrooms empty in 207 rows, so AveBedrms is NaN there. When
        a chosen feature has NaNs, ``False`` raises ValueError and ``True`` drops those rows.
      allow_partial: a file with other than 20,640 data rows, or a ``housing.csv`` (or the one in
        ``housing.tgz``) whose bytes are not the canonical file's, raises
        :class:`~fnnet.data.IncompleteDatasetError`; ``True`` loads it with a warning.

    Files, in ``<data_dir>/california_housing/``, ``<data_dir>/housing/`` or ``<data_dir>/``:
    ``housing.csv`` (Hands-On ML, with header), ``housing.tgz``, StatLib's ``cal_housing.tgz`` (what sklearn
    downloads) or ``cal_housing.data``. Not in tensorflow-datasets.
    """
    if isinstance(features, str):
        chosen = formats.HOUSING_FEATURES if features == "all" else (features,)
    else:
        chosen = tuple(features)
    unknown = [f for f in chosen if f not in formats.HOUSING_FEATURES]
    if unknown or not chosen:
        raise ValueError(f"features must be 'all' or names from {list(formats.HOUSING_FEATURES)}, got {features!r}")

    def read(path: Path) -> Dataset:
        raw, name, content = _read_housing_raw(path)
        checks = Checks("California housing", allow_partial=allow_partial)
        checks.count(name, "data rows", len(raw), integrity.EXPECTED_COUNTS["California housing"]["rows"])
        if name.endswith("housing.csv"):  # the Hands-On ML file; StatLib's cal_housing.data has no known digest
            checks.digest(name, sha256(content), integrity.HOUSING_CSV_SHA256)
        checks.finish()
        all_features, target = formats.housing_features(raw)
        x = all_features[:, [formats.HOUSING_FEATURES.index(f) for f in chosen]]
        bad_rows = np.isnan(x).any(axis=1) | np.isnan(target)
        if bad_rows.any():
            if not drop_missing:
                bad_columns = [f for f, bad in zip(chosen, np.isnan(x).any(axis=0), strict=True) if bad]
                raise ValueError(
                    f"{name}: {int(bad_rows.sum())} rows have missing values (features {bad_columns} or the "
                    "target are NaN); pass drop_missing=True to drop them, or choose other features"
                )
            x, target = x[~bad_rows], target[~bad_rows]
        check_finite(f"{name} features", x)  # e.g. a division by zero households
        check_finite(f"{name} target", target)
        return Dataset(x, target, name="california_housing", feature_names=chosen, source=name)

    form = FileForm(
        "housing.csv (Hands-On ML), housing.tgz, cal_housing.tgz (StatLib/sklearn) or cal_housing.data",
        lambda folder: first_existing(folder, ["housing.csv", "housing.tgz", "cal_housing.tgz", "cal_housing.data"]),
        read,
    )
    return resolve(
        "California housing", data_dir=data_dir, subdirs=["california_housing", "housing"], forms=[form],
        source="files",
    )


# --- the embedded MNIST subset --------------------------------------------------------------------


def load_mnist_small() -> Dataset:
    """A small real MNIST subset shipped inside the package (works offline everywhere).

    ``x_train (5000, 28, 28, 1)`` uint8 (500 per digit), ``y_train (5000,)`` int32, ``x_test (1000, 28, 28,
    1)`` (100 per digit), ``y_test (1000,)``: the first images of each digit in the official files, in file
    order. Provenance and the build command: ``fnnet/data/embedded/README.md``.
    """
    resource = resources.files("fnnet.data").joinpath("embedded/mnist_small.npz")
    with resources.as_file(resource) as path, np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    return Dataset(
        x_train=arrays["x_train"], y_train=arrays["y_train"].astype(np.int32),
        x_test=arrays["x_test"], y_test=arrays["y_test"].astype(np.int32),
        name="mnist_small", class_names=MNIST_CLASSES, source="embedded:fnnet/data/embedded/mnist_small.npz",
    )


# --- the public entry -----------------------------------------------------------------------------

LOADERS: dict[str, Callable[..., Dataset]] = {
    "mnist": load_mnist,
    "mnist_small": load_mnist_small,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "imdb": load_imdb,
    "california_housing": load_california_housing,
}


def load(name: str, *, data_dir: PathLike | None = None, **options) -> Dataset:
    """Loads a dataset by name: one of :data:`LOADERS` (``-`` and ``_`` are interchangeable).

    ``data_dir`` and ``options`` go to the dataset's loader (e.g. ``load("imdb", num_words=10000)``,
    ``load("california_housing", features="MedInc")``); see each ``load_<name>`` for shapes, dtypes and
    the files it accepts. The synthetic sets are functions instead: :func:`fnnet.data.flower`,
    :func:`fnnet.data.circles`, :func:`fnnet.data.noisy_line`.
    """
    key = str(name).lower().replace("-", "_")
    if key not in LOADERS:
        raise ValueError(
            f"name must be one of {sorted(LOADERS)}, got {name!r} (synthetic sets: fnnet.data.flower, "
            "fnnet.data.circles, fnnet.data.noisy_line)"
        )
    if key == "mnist_small":
        if data_dir is not None or options:
            raise ValueError("mnist_small is embedded in the package and takes no data_dir or options")
        return load_mnist_small()
    return LOADERS[key](data_dir, **options)
