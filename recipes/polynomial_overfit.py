"""Seed 003 (jhui, part 2, "Overfit" and "Regularization"): polynomials of growing order fitted to
noisy y ≈ x data, without and with an L2 penalty.

The seed fits ``y = c0 + c1 x + ... + c_k x^k`` to a few points of a noisy line: order 5 is "less
accurate than a model with order three", order 7 "too hard to train", order 9 "still makes poor
predictions"; doubling the data brings the fit closer to a straight line, and so does the penalty
written ``J = MSE + λ ||W||`` with ``||c|| = sqrt(c0² + c1² + ... )`` and λ = 1 ("after many
repetitions of trial"): "with the regularization, our model makes better predictions".

Here: ``n_train`` points ``y = x + N(0, 1)`` at evenly spaced x in [0, 20] (:func:`fnnet.data.noisy_line`),
polynomials of orders 1, 3, 5, 7, 9, fitted two ways:

* **Exactly** (the minimizer, float64 least squares on the powers of ``x / 20``): with ``n_train = 10``
  points, order 9 (10 coefficients) passes through every training point (train MSE ~1e-20), the
  article's overfitting picture. The article's penalty as it writes it, ``MSE + λ ||c||`` (the norm, not
  its square, every coefficient including c0), has no closed form; it is a ridge solution
  ``(AᵀA + μ DᵀD) c = Aᵀy`` with ``μ = n λ / (2 ||D c||)``, found by bisection on μ
  (:func:`article_penalized_fit`), once with the coefficients of the powers of x itself (the article's
  units: its "Pieter's equation" has c9 = 1.9e-7) and once with those of the powers of x / 20.
* **By training** (full-batch Adam, ``steps`` steps, on the powers of x / 20 so that gradient descent can
  train them at all; every λ of an order in one compiled sweep, :func:`fnnet.search.fit_sweep`), without
  L2, with fnnet's squared penalty ``λ (c1² + ... + c_k²)`` (the intercept not penalized) at the seed's
  λ = 1 and at the λ of a sweep chosen on a validation draw. Training does not reach the exact
  minimizer of order 9 (its powers are nearly collinear): the article's "even after a long training".

Generalization is measured three ways: MSE on fresh test points, the distance of the fitted curve from
the true line y = x (mean squared gap over [0, 20]), and the norm of the non-linear coefficients
``||(c2, ..., c_k)||`` (in powers of x / 20). Where the article's claim does not come out, the row says so.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import jax
import numpy as np

import fnnet
from fnnet import models as M
from fnnet import viz
from fnnet.data import noisy_line
from fnnet.report import text_table

from . import _settings as V
from . import _support as S

DESCRIPTION = "polynomial orders 1-9 on noisy y=x data, without and with L2 (seed 003)"

X_LOW, X_HIGH = 0.0, 20.0
LINE_GRID = np.linspace(X_LOW, X_HIGH, 401, dtype=np.float32)[:, None]  # where the gap to y = x is measured


@dataclasses.dataclass(frozen=True)
class Config:
    n_train: int = 10  # order 9 has 10 coefficients: it can pass through 10 points exactly
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


def powers(x, order: int) -> np.ndarray:
    """``(N, order + 1)`` float64 matrix of ``(x / 20)^k``, k = 0..order, for x of shape (N, 1) or (N,)."""
    t = np.asarray(x, np.float64).reshape(-1, 1) / X_HIGH
    return t ** np.arange(order + 1)


@dataclasses.dataclass
class Fit:
    """One fitted polynomial: its coefficients ``c0..c_k`` in powers of x/20, how it was fitted, its errors."""

    order: int
    method: str  # e.g. "exact, no L2", "Adam, λ=1"
    l2: float
    coefficients: np.ndarray
    train_mse: float
    validation_mse: float
    test_mse: float
    line_gap: float  # mean of (f(x) - x)^2 over a fine grid of [0, 20]
    predict: Callable  # x (N, 1) -> (N, 1)

    @property
    def nonlinear_norm(self) -> float:
        """``||(c2, ..., c_k)||``: 0 for a straight line."""
        return float(np.linalg.norm(self.coefficients[2:]))


def _measure(order, method, l2, coefficients, predict, data) -> Fit:
    mse = {name: float(np.mean((predict(xs) - np.asarray(ys, np.float64)) ** 2)) for name, (xs, ys) in data.items()}
    gap = float(np.mean((predict(LINE_GRID) - LINE_GRID.astype(np.float64)) ** 2))
    return Fit(order, method, l2, np.asarray(coefficients, np.float64), mse["train"], mse["validation"], mse["test"],
               gap, predict)


def _polynomial(coefficients, order):
    return lambda x: powers(x, order) @ np.asarray(coefficients, np.float64)[:, None]


def article_penalized_fit(a: np.ndarray, y: np.ndarray, lam: float, weights: np.ndarray) -> np.ndarray:
    """The minimizer of ``mean((a @ c - y)**2) + lam * ||weights * c||`` (the norm, not squared), float64.

    Setting the gradient to zero gives the ridge system ``(aᵀa + μ W²) c = aᵀy`` with
    ``μ = n lam / (2 ||W c||)``; ``μ ||W c(μ)||`` grows with μ, so μ is found by bisection on log μ
    (each ``c(μ)`` by ``lstsq`` of the stacked system ``[a; sqrt(μ) W] c = [y; 0]``, which stays
    accurate when ``aᵀa`` is ill-conditioned). When ``||W⁻¹ (2/n) aᵀy|| <= lam``, c = 0 is the minimizer.
    """
    n = len(y)
    y = np.asarray(y, np.float64).ravel()
    if lam == 0:
        return np.linalg.lstsq(a, y, rcond=None)[0]
    if np.linalg.norm((2.0 / n) * (a.T @ y) / weights) <= lam:
        return np.zeros(a.shape[1])

    def solve(mu):
        stacked = np.concatenate([a, np.sqrt(mu) * np.diag(weights)])
        return np.linalg.lstsq(stacked, np.concatenate([y, np.zeros(a.shape[1])]), rcond=None)[0]

    low, high = -60.0, 60.0  # log10 μ
    for _ in range(200):
        mid = 0.5 * (low + high)
        c = solve(10.0**mid)
        if 10.0**mid * np.linalg.norm(weights * c) < n * lam / 2:
            low = mid
        else:
            high = mid
    return solve(10.0 ** (0.5 * (low + high)))


def exact_fit(order: int, data: dict, *, lam: float = 0.0, units: str = "x/20") -> Fit:
    """The exact minimizer of ``MSE + lam ||c||`` (the article's penalty; lam = 0: plain least squares),
    ``||c||`` over the coefficients of the powers of ``x`` (``units="x"``) or of ``x / 20`` (``"x/20"``)."""
    x, y = data["train"]
    weights = X_HIGH ** -np.arange(order + 1.0) if units == "x" else np.ones(order + 1)
    coefficients = article_penalized_fit(powers(x, order), y, lam, weights)
    method = "exact, no L2" if lam == 0 else f"exact, article λ||c|| λ={lam:g}, c of powers of {units}"
    return _measure(order, method, lam, coefficients, _polynomial(coefficients, order), data)


def train_polynomials(order: int, lambdas, data: dict, *, config: Config, key) -> dict:
    """Full-batch Adam on ``MSE + λ (c1² + ... + c_k²)`` for ``config.steps`` steps on ``data["train"]``, one
    member per λ of ``lambdas``, all in one compiled program (:func:`fnnet.search.fit_sweep`, the same
    initial weights for every λ). The penalty is the optimizer's coupled ``l2 = 2 λ`` on the kernel
    (``g += 2 λ c``, the gradient of ``λ Σ c²``; the intercept is the bias, not penalized): the same training
    as ``polynomial_regression(order, l2=λ)``. Returns ``{λ: Fit}``."""
    model = M.polynomial_regression(order, x_scale=X_HIGH)
    x, y = data["train"]
    state, _ = fnnet.search.fit_sweep(
        model, "mse", "adam", (x, y), hyperparams={"l2": [2.0 * lam for lam in lambdas]}, key=key, epochs=1,
        batch_size=len(x), optimizer_options={"learning_rate": config.learning_rate}, verbose=0,
        options=fnnet.TrainOptions(steps_per_epoch=config.steps))
    fits = {}
    for member, lam in enumerate(lambdas):
        params = jax.tree.map(lambda leaf, m=member: np.asarray(leaf[m]), state.params)
        dense = params["dense_0"]
        coefficients = np.concatenate([dense["bias"], dense["kernel"].ravel()])
        predict = lambda xs, p=params: np.asarray(model.apply(p, np.asarray(xs, np.float32)), np.float64)
        method = "Adam, no L2" if lam == 0 else f"Adam, λ={lam:g}"
        fits[lam] = _measure(order, method, lam, coefficients, predict, data)
    return fits


def _verdict(holds: bool, measured: str) -> str:
    """The measured numbers and whether they bear out the article's claim of the row."""
    return f"{measured}: {'as the article says' if holds else 'NOT as the article says'}"


def _verdicts(measured: str, **holds: bool) -> str:
    """Like :func:`_verdict`, one verdict per labelled setting (``holds={"λ=1": False, ...}``)."""
    said = "; ".join(f"{label} {'as the article says' if ok else 'NOT as the article says'}"
                     for label, ok in holds.items())
    return f"{measured}: {said}"


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Fits every order exactly (no L2; the article's penalty at the seed's λ) and with Adam (λ = 0, the
    seed's λ and the sweep); ``data_dir`` is unused (generated data)."""
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
    lam = config.seed_l2

    exact = {order: {"none": exact_fit(order, data), "x": exact_fit(order, data, lam=lam, units="x"),
                     "x/20": exact_fit(order, data, lam=lam, units="x/20")} for order in config.orders}
    fits = {(order, l2): fit for order in config.orders
            for l2, fit in train_polynomials(order, lambdas, data, config=config, key=k_fit).items()}
    best = {order: min((fits[order, l2] for l2 in config.l2_sweep), key=lambda f: f.validation_mse)
            for order in config.orders}
    top, low = max(config.orders), min(config.orders)
    doubled = dict(data, train=draw(k_double, 2 * config.n_train))
    more_data = exact_fit(top, doubled)

    table = []
    for order in config.orders:
        for fit in (*exact[order].values(), fits[order, 0.0], fits[order, lam], best[order]):
            label = fit.method + (" (validation)" if fit is best[order] else "")
            table.append({"order": order, "fit": label, "train MSE": f"{fit.train_mse:.3g}",
                          "test MSE": f"{fit.test_mse:.3f}", "gap to y=x": f"{fit.line_gap:.3f}",
                          "||c2..ck||": f"{fit.nonlinear_norm:.2f}"})
    say(f"{config.n_train} training points y = x + N(0, {config.noise:g}), x in [0, 20]; test {config.n_test} fresh "
        f"points; exact float64 minimizers, and Adam {config.learning_rate}, {config.steps:,} full-batch steps")
    say(text_table(table))

    y_all = np.concatenate([data["train"][1].ravel(), data["test"][1].ravel()])
    ylim = (y_all.min() - 3, y_all.max() + 3)
    curve = lambda fit: (grid, fit.predict(grid))
    panels = {"exact, no L2": {f"order {k}": curve(exact[k]["none"]) for k in config.orders},
              f"exact, the article's MSE + {lam:g} ||c|| (c of x^k)": {f"order {k}": curve(exact[k]["x"])
                                                                     for k in config.orders},
              "Adam, λ chosen on validation": {f"order {k}, λ={best[k].l2:g}": curve(best[k]) for k in config.orders},
              f"Adam, MSE + {lam:g} (c1²+..+ck²)": {f"order {k}": curve(fits[k, lam]) for k in config.orders}}
    fits_figure, axes = viz.figure_grid(len(panels), ncols=len(panels), panel_size=(5.0, 4.0))
    for ax, (title, curves) in zip(axes, panels.items()):
        viz.plot_fits(data["train"][0], data["train"][1], {"y = x": (grid, grid), **curves}, ax=ax, title=title,
                      ylim=ylim)
    swept = [l2 for l2 in lambdas if l2 > 0]
    figures = {
        "fits.png": fits_figure,
        "more_data.png": viz.plot_fits(
            doubled["train"][0], doubled["train"][1],
            {"y = x": (grid, grid), f"order {top}, {config.n_train} points": curve(exact[top]["none"]),
             f"order {top}, {2 * config.n_train} points": curve(more_data)},
            ylim=ylim, title=f"order {top} without L2: doubling the data"),
        "validation_mse_vs_l2.png": viz.plot_curves(
            {f"order {k}": [fits[k, l2].validation_mse for l2 in swept] for k in config.orders},
            x=swept, logx=True, logy=True, xlabel="λ", ylabel="validation MSE", title="L2 strength (Adam)"),
    }
    return {
        "rows": _rows(config, exact, fits, best, more_data, top, low),
        "tables": {"train/test MSE per order and fit": table},
        "data": f"noisy_line: {config.n_train} training points y = x + N(0, {config.noise:g}) on [0, 20], "
                f"{config.n_validation} validation and {config.n_test} test points (generated)",
        "exact": {f"order {k}, {name}": _summary(f) for k, by in exact.items() for name, f in by.items()},
        "fits": {f"order {k}, l2 {l2:g}": _summary(f) for (k, l2), f in fits.items()},
        "best_l2": {k: f.l2 for k, f in best.items()},
        "more_data_line_gap": more_data.line_gap,
        "plots": viz.save_figures(figures, out),
        "figures": figures,
    }


def _summary(fit: Fit) -> dict:
    return {"method": fit.method, "train_mse": fit.train_mse, "validation_mse": fit.validation_mse,
            "test_mse": fit.test_mse, "line_gap": fit.line_gap, "nonlinear_norm": fit.nonlinear_norm,
            "coefficients": fit.coefficients.tolist()}


def _rows(config, exact, fits, best, more_data, top, low) -> list:
    lam, n = config.seed_l2, config.n_train
    none, line = exact[top]["none"], exact[low]["none"]
    raw, scaled = exact[top]["x"], exact[top]["x/20"]
    adam, chosen, adam_seed = fits[top, 0.0], best[top], fits[top, lam]
    through = " (passes through every training point)" if none.train_mse < 1e-12 else ""

    def adam_row(what, attr, fmt, claim, suffix=""):
        """Order ``top`` trained by Adam: ``attr`` without L2 / at the validated λ / at the seed's λ."""
        values = [getattr(fit, attr) for fit in (adam, chosen, adam_seed)]
        settings = f"without L2 / λ={chosen.l2:g} (validation) / λ={lam:g}"
        verdicts = {f"at λ={chosen.l2:g}": values[1] < values[0], f"at λ={lam:g}": values[2] < values[0]}
        return {"experiment": f"order {top}, Adam: {what} {settings}{suffix}", "seed": claim,
                "fnnet": _verdicts(" / ".join(f"{v:{fmt}}" for v in values), **verdicts)}
    rows = [
        {"experiment": f"order {top} vs order {low}, train MSE (exact least squares, no L2, {n} points)",
         "seed": "higher order fits the points closer",
         "fnnet": _verdict(none.train_mse < line.train_mse,
                           f"{none.train_mse:.2g} vs {line.train_mse:.3f}{through}")},
        {"experiment": f"order {top} vs order {low}, test MSE (exact, no L2)", "seed": "higher order predicts worse",
         "fnnet": _verdict(none.test_mse > line.test_mse,
                           f"{none.test_mse:.3f} vs {line.test_mse:.3f}")},
        {"experiment": f"order {top}, no L2: train MSE after Adam {config.steps:,} steps vs the exact minimizer",
         "seed": "order 9: even after a long training, poor predictions",
         "fnnet": _verdict(adam.train_mse > 10 * max(none.train_mse, 1e-12),
                           f"{adam.train_mse:.3f} vs {none.train_mse:.2g}")},
    ]
    for units, fit in (("x", raw), ("x/20", scaled)):
        label = f"order {top}, exact, article's MSE + λ||c|| with λ={lam:g}, c of powers of {units}"
        rows.append({"experiment": f"{label}: gap to y=x without / with",
                     "seed": "L2 brings the curve back toward a line",
                     "fnnet": _verdict(fit.line_gap < none.line_gap,
                                       f"{none.line_gap:.3f} / {fit.line_gap:.3f}")})
        rows.append({"experiment": f"{label}: test MSE without / with", "seed": "better predictions with L2",
                     "fnnet": _verdict(fit.test_mse < none.test_mse,
                                       f"{none.test_mse:.3f} / {fit.test_mse:.3f}")})
    rows += [
        adam_row(f"||c2..c{top}||", "nonlinear_norm", ".2f", "L2 shrinks the coefficients",
                 ", fnnet's λ(c1²+..+ck²)"),
        adam_row("gap to y=x", "line_gap", ".3f", "L2 brings the curve back toward a line"),
        adam_row("test MSE", "test_mse", ".3f", "better predictions with L2"),
        {"experiment": f"order {top}, exact, no L2: gap to y=x with {n} / {2 * n} points",
         "seed": "more data: closer to a straight line",
         "fnnet": _verdict(more_data.line_gap < none.line_gap,
                           f"{none.line_gap:.3f} / {more_data.line_gap:.3f}")},
    ]
    return rows
