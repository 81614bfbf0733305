"""Training throughput of ``fnnet.fit`` data-parallel over 1, 2, 4, 8 devices.

    python benchmarks/data_parallel.py                       # forced CPU devices, MLP on mnist_small
    python benchmarks/data_parallel.py --platform gpu --devices 1   # a real accelerator (as many as exist)

On CPU every configuration runs in its own process started with
``XLA_FLAGS=--xla_force_host_platform_device_count=D`` (XLA fixes the device count at start-up), and
``fit(..., mesh=data_mesh())`` splits each batch over the D devices. Forced CPU devices share the
machine's cores, so on a small machine this measures the overhead of the split, not a speed-up. The
configurations are run round-robin ``--repeats`` times so that load from other processes spreads over
all of them; the table reports the median examples/second over all timed epochs and the min-max spread.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(args) -> dict:
    """One configuration, in this process: per-epoch seconds of epochs 2.. (epoch 1 compiles the
    partial last batch and the evaluation, so it is not timed)."""
    import jax
    import optax

    from fnnet import TrainOptions, distributed, fit
    from fnnet import models as M
    from fnnet.data import load, scale_pixels

    data = load("mnist_small")
    x, y = scale_pixels(data.x_train), data.y_train
    model = M.mlp([args.hidden, args.hidden, 10], flatten=True)
    if jax.device_count() < args.devices:
        raise SystemExit(f"asked for {args.devices} devices, {jax.default_backend()} has {jax.device_count()}")
    mesh = distributed.data_mesh(jax.devices()[: args.devices])
    state, history = fit(model, "softmax_cross_entropy", optax.adam(1e-3), (x, y), epochs=1 + args.epochs,
                         batch_size=args.batch_size, key=jax.random.key(0), verbose=0, devices=mesh,
                         options=TrainOptions(drop_remainder=True))
    jax.block_until_ready(state.params)
    examples = (len(x) // args.batch_size) * args.batch_size
    return {"devices": args.devices, "backend": jax.default_backend(), "epoch_seconds": history.epoch_times[1:],
            "examples_per_epoch": examples, "compile_seconds": history.compile_time}


def _run_child(args, devices: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if args.platform == "cpu":
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
        env["JAX_PLATFORMS"] = "cpu"
    cmd = [sys.executable, __file__, "--child", "--devices", str(devices), "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size), "--hidden", str(args.hidden)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", default="1,2,4,8", help="comma-separated device counts")
    parser.add_argument("--platform", default="cpu", choices=["cpu", "gpu", "tpu"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per run (after one untimed)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--out", type=Path, help="write the measurements as JSON here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.devices = int(args.devices)
        print(json.dumps(measure(args)))
        return

    counts = [int(d) for d in args.devices.split(",")]
    load_before, started = _load(), time.time()
    runs = {d: [] for d in counts}
    for _ in range(args.repeats):  # round-robin: background load falls on every configuration alike
        for d in counts:
            runs[d].append(_run_child(args, d))
    load_after = _load()

    rows = []
    for d in counts:
        rates = [r["examples_per_epoch"] / s for r in runs[d] for s in r["epoch_seconds"]]
        rows.append({"devices": d, "median": statistics.median(rates), "min": min(rates), "max": max(rates),
                     "compile_seconds": statistics.median(r["compile_seconds"] for r in runs[d])})
    base = rows[0]["median"]
    print(f"MLP 784-{args.hidden}-{args.hidden}-10 on mnist_small (5,000 examples), batch {args.batch_size}, "
          f"{args.platform}, {args.repeats} runs x {args.epochs} timed epochs per device count; "
          f"load average (1/5/15 min) {load_before} before, {load_after} after, {time.time() - started:.0f} s")
    print("| devices | examples/s (median) | min - max | vs 1st row | compile s |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['devices']} | {r['median']:,.0f} | {r['min']:,.0f} - {r['max']:,.0f} | "
              f"{r['median'] / base:.2f}x | {r['compile_seconds']:.1f} |")
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
                                        "runs": runs, "load_before": load_before, "load_after": load_after}, indent=1))


if __name__ == "__main__":
    main()
