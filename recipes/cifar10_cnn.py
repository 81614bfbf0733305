"""Seed 001 (DL workshop 3), section 3: the CIFAR-10 CNN.

Conv 50 (3x3 same, relu) -> Conv 75 -> MaxPool 2 -> Dropout .25 -> Conv 125 -> MaxPool 2 -> Dropout .25 ->
Flatten -> Dense 500 -> Dropout .4 -> Dense 250 -> Dropout .3 -> Dense 10; pixels / 255, Adam (1e-3),
batch 128, validation on the test set. The seed called ``fit(..., epochs=2)`` and was interrupted during
the first epoch, so it reports no number; the recipe trains ``epochs`` (10, as the workshop's MNIST
models) and reports the test accuracy.

CIFAR-10 is not part of the offline data this project was verified with. Without it the recipe returns a
row saying what is missing (it never substitutes other data). ``synthetic=True`` runs the same code on
:func:`fnnet.data.template_images`, a tiny labelled stand-in of 32x32x3 images, to check the pipeline;
those rows say so.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import jax
import numpy as np

from fnnet import models as M
from fnnet import optim, viz
from fnnet.data import DatasetNotFoundError, scale_pixels

from . import _settings as V
from . import _support as S

DESCRIPTION = "workshop CIFAR-10 CNN (conv 50/75/125, dropout), Adam, batch 128 (seed 001; needs CIFAR-10)"

EXPERIMENT = "workshop CIFAR-10 CNN: test accuracy"
SEED = "- (the seed was interrupted in epoch 1)"


@dataclasses.dataclass(frozen=True)
class Config(S.StandInData):
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    train_limit: int = 0  # train on the first N examples only (0: all)


QUICK = dict(epochs=1, train_limit=1_024, synthetic_train=256, synthetic_test=64)  # whole batches only

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    **S.STAND_IN_SETTINGS,
    "epochs": V.integer(1),
    "batch_size": V.integer(1),
    "learning_rate": V.positive(),
    "train_limit": V.integer(0, note="0: all"),
}
RELATIONS = [V.batch_fits_data(synthetic="synthetic_train")]


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Trains the workshop CIFAR-10 CNN; returns the results dict (or a "not available" row)."""
    config = config or Config()
    out = Path(out_dir or "outputs/cifar10_cnn")
    say = S.reporter(verbose)
    data_key, train_key = jax.random.split(key)
    try:
        data = S.load_or_stand_in(config, data_dir, key=data_key, shape=(32, 32, 3))
    except DatasetNotFoundError as err:
        return S.not_available(err, data_dir, say, (EXPERIMENT, SEED))

    train = S.subset(scale_pixels(data.x_train), data.y_train, config.train_limit)
    test = (scale_pixels(data.x_test), data.y_test)
    data_note = f"{S.describe(data)}; trained on {len(train[0]):,}, validated and tested on the test set"
    say(f"data: {data_note}")
    model = M.workshop_cifar_cnn()
    M.summary(model, train[0][:1], print_fn=say)
    trained = S.train_classifier(
        model, optim.optimizer("adam", config.learning_rate), train, test, key=train_key,
        epochs=config.epochs, batch_size=config.batch_size, verbose=verbose,
    )
    label = " [SYNTHETIC stand-in, not CIFAR-10]" if config.synthetic else ""
    say(f"test accuracy{label}: {S.percent(trained.test['accuracy'])}")
    filters = trained.state.params["conv2d_0"]["kernel"]  # (3, 3, 3, 50): show each filter as an RGB patch
    figures = {
        "history.png": S.history_plot(trained, f"workshop CIFAR-10 CNN{label}"),
        "first_layer_filters.png": viz.plot_image_grid(np.moveaxis(np.asarray(filters), -1, 0), ncols=10,
                                                       title=f"first-layer 3x3 filters{label}"),
    }
    rows = [
        {"experiment": "workshop CIFAR-10 CNN: parameters", "seed": "-", "fnnet": f"{trained.params:,}"},
        {"experiment": f"{EXPERIMENT} after {trained.epochs} epochs{label}",
         "seed": "n/a (synthetic data)" if config.synthetic else SEED,
         "fnnet": S.percent(trained.test["accuracy"])},
    ]
    return {"rows": rows, "data": data_note, "synthetic": config.synthetic,
            "test_accuracy": trained.test["accuracy"], "plots": viz.save_figures(figures, out), "figures": figures}
