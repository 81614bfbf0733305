"""Seed 003 (jhui, part 2, "Training parameters"): SGD, momentum, Nesterov, Adagrad, RMSprop and Adam
side by side, on 2-D loss surfaces and on a small real task.

1. **Paths on 2-D surfaces** (the seed shows Alec Radford's animations: "regular gradient descent learns
   the slowest, momentum tends to overshoot, Adagrad learns faster initially than RMSprop"). Each
   optimizer (an optax chain from :func:`fnnet.optim.optimizer`) runs from the same start with the exact
   gradient, via :func:`fnnet.optim.trajectory`. A fair comparison needs each at its own learning rate:
   every optimizer runs at every rate of a log grid at once (one program: ``jax.vmap`` over (optimizer,
   rate) pairs, the rate injected with ``inject=True``, the optimizer chosen by :func:`fnnet.optim.one_of`)
   and is shown at the rate with the lowest mean log-loss over the run (fast descent
   that stays down; a run that diverges is never chosen). Surfaces:

   * ``valley``: the ill-conditioned bowl ``f = 0.5 (a²/10 + 10 b²)`` from (-9, 1): curvatures 0.1 and
     10, so plain SGD's rate is capped by the steep direction and it crawls along the shallow one.
   * ``beale``: Beale's function from (1, 1.5), minimum 0 at (3, 0.5): curved narrow valleys.

2. **A small real task**: the seed's MNIST MLP (784-256-100-10, relu, He init) trained with each
   optimizer (one population: a member per optimizer, same initial weights and batches) for a few epochs
   on the embedded ``mnist_small``, at the usual rates (``mnist_learning_rates``).
   Options from the seed: the jhui step decay (``step_decay=true``: constant for 10,000 steps, then x0.95
   every 20,000, :func:`fnnet.optim.step_decay`; its schedule is plotted either way) and
   ``clip_norm=5`` (``tf.clip_by_global_norm(gradients, 5.0)``: ``optax.clip_by_global_norm``).

**Which update rules run.** ``sgd``, ``momentum``, ``nesterov``, ``adagrad``, ``rmsprop`` and ``adam`` are
optax's rules (:func:`fnnet.optim.optimizer`); momentum and Nesterov equal the article's formulas.
optax's ``adagrad`` starts its accumulator at 0.1 and ``adam`` applies the bias correction (as the
TensorFlow ``AdamOptimizer`` the article's own code calls does). The article's formulas as it writes them
run next to them by default, as ``adagrad_jhui`` (``cache += dw**2; w -= lr * dw / (sqrt(cache) + 1e-7)``,
cache from 0) and ``adam_jhui`` (``m``, ``v`` moving averages from 0, ``w -= lr * m / (sqrt(v) + 1e-7)``,
no bias correction): :func:`fnnet.optim.scale_by_sum_of_squares`, :func:`fnnet.optim.scale_by_adam_uncorrected`.
``rmsprop`` is seed 000's form (eps inside the root); the article's puts eps 1e-7 outside, a difference of
order eps / sqrt(cache). Choose with ``optimizers=...`` (any of :data:`ALL_OPTIMIZERS`).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import optim, viz
from fnnet.data import DatasetNotFoundError, scale_pixels
from fnnet.ensemble import init_members
from fnnet.report import text_table

from . import _jhui_mnist as J
from . import _settings as V
from . import _support as S

DESCRIPTION = "SGD/momentum/Nesterov/Adagrad/RMSprop/Adam paths on 2-D surfaces and on MNIST (seed 003)"


class Surface(NamedTuple):
    fn: Callable  # (2,) -> scalar
    start: tuple
    minimum: tuple
    steps: int
    xlim: tuple
    ylim: tuple
    threshold: float  # "reached the minimum" when the loss is at or below this


def valley(p):
    """Ill-conditioned quadratic bowl: curvature 0.1 along a, 10 along b."""
    return 0.5 * (p[0] ** 2 / 10 + 10 * p[1] ** 2)


def beale(p):
    """Beale's function, minimum 0 at (3, 0.5)."""
    a, b = p[0], p[1]
    return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2


