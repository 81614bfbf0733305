"""Seed 003 (jhui, part 2): the fully connected network on CIFAR-10.

``FullyConnectedNet([100, 50, 25], weight_scale=5e-2)``: relu hidden layers of 100, 50 and 25 units,
weights ``randn * 5e-2``, zero biases, softmax cross-entropy; the cs231n ``Solver`` with Adam, batch 200,
10 epochs; the seed reports "50+% accuracy". Details the seed leaves to the cs231n code, followed here:

* data (``get_CIFAR10_data``): the first 49,000 training images train, the next 1,000 validate; pixels
  stay in 0..255 and the training mean image is subtracted. The seed's cs231n code tests on 1,000 test
  images; the recipe tests on all 10,000;
* the seed's call passes no ``reg``, so the model's default ``reg=0.0`` applies (the L2 term
  ``0.5 * reg * sum(W**2)`` is in the model but off); set ``reg`` to turn it on;
* Adam's learning rate is cs231n's default 1e-3 (the seed passes a variable without its value);
* the Solver keeps the parameters of the epoch with the best validation accuracy (here:
  ``EarlyStopping(patience=epochs, restore_best_weights=True)``, which never stops early).

CIFAR-10 is not part of the offline data this project was verified with; without it the recipe returns a
row saying what is missing. ``synthetic=True`` runs the pipeline on the labelled stand-in
:func:`fnnet.data.template_images` instead.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import jax
import numpy as np

import fnnet
from fnnet import models as M
from fnnet import optim, viz
from fnnet.data import DatasetNotFoundError, Standardizer

from . import _settings as V
from . import _support as S

DESCRIPTION = "jhui FullyConnectedNet (100, 50, 25) on CIFAR-10, Adam, batch 200, 10 epochs (seed 003; needs CIFAR-10)"

EXPERIMENT = "FullyConnectedNet (100, 50, 25): test accuracy"
SEED = "50+%"


@dataclasses.dataclass(frozen=True)
class Config(S.StandInData):
    synthetic_train: int = 1_000
    synthetic_test: int = 200
    hidden: tuple = (100, 50, 25)
    weight_scale: float = 5e-2
    reg: float = 0.0
    learning_rate: float = 1e-3
    batch_size: int = 200
    epochs: int = 10
    num_validation: int = 1_000
    train_limit: int = 0  # train on the first N examples only (0: all)


QUICK = dict(epochs=2, train_limit=2_000, num_validation=200, synthetic_train=400, synthetic_test=100)

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    **S.STAND_IN_SETTINGS,
    "hidden": V.items(V.integer(1)),
    "weight_scale": V.positive(),
    "reg": V.number(0),
    "learning_rate": V.positive(),
    "batch_size": V.integer(1),
    "epochs": V.integer(1),
    "num_validation": V.integer(1),
    "train_limit": V.integer(0, note="0: all"),
}
RELATIONS = [V.batch_fits_data(synthetic="synthetic_train")]


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Trains the jhui FullyConnectedNet; returns the results dict (or a "not available" row)."""
    config = config or Config()
    out = Path(out_dir or "outputs/cifar10_fc")
    say = S.reporter(verbose)
    data_key, train_key = jax.random.split(key)
    try:
        data = S.load_or_stand_in(config, data_dir, key=data_key, shape=(32, 32, 3))
    except DatasetNotFoundError as err:
        return S.not_available(err, data_dir, say, (EXPERIMENT, SEED))

    n_val = config.num_validation
    if not 0 < n_val < len(data.x_train):
        raise ValueError(f"num_validation must be in (0, {len(data.x_train)}), got {n_val}")
    x = data.x_train.astype(np.float32)  # cs231n keeps pixels in 0..255
    x_train, y_train = S.subset(x[:-n_val], data.y_train[:-n_val], config.train_limit)
    center = Standardizer.fit(x_train, with_std=False)  # subtract the training mean image
    train = (center(x_train), y_train)
    validation = (center(x[-n_val:]), data.y_train[-n_val:])
    test = (center(data.x_test.astype(np.float32)), data.y_test)
    data_note = (f"{S.describe(data)}; trained on {len(train[0]):,}, validated on the last {n_val:,} training "
                 f"images, tested on {len(test[0]):,}; mean image subtracted, pixels in 0..255")
    say(f"data: {data_note}")

    model = M.jhui_fc_net(config.hidden, weight_scale=config.weight_scale, reg=config.reg)
    M.summary(model, train[0][:1], print_fn=say)
    keep_best = fnnet.EarlyStopping("val_accuracy", patience=config.epochs, restore_best_weights=True)
    trained = S.train_classifier(
        model, optim.optimizer("adam", config.learning_rate), train, test, validation=validation,
        key=train_key, epochs=config.epochs, batch_size=config.batch_size, callbacks=[keep_best], verbose=verbose,
    )
    label = " [SYNTHETIC stand-in, not CIFAR-10]" if config.synthetic else ""
    say(f"test accuracy{label}: {S.percent(trained.test['accuracy'])} (best validation epoch "
        f"{keep_best.best_epoch + 1})")
    first_layer = S.kernel_images(trained.state.params["dense_0"]["kernel"], (32, 32, 3))
    figures = {
        "history.png": S.history_plot(trained, f"FullyConnectedNet (100, 50, 25){label}"),
        "first_layer_weights.png": viz.plot_image_grid(
            first_layer[:30], ncols=10, title=f"first hidden layer: 30 of the {config.hidden[0]} weight images{label}"),
    }
    rows = [{"experiment": f"{EXPERIMENT} (best of {trained.epochs} epochs by validation){label}",
             "seed": "n/a (synthetic data)" if config.synthetic else SEED,
             "fnnet": S.percent(trained.test["accuracy"])}]
    return {"rows": rows, "data": data_note, "synthetic": config.synthetic,
            "test_accuracy": trained.test["accuracy"], "plots": viz.save_figures(figures, out), "figures": figures}
