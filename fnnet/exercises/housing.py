"""The workshop's hand-derived gradient descent for ``y = m*x + b`` (seed 001, "2 Gradient Descent").

The workshop fits the California-housing target on one feature (MedInc) by gradient descent on the mean
squared error, with the derivatives written by hand::

    f = y - (m*X + b)
    m -= lr * (-2 * X.dot(f).sum() / N)
    b -= lr * (-2 * f.sum() / N)

(the workshop's comment writes the derivative as ``1/N * SUM(-2*x_i*(m*x_i+b))``, dropping ``y_i``; its
code uses the residual ``f = y - (m*x + b)``, which is what is checked). Three exercises: the gradient,
one step (both gradients at the old ``(m, b)``: ``f`` is computed once), and the loop from
``m, b = 0.2, 0.2`` that logs ``(m, b)`` and the MSE after every update. ``X`` and ``y`` are 1-D arrays
of ``N`` samples. References: ``jax.grad`` of the MSE, ``optax.sgd`` for the step, ``lax.scan`` for the loop.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet.exercises.checking import diagnose_from, numeric_gradient, numpy_reference, scaled
from fnnet.exercises.spec import Case, Exercise, Mistake

LAYOUT = "X: (N,) the single feature (MedInc); y: (N,) the target; m, b: floats, the slope and the intercept"


def _mse(m, b, X, y):
    return jnp.mean((y - (m * X + b)) ** 2)


def _data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Housing-like data: incomes in [0.5, 15], targets about 0.42 * income + 0.45 (the workshop's fit)."""
    X = rng.uniform(0.5, 15.0, n)
    return X, 0.42 * X + 0.45 + rng.normal(scale=0.8, size=n)


def _point_cases(rng: np.random.Generator, extra: tuple = ()) -> list:
    cases = []
    for name, n, (m, b) in (("the workshop's start m, b = 0.2, 0.2", 20, (0.2, 0.2)),
                            ("random, N=7", 7, tuple(rng.normal(size=2))), ("edge: one sample", 1, (0.5, -0.3))):
        X, y = _data(rng, n)
        cases.append(Case(name, (X, y, float(m), float(b)) + extra))
    return cases


def _as_floats(out):
    """``(m, b)`` pairs as a tuple of 0-d float arrays (the learner may return floats or numpy scalars)."""
    if isinstance(out, (tuple, list)) and len(out) == 2:
        try:
            return tuple(np.asarray(v, dtype=np.float64).reshape(()) for v in out)
        except (TypeError, ValueError):
            return tuple(out)
    return out


# ----------------------------------------------------------------------------------------------
# the gradient


def _gradient_reference(X, y, m, b):
    return jax.grad(_mse, argnums=(0, 1))(jnp.asarray(m, jnp.float64), jnp.asarray(b, jnp.float64), X, y)


def _gradient_numeric(case: Case):
    X, y, m, b = case.args
    mse = numpy_reference(jax.jit(_mse))
    grad = numeric_gradient(lambda mb: mse(mb[0], mb[1], X, y), np.array([m, b]), 1e-6)
    return tuple(np.asarray(g) for g in grad)


def _grad_no_n(X, y, m, b):
    f = y - (m * X + b)
    return -2 * X.dot(f).sum(), -2 * f.sum()


def _grad_sign(X, y, m, b):
    f = y - (m * X + b)
    return 2 * X.dot(f).sum() / len(X), 2 * f.sum() / len(X)


def _grad_comment(X, y, m, b):
    f = m * X + b  # the workshop comment's formula, without y
    return -2 * X.dot(f).sum() / len(X), -2 * f.sum() / len(X)


def _grad_no_x(X, y, m, b):
    f = y - (m * X + b)
    return -2 * f.sum() / len(X), -2 * f.sum() / len(X)


GRADIENT_MISTAKES = (
    Mistake("no division by N", _grad_no_n, "forgot to divide by N = len(X): the MSE is a mean over the samples"),
    Mistake("sign", _grad_sign, "sign: d/dm (y - (m*x + b))^2 = -2 * x * (y - (m*x + b)); the factor is -2"),
    Mistake("the comment's formula", _grad_comment,
            "the residual is f = y - (m*X + b): the workshop's comment drops y_i, its code does not"),
    Mistake("no x in dm", _grad_no_x, "dMSE/dm has the factor x_i: -2 * X.dot(f) / N (db has none)"),
)

mse_gradient = Exercise(
    name="housing.mse_gradient",
    task=("Derive by hand the gradient of MSE = 1/N SUM (y_i - (m*x_i + b))^2 with respect to m and b, and "
          "return (dMSE/dm, dMSE/db) at the given m, b."),
    signature="def mse_gradient(X, y, m, b):",
    layout=LAYOUT + "\nreturns: (dm, db), two floats",
    reference=numpy_reference(_gradient_reference),
    cases=_point_cases,
    project=_as_floats,
    diagnose=diagnose_from(GRADIENT_MISTAKES, scaled(lambda case: len(case.args[0]), GRADIENT_MISTAKES[0].hint),
                           project=_as_floats),
    mistakes=GRADIENT_MISTAKES,
    numeric=_gradient_numeric,
)


# ----------------------------------------------------------------------------------------------
# one step


def _step_reference(X, y, m, b, lr=0.05):
    params = (jnp.asarray(m, jnp.float64), jnp.asarray(b, jnp.float64))
    tx = optax.sgd(lr)
    updates, _ = tx.update(jax.grad(_mse, argnums=(0, 1))(*params, X, y), tx.init(params))
    return optax.apply_updates(params, updates)


