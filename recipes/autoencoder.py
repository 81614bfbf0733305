"""Seed 002 (CS4487 lecture 9b), outline item "Autoencoder (AE)": a dense autoencoder on MNIST.

784 -> 128 -> 32 -> 128 -> 784 (relu; the last layer's logits pass through a sigmoid), trained to
reconstruct its input with per-pixel sigmoid cross-entropy against the pixels in [0, 1]; Adam 1e-3,
batch 256. The seed lists the section without code or numbers, so the settings are the usual ones for
this model; the recipe reports the reconstruction loss on the test set (mean per-pixel cross-entropy, and
the mean squared pixel error of the reconstructions), a grid of test digits above their reconstructions,
and the 32-d codes of the test digits projected on their first two principal components, coloured by
digit (no label is used in training, yet the digits form clusters).
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
from fnnet.data import DatasetNotFoundError, Whitener, scale_pixels

from . import _settings as V
from . import _support as S

DESCRIPTION = "dense autoencoder 784-128-32-128-784 on MNIST: reconstructions and the code space (seed 002 outline)"

LOSS = "sigmoid_binary_cross_entropy"


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "mnist"
    hidden: tuple = (128,)
    code: int = 32
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    train_limit: int = 0  # train on the first N examples only (0: all)
    n_shown: int = 10


QUICK = dict(dataset="mnist_small", epochs=8, batch_size=50)  # whole batches only

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "dataset": V.choice(*V.MNIST_LIKE),
    "hidden": V.items(V.integer(1)),
    "code": V.integer(1),
    "epochs": V.integer(1),
    "batch_size": V.integer(1),
    "learning_rate": V.positive(),
    "train_limit": V.integer(0, note="0: all"),
    "n_shown": V.integer(1),
}
RELATIONS = [V.batch_fits_data()]


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Trains the autoencoder; returns the results dict (test reconstruction losses)."""
    config = config or Config()
    out = Path(out_dir or "outputs/autoencoder")
    say = S.reporter(verbose)
    experiment = "autoencoder 784-128-32-128-784: test reconstruction loss (per-pixel cross-entropy)"
    try:
        data = S.load_dataset(config.dataset, data_dir)
    except DatasetNotFoundError as err:
        return S.not_available(err, data_dir, say, (experiment, "-"))

    flat = lambda images: scale_pixels(images).reshape(len(images), -1)
    x_train = S.subset(flat(data.x_train), data.y_train, config.train_limit)[0]
    x_test = flat(data.x_test)
    data_note = f"{S.describe(data)}; trained on {len(x_train):,} images (labels unused)"
    say(f"data: {data_note}")

    model = M.autoencoder(x_train.shape[1], config.hidden, config.code)
    M.summary(model, x_train[:1], print_fn=say)
    state, history = fnnet.fit(
        model, LOSS, optim.optimizer("adam", config.learning_rate), (x_train, x_train), epochs=config.epochs,
        batch_size=config.batch_size, validation_data=(x_test, x_test), key=key, verbose=int(verbose),
    )
    bce = fnnet.evaluate(model, state, x_test, x_test, loss=LOSS)["loss"]
    reconstructions = np.asarray(jax.nn.sigmoid(fnnet.predict(model, state, x_test)))
    mse = float(np.mean((reconstructions - x_test) ** 2))
    say(f"test reconstruction: cross-entropy {bce:.4f} per pixel, squared error {mse:.4f} per pixel")

    encoder = model.layers[0]
    codes = np.asarray(fnnet.predict(encoder, state.params["encoder"], x_test))
    projection = Whitener.fit(codes, method="pca", n_components=2)(codes)
    shown = np.concatenate([x_test[: config.n_shown], reconstructions[: config.n_shown]]).reshape(-1, 28, 28)
    figures = {
        "history.png": viz.plot_history(history, metrics=["loss"], title="autoencoder: reconstruction loss"),
        "reconstructions.png": viz.plot_image_grid(shown, ncols=config.n_shown,
                                                   title="test digits (top) and their reconstructions (bottom)"),
        "codes_pca.png": viz.plot_embedding(
            projection, data.y_test, class_names=data.class_names,
            title=f"{config.code}-d codes of the test digits, first two principal components"),
    }
    rows = [
        {"experiment": experiment, "seed": "- (outline only)", "fnnet": f"{bce:.4f}"},
        {"experiment": "autoencoder: test mean squared pixel error of the reconstructions", "seed": "-",
         "fnnet": f"{mse:.4f}"},
    ]
    return {"rows": rows, "data": data_note, "test_bce": bce, "test_mse": mse,
            "plots": viz.save_figures(figures, out), "figures": figures}
