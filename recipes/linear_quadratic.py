"""Seed 000, part 1 (HSE "Introduction to Deep Learning"): a linear classifier on quadratic features,
trained by mini-batch SGD, SGD + momentum and RMSprop.

Two classes split by a circle (:func:`fnnet.data.circles`) become linearly separable in the features
``expand(x) = (x0, x1, x0², x1², x0·x1, 1)``; logistic regression on them
(:func:`fnnet.models.quadratic_logistic_regression`, 6 weights, the bias being the constant feature's)
starts from the seed's ``w0 = [0, 0, 0, 0, 0, 1]`` and takes 100 steps of batch 4 with eta 0.05:

* SGD: ``w -= eta * dw``;
* momentum: ``nu = alpha * nu + eta * dw; w -= nu`` (alpha 0.9), i.e. ``optax.trace`` scaled by eta;
* RMSprop: ``G = a * G + (1 - a) * dw**2; w -= eta * dw / sqrt(G + eps)`` (a 0.9, eps 1e-8), i.e.
  ``optax.scale_by_rms`` with eps *inside* the root, the chain's default (``eps_in_sqrt=True``): the
  same formula, no eps difference (tests/test_optim.py checks all three against the seed's numpy
  step for step).

Like the seed, the loss is recorded on the FULL data while every step sees a batch of 4:
:class:`fnnet.callbacks.StepLog` evaluates the full-data loss inside the compiled loop before the first step
and after every step, so each curve has ``iterations + 1`` points and starts with the loss at ``w0``. The
seed draws each batch with ``np.random.choice`` (with replacement); here the 100 batches of 4 are one
shuffled pass over the 400 points, drawn from an explicit key. The seed's experiment is a comparison over
data orders and optimizers, so it runs as ONE population (:func:`fnnet.ensemble.fit_ensemble`) trained in
one compiled program: its members are the (optimizer, data order) pairs, the optimizer of each member
chosen in its state (:func:`fnnet.optim.one_of`), and the members of order ``r`` get the SAME key under
every optimizer, so they see the same batches and the curves differ only by the update rule. The counts
say how often momentum and RMSprop end below SGD over those orders, not just in one draw.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import models as M
from fnnet import optim, viz
from fnnet.callbacks import StepLog
from fnnet.data import circles
from fnnet.ensemble import fit_ensemble
from fnnet.report import text_table
from fnnet.state import initial_state
from fnnet.tree import member

from . import _settings as V
from . import _support as S

DESCRIPTION = "logistic regression on quadratic features: SGD vs momentum vs RMSprop, batch 4 (seed 000)"

LOSS = "sigmoid_binary_cross_entropy"

#: The seed's ``expand`` test: input rows and the expected ``x0 x1 x0^2 x1^2 x0*x1 1`` rows.
DUMMY_X = np.array([[0, 0], [1, 0], [2.61, -1.28], [-0.59, 2.1]])
DUMMY_EXPANDED = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
    [1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
    [2.61, -1.28, 6.8121, 1.6384, -3.3408, 1.0],
    [-0.59, 2.1, 0.3481, 4.41, -1.239, 1.0],
])

W0 = (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Config:
    n_points: int = 400  # circles(): half inside the unit circle, half in the ring out to radius 2
    noise: float = 0.1
    learning_rate: float = 0.05
    batch_size: int = 4
    iterations: int = 100
    momentum: float = 0.9
    rmsprop_decay: float = 0.9
    rmsprop_eps: float = 1e-8
    repeats: int = 20  # data orders (keys) over which the comparison is counted; plots show the first


QUICK = dict(repeats=1)

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "n_points": V.integer(2),
    "noise": V.number(0),
    "learning_rate": V.positive(),
    "batch_size": V.integer(1),
    "iterations": V.integer(1),
    "momentum": V.number(0, 1, high_open=True),
    "rmsprop_decay": V.number(0, 1, high_open=True),
    "rmsprop_eps": V.positive(),
    "repeats": V.integer(1),
}
RELATIONS = [V.batch_fits_data(examples="n_points", limit=None)]


def optimizers(config: Config) -> dict:
    """The seed's three optimizers as optax chains, by display name."""
    return {
        "SGD": optim.optimizer("sgd", config.learning_rate),
        "momentum": optim.optimizer("momentum", config.learning_rate, momentum=config.momentum),
        "RMSprop": optim.optimizer("rmsprop", config.learning_rate, decay=config.rmsprop_decay, eps=config.rmsprop_eps),
    }


