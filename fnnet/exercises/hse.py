"""The HSE "Introduction to Deep Learning" linear-models assignment (seed 000, part 1), as exercises.

The learner writes, in numpy, the quadratic features ``expand``, the logistic ``probability``, the
cross-entropy ``compute_loss`` and its gradient ``compute_grad``, then the three update steps the
assignment's training loops write inline (mini-batch SGD, SGD with momentum, RMSprop), with the
notebook's own variable names and formulas::

    w = w - eta*dw                                     # SGD
    nu = alpha*nu + eta*dw; w = w - nu                 # momentum
    G = alpha*G + (1-alpha)*dw**2; w = w - eta*dw / np.sqrt(G + eps)   # RMSprop: eps inside the root

Layout: ``X`` is ``[n_samples, 6]`` (one row per sample, after ``expand``), ``w`` is ``[6]``, ``y`` is
``[n_samples]`` of 0/1. The references are computed with jax (the gradient by ``jax.grad`` of the loss,
the updates by optax's ``sgd`` / ``trace`` / ``scale_by_rms``) in float64.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet.exercises.checking import diagnose_from, numeric_gradient, numpy_reference
from fnnet.exercises.spec import Case, Exercise, Mistake
from fnnet.models import expand as fnnet_expand

LAYOUT = ("X: [n_samples, 6] expanded features, one row per sample (expand takes [n_samples, 2])\n"
          "w: [6] weights, one per expanded feature (the last one multiplies the constant 1: the bias)\n"
          "y: [n_samples] targets of 1/0")


def _samples(rng: np.random.Generator, n: int) -> tuple:
    """``(X_expanded, y, w)``: n random points of the plane, expanded, their 0/1 labels and weights."""
    X = np.asarray(fnnet_expand(rng.normal(size=(n, 2))), dtype=np.float64)
    return X, (rng.random(n) < 0.5).astype(np.float64), rng.normal(scale=0.5, size=6)


def _xyw_cases(rng: np.random.Generator, with_y: bool) -> list:
    cases = []
    for n in (4, 7, 1):
        X, y, w = _samples(rng, n)
        cases.append(Case(f"random, n_samples={n}", (X, y, w) if with_y else (X, w)))
    X, y, _ = _samples(rng, 5)
    w0 = np.array([0, 0, 0, 0, 0, 1.0])  # the notebook's initial weights
    cases.append(Case("the notebook's initial w = [0, 0, 0, 0, 0, 1]", (X, y, w0) if with_y else (X, w0)))
    return cases


# ----------------------------------------------------------------------------------------------
# expand


def _expand_cases(rng):
    dummy_X = np.array([[0, 0], [1, 0], [2.61, -1.28], [-0.59, 2.1]])
    dummy_expanded_ans = np.array([[0., 0., 0., 0., 0., 1.],
                                   [1., 0., 1., 0., 0., 1.],
                                   [2.61, -1.28, 6.8121, 1.6384, -3.3408, 1.],
                                   [-0.59, 2.1, 0.3481, 4.41, -1.239, 1.]])
    return [Case("the notebook's dummy test (dummy_X)", (dummy_X,), expected=dummy_expanded_ans),
            Case("random, 5 points", (rng.normal(size=(5, 2)),)),
            Case("edge: a single point", (rng.normal(size=(1, 2)),))]


def _expand_no_bias(X):
    return np.stack([X[:, 0], X[:, 1], X[:, 0] ** 2, X[:, 1] ** 2, X[:, 0] * X[:, 1]], axis=1)


def _expand_order(X):
    return np.stack([X[:, 0], X[:, 1], X[:, 0] * X[:, 1], X[:, 0] ** 2, X[:, 1] ** 2, np.ones(len(X))], axis=1)


def _expand_columns(X):
    return np.stack([X[:, 0], X[:, 1], X[:, 0] ** 2, X[:, 1] ** 2, X[:, 0] * X[:, 1], np.ones(len(X))], axis=0)


EXPAND_MISTAKES = (
    Mistake("no constant feature", _expand_no_bias,
            "the sixth column is the constant 1 (its weight is the bias): x0 x1 x0^2 x1^2 x0*x1 1"),
    Mistake("columns in another order", _expand_order,
            "the columns go in the order x0, x1, x0^2, x1^2, x0*x1, 1"),
    Mistake("features as rows", _expand_columns,
            "one row per sample: stack the six features along axis=1 (the result is [n_samples, 6])"),
)

expand = Exercise(
    name="hse.expand",
    task=("Add quadratic features to the 2-D points so that a linear model can draw a circle: for each row "
          "(x0, x1) return x0, x1, x0^2, x1^2, x0*x1, 1."),
    signature="def expand(X):",
    layout="X: [n_samples, 2] points, one row per sample\nreturns: [n_samples, 6] = x0 x1 x0^2 x1^2 x0*x1 1",
    reference=numpy_reference(fnnet_expand),
    cases=_expand_cases,
    diagnose=diagnose_from(EXPAND_MISTAKES),
    mistakes=EXPAND_MISTAKES,
)


# ----------------------------------------------------------------------------------------------
# probability, compute_loss, compute_grad


@numpy_reference
def _probability(X, w):
    return jax.nn.sigmoid(jnp.dot(X, w))


PROBABILITY_MISTAKES = (
    Mistake("sigmoid without the minus", lambda X, w: 1. / (1 + np.exp(np.dot(X, w))),
            "the logistic function is 1 / (1 + exp(-z)) with z = np.dot(X, w): mind the minus sign"),
    Mistake("no sigmoid", lambda X, w: np.dot(X, w),
            "np.dot(X, w) is the linear output; apply the logistic function to get a probability in [0, 1]"),
    Mistake("elementwise product", lambda X, w: 1. / (1 + np.exp(-X * w)),
            "X * w multiplies elementwise ([n_samples, 6]); the linear output is np.dot(X, w) ([n_samples])"),
)

probability = Exercise(
    name="hse.probability",
    task=("Given input features and weights return predicted probabilities of y==1 given x, P(y=1|x): the "
          "logistic function of the linear model's output."),
    signature="def probability(X, w):",
    layout=LAYOUT + "\nreturns: [n_samples] probabilities in [0, 1]",
    reference=_probability,
    cases=lambda rng: _xyw_cases(rng, with_y=False),
    diagnose=diagnose_from(PROBABILITY_MISTAKES),
    mistakes=PROBABILITY_MISTAKES,
)


def _loss_jax(X, y, w):
    p = jax.nn.sigmoid(jnp.dot(X, w))
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))


def _p(X, w):
    return 1. / (1 + np.exp(-np.dot(X, w)))


LOSS_MISTAKES = (
    Mistake("sum instead of mean", lambda X, y, w: -np.sum(y * np.log(_p(X, w)) + (1 - y) * np.log(1 - _p(X, w))),
            "the loss is the mean over the samples: divide the sum by n_samples (np.mean)"),
    Mistake("no minus sign", lambda X, y, w: np.mean(y * np.log(_p(X, w)) + (1 - y) * np.log(1 - _p(X, w))),
            "cross-entropy is the NEGATIVE mean log-likelihood: -np.mean(...)"),
    Mistake("only the y=1 term", lambda X, y, w: -np.mean(y * np.log(_p(X, w))),
            "the samples with y = 0 count too: add (1 - y) * log(1 - p)"),
)

compute_loss = Exercise(
    name="hse.compute_loss",
    task=("Given feature matrix X [n_samples,6], target vector [n_samples] of 1/0, and weight vector w [6], "
          "compute scalar loss function: the cross-entropy L = -1/n sum(y log p + (1-y) log(1-p)), "
          "p = probability(X, w)."),
    signature="def compute_loss(X, y, w):",
    layout=LAYOUT + "\nreturns: a scalar",
    reference=numpy_reference(_loss_jax),
    cases=lambda rng: _xyw_cases(rng, with_y=True),
    project=lambda out: np.asarray(out, dtype=float) if np.ndim(out) == 0 else out,
    diagnose=diagnose_from(LOSS_MISTAKES),
    mistakes=LOSS_MISTAKES,
)


def _grad_numeric(case: Case) -> np.ndarray:
    X, y, w = case.args
    return numeric_gradient(lambda w_: numpy_reference(jax.jit(_loss_jax))(X, y, w_), w, 1e-6)


GRAD_MISTAKES = (
    Mistake("no division by n_samples", lambda X, y, w: np.dot(_p(X, w) - y, X),
            "forgot to divide by the number of samples (X.shape[0]): the loss is a mean"),
    Mistake("y - p", lambda X, y, w: np.dot(y - _p(X, w), X) / X.shape[0],
            "sign: the gradient of the cross-entropy is np.dot(p - y, X) / n (p - y, not y - p)"),
    Mistake("linear output instead of p", lambda X, y, w: np.dot(np.dot(X, w) - y, X) / X.shape[0],
            "use the probabilities p = probability(X, w), not the linear output np.dot(X, w)"),
)

compute_grad = Exercise(
    name="hse.compute_grad",
    task=("Given feature matrix X [n_samples,6], target vector [n_samples] of 1/0, and weight vector w [6], "
          "compute vector [6] of derivatives of L over each weights: dL/dw = 1/n sum((p - y) x)."),
    signature="def compute_grad(X, y, w):",
    layout=LAYOUT + "\nreturns: [6], the gradient of compute_loss with respect to w",
    reference=numpy_reference(jax.grad(_loss_jax, argnums=2)),
    cases=lambda rng: _xyw_cases(rng, with_y=True),
    diagnose=diagnose_from(GRAD_MISTAKES),
    mistakes=GRAD_MISTAKES,
    numeric=_grad_numeric,
)


# ----------------------------------------------------------------------------------------------
# The update steps of the notebook's training loops


def _step_cases(rng: np.random.Generator, n_state: int) -> list:
    """Arguments ``(w, [state], dw)``: random, then the loop's first step (state zeros), then a tiny gradient."""
    cases = []
    for name, scale, zero_state in (("random", 1.0, False), ("first step (state zeros)", 1.0, True),
                                    ("edge: tiny gradient, state zeros", 1e-4, True)):
        w, dw = rng.normal(size=6), scale * rng.normal(size=6)
        state = [np.zeros(6) if zero_state else np.abs(rng.normal(size=6)) for _ in range(n_state)]
        cases.append((name, (w, *state, dw)))
    return cases


