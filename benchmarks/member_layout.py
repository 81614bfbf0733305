#!/usr/bin/env python
"""How to run a population's member axis on this backend: ``jax.vmap`` (one batched program) or a
compiled loop over members (``lax.map``), for MLPs of growing size, 8 members, Adam, batch 100; warm
seconds per epoch, best of ``--repeats`` round-robin runs. ``fnnet.engine.choose_layout`` picks
``"map"`` on CPU when params x batch exceeds ``CPU_MAP_THRESHOLD``; this script is where that number
comes from.

    python benchmarks/member_layout.py [--members 8] [--steps 50] [--repeats 3]

The last row is the CS4487 deep CNN (10 steps of batch 50): convolutional members always run vmapped.
"""
from __future__ import annotations

import argparse
import itertools
import os
import time

import jax
import numpy as np

import fnnet
from fnnet import models as M
from fnnet.engine import CPU_MAP_THRESHOLD
from fnnet.ensemble import fit_ensemble

HIDDEN = ((16,), (32,), (64,), (128,), (256, 100), (512, 256), (1024, 512))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", type=int, default=None, help="only the MLP with this first hidden size")
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    x = rng.rand(args.steps * 100, 784).astype(np.float32)
    y = rng.randint(0, 10, len(x))
    print(f"{jax.devices()[0].platform}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"CPU_MAP_THRESHOLD = {CPU_MAP_THRESHOLD:.0e}")
    print(f"{'MLP':>16s} {'params x batch':>15s} {'vmap s':>8s} {'map s':>8s} {'map/vmap':>9s}")
    for hidden in (h for h in HIDDEN if args.only is None or h[0] == args.only):
        model = M.mlp([*hidden, 10], flatten=False)
        runs = {layout: (lambda layout=layout, model=model: fit_ensemble(
            model, "softmax_cross_entropy", fnnet.optim.optimizer("adam", 1e-3), (x, y), n_members=args.members,
            key=jax.random.key(0), epochs=1, batch_size=100, verbose=0,
            options=fnnet.TrainOptions(member_layout=layout))) for layout in ("vmap", "map")}
        times = {k: [] for k in runs}
        for fn in runs.values():
            fn()
        for _ in range(args.repeats):
            for k, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        sizes = [784, *hidden, 10]
        size = sum(a * b + b for a, b in itertools.pairwise(sizes)) * 100
        vmap, lmap = min(times["vmap"]), min(times["map"])
        print(f"{'-'.join(map(str, sizes)):>16s} {size:15.1e} {vmap:8.3f} {lmap:8.3f} {lmap / vmap:9.2f}")
    if args.only is None:
        print(_cnn_row(args))
    print(f"load after {os.getloadavg()[0]:.1f}")


def _cnn_row(args) -> str:
    """The CS4487 deep CNN (batch 50, 28x28 images), the same comparison."""
    rng = np.random.RandomState(0)
    x = rng.rand(10 * 50, 28, 28, 1).astype(np.float32)
    y = rng.randint(0, 10, len(x))
    model = M.cs4487_deep_cnn()
    times = {}
    for layout in ("vmap", "map"):
        run = lambda layout=layout: fit_ensemble(
            model, "softmax_cross_entropy", fnnet.optim.optimizer("adam", 1e-3), (x, y), n_members=args.members,
            key=jax.random.key(0), epochs=1, batch_size=50, verbose=0, options=fnnet.TrainOptions(member_layout=layout))
        run()
        best = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run()
            best.append(time.perf_counter() - t0)
        times[layout] = min(best)
    vmap, lmap = times["vmap"], times["map"]
    return f"{'CS4487 deep CNN':>16s} {'':>15s} {vmap:8.3f} {lmap:8.3f} {lmap / vmap:9.2f}"


if __name__ == "__main__":
    main()
