"""Seed 002 (CS4487 lecture 9b): the eleven-row comparison of MNIST classifiers.

Protocol (the seed's code): every 10th MNIST training image (6,000), pixels / 255; a fixed validation split
identical to ``train_test_split(train_size=0.9, test_size=0.1, random_state=4487)`` (5,400 / 600,
:func:`fnnet.data.cs4487_split`); dense models see flattened images centered by the mean of all 6,000
(the seed fits its ``StandardScaler`` before splitting), CNNs the [0, 1] images; Keras' default
initializers; SGD with momentum 0.9 (Nesterov), batch 50; early stopping on validation accuracy
(min_delta 1e-4, patience 5) keeping the last epoch's weights; accuracy on all 10,000 test images.

Three choices the seed's Keras version makes, followed here (each can be switched):

* **early-stopping count.** The seed ran Keras 2.0.x, whose ``EarlyStopping`` tested ``wait >= patience``
  *before* incrementing ``wait``: it stops after ``patience + 1`` epochs without improvement and prints
  the 0-based epoch index ("Epoch 00007: early stopping" = 8 epochs run). Modern Keras and
  :class:`fnnet.EarlyStopping` stop after ``patience``. ``keras_2_0_early_stopping=True`` (default) uses
  ``patience + 1``, which reproduces the seed's epoch counts; the "epochs" column compares them.
* **shear unit.** Keras before 2.1.3 read ``shear_range=0.1`` in radians (5.73 degrees), later versions
  in degrees (0.1 degrees: no visible shear). The seed predates 2.1.3, so ``shear_degrees`` defaults
  to 0.1 rad = 5.7296 degrees (``Augment.cs4487`` with the shear replaced).
* **resampling.** Keras 2.0/2.1's ``ImageDataGenerator`` resampled with ``scipy.ndimage.affine_transform(...,
  order=0)``, nearest neighbour, with no option; later versions (keras-preprocessing) interpolate bilinearly
  by default, as :class:`fnnet.data.Augment` does. ``interpolation_order=0`` (default) follows the seed:
  its augmented digits keep the input's pixel values, where bilinear resampling blends neighbours.

The seed's text and its summary table disagree on several numbers (they come from different runs); both are
shown. A single early-stopped run on a 600-image validation set varies by up to a point from key to key, so
each row trains ``repeats`` times (3) with different keys, the runs as the members of one population (one
compiled program; each member stops early on its own), and reports the median, each run's accuracy and epoch
count, and their mean ± standard deviation; the figures show the first run. Every row says what it ran (its
"settings" cell: training images, epochs or stopping rule, runs), so a quick run is never labelled with the
seed's settings. The same table also runs on Fashion-MNIST (same protocol, same hyperparameters; the seed
has no numbers for it), each row labelled with its data.

**Why a row can land a point below the seed.** Two rows of an earlier one-run-per-row table were far below
the seed (relu(500)-relu(500) and dropout + augmentation). Neither came from a protocol difference:
SGD/Nesterov, initializers, centering, split, batch, the Keras 2.0 stopping rule and the last-weights
evaluation all match the seed's code. Both rows stop on a noisy signal: early stopping keeps the *last*
weights and fires once 6 epochs in a row fail to beat the best validation accuracy by 1e-4 on 600 images.
The 500-500 MLP at learning rate 0.1 still jumps between epochs when it stops early, and the augmented CNN
learns slowly and can stop on a plateau anywhere between epoch 13 and 35; a run that stops early ends about
a point lower. Each row's runs and epoch counts are in RESULTS.md. The nearest-neighbour resampling above
is the seed's protocol, not a fix for that row (``--set interpolation_order=1`` runs it bilinear).
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path
from typing import Callable, Optional

import jax
import numpy as np

import fnnet
from fnnet import models as M
from fnnet import optim, viz
from fnnet.data import Augment, DatasetNotFoundError, Standardizer, cs4487_split, plot_augmentations, scale_pixels
from fnnet.diagnostics import DoctorSetup, layer_snapshot
from fnnet.report import text_table

from . import _settings as V
from . import _support as S

DESCRIPTION = "CS4487 comparison table: LR, MLPs, CNNs, dropout, L2, augmentation, noise (seed 002; + Fashion-MNIST)"


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the seed's table: how to build and train the model, and what the seed reported."""

    label: str
    build: Callable[[], fnnet.Model]
    learning_rate: float
    dense: bool  # flattened, centered inputs (else 28x28x1 images in [0, 1])
    seed_text: str
    seed_summary: str
    seed_epochs: int  # epochs the seed trained: its printed stopping epoch + 1 (or 100)
    params: str
    augment: str = ""  # "", "geometry" or "geometry+noise"
    early_stopping: bool = True


