"""Readers for the standard on-disk dataset formats, with strict validation.

Every reader raises ``ValueError`` that names the file and says what is wrong (wrong magic number,
truncated data, wrong counts, unexpected columns...), never a bare numpy/pickle/gzip error.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import IO, Iterable, Sequence

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | Path) -> bytes:
    """The content of ``path``, gunzipped when it is gzip data (detected by its magic bytes, not its name,
    so ``foo.gz`` files that were stored decompressed and raw files named ``.gz`` both work)."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as err:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({err})") from err


# --- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------------

# Type codes of the IDX format (third byte of the magic number) and their big-endian dtypes.
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Reads an IDX file (gzipped or raw) into a native-endian numpy array of the dimensions its header gives.

    The header is two zero bytes, a type code (0x08 = unsigned byte) and the number of dimensions, then one
    big-endian uint32 per dimension; e.g. MNIST images have magic number 0x00000803 and dims (N, 28, 28).
    """
    path = Path(path)
    raw = read_bytes(path)
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic is None or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        shown = "none (file shorter than 4 bytes)" if magic is None else f"0x{magic:08x}"
        raise ValueError(
            f"{path}: not an IDX file: magic number {shown}; expected 0x0000TTNN with a known type code TT "
            "and NN >= 1 dimensions (0x00000803 for image files, 0x00000801 for label files)"
        )
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{path}: truncated IDX header: {len(raw)} bytes, the header alone needs {header_size}")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header_size + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "too long"
        raise ValueError(
            f"{path}: {state}: the header gives dimensions {dims} ({expected} bytes in all) but the file has "
            f"{len(raw)} bytes"
        )
    data = np.frombuffer(raw, dtype, offset=header_size).reshape(dims)
    return data.astype(dtype.newbyteorder("="))  # a native-endian, writable copy


def check_image_label_pair(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    image_shape: tuple[int, ...],
    num_classes: int,
    images_name: str,
    labels_name: str,
) -> None:
    """Raises unless ``images`` is ``(N, *image_shape)`` uint8 and ``labels`` is ``(N,)`` integers in
    ``[0, num_classes)``; messages name the files (``images_name``/``labels_name``)."""
    if images.dtype != np.uint8 or images.shape[1:] != image_shape:
        raise ValueError(
            f"{images_name}: expected uint8 images of shape (N, {', '.join(map(str, image_shape))}), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{labels_name}: expected a 1-D integer label array, got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(
            f"wrong counts: {images_name} holds {len(images)} images but {labels_name} holds {len(labels)} labels"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{labels_name}: labels must lie in [0, {num_classes}), got values in [{labels.min()}, {labels.max()}]"
        )


# --- CIFAR-10 python pickles ----------------------------------------------------------------------

# The only globals a CIFAR-10 batch pickle needs: numpy's array reconstruction (looked up from numpy
# itself, so no deprecated ``numpy.core`` import happens) and Python 3's bytes encoding helper.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_SCALAR = np.int64(0).__reduce__()[0]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a data file must not be able to run code."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed") from None


def read_pickle(stream: IO[bytes], name: str) -> object:
    """Unpickles a CIFAR-style pickle (Python 2 ``str`` keys come back as ``bytes``) with only numpy arrays
    allowed; ``name`` is the file name used in error messages."""
    try:
        return _ArrayOnlyUnpickler(stream, encoding="bytes").load()
    except Exception as err:  # pickle raises many types (UnpicklingError, EOFError, ValueError, ...)
        raise ValueError(f"{name}: not a valid CIFAR-10 batch pickle ({type(err).__name__}: {err})") from err


def _field(batch: dict, key: str, name: str):
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise ValueError(f"{name}: CIFAR-10 batch has no {key!r} entry (keys: {sorted(map(str, batch))})")


def cifar_batch_arrays(batch: object, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 32, 32, 3) uint8 NHWC, labels (N,) int32)`` from one unpickled CIFAR-10 batch dict
    (``data``: ``(N, 3072)`` uint8 rows in channel-major order; ``labels``: N ints)."""
    if not isinstance(batch, dict):
        raise ValueError(f"{name}: expected a dict with 'data' and 'labels', got {type(batch).__name__}")
    data = np.asarray(_field(batch, "data", name))
    labels = np.asarray(_field(batch, "labels", name))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{name}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # stored channel-major: CHW -> HWC
    check_image_label_pair(
        images, labels, image_shape=(32, 32, 3), num_classes=10, images_name=f"{name} 'data'",
        labels_name=f"{name} 'labels'",
    )
    return np.ascontiguousarray(images), labels.astype(np.int32)


def cifar_label_names(meta: object, name: str) -> tuple[str, ...]:
    """The 10 class names from an unpickled ``batches.meta`` dict."""
    if not isinstance(meta, dict):
        raise ValueError(f"{name}: expected a dict with 'label_names', got {type(meta).__name__}")
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in _field(meta, "label_names", name))
    if len(names) != 10:
        raise ValueError(f"{name}: expected 10 label names, got {len(names)}")
    return names


