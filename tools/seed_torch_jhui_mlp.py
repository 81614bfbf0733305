"""Seed 003's TensorFlow 1 MNIST MLP, replicated step for step in PyTorch (TensorFlow 1 is not
installable here): 784 -> 256 -> 100 -> 10 relu; kernels ``tf.truncated_normal(stddev = sqrt(2 /
fan_in))`` (redrawn outside +-2 sigma: ``nn.init.trunc_normal_`` with a = -2 sigma, b = 2 sigma), zero
biases; loss ``mean(softmax_cross_entropy) + lmbda * sum(l2_loss(W))``, ``l2_loss(W) = sum(W**2) / 2``,
``lmbda = 5e-5``; Adam 1e-3 (0.9, 0.999, 1e-8, bias-corrected as TF's); 10,000 steps of
``next_batch(100)`` over the 55,000 training images after the first 5,000 (read_data_sets' validation
split), reshuffled every pass; test accuracy on the 10,000 test images (the seed prints 0.9816).

``--quick``: the first 5,000 training images minus the first 500, 270 steps (the recipe's --quick).

Usage: /work/venv-peers/bin/python tools/seed_torch_jhui_mlp.py --data-dir ../shared/data
"""
import time

import numpy as np
from seed_common import mnist, parser, report, require

PROGRAM = "seed_torch_jhui_mlp"


def train(x_train, y_train, x_test, y_test, *, seed: int, iterations: int) -> float:
    """The seed's network and training loop on torch tensors (images flattened to 784, pixels / 255);
    returns the test accuracy. Shared with ``tools/torch_jhui_mlp.py`` (several seeds, fnnet's loader)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    lmbda, batch = 5e-5, 100
    layers = [nn.Linear(784, 256), nn.Linear(256, 100), nn.Linear(100, 10)]
    for layer in layers:
        std = (2.0 / layer.in_features) ** 0.5
        nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(layer.bias)
    model = nn.Sequential(layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    order, position = torch.randperm(len(x_train)), 0
    for _ in range(iterations):
        if position + batch > len(x_train):
            order, position = torch.randperm(len(x_train)), 0
        idx = order[position: position + batch]
        position += batch
        loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
        loss = loss + lmbda * sum((layer.weight**2).sum() / 2 for layer in layers)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return (model(x_test).argmax(1) == y_test).float().mean().item()


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    require(PROGRAM, "torch")
    import torch

    start = time.perf_counter()
    x_all, y_all, x_te, y_te = mnist(args.data_dir)
    (skip, iterations) = (500, 270) if args.quick else (5000, 10000)
    if args.quick:
        x_all, y_all = x_all[:5000], y_all[:5000]
    flat = lambda images: torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    x_train, y_train = flat(x_all[skip:]), torch.from_numpy(y_all[skip:].astype(np.int64))
    x_test, y_test = flat(x_te), torch.from_numpy(y_te.astype(np.int64))
    accuracy = train(x_train, y_train, x_test, y_test, seed=args.seed, iterations=iterations)
    report(PROGRAM, start, f"PyTorch {torch.__version__}, {len(x_train)} train, {iterations} steps of batch 100, "
           f"{torch.get_num_threads()} threads", {"test_accuracy": round(accuracy, 4)})


if __name__ == "__main__":
    main()