ROWS = {
    "lr": Row("LR: Dense(10)", M.logistic_regression, 0.05, True, "0.8921", "0.8890", 8, "7,850"),
    "mlp_50": Row("MLP: relu(50)", lambda: M.mlp([50, 10]), 0.1, True, "0.9373", "0.9373", 13, "39,760"),
    "mlp_200": Row("MLP: relu(200)", lambda: M.mlp([200, 10]), 0.1, True, "0.9434", "0.9431", 15, "159,010"),
    "mlp_1000": Row("MLP: relu(1000)", lambda: M.mlp([1000, 10]), 0.1, True, "0.9454", "0.9453", 15, "795,010"),
    "mlp_500_500": Row("MLP: relu(500)-relu(500)", lambda: M.mlp([500, 500, 10]), 0.1, True, "0.9517", "0.9523",
                       14, "648,010"),
    "shallow_cnn": Row("shallow CNN: conv(10, 5x5, s2) -> 50", M.cs4487_shallow_cnn, 0.02, False, "0.9449", "0.9537",
                       9, "98,820"),
    "deep_cnn": Row("deep CNN: conv 10/40/80 -> 50", M.cs4487_deep_cnn, 0.02, False, "0.9687", "0.9693", 22,
                    "286,940"),
    "deep_cnn_dropout": Row("deep CNN + dropout .5", lambda: M.cs4487_deep_cnn(dropout=0.5), 0.02, False, "0.9726",
                            "0.9756", 26, "286,940"),
    "deep_cnn_l2": Row("deep CNN + L2 1e-4", lambda: M.cs4487_deep_cnn(l2=1e-4), 0.02, False, "0.9637", "-", 18,
                       "286,940"),
    "deep_cnn_dropout_aug": Row("deep CNN + dropout + augmentation", lambda: M.cs4487_deep_cnn(dropout=0.5), 0.02,
                                False, "0.9807", "0.9843", 32, "286,940", augment="geometry"),
    "deep_cnn_dropout_aug_noise": Row("deep CNN + dropout + augmentation + noise (no early stopping)",
                                      lambda: M.cs4487_deep_cnn(dropout=0.5), 0.02, False, "0.9851", "0.9911", 100,
                                      "286,940", augment="geometry+noise", early_stopping=False),
}

KERAS_2_0_SHEAR_DEGREES = math.degrees(0.1)  # shear_range=0.1 read as radians


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: tuple = ("mnist", "fashion_mnist")
    rows: tuple = tuple(ROWS)
    every: int = 10
    val_size: float = 0.1
    split_seed: int = 4487
    batch_size: int = 50
    max_epochs: int = 100
    noise_epochs: int = 100
    min_delta: float = 1e-4
    patience: int = 5
    keras_2_0_early_stopping: bool = True
    repeats: int = 3  # runs per row with different keys: the row reports their median
    shear_degrees: float = KERAS_2_0_SHEAR_DEGREES
    interpolation_order: int = 0  # Keras 2.0's ImageDataGenerator resampled nearest-neighbour (order 0)
    highlight_digit: int = 5
    highlight_fraction: float = 0.5  # frame units whose weight exceeds this share of the largest (the seed: 0.75)


# Quick: 900 training images; the augmented noise row learns slowly (at chance after 2 epochs), so it gets
# 10 epochs, enough to learn. Every row's "settings" cell says what it ran.
QUICK = dict(dataset=("mnist_small",), rows=("lr", "mlp_50", "shallow_cnn", "deep_cnn_dropout_aug_noise"), every=5,
             max_epochs=4, noise_epochs=10, patience=1, repeats=1)

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "dataset": V.subset(V.MNIST_LIKE),
    "rows": V.subset(tuple(ROWS)),
    "every": V.integer(1, note="keep every every-th training image"),
    "val_size": V.number(0, 1, low_open=True, high_open=True, note="a fraction"),
    "split_seed": V.integer(0),
    "batch_size": V.integer(1),
    "max_epochs": V.integer(1),
    "noise_epochs": V.integer(1),
    "min_delta": V.number(0),
    "patience": V.integer(0),
    "keras_2_0_early_stopping": V.flag(),
    "repeats": V.integer(1),
    "shear_degrees": V.number(-90, 90, low_open=True, high_open=True),
    "interpolation_order": V.integer(0, 1, note="0 nearest, 1 bilinear"),
    "highlight_digit": V.integer(0, 9),
    "highlight_fraction": V.number(0, 1, low_open=True, note="of the largest |weight|"),
}


