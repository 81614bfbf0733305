"""Seed 003 (jhui, part 2), "Grid search for hyperparameters": learning rate x L2 strength of the MNIST MLP.

"Some hyperparameters are strongly related. We should tune them together with a mesh of possible
combinations in a logarithmic scale ... Instead of using the exact cross points, we randomly shift those
points slightly ... If the optimal point lays in the border of the mesh, we retest it further in the
border region ... We start tuning parameters in coarse grain using fewer training iterations. In later
fine tuning, we increase the iterations and drop the grid value by a factor of 3." The seed gives no
numbers for this section.

The model is the seed's MLP 784-256-100-10 with Adam; the L2 term is the seed's ``lmbda * l2_loss(W)``
(coupled ``l2`` in the optimizer). Every mesh trains as ONE vmapped program (``fnnet.search``): the
learning rate and ``l2`` are arrays in the optimizer state (``optax.inject_hyperparams``), one value
per member. Settings are scored by validation accuracy (the first 5,000 training images); the best one
is then trained once more and scored on the 10,000 test images.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import jax

import fnnet
from fnnet import optim, viz
from fnnet.data import DatasetNotFoundError
from fnnet.search import grid_search, log_axis

from . import _jhui_mnist
from . import _settings as V
from . import _support as S

DESCRIPTION = "grid search of learning rate x L2 on the MNIST MLP: jittered log mesh, coarse then fine (seed 003)"


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "mnist"
    validation_size: int = 5_000
    hidden: tuple = (256, 100)
    batch_size: int = 100
    learning_rates: tuple = (1e-4, 1e-1, 4)  # low, high, number of mesh values (log scale)
    l2s: tuple = (1e-6, 1e-2, 5)
    jitter: float = 0.5  # points move up to a quarter of the mesh spacing each way
    coarse_epochs: int = 2
    fine_epochs: int = 5
    zoom: float = 3.0
    chunk: int = 0  # settings per program (0: a whole mesh at once)


QUICK = dict(dataset="mnist_small", validation_size=500, hidden=(64, 32), learning_rates=(1e-4, 1e-1, 3),
             l2s=(1e-5, 1e-2, 3), coarse_epochs=1, fine_epochs=2)

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "dataset": V.choice(*V.MNIST_LIKE),
    "validation_size": V.integer(1),
    "hidden": V.items(V.integer(1)),
    "batch_size": V.integer(1),
    "learning_rates": V.log_axis(),
    "l2s": V.log_axis(),
    "jitter": V.number(0, 1),
    "coarse_epochs": V.integer(1),
    "fine_epochs": V.integer(1),
    "zoom": V.number(1, low_open=True),
    "chunk": V.integer(0, note="0: a whole mesh at once"),
}
RELATIONS = [V.batch_fits_data(limit=None)]


def _axis(name: str, spec: tuple):
    if len(spec) != 3:
        raise ValueError(f"{name} must be (low, high, number of values), got {spec!r}")
    return log_axis(float(spec[0]), float(spec[1]), int(spec[2]))


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Runs the coarse and fine meshes and the final training; returns the results dict."""
    config = config or Config()
    out = Path(out_dir or "outputs/grid_search")
    say = S.reporter(verbose)
    try:
        train, validation, test, data_note = _jhui_mnist.splits(config.dataset, config.validation_size, data_dir)
    except DatasetNotFoundError as err:
        return S.not_available(err, data_dir, say,
                               ("grid search of learning rate x L2: best setting", "log mesh, jittered"))
    say(f"data: {data_note}")
    model = _jhui_mnist.mlp(config.hidden)
    space = {"learning_rate": _axis("learning_rates", config.learning_rates), "l2": _axis("l2s", config.l2s)}
    search_key, final_key = jax.random.split(key)

    result = grid_search(
        space, model=model, loss="softmax_cross_entropy", optimizer="adam", train_data=train,
        validation_data=validation, key=search_key, epochs=config.coarse_epochs, batch_size=config.batch_size,
        fine_epochs=config.fine_epochs, zoom=config.zoom, jitter=config.jitter,
        options=fnnet.TrainOptions(chunk=config.chunk or None),
        verbose=verbose,
    )
    coarse = [t for t in result.trials if t.round == 0]
    fine = [t for t in result.trials if t.round == 1]
    say(f"\ncoarse mesh ({len(coarse)} settings, {config.coarse_epochs} epochs) and fine mesh ({len(fine)} settings, "
        f"{config.fine_epochs} epochs), best first:\n{result.table(limit=12)}")
    figures = {"grid_search.png": viz.plot_search(result)}

    best = result.best.values
    state, _ = fnnet.fit(model, "softmax_cross_entropy",
                         optim.optimizer("adam", best["learning_rate"], l2=best["l2"]), train,
                         key=final_key, epochs=config.fine_epochs, batch_size=config.batch_size, verbose=0)
    test_accuracy = fnnet.evaluate(model, state, *test, loss="softmax_cross_entropy", metrics=["accuracy"])["accuracy"]
    say(f"best setting: learning rate {best['learning_rate']:.3g}, l2 {best['l2']:.3g} "
        f"(validation {result.best.score:.2%}); retrained: test accuracy {test_accuracy:.2%}")
    best_coarse = max(coarse, key=lambda t: t.score)
    rows = [
        {"experiment": f"coarse mesh {len(coarse)} points, {config.coarse_epochs} epochs: best (lr, l2), val acc",
         "seed": "log mesh, jittered", "fnnet": f"({best_coarse.values['learning_rate']:.2g}, "
                                               f"{best_coarse.values['l2']:.2g}), {best_coarse.score:.2%}"},
        {"experiment": f"fine mesh {len(fine)} points (spacing / {config.zoom:g}), {config.fine_epochs} epochs: best",
         "seed": "zoom around the best",
         "fnnet": f"({best['learning_rate']:.2g}, {best['l2']:.2g}), {result.best.score:.2%}"},
        {"experiment": "best setting retrained, test accuracy", "seed": "-", "fnnet": f"{test_accuracy:.2%}"},
    ]
    return {
        "rows": rows,
        "data": data_note,
        "trials": result.rows(),
        "best": {**best, "val_accuracy": result.best.score, "test_accuracy": test_accuracy},
        "plots": viz.save_figures(figures, out),
        "figures": figures,
    }
