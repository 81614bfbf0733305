"""Throughput of vmapped ensembles (``fnnet.ensemble.fit_ensemble``) vs training the members one after
the other with ``fnnet.fit``, for the jhui seed's MNIST MLP (784-256-100-10 relu, Adam, batch 100).

For each ensemble size N it measures, side by side and interleaved (so that the load of a shared
machine hits all variants alike), repeated ``--repeats`` times:

* sequential: N separate ``fit`` runs (each compiles its own program, as a user would run them);
* vmapped: ONE ``fit_ensemble`` run of N members, each with its own data order;
* vmapped, shared order: the same with ``shared_order=True`` (every step feeds one batch to all members).

Throughput is examples x members per second of the fastest of epochs 2..4 (steady state: compilation
is done before the first epoch and the first epoch still warms caches; the fastest epoch is the one
least slowed by the other processes of a shared machine); "end to end" includes compilation
and everything ``fit``/``fit_ensemble`` do. The ratio is vmapped throughput / sequential throughput;
the table gives its median and [min, max] over the repeats, and the load averages seen.

Memory per member: the compiled vmapped epoch program's ``memory_analysis()`` (arguments + temporaries,
without the shared training data), divided by N; ``jax.devices()[0].memory_stats()`` when the backend
reports it (the CPU backend does not).

``--profile N`` instead prints the optimized HLO's dot operations of the vmapped train step and the
per-operation times of one epoch (``jax.profiler`` trace) for 1 member and for N members, the data
behind the "why" in README.md.

Usage (from the repository root):
    PYTHONPATH=. python benchmarks/ensemble.py --data-dir ../shared/data
    PYTHONPATH=. python benchmarks/ensemble.py --members 1,8 --repeats 1 --steps 100
    PYTHONPATH=. python benchmarks/ensemble.py --profile 8
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import models as M
from fnnet import optim
from fnnet.data import DatasetNotFoundError, load, scale_pixels
from fnnet.ensemble import fit_ensemble, init_members
from fnnet.train import _EpochPrograms, create_train_state, make_train_step

LOSS = "softmax_cross_entropy"
BATCH = 100
EPOCHS = 4  # epoch 1 warms up; the steady time is the fastest of the others


def mnist(data_dir) -> tuple[np.ndarray, np.ndarray, str]:
    """MNIST training images as (60000, 784) float32 in [0, 1] and labels; random data of the same
    shape when MNIST is not found (throughput does not depend on the pixel values)."""
    try:
        data = load("mnist", data_dir=data_dir, source="files")
        return scale_pixels(data.x_train).reshape(-1, 784), data.y_train, "MNIST"
    except DatasetNotFoundError:
        rng = np.random.default_rng(0)
        return rng.random((60000, 784), np.float32), rng.integers(0, 10, 60000).astype(np.int32), "random stand-in"


def _options(steps: int) -> dict:
    return dict(epochs=EPOCHS, batch_size=BATCH, options=fnnet.TrainOptions(steps_per_epoch=steps), verbose=0,
                metrics=["accuracy"])


def time_sequential(model, x, y, n: int, steps: int) -> tuple[float, float]:
    """``(steady seconds, end-to-end seconds)`` of N separate fits."""
    steady, start = 0.0, time.perf_counter()
    for i in range(n):
        _, history = fnnet.fit(model, LOSS, optim.optimizer("adam", 1e-3), (x, y), key=jax.random.key(i),
                               **_options(steps))
        steady += min(history.epoch_times[1:])
    return steady, time.perf_counter() - start


def time_ensemble(model, x, y, n: int, steps: int, shared_order: bool) -> tuple[float, float]:
    start = time.perf_counter()
    _, history = fit_ensemble(model, LOSS, optim.optimizer("adam", 1e-3), (x, y), n_members=n,
                              key=jax.random.key(0), shared_order=shared_order, **_options(steps))
    return min(history.epoch_times[1:]), time.perf_counter() - start


def memory_per_member(model, x, y, n: int) -> float:
    """Bytes per member of the vmapped epoch program (arguments + temporaries, shared data excluded)."""
    tx = optim.optimizer("adam", 1e-3)
    state = init_members(model, tx, jax.random.split(jax.random.key(0), n), x[:1])
    programs = _EpochPrograms(jax.vmap(make_train_step(model, LOSS, tx, metrics=["accuracy"])))
    programs.precompile("scan", state, x, y, (10, n, BATCH))
    analysis = next(iter(programs._compiled.values())).memory_analysis()
    data = x.nbytes + y.nbytes
    return (analysis.argument_size_in_bytes - data + analysis.temp_size_in_bytes) / n


def loadavg() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def benchmark(args) -> None:
    x, y, source = mnist(args.data_dir)
    x, y = jnp.asarray(x), jnp.asarray(y)
    model = M.jhui_mnist_mlp()
    sizes = [int(s) for s in args.members.split(",")]
    examples = args.steps * BATCH
    print(f"data: {source}; {args.steps} steps of {BATCH} per epoch; {args.repeats} repeats; "
          f"device {jax.devices()[0].device_kind}; load before {loadavg()}", flush=True)
    results = {n: collections.defaultdict(list) for n in sizes}
    loads = []
    for repeat in range(args.repeats):
        for n in sizes:
            seq = time_sequential(model, x, y, n, args.steps)
            own = time_ensemble(model, x, y, n, args.steps, shared_order=False)
            shared = time_ensemble(model, x, y, n, args.steps, shared_order=True)
            r = results[n]
            r["seq"].append(seq), r["own"].append(own), r["shared"].append(shared)
            loads.append(os.getloadavg()[0])
            print(f"repeat {repeat + 1} N={n}: sequential {n * examples / seq[0]:,.0f} ex*members/s, vmapped "
                  f"{n * examples / own[0]:,.0f} (x{seq[0] / own[0]:.2f}), shared order {n * examples / shared[0]:,.0f} "
                  f"(x{seq[0] / shared[0]:.2f}); end to end x{seq[1] / own[1]:.2f}; load {loadavg()}", flush=True)
    stats = jax.devices()[0].memory_stats()
    print(f"\njax.devices()[0].memory_stats(): {stats}")
    print("\n| N | sequential `fit` (ex·members/s) | vmapped (ex·members/s) | ratio, median [min, max] | "
          "shared order ratio | end-to-end ratio (incl. compile) | memory per member (MB) |")
    print("|---|---|---|---|---|---|---|")

    def spread(values):
        return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"

    for n in sizes:
        r = results[n]
        seq = statistics.median(t[0] for t in r["seq"])
        own = statistics.median(t[0] for t in r["own"])
        ratios = [s[0] / o[0] for s, o in zip(r["seq"], r["own"])]
        shared = [s[0] / o[0] for s, o in zip(r["seq"], r["shared"])]
        end_to_end = [s[1] / o[1] for s, o in zip(r["seq"], r["own"])]
        mb = memory_per_member(model, x, y, n) / 2**20
        print(f"| {n} | {n * examples / seq:,.0f} | {n * examples / own:,.0f} | {spread(ratios)} | {spread(shared)} | "
              f"{spread(end_to_end)} | {mb:.1f} |")
    print(f"\nload average (1 min) during the runs: min {min(loads):.1f}, max {max(loads):.1f}; after: {loadavg()}")


# ----------------------------------------------------------------------------------------------
# Profile: the HLO's dots and per-operation times


def _epoch_program(model, x, y, n: int, steps: int):
    tx = optim.optimizer("adam", 1e-3)
    step = make_train_step(model, LOSS, tx, metrics=["accuracy"])
    if n == 0:  # a single, unbatched member: what fit runs
        state = create_train_state(model, tx, jax.random.key(0), x[:1])
        programs, shape = _EpochPrograms(step), (steps, BATCH)
    else:
        state = init_members(model, tx, jax.random.split(jax.random.key(0), n), x[:1])
        programs, shape = _EpochPrograms(jax.vmap(step)), (steps, n, BATCH)
    programs.precompile("scan", state, x, y, shape)
    idx = jax.random.randint(jax.random.key(1), shape, 0, x.shape[0], jnp.int32)
    return programs, state, idx


def hlo_products(hlo: str) -> list[tuple[str, str, str, str]]:
    """Every matrix product of an optimized HLO module: ``(name, output shape, batch dims, backend)``.

    XLA:CPU runs a product either inside a YNNPACK fusion (``__ynn_fusion``) or as a plain ``dot``
    (a library call); a ``lhs_batch_dims`` entry means one batched product over the member axis."""
    ynn = set(re.findall(r"calls=%(\S+?),.*__ynn_fusion", hlo))
    products, computation = [], ""
    for line in hlo.splitlines():
        header = re.match(r"^(?:ENTRY )?%(\S+) ", line)
        if header and line.rstrip().endswith("{"):
            computation = header.group(1)
        match = re.search(r"%(\S+) = (f32\[[\d,]*\])\S* dot\(", line)
        if match:
            batch = re.search(r"lhs_batch_dims=\{([\d,]*)\}", line)
            products.append((match.group(1), match.group(2), batch.group(1) if batch else "-",
                             "YNNPACK fusion" if computation in ynn else "dot call"))
    return products


def _operation_times(programs, state, x, y, idx, runs: int = 3) -> tuple[collections.Counter, object]:
    """Per-operation microseconds of one epoch (the minimum over ``runs`` traced epochs, so that a
    preemption by another process does not count)."""
    best: dict = {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            with jax.profiler.trace(folder):
                state, _ = programs("scan", state, x, y, idx)
                jax.block_until_ready(state)
            events = json.load(gzip.open(next(Path(folder).rglob("*.trace.json.gz"))))["traceEvents"]
        totals = collections.Counter()
        for event in events:
            name = event.get("name", "")
            # XLA operations only: not Python frames ($...), runtime internals (A::B) or calls (f(...)).
            if event.get("ph") == "X" and not name.startswith("$") and "::" not in name and "(" not in name:
                totals[name] += event.get("dur", 0)
        for name, us in totals.items():
            best[name] = min(best.get(name, us), us)
    return collections.Counter(best), state


def profile(args) -> None:
    x, y, _ = mnist(args.data_dir)
    x, y = jnp.asarray(x), jnp.asarray(y)
    model = M.jhui_mnist_mlp()
    steps = 50
    print(f"load {loadavg()}")
    for n, label in ((0, "fit's step (1 member, unbatched)"), (args.profile, f"vmapped step, {args.profile} members")):
        programs, state, idx = _epoch_program(model, x, y, n, steps)
        hlo = next(iter(programs._compiled.values())).as_text()
        print(f"\n== {label}: matrix products in the optimized HLO (name, output, batch dims, backend)")
        for name, shape, batch, backend in hlo_products(hlo):
            print(f"  {name:22s} {shape:18s} batch dims {batch:3s} {backend}")
        state, _ = programs("scan", state, x, y, idx)
        jax.block_until_ready(state)
        totals, state = _operation_times(programs, state, x, y, idx)
        members = max(n, 1)
        print(f"== {label}: {sum(totals.values()) / steps / members:.0f} us of operations per step and member "
              f"(load {loadavg()}); the largest:")
        for name, us in totals.most_common(args.top):
            print(f"  {us / steps / members:8.0f} us/step/member  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("FNNET_DATA_DIR"),
                        help="folder with mnist/ (default $FNNET_DATA_DIR; random data of MNIST's shape without it)")
    parser.add_argument("--members", default="1,2,4,8,16", help="ensemble sizes N, comma-separated")
    parser.add_argument("--steps", type=int, default=200, help="steps per epoch (batches of 100)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", type=int, default=None, metavar="N",
                        help="print the HLO dots and per-op times for 1 and N members instead")
    parser.add_argument("--top", type=int, default=12, help="operations listed by --profile")
    args = parser.parse_args()
    if args.profile:
        profile(args)
    else:
        benchmark(args)


if __name__ == "__main__":
    main()
