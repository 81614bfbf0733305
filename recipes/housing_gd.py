"""Seed 001 (DL workshop 3), section 2: gradient descent for ``y = m·x + b`` on California housing.

x = ``MedInc`` (median income of a block group, in $10,000s), y = median house value / 100,000 (sklearn's
``fetch_california_housing`` target), all 20,640 block groups. The seed's loop is ::

    f = y - (m*X + b)
    m -= lr * (-2 * X.dot(f).sum() / N)
    b -= lr * (-2 * f.sum() / N)

with both updates computed from the same residual ``f``: exactly the gradient of the MSE
``1/N Σ (y_i - (m x_i + b))²`` (``∂/∂m = -2/N Σ x_i f_i``, ``∂/∂b = -2/N Σ f_i``), i.e. plain SGD on the MSE
with the whole data set as the batch. Here that is ``fnnet.fit`` of a one-unit ``Dense`` layer (kernel = m,
bias = b, both set to 0.2) with ``loss="mse"``, optax SGD (lr 0.01) and ``batch_size = N``, in float64 like
the seed's pandas/numpy arithmetic: after 1,000 iterations (m, b) is the seed's to ~15 digits (only the
order of the floating-point sums differs). Unscaled target, no feature scaling: exactly the seed's problem.

* Closed form: least squares (``numpy.linalg.lstsq`` on ``[x, 1]``), what sklearn's ``LinearRegression``
  computes: (0.41793849, 0.45085577). 1,000 GD steps at lr 0.01 have not quite converged (b is still 0.005
  below), which the loss curves show.
* Mini-batch SGD: m = b = 0.5, lr 0.01, 100 iterations of 100 examples. The seed draws each batch with
  ``np.random.randint`` (with replacement, no seed), so its (0.41079, 0.47575) is one random draw; here each
  iteration takes 100 distinct examples drawn with ``jax.random`` from the run's key (``fit`` with
  ``steps_per_epoch=1``: a fresh permutation per iteration).
* Extra (not in the seed): all eight features, standardized, full-batch GD from zero vs least squares.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import models as M
from fnnet import optim, report, viz
from fnnet.data import DatasetNotFoundError, Standardizer, load_california_housing
from fnnet.data.formats import HOUSING_FEATURES

from . import _settings as V
from . import _support as S

DESCRIPTION = "gradient descent vs closed form vs mini-batch SGD for y = m*x + b on California housing (seed 001)"


@dataclasses.dataclass(frozen=True)
class Config:
    feature: str = "MedInc"
    gd_start: float = 0.2  # initial m and b
    gd_learning_rate: float = 0.01
    gd_iterations: int = 1000
    gd_log_every: int = 10  # the full-data MSE is recorded every this many GD iterations
    sgd_start: float = 0.5
    sgd_learning_rate: float = 0.01
    sgd_iterations: int = 100
    sgd_batch_size: int = 100
    sgd_log_every: int = 1
    float64: bool = True  # the seed's numpy arithmetic is float64
    all_features: bool = True  # the extra table: all 8 standardized features, GD vs least squares
    all_features_learning_rate: float = 0.1
    all_features_iterations: int = 1000
    allow_partial_data: bool = False  # True: load a copy with other than 20,640 rows (with a warning)


QUICK = dict(gd_log_every=100, sgd_log_every=10, all_features_iterations=100)

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "feature": V.choice(*HOUSING_FEATURES),
    "gd_start": V.number(),
    "gd_learning_rate": V.positive(),
    "gd_iterations": V.integer(1),
    "gd_log_every": V.integer(1),
    "sgd_start": V.number(),
    "sgd_learning_rate": V.positive(),
    "sgd_iterations": V.integer(1),
    "sgd_batch_size": V.integer(1),
    "sgd_log_every": V.integer(1),
    "float64": V.flag(),
    "all_features": V.flag(),
    "all_features_learning_rate": V.positive(),
    "all_features_iterations": V.integer(1),
    "allow_partial_data": V.flag(),
}
RELATIONS = [
    V.multiple_of("gd_iterations", "gd_log_every"),
    V.multiple_of("sgd_iterations", "sgd_log_every"),
    V.batch_fits_data("sgd_batch_size", examples=20_640, limit=None),
]

SEED_GD = (0.41893244701097204, 0.44612945637258383)
SEED_CLOSED_FORM = (0.41793849, 0.4508557670326776)
SEED_SGD = (0.41078958000903365, 0.4757463276058315)


# ----------------------------------------------------------------------------------------------
# Linear regression through the library


def linear_model() -> fnnet.Model:
    """``y = x @ w + b`` for ``x (N, k)``: one ``Dense(1)`` unit (kernel ``(k, 1)`` = w, bias ``(1,)`` = b)."""
    return M.Sequential([M.Dense(1)], name="linear_regression")


def linear_params(coef, intercept: float, dtype=np.float64) -> dict:
    """:func:`linear_model`'s params for ``y = x @ coef + intercept`` (``coef (k,)``)."""
    kernel = jnp.asarray(np.reshape(np.asarray(coef, np.float64), (-1, 1)), dtype)
    return {"dense_0": {"kernel": kernel, "bias": jnp.full((1,), intercept, dtype)}}