SURFACES = {
    "valley": Surface(valley, (-9.0, 1.0), (0.0, 0.0), 100, (-10.0, 2.0), (-2.0, 2.0), 1e-3),
    "beale": Surface(beale, (1.0, 1.5), (3.0, 0.5), 300, (-1.0, 4.5), (-1.5, 2.0), 1e-3),
}

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
ARTICLE_OPTIMIZERS = ("adagrad_jhui", "adam_jhui")  # the article's own Adagrad / Adam formulas
ALL_OPTIMIZERS = OPTIMIZERS + ARTICLE_OPTIMIZERS

#: The update rule each name runs, for the tables.
RULES = {
    "sgd": "optax sgd", "momentum": "optax trace, the article's formula",
    "nesterov": "optax nesterov trace, the article's formula",
    "adagrad": "optax, accumulator from 0.1", "rmsprop": "optax, eps inside the root",
    "adam": "optax, bias-corrected", "adagrad_jhui": "the article's, accumulator from 0",
    "adam_jhui": "the article's, no bias correction",
}


@dataclasses.dataclass(frozen=True)
class Config:
    optimizers: tuple = ALL_OPTIMIZERS
    surfaces: tuple = ("valley", "beale")
    lr_grid_low: float = 1e-3
    lr_grid_high: float = 1.0
    lr_grid_points: int = 19  # log-spaced learning rates tried on each surface
    dataset: str = "mnist_small"
    epochs: int = 5
    batch_size: int = 100
    mnist_learning_rates: tuple = (0.1, 0.01, 0.01, 0.01, 0.001, 0.001, 0.01, 0.001)  # one per optimizer, in order
    train_limit: int = 0  # train on the first N images only (0: all)
    step_decay: bool = False  # the jhui schedule on every optimizer's rate
    decay_start: int = 10_000
    decay_every: int = 20_000
    decay_factor: float = 0.95
    clip_norm: float = 0.0  # > 0: clip gradients to this global norm (the seed: 5.0)


# Quick: four optimizers, optax's Adam and the article's (each MNIST run compiles its own program), one surface,
# a coarse rate grid.
QUICK = dict(optimizers=("sgd", "momentum", "adam", "adam_jhui"), mnist_learning_rates=(0.1, 0.01, 0.001, 0.001),
             surfaces=("valley",),
             lr_grid_points=4, epochs=1, train_limit=1_000)

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "optimizers": V.subset(ALL_OPTIMIZERS),
    "surfaces": V.subset(tuple(SURFACES)),
    "lr_grid_low": V.positive(),
    "lr_grid_high": V.positive(),
    "lr_grid_points": V.integer(1),
    "dataset": V.choice(*V.MNIST_LIKE),
    "epochs": V.integer(1),
    "batch_size": V.integer(1),
    "mnist_learning_rates": V.items(V.positive()),
    "train_limit": V.integer(0, note="0: all"),
    "step_decay": V.flag(),
    "decay_start": V.integer(0),
    "decay_every": V.integer(1),
    "decay_factor": V.number(0, 1, low_open=True),
    "clip_norm": V.number(0, note="0: no clipping"),
}
RELATIONS = [
    V.same_length("mnist_learning_rates", "optimizers"),
    V.less_than("lr_grid_low", "lr_grid_high"),
    V.batch_fits_data(),
]


