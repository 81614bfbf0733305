"""Seed 001 (DL workshop 3), section 1: fighting overfitting on IMDB (Deep Learning with Python, ch. 4).

Reviews as multi-hot vectors over the 10,000 most frequent training words (``fnnet.data.load_imdb``, built
from the aclImdb text: the columns differ slightly from Keras' pre-tokenized ``imdb.npz``, which is not
available offline). Every model: 2 hidden relu layers -> 1 sigmoid output (the sigmoid is inside
``binary_crossentropy``), RMSprop as Keras 3 has it (lr 1e-3, rho 0.9, eps 1e-7 inside the root; Keras 2,
which the book used, put eps outside), batch 512, 20 epochs, trained on the 25,000 training reviews and
validated on the 25,000 test reviews, as the book does.

* size: original 16-16-1 vs the seed's smaller 8-8-1 (the book's is 4-4-1) vs bigger 512-512-1;
* L2: the original with ``l2(0.001)`` on both hidden kernels (Keras semantics, ``0.001 * Σ w²`` added to
  the loss; Keras and fnnet include the penalty in ``val_loss`` too);
* dropout: the original with Dropout(0.5) after each hidden layer.

The seed shows only the book's validation-loss plots; what they show is checked here with numbers: the
epoch of the lowest validation loss (the bigger net overfits sooner) and how far the validation loss
climbs from its minimum by the last epoch (less with L2 and dropout). All models start from the same key,
so their initial weights (where the shapes agree), data order and dropout masks are shared.

The multi-hot matrices stay uint8 (0/1) on the device, 250 MB per split: the first Dense layer promotes
each gathered batch to float32, which gives the float32 results bit for bit at a third of the memory.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np

from fnnet import models as M
from fnnet import optim, viz
from fnnet.data import DatasetNotFoundError, load_imdb

from . import _settings as V
from . import _support as S

DESCRIPTION = "IMDB multi-hot: network size, L2 and dropout against overfitting, validation-loss curves (seed 001)"

LOSS = "binary_crossentropy"


@dataclasses.dataclass(frozen=True)
class Config:
    models: tuple = ("original", "smaller", "bigger", "l2", "dropout")
    num_words: int = 10_000
    original_units: int = 16
    smaller_units: int = 8  # the seed's "Simpler Model"; the book uses 4
    bigger_units: int = 512
    l2: float = 0.001
    dropout: float = 0.5
    epochs: int = 20
    batch_size: int = 512
    learning_rate: float = 1e-3
    train_limit: int = 0  # train on the first N reviews only (0: all)
    allow_partial_data: bool = False  # True: load a copy with other than 12,500 reviews per folder (with a warning)


QUICK = dict(num_words=100, bigger_units=64, epochs=3, batch_size=20, learning_rate=0.01)

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "models": V.subset(("original", "smaller", "bigger", "l2", "dropout")),
    "num_words": V.integer(1),
    "original_units": V.integer(1),
    "smaller_units": V.integer(1),
    "bigger_units": V.integer(1),
    "l2": V.number(0),
    "dropout": V.number(0, 1, high_open=True),
    "epochs": V.integer(1),
    "batch_size": V.integer(1),
    "learning_rate": V.positive(),
    "train_limit": V.integer(0, note="0: all"),
    "allow_partial_data": V.flag(),
}
RELATIONS = [V.batch_fits_data(examples=25_000)]


def _models(config: Config) -> dict:
    """``{name: (label, builder)}`` of every model the config can ask for."""
    o, s, b = config.original_units, config.smaller_units, config.bigger_units
    return {
        "original": (f"original {o}-{o}-1", lambda: M.workshop_imdb_net(o)),
        "smaller": (f"smaller {s}-{s}-1", lambda: M.workshop_imdb_net(s)),
        "bigger": (f"bigger {b}-{b}-1", lambda: M.workshop_imdb_net(b)),
        "l2": (f"{o}-{o}-1 + L2({config.l2:g})", lambda: M.workshop_imdb_net(o, l2=config.l2)),
        "dropout": (f"{o}-{o}-1 + Dropout({config.dropout:g})", lambda: M.workshop_imdb_net(o, dropout=config.dropout)),
    }


# What the seed (the book's figures) says about each variant compared with the original.
CLAIMS = {
    "smaller": "smaller net starts overfitting later and more slowly",
    "bigger": "bigger net overfits sooner (almost immediately)",
    "l2": "less overfitting than the original",
    "dropout": "less overfitting than the original",
}
# The validation-loss plots (as the seed's figures): file, title, variants drawn with the original.
PLOTS = (
    ("size.png", "network size", ("smaller", "bigger")),
    ("l2.png", "L2 weight regularization", ("l2",)),
    ("dropout.png", "dropout", ("dropout",)),
)


@dataclasses.dataclass
class Curve:
    """One model's validation record: ``val_loss[i]``, ``val_accuracy[i]`` after epoch ``i + 1``."""

    label: str
    params: int
    val_loss: list
    val_accuracy: list
    train_loss: list
    seconds: float

    @property
    def best_epoch(self) -> int:
        return int(np.argmin(self.val_loss)) + 1

    @property
    def min_loss(self) -> float:
        return float(np.min(self.val_loss))

    @property
    def rise(self) -> float:
        """How far the validation loss climbed from its minimum by the last epoch (overfitting)."""
        return float(self.val_loss[-1] - self.min_loss)


