"""IMDB movie reviews (Maas et al. 2011) as multi-hot word vectors, the form of Deep Learning with Python.

Built from the review text (``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``): lower-case, ``<br />``
removed, words are runs of letters/digits with inner apostrophes (``don't``); the vocabulary is every word
of the *training* reviews ranked by how often it occurs there (ties alphabetically). Column ``j`` of the
multi-hot matrix is the word of rank ``j`` (0 = most frequent), so ``num_words=10000`` keeps the 10,000
most frequent training words. Keras' ``imdb.load_data(num_words=10000)`` + DLwP's ``vectorize_sequences``
differ in detail: Keras ranked its own tokenization over all reviews and reserves columns 0-3 (padding,
start, out-of-vocabulary, unused), so its matrix has 9,996 word columns. Keras' pre-tokenized ``imdb.npz``
is also read (its indices are ranks, 1 = most frequent, so its columns follow the same convention).

Tokenizing the 50,000 reviews takes seconds, so the result is cached in the cache directory
(:func:`fnnet.data.sources.cache_root`), keyed by the source file's path, size and modification time.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import tarfile
import tempfile
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from fnnet._checks import check_positive
from fnnet.data import formats, integrity
from fnnet.data.dataset import Dataset
from fnnet.data.integrity import Checks
from fnnet.data.sources import FileForm, cache_root, first_existing, resolve, tfds_splits

SPLITS = ("train", "test")
CLASS_NAMES = ("neg", "pos")
TARBALLS = ("aclImdb_v1.tar.gz", "aclImdb_labeled.tar.gz", "aclImdb.tar.gz")
# Bump when tokenization or the cache layout changes, so stale caches are not reused.
_CACHE_VERSION = 1
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_REVIEW_PATH = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


def tokenize(text: str) -> list[str]:
    """The words of one review: lower-cased, ``<br />`` line breaks removed, runs of letters/digits
    with inner apostrophes kept together (``"Don't!<br />OK"`` -> ``["don't", "ok"]``)."""
    return _WORD.findall(text.lower().replace("<br />", " "))


@dataclass(frozen=True)
class _Split:
    """Reviews of one split as their distinct word ranks: review ``i`` has ``ranks[offsets[i]:offsets[i+1]]``."""

    ranks: np.ndarray  # (total,) int64, 0-based ranks
    offsets: np.ndarray  # (n + 1,) int64
    labels: np.ndarray  # (n,) int32, 0 = negative, 1 = positive


@dataclass(frozen=True)
class _Corpus:
    train: _Split
    test: _Split
    vocabulary: tuple[str, ...] | None  # word of each rank, None when unknown (imdb.npz without word index)


def _pack(rank_lists: list[np.ndarray], labels: list[int]) -> _Split:
    lengths = np.fromiter((len(r) for r in rank_lists), dtype=np.int64, count=len(rank_lists))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ranks = np.concatenate(rank_lists) if rank_lists else np.zeros(0, np.int64)
    return _Split(ranks.astype(np.int64), offsets, np.asarray(labels, np.int32))


def _ranks_of_reviews(word_sets: list[set[str]], rank: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(ranks, offsets)``: the ranks of each review's known words, concatenated review after review, in
    one C-level dict lookup pass over all words (``map(rank.get, ...)``)."""
    lengths = np.fromiter(map(len, word_sets), dtype=np.int64, count=len(word_sets))
    flat = np.fromiter(
        map(rank.get, itertools.chain.from_iterable(word_sets), itertools.repeat(-1)), dtype=np.int64,
        count=int(lengths.sum()),
    )
    review = np.repeat(np.arange(len(word_sets)), lengths)
    known = flat >= 0  # test reviews contain words the training vocabulary does not
    offsets = np.concatenate([[0], np.cumsum(np.bincount(review[known], minlength=len(word_sets)))])
    return flat[known], offsets


def _corpus_from_texts(texts: dict[str, list[tuple[int, str]]]) -> _Corpus:
    """``texts[split]`` is a list of ``(label, review)``; builds the training vocabulary and the ranks."""
    tokens = {split: [tokenize(text) for _, text in texts[split]] for split in SPLITS}
    counts = Counter()
    for words in tokens["train"]:
        counts.update(words)
    vocabulary = sorted(counts, key=lambda w: (-counts[w], w))
    rank = {w: i for i, w in enumerate(vocabulary)}
    splits = {}
    for split in SPLITS:
        ranks, offsets = _ranks_of_reviews([set(words) for words in tokens[split]], rank)
        splits[split] = _Split(ranks, offsets, np.asarray([label for label, _ in texts[split]], np.int32))
    return _Corpus(splits["train"], splits["test"], tuple(vocabulary))


