"""What ``fnnet.diagnostics.TrainingMonitor`` costs inside ``fit``'s compiled step.

For each model it trains the same run (random data of MNIST's shape, Adam 1e-3, fit's default epoch
mode for the model) with no monitor, a monitor every 10 steps, the same without the update/weight ratio
(``update_ratio=False``), and a monitor on every step. The variants run interleaved, ``--repeats`` times
each. A run's cost is the median CPU time (``time.process_time``: the CPU this process used, much less
disturbed by the other processes of a shared machine than wall time) of its epochs after the first,
read by a callback at every epoch end, so compilation is excluded and fit's end-of-epoch work (handing
the statistics to the monitor) included. Each repeat gives each variant's ratio to the unmonitored run
of the same repeat; the table shows the median [min-max] of those ratios.

Usage (from the repository root):
    PYTHONPATH=. python benchmarks/monitor_overhead.py
    PYTHONPATH=. python benchmarks/monitor_overhead.py --models mlp --repeats 2 --epochs 3
"""
from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

import fnnet
from fnnet import models as M
from fnnet import optim
from fnnet.diagnostics import TrainingMonitor

MODELS = {
    # name: (builder, input shape, batch size)
    "mlp": (lambda: M.mlp([256, 100, 10]), (784,), 100),
    "deep_cnn": (M.cs4487_deep_cnn, (28, 28, 1), 50),
}
VARIANTS = {
    "no monitor": lambda: [],
    "every 10 steps": lambda: [TrainingMonitor(10)],
    "every 10, no update/weight": lambda: [TrainingMonitor(10, update_ratio=False)],
    "every step": lambda: [TrainingMonitor(1)],
}


class CpuClock(fnnet.Callback):
    """CPU seconds of each epoch (fit compiles before ``on_train_begin``)."""

    def on_train_begin(self, state, history):
        self.marks = [time.process_time()]

    def on_epoch_end(self, epoch, logs, state):
        self.marks.append(time.process_time())

    @property
    def epoch_seconds(self) -> list:
        return list(np.diff(self.marks))


def epoch_cpu_seconds(model, x, y, batch_size: int, epochs: int, callbacks) -> tuple[float, str]:
    """Median CPU seconds of the epochs after the first, and the epoch mode fit chose."""
    clock = CpuClock()
    _, history = fnnet.fit(model, "softmax_cross_entropy", optim.optimizer("adam", 1e-3), (x, y), epochs=epochs,
                           batch_size=batch_size, key=jax.random.key(0), callbacks=[*callbacks, clock], verbose=0)
    return float(np.median(clock.epoch_seconds[1:])), history.epoch_mode


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mlp,deep_cnn", help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--examples", type=int, default=6000, help="training examples (random data)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (the first is not timed)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats of every variant")
    args = parser.parse_args(argv)
    print(f"load average before: {' / '.join(f'{v:.1f}' for v in os.getloadavg())}")
    rng = np.random.RandomState(0)
    print("| model (batch) | epoch mode | monitor | CPU s per epoch | CPU time / unmonitored, median [min-max] |")
    print("|---|---|---|---|---|")
    for name in args.models.split(","):
        build, shape, batch_size = MODELS[name]
        x = rng.rand(args.examples, *shape).astype(np.float32)
        y = rng.randint(0, 10, args.examples)
        model = build()
        times = {variant: [] for variant in VARIANTS}
        for _ in range(args.repeats):
            for variant, callbacks in VARIANTS.items():
                seconds, mode = epoch_cpu_seconds(model, x, y, batch_size, args.epochs, callbacks())
                times[variant].append(seconds)
        for variant, values in times.items():
            ratios = np.asarray(values) / np.asarray(times["no monitor"])
            print(f"| {name} ({batch_size}) | {mode} | {variant} | {np.median(values):.4f} | "
                  f"{np.median(ratios):.2f} [{ratios.min():.2f}-{ratios.max():.2f}] |")
    print(f"load average after: {' / '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