def _sgd_reference(w, dw, eta):
    updates, _ = optax.sgd(eta).update(dw, optax.sgd(eta).init(w))
    return optax.apply_updates(w, updates)


SGD_MISTAKES = (
    Mistake("climbs the gradient", lambda w, dw, eta: w + eta * dw,
            "step against the gradient: w = w - eta*dw"),
    Mistake("no learning rate", lambda w, dw, eta: w - dw, "multiply the gradient by the learning rate eta"),
    Mistake("returns the step", lambda w, dw, eta: eta * dw,
            "return the new weights w - eta*dw, not the step eta*dw"),
)

sgd_step = Exercise(
    name="hse.sgd_step",
    task=("One step of the mini-batch SGD loop: given the weights w and the gradient dw = compute_grad(...) of "
          "the batch, return the new weights (the loop's `w = w - eta*dw`)."),
    signature="def sgd_step(w, dw, eta=0.05):",
    layout="w, dw: [6] weights and their gradient; eta: the learning rate\nreturns: the new w, [6]",
    reference=numpy_reference(_sgd_reference),
    cases=lambda rng: [Case(n, args + (0.05,)) for n, args in _step_cases(rng, 0)],
    diagnose=diagnose_from(SGD_MISTAKES),
    mistakes=SGD_MISTAKES,
)


