"""Times the data layer: dataset loading (MNIST, IMDB with a cold and a warm cache) and on-device
augmentation of a batch of 50 28x28x1 images under jit.

Usage (from the repository root):
    PYTHONPATH=. python tools/bench_data.py --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import jax

from fnnet.data import Augment, load, scale_pixels


def seconds(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def bench_loading(data_dir: Path, repeats: int) -> None:
    mnist = seconds(lambda: load("mnist", data_dir=data_dir), repeats)
    print(f"load('mnist'): median {statistics.median(mnist):.2f} s over {repeats} runs {[round(t, 2) for t in mnist]}")
    with tempfile.TemporaryDirectory() as cache:
        cold = seconds(lambda: load("imdb", data_dir=data_dir, cache_dir=cache), 1)[0]
        warm = seconds(lambda: load("imdb", data_dir=data_dir, cache_dir=cache), repeats)
    print(f"load('imdb'): {cold:.1f} s without cache (tokenizing 50,000 reviews, then caching), "
          f"median {statistics.median(warm):.2f} s from the cache {[round(t, 2) for t in warm]}")


def bench_augment(batches: int) -> None:
    images = scale_pixels(load("mnist_small").x_train[:50])
    for name, augment in [("cs4487", Augment.cs4487()), ("cs4487 + noise", Augment.cs4487(noise=True))]:
        step = jax.jit(augment)
        start = time.perf_counter()
        step.lower(jax.random.key(0), images).compile()
        compile_s = time.perf_counter() - start
        keys = jax.random.split(jax.random.key(1), batches)
        for key in keys[:50]:  # warm-up: thread pools, caches
            step(key, images).block_until_ready()
        blocks = []
        for _ in range(3):
            start = time.perf_counter()
            for key in keys:
                out = step(key, images)
            out.block_until_ready()
            blocks.append((time.perf_counter() - start) / batches * 1e3)
        per_batch_ms = statistics.median(blocks)
        print(f"Augment.{name}: {per_batch_ms:.2f} ms per batch of 50x28x28x1 under jit "
              f"(median of 3 x {batches} calls; compile {compile_s:.2f} s) on {jax.devices()[0].platform}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="folder with mnist/ and imdb/ (loading is skipped without it)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=500)
    args = parser.parse_args()
    if args.data_dir is not None:
        bench_loading(args.data_dir, args.repeats)
    bench_augment(args.batches)


if __name__ == "__main__":
    main()
