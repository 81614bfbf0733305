"""Builds fnnet/data/embedded/mnist_small.npz (+ its README.md) from the four canonical MNIST IDX files.

The subset: the first 500 training images of each digit (5,000) and the first 100 test images of each
digit (1,000), kept in file order. Deterministic: the same source files give a byte-identical npz.

Usage (from the repository root):
    python tools/build_mnist_small.py --source ../shared/data/mnist
"""
from __future__ import annotations

import argparse
import hashlib
import io
from pathlib import Path

import numpy as np

from fnnet.data import load_mnist

PER_CLASS = {"train": 500, "test": 100}
SOURCE_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
OUTPUT = Path(__file__).resolve().parents[1] / "fnnet" / "data" / "embedded"


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Sorted indices of the first ``per_class`` examples of each label (file order is kept)."""
    picked = [np.flatnonzero(labels == c)[:per_class] for c in range(10)]
    short = [c for c, idx in enumerate(picked) if len(idx) < per_class]
    if short:
        raise ValueError(f"labels {short} have fewer than {per_class} examples")
    return np.sort(np.concatenate(picked))


def build(source: Path, output: Path) -> dict:
    """Writes ``output/mnist_small.npz`` and ``output/README.md``; returns the facts the README states."""
    md5 = {name: hashlib.md5((source / name).read_bytes()).hexdigest() for name in SOURCE_FILES}
    full = load_mnist(source, source="files")
    arrays, counts = {}, {}
    for split, x, y in (("train", full.x_train, full.y_train), ("test", full.x_test, full.y_test)):
        index = first_per_class(y, PER_CLASS[split])
        arrays.update({f"x_{split}": x[index], f"y_{split}": y[index].astype(np.uint8),
                       f"{split}_index": index.astype(np.int32)})
        counts[split] = (len(index), int(index.max()))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    data = buffer.getvalue()
    output.mkdir(parents=True, exist_ok=True)
    (output / "mnist_small.npz").write_bytes(data)
    facts = {"md5": md5, "counts": counts, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (output / "README.md").write_text(readme(facts), encoding="utf-8")
    return facts


def readme(facts: dict) -> str:
    source_rows = "\n".join(f"| {name} | {digest} |" for name, digest in facts["md5"].items())
    (n_train, last_train), (n_test, last_test) = facts["counts"]["train"], facts["counts"]["test"]
    return f"""# mnist_small.npz: a small real MNIST subset shipped with fnnet

`fnnet.data.load("mnist_small")` reads this file, so examples, notebooks and tests run offline.

## Content
| array | shape | dtype | what |
|---|---|---|---|
| x_train | ({n_train}, 28, 28, 1) | uint8 | the first {PER_CLASS['train']} training images of each digit, file order |
| y_train | ({n_train},) | uint8 | their labels (the loader returns int32) |
| x_test | ({n_test}, 28, 28, 1) | uint8 | the first {PER_CLASS['test']} t10k images of each digit, file order |
| y_test | ({n_test},) | uint8 | their labels |
| train_index | ({n_train},) | int32 | row of each image in the official training file (last: {last_train}) |
| test_index | ({n_test},) | int32 | row of each image in the official t10k file (last: {last_test}) |

Pixels are unchanged (0-255, background 0). The file is {facts['bytes']:,} bytes,
sha256 `{facts['sha256']}`.

## Provenance
Cut from the four canonical MNIST files (LeCun, Cortes, Burges), verified md5-identical to the canonical
list in the project's offline copy (`shared/data/mnist/SOURCE.md`):

| source file | md5 |
|---|---|
{source_rows}

## How it was built
From the repository root, with the source folder holding the four files:

    PYTHONPATH=. python tools/build_mnist_small.py --source ../shared/data/mnist

The build is deterministic (no randomness; npz entries carry fixed timestamps): the same source files give
this file byte for byte. The test `tests/test_data_shared.py` rebuilds it when the source is present
and compares.

MNIST is made available by Yann LeCun and Corinna Cortes under the Creative Commons Attribution-Share
Alike 3.0 license.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="folder with the four MNIST .gz files")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"output folder (default {OUTPUT})")
    args = parser.parse_args()
    facts = build(args.source, args.output)
    print(f"wrote {args.output / 'mnist_small.npz'}: {facts['bytes']:,} bytes, sha256 {facts['sha256']}")


if __name__ == "__main__":
    main()
