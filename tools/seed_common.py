"""What the ``tools/seed_*.py`` programs share: the command line, the one-line JSON report, and numpy
readers of the shared data files (so that the peer interpreter, with Keras or PyTorch but without fnnet,
reads the same arrays as fnnet's loaders: MNIST's IDX files, California housing's CSV, IMDB's text
tokenized as :mod:`fnnet.data.imdb` does).

Every program prints exactly one JSON line on stdout::

    {"program": "seed_planar", "seconds": 12.3, "settings": "...", "result": {...}}

or, when a framework it needs is not installed, ``{"program": ..., "skipped": "why"}`` (exit status 0).
``seconds`` is the wall time of the whole program after its imports: loading the data included,
process start-up and imports not.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import json
import os
import re
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

import numpy as np


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data-dir", default=os.environ.get("FNNET_DATA_DIR", "../shared/data"),
                   help="folder holding mnist/, imdb/, california_housing/ (default $FNNET_DATA_DIR or ../shared/data)")
    p.add_argument("--quick", action="store_true", help="a short run with the settings of the recipe's --quick")
    p.add_argument("--seed", type=int, default=0, help="the random seed of the program's own draws")
    return p


def report(program: str, start: float, settings: str, result: dict) -> None:
    print(json.dumps({"program": program, "seconds": round(time.perf_counter() - start, 3), "settings": settings,
                      "result": result}))


def require(program: str, *modules: str) -> None:
    """Prints the "skipped" line and exits 0 when one of ``modules`` is not installed."""
    missing = [m for m in modules if not _importable(m)]
    if missing:
        print(json.dumps({"program": program, "skipped": f"{', '.join(missing)} not installed in {sys.executable}"}))
        raise SystemExit(0)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist(data_dir) -> tuple:
    """``(x_train (60000, 28, 28) uint8, y_train, x_test (10000, 28, 28), y_test)``, as ``mnist.load_data()``."""
    root = Path(data_dir) / "mnist"
    return tuple(_idx(root / f"{name}-ubyte.gz") for name in
                 ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"))


def housing(data_dir) -> tuple:
    """``(MedInc, Target)`` float64 as sklearn's ``fetch_california_housing``: median income and the median
    house value in units of 100,000 (the shared copy is handson-ml2's housing.csv, the same 20,640 rows)."""
    with open(Path(data_dir) / "california_housing" / "housing.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    x = np.array([float(r["median_income"]) for r in rows])
    y = np.array([float(r["median_house_value"]) for r in rows]) / 100_000.0
    return x, y


_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_REVIEW = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


def imdb_multi_hot(data_dir, num_words: int = 10_000, limit: int = 0) -> tuple:
    """IMDB as DLwP's ``vectorize_sequences`` multi-hot float32 matrices over the ``num_words`` most frequent
    training words, tokenized as :func:`fnnet.data.tokenize` (lower case, ``<br />`` removed, words with
    inner apostrophes; ranks by count in the training reviews, ties alphabetically). Rows: negatives then
    positives by review id. ``limit`` > 0 keeps that many reviews per split (half of each class).
    Returns ``(x_train, y_train, x_test, y_test)``."""
    texts = {("train", 0): [], ("train", 1): [], ("test", 0): [], ("test", 1): []}
    with tarfile.open(Path(data_dir) / "imdb" / "aclImdb_labeled.tar.gz") as tar:
        for member in tar:
            match = _REVIEW.search(member.name)
            if match and member.isfile():
                split, polarity, review_id = match.group(1), match.group(2), int(match.group(3))
                texts[split, int(polarity == "pos")].append((review_id, tar.extractfile(member).read().decode()))
    words = {}
    for (split, label), reviews in texts.items():
        reviews.sort()
        if limit:
            del reviews[limit // 2:]
        words[split, label] = [_WORD.findall(t.lower().replace("<br />", " ")) for _, t in reviews]
    counts = Counter()
    for label in (0, 1):
        for review in words["train", label]:
            counts.update(review)
    rank = {w: i for i, w in enumerate(sorted(counts, key=lambda w: (-counts[w], w))[:num_words])}
    out = []
    for split in ("train", "test"):
        reviews = words[split, 0] + words[split, 1]
        x = np.zeros((len(reviews), num_words), np.float32)
        for i, review in enumerate(reviews):
            x[i, [rank[w] for w in set(review) if w in rank]] = 1.0
        out += [x, np.array([0] * len(words[split, 0]) + [1] * len(words[split, 1]), np.float32)]
    return tuple(out)