def _sorted_texts(found: Iterable[tuple[str, str, int, str]], where: str) -> dict[str, list[tuple[int, str]]]:
    """Groups ``(split, "pos"|"neg", review_id, text)`` into ``{split: [(label, text)]}`` in a fixed order
    (negatives then positives, by review id) and checks that every folder had reviews."""
    grouped: dict[tuple[str, str], list[tuple[int, str]]] = {(s, c): [] for s in SPLITS for c in CLASS_NAMES}
    for split, polarity, review_id, text in found:
        grouped[(split, polarity)].append((review_id, text))
    empty = [f"aclImdb/{s}/{c}/" for (s, c), reviews in grouped.items() if not reviews]
    if empty:
        raise ValueError(f"{where}: no reviews in {empty}; expected <id>_<rating>.txt files in each of "
                         "aclImdb/{train,test}/{pos,neg}/")
    return {
        split: [(label, text) for label, c in enumerate(CLASS_NAMES) for _, text in sorted(grouped[(split, c)])]
        for split in SPLITS
    }


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{name}: review is not UTF-8 text ({err})") from err


def _review_files(root: Path) -> list[Path]:
    return sorted(root.glob("t*/[pn][oe][sg]/*_*.txt"))


def _texts_from_dir(root: Path) -> dict[str, list[tuple[int, str]]]:
    def found():
        for path in _review_files(root):
            match = _REVIEW_PATH.search("aclImdb/" + path.relative_to(root).as_posix())
            if match:
                yield match[1], match[2], int(match[3]), _decode(path.read_bytes(), str(path))

    return _sorted_texts(found(), str(root))


def _texts_from_tar(path: Path) -> dict[str, list[tuple[int, str]]]:
    def found():
        with tarfile.open(path, "r:*") as tar:
            for member in tar:  # streamed in archive order: one pass over the gzip data
                match = _REVIEW_PATH.search(member.name)
                if match and member.isfile():
                    text = _decode(tar.extractfile(member).read(), f"{path}:{member.name}")
                    yield match[1], match[2], int(match[3]), text

    try:
        return _sorted_texts(found(), str(path))
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"{path}: corrupt or truncated tar archive ({err})") from err


def _corpus_from_keras_npz(path: Path) -> _Corpus:
    arrays = formats.read_npz_with_objects(path)
    formats.require_keys(arrays, ("x_train", "y_train", "x_test", "y_test"), str(path))
    splits = {}
    for split in SPLITS:
        sequences, labels = arrays[f"x_{split}"], np.asarray(arrays[f"y_{split}"])
        if len(sequences) != len(labels):
            raise ValueError(f"wrong counts in {path}: x_{split} has {len(sequences)} reviews, y_{split} {len(labels)}")
        rank_lists = []
        for i, seq in enumerate(sequences):
            seq = np.asarray(seq, dtype=np.int64)
            if seq.ndim != 1 or (seq.size and seq.min() < 1):
                raise ValueError(f"{path}: x_{split}[{i}] must be a list of word ranks >= 1")
            rank_lists.append(seq - 1)  # Keras ranks start at 1; columns start at 0
        if labels.size and not np.isin(labels, (0, 1)).all():
            raise ValueError(f"{path}: y_{split} must hold 0/1 labels")
        splits[split] = _pack(rank_lists, labels.tolist())
    vocabulary = None
    index_file = path.with_name("imdb_word_index.json")
    if index_file.is_file():
        word_rank = json.loads(index_file.read_text(encoding="utf-8"))
        by_rank = {int(r): w for w, r in word_rank.items()}
        vocabulary = tuple(by_rank.get(r, "") for r in range(1, max(by_rank) + 1))
    return _Corpus(splits["train"], splits["test"], vocabulary)


# --- cache ---------------------------------------------------------------------------------------


