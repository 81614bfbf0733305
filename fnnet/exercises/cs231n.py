"""The cs231n course: the layer, loss and update-rule functions of Stanford cs231n's assignment 2, as the
jhui article ("Deep learning without going down the rabbit holes, part 2") builds on them.

Layouts are cs231n's: an input ``x`` of shape ``(N, d_1, ..., d_k)`` is flattened to ``(N, D)``; weights are
``(D, M)``, biases ``(M,)``; images are ``NCHW`` and filters ``(F, C, HH, WW)``. Every ``*_forward``
returns ``(out, cache)`` and every ``*_backward(dout, cache)`` returns the gradients (a tuple where there
are several); losses return ``(loss, dx)``; update rules return ``(next_w, config)``. Where the jhui
article writes a formula differently from the assignment, the exercise follows the assignment and its task
says so.

The references compute in float64 with jax (``jax.enable_x64``), forward passes directly and backward
passes as ``jax.vjp`` of the reference forward, and return numpy. Each backward exercise also carries
``numeric``: central finite differences of the reference forward. Where the derivative is not defined
(ReLU at exactly 0, tied maxima in a pooling window) ``numeric`` returns ``None`` and the exercise follows
cs231n's convention (no gradient at 0; the first maximum in ``np.argmax`` order gets it).

Dropout: the mask is fixed by the seed. As in the assignment, ``dropout_param['p']`` is the probability of
dropping a unit (the jhui article's code: ``mask = (np.random.rand(*x.shape) < 1 - p) / (1 - p)`` right
after ``np.random.seed(dropout_param['seed'])``); the check compares against exactly that draw, and a
learner whose dropout is statistically right but draws another mask gets a hint saying so.

Batch normalization: the running averages cs231n writes back into ``bn_param`` cannot be compared (the
checker passes a fresh copy of every argument and compares outputs); test-mode cases check that the
forward pass normalizes with ``bn_param['running_mean']`` and ``['running_var']``.
"""

from __future__ import annotations

import copy
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet.exercises.spec import Case, Exercise, Mistake

# ----------------------------------------------------------------------------------------------
# Helpers: float64 jax kernels, comparison, finite differences, hints


def _jit64(fn=None, *, static_argnums=()):
    """``fn`` jitted once, run in float64 (``jax.enable_x64``), its outputs returned as numpy."""
    if fn is None:
        return functools.partial(_jit64, static_argnums=static_argnums)
    jitted = jax.jit(fn, static_argnums=static_argnums)

    @functools.wraps(fn)
    def run(*args):
        with jax.enable_x64(True):
            return jax.tree_util.tree_map(np.asarray, jitted(*args))

    return run


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _close(a, b, rtol=1e-5, atol=1e-7) -> bool:
    """Whether ``a`` and ``b`` agree: same structure (tuples, lists, dicts), same shapes, close values;
    never raises (a learner's output may be anything)."""
    try:
        if isinstance(a, dict) or isinstance(b, dict):
            return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                    and all(_close(a[k], b[k], rtol, atol) for k in a))
        if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
            return (isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(b)
                    and all(_close(x, y, rtol, atol) for x, y in zip(a, b)))
        if a is None or b is None:
            return a is None and b is None
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    except (TypeError, ValueError):
        return False


def _numeric_gradient(f, x, df, h=1e-5):
    """cs231n's ``eval_numerical_gradient_array``: the gradient of ``sum(f(x) * df)`` with respect to
    ``x`` by central differences, one element at a time (float64; ``f`` may read ``x`` but not keep it)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        old = x[index]
        x[index] = old + h
        plus = np.array(f(x), dtype=np.float64)  # a copy: f may return x itself (dropout in test mode)
        x[index] = old - h
        minus = np.array(f(x), dtype=np.float64)
        x[index] = old
        grad[index] = np.sum((plus - minus) * df) / (2 * h)
    return grad


class _NoCache:
    """What a forward function returned instead of an ``(out, cache)`` pair (it never equals the reference)."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"not an (out, cache) pair: {self.value!r}"


def _first(out):
    """The ``out`` of an ``(out, cache)`` pair (the cache is the learner's own business)."""
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return out[0]
    return _NoCache(out)


def _arity_check(returns):
    """A check: the learner returned what the signature returns, ``returns`` (e.g. ``"(dx, dw, db)"``)."""
    def check(case, expected, got):
        if isinstance(got, _NoCache):
            return "return the pair (out, cache): cs231n's forward functions hand the cache to the backward pass"
        if isinstance(expected, tuple) and not (isinstance(got, (tuple, list)) and len(got) == len(expected)):
            return f"return a tuple of {len(expected)}, {returns}, as cs231n's code unpacks it"
        if not isinstance(expected, tuple) and isinstance(got, (tuple, list)):
            return f"return {returns} alone, not a tuple"
        return None
    return check


def _shape(a):
    return getattr(a, "shape", None)


def _call(fn, case):
    args, kwargs = copy.deepcopy((case.args, case.kwargs))
    return fn(*args, **kwargs)


def _build(*, name, task, signature, layout, reference, cases, mistakes, returns, project=lambda out: out,
           checks=(), numeric=None, rtol=1e-5, atol=1e-7) -> Exercise:
    """An :class:`Exercise` whose ``diagnose`` first checks that the learner returned ``returns`` (e.g.
    ``"(dx, dw, db)"``), then runs the structural ``checks`` (``check(case, expected, got) -> hint | None``:
    shape and scale relations that name a mistake however it is written), then recognizes the known wrong
    solutions by recomputing them on the case."""
    mistakes = tuple(Mistake(name=m[0], fn=m[1], hint=m[2]) for m in mistakes)
    checks = (_arity_check(returns), *checks)

    def diagnose(case, expected, got):
        for check in checks:
            try:
                hint = check(case, expected, got)
            except Exception:
                hint = None
            if hint:
                return hint
        for mistake in mistakes:
            try:
                with np.errstate(all="ignore"):  # wrong solutions overflow and divide by zero on purpose
                    wrong = project(_call(mistake.fn, case))
            except Exception:
                continue
            if _close(wrong, got, rtol, atol) and not _close(wrong, expected, rtol, atol):
                return mistake.hint
        return None

    return Exercise(name=f"cs231n.{name}", task=task, signature=signature, layout=layout, reference=reference,
                    cases=cases, project=project, diagnose=diagnose, mistakes=mistakes, rtol=rtol, atol=atol,
                    numeric=numeric)


def _shape_hint(expected_shape_of, hint):
    """A check: the got array (or the first of a tuple) has the shape ``expected_shape_of(case)``."""
    def check(case, expected, got):
        got = got[0] if isinstance(got, tuple) and isinstance(expected, tuple) else got
        exp = expected[0] if isinstance(expected, tuple) else expected
        if _shape(got) != _shape(exp) and _shape(got) == tuple(expected_shape_of(case)):
            return hint
        return None
    return check


_NOT_FINITE = ("your result has inf or nan where the reference is finite: exponentials overflow; subtract "
               "each row's maximum (np.max(x, axis=1, keepdims=True)) before np.exp")


# ----------------------------------------------------------------------------------------------
# affine_forward / affine_backward


@_jit64
def _affine(x2, w, b):
    return x2 @ w + b


def affine_forward(x, w, b):
    x = _f64(x)
    out = _affine(x.reshape(x.shape[0], -1), _f64(w), _f64(b))
    return out, (x, w, b)


@_jit64
def _affine_vjp(x2, w, b, dout):
    return jax.vjp(lambda *a: a[0] @ a[1] + a[2], x2, w, b)[1](dout)


def affine_backward(dout, cache):
    x, w, b = cache
    x = _f64(x)
    dx, dw, db = _affine_vjp(x.reshape(x.shape[0], -1), _f64(w), _f64(b), _f64(dout))
    return dx.reshape(x.shape), dw, db


def _affine_inputs(rng, shape, m):
    x = rng.standard_normal(shape)
    d = int(np.prod(shape[1:]))
    return x, rng.standard_normal((d, m)), rng.standard_normal(m)


_AFFINE_SHAPES = (((2, 3), 4), ((4, 5), 3), ((3, 2, 3), 5), ((2, 4, 3, 2), 3))


def _affine_forward_cases(rng):
    cases = [Case(f"random x{shape}, M={m}", _affine_inputs(rng, shape, m)) for shape, m in _AFFINE_SHAPES]
    x, w, _ = _affine_inputs(rng, (3, 4), 2)
    cases.append(Case("edge: all-zero x (out = b on every row)", (np.zeros_like(x), w, rng.standard_normal(2))))
    return cases


def _affine_backward_cases(rng):
    cases = []
    for shape, m in _AFFINE_SHAPES:
        out, cache = affine_forward(*_affine_inputs(rng, shape, m))
        cases.append(Case(f"random x{shape}, M={m}", (rng.standard_normal(out.shape), cache)))
    out, cache = affine_forward(*_affine_inputs(rng, (3, 4), 2))
    cases.append(Case("edge: dout all zeros", (np.zeros_like(out), cache)))
    return cases


