"""Pieces the image-classification recipes share: real data or an honest "not available" row, the
classification protocol on top of :func:`fnnet.fit`, and number formatting.

A recipe never substitutes other data silently: when a dataset is missing, :func:`load_dataset` raises
:class:`fnnet.data.DatasetNotFoundError` and the recipe reports a row whose ``fnnet`` column says what was
not found (:func:`missing_row`); the synthetic stand-in is used only when a config asks for it, and its
rows say so.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional, Sequence

import jax
import numpy as np

import fnnet
from fnnet import viz
from fnnet.data import Dataset, DatasetNotFoundError, data_root, load, template_images
from fnnet.ensemble import fit_ensemble
from fnnet.tree import member

from . import _settings as V

LOSS = "softmax_cross_entropy"

#: Titles used in the rows' "data" column.
DATA_TITLES = {
    "mnist": "MNIST",
    "mnist_small": "mnist_small (5,000 + 1,000 real MNIST digits embedded in fnnet)",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
}


def reporter(verbose: bool) -> Callable[..., None]:
    """``print`` when ``verbose``, else a function that does nothing."""
    return print if verbose else (lambda *args, **kwargs: None)


def load_dataset(name: str, data_dir=None) -> Dataset:
    """``fnnet.data.load(name)`` (``mnist_small`` ignores ``data_dir``: it is embedded).

    Raises :class:`~fnnet.data.DatasetNotFoundError` naming the files to provide when the data is absent."""
    return load(name) if name == "mnist_small" else load(name, data_dir=data_dir)


@dataclasses.dataclass(frozen=True)
class StandInData:
    """Config fields of a recipe whose dataset may be replaced by the synthetic stand-in on request."""

    dataset: str = "cifar10"
    synthetic: bool = False  # True: the labelled synthetic stand-in instead of the dataset
    synthetic_train: int = 512
    synthetic_test: int = 128


#: The rules of :class:`StandInData`'s settings (recipes add them to their ``SETTINGS``).
STAND_IN_SETTINGS = {
    "dataset": V.choice("cifar10"),
    "synthetic": V.flag(),
    "synthetic_train": V.integer(1),
    "synthetic_test": V.integer(1),
}


def load_or_stand_in(config: StandInData, data_dir, *, key, shape: tuple) -> Dataset:
    """The real dataset ``config.dataset``, or with ``config.synthetic`` the labelled stand-in
    :func:`fnnet.data.template_images` of ``shape`` (never chosen automatically)."""
    if config.synthetic:
        return template_images(key, n_train=config.synthetic_train, n_test=config.synthetic_test, shape=shape)
    return load_dataset(config.dataset, data_dir)


def describe(data: Dataset) -> str:
    """One line naming the data a number comes from: title, sizes and source."""
    title = DATA_TITLES.get(data.name.split("/")[0], data.name)
    if data.name == "template_images":
        title = "SYNTHETIC stand-in (fnnet.data.template_images), not real data"
    sizes = [f"{len(data.x_train):,} train"]
    if data.x_val is not None:
        sizes.append(f"{len(data.x_val):,} validation")
    if data.x_test is not None:
        sizes.append(f"{len(data.x_test):,} test")
    return f"{title}: {' / '.join(sizes)} ({data.source})"


def missing_message(err: DatasetNotFoundError, data_dir=None) -> str:
    """A one-line summary of a loader's "not found" message: what is missing, where it was looked for,
    and the file forms that would do (the loader lists them as ``  - ...`` lines)."""
    lines = str(err).strip().splitlines()
    what = lines[0].split(" Searched")[0].rstrip(".")
    forms = [line.strip()[2:] for line in lines if line.strip().startswith("- ")]
    text = f"not run: {what} (looked in {data_root(data_dir)})"
    return text + (f"; provide {' or '.join(forms)}" if forms else "")


def missing_row(experiment: str, seed: str, err: DatasetNotFoundError, data_dir=None, **extra) -> dict:
    """A result row for an experiment that could not run because its data is absent."""
    return {"experiment": experiment, "seed": seed, "fnnet": missing_message(err, data_dir), **extra}


def not_available(err: DatasetNotFoundError, data_dir, say, *experiments: tuple) -> dict:
    """The results dict of a recipe whose data is absent: one "not run" row per ``(experiment, seed)``."""
    say(missing_message(err, data_dir))
    rows = [missing_row(experiment, seed, err, data_dir) for experiment, seed in experiments]
    return {"rows": rows, "data": "not available", "plots": [], "figures": {}}


def subset(x, y, limit: int):
    """The first ``limit`` examples (all when ``limit`` is 0): quick runs train on a slice."""
    return (x, y) if not limit else (x[:limit], y[:limit])


@dataclasses.dataclass
class Trained:
    """A trained classifier: the final state, the fit history and the evaluation on held-out data."""

    model: fnnet.Model
    state: fnnet.TrainState
    history: fnnet.History
    test: dict  # {"loss": float, "accuracy": float} on the test set
    seconds: float

    @property
    def epochs(self) -> int:
        return len(self.history.epochs)

    @property
    def params(self) -> int:
        return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(self.state.params)))


def train_classifier(
    model: fnnet.Model,
    optimizer,
    train: tuple,
    test: tuple,
    *,
    key: jax.Array,
    epochs: int,
    batch_size: int,
    validation: Optional[tuple] = None,
    callbacks: Sequence = (),
    augment=None,
    max_steps: Optional[int] = None,
    loss: str = LOSS,
    verbose: bool = False,
) -> Trained:
    """``fnnet.fit`` with ``loss`` (softmax cross-entropy by default) and accuracy, then ``fnnet.evaluate``
    on ``test``.

    ``validation`` defaults to ``test`` (the workshop scripts validate on the test set)."""
    t0 = time.perf_counter()
    state, history = fnnet.fit(
        model, loss, optimizer, train, epochs=epochs, batch_size=batch_size, key=key,
        validation_data=validation if validation is not None else test, metrics=["accuracy"],
        callbacks=callbacks, augment=augment, options=fnnet.TrainOptions(max_steps=max_steps), verbose=int(verbose),
    )
    scores = fnnet.evaluate(model, state, *test, loss=loss, metrics=["accuracy"])
    return Trained(model, state, history, scores, time.perf_counter() - t0)


def train_classifiers(
    model: fnnet.Model,
    optimizer,
    train: tuple,
    test: tuple,
    *,
    keys: Sequence[jax.Array],
    epochs: int,
    batch_size: int,
    validation: Optional[tuple] = None,
    callbacks: Sequence = (),
    augment=None,
    max_steps: Optional[int] = None,
    loss: str = LOSS,
    verbose: bool = False,
    initial_state=None,
    member_layout: str = "auto",
) -> list[Trained]:
    """:func:`train_classifier` for every key of ``keys`` (repeats of one experiment), as the members of
    ONE population (:func:`fnnet.ensemble.fit_ensemble`: one compiled program trains them all; member
    ``r`` is ``train_classifier(..., key=keys[r])`` up to float rounding). Each member stops on its own
    callbacks (e.g. early stopping). ``seconds`` is the population's wall time shared out per member.
    ``initial_state`` (stacked, one member per key) and ``member_layout`` go to ``fit_ensemble``."""
    t0 = time.perf_counter()
    state, history = fit_ensemble(
        model, loss, optimizer, train, epochs=epochs, batch_size=batch_size, keys=list(keys),
        validation_data=validation if validation is not None else test, metrics=["accuracy"], callbacks=callbacks,
        augment=augment, initial_state=initial_state, verbose=int(verbose),
        options=fnnet.TrainOptions(max_steps=max_steps, member_layout=member_layout),
    )
    states = [member(state, i) for i in range(len(keys))]
    scores = [fnnet.evaluate(model, s, *test, loss=loss, metrics=["accuracy"]) for s in states]
    seconds = (time.perf_counter() - t0) / len(keys)
    return [Trained(model, s, h, score, seconds) for s, h, score in zip(states, history.members, scores)]


def percent(value: float, digits: int = 2) -> str:
    return f"{100 * value:.{digits}f}%"


def mean_and_spread(values: Sequence[float], fmt: Callable[[float], str] = lambda v: f"{v:.4f}") -> str:
    """``"mean ± sd (n runs)"`` of repeated runs' numbers (sd: the sample standard deviation, n - 1)."""
    values = np.asarray(values, np.float64)
    if values.size < 2:
        raise ValueError(f"values must hold at least 2 runs for a spread, got {values.size}")
    return f"{fmt(values.mean())} ± {fmt(values.std(ddof=1))} ({values.size} runs)"


