"""Seed 003 (jhui, part 2, "Overfit" and "Regularization"): polynomials of growing order fitted to
noisy y ≈ x data, without and with an L2 penalty.

The seed fits ``y = c0 + c1 x + ... + c_k x^k`` to a few points of a noisy line: order 5 is "less
accurate than a model with order three", order 7 "too hard to train", order 9 "still makes poor
predictions"; doubling the data brings the fit closer to a straight line, and so does adding
``λ ||c||²`` to the MSE with λ = 1 ("after many repetitions of trial").

Here: ``n_train`` points ``y = x + N(0, 1)`` at evenly spaced x in [0, 20] (:func:`fnnet.data.noisy_line`),
:func:`fnnet.models.polynomial_regression` of orders 1, 3, 5, 7, 9 on the powers of ``x / 20`` (in
[0, 1], so that gradient descent can train them at all), trained full-batch with Adam through ``fit``;
the penalty is the model's ``l2`` (``fnnet.losses.l2_penalty`` on the kernel, ``λ (c1² + ... + c_k²)``;
the intercept is not penalized). Generalization is measured three ways: MSE on fresh test points,
the distance of the fitted curve from the true line y = x (mean squared gap over [0, 20]), and the norm
of the non-linear coefficients ``||(c2, ..., c_k)||``.

**λ depends on units.** In these units (powers of x/20, y in [0, 20]) the seed's λ = 1 weighs the
penalty far above the data: it shrinks even the line's slope and leaves a nearly flat fit. So the recipe
also sweeps λ and picks, per order, the λ with the lowest MSE on a separate validation draw; the seed's
λ = 1 is reported as it is.
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
from fnnet.data import noisy_line
from fnnet.report import text_table

from . import _settings as V
from . import _support as S

DESCRIPTION = "polynomial orders 1-9 on noisy y=x data, without and with L2 (seed 003)"

X_LOW, X_HIGH = 0.0, 20.0
LINE_GRID = np.linspace(X_LOW, X_HIGH, 401, dtype=np.float32)[:, None]  # where the gap to y = x is measured


@dataclasses.dataclass(frozen=True)
class Config:
    n_train: int = 12
    n_validation: int = 41
    n_test: int = 101
    noise: float = 1.0
    orders: tuple = (1, 3, 5, 7, 9)
    seed_l2: float = 1.0  # the seed's λ
    l2_sweep: tuple = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    learning_rate: float = 0.1  # Adam, full batch
    steps: int = 20_000


QUICK = dict(orders=(1, 9), l2_sweep=(1e-3,), steps=2_000)

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "n_train": V.integer(2),
    "n_validation": V.integer(1),
    "n_test": V.integer(1),
    "noise": V.number(0),
    "orders": V.items(V.integer(1), unique=True),
    "seed_l2": V.positive(),
    "l2_sweep": V.items(V.positive()),
    "learning_rate": V.positive(),
    "steps": V.integer(1),
}


@dataclasses.dataclass
class Fit:
    """One trained polynomial: its coefficients ``c0..c_k`` (in powers of x/20) and its errors."""

    order: int
    l2: float
    coefficients: np.ndarray
    train_mse: float
    validation_mse: float
    test_mse: float
    line_gap: float  # mean of (f(x) - x)^2 over a fine grid of [0, 20]
    model: fnnet.Model
    params: dict

    @property
    def nonlinear_norm(self) -> float:
        """``||(c2, ..., c_k)||``: 0 for a straight line."""
        return float(np.linalg.norm(self.coefficients[2:]))


def train_polynomial(order: int, l2: float, data: dict, *, config: Config, key) -> Fit:
    """Full-batch Adam on MSE (+ the L2 penalty) for ``config.steps`` steps on ``data["train"]``; returns
    the :class:`Fit` with its MSE on ``data``'s train/validation/test pairs."""
    model = M.polynomial_regression(order, x_scale=X_HIGH, l2=l2)
    x, y = data["train"]
    state, _ = fnnet.fit(model, "mse", optim.optimizer("adam", config.learning_rate), (x, y), batch_size=len(x),
                         epochs=1, steps_per_epoch=config.steps, key=key, verbose=0)
    mse = {name: float(np.mean((np.asarray(model.apply(state.params, xs)) - ys) ** 2))
           for name, (xs, ys) in data.items()}
    gap = float(np.mean((np.asarray(model.apply(state.params, LINE_GRID)) - LINE_GRID) ** 2))
    dense = state.params["dense_0"]
    coefficients = np.concatenate([np.asarray(dense["bias"]), np.asarray(dense["kernel"]).ravel()])
    return Fit(order, l2, coefficients, mse["train"], mse["validation"], mse["test"], gap, model, state.params)


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Fits every order with λ = 0, the seed's λ and the sweep; ``data_dir`` is unused (generated data)."""
    config = config or Config()
    if not config.orders or any(int(k) != k or k < 1 for k in config.orders):
        raise ValueError(f"orders must be positive integers, got {config.orders!r}")
    if not config.l2_sweep or min(config.l2_sweep) <= 0:
        raise ValueError(f"l2_sweep must list positive λ values, got {config.l2_sweep!r}")
    out = Path(out_dir or "outputs/polynomial_overfit")
    say = S.reporter(verbose)
    k_train, k_val, k_test, k_double, k_fit = jax.random.split(key, 5)
    draw = lambda k, n: noisy_line(k, n, noise=config.noise, low=X_LOW, high=X_HIGH)
    grid = LINE_GRID
    data = {"train": draw(k_train, config.n_train), "validation": draw(k_val, config.n_validation),
            "test": draw(k_test, config.n_test)}
    lambdas = sorted({0.0, config.seed_l2, *config.l2_sweep})

    fits = {(order, lam): train_polynomial(order, lam, data, config=config, key=k_fit)
            for order in config.orders for lam in lambdas}
    best = {order: min((fits[order, lam] for lam in config.l2_sweep), key=lambda f: f.validation_mse)
            for order in config.orders}
    top = max(config.orders)
    doubled = dict(data, train=draw(k_double, 2 * config.n_train))
    more_data = train_polynomial(top, 0.0, doubled, config=config, key=k_fit)

    table = []
    for order in config.orders:
        for label, fit in (("none", fits[order, 0.0]), (f"λ={config.seed_l2:g} (seed)", fits[order, config.seed_l2]),
                           (f"λ={best[order].l2:g} (validation)", best[order])):
            table.append({"order": order, "L2": label, "train MSE": f"{fit.train_mse:.3f}",
                          "test MSE": f"{fit.test_mse:.3f}", "gap to y=x": f"{fit.line_gap:.3f}",
                          "||c2..ck||": f"{fit.nonlinear_norm:.2f}"})
    say(f"{config.n_train} training points y = x + N(0, {config.noise:g}), x in [0, 20]; test {config.n_test} fresh "
        f"points; Adam {config.learning_rate}, {config.steps:,} full-batch steps")
    say(text_table(table))
    say(f"order {top} on {2 * config.n_train} points, no L2: gap to y=x {more_data.line_gap:.3f} "
        f"(on {config.n_train}: {fits[top, 0.0].line_gap:.3f})")

    y_all = np.concatenate([data["train"][1].ravel(), data["test"][1].ravel()])
    ylim = (y_all.min() - 3, y_all.max() + 3)
    curve = lambda fit: (grid, np.asarray(fit.model.apply(fit.params, grid)))
    panels = {"no L2": {f"order {k}": curve(fits[k, 0.0]) for k in config.orders},
              "L2, λ chosen on validation": {f"order {k}, λ={best[k].l2:g}": curve(best[k]) for k in config.orders},
              f"L2, λ={config.seed_l2:g} (the seed's)": {f"order {k}": curve(fits[k, config.seed_l2])
                                                          for k in config.orders}}
    fits_figure, axes = viz.figure_grid(len(panels), ncols=len(panels), panel_size=(5.0, 4.0))
    for ax, (title, curves) in zip(axes, panels.items()):
        viz.plot_fits(data["train"][0], data["train"][1], {"y = x": (grid, grid), **curves}, ax=ax, title=title,
                      ylim=ylim)
    swept = [lam for lam in lambdas if lam > 0]
    figures = {
        "fits.png": fits_figure,
        "more_data.png": viz.plot_fits(
            doubled["train"][0], doubled["train"][1],
            {"y = x": (grid, grid), f"order {top}, {config.n_train} points": curve(fits[top, 0.0]),
             f"order {top}, {2 * config.n_train} points": curve(more_data)},
            ylim=ylim, title=f"order {top} without L2: doubling the data"),
        "validation_mse_vs_l2.png": viz.plot_curves(
            {f"order {k}": [fits[k, lam].validation_mse for lam in swept] for k in config.orders},
            x=swept, logx=True, logy=True, xlabel="λ", ylabel="validation MSE", title="L2 strength"),
    }

    none, chosen, seed = fits[top, 0.0], best[top], fits[top, config.seed_l2]
    line = fits[min(config.orders), 0.0]
    rows = [
        {"experiment": f"order {top} vs order {line.order}, train MSE (no L2)",
         "seed": "higher order fits the points closer",
         "fnnet": f"{none.train_mse:.3f} vs {line.train_mse:.3f}"},
        {"experiment": f"order {top} vs order {line.order}, test MSE (no L2)", "seed": "higher order predicts worse",
         "fnnet": f"{none.test_mse:.3f} vs {line.test_mse:.3f}"},
        {"experiment": f"order {top}: ||c2..c{top}|| without L2 / λ={chosen.l2:g} (validation) / λ={config.seed_l2:g}",
         "seed": "L2 shrinks the coefficients", "fnnet": f"{none.nonlinear_norm:.2f} / {chosen.nonlinear_norm:.2f} / "
                                                         f"{seed.nonlinear_norm:.2f}"},
        {"experiment": f"order {top}: gap to y=x without L2 / λ={chosen.l2:g} (validation) / λ={config.seed_l2:g}",
         "seed": "L2 brings the curve back toward a line",
         "fnnet": f"{none.line_gap:.3f} / {chosen.line_gap:.3f} / {seed.line_gap:.3f}"},
        {"experiment": f"order {top}: test MSE without L2 / λ={chosen.l2:g} (validation)",
         "seed": "better predictions with L2", "fnnet": f"{none.test_mse:.3f} / {chosen.test_mse:.3f}"},
        {"experiment": f"order {top}, no L2: gap to y=x with {config.n_train} / {2 * config.n_train} points",
         "seed": "more data: closer to a straight line", "fnnet": f"{none.line_gap:.3f} / {more_data.line_gap:.3f}"},
    ]
    return {
        "rows": rows,
        "tables": {"train/test MSE per order and L2": table},
        "data": f"noisy_line: {config.n_train} training points y = x + N(0, {config.noise:g}) on [0, 20], "
                f"{config.n_validation} validation and {config.n_test} test points (generated)",
        "fits": {f"order {k}, l2 {lam:g}": {"train_mse": f.train_mse, "validation_mse": f.validation_mse,
                                            "test_mse": f.test_mse, "line_gap": f.line_gap,
                                            "nonlinear_norm": f.nonlinear_norm, "coefficients": f.coefficients.tolist()}
                 for (k, lam), f in fits.items()},
        "best_l2": {k: f.l2 for k, f in best.items()},
        "more_data_line_gap": more_data.line_gap,
        "plots": viz.save_figures(figures, out),
        "figures": figures,
    }