def _check(config: Config) -> None:
    unknown = [r for r in config.rows if r not in ROWS]
    if unknown or not config.rows:
        raise ValueError(f"rows must be a non-empty subset of {list(ROWS)}, got {config.rows!r}")
    if not config.dataset:
        raise ValueError("dataset must name at least one dataset, e.g. mnist or fashion_mnist")
    if config.repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {config.repeats}")


def augmenter(row: Row, config: Config) -> Optional[Augment]:
    """The seed's ImageDataGenerator for ``row`` (None when the row does not augment)."""
    if not row.augment:
        return None
    return dataclasses.replace(Augment.cs4487(noise=row.augment == "geometry+noise"), shear=config.shear_degrees,
                               order=config.interpolation_order)


def prepare(data, config: Config) -> dict:
    """The seed's protocol on a loaded dataset: ``{"dense": (train, val, test), "image": (...)}`` where
    each part is ``(x, y)``; dense inputs are flattened and centered by the mean of train + validation."""
    split = cs4487_split(data, every=config.every, val_size=config.val_size, seed=config.split_seed)
    images = [scale_pixels(x) for x in (split.x_train, split.x_val, split.x_test)]
    labels = (split.y_train, split.y_val, split.y_test)
    flat = [x.reshape(len(x), -1) for x in images]
    center = Standardizer.fit(np.concatenate(flat[:2]), with_std=False)
    return {
        "dense": tuple((center(x), y) for x, y in zip(flat, labels)),
        "image": tuple(zip(images, labels)),
        "split": split,
    }


def row_optimizer(learning_rate):
    """The seed's optimizer: SGD with Nesterov momentum 0.9 (``learning_rate`` a float or optax schedule)."""
    return optim.optimizer("sgd", learning_rate, momentum=0.9, nesterov=True)


def train_row(row: Row, parts: dict, config: Config, *, keys) -> list[S.Trained]:
    """Trains one row's model under the seed's protocol once per key, the repeats as the members of one
    population (each member stops early on its own), and evaluates each on the test set."""
    train, val, test = parts["dense" if row.dense else "image"]
    callbacks = []
    if row.early_stopping:
        patience = config.patience + (1 if config.keras_2_0_early_stopping else 0)
        callbacks.append(fnnet.EarlyStopping("val_accuracy", min_delta=config.min_delta, patience=patience))
    return S.train_classifiers(
        row.build(), row_optimizer(row.learning_rate), train, test,
        validation=val, keys=keys, epochs=config.max_epochs if row.early_stopping else config.noise_epochs,
        batch_size=config.batch_size, callbacks=callbacks, augment=augmenter(row, config),
    )


def row_settings(row: Row, config: Config, n_train: int) -> str:
    """What a row actually ran: training images, epochs (or the early-stopping rule), runs."""
    if row.early_stopping:
        patience = config.patience + (1 if config.keras_2_0_early_stopping else 0)
        epochs = f"at most {config.max_epochs} epochs, early stopping after {patience} without improvement"
    else:
        epochs = f"{config.noise_epochs} epoch{'s' if config.noise_epochs > 1 else ''}"
    runs = f"{config.repeats} run{'s' if config.repeats > 1 else ''}"
    return f"{n_train:,} training images, {epochs}, {runs}"