def repeat_keys(key: jax.Array, repeats: int) -> list:
    """The keys of ``repeats`` runs of one experiment: ``key`` itself first (so ``repeats=1`` is the seed's
    single run, unchanged), then ``fold_in(key, r)`` for run r."""
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be >= 1 (an int), got {repeats!r}")
    return [key if r == 0 else jax.random.fold_in(key, r) for r in range(repeats)]


def add_spread(row: dict, values: Sequence[float], fmt: Callable[[float], str] = percent) -> dict:
    """``row`` (whose ``fnnet`` cell holds the median of ``values``) with the run count in its experiment
    name, each run's number and their mean ± sd; unchanged for a single run."""
    if len(values) > 1:
        row["experiment"] += f", median of {len(values)} runs"
        row["fnnet runs"] = " / ".join(fmt(v) for v in values)
        row["fnnet mean ± sd"] = mean_and_spread(values, fmt)
    return row


def kernel_images(kernel, shape: tuple) -> np.ndarray:
    """A Dense kernel ``(inputs, units)`` as one image per unit, ``(units, *shape)`` (the seed's
    ``W[:, i].reshape(28, 28)``), or an HWIO conv kernel as ``(O, H, W)`` (see :func:`fnnet.viz.filter_images`)."""
    return viz.filter_images(kernel, shape if np.ndim(kernel) == 2 else None)


def history_plot(trained: Trained, title: str):
    """The loss and accuracy curves of a trained classifier (a :class:`fnnet.viz.Figure`)."""
    return viz.plot_history(trained.history, metrics=["loss", "accuracy"], title=title)