def _momentum_reference(w, nu, dw, eta, alpha):
    # optax.trace keeps t = alpha*t + dw and steps -eta*t: the notebook's nu is eta*t (constant eta)
    tx = optax.chain(optax.trace(alpha), optax.scale(-eta))
    updates, state = tx.update(dw, (optax.TraceState(trace=jnp.asarray(nu) / eta), optax.EmptyState()))
    return optax.apply_updates(w, updates), eta * state[0].trace


def _momentum_sign(w, nu, dw, eta, alpha):
    nu = alpha * nu - eta * dw
    return w - nu, nu


def _momentum_old_nu(w, nu, dw, eta, alpha):
    return w - nu, alpha * nu + eta * dw


def _momentum_swapped(w, nu, dw, eta, alpha):
    nu = eta * nu + alpha * dw
    return w - nu, nu


MOMENTUM_MISTAKES = (
    Mistake("momentum sign", _momentum_sign,
            "momentum sign: the notebook accumulates nu = alpha*nu + eta*dw and then steps w = w - nu "
            "(with nu = alpha*nu - eta*dw the step must be w = w + nu)"),
    Mistake("steps with the old nu", _momentum_old_nu,
            "update nu first, then step with the NEW nu: nu = alpha*nu + eta*dw; w = w - nu"),
    Mistake("alpha and eta swapped", _momentum_swapped,
            "alpha (the momentum) multiplies the previous nu, eta (the learning rate) the gradient"),
)