def _claim_value(name: str, curves: dict) -> str:
    """The measured numbers behind the seed's claim about model ``name`` vs the original."""
    ours, base = curves[name], curves["original"]
    if name in ("smaller", "bigger"):
        return (f"lowest val loss at epoch {ours.best_epoch} (original: {base.best_epoch}); rise to the last epoch "
                f"{ours.rise:.3f} (original: {base.rise:.3f})")
    return f"val loss rises {ours.rise:.3f} from its minimum by the last epoch (original: {base.rise:.3f})"


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Trains the requested models; returns the results dict (rows per model and per seed claim)."""
    config = config or Config()
    catalogue = _models(config)
    unknown = [m for m in config.models if m not in catalogue]
    if unknown or "original" not in config.models:
        raise ValueError(f"models must be a subset of {list(catalogue)} containing 'original', got {config.models!r}")
    out = Path(out_dir or "outputs/imdb_regularization")
    say = S.reporter(verbose)
    try:
        data = load_imdb(data_dir, num_words=config.num_words, allow_partial=config.allow_partial_data)
    except DatasetNotFoundError as err:
        return S.not_available(err, data_dir, say, *((f"{catalogue[m][0]}: lowest validation loss (epoch)", "-")
                                                    for m in config.models))
    train = S.subset(data.x_train, data.y_train, config.train_limit)
    test = (data.x_test, data.y_test)
    data_note = (f"IMDB reviews ({data.source}): {len(train[0]):,} training reviews, validated on the "
                 f"{len(test[0]):,} test reviews; multi-hot over the {config.num_words:,} most frequent training "
                 "words (uint8)")
    say(f"data: {data_note}")

    tx = optim.optimizer("rmsprop", config.learning_rate, eps=1e-7)  # Keras 3's RMSprop: eps inside the root
    curves: dict[str, Curve] = {}
    for name in config.models:
        label, build = catalogue[name]
        model = build()
        trained = S.train_classifier(model, tx, train, test, key=key, epochs=config.epochs,
                                     batch_size=config.batch_size, loss=LOSS, verbose=verbose)
        h = trained.history
        curves[name] = Curve(label, trained.params, h["val_loss"], h["val_accuracy"], h["loss"], trained.seconds)
        c = curves[name]
        say(f"{label}: {c.params:,} params, lowest val loss {c.min_loss:.4f} at epoch {c.best_epoch}, final val loss "
            f"{c.val_loss[-1]:.4f}, val accuracy {S.percent(c.val_accuracy[-1])} ({c.seconds:.0f}s)")

    rows = []
    for c in curves.values():
        rows.append({"experiment": f"{c.label} ({c.params:,} params): lowest validation loss (epoch)", "seed": "-",
                     "fnnet": f"{c.min_loss:.4f} (epoch {c.best_epoch})"})
        rows.append({"experiment": f"{c.label}: validation loss / accuracy after {len(c.val_loss)} epochs", "seed": "-",
                     "fnnet": f"{c.val_loss[-1]:.4f} / {S.percent(c.val_accuracy[-1])}"})
    rows += [{"experiment": f"{curves[name].label} vs original", "seed": claim, "fnnet": _claim_value(name, curves)}
             for name, claim in CLAIMS.items() if name in curves]
    figures = {}
    for file, title, variants in PLOTS:
        drawn = [name for name in ("original", *variants) if name in curves]
        if len(drawn) > 1:
            figures[file] = viz.plot_curves({curves[n].label: curves[n].val_loss for n in drawn}, start=1,
                                            xlabel="epoch", ylabel="validation loss",
                                            title=f"IMDB, {title}: validation loss")
    return {
        "rows": rows, "data": data_note, "plots": viz.save_figures(figures, out), "figures": figures,
        "curves": {name: dataclasses.asdict(c) for name, c in curves.items()},
    }