# --- California housing ---------------------------------------------------------------------------

#: Raw columns, in the order of the StatLib file ``cal_housing.data`` (no header there).
HOUSING_RAW_COLUMNS = (
    "longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
    "population", "households", "median_income", "median_house_value",
)


def _parse_float(text: str, where: str) -> float:
    if text.strip() == "":
        return np.nan  # housing.csv leaves 207 total_bedrooms empty; callers decide what a gap means
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number") from None


def read_housing_table(lines: Iterable[str], name: str, *, header: bool) -> np.ndarray:
    """Parses the California housing table into ``(N, 9)`` float64 in :data:`HOUSING_RAW_COLUMNS` order.

    ``header=True``: the Hands-On ML ``housing.csv`` (a header row naming the columns, any order, plus the
    text column ``ocean_proximity``, which is ignored); ``header=False``: StatLib's ``cal_housing.data``
    (9 numeric columns in :data:`HOUSING_RAW_COLUMNS` order). Empty fields become NaN.
    """
    reader = csv.reader(lines)
    if header:
        try:
            columns = [c.strip() for c in next(reader)]
        except StopIteration:
            raise ValueError(f"{name}: empty file, expected a header row") from None
        missing = [c for c in HOUSING_RAW_COLUMNS if c not in columns]
        if missing:
            raise ValueError(
                f"{name}: wrong columns: missing {missing}; the header must name {list(HOUSING_RAW_COLUMNS)} "
                f"(got {columns})"
            )
        index = [columns.index(c) for c in HOUSING_RAW_COLUMNS]
        width = len(columns)
    else:
        index, width = list(range(len(HOUSING_RAW_COLUMNS))), len(HOUSING_RAW_COLUMNS)
    rows = []
    for line_no, fields in enumerate(reader, start=2 if header else 1):
        if not fields:
            continue
        if len(fields) != width:
            raise ValueError(f"{name}, line {line_no}: {len(fields)} fields, expected {width}")
        rows.append([_parse_float(fields[i], f"{name}, line {line_no}") for i in index])
    if not rows:
        raise ValueError(f"{name}: no data rows")
    return np.asarray(rows, dtype=np.float64)


#: sklearn's ``fetch_california_housing`` feature names, in its order.
HOUSING_FEATURES = ("MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude")


def housing_features(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's derivation: ``(features (N, 8) float64 in HOUSING_FEATURES order, target (N,) float64)``.

    AveRooms = total_rooms / households, AveBedrms = total_bedrooms / households, AveOccup = population /
    households, target = median_house_value / 100000.
    """
    col = {c: raw[:, i] for i, c in enumerate(HOUSING_RAW_COLUMNS)}
    households = col["households"]
    features = np.stack(
        [
            col["median_income"],
            col["housing_median_age"],
            col["total_rooms"] / households,
            col["total_bedrooms"] / households,
            col["population"],
            col["population"] / households,
            col["latitude"],
            col["longitude"],
        ],
        axis=1,
    )
    return features, col["median_house_value"] / 100000.0


def text_lines(data: bytes) -> io.StringIO:
    """A text stream over UTF-8 ``data`` for :func:`read_housing_table`."""
    return io.StringIO(data.decode("utf-8"), newline="")


def require_keys(archive, keys: Sequence[str], name: str) -> None:
    """Raises unless ``archive`` (an npz file or a dict of arrays) holds every key in ``keys``."""
    present = list(archive.files if hasattr(archive, "files") else archive)
    missing = [k for k in keys if k not in present]
    if missing:
        raise ValueError(f"{name}: missing arrays {missing}; expected {list(keys)} (found {present})")


def read_npz_with_objects(path: str | Path) -> dict[str, np.ndarray]:
    """Reads an ``.npz`` whose arrays may be object arrays (e.g. Keras' ``imdb.npz``: ragged lists of word
    indices) without ``allow_pickle=True``: object arrays go through the array-only unpickler, so the file
    cannot run code. Returns ``{name: array}``."""
    path = Path(path)
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                key = member[: -len(".npy")] if member.endswith(".npy") else member
                with archive.open(member) as stream:
                    version = np.lib.format.read_magic(stream)
                    npy = np.lib.format
                    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                    _, _, dtype = read_header(stream)
                    if dtype.hasobject:
                        arrays[key] = np.asarray(_ArrayOnlyUnpickler(stream, encoding="latin1").load())
                        continue
                with archive.open(member) as stream:
                    arrays[key] = np.lib.format.read_array(stream, allow_pickle=False)
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, OSError) as err:
        raise ValueError(f"{path}: not a readable .npz archive ({type(err).__name__}: {err})") from err
    return arrays