def _affine_numeric(case):
    dout, (x, w, b) = case.args
    return (_numeric_gradient(lambda v: affine_forward(v, w, b)[0], x, dout),
            _numeric_gradient(lambda v: affine_forward(x, v, b)[0], w, dout),
            _numeric_gradient(lambda v: affine_forward(x, w, v)[0], b, dout))


def _mistake_affine_no_bias(x, w, b):
    return x.reshape(x.shape[0], -1).dot(w), (x, w, b)


def _mistake_affine_fortran(x, w, b):
    return x.reshape(x.shape[0], -1, order="F").dot(w) + b, (x, w, b)


def _mistake_affine_relu(x, w, b):
    return np.maximum(0, x.reshape(x.shape[0], -1).dot(w) + b), (x, w, b)


def _mistake_affine_db_axis(dout, cache):
    x, w, _b = cache
    return dout.dot(w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T.dot(dout), np.sum(dout, axis=1)


def _mistake_affine_dx_not_reshaped(dout, cache):
    x, w, _b = cache
    return dout.dot(w.T), x.reshape(x.shape[0], -1).T.dot(dout), np.sum(dout, axis=0)


def _mistake_affine_dw_not_reshaped(dout, cache):
    x, w, _ = cache
    return dout.dot(w.T).reshape(x.shape), x.T.dot(dout), np.sum(dout, axis=0)


def _mistake_affine_dw_transposed(dout, cache):
    x, w, _b = cache
    return dout.dot(w.T).reshape(x.shape), dout.T.dot(x.reshape(x.shape[0], -1)), np.sum(dout, axis=0)


def _mistake_affine_averaged(dout, cache):
    x, w, _b = cache
    n = x.shape[0]
    return dout.dot(w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T.dot(dout) / n, np.sum(dout, axis=0) / n


_AFFINE_LAYOUT = ("x: (N, d_1, ..., d_k), flattened row by row to (N, D) with D = d_1 * ... * d_k; "
                  "w: (D, M); b: (M,); out: (N, M); cache = (x, w, b).")

AFFINE_FORWARD = _build(
    name="affine_forward",
    returns="(out, cache)",
    task=("Computes the forward pass for an affine (fully-connected) layer. The input x has shape "
          "(N, d_1, ..., d_k) and contains a minibatch of N examples, where each example x[i] has shape "
          "(d_1, ..., d_k). Reshape each input into a vector of dimension D = d_1 * ... * d_k, then "
          "compute out = x.reshape(N, D).dot(w) + b. Return a tuple of (out, cache) with cache = (x, w, b)."),
    signature="def affine_forward(x, w, b):",
    layout=_AFFINE_LAYOUT,
    reference=affine_forward,
    cases=_affine_forward_cases,
    project=_first,
    mistakes=(
        ("forgot the bias", _mistake_affine_no_bias, "out is missing + b: add the bias (broadcast over the N rows)"),
        ("flattened in Fortran order", _mistake_affine_fortran,
         "flatten each example row-major as cs231n does: x.reshape(x.shape[0], -1) (no order='F', no transpose)"),
        ("ReLU inside the affine layer", _mistake_affine_relu,
         "affine_forward is only x.dot(w) + b; the ReLU is its own layer (relu_forward)"),
    ),
)

AFFINE_BACKWARD = _build(
    name="affine_backward",
    returns="(dx, dw, db)",
    task=("Computes the backward pass for an affine layer. Inputs: dout, the upstream derivative of shape "
          "(N, M), and cache = (x, w, b) as affine_forward returns it. Returns a tuple (dx, dw, db): dx of "
          "shape (N, d_1, ..., d_k) (reshape back to x.shape), dw of shape (D, M), db of shape (M,)."),
    signature="def affine_backward(dout, cache):",
    layout=_AFFINE_LAYOUT + " dout: (N, M); returns (dx, dw, db) with dx.shape == x.shape.",
    reference=affine_backward,
    cases=_affine_backward_cases,
    numeric=_affine_numeric,
    mistakes=(
        ("db summed over the wrong axis", _mistake_affine_db_axis,
         "db must have shape (M,): sum dout over the N examples, np.sum(dout, axis=0)"),
        ("dx not reshaped back to x.shape", _mistake_affine_dx_not_reshaped,
         "dx must have x's shape (N, d_1, ..., d_k): dout.dot(w.T).reshape(x.shape)"),
        ("x not reshaped to (N, D) for dw", _mistake_affine_dw_not_reshaped,
         "reshape x to (N, D) before computing dw: dw = x.reshape(x.shape[0], -1).T.dot(dout), of shape (D, M)"),
        ("dw transposed", _mistake_affine_dw_transposed,
         "dw has w's shape (D, M): dw = x.reshape(N, D).T.dot(dout), not dout.T.dot(x)"),
        ("dw and db averaged over N", _mistake_affine_averaged,
         "do not divide by N in a layer: the loss already averaged, so dout carries the 1/N"),
    ),
)


# ----------------------------------------------------------------------------------------------
# relu_forward / relu_backward


_relu = _jit64(jax.nn.relu)


@_jit64
def _relu_vjp(x, dout):
    # jax.nn.relu's derivative at exactly 0 is 0, cs231n's convention (x > 0)
    return jax.vjp(jax.nn.relu, x)[1](dout)[0]


def relu_forward(x):
    x = _f64(x)
    return _relu(x), x


def relu_backward(dout, cache):
    return _relu_vjp(_f64(cache), _f64(dout))


def _with_zeros(rng, shape):
    x = rng.standard_normal(shape)
    x.flat[:: 3] = 0.0
    return x


def _relu_forward_cases(rng):
    return [Case("random (4, 5)", (rng.standard_normal((4, 5)),)),
            Case("random (2, 3, 4)", (rng.standard_normal((2, 3, 4)),)),
            Case("edge: some exact zeros", (_with_zeros(rng, (3, 4)),)),
            Case("edge: all negative", (-np.abs(rng.standard_normal((2, 3))) - 0.1,))]


def _relu_backward_cases(rng):
    shapes = (("random (4, 5)", rng.standard_normal((4, 5))), ("random (2, 3, 4)", rng.standard_normal((2, 3, 4))),
              ("edge: exact zeros in x (no gradient at 0)", _with_zeros(rng, (3, 4))))
    return [Case(name, (rng.standard_normal(x.shape), x)) for name, x in shapes]


def _relu_numeric(case):
    dout, x = case.args
    if np.any(np.abs(x) < 1e-4):  # a kink within the step: the derivative is a convention there
        return None
    return _numeric_gradient(lambda v: relu_forward(v)[0], x, dout)


_RELU_LAYOUT = "x: any shape; out = max(0, x) of the same shape; cache = x."

RELU_FORWARD = _build(
    name="relu_forward",
    returns="(out, cache)",
    task=("Computes the forward pass for a layer of rectified linear units (ReLUs): out = max(0, x), "
          "elementwise. Returns a tuple (out, cache) with cache = x."),
    signature="def relu_forward(x):",
    layout=_RELU_LAYOUT,
    reference=relu_forward,
    cases=_relu_forward_cases,
    project=_first,
    mistakes=(
        ("min instead of max", lambda x: (np.minimum(0, x), x), "ReLU keeps the positive part: np.maximum(0, x)"),
        ("leaky ReLU", lambda x: (np.maximum(0.01 * x, x), x),
         "negative inputs must give exactly 0 (this is ReLU, not leaky ReLU): np.maximum(0, x)"),
        ("returned the mask", lambda x: ((x > 0).astype(float), x),
         "return the values max(0, x), not the mask x > 0"),
    ),
)

RELU_BACKWARD = _build(
    name="relu_backward",
    returns="dx",
    task=("Computes the backward pass for a layer of ReLUs. Input: dout, upstream derivatives of any shape, "
          "and cache = x. Returns dx = dout where x > 0 and 0 elsewhere. At exactly x == 0 follow cs231n (and "
          "autodiff): no gradient, mask x > 0 (the jhui article's dx[x < 0] = 0 lets the gradient through "
          "at 0)."),
    signature="def relu_backward(dout, cache):",
    layout=_RELU_LAYOUT + " dout and dx: x's shape.",
    reference=relu_backward,
    cases=_relu_backward_cases,
    numeric=_relu_numeric,
    mistakes=(
        ("mask x >= 0", lambda dout, x: dout * (x >= 0),
         ("at x == 0 ReLU passes no gradient: use the mask x > 0, not x >= 0 (the jhui article's "
         "dx[x < 0] = 0 is the >= version)")),
        ("masked by dout instead of x", lambda dout, x: dout * (dout > 0),
         "the mask comes from the forward input: dx = dout * (x > 0), with x = cache"),
        ("forgot dout", lambda dout, x: (x > 0).astype(float),
         "multiply the local derivative (x > 0) by the upstream dout (chain rule)"),
        ("multiplied by relu(x)", lambda dout, x: dout * np.maximum(0, x),
         "the derivative of max(0, x) is 1 where x > 0 and 0 elsewhere: dx = dout * (x > 0)"),
    ),
)


# ----------------------------------------------------------------------------------------------
# softmax_loss / svm_loss


@_jit64
def _softmax_loss(x, y):
    def loss(scores):
        logp = jax.nn.log_softmax(scores, axis=1)  # subtracts the row maximum: no overflow
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
    return jax.value_and_grad(loss)(x)


@_jit64
def _svm_loss(x, y):
    def loss(scores):
        correct = jnp.take_along_axis(scores, y[:, None], axis=1)
        margins = scores - correct + 1.0
        # where(m > 0) rather than maximum: the subgradient 0 at a zero margin, as cs231n's margins > 0
        margins = jnp.where((margins > 0) & (jnp.arange(scores.shape[1]) != y[:, None]), margins, 0.0)
        return jnp.sum(margins) / scores.shape[0]
    return jax.value_and_grad(loss)(x)


def softmax_loss(x, y):
    loss, dx = _softmax_loss(_f64(x), np.asarray(y, dtype=np.int32))
    return float(loss), dx


def svm_loss(x, y):
    loss, dx = _svm_loss(_f64(x), np.asarray(y, dtype=np.int32))
    return float(loss), dx


def _score_cases(rng, include_seed_example):
    cases = []
    for n, c in ((3, 4), (5, 3), (2, 6)):
        cases.append(Case(f"random scores ({n}, {c})", (rng.standard_normal((n, c)), rng.integers(0, c, n))))
    cases.append(Case("edge: all-zero scores", (np.zeros((3, 4)), np.array([0, 1, 3]))))
    if include_seed_example:
        cases.append(Case("edge: large scores (x ~ 1000)", (1000 * rng.standard_normal((3, 4)), np.array([2, 0, 1]))))
    return cases


def _softmax_cases(rng):
    # the article's bus/truck/airplane example: softmax([3.2, 0.8, 0]) = [0.88379809 0.08017635 0.03602556]
    probs = np.array([0.88379809, 0.08017635, 0.03602556])
    seed = Case("the seed's printed example: scores (3.2, 0.8, 0), true class bus",
                (np.array([[3.2, 0.8, 0.0]]), np.array([0])),
                expected=(-np.log(probs[0]), (probs - np.array([1.0, 0, 0]))[None]))
    return [seed, *_score_cases(rng, True)]


def _svm_cases(rng):
    seed = Case("the seed's printed example: scores (8, 14, 9.5, 10), true class 4: loss 5.5",
                (np.array([[8.0, 14.0, 9.5, 10.0]]), np.array([3])),
                expected=(5.5, np.array([[0.0, 1.0, 1.0, -2.0]])))
    cases = [seed, *_score_cases(rng, False)]
    scores = rng.standard_normal((4, 5)) * 0.3  # small scores: most margins positive
    cases.append(Case("random small scores (4, 5)", (scores, rng.integers(0, 5, 4))))
    return cases


def _loss_numeric(loss_fn):
    def numeric(case):
        x, y = case.args
        loss, _ = loss_fn(x, y)
        return loss, _numeric_gradient(lambda v: loss_fn(v, y)[0], x, 1.0)
    return numeric


def _scaled_by_n(case, expected, got):
    n = case.args[0].shape[0]
    return n > 1 and _close(got[0], expected[0] * n) and not _close(got[0], expected[0])


def _dx_check_n(case, expected, got):
    n = case.args[0].shape[0]
    if n > 1 and _close(got[0], expected[0]) and _close(got[1], np.asarray(expected[1]) * n):
        return "the loss is averaged over N, so dx must be too: divide dx by N"
    return None


def _softmax_check_overflow(case, expected, got):
    got_finite = np.all(np.isfinite(np.asarray(got[0], float))) and np.all(np.isfinite(np.asarray(got[1], float)))
    if np.all(np.isfinite(expected[1])) and not got_finite:
        return _NOT_FINITE
    return None


def _softmax_check_n(case, expected, got):
    if _scaled_by_n(case, expected, got):
        return "the loss is the mean over the N examples: divide the summed loss (and dx) by N"
    return None


def _probs(x, axis=1):
    p = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return p / np.sum(p, axis=axis, keepdims=True)


def _mistake_softmax_no_max(x, y):
    probs = np.exp(x)
    probs /= np.sum(probs, axis=1, keepdims=True)
    n = x.shape[0]
    dx = probs.copy()
    dx[np.arange(n), y] -= 1
    return -np.sum(np.log(probs[np.arange(n), y])) / n, dx / n


def _mistake_softmax_sum(x, y):
    probs = _probs(x)
    n = x.shape[0]
    dx = probs.copy()
    dx[np.arange(n), y] -= 1
    return -np.sum(np.log(probs[np.arange(n), y])), dx


def _mistake_softmax_dx_no_minus_one(x, y):
    probs = _probs(x)
    n = x.shape[0]
    return -np.sum(np.log(probs[np.arange(n), y])) / n, probs / n


def _mistake_softmax_axis0(x, y):
    probs = _probs(x, axis=0)
    n = x.shape[0]
    dx = probs.copy()
    dx[np.arange(n), y] -= 1
    return -np.sum(np.log(probs[np.arange(n), y])) / n, dx / n


def _svm_margins(x, y, keep_correct=False):
    n = x.shape[0]
    margins = np.maximum(0, x - x[np.arange(n), y][:, None] + 1.0)
    if not keep_correct:
        margins[np.arange(n), y] = 0
    return margins


def _svm_dx(margins, y, subtract=True):
    n = margins.shape[0]
    dx = (margins > 0).astype(float)
    if subtract:
        dx[np.arange(n), y] -= np.sum(margins > 0, axis=1)
    return dx


def _mistake_svm_counts_correct(x, y):
    margins = _svm_margins(x, y, keep_correct=True)
    return np.sum(margins) / x.shape[0], _svm_dx(margins, y) / x.shape[0]


def _mistake_svm_sum(x, y):
    margins = _svm_margins(x, y)
    return np.sum(margins), _svm_dx(margins, y)


def _mistake_svm_dx_no_correct(x, y):
    margins = _svm_margins(x, y)
    return np.sum(margins) / x.shape[0], _svm_dx(margins, y, subtract=False) / x.shape[0]


def _svm_check_counts_correct(case, expected, got):
    if _close(np.asarray(got[0]) - 1.0, expected[0]) and not _close(got[0], expected[0]):
        return ("the loss is 1 too large per example: the correct class's own margin (s_y - s_y + 1 = 1) "
                "must not count; sum over j != y_i only (margins[np.arange(N), y] = 0)")
    return None


def _svm_check_n(case, expected, got):
    if _scaled_by_n(case, expected, got):
        return "the loss is the mean over the N examples: divide the summed margins (and dx) by N"
    return None


_SCORES_LAYOUT = ("x: (N, C) class scores; y: (N,) integer labels, 0 <= y[i] < C; returns (loss, dx): loss a "
                  "scalar averaged over the N examples, dx: (N, C).")

SOFTMAX_LOSS = _build(
    name="softmax_loss",
    returns="(loss, dx)",
    task=("Computes the loss and gradient for softmax classification. Subtract each row's maximum from the "
          "scores before exponentiating (numeric stability), compute probs = softmax(x) row by row, "
          "loss = -sum(log(probs[arange(N), y])) / N, and dx = (probs - one_hot(y)) / N."),
    signature="def softmax_loss(x, y):",
    layout=_SCORES_LAYOUT,
    reference=softmax_loss,
    cases=_softmax_cases,
    numeric=_loss_numeric(softmax_loss),
    checks=(_softmax_check_overflow, _softmax_check_n, _dx_check_n),
    mistakes=(
        ("no max-subtraction", _mistake_softmax_no_max, _NOT_FINITE),
        ("loss and dx not divided by N", _mistake_softmax_sum,
         "the loss is the mean over the N examples: divide the summed loss (and dx) by N"),
        ("dx without the -1 at the true class", _mistake_softmax_dx_no_minus_one,
         "dx = probs with 1 subtracted at each example's true class: dx[np.arange(N), y] -= 1, then / N"),
        ("softmax over the batch axis", _mistake_softmax_axis0,
         "normalize each example's scores: sums over axis=1 with keepdims=True, not over the batch (axis 0)"),
    ),
)

SVM_LOSS = _build(
    name="svm_loss",
    returns="(loss, dx)",
    task=("Computes the loss and gradient for multiclass SVM classification: for each example, "
          "sum over j != y_i of max(0, x_j - x_{y_i} + 1), averaged over the N examples (the jhui article's "
          "printed example is one example, so its 5.5 is not divided). dx is 1 for every positive margin "
          "and -(number of positive margins) at the true class, divided by N."),
    signature="def svm_loss(x, y):",
    layout=_SCORES_LAYOUT,
    reference=svm_loss,
    cases=_svm_cases,
    numeric=_loss_numeric(svm_loss),
    checks=(_svm_check_counts_correct, _svm_check_n, _dx_check_n),
    mistakes=(
        ("margin counts the correct class", _mistake_svm_counts_correct,
         ("the loss is 1 too large per example: the correct class's own margin (s_y - s_y + 1 = 1) must not "
         "count; sum over j != y_i only (margins[np.arange(N), y] = 0)")),
        ("not divided by N", _mistake_svm_sum,
         "the loss is the mean over the N examples: divide the summed margins (and dx) by N"),
        ("dx misses the true class", _mistake_svm_dx_no_correct,
         ("at the true class dx is -(number of positive margins of that example): "
         "dx[np.arange(N), y] -= np.sum(margins > 0, axis=1)")),
    ),
)


# ----------------------------------------------------------------------------------------------
# dropout_forward / dropout_backward


@_jit64
def _times(x, mask):
    return x * mask


@_jit64
def _times_vjp(x, mask, dout):
    return jax.vjp(lambda v: v * mask, x)[1](dout)[0]


def _dropout_mask(shape, p, seed):
    # np.random.RandomState(seed).rand draws what np.random.seed(seed); np.random.rand draws, without
    # touching numpy's global generator
    rand = np.random.RandomState(seed).rand(*shape)
    return (rand < 1 - p) / (1 - p)


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    x = _f64(x)
    if mode == "train":
        mask = _dropout_mask(x.shape, p, dropout_param.get("seed"))
        out = _times(x, mask)
    elif mode == "test":
        mask, out = None, x
    else:
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return _times_vjp(np.zeros_like(mask), mask, _f64(dout))
    return _f64(dout)


def _dropout_forward_cases(rng):
    cases = []
    for shape, p, seed in (((4, 5), 0.5, 0), ((10, 8), 0.25, 123), ((3, 2, 4), 0.75, 7)):
        cases.append(Case(f"train, x{shape}, p={p}, seed={seed}",
                          (rng.standard_normal(shape) + 1.0, {"p": p, "mode": "train", "seed": seed})))
    cases.append(Case("test mode (identity)", (rng.standard_normal((3, 4)), {"p": 0.5, "mode": "test", "seed": 1})))
    return cases


def _dropout_backward_cases(rng):
    cases = []
    for shape, p, seed, mode in (((4, 5), 0.5, 0, "train"), ((10, 8), 0.25, 123, "train"),
                                 ((3, 4), 0.5, 1, "test")):
        _out, cache = dropout_forward(rng.standard_normal(shape), {"p": p, "mode": mode, "seed": seed})
        cases.append(Case(f"{mode}, x{shape}, p={p}, seed={seed}", (rng.standard_normal(shape), cache)))
    return cases


def _dropout_numeric(case):
    dout, (dropout_param, _mask) = case.args
    x = np.ones_like(dout)  # dropout is linear in x: the point does not matter, the seed fixes the mask
    return _numeric_gradient(lambda v: dropout_forward(v, dropout_param)[0], x, dout)


def _mistake_dropout_not_inverted(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if mode == "test":
        return x, (dropout_param, None)
    mask = np.random.RandomState(dropout_param["seed"]).rand(*x.shape) < 1 - p
    return x * mask, (dropout_param, mask)


def _mistake_dropout_keep_p(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if mode == "test":
        return x, (dropout_param, None)
    mask = (np.random.RandomState(dropout_param["seed"]).rand(*x.shape) < p) / p
    return x * mask, (dropout_param, mask)


def _mistake_dropout_scaled_test(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if mode == "test":
        return x * (1 - p), (dropout_param, None)
    mask = (np.random.RandomState(dropout_param["seed"]).rand(*x.shape) < 1 - p) / (1 - p)
    return x * mask, (dropout_param, mask)


def _mistake_dropout_other_draw(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if mode == "test":
        return x, (dropout_param, None)
    mask = (np.random.RandomState(dropout_param["seed"]).rand(*x.shape) > p) / (1 - p)
    return x * mask, (dropout_param, mask)


_DROPOUT_DRAW_HINT = ("your output is a valid inverted dropout of x but not the seeded mask: right after "
                      "np.random.seed(dropout_param['seed']) draw once, mask = (np.random.rand(*x.shape) < 1 - p) "
                      "/ (1 - p), so the check can reproduce it")


def _dropout_check_draw(case, expected, got):
    x, dropout_param = case.args
    if dropout_param["mode"] != "train" or _shape(got) != x.shape:
        return None
    p = dropout_param["p"]
    got = np.asarray(got, dtype=np.float64)
    scaled = np.isclose(got, x / (1 - p), rtol=1e-5, atol=1e-7)
    dropped = got == 0
    if np.all(scaled | dropped) and abs(dropped.mean() - p) < 4 * np.sqrt(p * (1 - p) / x.size) + 1e-9:
        return _DROPOUT_DRAW_HINT
    return None


_DROPOUT_LAYOUT = ("x: any shape; dropout_param: dict with 'p' (the probability of DROPPING each unit), 'mode' "
                   "('train' or 'test'), optionally 'seed'; cache = (dropout_param, mask) with mask None in "
                   "test mode; out and dx: x's shape.")

DROPOUT_FORWARD = _build(
    name="dropout_forward",
    returns="(out, cache)",
    task=("Performs the forward pass for (inverted) dropout. In train mode, if 'seed' is in dropout_param, "
          "call np.random.seed(dropout_param['seed']) first, then draw mask = (np.random.rand(*x.shape) < 1 - p) "
          "/ (1 - p) and return out = x * mask; in test mode return out = x. Return (out, cache), cache = "
          "(dropout_param, mask). p is the probability of DROPPING a unit, as in the jhui article and cs231n "
          "2017 (the 2018+ assignment reads p as the keep probability). The check reproduces the seeded mask "
          "exactly."),
    signature="def dropout_forward(x, dropout_param):",
    layout=_DROPOUT_LAYOUT,
    reference=dropout_forward,
    cases=_dropout_forward_cases,
    project=_first,
    checks=(_dropout_check_draw,),
    mistakes=(
        ("dropout not inverted", _mistake_dropout_not_inverted,
         "inverted dropout scales the kept units by 1 / (1 - p) in train mode, so test mode is the identity"),
        ("p read as the keep probability", _mistake_dropout_keep_p,
         ("p is the probability of DROPPING a unit (cs231n 2017, the jhui article): keep where "
         "np.random.rand(*x.shape) < 1 - p and scale by 1 / (1 - p)")),
        ("test mode scaled", _mistake_dropout_scaled_test,
         "in test mode dropout returns x unchanged (the train-mode mask is already inverted)"),
        ("another mask draw", _mistake_dropout_other_draw, _DROPOUT_DRAW_HINT),
    ),
)


def _mistake_dropout_backward_no_mask(dout, cache):
    return dout.copy()


def _mistake_dropout_backward_rescaled(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "test":
        return dout
    return dout * mask / (1 - dropout_param["p"])


def _mistake_dropout_backward_bool(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "test":
        return dout
    return dout * (mask > 0)


DROPOUT_BACKWARD = _build(
    name="dropout_backward",
    returns="dx",
    task=("Performs the backward pass for (inverted) dropout. Inputs: dout, upstream derivatives of any shape, "
          "and cache = (dropout_param, mask) from dropout_forward. In train mode dx = dout * mask; in test mode "
          "dx = dout."),
    signature="def dropout_backward(dout, cache):",
    layout=_DROPOUT_LAYOUT,
    reference=dropout_backward,
    cases=_dropout_backward_cases,
    numeric=_dropout_numeric,
    mistakes=(
        ("mask not applied", _mistake_dropout_backward_no_mask,
         "in train mode the gradient only flows through the kept units: dx = dout * mask"),
        ("rescaled twice", _mistake_dropout_backward_rescaled,
         "the mask already holds the 1 / (1 - p) scale: dx = dout * mask, no further division"),
        ("boolean mask", _mistake_dropout_backward_bool,
         "multiply by the mask itself (it carries the 1 / (1 - p) scale), not by mask > 0"),
    ),
)


# ----------------------------------------------------------------------------------------------
# batchnorm_forward / batchnorm_backward


@_jit64
def _bn_train(x, gamma, beta, eps):
    mean = jnp.mean(x, axis=0)
    var = jnp.var(x, axis=0)  # biased (ddof=0), as np.var and cs231n
    xhat = (x - mean) / jnp.sqrt(var + eps)
    return gamma * xhat + beta, xhat, mean, var


@_jit64
def _bn_test(x, gamma, beta, mean, var, eps):
    return gamma * (x - mean) / jnp.sqrt(var + eps) + beta


@_jit64
def _bn_vjp(x, gamma, beta, eps, dout):
    def out(x, gamma, beta):
        mean, var = jnp.mean(x, axis=0), jnp.var(x, axis=0)
        return gamma * (x - mean) / jnp.sqrt(var + eps) + beta
    return jax.vjp(out, x, gamma, beta)[1](dout)


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    x, gamma, beta = _f64(x), _f64(gamma), _f64(beta)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))
    if mode == "train":
        out, xhat, mean, var = _bn_train(x, gamma, beta, eps)
        cache = (x, gamma, beta, xhat, mean, var, eps)
        # cs231n writes the running averages back into bn_param
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out, cache = _bn_test(x, gamma, beta, _f64(running_mean), _f64(running_var), eps), None
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    return out, cache


def batchnorm_backward(dout, cache):
    x, gamma, beta, _, _, _, eps = cache
    return _bn_vjp(_f64(x), _f64(gamma), _f64(beta), eps, _f64(dout))


def _bn_inputs(rng, n, d, scale=1.0):
    return (scale * rng.standard_normal((n, d)) + rng.standard_normal(d), 1.0 + 0.5 * rng.standard_normal(d),
            rng.standard_normal(d))


def _bn_forward_cases(rng):
    cases = [Case(f"train, x({n}, {d})", (*_bn_inputs(rng, n, d), {"mode": "train"})) for n, d in ((4, 3), (6, 5))]
    cases.append(Case("train, small-variance features (x ~ 0.01), eps=1e-5",
                      (*_bn_inputs(rng, 5, 4, scale=0.01), {"mode": "train", "eps": 1e-5})))
    cases.append(Case("train, eps=0.1", (*_bn_inputs(rng, 4, 3), {"mode": "train", "eps": 0.1})))
    x, gamma, beta = _bn_inputs(rng, 5, 3)
    cases.append(Case("test mode: normalize with the running averages",
                      (x, gamma, beta, {"mode": "test", "eps": 1e-5, "momentum": 0.9,
                                        "running_mean": rng.standard_normal(3),
                                        "running_var": rng.uniform(0.5, 2.0, 3)})))
    return cases


def _bn_backward_cases(rng):
    cases = []
    for name, (n, d, scale, eps) in (("x(4, 3)", (4, 3, 1.0, 1e-5)), ("x(6, 5)", (6, 5, 1.0, 1e-5)),
                                     ("x(5, 2), eps=0.1", (5, 2, 1.0, 0.1))):
        out, cache = batchnorm_forward(*_bn_inputs(rng, n, d, scale), {"mode": "train", "eps": eps})
        cases.append(Case(f"random {name}", (rng.standard_normal(out.shape), cache)))
    return cases


def _bn_numeric(case):
    dout, (x, gamma, beta, _, _, _, eps) = case.args

    def forward(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})[0]

    return (_numeric_gradient(lambda v: forward(v, gamma, beta), x, dout),
            _numeric_gradient(lambda v: forward(x, v, beta), gamma, dout),
            _numeric_gradient(lambda v: forward(x, gamma, v), beta, dout))


def _np_batchnorm(x, gamma, beta, bn_param, *, ddof=0, eps_outside=False, axis=0, batch_stats_in_test=False):
    """A numpy batchnorm_forward with the switches the mistakes below turn."""
    mode, eps, _momentum = bn_param["mode"], bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    if mode == "train" or batch_stats_in_test:
        mean = np.mean(x, axis=axis, keepdims=True)
        var = np.var(x, axis=axis, ddof=ddof, keepdims=True)
    else:
        mean, var = bn_param["running_mean"], bn_param["running_var"]
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    xhat = (x - mean) / std
    return gamma * xhat + beta, None


_BN_LAYOUT = ("x: (N, D); gamma, beta: (D,); bn_param: dict with 'mode' ('train' or 'test'), optionally 'eps' "
              "(1e-5), 'momentum' (0.9), 'running_mean' and 'running_var' ((D,), zeros when absent); out: (N, D); "
              "cache (train mode) = (x, gamma, beta, xhat, sample_mean, sample_var, eps).")

BATCHNORM_FORWARD = _build(
    name="batchnorm_forward",
    returns="(out, cache)",
    task=("Forward pass for batch normalization. In train mode compute the minibatch mean and (biased, np.var) "
          "variance over the N examples, xhat = (x - mean) / np.sqrt(var + eps), out = gamma * xhat + beta, "
          "and update bn_param['running_mean'] = momentum * running_mean + (1 - momentum) * sample_mean (the "
          "same for running_var). In test mode normalize with the running mean and variance instead. Return "
          "(out, cache) with cache = (x, gamma, beta, xhat, sample_mean, sample_var, eps)."),
    signature="def batchnorm_forward(x, gamma, beta, bn_param):",
    layout=_BN_LAYOUT,
    reference=batchnorm_forward,
    cases=_bn_forward_cases,
    project=_first,
    mistakes=(
        ("variance with ddof=1", functools.partial(_np_batchnorm, ddof=1),
         "use the biased batch variance, np.var(x, axis=0) (ddof=0), as cs231n; ddof=1 divides by N - 1"),
        ("eps outside the sqrt", functools.partial(_np_batchnorm, eps_outside=True),
         "eps goes inside the square root: (x - mean) / np.sqrt(var + eps), not / (np.sqrt(var) + eps)"),
        ("normalized over the features", functools.partial(_np_batchnorm, axis=1),
         "batch normalization averages over the N examples (axis=0), one mean and variance per feature"),
        ("batch statistics in test mode", functools.partial(_np_batchnorm, batch_stats_in_test=True),
         "in test mode normalize with bn_param['running_mean'] and bn_param['running_var'], not the batch's"),
    ),
)


def _mistake_bn_backward_no_stats(dout, cache):
    _x, gamma, _beta, xhat, _mean, var, eps = cache
    return dout * gamma / np.sqrt(var + eps), np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)


def _bn_dx(dout, cache):
    x, gamma, _beta, xhat, _mean, var, eps = cache
    n = x.shape[0]
    dxhat = dout * gamma
    return (n * dxhat - dxhat.sum(axis=0) - xhat * np.sum(dxhat * xhat, axis=0)) / (n * np.sqrt(var + eps))


def _mistake_bn_backward_dgamma(dout, cache):
    return _bn_dx(dout, cache), np.sum(dout, axis=0), np.sum(dout, axis=0)


def _mistake_bn_backward_not_summed(dout, cache):
    xhat = cache[3]
    return _bn_dx(dout, cache), dout * xhat, dout


BATCHNORM_BACKWARD = _build(
    name="batchnorm_backward",
    returns="(dx, dgamma, dbeta)",
    task=("Backward pass for batch normalization (train mode). Inputs: dout (N, D) and the cache of "
          "batchnorm_forward. Returns (dx, dgamma, dbeta): dbeta = sum(dout), dgamma = sum(dout * xhat) over "
          "the N examples, and dx through xhat, the batch mean and the batch variance (all three depend on x)."),
    signature="def batchnorm_backward(dout, cache):",
    layout=_BN_LAYOUT + " dout, dx: (N, D); dgamma, dbeta: (D,).",
    reference=batchnorm_backward,
    cases=_bn_backward_cases,
    numeric=_bn_numeric,
    mistakes=(
        ("dx ignores the batch statistics", _mistake_bn_backward_no_stats,
         ("the batch mean and variance depend on x too: dx = gamma / (N * np.sqrt(var + eps)) * (N * dout - "
         "dout.sum(axis=0) - xhat * (dout * xhat).sum(axis=0))")),
        ("dgamma without xhat", _mistake_bn_backward_dgamma,
         "out = gamma * xhat + beta, so dgamma = np.sum(dout * xhat, axis=0); only dbeta is np.sum(dout, axis=0)"),
        ("dgamma, dbeta not summed", _mistake_bn_backward_not_summed,
         "gamma and beta are shared by the N examples: sum their gradients over axis 0, giving shape (D,)"),
    ),
)


# ----------------------------------------------------------------------------------------------
# conv_forward_naive / conv_backward_naive


@_jit64(static_argnums=(3, 4))
def _conv(x, w, b, stride, pad):
    out = jax.lax.conv_general_dilated(x, w, window_strides=(stride, stride), padding=((pad, pad), (pad, pad)),
                                       dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return out + b[None, :, None, None]


@_jit64(static_argnums=(3, 4))
def _conv_vjp(x, w, b, stride, pad, dout):
    def out(x, w, b):
        y = jax.lax.conv_general_dilated(x, w, window_strides=(stride, stride), padding=((pad, pad), (pad, pad)),
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[None, :, None, None]
    return jax.vjp(out, x, w, b)[1](dout)


def _conv_check(x, w, conv_param):
    stride, pad = int(conv_param["stride"]), int(conv_param["pad"])
    h, wd = x.shape[2] + 2 * pad - w.shape[2], x.shape[3] + 2 * pad - w.shape[3]
    if h % stride or wd % stride:
        raise ValueError(f"conv_param: (H + 2 * pad - HH) and (W + 2 * pad - WW) must be divisible by the stride; "
                         f"got x {x.shape}, w {w.shape}, {conv_param}")
    return stride, pad


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = _conv_check(x, w, conv_param)
    return _conv(_f64(x), _f64(w), _f64(b), stride, pad), (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = _conv_check(x, w, conv_param)
    return _conv_vjp(_f64(x), _f64(w), _f64(b), stride, pad, _f64(dout))


_CONV_SETTINGS = (((2, 3, 5, 5), (2, 3, 3, 3), 1, 1), ((1, 2, 7, 7), (3, 2, 3, 3), 2, 1),
                  ((2, 1, 4, 4), (2, 1, 2, 2), 2, 0), ((1, 2, 4, 4), (2, 2, 3, 3), 1, 0))


def _conv_inputs(rng, xs, ws):
    return rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])


def _conv_forward_cases(rng):
    cases = [Case(f"x{xs}, w{ws}, stride={s}, pad={p}", (*_conv_inputs(rng, xs, ws), {"stride": s, "pad": p}))
             for xs, ws, s, p in _CONV_SETTINGS]
    x, w, b = _conv_inputs(rng, (1, 1, 3, 3), (1, 1, 3, 3))
    cases.append(Case("edge: all-zero x, pad=1 (out = b everywhere)", (np.zeros_like(x), w, b, {"stride": 1, "pad": 1})))
    return cases


def _conv_backward_cases(rng):
    cases = []
    for xs, ws, s, p in _CONV_SETTINGS[:3]:
        out, cache = conv_forward_naive(*_conv_inputs(rng, xs, ws), {"stride": s, "pad": p})
        cases.append(Case(f"x{xs}, w{ws}, stride={s}, pad={p}", (rng.standard_normal(out.shape), cache)))
    return cases


def _conv_numeric(case):
    dout, (x, w, b, conv_param) = case.args
    return (_numeric_gradient(lambda v: conv_forward_naive(v, w, b, conv_param)[0], x, dout),
            _numeric_gradient(lambda v: conv_forward_naive(x, v, b, conv_param)[0], w, dout),
            _numeric_gradient(lambda v: conv_forward_naive(x, w, v, conv_param)[0], b, dout))


def _np_conv(x, w, b, conv_param, *, use_pad=True, use_stride=True, flip=False, bias=True):
    """A loop-by-loop numpy conv_forward_naive with the switches the mistakes below turn."""
    stride = conv_param["stride"] if use_stride else 1
    pad = conv_param["pad"] if use_pad else 0
    n, _, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kernel = w[:, :, ::-1, ::-1] if flip else w
    h_out, w_out = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    out = np.zeros((n, f, h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            window = xp[:, :, i * stride:i * stride + hh, j * stride:j * stride + ww]
            out[:, :, i, j] = np.tensordot(window, kernel, axes=([1, 2, 3], [1, 2, 3])) + (b if bias else 0)
    return out, (x, w, b, conv_param)


def _conv_out_shape(case, pad=None, stride=None):
    x, w, _, conv_param = case.args
    pad = conv_param["pad"] if pad is None else pad
    stride = conv_param["stride"] if stride is None else stride
    return (x.shape[0], w.shape[0], 1 + (x.shape[2] + 2 * pad - w.shape[2]) // stride,
            1 + (x.shape[3] + 2 * pad - w.shape[3]) // stride)


_CONV_LAYOUT = ("x: (N, C, H, W); w: (F, C, HH, WW); b: (F,); conv_param: dict with 'stride' and 'pad' (zero-padding "
                "on each side of H and W); out: (N, F, H', W') with H' = 1 + (H + 2 * pad - HH) / stride, "
                "W' = 1 + (W + 2 * pad - WW) / stride; cache = (x, w, b, conv_param).")

_PAD_HINT = "out is too small: zero-pad x by conv_param['pad'] on each side of H and W first (np.pad) before sliding w"
_STRIDE_HINT = "out is too large: move the filter by conv_param['stride'] pixels, H' = 1 + (H + 2 * pad - HH) / stride"

CONV_FORWARD_NAIVE = _build(
    name="conv_forward_naive",
    returns="(out, cache)",
    task=("A naive implementation of the forward pass for a convolutional layer. The input consists of N data "
          "points, each with C channels, height H and width W. We convolve each input with F different filters, "
          "where each filter spans all C channels and has height HH and width WW. Zero-pad the input by 'pad', "
          "slide each filter with step 'stride' and take the dot product plus the filter's bias (a "
          "cross-correlation: the filter is not flipped). Return (out, cache)."),
    signature="def conv_forward_naive(x, w, b, conv_param):",
    layout=_CONV_LAYOUT,
    reference=conv_forward_naive,
    cases=_conv_forward_cases,
    project=_first,
    checks=(_shape_hint(lambda c: _conv_out_shape(c, pad=0), _PAD_HINT),
            _shape_hint(lambda c: _conv_out_shape(c, stride=1), _STRIDE_HINT)),
    mistakes=(
        ("padding forgotten", functools.partial(_np_conv, use_pad=False), _PAD_HINT),
        ("stride ignored", functools.partial(_np_conv, use_stride=False), _STRIDE_HINT),
        ("filter flipped", functools.partial(_np_conv, flip=True),
         "cs231n's convolution is a cross-correlation: take np.sum(window * w[f]) without flipping w"),
        ("bias forgotten", functools.partial(_np_conv, bias=False), "add the filter's bias b[f] to every output of filter f"),
    ),
)


def _np_conv_backward(dout, cache, *, crop=True, accumulate=True, use_stride=True, db_axes=(0, 2, 3)):
    """A loop-by-loop numpy conv_backward_naive with the switches the mistakes below turn."""
    x, w, _b, conv_param = cache
    stride = conv_param["stride"] if use_stride else 1
    pad = conv_param["pad"]
    _, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + hh), slice(j * stride, j * stride + ww)
            dxp[:, :, rows, cols] += np.tensordot(dout[:, :, i, j], w, axes=(1, 0))
            contribution = np.tensordot(dout[:, :, i, j], xp[:, :, rows, cols], axes=(0, 0))
            dw = dw + contribution if accumulate else contribution
    dx = dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]] if crop else dxp
    return dx, dw, np.sum(dout, axis=db_axes)


CONV_BACKWARD_NAIVE = _build(
    name="conv_backward_naive",
    returns="(dx, dw, db)",
    task=("A naive implementation of the backward pass for a convolutional layer. Inputs: dout, upstream "
          "derivatives of shape (N, F, H', W'), and cache = (x, w, b, conv_param) as in conv_forward_naive. "
          "Returns (dx, dw, db): the gradients with respect to x (N, C, H, W, without the padding), w "
          "(F, C, HH, WW) and b (F,)."),
    signature="def conv_backward_naive(dout, cache):",
    layout=_CONV_LAYOUT + " dout: (N, F, H', W'); returns (dx, dw, db) with the shapes of x, w, b.",
    reference=conv_backward_naive,
    cases=_conv_backward_cases,
    numeric=_conv_numeric,
    mistakes=(
        ("db summed over the wrong axes", functools.partial(_np_conv_backward, db_axes=(2, 3)),
         "db has shape (F,): sum dout over the examples and both spatial axes, np.sum(dout, axis=(0, 2, 3))"),
        ("dx keeps the padding", functools.partial(_np_conv_backward, crop=False),
         "dx must have x's shape (N, C, H, W): crop the padding off, dx_pad[:, :, pad:-pad, pad:-pad]"),
        ("dw overwritten instead of accumulated", functools.partial(_np_conv_backward, accumulate=False),
         "every output position contributes to dw: accumulate with dw += ..., do not assign"),
        ("stride ignored in the backward pass", functools.partial(_np_conv_backward, use_stride=False),
         "output position (i, j) reads the input window starting at (i * stride, j * stride): use the stride"),
    ),
)


# ----------------------------------------------------------------------------------------------
# max_pool_forward_naive / max_pool_backward_naive


@_jit64(static_argnums=(1, 2, 3))
def _pool(x, ph, pw, stride):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, ph, pw), (1, 1, stride, stride), "VALID")


@_jit64(static_argnums=(1, 2, 3))
def _pool_vjp(x, ph, pw, stride, dout):
    # the derivative of reduce_window max sends dout to the first maximum of each window (np.argmax order)
    def pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, ph, pw), (1, 1, stride, stride), "VALID")
    return jax.vjp(pool, x)[1](dout)[0]


def _pool_args(pool_param):
    return int(pool_param["pool_height"]), int(pool_param["pool_width"]), int(pool_param["stride"])


def max_pool_forward_naive(x, pool_param):
    return _pool(_f64(x), *_pool_args(pool_param)), (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    return _pool_vjp(_f64(x), *_pool_args(pool_param), _f64(dout))


def _pool_param(size, stride):
    return {"pool_height": size, "pool_width": size, "stride": stride}


def _tied(rng, shape):
    return rng.integers(0, 2, shape).astype(float)  # 0/1 values: most windows have tied maxima


_POOL_SETTINGS = (((2, 3, 4, 4), 2, 2), ((1, 2, 6, 6), 3, 3), ((2, 1, 5, 5), 3, 2), ((1, 2, 4, 4), 2, 1))


def _pool_forward_cases(rng):
    cases = [Case(f"x{xs}, pool {k}x{k}, stride {s}", (rng.standard_normal(xs), _pool_param(k, s)))
             for xs, k, s in _POOL_SETTINGS]
    cases.append(Case("edge: ties (0/1 values)", (_tied(rng, (1, 2, 4, 4)), _pool_param(2, 2))))
    cases.append(Case("edge: all negative", (-np.abs(rng.standard_normal((1, 1, 4, 4))) - 1, _pool_param(2, 2))))
    return cases


def _pool_backward_cases(rng):
    cases = []
    for name, x, param in ([(f"x{xs}, pool {k}x{k}, stride {s}", rng.standard_normal(xs), _pool_param(k, s))
                            for xs, k, s in _POOL_SETTINGS]
                           + [("edge: ties (0/1 values): the first maximum gets dout",
                               _tied(rng, (1, 2, 4, 4)), _pool_param(2, 2))]):
        out, cache = max_pool_forward_naive(x, param)
        cases.append(Case(name, (rng.standard_normal(out.shape), cache)))
    return cases


def _pool_numeric(case):
    dout, (x, pool_param) = case.args
    ph, pw, s = _pool_args(pool_param)
    n, c, h, w = x.shape
    for i in range(0, h - ph + 1, s):
        for j in range(0, w - pw + 1, s):
            window = np.sort(x[:, :, i:i + ph, j:j + pw].reshape(n, c, -1), axis=-1)
            if np.any(window[..., -1] - window[..., -2] < 1e-4):  # a tie within the step: a convention there
                return None
    return _numeric_gradient(lambda v: max_pool_forward_naive(v, pool_param)[0], x, dout)


def _np_pool(x, pool_param, *, reduce=np.max, use_stride=True, over_channels=False):
    ph, pw, stride = _pool_args(pool_param)
    stride = stride if use_stride else 1
    n, c, h, w = x.shape
    out = np.zeros((n, c, 1 + (h - ph) // stride, 1 + (w - pw) // stride))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            axes = (1, 2, 3) if over_channels else (2, 3)
            out[:, :, i, j] = reduce(window, axis=axes, keepdims=over_channels).reshape(n, -1)
    return out, (x, pool_param)


def _pool_out_shape(case, stride=None):
    x, pool_param = case.args
    ph, pw, s = _pool_args(pool_param)
    s = s if stride is None else stride
    return (x.shape[0], x.shape[1], 1 + (x.shape[2] - ph) // s, 1 + (x.shape[3] - pw) // s)


_POOL_LAYOUT = ("x: (N, C, H, W); pool_param: dict with 'pool_height', 'pool_width', 'stride'; out: (N, C, H', W') "
                "with H' = 1 + (H - pool_height) / stride, W' = 1 + (W - pool_width) / stride; cache = (x, pool_param).")
_POOL_STRIDE_HINT = ("out is too large: move the pooling window by pool_param['stride'], "
                     "H' = 1 + (H - pool_height) / stride")

MAX_POOL_FORWARD_NAIVE = _build(
    name="max_pool_forward_naive",
    returns="(out, cache)",
    task=("A naive implementation of the forward pass for a max-pooling layer: for every example and every "
          "channel separately, slide a pool_height x pool_width window with step 'stride' (no padding) and keep "
          "its maximum. Return (out, cache), cache = (x, pool_param)."),
    signature="def max_pool_forward_naive(x, pool_param):",
    layout=_POOL_LAYOUT,
    reference=max_pool_forward_naive,
    cases=_pool_forward_cases,
    project=_first,
    checks=(_shape_hint(lambda c: _pool_out_shape(c, stride=1), _POOL_STRIDE_HINT),),
    mistakes=(
        ("average pooling", functools.partial(_np_pool, reduce=np.mean),
         "max pooling keeps each window's maximum (np.max), not its mean"),
        ("stride ignored", functools.partial(_np_pool, use_stride=False), _POOL_STRIDE_HINT),
        ("pooled across channels", functools.partial(_np_pool, over_channels=True),
         "pool every channel separately: take the max over the window's height and width only (axis=(2, 3))"),
    ),
)


def _np_pool_backward(dout, cache, *, route="first", accumulate=True, times_dout=True):
    """A loop-by-loop numpy max_pool_backward_naive with the switches the mistakes below turn."""
    x, pool_param = cache
    ph, pw, stride = _pool_args(pool_param)
    dx = np.zeros_like(x, dtype=float)
    n, c = x.shape[:2]
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + ph), slice(j * stride, j * stride + pw)
            window = x[:, :, rows, cols]
            if route == "first":
                first = np.argmax(window.reshape(n, c, -1), axis=-1)
                mask = np.eye(ph * pw)[first].reshape(window.shape)
            elif route == "ties":
                mask = (window == window.max(axis=(2, 3), keepdims=True)).astype(float)
            else:  # every element of the window
                mask = np.ones_like(window)
            grad = mask * dout[:, :, i:i + 1, j:j + 1] if times_dout else mask
            if accumulate:
                dx[:, :, rows, cols] += grad
            else:
                dx[:, :, rows, cols] = grad
    return dx


MAX_POOL_BACKWARD_NAIVE = _build(
    name="max_pool_backward_naive",
    returns="dx",
    task=("A naive implementation of the backward pass for a max-pooling layer. Inputs: dout (N, C, H', W') and "
          "cache = (x, pool_param). Each dout value goes to the position of its window's maximum in x (where "
          "windows overlap, contributions add up); at a tie, to the first maximum in np.argmax order only."),
    signature="def max_pool_backward_naive(dout, cache):",
    layout=_POOL_LAYOUT + " dout: (N, C, H', W'); dx: x's shape.",
    reference=max_pool_backward_naive,
    cases=_pool_backward_cases,
    numeric=_pool_numeric,
    mistakes=(
        ("gradient sent to every element", functools.partial(_np_pool_backward, route="all"),
         "only the window's maximum influenced the output: send dout to the argmax position, zero elsewhere"),
        ("gradient to every tied maximum", functools.partial(_np_pool_backward, route="ties"),
         "at a tie send dout to one maximum only, the first in np.argmax order (a mask x == max duplicates it)"),
        ("overlapping windows overwrite", functools.partial(_np_pool_backward, accumulate=False),
         "with stride < pool size windows overlap: accumulate dx[...] += ..., do not assign"),
        ("forgot dout", functools.partial(_np_pool_backward, times_dout=False),
         "multiply the argmax mask by the window's upstream dout value (chain rule)"),
    ),
)


# ----------------------------------------------------------------------------------------------
# Update rules: sgd, sgd_momentum, rmsprop, adam


@_jit64
def _sgd(w, dw, lr):
    return w - lr * dw


@_jit64
def _momentum(w, dw, v, lr, mu):
    v = mu * v - lr * dw
    return w + v, v


@_jit64
def _rmsprop(w, dw, cache, lr, decay, eps):
    # optax's scale_by_rms with eps outside the root is cs231n's rmsprop: dw / (sqrt(cache) + eps)
    updates, state = optax.scale_by_rms(decay=decay, eps=eps, eps_in_sqrt=False).update(
        dw, optax.ScaleByRmsState(nu=cache))
    return w - lr * updates, state.nu


@_jit64
def _adam(w, dw, m, v, t, lr, b1, b2, eps):
    # optax's scale_by_adam increments the count, then bias-corrects with it, as cs231n's adam
    updates, state = optax.scale_by_adam(b1=b1, b2=b2, eps=eps).update(
        dw, optax.ScaleByAdamState(count=t, mu=m, nu=v))
    return w - lr * updates, state.mu, state.nu, state.count


def _config(config, **defaults):
    config = {} if config is None else config
    for key, value in defaults.items():
        config.setdefault(key, value)
    return config


def sgd(w, dw, config=None):
    config = _config(config, learning_rate=1e-2)
    return _sgd(_f64(w), _f64(dw), config["learning_rate"]), config


def sgd_momentum(w, dw, config=None):
    config = _config(config, learning_rate=1e-2, momentum=0.9)
    v = config.get("velocity", np.zeros_like(w, dtype=np.float64))
    next_w, config["velocity"] = _momentum(_f64(w), _f64(dw), _f64(v), config["learning_rate"], config["momentum"])
    return next_w, config


def rmsprop(w, dw, config=None):
    config = _config(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = config.get("cache", np.zeros_like(w, dtype=np.float64))
    next_w, config["cache"] = _rmsprop(_f64(w), _f64(dw), _f64(cache), config["learning_rate"],
                                       config["decay_rate"], config["epsilon"])
    return next_w, config


def adam(w, dw, config=None):
    config = _config(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, t=0)
    m = config.get("m", np.zeros_like(w, dtype=np.float64))
    v = config.get("v", np.zeros_like(w, dtype=np.float64))
    next_w, config["m"], config["v"], t = _adam(_f64(w), _f64(dw), _f64(m), _f64(v), np.int32(config["t"]),
                                                config["learning_rate"], config["beta1"], config["beta2"],
                                                config["epsilon"])
    config["t"] = int(t)
    return next_w, config


def _state_hint(*keys):
    listed = ", ".join(f"config[{k!r}]" for k in keys)
    return f"store the new state in {listed} and return config, so the next step continues from it"


def _state_check(*keys):
    """A check: the update rule stored its state in config."""
    def check(case, expected, got):
        config = got[1]
        if not isinstance(config, dict):
            return "return the config dict as the second value, (next_w, config), with the state stored in it"
        if any(config.get(k) is None for k in keys):
            return _state_hint(*keys)
        return None
    return check


def _state_project(*keys):
    """``(next_w, config)`` -> ``(next_w, {key: config.get(key)})``: the new weights and the state the
    update rule must store in config (hyperparameters are not compared)."""
    def project(out):
        if not (isinstance(out, tuple) and len(out) == 2):
            return out
        next_w, config = out
        return next_w, ({k: config.get(k) for k in keys} if isinstance(config, dict) else config)
    return project


def _update_cases(rng, state, custom):
    """Cases for an update rule: config None (the defaults), a first step with a custom config, a later step
    with the state already in config, and tiny gradients (where eps matters)."""
    def arrays(shape):
        return rng.standard_normal(shape), rng.standard_normal(shape)

    cases = [Case("config None: cs231n's defaults", arrays((3, 4)) + (None,)),
             Case("first step, custom config", arrays((5,)) + (dict(custom),))]
    w, dw = arrays((2, 3))
    cases.append(Case("a later step: state already in config", (w, dw, {**custom, **state(rng, w.shape)})))
    w, dw = arrays((4, 2))
    cases.append(Case("tiny gradients (dw ~ 1e-6)", (w, 1e-6 * dw, dict(custom))))
    return cases


def _sgd_cases(rng):
    return _update_cases(rng, lambda rng, shape: {}, {"learning_rate": 0.1})


def _momentum_cases(rng):
    return _update_cases(rng, lambda rng, shape: {"velocity": rng.standard_normal(shape)},
                         {"learning_rate": 0.05, "momentum": 0.8})


def _rmsprop_cases(rng):
    return _update_cases(rng, lambda rng, shape: {"cache": rng.uniform(0, 1, shape)},
                         {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-8})


def _adam_cases(rng):
    return _update_cases(rng, lambda rng, shape: {"m": 0.1 * rng.standard_normal(shape),
                                                  "v": rng.uniform(0, 0.1, shape), "t": 5},
                         {"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8})


def _mistake_sgd_plus(w, dw, config=None):
    config = _config(config, learning_rate=1e-2)
    return w + config["learning_rate"] * dw, config


def _mistake_sgd_fixed_lr(w, dw, config=None):
    return w - 1e-2 * dw, _config(config, learning_rate=1e-2)


def _mistake_sgd_default(w, dw, config=None):
    config = _config(config, learning_rate=1e-3)
    return w - config["learning_rate"] * dw, config


_CONFIG_LAYOUT = ("w, dw: arrays of the same shape; config: dict of hyperparameters and state (or None for the "
                  "defaults), updated and returned; returns (next_w, config).")

SGD = _build(
    name="sgd",
    returns="(next_w, config)",
    task=("Performs vanilla stochastic gradient descent: next_w = w - learning_rate * dw. config format: "
          "learning_rate: scalar learning rate (default 1e-2). Returns (next_w, config)."),
    signature="def sgd(w, dw, config=None):",
    layout=_CONFIG_LAYOUT,
    reference=sgd,
    cases=_sgd_cases,
    project=_state_project(),
    mistakes=(
        ("step up the gradient", _mistake_sgd_plus,
         "gradient descent steps against the gradient: next_w = w - learning_rate * dw"),
        ("learning rate hard-coded", _mistake_sgd_fixed_lr, "read the step size from config['learning_rate']"),
        ("wrong default", _mistake_sgd_default,
         "cs231n's default learning_rate for sgd is 1e-2: config.setdefault('learning_rate', 1e-2)"),
    ),
)


def _np_momentum(w, dw, config=None, *, sign=-1.0, store=True, old_velocity=False):
    config = _config(config, learning_rate=1e-2, momentum=0.9)
    v = config.get("velocity", np.zeros_like(w))
    new_v = config["momentum"] * v + sign * config["learning_rate"] * dw
    next_w = w + (v if old_velocity else new_v)
    if store:
        config["velocity"] = new_v
    return next_w, config


SGD_MOMENTUM = _build(
    name="sgd_momentum",
    returns="(next_w, config)",
    task=("Performs stochastic gradient descent with momentum: v = momentum * v - learning_rate * dw; "
          "next_w = w + v. config format: learning_rate (default 1e-2), momentum (default 0.9), velocity: an "
          "array of w's shape holding the moving average of the gradients (zeros when absent); store the new v "
          "in config['velocity']."),
    signature="def sgd_momentum(w, dw, config=None):",
    layout=_CONFIG_LAYOUT + " config['velocity']: w's shape.",
    reference=sgd_momentum,
    cases=_momentum_cases,
    project=_state_project("velocity"),
    checks=(_state_check("velocity"),),
    mistakes=(
        ("momentum sign", functools.partial(_np_momentum, sign=1.0),
         "the velocity moves against the gradient: v = momentum * v - learning_rate * dw (minus), then w + v"),
        ("velocity not stored", functools.partial(_np_momentum, store=False), _state_hint("velocity")),
        ("w moved with the old velocity", functools.partial(_np_momentum, old_velocity=True),
         "update v first, then move w by the NEW velocity: next_w = w + v"),
    ),
)


def _np_rmsprop(w, dw, config=None, *, eps_inside=False, square=True, fixed_eps=None):
    config = _config(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = config.get("cache", np.zeros_like(w))
    cache = config["decay_rate"] * cache + (1 - config["decay_rate"]) * (dw ** 2 if square else dw)
    eps = config["epsilon"] if fixed_eps is None else fixed_eps
    denominator = np.sqrt(cache + eps) if eps_inside else np.sqrt(cache) + eps
    config["cache"] = cache
    return w - config["learning_rate"] * dw / denominator, config


RMSPROP = _build(
    name="rmsprop",
    returns="(next_w, config)",
    task=("Uses the RMSProp update rule, which uses a moving average of squared gradient values to set adaptive "
          "per-parameter learning rates: cache = decay_rate * cache + (1 - decay_rate) * dw**2; next_w = w - "
          "learning_rate * dw / (np.sqrt(cache) + epsilon). config format: learning_rate (1e-2), decay_rate "
          "(0.99), epsilon (1e-8; the jhui article hard-codes 1e-7), cache (zeros when absent), stored back."),
    signature="def rmsprop(w, dw, config=None):",
    layout=_CONFIG_LAYOUT + " config['cache']: w's shape.",
    reference=rmsprop,
    cases=_rmsprop_cases,
    project=_state_project("cache"),
    checks=(_state_check("cache"),),
    mistakes=(
        ("eps inside the sqrt", functools.partial(_np_rmsprop, eps_inside=True),
         "cs231n's RMSProp adds epsilon outside the root: dw / (np.sqrt(cache) + epsilon), not np.sqrt(cache + eps)"),
        ("gradient not squared", functools.partial(_np_rmsprop, square=False),
         "the cache averages the SQUARED gradients: cache = decay_rate * cache + (1 - decay_rate) * dw**2"),
        ("the article's fixed 1e-7", functools.partial(_np_rmsprop, fixed_eps=1e-7),
         "use config['epsilon'] (default 1e-8), not a hard-coded 1e-7 as the jhui article writes"),
    ),
)


def _np_adam(w, dw, config=None, *, correct=True, increment=True, store=True):
    config = _config(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, t=0)
    b1, b2 = config["beta1"], config["beta2"]
    t = config["t"] + (1 if increment else 0)
    m = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    v = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw ** 2
    mt, vt = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if correct else (m, v)
    if store:
        config.update(m=m, v=v, t=t)
    return w - config["learning_rate"] * mt / (np.sqrt(vt) + config["epsilon"]), config


ADAM = _build(
    name="adam",
    returns="(next_w, config)",
    task=("Uses the Adam update rule, which incorporates moving averages of both the gradient and its square "
          "and a bias correction term: t += 1; m = beta1 * m + (1 - beta1) * dw; mt = m / (1 - beta1**t); "
          "v = beta2 * v + (1 - beta2) * dw**2; vt = v / (1 - beta2**t); next_w = w - learning_rate * mt / "
          "(np.sqrt(vt) + epsilon). config format: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon "
          "(1e-8), m, v (zeros when absent), t (0); store m, v, t back. The jhui article's Adam has no bias "
          "correction and a fixed 1e-7: follow cs231n."),
    signature="def adam(w, dw, config=None):",
    layout=_CONFIG_LAYOUT + " config['m'], config['v']: w's shape; config['t']: the step count.",
    reference=adam,
    cases=_adam_cases,
    project=_state_project("m", "v", "t"),
    checks=(_state_check("m", "v", "t"),),
    mistakes=(
        ("no bias correction", functools.partial(_np_adam, correct=False),
         ("correct the moving averages' bias: mt = m / (1 - beta1**t), vt = v / (1 - beta2**t) (the jhui article "
         "leaves it out; cs231n has it)")),
        ("t not incremented", functools.partial(_np_adam, increment=False),
         "increment t first (t = config['t'] + 1), correct with 1 - beta**t, and store it in config['t']"),
        ("state not stored", functools.partial(_np_adam, store=False), _state_hint("m", "v", "t")),
    ),
)


EXERCISES: tuple[Exercise, ...] = (
    AFFINE_FORWARD, AFFINE_BACKWARD, RELU_FORWARD, RELU_BACKWARD, SOFTMAX_LOSS, SVM_LOSS,
    DROPOUT_FORWARD, DROPOUT_BACKWARD, BATCHNORM_FORWARD, BATCHNORM_BACKWARD,
    CONV_FORWARD_NAIVE, CONV_BACKWARD_NAIVE, MAX_POOL_FORWARD_NAIVE, MAX_POOL_BACKWARD_NAIVE,
    SGD, SGD_MOMENTUM, RMSPROP, ADAM,
)

__all__ = ["EXERCISES"]
