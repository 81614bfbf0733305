"""Reference run of seed 003's TensorFlow MNIST MLP in PyTorch, to compare with ``fnnet run jhui_mlp``.

The seed's program, step for step: 784 -> 256 -> 100 -> 10 relu; kernels ``tf.truncated_normal(stddev =
sqrt(2 / fan_in))`` (redrawn outside +-2 sigma, not rescaled: ``nn.init.trunc_normal_`` with a = -2 sigma,
b = 2 sigma), zero biases; loss ``mean(softmax_cross_entropy) + lmbda * sum(l2_loss(W))`` with
``l2_loss(W) = sum(W**2) / 2`` and ``lmbda = 5e-5``; Adam 1e-3 (betas 0.9/0.999, eps 1e-8); 10,000 steps of
``next_batch(100)`` over the 55,000 training images after the first 5,000 (read_data_sets' validation
split), reshuffled every pass; test accuracy on the 10,000 test images (the seed prints 0.9816). The same
arrays as the recipe, loaded with ``fnnet.data.load``.

Needs PyTorch (e.g. the CPU wheel), which fnnet does not depend on.
Usage (from the repository root):
    PYTHONPATH=. python tools/torch_jhui_mlp.py --data-dir ../shared/data --seeds 0 1 2 3 4
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np

from fnnet.data import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder holding mnist/ (as for fnnet run)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="torch.manual_seed values")
    parser.add_argument("--iterations", type=int, default=10_000)
    args = parser.parse_args()

    import torch
    from seed_torch_jhui_mlp import train  # the seed's network and loop, one copy for both scripts

    data = load("mnist", data_dir=args.data_dir)
    x = torch.from_numpy(data.x_train.reshape(len(data.x_train), -1).astype(np.float32) / 255.0)
    y = torch.from_numpy(data.y_train.astype(np.int64))
    x_test = torch.from_numpy(data.x_test.reshape(len(data.x_test), -1).astype(np.float32) / 255.0)
    y_test = torch.from_numpy(data.y_test.astype(np.int64))
    final = []
    for seed in args.seeds:
        accuracy = train(x[5_000:], y[5_000:], x_test, y_test, seed=seed, iterations=args.iterations)
        final.append(accuracy)
        print(f"seed {seed}: test accuracy after {args.iterations:,} iterations {100 * accuracy:.2f}%", flush=True)
    print(f"PyTorch {torch.__version__}: test accuracy " + " / ".join(f"{100 * v:.2f}%" for v in final)
          + (f", median {100 * statistics.median(final):.2f}%, mean {100 * statistics.mean(final):.2f}% "
             f"± {100 * statistics.stdev(final):.2f}%" if len(final) > 1 else ""))


if __name__ == "__main__":
    main()