def _step_fresh_f(X, y, m, b, lr=0.05):
    N = len(X)
    f = y - (m * X + b)
    m -= lr * (-2 * X.dot(f).sum() / N)
    f = y - (m * X + b)  # recomputed with the new m
    b -= lr * (-2 * f.sum() / N)
    return m, b


def _step_plus(X, y, m, b, lr=0.05):
    N, f = len(X), y - (m * X + b)
    return m + lr * (-2 * X.dot(f).sum() / N), b + lr * (-2 * f.sum() / N)


def _step_no_lr(X, y, m, b, lr=0.05):
    N, f = len(X), y - (m * X + b)
    return m - (-2 * X.dot(f).sum() / N), b - (-2 * f.sum() / N)


STEP_MISTAKES = (
    Mistake("f after the m update", _step_fresh_f,
            "compute f = y - (m*X + b) once, before updating m: both gradients are taken at the old (m, b)"),
    Mistake("climbs the gradient", _step_plus, "gradient DESCENT: m -= lr * dm, b -= lr * db (minus)"),
    Mistake("no learning rate", _step_no_lr, "multiply the gradients by the learning rate lr"),
)

gradient_descent_step = Exercise(
    name="housing.gradient_descent_step",
    task=("One iteration of the workshop's loop: f = y - (m*X + b), then update m and b by the learning rate "
          "times their gradients. Return the new (m, b)."),
    signature="def gradient_descent_step(X, y, m, b, lr=0.05):",
    layout=LAYOUT + "; lr: the learning rate\nreturns: (m, b) after the step",
    reference=numpy_reference(_step_reference),
    cases=lambda rng: _point_cases(rng, (0.01,)),
    project=_as_floats,
    diagnose=diagnose_from(STEP_MISTAKES, project=_as_floats),
    mistakes=STEP_MISTAKES,
)


# ----------------------------------------------------------------------------------------------
# the loop


@functools.partial(jax.jit, static_argnames="iterations")
def _descend(X, y, lr, iterations):
    def step(mb, _):
        grads = jax.grad(_mse, argnums=(0, 1))(*mb, X, y)
        mb = optax.apply_updates(mb, jax.tree_util.tree_map(lambda g: -lr * g, grads))
        return mb, (jnp.stack(mb), _mse(*mb, X, y))

    start = (jnp.asarray(0.2, X.dtype), jnp.asarray(0.2, X.dtype))
    (m, b), (log, mse) = jax.lax.scan(step, start, None, length=iterations)
    return m, b, log, mse


@numpy_reference
def _loop_reference(X, y, lr=0.05, iterations=10):
    return _descend(jnp.asarray(X), jnp.asarray(y), lr, iterations)


def _as_loop(out):
    """``(m, b, log, mse)`` with the lists as arrays: ``log (iterations, 2)``, ``mse (iterations,)``."""
    if not isinstance(out, (tuple, list)) or len(out) != 4:
        return out
    m, b, log, mse = out
    try:
        return (np.asarray(m, float).reshape(()), np.asarray(b, float).reshape(()),
                np.asarray(log, float).reshape(-1, 2), np.asarray(mse, float))
    except (TypeError, ValueError):
        return out


def _loop(X, y, lr=0.05, iterations=10, *, start=(0.2, 0.2), log_before=False, divide=True):
    m, b = start
    log, mse = [], []
    N = len(X) if divide else 1
    for _ in range(iterations):
        f = y - (m * X + b)
        if log_before:
            log.append((m, b))
            mse.append(np.mean((y - (m * X + b)) ** 2))
        m -= lr * (-2 * X.dot(f).sum() / N)
        b -= lr * (-2 * f.sum() / N)
        if not log_before:
            log.append((m, b))
            mse.append(np.mean((y - (m * X + b)) ** 2))
    return m, b, log, mse


LOOP_MISTAKES = (
    Mistake("starts at zero", functools.partial(_loop, start=(0.0, 0.0)),
            "start from the workshop's initial parameters m, b = 0.2, 0.2"),
    Mistake("logs before the update", functools.partial(_loop, log_before=True),
            "append (m, b) and the MSE after updating them, once per iteration"),
    Mistake("no division by N", functools.partial(_loop, divide=False),
            "forgot to divide the gradients by N = len(X) (the MSE is a mean)"),
)


def _loop_cases(rng):
    cases = []
    for name, n, lr, iterations in (("N=20, lr=0.01, 10 iterations", 20, 0.01, 10), ("N=5, lr=0.005, 3 iterations", 5,
                                                                                     0.005, 3)):
        X, y = _data(rng, n)
        cases.append(Case(name, (X, y), {"lr": lr, "iterations": iterations}))
    return cases


gradient_descent = Exercise(
    name="housing.gradient_descent",
    task=("Gradient Descent for a single feature: from m, b = 0.2, 0.2, repeat `iterations` times: "
          "f = y - (m*X + b); update m and b; append (m, b) to log and the mean squared error of m*X + b to mse. "
          "Return m, b, log, mse."),
    signature="def gradient_descent(X, y, lr=0.05, iterations=10):",
    layout=LAYOUT + ("\nreturns: m, b (floats), log (a list of (m, b) per iteration), "
                     "mse (a list of the MSE after each update)"),
    reference=_loop_reference,
    cases=_loop_cases,
    project=_as_loop,
    diagnose=diagnose_from(LOOP_MISTAKES, project=_as_loop),
    mistakes=LOOP_MISTAKES,
)

EXERCISES = (mse_gradient, gradient_descent_step, gradient_descent)
