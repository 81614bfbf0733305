#!/usr/bin/env python
"""How equal "equal" is: population members against separate ``fit`` runs, chunked against unchunked
populations, sweep members against ``fit`` at their setting. Prints a markdown table of the largest
absolute and relative difference over every parameter and optimizer-state leaf after training.

    python benchmarks/equality.py            # two workloads: a 2-16-3 MLP on blobs, 784-128-10 on mnist_small

``member_layout="map"`` runs each member's own unbatched step, the same XLA program as ``fit``: bitwise
equal. ``"vmap"`` (and chunks of it) batch the members' products into one, whose float32 sums XLA may
order differently: equal up to rounding, and the gap grows with training (chaotic dynamics), which is
why the table gives the number of steps next to each bound.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import jax
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the blobs of the test suite

import fnnet
from fnnet import models as M
from fnnet import optim
from fnnet.data import load_mnist_small
from fnnet.ensemble import fit_ensemble
from fnnet.search import fit_sweep
from fnnet.tree import member

LOSS = "softmax_cross_entropy"


def blobs_workload():
    from blobs import blobs

    x, y = blobs(200, 0)
    return "2-16-3 MLP, blobs 200, Adam, 3 epochs of batch 32", M.mlp([16, 3], flatten=False), (x, y), 3, 32


def mnist_workload():
    data = load_mnist_small()
    x = data.x_train.reshape(len(data.x_train), -1).astype(np.float32) / 255.0
    return ("784-128-10 MLP, mnist_small 5,000, Adam, 3 epochs of batch 128", M.mlp([128, 10]),
            (x, data.y_train), 3, 128)


def leaves(state):
    return [np.asarray(v, np.float64) for v in jax.tree.leaves((state.params, state.opt_state))
            if np.issubdtype(np.asarray(v).dtype, np.floating)]


def gap(a, b) -> tuple[float, float]:
    """(max |a - b|, max |a - b| / max |b|) over the leaves of two states."""
    pairs = list(zip(leaves(a), leaves(b)))
    absolute = max(float(np.max(np.abs(x - y))) for x, y in pairs)
    relative = max(float(np.max(np.abs(x - y)) / max(float(np.max(np.abs(y))), 1e-30)) for x, y in pairs)
    return absolute, relative


def worst(gaps) -> tuple[float, float]:
    gaps = list(gaps)
    return max(g[0] for g in gaps), max(g[1] for g in gaps)


def measure(workload, members: int = 4) -> list:
    name, model, data, epochs, batch_size = workload
    common = dict(epochs=epochs, batch_size=batch_size, verbose=0)
    steps = epochs * -(-len(data[0]) // batch_size)
    keys = jax.random.split(jax.random.key(0), members)
    tx = optax.adam(1e-3)
    singles = [fnnet.fit(model, LOSS, tx, data, key=k, **common)[0] for k in keys]
    rows = []

    def ensemble(layout, chunk=None):
        options = fnnet.TrainOptions(member_layout=layout, chunk=chunk)
        return fit_ensemble(model, LOSS, tx, data, keys=keys, options=options, **common)[0]

    unchunked = {layout: ensemble(layout) for layout in ("vmap", "map")}
    for layout, state in unchunked.items():
        rows.append((name, steps, f"fit_ensemble member ({layout}) vs fit",
                     worst(gap(member(state, i), singles[i]) for i in range(members))))
    for layout in ("vmap", "map"):
        for chunk in (1, 2):
            rows.append((name, steps, f"fit_ensemble chunk={chunk} ({layout}) vs unchunked ({layout})",
                         gap(ensemble(layout, chunk), unchunked[layout])))
    rates = [3e-4, 1e-3, 3e-3]
    key = jax.random.key(1)
    fits = [fnnet.fit(model, LOSS, optim.optimizer("adam", lr), data, key=key, **common)[0] for lr in rates]
    for layout in ("vmap", "map"):
        swept, _ = fit_sweep(model, LOSS, "adam", data, hyperparams={"learning_rate": rates}, key=key,
                             options=fnnet.TrainOptions(member_layout=layout), **common)
        rows.append((name, steps, f"fit_sweep member ({layout}) vs fit at its learning rate",
                     worst(gap(member(swept, i), fits[i]) for i in range(len(rates)))))
    return rows


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    print(f"jax {jax.__version__} on {jax.default_backend()}, {platform.machine()}; float32; "
          "command: `python benchmarks/equality.py`\n")
    print("| workload | steps | comparison | max abs diff | max diff / max abs value |")
    print("|---|---|---|---|---|")
    for workload in (blobs_workload(), mnist_workload()):
        for name, steps, what, (absolute, relative) in measure(workload):
            print(f"| {name} | {steps} | {what} | {absolute:.1e} | {relative:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