def expand_check() -> float:
    """Largest absolute difference between ``expand(DUMMY_X)`` (in float64) and the seed's answer."""
    with jax.enable_x64(True):  # one compiled program, not one per operation
        return float(np.max(np.abs(np.asarray(jax.jit(M.expand)(DUMMY_X)) - DUMMY_EXPANDED)))


def full_data_curves(model, txs: dict, data, *, config: Config, keys) -> tuple[dict, dict]:
    """Trains, from ``W0``, one member per optimizer and key (member ``(name, r)`` visits the data in
    ``keys[r]``'s order) for ``iterations`` steps, all in ONE compiled population: the optimizers are the
    options of :func:`fnnet.optim.one_of`, each member's choice in its state. Returns, per optimizer name,
    the full-data ``{"loss", "accuracy"}`` before the first and after every step, each
    ``(len(keys), iterations + 1)``, and per name the final state of the member of ``keys[0]``."""
    x, y = data
    tx = optim.one_of(txs)
    n_orders = len(keys)
    w0 = {"dense_0": {"kernel": jnp.asarray(W0, jnp.float32)[:, None]}}
    one = initial_state(w0, tx.init(w0), {}, keys[0])
    # Members are (optimizer, order) pairs, optimizer-major; every one starts from W0, stacked on the host
    # (no initializer program to compile for 6 fixed weights).
    members = len(txs) * n_orders
    start = jax.tree.map(lambda leaf: np.broadcast_to(leaf, (members, *np.shape(leaf))), one.replace(key=None))
    start = start.replace(key=jnp.concatenate([keys] * len(txs)),
                          opt_state=tx.select(start.opt_state, np.repeat(np.arange(len(txs)), n_orders)))
    log = StepLog(x, y, every=1)
    epochs = -(-config.iterations * config.batch_size // len(x))  # ceil: enough epochs for the steps
    state, _ = fit_ensemble(
        model, LOSS, tx, (x, y), batch_size=config.batch_size, epochs=epochs, keys=start.key,
        initial_state=start, metrics=["accuracy"], callbacks=[log],
        options=fnnet.TrainOptions(max_steps=config.iterations), verbose=0,
    )
    by_name = {name: slice(i * n_orders, (i + 1) * n_orders) for i, name in enumerate(txs)}
    logs = {name: {k: v[rows] for k, v in log.values.items()} for name, rows in by_name.items()}
    return logs, {name: member(state, rows.start) for name, rows in by_name.items()}


def first_below(curve: np.ndarray, level: float) -> Optional[int]:
    """The first iteration at which ``curve`` is at or below ``level`` (None if never)."""
    hits = np.flatnonzero(curve <= level)
    return int(hits[0]) if hits.size else None


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Runs the comparison; ``data_dir`` is unused (the data is generated). Returns the results dict."""
    config = config or Config()
    if config.repeats < 1 or config.iterations < 1:
        raise ValueError(f"repeats and iterations must be >= 1, got {config.repeats} and {config.iterations}")
    out = Path(out_dir or "outputs/linear_quadratic")
    say = S.reporter(verbose)
    data_key, order_key = jax.random.split(key)
    x, y = circles(data_key, config.n_points, noise=config.noise)
    model = M.quadratic_logistic_regression()

    expand_error = expand_check()
    say(f"expand(dummy_X) vs the seed's dummy_expanded_ans: max |difference| {expand_error:.1e} (float64)")

    txs = optimizers(config)
    keys = jnp.stack([jax.random.fold_in(order_key, r) for r in range(config.repeats)])  # the same for all
    logs, states = full_data_curves(model, txs, (x, y), config=config, keys=keys)  # order 1's state per optimizer
    curves = {name: log["loss"] for name, log in logs.items()}  # per optimizer: (repeats, iterations + 1)
    accuracy = {name: log["accuracy"][0, -1] for name, log in logs.items()}

    n = config.iterations
    final = {name: c[:, -1] for name, c in curves.items()}
    mean_loss = {name: c.mean(axis=1) for name, c in curves.items()}
    table, faster = [], {}
    for name in txs:
        # Iterations to reach the loss SGD ends with (same data order), per repeat.
        reach = [first_below(curves[name][r], final["SGD"][r]) for r in range(config.repeats)]
        reached = [i for i in reach if i is not None]
        below = int(np.sum(final[name] < final["SGD"]))
        faster[name] = below
        table.append({
            "optimizer": name,
            f"loss after {n} it. (order 1)": f"{final[name][0]:.4f}",
            f"median over {config.repeats} orders": f"{np.median(final[name]):.4f}",
            "mean loss over the run (median)": f"{np.median(mean_loss[name]):.4f}",
            "iterations to SGD's final loss (median)": "-" if name == "SGD" else (
                f"{np.median(reached):.0f}" if reached else "never"),
            "final < SGD's": "-" if name == "SGD" else f"{below}/{config.repeats}",
            "train accuracy (order 1)": S.percent(accuracy[name], 1),
        })
    say(f"\nlogistic regression on expand(x), {config.n_points} points, eta {config.learning_rate}, batch "
        f"{config.batch_size}, {n} iterations; full-data loss at w0: {curves['SGD'][0, 0]:.4f}")
    say(text_table(table))

    median_curves = {f"{name} (median of {config.repeats})": np.median(c, axis=0) for name, c in curves.items()}
    surfaces, axes = viz.figure_grid(len(states), ncols=len(states))
    logits = jax.jit(model.apply)  # one compiled program for the three surfaces
    for ax, (name, state) in zip(axes, states.items()):
        predict = lambda points, p=state.params: np.asarray(logits(p, points) > 0).astype(int).ravel()
        viz.plot_decision_boundary(predict, x, y, ax=ax, title=f"{name}: loss {final[name][0]:.3f} after {n} it.")
    figures = {
        "loss_curves.png": viz.plot_curves(
            {name: c[0] for name, c in curves.items()}, xlabel="iteration", ylabel="full-data cross-entropy",
            title=f"batch {config.batch_size}, eta {config.learning_rate} (same batches for all)"),
        "loss_curves_median.png": viz.plot_curves(median_curves, xlabel="iteration", ylabel="full-data cross-entropy",
                                                  title="median over data orders"),
        "decision_surfaces.png": surfaces,
    }

    rows = [{"experiment": "expand(dummy_X) equals the seed's dummy_expanded_ans (max |diff|, float64)",
             "seed": "exact", "fnnet": f"{expand_error:.1e}"}]
    for name in txs:
        rows.append({"experiment": f"{name}: full-data loss after {n} iterations "
                                   f"(median of {config.repeats} data orders)",
                     "seed": "loss curve falls" if name == "SGD" else "falls faster than SGD",
                     "fnnet": f"{np.median(final[name]):.4f}"})
    for name in ("momentum", "RMSprop"):
        rows.append({"experiment": f"{name} ends below SGD (same batches)", "seed": "falls faster than SGD",
                     "fnnet": f"{faster[name]}/{config.repeats} data orders"})
    return {
        "rows": rows,
        "tables": {"optimizers on expand(x) logistic regression": table},
        "data": f"circles: {config.n_points} generated points (fnnet.data.circles, noise {config.noise}), "
                "classes split by the unit circle",
        "expand_max_difference": expand_error,
        "curves": {name: c.tolist() for name, c in curves.items()},
        "final_loss": {name: v.tolist() for name, v in final.items()},
        "below_sgd": faster,
        "plots": viz.save_figures(figures, out),
        "figures": figures,
    }
