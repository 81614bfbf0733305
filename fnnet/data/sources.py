"""Where datasets come from: the data directory, the cache directory, tensorflow-datasets.

Resolution order for every file-backed dataset (see :func:`resolve`):

1. the data directory: the ``data_dir`` argument, else ``$FNNET_DATA_DIR``, else ``~/.fnnet/data``. Files
   may sit in a per-dataset folder (``<data_dir>/mnist/...``) or directly in ``<data_dir>``; some
   datasets also look in a standard system location (Debian's ``/usr/share/datasets/fashion-mnist``);
2. tensorflow-datasets, when it is installed (it downloads where there is a network);
3. otherwise :class:`DatasetNotFoundError`, which lists the folders searched and the files to put there.

There is never a fallback to other data.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from fnnet._checks import check_choice
from fnnet.data.dataset import Dataset

DATA_DIR_ENV = "FNNET_DATA_DIR"
CACHE_DIR_ENV = "FNNET_CACHE_DIR"
SOURCES = ("auto", "files", "tfds")


class DatasetNotFoundError(FileNotFoundError, ValueError):
    """No source holds the dataset. The message says which files to put where.

    It is both a ``FileNotFoundError`` and a ``ValueError`` (the library's bad-input error)."""


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir``, else ``$FNNET_DATA_DIR``, else ``~/.fnnet/data``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".fnnet" / "data"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache directory for parsed data: ``cache_dir``, else ``$FNNET_CACHE_DIR``, else ``~/.fnnet/cache``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".fnnet" / "cache"


@dataclass(frozen=True)
class FileForm:
    """One on-disk form of a dataset (e.g. "the four IDX files" or "Keras' mnist.npz").

    ``locate(folder)`` returns what to read in ``folder`` (a path, or a dict of paths) or None when the form
    is absent there; it raises ``ValueError`` when the form is only partly present (naming what is missing).
    ``read(found)`` parses it into a :class:`Dataset`. ``description`` lists the files, for error messages.
    """

    description: str
    locate: Callable[[Path], Any]
    read: Callable[[Any], Dataset]


def first_existing(folder: Path, names: Sequence[str]) -> Path | None:
    """The first ``folder / name`` that is a file, or None."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def locate_parts(folder: Path, parts: dict[str, Sequence[str]]) -> dict[str, Path] | None:
    """Finds a multi-file form: ``parts`` maps a part to its accepted file names. Returns ``{part: path}``
    when all parts are present, None when none is, and raises ``ValueError`` when only some are."""
    found = {part: first_existing(folder, names) for part, names in parts.items()}
    missing = [names[0] for part, names in parts.items() if found[part] is None]
    if len(missing) == len(parts):
        return None
    if missing:
        present = sorted(p.name for p in found.values() if p is not None)
        raise ValueError(f"{folder}: incomplete dataset: found {present} but not {missing}")
    return found


def import_tfds():
    """``tensorflow_datasets`` when it is installed, else None (imported lazily: it pulls in TensorFlow)."""
    if importlib.util.find_spec("tensorflow_datasets") is None:
        return None
    return importlib.import_module("tensorflow_datasets")


def tfds_splits(tfds, tfds_name: str) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """``((x_train, y_train), (x_test, y_test))`` numpy arrays of a supervised tfds dataset, whole splits
    at once (``batch_size=-1``). Downloads into tfds' own data dir when the data is not there yet."""
    train, test = tfds.as_numpy(tfds.load(tfds_name, split=["train", "test"], batch_size=-1, as_supervised=True))
    return train, test


def resolve(
    title: str,
    *,
    data_dir: str | os.PathLike | None,
    subdirs: Sequence[str],
    forms: Sequence[FileForm],
    extra_dirs: Sequence[Path] = (),
    from_tfds: Callable[[Any], Dataset] | None = None,
    source: str = "auto",
) -> Dataset:
    """Loads a dataset from the first place that has it (see the module docstring for the order).

    Args:
      title: dataset name for messages, e.g. "MNIST".
      data_dir: see :func:`data_root`. subdirs: per-dataset folder names tried inside it, before the data
        directory itself. forms: the file forms, in order of preference. extra_dirs: system locations
        searched after the data directory. from_tfds: builds the dataset from the ``tensorflow_datasets``
        module (None: tfds does not have it). source: ``"auto"`` (files, then tfds), ``"files"`` or ``"tfds"``.
    Raises:
      DatasetNotFoundError: nothing found; ValueError: files found but corrupt, or bad ``source``.
    """
    check_choice("source", source, SOURCES)
    root = data_root(data_dir)
    folders = [root / s for s in subdirs] + [root] + list(extra_dirs)
    if source in ("auto", "files"):
        for folder in folders:
            if not folder.is_dir():
                continue
            for form in forms:
                found = form.locate(folder)
                if found is not None:
                    return form.read(found)
    if from_tfds is not None and source in ("auto", "tfds"):
        tfds = import_tfds()
        if tfds is not None:
            return from_tfds(tfds)
    if from_tfds is None:
        tfds_note = f"{title} is not in tensorflow-datasets."
    else:
        tfds_note = "tensorflow-datasets is not installed (pip install 'fnnet[tfds]' to download it)."
    if source == "tfds":
        raise DatasetNotFoundError(f"source='tfds' was asked for {title}, but {tfds_note}")
    searched = "\n".join(f"  {folder}" + ("" if folder.is_dir() else "  (does not exist)") for folder in folders)
    wanted = "\n".join(f"  - {form.description}" for form in forms)
    raise DatasetNotFoundError(
        f"{title} was not found. Searched:\n{searched}\nPut one of these forms into {root / subdirs[0]} "
        f"(or pass data_dir=..., or set ${DATA_DIR_ENV}):\n{wanted}\n{tfds_note}"
    )
