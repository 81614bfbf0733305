"""The gradient check: autodiff (or a hand-written backward pass) against central finite differences."""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fnnet.objective import make_objective
from fnnet.text import text_table
from fnnet.tree import flatten_with_names

PyTree = Any


def model_objective(model, loss, *, model_state=None) -> Callable:
    """``objective(params, (x, y)) -> scalar``: the model's loss in evaluation mode (no dropout, so it is
    deterministic) plus its weight penalties, the function :func:`check_grads` differentiates."""
    objective = make_objective(model, loss)
    state = {} if model_state is None else model_state

    def loss_of(params, batch):
        x, y = batch
        return objective(params, state, x, y)[0]

    return loss_of


# ----------------------------------------------------------------------------------------------
# Gradient check


@dataclasses.dataclass(frozen=True)
class LeafCheck:
    """One parameter leaf of a gradient check: the directional derivatives along the check's directions
    by the gradient under test (``analytic``) and by finite differences (``numeric``, at the step that
    agrees best), and the largest relative error over the directions (see :func:`check_grads`)."""

    name: str
    shape: tuple
    analytic: tuple
    numeric: tuple
    rel_error: float
    passed: bool


@dataclasses.dataclass(frozen=True)
class GradientCheck:
    """The result of :func:`check_grads`: one :class:`LeafCheck` per leaf and the verdict."""

    leaves: tuple
    rtol: float
    steps: tuple
    dtype: str

    @property
    def passed(self) -> bool:
        return all(leaf.passed for leaf in self.leaves)

    @property
    def max_rel_error(self) -> float:
        return max(leaf.rel_error for leaf in self.leaves)

    @property
    def failed(self) -> list[str]:
        """Names of the leaves whose gradient disagrees with finite differences."""
        return [leaf.name for leaf in self.leaves if not leaf.passed]

    def verdict(self) -> str:
        if self.passed:
            return (f"passed: {len(self.leaves)} leaves, max relative error {self.max_rel_error:.1e} "
                    f"(tolerance {self.rtol:.0e}, {self.dtype})")
        return (f"FAILED for {', '.join(self.failed)}: relative error up to {self.max_rel_error:.1e} "
                f"(tolerance {self.rtol:.0e}, {self.dtype}); the gradient of these leaves is wrong")

    def __str__(self) -> str:
        rows = [{"leaf": leaf.name, "shape": str(leaf.shape), "gradient . v": f"{leaf.analytic[0]: .6e}",
                 "finite diff . v": f"{leaf.numeric[0]: .6e}", "rel error": f"{leaf.rel_error:.1e}",
                 "check": "ok" if leaf.passed else "WRONG"} for leaf in self.leaves]
        return f"{text_table(rows)}\ngradient check {self.verdict()}"


#: Defaults per precision: (the finite-difference steps along a unit direction, tolerance). A correct
#: gradient agrees with the difference quotient of at least one step, a wrong one with none: rounding
#: error (~1e-7 of the loss in float32, divided by the step) favours the large steps, ReLU kinks crossed
#: by a step the small ones.
_GRAD_CHECK_DEFAULTS = {"float32": ((1e-2, 2.5e-3, 6.25e-4, 1.5625e-4), 3e-2),
                        "float64": ((1e-4, 1e-5, 1e-6, 1e-7), 1e-6)}