def _source_fingerprint(path: Path) -> dict:
    files = _review_files(path) if path.is_dir() else [path]
    stats = [f.stat() for f in files]
    return {
        "path": str(path.resolve()),
        "files": len(stats),
        "bytes": sum(s.st_size for s in stats),
        "mtime_ns": max((s.st_mtime_ns for s in stats), default=0),
        "version": _CACHE_VERSION,
    }


def _cache_file(path: Path, cache_dir) -> Path:
    digest = hashlib.sha256(json.dumps(_source_fingerprint(path), sort_keys=True).encode()).hexdigest()[:20]
    return cache_root(cache_dir) / f"imdb-{digest}.npz"


def _save_cache(corpus: _Corpus, target: Path) -> None:
    arrays = {"vocabulary": np.frombuffer("\n".join(corpus.vocabulary).encode("utf-8"), np.uint8)}
    for split in SPLITS:
        part = getattr(corpus, split)
        arrays.update({f"{split}_ranks": part.ranks.astype(np.uint32), f"{split}_offsets": part.offsets,
                       f"{split}_labels": part.labels})
    partial = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written to a temporary name and renamed, so a reader never sees a half-written cache.
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as tmp:
            partial = Path(tmp.name)
            np.savez(tmp, **arrays)
        os.replace(partial, target)
    except OSError as err:
        if partial is not None:
            partial.unlink(missing_ok=True)
        warnings.warn(
            f"could not write the IMDB cache {target} ({err}); the next load will tokenize again", stacklevel=2
        )