def weight_plots(trained: dict, parts: dict, config: Config, prefix: str, title: str, key) -> dict:
    """The seed's figures, ``{file name: Figure}``: LR weight images, MLP-50 hidden filters, the output
    weights of one class as bars and the filters framed green (weight above the cut-off) / red (below
    minus it), CNN first-layer filters, and the augmentation grid; and the troubleshooting views: MLP-50's
    weight / activation / gradient histograms, the best row's confusion matrix and misclassified test
    images."""
    figures = {}
    if "lr" in trained:
        w = trained["lr"].state.params["dense_0"]["kernel"]
        figures[f"{prefix}lr_weights.png"] = viz.plot_filters(
            w, image_shape=(28, 28), ncols=5, titles=[str(c) for c in range(10)], title=f"{title}: LR weight images")
    if "mlp_50" in trained:
        params = trained["mlp_50"].state.params
        kernel = params["dense_0"]["kernel"]
        figures[f"{prefix}mlp50_filters.png"] = viz.plot_filters(
            kernel, image_shape=(28, 28), title=f"{title}: MLP relu(50) hidden-unit weights")
        d = config.highlight_digit
        out_w = np.asarray(params["dense_1"]["kernel"][:, d])
        cut = viz.highlight_threshold(out_w, fraction=config.highlight_fraction)
        figures[f"{prefix}mlp50_output_weights_{d}.png"] = viz.plot_output_weights(
            out_w, threshold=cut, title=f"{title}: output weights for {d} (cut-off {config.highlight_fraction:g} "
                                        "x the largest |weight|)")
        figures[f"{prefix}mlp50_filters_for_{d}.png"] = viz.plot_filters(
            kernel, image_shape=(28, 28), highlight=viz.highlight_masks(out_w, cut),
            title=f"{title}: units that {d} should have (green) / not have (red)")
        val_x, val_y = parts["dense"][1]
        snapshot = layer_snapshot(trained["mlp_50"].model, S.LOSS, params, val_x, val_y)
        figures[f"{prefix}mlp50_histograms.png"] = viz.plot_layer_histograms(
            snapshot, title=f"{title}: MLP relu(50) on the validation set")
    for name in ("shallow_cnn", "deep_cnn"):
        if name in trained:
            w = trained[name].state.params["conv2d_0"]["kernel"]
            figures[f"{prefix}{name}_filters.png"] = viz.plot_filters(
                w, title=f"{title}: {ROWS[name].label}, first-layer filters")
    figures.update(error_plots(trained, parts, prefix, title))
    augmented = [r for r in config.rows if ROWS[r].augment]
    if augmented:
        images = parts["image"][0][0][:4]
        aug = augmenter(ROWS[augmented[-1]], config)
        figures[f"{prefix}augmentation.png"] = plot_augmentations(images, aug, key)
    return figures


def error_plots(trained: dict, parts: dict, prefix: str, title: str) -> dict:
    """The confusion matrix on the test set and the misclassified test images of the most accurate row
    (its first run), ``{file name: Figure}``: the seed's checklist item "display and analyse samples that
    have wrong predictions"."""
    if not trained:
        return {}
    name = max(trained, key=lambda n: trained[n].test["accuracy"])
    x_test, y_test = parts["dense" if ROWS[name].dense else "image"][2]
    predicted = np.asarray(fnnet.predict(trained[name].model, trained[name].state, x_test)).argmax(axis=-1)
    matrix = fnnet.metrics.confusion_matrix(predicted, y_test, 10)
    label = f"{title}: {ROWS[name].label}"
    return {
        f"{prefix}confusion_{name}.png": viz.plot_confusion_matrix(matrix, title=f"{label}, test set"),
        f"{prefix}misclassified_{name}.png": viz.plot_misclassified(
            parts["image"][2][0], y_test, predicted, title=f"{label}: misclassified test images (true -> predicted)"),
    }


def comparison_table(runs: dict, epochs: dict, config: Config, settings: Optional[dict] = None) -> list:
    """The seed's table with fnnet's median accuracy and its epoch counts per dataset (and, given
    ``settings``, what each row of fnnet's ran)."""
    table = []
    for name in config.rows:
        row = ROWS[name]
        entry = {"model": row.label, "params": row.params, "lr": f"{row.learning_rate:g}",
                 "seed MNIST (text)": row.seed_text, "seed MNIST (summary table)": row.seed_summary,
                 "seed epochs (MNIST)": str(row.seed_epochs)}  # the seed has MNIST numbers only
        if settings and name in settings:
            entry["fnnet settings"] = settings[name]
        for ds in runs:
            entry[f"fnnet {_title(ds)}"] = f"{statistics.median(runs[ds][name]):.4f}"
            entry[f"epochs ({_title(ds)})"] = ", ".join(map(str, epochs[ds][name]))
        table.append(entry)
    return table


def _title(dataset: str) -> str:
    return S.DATA_TITLES.get(dataset, dataset).split(" (")[0]