def check_grads(
    loss_fn: Callable,
    params: PyTree,
    batch: Any,
    *,
    grad_fn: Optional[Callable] = None,
    key: Optional[jax.Array] = None,
    directions: int = 2,
    float64: bool = False,
    steps: Optional[Sequence[float]] = None,
    rtol: Optional[float] = None,
) -> GradientCheck:
    """Checks a gradient against central finite differences, leaf by leaf.

    For every leaf ``W`` of ``params`` and each of ``directions`` unit directions ``v`` (a random
    direction plus the gradient's own, so the difference quotient stays well above rounding noise even
    for large leaves) it compares the directional derivative ``a = <g_W, v>`` of the gradient under test
    with central differences ``n(h) = (L(W + h v) - L(W - h v)) / 2h`` for each step ``h`` in ``steps``.
    The relative error is ``min_h |a - n(h)| / max(|a|, |n(h)|, floor)`` with
    ``floor = 1e-3 * max_leaf ||g_leaf||`` (a leaf with almost no gradient is judged on the scale of the
    whole gradient). A correct gradient agrees with at least one step: rounding error (~1e-7 of the loss
    in float32, divided by ``h``) favours large steps, ReLU kinks crossed by the step small ones. A wrong
    gradient typically gives errors of order 0.1 to 1 at every step.

    In float32 (default) the tolerance is 3e-2: a ReLU input closer to its kink than the smallest step
    can cost a correct gradient about 1e-2 (on small tanh/sigmoid/ReLU MLPs, correct gradients stayed
    below 1.3e-2, wrong backward rules gave 0.1 and more). ``float64=True`` (computed under
    ``jax.enable_x64``) is precise: tolerance 1e-6.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar`` (e.g. :func:`model_objective`); traced with ``vmap``.
      params: the point to check at (a pytree of float arrays).
      batch: passed through to ``loss_fn`` (e.g. ``(x, y)``).
      grad_fn: the gradient under test, ``grad_fn(params, batch) -> tree like params``; default
        ``jax.grad(loss_fn)`` (which checks any ``custom_vjp`` backward rule used inside ``loss_fn``).
      key: PRNG key for the directions (default ``jax.random.key(0)``).
      float64: compute everything in double precision.
      steps, rtol: the finite-difference steps along a unit direction and the tolerance; defaults
        ``(1e-2, 2.5e-3, 6.25e-4, 1.6e-4)`` / ``3e-2`` in float32, ``(1e-4, ..., 1e-7)`` / ``1e-6`` in
        float64.

    Returns:
      A :class:`GradientCheck` (``.passed``, ``.failed``, ``.max_rel_error``; ``print`` shows the table).
    """
    if not isinstance(directions, int) or directions < 1:
        raise ValueError(f"directions must be a positive int, got {directions!r}")
    dtype = "float64" if float64 else "float32"
    default_steps, default_rtol = _GRAD_CHECK_DEFAULTS[dtype]
    steps = tuple(float(h) for h in (default_steps if steps is None else steps))
    rtol = default_rtol if rtol is None else rtol
    if not steps or not all(h > 0 for h in steps):
        raise ValueError(f"steps must be a non-empty sequence of positive step sizes, got {steps!r}")
    if not rtol > 0:
        raise ValueError(f"rtol must be positive, got {rtol!r}")
    key = jax.random.key(0) if key is None else key
    with jax.enable_x64(float64):
        cast = lambda a: jnp.asarray(a, dtype) if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating) else a
        params = jax.tree_util.tree_map(cast, params)
        batch = jax.tree_util.tree_map(cast, batch)
        named = flatten_with_names(params)
        if not named:
            raise ValueError("params must hold at least one array")
        for name, leaf in named:
            if not jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating):
                raise ValueError(f"params leaf {name} must be a float array, got dtype {jnp.asarray(leaf).dtype}")
        grads = (grad_fn or jax.grad(loss_fn))(params, batch)
        if jax.tree_util.tree_structure(grads) != jax.tree_util.tree_structure(params):
            raise ValueError("grad_fn must return a tree with the structure of params, got "
                             f"{jax.tree_util.tree_structure(grads)}")
        grad_leaves = [jnp.asarray(g, dtype) for _, g in flatten_with_names(grads)]
        for (name, leaf), g in zip(named, grad_leaves):
            if g.shape != jnp.shape(leaf):
                raise ValueError(f"grad_fn's {name} has shape {g.shape}, the parameter {jnp.shape(leaf)}")
        sizes = [int(np.prod(jnp.shape(leaf))) for _, leaf in named]
        noise = jax.random.normal(key, (directions, sum(sizes)), dtype)  # one draw, split per leaf below
        cuts = np.cumsum(sizes)[:-1]
        pieces = jnp.split(noise, cuts, axis=1)
        random = [z.reshape((directions, *jnp.shape(leaf))) for z, (_, leaf) in zip(pieces, named)]
        analytic, numeric = _directional_derivatives(loss_fn, params, batch, grad_leaves, random, steps)
        scale = max(float(jnp.linalg.norm(g.ravel())) for g in grad_leaves)
        floor = 1e-3 * scale + 1e-30
        checks = []
        for (name, leaf), a_row, n_rows in zip(named, np.asarray(analytic), np.asarray(numeric)):
            errors = np.abs(a_row - n_rows) / np.maximum(np.maximum(np.abs(a_row), np.abs(n_rows)), floor)
            errors = np.where(np.isnan(errors), np.inf, errors)  # a NaN gradient or loss fails the check
            best = np.argmin(errors, axis=0)  # per direction: the step whose quotient agrees best
            n_row = n_rows[best, np.arange(len(best))]
            error = float(np.max(errors[best, np.arange(len(best))]))
            checks.append(LeafCheck(name, tuple(jnp.shape(leaf)), tuple(a_row.tolist()), tuple(n_row.tolist()), error,
                                    bool(error <= rtol)))
    return GradientCheck(tuple(checks), rtol=rtol, steps=steps, dtype=dtype)


@functools.partial(jax.jit, static_argnums=0)
def _directional_derivatives(loss_fn, params, batch, grad_leaves, random, steps):
    """``analytic (leaves, directions)``: ``<g, v>``, and ``numeric (leaves, steps, directions)``: the
    central differences ``(L(W + h v) - L(W - h v)) / 2h`` along unit directions ``v`` of each leaf (a
    random direction plus the gradient's own). One compiled program; each leaf's
    ``2 * steps * directions`` loss evaluations are one ``vmap``."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    analytic, numeric = [], []
    for i, (leaf, g, z) in enumerate(zip(leaves, grad_leaves, random)):
        directions = z.shape[0]
        g_norm = jnp.linalg.norm(g.ravel())
        g_dir = jnp.where(g_norm > 0, g / jnp.where(g_norm > 0, g_norm, 1.0), 0.0)
        z = z / jnp.linalg.norm(z.reshape(directions, -1), axis=1).reshape((directions,) + (1,) * leaf.ndim)
        v = g_dir + 0.5 * z  # ||v|| >= 0.5 whatever the draw (a one-element leaf included)
        v = v / jnp.linalg.norm(v.reshape(directions, -1), axis=1).reshape((directions,) + (1,) * leaf.ndim)
        steps = jnp.asarray(steps, leaf.dtype)
        h = steps.reshape((-1, 1) + (1,) * leaf.ndim)
        deltas = jnp.concatenate([h * v, -h * v]).reshape((-1,) + leaf.shape)  # (2 * steps * directions, ...)
        def moved(d, i=i, leaf=leaf):
            return jax.tree_util.tree_unflatten(treedef, [*leaves[:i], leaf + d, *leaves[i + 1:]])

        values = jax.vmap(lambda d, moved=moved: loss_fn(moved(d), batch))(deltas).reshape(2, len(steps), directions)
        numeric.append((values[0] - values[1]) / (2 * steps[:, None]))
        analytic.append(jnp.sum((g * v).reshape(directions, -1), axis=1))
    return jnp.stack(analytic), jnp.stack(numeric)  # (leaves, directions), (leaves, steps, directions)