def best_paths(surface: Surface, names, rates: np.ndarray) -> dict:
    """Every optimizer at every rate at once (one compiled program: a ``jax.vmap`` over (optimizer, rate)
    pairs, the optimizer chosen by :func:`fnnet.optim.one_of`), then per optimizer the rate with the
    lowest mean log-loss.

    Returns ``{name: {"rate", "path" (T+1, 2), "values" (T+1,), "steps_to_threshold"}}``."""
    start = jnp.asarray(surface.start, jnp.float32)

    def path(choice, lr):
        options = {n: optim.optimizer(n, lr, inject=True) for n in names}
        return optim.trajectory(surface.fn, start, optim.one_of(options, choice), surface.steps)

    choices, grid = np.meshgrid(np.arange(len(names)), np.asarray(rates, np.float32), indexing="ij")
    all_paths, all_values = jax.device_get(jax.vmap(path)(jnp.asarray(choices.ravel()), jnp.asarray(grid.ravel())))
    all_paths = all_paths.reshape(len(names), len(rates), *all_paths.shape[1:])
    all_values = all_values.reshape(len(names), len(rates), -1)
    found = {}
    for name, paths, values in zip(names, all_paths, all_values):
        finite = np.isfinite(values).all(axis=1) & np.isfinite(paths).all(axis=(1, 2))
        score = np.where(finite, np.mean(np.log10(np.maximum(values, 1e-12)), axis=1), np.inf)
        i = int(np.argmin(score))
        hits = np.flatnonzero(values[i] <= surface.threshold)
        found[name] = {"rate": float(rates[i]), "path": paths[i], "values": values[i],
                       "steps_to_threshold": int(hits[0]) if hits.size else None}
    return found