@dataclasses.dataclass
class LinearFit:
    """A fitted ``y = x @ coef + intercept``; ``mse[i]`` is the full-data MSE after ``i * log_every``
    iterations (``mse[0]``: at the start)."""

    coef: np.ndarray  # (k,)
    intercept: float
    mse: list
    log_every: int
    seconds: float

    @property
    def line(self) -> tuple[float, float]:
        """``(m, b)`` of a one-feature fit."""
        return float(self.coef[0]), self.intercept


def gradient_descent(
    x, y, *, key: jax.Array, start: float, learning_rate: float, iterations: int, batch_size: Optional[int] = None,
    log_every: int = 1, float64: bool = True,
) -> LinearFit:
    """Minimizes the MSE of ``y ≈ x @ w + b`` (``x (N, k)``, ``y (N,)``) by SGD from ``w = b = start``.

    ``batch_size=None``: full-batch gradient descent on all N rows in their order (deterministic; ``key``
    is unused). Otherwise each iteration uses ``batch_size`` distinct rows drawn from ``key``. The
    full-data MSE is recorded every ``log_every`` iterations (``iterations`` must be a multiple)."""
    if iterations < 1 or log_every < 1 or iterations % log_every:
        raise ValueError(f"iterations ({iterations}) must be a positive multiple of log_every ({log_every})")
    model, tx = linear_model(), optim.optimizer("sgd", learning_rate)
    dtype = np.float64 if float64 else np.float32
    t0 = time.perf_counter()
    with jax.enable_x64(float64):
        x, y = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
        params = linear_params(np.full(x.shape[1], start), start, dtype)
        initial = fnnet.create_train_state(model, tx, key, x[:1], params=params)
        start_mse = fnnet.evaluate(model, params, x, y, loss="mse", batch_size=len(x))["loss"]
        state, history = fnnet.fit(
            model, "mse", tx, (x, y), batch_size=len(x) if batch_size is None else batch_size,
            epochs=iterations // log_every, steps_per_epoch=log_every, shuffle=batch_size is not None,
            validation_data=(x, y), eval_batch_size=len(x), initial_state=initial, key=key, verbose=0,
        )
        coef = np.asarray(state.params["dense_0"]["kernel"][:, 0], np.float64)
        intercept = float(state.params["dense_0"]["bias"][0])
    return LinearFit(coef, intercept, [start_mse, *history["val_loss"]], log_every, time.perf_counter() - t0)