momentum_step = Exercise(
    name="hse.momentum_step",
    task=("One step of SGD with momentum as the notebook's loop writes it: nu = alpha*nu + eta*dw; "
          "w = w - nu. Return the new w and the new nu."),
    signature="def momentum_step(w, nu, dw, eta=0.05, alpha=0.9):",
    layout=("w, dw: [6] weights and their gradient; nu: [6] the update vector (starts at np.zeros_like(w))\n"
            "eta: learning rate, alpha: momentum\nreturns: (w, nu), both [6]"),
    reference=numpy_reference(_momentum_reference),
    cases=lambda rng: [Case(n, args + (0.05, 0.9)) for n, args in _step_cases(rng, 1)],
    diagnose=diagnose_from(MOMENTUM_MISTAKES),
    mistakes=MOMENTUM_MISTAKES,
)


def _rmsprop_reference(w, G, dw, eta, alpha, eps):
    tx = optax.chain(optax.scale_by_rms(decay=alpha, eps=eps, eps_in_sqrt=True), optax.scale(-eta))
    updates, state = tx.update(dw, (optax.ScaleByRmsState(nu=jnp.asarray(G)), optax.EmptyState()))
    return optax.apply_updates(w, updates), state[0].nu


def _rmsprop_eps_outside(w, G, dw, eta, alpha, eps):
    G = alpha * G + (1 - alpha) * dw ** 2
    return w - eta * dw / (np.sqrt(G) + eps), G


def _rmsprop_no_root(w, G, dw, eta, alpha, eps):
    G = alpha * G + (1 - alpha) * dw ** 2
    return w - eta * dw / (G + eps), G


def _rmsprop_no_one_minus(w, G, dw, eta, alpha, eps):
    G = alpha * G + dw ** 2
    return w - eta * dw / np.sqrt(G + eps), G


RMSPROP_MISTAKES = (
    Mistake("eps outside the root", _rmsprop_eps_outside,
            "eps outside the root: the notebook divides by np.sqrt(G + eps), not np.sqrt(G) + eps "
            "(it matters where G is tiny)"),
    Mistake("no square root", _rmsprop_no_root, "divide by the square ROOT of the running mean: np.sqrt(G + eps)"),
    Mistake("no (1 - alpha)", _rmsprop_no_one_minus,
            "G is a running mean: G = alpha*G + (1-alpha)*dw**2 (the new squared gradient weighs 1 - alpha)"),
)

rmsprop_step = Exercise(
    name="hse.rmsprop_step",
    task=("One step of RMSprop as the notebook's loop writes it: G = alpha*G + (1-alpha)*dw**2; "
          "w = w - eta*dw / np.sqrt(G + eps). Return the new w and the new G."),
    signature="def rmsprop_step(w, G, dw, eta=0.05, alpha=0.9, eps=1e-8):",
    layout=("w, dw: [6] weights and their gradient; G: [6] running mean of dw**2 (starts at np.zeros_like(w))\n"
            "eta: learning rate, alpha: decay of G, eps: added to G inside the root\nreturns: (w, G), both [6]"),
    reference=numpy_reference(_rmsprop_reference),
    cases=lambda rng: [Case(n, args + (0.05, 0.9, 1e-8)) for n, args in _step_cases(rng, 1)],
    diagnose=diagnose_from(RMSPROP_MISTAKES),
    mistakes=RMSPROP_MISTAKES,
)

EXERCISES = (expand, probability, compute_loss, compute_grad, sgd_step, momentum_step, rmsprop_step)