def _load_cache(target: Path) -> _Corpus | None:
    if not target.is_file():
        return None
    try:
        with np.load(target, allow_pickle=False) as archive:
            splits = {
                split: _Split(archive[f"{split}_ranks"].astype(np.int64), archive[f"{split}_offsets"],
                              archive[f"{split}_labels"])
                for split in SPLITS
            }
            vocabulary = tuple(archive["vocabulary"].tobytes().decode("utf-8").split("\n"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        warnings.warn(f"ignoring the unreadable IMDB cache {target} ({err}); tokenizing again", stacklevel=2)
        return None
    return _Corpus(splits["train"], splits["test"], vocabulary)


def _cached(read_texts, path: Path, cache: bool, cache_dir) -> _Corpus:
    target = _cache_file(path, cache_dir) if cache else None
    corpus = _load_cache(target) if cache else None
    if corpus is None:
        corpus = _corpus_from_texts(read_texts(path))
        if cache:
            _save_cache(corpus, target)
    return corpus


# --- multi-hot -----------------------------------------------------------------------------------


def _multi_hot(part: _Split, num_words: int, dtype, row_of_review: np.ndarray) -> np.ndarray:
    """``(n, num_words)`` 0/1 matrix; review ``i`` goes to row ``row_of_review[i]``."""
    rows = np.repeat(row_of_review, np.diff(part.offsets))
    keep = part.ranks < num_words
    x = np.zeros((len(part.labels), num_words), dtype=dtype)
    x[rows[keep], part.ranks[keep]] = 1
    return x


def _dataset(corpus: _Corpus, *, num_words: int, dtype, shuffle_seed: int | None, source: str) -> Dataset:
    arrays = {}
    # Keras' load_data shuffles train then test with one RandomState(113); doing the same mixes the
    # classes, so DLwP-style slicing (x_train[:10000] as validation) gets both labels.
    rng = None if shuffle_seed is None else np.random.RandomState(shuffle_seed)
    for split in SPLITS:
        part = getattr(corpus, split)
        n = len(part.labels)
        order = np.arange(n)
        if rng is not None:
            rng.shuffle(order)  # row j of the result is review order[j]
        row_of_review = np.empty(n, dtype=np.int64)
        row_of_review[order] = np.arange(n)
        arrays[split] = (_multi_hot(part, num_words, dtype, row_of_review), part.labels[order])
    vocabulary = corpus.vocabulary
    feature_names = None
    if vocabulary is not None:
        feature_names = tuple(vocabulary[:num_words]) + ("",) * max(0, num_words - len(vocabulary))
    return Dataset(
        x_train=arrays["train"][0], y_train=arrays["train"][1], x_test=arrays["test"][0], y_test=arrays["test"][1],
        name="imdb", class_names=CLASS_NAMES, feature_names=feature_names, source=source,
    )


def _check_counts(corpus: _Corpus, where: str, *, text: bool, allow_partial: bool) -> None:
    """12,500 reviews in each ``aclImdb/{train,test}/{pos,neg}/`` folder (``text``: a folder or tarball, so
    a partial extraction names the folder), else 25,000 per split."""
    checks, expected = Checks("IMDB", allow_partial=allow_partial), integrity.EXPECTED_COUNTS["IMDB"]
    for split in SPLITS:
        labels = getattr(corpus, split).labels
        if text:
            for label, polarity in enumerate(CLASS_NAMES):
                checks.count(f"{where}: aclImdb/{split}/{polarity}/", "reviews", int(np.sum(labels == label)),
                             expected["class"])
        else:
            checks.count(f"{where} {split}", "reviews", len(labels), expected[split])
    checks.finish()


def _locate_text_dir(folder: Path) -> Path | None:
    for root in (folder / "aclImdb", folder):
        if (root / "train").is_dir() and (root / "test").is_dir():
            return root
    return None


def load_imdb(
    data_dir: str | os.PathLike | None = None,
    *,
    num_words: int = 10000,
    dtype=np.uint8,
    shuffle_seed: int | None = 113,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    source: str = "auto",
    allow_partial: bool = False,
) -> Dataset:
    """IMDB sentiment as multi-hot vectors over the ``num_words`` most frequent training words.

    Returns ``x_train (25000, num_words)`` and ``x_test (25000, num_words)`` of ``dtype`` (default uint8,
    0/1: the float32 form would take 1 GB per split; cast per batch), ``y_train``/``y_test (25000,)`` int32
    (0 = negative, 1 = positive), ``feature_names`` = the word of each column (when known). The reviews are
    shuffled like Keras' ``load_data`` (``np.random.RandomState(shuffle_seed)``, train then test); None
    keeps file order (negatives, then positives, by review id).

    Files, in ``<data_dir>/imdb/`` or ``<data_dir>/``: the ``aclImdb/`` folder, its unextracted tarball
    (``aclImdb_v1.tar.gz`` or ``aclImdb_labeled.tar.gz``), or Keras' ``imdb.npz`` (+ optional
    ``imdb_word_index.json``). Then tensorflow-datasets (``imdb_reviews``). Text sources are tokenized once
    and cached (``cache``, ``cache_dir``: see the module docstring).

    Other counts than 12,500 reviews per ``aclImdb/{train,test}/{pos,neg}/`` folder (25,000 per split in
    ``imdb.npz`` or tfds), e.g. a partly extracted folder or a tarball cut short, raise
    :class:`~fnnet.data.IncompleteDatasetError`; ``allow_partial=True`` loads them with a warning.
    """
    check_positive("num_words", num_words)
    if int(num_words) != num_words:
        raise ValueError(f"num_words must be a positive integer, got {num_words!r}")
    num_words = int(num_words)

    def build(corpus: _Corpus, where: str, *, text: bool = True) -> Dataset:
        _check_counts(corpus, where, text=text, allow_partial=allow_partial)
        return _dataset(corpus, num_words=num_words, dtype=dtype, shuffle_seed=shuffle_seed, source=where)

    def from_tfds(tfds) -> Dataset:
        texts = {}
        for split, (text, label) in zip(SPLITS, tfds_splits(tfds, "imdb_reviews"), strict=True):
            texts[split] = [(int(lab), t.decode("utf-8")) for t, lab in zip(text, label, strict=True)]
        return build(_corpus_from_texts(texts), "tfds:imdb_reviews", text=False)

    forms = [
        FileForm(
            "the aclImdb/ folder (aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt)",
            _locate_text_dir,
            lambda root: build(_cached(_texts_from_dir, root, cache, cache_dir), str(root)),
        ),
        FileForm(
            f"its tarball, not extracted ({' or '.join(TARBALLS)})",
            lambda folder: first_existing(folder, TARBALLS),
            lambda path: build(_cached(_texts_from_tar, path, cache, cache_dir), str(path)),
        ),
        FileForm(
            "Keras' imdb.npz (+ imdb_word_index.json for the words)",
            lambda folder: first_existing(folder, ["imdb.npz"]),
            lambda path: build(_corpus_from_keras_npz(path), str(path), text=False),
        ),
    ]
    return resolve("IMDB", data_dir=data_dir, subdirs=["imdb"], forms=forms, from_tfds=from_tfds, source=source)