def least_squares(x, y) -> tuple[np.ndarray, float]:
    """The closed-form minimizer of the MSE (sklearn ``LinearRegression``): ``(coef (k,), intercept)``
    from ``numpy.linalg.lstsq`` on ``[x, 1]`` in float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    solution = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)[0]
    return solution[:-1], float(solution[-1])


def mean_squared_error(x, y, coef, intercept, *, float64: bool = True) -> float:
    """The MSE of ``y ≈ x @ coef + intercept`` over all rows (``fnnet.evaluate`` of :func:`linear_model`)."""
    dtype = np.float64 if float64 else np.float32
    with jax.enable_x64(float64):
        x, y = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
        return fnnet.evaluate(linear_model(), linear_params(coef, intercept, dtype), x, y, loss="mse",
                              batch_size=len(x))["loss"]


def matching_digits(ours: float, seed: float) -> int:
    """Significant digits ``ours`` shares with ``seed``: ``-log10`` of the relative difference, capped at 16."""
    if ours == seed:
        return 16
    return int(min(16, max(0, np.floor(-np.log10(abs(ours - seed) / abs(seed))))))


# ----------------------------------------------------------------------------------------------
# The recipe


def _all_features(config: Config, data_dir, key) -> tuple[str, list]:
    """The extra experiment (all 8 features, standardized): its title and rows, one per coefficient + MSE."""
    data = load_california_housing(data_dir, features="all", drop_missing=True,
                                   allow_partial=config.allow_partial_data)
    x, y = Standardizer.fit(data.x_train)(data.x_train), data.y_train
    gd = gradient_descent(x, y, key=key, start=0.0, learning_rate=config.all_features_learning_rate,
                          iterations=config.all_features_iterations, log_every=config.all_features_iterations,
                          float64=config.float64)
    coef, intercept = least_squares(x, y)
    column = "coefficient (standardized feature)"
    rows = [{column: name, "least squares": f"{c:.6f}", "full-batch GD": f"{g:.6f}"}
            for name, c, g in zip([*data.feature_names, "intercept"], [*coef, intercept], [*gd.coef, gd.intercept])]
    least_squares_mse = mean_squared_error(x, y, coef, intercept, float64=config.float64)
    rows.append({column: "MSE", "least squares": f"{least_squares_mse:.6f}", "full-batch GD": f"{gd.mse[-1]:.6f}"})
    title = (f"extra: all 8 features standardized ({len(x):,} rows without missing values), least squares vs "
             f"{config.all_features_iterations} full-batch GD steps at lr {config.all_features_learning_rate} "
             "from zero")
    return title, rows


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Fits the line three ways; returns the results dict (rows: each seed number next to fnnet's)."""
    config = config or Config()
    out = Path(out_dir or "outputs/housing_gd")
    say = S.reporter(verbose)
    experiments = [
        (f"full-batch GD, {config.gd_iterations} iterations: (m, b)", str(SEED_GD)),
        ("closed form (least squares): (m, b)", str(SEED_CLOSED_FORM)),
        (f"mini-batch SGD, {config.sgd_iterations} iterations of {config.sgd_batch_size}: (m, b)", str(SEED_SGD)),
    ]
    try:
        data = load_california_housing(data_dir, features=config.feature, allow_partial=config.allow_partial_data)
    except DatasetNotFoundError as err:
        return S.not_available(err, data_dir, say, *experiments)
    x, y = data.x_train, data.y_train
    data_note = (f"California housing: {len(x):,} block groups ({data.source}); x = {config.feature}, "
                 "y = median house value / 100,000")
    say(f"data: {data_note}")
    gd_key, sgd_key, extra_key = jax.random.split(key, 3)

    gd = gradient_descent(x, y, key=gd_key, start=config.gd_start, learning_rate=config.gd_learning_rate,
                          iterations=config.gd_iterations, log_every=config.gd_log_every, float64=config.float64)
    coef, intercept = least_squares(x, y)
    closed = (float(coef[0]), intercept)
    sgd = gradient_descent(x, y, key=sgd_key, start=config.sgd_start, learning_rate=config.sgd_learning_rate,
                           iterations=config.sgd_iterations, batch_size=config.sgd_batch_size,
                           log_every=config.sgd_log_every, float64=config.float64)
    fits = {"full-batch GD": gd.line, "closed form": closed, "mini-batch SGD": sgd.line}
    mse = {name: mean_squared_error(x, y, [m], b, float64=config.float64) for name, (m, b) in fits.items()}
    for name, (m, b) in fits.items():
        say(f"{name}: m = {m!r}, b = {b!r}, MSE {mse[name]:.6f}")

    precision = "float64" if config.float64 else "float32"
    digits = min(matching_digits(ours, seed) for ours, seed in zip(gd.line, SEED_GD))
    rows = [
        {"experiment": f"full-batch GD, m=b={config.gd_start}, lr {config.gd_learning_rate}, {config.gd_iterations} "
                       f"iterations ({precision}): (m, b)", "seed": str(SEED_GD), "fnnet": str(gd.line)},
        {"experiment": "full-batch GD: significant digits equal to the seed's (worse of m, b)", "seed": "-",
         "fnnet": str(digits)},
        {"experiment": "closed form (least squares, as sklearn LinearRegression): (m, b)",
         "seed": str(SEED_CLOSED_FORM), "fnnet": str(closed)},
        {"experiment": f"mini-batch SGD, m=b={config.sgd_start}, lr {config.sgd_learning_rate}, "
                       f"{config.sgd_iterations} iterations of {config.sgd_batch_size} (random draw): (m, b)",
         "seed": f"({SEED_SGD[0]:.5f}, {SEED_SGD[1]:.5f})", "fnnet": f"({sgd.line[0]:.5f}, {sgd.line[1]:.5f})"},
    ]
    rows += [{"experiment": f"{name}: MSE on all {len(x):,} rows", "seed": "-",
              "fnnet": f"{value:.6f}"} for name, value in mse.items()]

    figures = {
        "fitted_lines.png": viz.plot_fitted_lines(
            x[:, 0], y, {f"{n} ({m:.4f}, {b:.4f})": (m, b) for n, (m, b) in fits.items()}, xlabel=config.feature,
            ylabel="median house value / 100,000", title="y = m x + b on California housing"),
    }
    for name, fit, file in (("full-batch GD", gd, "gd_loss.png"), ("mini-batch SGD", sgd, "sgd_loss.png")):
        # The distance to the optimum on a log scale shows the rate of convergence (the MSE itself is flat).
        excess = np.asarray(fit.mse) - mse["closed form"]
        figures[file] = viz.plot_curves({name: excess}, step=fit.log_every, logy=True, xlabel="iteration",
                                        ylabel="MSE minus the least-squares MSE", title=f"{name} on all rows")
    results = {
        "rows": rows, "data": data_note, "plots": viz.save_figures(figures, out), "figures": figures,
        "gd": gd.line, "closed_form": closed, "sgd": sgd.line, "gd_matching_digits": digits,
        "gd_mse": gd.mse, "sgd_mse": sgd.mse,
    }
    if config.all_features:
        title, table = _all_features(config, data_dir, extra_key)
        results["tables"] = {title: table}
        say(f"\n{title}\n{report.text_table(table)}")
    return results
