"""Seed 003 (jhui, part 2): the TensorFlow MLP on MNIST.

784 -> 256 -> 100 -> 10 (relu), weights ``tf.truncated_normal(stddev=sqrt(2 / fan_in))`` (TF1: cut at 2
sigma and not rescaled), zero biases; loss ``reduce_mean(softmax_cross_entropy + lmbda * (l2_loss(W1) +
l2_loss(W2) + l2_loss(W3)))`` with ``lmbda = 5e-5`` and ``tf.nn.l2_loss(W) = sum(W**2) / 2`` (the mean of
a per-example constant is that constant: mean cross-entropy + lmbda * sum(W**2) / 2, the model's
``reg``); Adam 1e-3; 10,000 iterations of ``mnist.train.next_batch(100)``; test accuracy on the 10,000
test images: the seed prints 0.9816.

``input_data.read_data_sets`` keeps the first 5,000 training images as its validation set and trains on
the other 55,000, pixels scaled to [0, 1]; ``next_batch`` reshuffles every pass. Here: 550 steps per pass,
``max_steps=10,000`` (18 passes and 100 steps), validation accuracy logged after every pass.

The seed's 98.16% is one run; which side of 98% one run lands on depends on its key. ``repeats=N`` trains
N runs with keys ``key, fold_in(key, 1), ...`` and reports their median, each run and their mean ± sd (the
figures show the first run). Measured (2026-11-30):

* ``fnnet run jhui_mlp --data-dir DATA --set repeats=5``: 97.92 / 98.28 / 98.19 / 97.96 / 98.04%, median
  98.04%, mean 98.08% ± 0.15%; single runs with ``--seed 1`` ... ``--seed 4``: 98.12 / 97.69 / 97.95 / 97.75%;
* the seed's program in PyTorch 2.13 on the same arrays, ``PYTHONPATH=. python tools/torch_jhui_mlp.py
  --data-dir DATA --seeds 0 1 2 3 4``: 97.60 / 98.02 / 98.42 / 98.11 / 98.08%, mean 98.05% ± 0.29%.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path
from typing import Optional

from fnnet import models as M
from fnnet import optim, viz
from fnnet.data import DatasetNotFoundError, scale_pixels

from . import _settings as V
from . import _support as S

DESCRIPTION = "jhui TensorFlow MLP 784-256-100-10, truncated-normal He init, Adam + L2, 10k iterations (seed 003)"

SEED_TEST = "98.16%"


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "mnist"
    validation_size: int = 5_000  # read_data_sets' default: the first 5,000 training images
    reg: float = 5e-5  # the seed's lmbda, on TF's l2_loss = sum(W**2) / 2
    learning_rate: float = 1e-3
    batch_size: int = 100
    iterations: int = 10_000
    repeats: int = 1  # runs with different keys: the row reports their median, each run and mean ± sd


QUICK = dict(dataset="mnist_small", validation_size=500, iterations=270)  # 6 whole passes of 45 steps

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "dataset": V.choice(*V.MNIST_LIKE),
    "validation_size": V.integer(1),
    "reg": V.number(0),
    "learning_rate": V.positive(),
    "batch_size": V.integer(1),
    "iterations": V.integer(1),
    "repeats": V.integer(1),
}
RELATIONS = [V.batch_fits_data(limit=None)]


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Trains the jhui MLP for ``iterations`` steps; returns the results dict (test accuracy)."""
    config = config or Config()
    out = Path(out_dir or "outputs/jhui_mlp")
    say = S.reporter(verbose)
    experiment = f"MLP 784-256-100-10, Adam + L2 {config.reg:g}: test accuracy after {config.iterations:,} iterations"
    try:
        data = S.load_dataset(config.dataset, data_dir)
    except DatasetNotFoundError as err:
        return S.not_available(err, data_dir, say, (experiment, SEED_TEST))

    n_val = config.validation_size
    if not 0 < n_val < len(data.x_train):
        raise ValueError(f"validation_size must be in (0, {len(data.x_train)}), got {n_val}")
    x = scale_pixels(data.x_train).reshape(len(data.x_train), -1)
    train, validation = (x[n_val:], data.y_train[n_val:]), (x[:n_val], data.y_train[:n_val])
    test = (scale_pixels(data.x_test).reshape(len(data.x_test), -1), data.y_test)
    data_note = (f"{S.describe(data)}; trained on the {len(train[0]):,} images after the first {n_val:,} "
                 f"(validation), tested on {len(test[0]):,}")
    say(f"data: {data_note}")

    model = M.jhui_mnist_mlp(reg=config.reg)
    M.summary(model, train[0][:1], print_fn=say)
    steps_per_pass = len(train[0]) // config.batch_size
    runs = []
    for r, run_key in enumerate(S.repeat_keys(key, config.repeats)):
        runs.append(S.train_classifier(
            model, optim.optimizer("adam", config.learning_rate), train, test, validation=validation, key=run_key,
            epochs=math.ceil(config.iterations / steps_per_pass), batch_size=config.batch_size,
            max_steps=config.iterations, verbose=verbose,
        ))
        say(f"run {r + 1}/{config.repeats}: test accuracy after {runs[-1].history.steps:,} iterations: "
            f"{S.percent(runs[-1].test['accuracy'])} (seed: {SEED_TEST})")
    trained = runs[0]
    accuracies = [t.test["accuracy"] for t in runs]
    accuracy = statistics.median(accuracies)
    first_layer = S.kernel_images(trained.state.params["dense_0"]["kernel"], (28, 28))
    figures = {
        "history.png": S.history_plot(trained, f"jhui MLP (one point per pass of {steps_per_pass} steps)"),
        "first_layer_weights.png": viz.plot_image_grid(first_layer[:40], ncols=10,
                                                       title="first hidden layer: 40 of the 256 weight images"),
    }
    rows = [S.add_spread({"experiment": experiment, "seed": SEED_TEST, "fnnet": S.percent(accuracy)}, accuracies)]
    return {"rows": rows, "data": data_note, "test_accuracy": accuracy, "runs": {"test_accuracy": accuracies},
            "steps": trained.history.steps, "train_seconds": sum(t.seconds for t in runs),
            "plots": viz.save_figures(figures, out), "figures": figures}