def _result_row(row: Row, dataset: str, params: int, accuracies: list, epochs: list) -> dict:
    """A result row: the seed's numbers (MNIST only), fnnet's median accuracy, each run's, the epochs."""
    is_seed_data = dataset == "mnist"
    cells = {
        "experiment": row.label, "data": _title(dataset), "params": f"{params:,}", "lr": f"{row.learning_rate:g}",
        "seed": row.seed_text if is_seed_data else "-",
        "seed (summary table)": row.seed_summary if is_seed_data else "-",
        "fnnet": f"{statistics.median(accuracies):.4f}",
    }
    if len(accuracies) > 1:
        cells["fnnet runs"] = " / ".join(f"{a:.4f}" for a in accuracies)
        cells["fnnet mean ± sd"] = S.mean_and_spread(accuracies)
    cells["epochs (seed / fnnet)"] = f"{row.seed_epochs if is_seed_data else '-'} / {', '.join(map(str, epochs))}"
    return cells


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Runs every configured row ``repeats`` times on every configured dataset; returns the results dict."""
    config = config or Config()
    _check(config)
    out = Path(out_dir or "outputs/cs4487_table")
    say = S.reporter(verbose)
    rows, figures, data_notes = [], {}, []
    runs, epochs, settings_by_row = {}, {}, {}
    for ds_index, dataset in enumerate(config.dataset):
        title = _title(dataset)
        ds_key = jax.random.fold_in(key, ds_index)
        try:
            data = S.load_dataset(dataset, data_dir)
        except DatasetNotFoundError as err:
            say(S.missing_message(err, data_dir))
            rows += [S.missing_row(ROWS[r].label, ROWS[r].seed_text if dataset == "mnist" else "-", err, data_dir,
                                   data=title) for r in config.rows]
            data_notes.append(f"{title}: not available")
            continue
        parts = prepare(data, config)
        note = f"{S.describe(parts['split'])}; dense inputs centered by the mean of train + validation"
        data_notes.append(note)
        say(f"data: {note}")
        first, runs[dataset], epochs[dataset] = {}, {}, {}
        for name in config.rows:
            row = ROWS[name]
            row_key = jax.random.fold_in(ds_key, list(ROWS).index(name))
            keys = [jax.random.fold_in(row_key, r) for r in range(config.repeats)]
            results = train_row(row, parts, config, keys=keys)
            first[name] = results[0]
            runs[dataset][name] = [r.test["accuracy"] for r in results]
            epochs[dataset][name] = [r.epochs for r in results]
            settings = settings_by_row[name] = row_settings(row, config, len(parts["dense"][0][0]))
            seed_note = (f"seed {row.seed_text} / {row.seed_summary} after {row.seed_epochs}" if dataset == "mnist"
                         else "the seed has MNIST numbers only")
            say(f"[{title}] {row.label} ({settings}): test accuracy "
                f"{' / '.join(f'{a:.4f}' for a in runs[dataset][name])} after "
                f"{', '.join(map(str, epochs[dataset][name]))} epochs ({sum(r.seconds for r in results):.0f}s); "
                f"{seed_note}")
            rows.append({**_result_row(row, dataset, results[0].params, runs[dataset][name], epochs[dataset][name]),
                         "settings": settings})
            figures[f"{dataset}_history_{name}.png"] = S.history_plot(results[0], f"{title}: {row.label}")
        figures.update(weight_plots(first, parts, config, f"{dataset}_", title, jax.random.fold_in(ds_key, 99)))
    table = comparison_table(runs, epochs, config, settings_by_row)
    if verbose and runs:
        differs = ("" if config == Config() else
                   " (fnnet's rows ran other settings than the seed's protocol: see 'fnnet settings')")
        say(f"\nThe seed's comparison table (MNIST numbers from the seed) next to fnnet's medians{differs}:")
        say(text_table(table))
    return {
        "rows": rows,
        "tables": {"the seed's table next to fnnet's (median test accuracy per dataset)": table},
        "data": "; ".join(data_notes),
        "accuracy": {ds: {name: statistics.median(v) for name, v in by_row.items()} for ds, by_row in runs.items()},
        "runs": runs,
        "epochs": epochs,
        "plots": viz.save_figures(figures, out),
        "figures": figures,
    }


def diagnose_setup(config: Optional[Config] = None, *, key, data_dir=None) -> DoctorSetup:
    """The first configured row's model, optimizer and training split (of the first configured
    dataset) under the seed's protocol, for ``fnnet doctor cs4487_table [--set rows=mlp_50]``."""
    config = config or Config()
    _check(config)
    name, dataset = config.rows[0], config.dataset[0]
    row = ROWS[name]
    parts = prepare(S.load_dataset(dataset, data_dir), config)
    return DoctorSetup(
        name=f"cs4487_table: {row.label} on {_title(dataset)}", model=row.build(), loss=S.LOSS,
        make_optimizer=row_optimizer, learning_rate=row.learning_rate,
        train=parts["dense" if row.dense else "image"][0], batch_size=config.batch_size,
    )
