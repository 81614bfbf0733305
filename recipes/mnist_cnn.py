"""Seed 001 (DL workshop 3), section 2: MNIST with a dense net and with a small CNN.

* Dense: 784 -> Dense(100, relu) -> Dense(10), 79,510 parameters;
* CNN: Conv2D(25, 3x3, stride 1, valid, relu) -> MaxPool(1x1) (a no-op the workshop keeps) -> Flatten ->
  Dense(100, relu) -> Dense(10).

Both: pixels / 255, Adam (Keras' default 1e-3), batch 128, 10 epochs, validation on the test set (the
workshop says so itself: "Caution, this is dedicated for validation data - I was just lazy"). The seed
prints no accuracy; the recipe reports the test accuracy of both.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import jax

from fnnet import models as M
from fnnet import optim, viz
from fnnet.data import DatasetNotFoundError, scale_pixels

from . import _settings as V
from . import _support as S

DESCRIPTION = "workshop MNIST dense (79,510 params) vs CNN (conv 25 3x3), Adam, batch 128, 10 epochs (seed 001)"

MODELS = {
    "dense": ("Dense(100, relu) -> Dense(10)", M.workshop_mnist_dense, "79,510"),
    "cnn": ("Conv(25, 3x3, valid) -> MaxPool(1) -> Dense(100) -> Dense(10)", M.workshop_mnist_cnn, "-"),
}


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "mnist"
    models: tuple = ("dense", "cnn")
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    train_limit: int = 0  # train on the first N examples only (0: all)


QUICK = dict(dataset="mnist_small", epochs=1, train_limit=2_000, batch_size=100)  # whole batches only

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "dataset": V.choice(*V.MNIST_LIKE),
    "models": V.subset(tuple(MODELS)),
    "epochs": V.integer(1),
    "batch_size": V.integer(1),
    "learning_rate": V.positive(),
    "train_limit": V.integer(0, note="0: all"),
}
RELATIONS = [V.batch_fits_data()]


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Trains the workshop's dense net and CNN; returns the results dict (params and test accuracy)."""
    config = config or Config()
    unknown = [m for m in config.models if m not in MODELS]
    if unknown or not config.models:
        raise ValueError(f"models must be a non-empty subset of {sorted(MODELS)}, got {config.models!r}")
    out = Path(out_dir or "outputs/mnist_cnn")
    say = S.reporter(verbose)
    try:
        data = S.load_dataset(config.dataset, data_dir)
    except DatasetNotFoundError as err:
        return S.not_available(err, data_dir, say, *((f"{MODELS[m][0]}: test accuracy", "-") for m in config.models))

    train = S.subset(scale_pixels(data.x_train), data.y_train, config.train_limit)
    test = (scale_pixels(data.x_test), data.y_test)
    data_note = f"{S.describe(data)}; trained on {len(train[0]):,}, validated and tested on the test set"
    say(f"data: {data_note}")

    rows, figures, accuracies = [], {}, {}
    for name, model_key in zip(config.models, jax.random.split(key, len(config.models))):
        title, build, seed_params = MODELS[name]
        model = build()
        M.summary(model, train[0][:1], print_fn=say)
        trained = S.train_classifier(
            model, optim.optimizer("adam", config.learning_rate), train, test, key=model_key,
            epochs=config.epochs, batch_size=config.batch_size, verbose=verbose,
        )
        accuracies[name] = trained.test["accuracy"]
        say(f"{name}: test accuracy {S.percent(trained.test['accuracy'])} after {trained.epochs} epochs "
            f"({trained.seconds:.0f}s)")
        rows.append({"experiment": f"{title}: parameters", "seed": seed_params, "fnnet": f"{trained.params:,}"})
        rows.append({"experiment": f"{title}: test accuracy after {trained.epochs} epochs", "seed": "-",
                     "fnnet": S.percent(trained.test["accuracy"])})
        figures[f"history_{name}.png"] = S.history_plot(trained, f"workshop MNIST {name}")
        if name == "cnn":
            filters = S.kernel_images(trained.state.params["conv2d_0"]["kernel"], (3, 3))
            figures["cnn_filters.png"] = viz.plot_image_grid(filters, ncols=13,
                                                             title="CNN: the 25 first-layer 3x3 filters")
    return {"rows": rows, "data": data_note, "test_accuracy": accuracies, "plots": viz.save_figures(figures, out),
            "figures": figures}