def mnist_optimizer(name: str, rate: float, config: Config):
    schedule = (optim.step_decay(rate, config.decay_factor, config.decay_every, config.decay_start)
                if config.step_decay else rate)
    return optim.optimizer(name, schedule, clip_norm=config.clip_norm or None)


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Runs the surface paths and the MNIST comparison; returns the results dict."""
    config = config or Config()
    if len(config.mnist_learning_rates) != len(config.optimizers):
        raise ValueError(f"mnist_learning_rates must give one rate per optimizer ({len(config.optimizers)}), "
                         f"got {len(config.mnist_learning_rates)}")
    if len(set(config.optimizers)) != len(config.optimizers):
        raise ValueError(f"optimizers must name each optimizer once, got {list(config.optimizers)}")
    unknown = [s for s in config.surfaces if s not in SURFACES]
    if unknown:
        raise ValueError(f"unknown surfaces {unknown}; known: {', '.join(SURFACES)}")
    out = Path(out_dir or "outputs/optimizers")
    say = S.reporter(verbose)
    rates = np.geomspace(config.lr_grid_low, config.lr_grid_high, config.lr_grid_points)
    rows, tables, figures, surface_results = [], {}, {}, {}

    for surface_name in config.surfaces:
        surface = SURFACES[surface_name]
        found = best_paths(surface, config.optimizers, rates)
        surface_results[surface_name] = {n: {k: v for k, v in r.items() if k not in ("path", "values")}
                                         for n, r in found.items()}
        table = [{"optimizer": n, "rule": RULES[n], "learning rate": f"{r['rate']:.3g}",
                  f"steps to loss <= {surface.threshold:g}": r["steps_to_threshold"] or f"> {surface.steps}",
                  f"loss after {surface.steps} steps": f"{r['values'][-1]:.3g}"} for n, r in found.items()]
        title = f"{surface_name}: each optimizer at its best of {len(rates)} rates, from {surface.start}"
        say(f"\n{title}\n{text_table(table)}")
        tables[title] = table
        paths = {f"{n} (lr {r['rate']:.3g})": r["path"] for n, r in found.items()}
        figures[f"{surface_name}_paths.png"] = viz.plot_trajectories(
            jax.vmap(surface.fn), paths, xlim=surface.xlim, ylim=surface.ylim, minimum=surface.minimum, title=title)
        figures[f"{surface_name}_loss.png"] = viz.plot_curves(
            {n: r["values"] for n, r in found.items()}, xlabel="step", ylabel="loss", logy=True, title=surface_name)
        for n, r in found.items():
            rows.append({"experiment": f"{surface_name} surface: {n} ({RULES[n]}) at lr {r['rate']:.3g}, "
                                       f"steps to loss <= {surface.threshold:g}", "seed": "trajectories compared",
                         "fnnet": str(r["steps_to_threshold"] or f"not within {surface.steps}")})

    steps = np.arange(0, 200_001, 500)
    schedule = optim.step_decay(1.0, config.decay_factor, config.decay_every, config.decay_start)
    figures["step_decay.png"] = viz.plot_curves(
        {"learning rate / initial rate": np.asarray(jax.vmap(schedule)(steps))}, x=steps / 1000,
        xlabel="step (thousands)", ylabel="rate factor",
        title=f"x{config.decay_factor} every {config.decay_every:,} steps after {config.decay_start:,}")
    plots = viz.save_figures(figures, out)

    experiment = "MNIST MLP 784-256-100-10: test accuracy per optimizer"
    try:
        data = S.load_dataset(config.dataset, data_dir)
    except DatasetNotFoundError as err:
        say(S.missing_message(err, data_dir))
        rows.append(S.missing_row(experiment, "-", err, data_dir))
        return {"rows": rows, "tables": tables, "data": "2-D surfaces (generated); MNIST not available",
                "surfaces": surface_results, "plots": plots, "figures": figures}
    flat = lambda images: scale_pixels(images).reshape(len(images), -1)
    train = S.subset(flat(data.x_train), data.y_train, config.train_limit)
    test = (flat(data.x_test), data.y_test)
    options = ", ".join(filter(None, ["step decay" if config.step_decay else "",
                                      f"clip_norm {config.clip_norm:g}" if config.clip_norm else ""])) or "none"
    mnist, table = {}, []
    model, names = J.mlp((256, 100)), list(config.optimizers)
    # One population: a member per optimizer, all from the same initial weights and batches (the same key),
    # each with its own update rule (fnnet.optim.one_of). The layout "map" runs the members one after
    # another inside the compiled step, so each computes only its own optimizer's update.
    mnist_rates = dict(zip(names, config.mnist_learning_rates))
    tx = optim.one_of({name: mnist_optimizer(name, rate, config) for name, rate in mnist_rates.items()})
    keys = [key] * len(names)
    start = init_members(model, tx, jnp.stack(keys), train[0][:1])
    start = start.replace(opt_state=tx.select(start.opt_state, names))
    t0 = time.perf_counter()
    population = S.train_classifiers(model, tx, train, test, keys=keys, epochs=config.epochs,
                                     batch_size=config.batch_size, initial_state=start, member_layout="map")
    seconds = time.perf_counter() - t0
    for name, rate, trained in zip(names, config.mnist_learning_rates, population):
        mnist[name] = {"learning_rate": rate, "train_loss": trained.history["loss"][-1], **trained.test}
        table.append({"optimizer": name, "rule": RULES[name], "learning rate": f"{rate:g}",
                      "final train loss": f"{trained.history['loss'][-1]:.4f}",
                      "test loss": f"{trained.test['loss']:.4f}", "test accuracy": S.percent(trained.test["accuracy"])})
        rows.append({"experiment": f"MNIST MLP, {name} ({RULES[name]}) lr {rate:g}, {config.epochs} epochs: "
                                   "test accuracy",
                     "seed": "-", "fnnet": S.percent(trained.test["accuracy"])})
    title = (f"MNIST MLP 784-256-100-10, {len(train[0]):,} training images, batch {config.batch_size}, "
             f"{config.epochs} epochs (options: {options}); the {len(names)} optimizers trained as one population "
             f"in {seconds:.1f} s")
    say(f"\n{title}\n{text_table(table)}")
    tables[title] = table
    return {
        "rows": rows,
        "tables": tables,
        "data": f"2-D surfaces (generated); {S.describe(data)}, trained on {len(train[0]):,}",
        "surfaces": surface_results,
        "mnist": mnist,
        "plots": plots,
        "figures": figures,
    }
