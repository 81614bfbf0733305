"""A learner's numpy forward/backward pair as an fnnet layer: train it with ``fnnet.fit``, verify it with
``fnnet.diagnostics.check_grads``.

The pair follows cs231n's convention::

    def affine_forward(x, w, b):            # the layer's parameters are forward's arguments after x
        out = x.reshape(x.shape[0], -1) @ w + b
        return out, (x, w, b)               # (out, cache)

    def affine_backward(dout, cache):
        x, w, b = cache
        return dout @ w.T, x.T @ dout, dout.sum(axis=0)     # (dx, dw, db): one gradient per argument

    layer = numpy_layer(affine_forward, affine_backward,
                        init=lambda key, x: {"w": ..., "b": ...})      # params named as forward's arguments

Inside a compiled program the forward pass is a ``jax.pure_callback`` to the learner's numpy forward;
its gradient is a ``jax.custom_vjp`` whose backward rule calls the learner's numpy backward (on the cache
of a fresh forward call: the cache is numpy data and never enters the program). So ``jax.grad`` of any
loss through the layer uses the learner's backpropagation, and ``check_grads`` (finite differences of the
learner's forward against it) tells whether the pair agrees.

Precision: use float32 (fnnet's default). Under the ``jax.enable_x64`` *context manager* (what
``check_grads(..., float64=True)`` uses) jax may run a host callback on a thread where x64 is off and
hand it float32 arrays, and the call fails with "Incorrect output dtype"; float64 works with the global
flag (``jax.config.update("jax_enable_x64", True)``).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from fnnet.models.layers import Layer


def _forward_parameters(forward: Callable) -> tuple[str, ...]:
    """The names of ``forward``'s parameters after the input: the layer's parameter names."""
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError) as err:
        raise TypeError(f"forward must be a Python function forward(x, *params), got {forward!r}") from err
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.default is p.empty]
    if not positional:
        raise TypeError("forward must take the layer's input first: forward(x, *params) -> (out, cache), "
                        f"got forward{inspect.signature(forward)}")
    return tuple(p.name for p in positional[1:])


def _split_forward_output(out, where: str) -> tuple[np.ndarray, Any]:
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{where} must return (out, cache) as in cs231n, got {type(out).__name__}")
    return np.asarray(out[0]), out[1]


def _host_forward(forward: Callable, dtype, x, *params):
    out, _ = _split_forward_output(forward(np.array(x), *(np.array(p) for p in params)), "forward")
    return out.astype(dtype)


def _host_backward(forward: Callable, backward: Callable, dout, x, *params):
    """``(dx, *dparams)`` from the learner's backward, on the cache of a fresh forward call."""
    _, cache = _split_forward_output(forward(np.array(x), *(np.array(p) for p in params)), "forward")
    grads = backward(np.array(dout), cache)
    grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
    wanted = (x, *params)
    if len(grads) != len(wanted):
        raise ValueError(f"backward must return {len(wanted)} gradient(s) (dx and one per parameter), "
                         f"got {len(grads)}")
    out = []
    for i, (g, w) in enumerate(zip(grads, wanted)):
        g = np.asarray(g)
        if g.shape != w.shape:
            what = "dx" if i == 0 else f"the gradient of parameter {i}"
            raise ValueError(f"backward's {what} has shape {g.shape}, expected {w.shape}")
        out.append(g.astype(w.dtype))
    return tuple(out)


@functools.cache
def _operation(forward: Callable, backward: Callable) -> Callable:
    """``op(x, params_tuple) -> out``: the learner's forward with the learner's backward as its VJP."""

    def out_spec(x, params):
        # The output shape comes from one host call on zeros of the input shapes (numpy code has no
        # abstract evaluation); shapes are static, so it runs once per trace.
        zeros = [np.zeros(np.shape(a), np.dtype(a.dtype)) for a in (x, *params)]
        with jax.ensure_compile_time_eval():  # a forward written with jax runs now, not staged into the trace
            out, _ = _split_forward_output(forward(*zeros), "forward")
        return jax.ShapeDtypeStruct(out.shape, x.dtype)

    @jax.custom_vjp
    def op(x, params):
        return jax.pure_callback(functools.partial(_host_forward, forward, np.dtype(x.dtype)), out_spec(x, params),
                                 x, *params, vmap_method="sequential")

    def op_fwd(x, params):
        return op(x, params), (x, params)

    def op_bwd(residuals, dout):
        x, params = residuals
        specs = tuple(jax.ShapeDtypeStruct(np.shape(a), a.dtype) for a in (x, *params))
        grads = jax.pure_callback(functools.partial(_host_backward, forward, backward), specs, dout, x, *params,
                                  vmap_method="sequential")
        return grads[0], tuple(grads[1:])

    op.defvjp(op_fwd, op_bwd)
    return op


@dataclasses.dataclass(frozen=True)
class NumpyLayer(Layer):
    """See :func:`numpy_layer`."""

    forward: Callable
    backward: Callable
    init: Callable | None = None
    name_hint: str = "numpy_layer"
    param_names: tuple = ()
    kind: ClassVar[str] = "numpy"

    def layer_init(self, key, x):
        if not self.param_names:
            return {}, {}
        params = self.init(key, x)
        if not isinstance(params, dict) or set(params) != set(self.param_names):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise ValueError(f"init of layer {self.name_hint!r} must return a dict with the keys "
                             f"{list(self.param_names)} (forward's parameters), got {got}")
        return {k: jnp.asarray(params[k], x.dtype) for k in self.param_names}, {}

    def layer_apply(self, params, state, x, *, key, train):
        return _operation(self.forward, self.backward)(x, tuple(params[k] for k in self.param_names)), state

    def describe(self):
        return f"NumpyLayer({self.name_hint})"


def numpy_layer(forward: Callable, backward: Callable, *, init: Callable | None = None,
                name: str = "numpy_layer") -> NumpyLayer:
    """A layer computed by the learner's numpy ``forward`` and differentiated by the learner's ``backward``.

    Args:
      forward: ``forward(x, *params) -> (out, cache)`` (cs231n's ``affine_forward(x, w, b)``,
        ``relu_forward(x)``...). The names of its arguments after ``x`` name the layer's parameters.
      backward: ``backward(dout, cache) -> (dx, *dparams)``, one gradient per argument of ``forward``
        (``dx`` alone for a layer without parameters), each shaped like its argument.
      init: ``init(key, x_sample) -> {name: array}`` with one entry per parameter (a jax key; the arrays
        may be numpy); required when ``forward`` has parameters.
      name: shown in model summaries.

    Returns:
      An fnnet layer: use it in ``Sequential`` and ``fnnet.fit`` like any other; ``jax.grad`` through it
      calls ``backward``, so ``fnnet.diagnostics.check_grads`` checks the learner's backpropagation.
    """
    if not callable(forward):
        raise TypeError(f"forward must be a function forward(x, *params) -> (out, cache), got {type(forward).__name__}")
    if not callable(backward):
        raise TypeError(f"backward must be a function backward(dout, cache) -> (dx, *dparams), got "
                        f"{type(backward).__name__}")
    names = _forward_parameters(forward)
    if names and init is None:
        raise ValueError(f"forward has parameters {list(names)}: pass init=lambda key, x: {{...}} returning them")
    if init is not None and not callable(init):
        raise TypeError(f"init must be a function init(key, x_sample) -> dict, got {type(init).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    return NumpyLayer(forward, backward, init, name, names)


def _zero_cotangent(leaf):
    leaf = jnp.asarray(leaf)
    if jnp.issubdtype(leaf.dtype, jnp.inexact):
        return jnp.zeros_like(leaf)
    return np.zeros(leaf.shape, jax.dtypes.float0)  # integer inputs (labels) have no gradient


def numpy_objective(cost: Callable, gradient: Callable) -> Callable:
    """``loss_fn(params, batch) -> scalar`` whose value is the learner's numpy ``cost(params, batch)`` and
    whose gradient with respect to ``params`` is the learner's numpy ``gradient(params, batch)`` (a tree
    like ``params``): a whole hand-written backpropagation (the planar assignment's
    ``backward_propagation``) as a differentiable jax function, for ``fnnet.diagnostics.check_grads``
    (finite differences of the learner's cost against the learner's gradient) and for
    ``fnnet.optim.trajectory`` / optax loops. ``batch`` gets no gradient.
    """
    if not callable(cost) or not callable(gradient):
        raise TypeError("cost and gradient must be functions of (params, batch)")

    def host_cost(dtype, params, batch):
        return np.asarray(cost(jax.tree_util.tree_map(np.array, params), jax.tree_util.tree_map(np.array, batch)),
                          dtype).reshape(())

    def host_gradient(params, batch):
        grads = gradient(jax.tree_util.tree_map(np.array, params), jax.tree_util.tree_map(np.array, batch))
        if jax.tree_util.tree_structure(grads) != jax.tree_util.tree_structure(params):
            raise ValueError(f"gradient must return a tree like params ({jax.tree_util.tree_structure(params)}), "
                             f"got {jax.tree_util.tree_structure(grads)}")
        return jax.tree_util.tree_map(lambda g, p: np.asarray(g, p.dtype).reshape(p.shape), grads, params)

    @jax.custom_vjp
    def loss_fn(params, batch):
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        return jax.pure_callback(functools.partial(host_cost, np.dtype(dtype)), jax.ShapeDtypeStruct((), dtype),
                                 params, batch, vmap_method="sequential")

    def loss_fwd(params, batch):
        return loss_fn(params, batch), (params, batch)

    def loss_bwd(residuals, g):
        params, batch = residuals
        specs = jax.tree_util.tree_map(lambda p: jax.ShapeDtypeStruct(jnp.shape(p), jnp.asarray(p).dtype), params)
        grads = jax.pure_callback(host_gradient, specs, params, batch, vmap_method="sequential")
        return jax.tree_util.tree_map(lambda d: g * d, grads), jax.tree_util.tree_map(_zero_cotangent, batch)

    loss_fn.defvjp(loss_fwd, loss_bwd)
    return loss_fn


__all__ = ["NumpyLayer", "numpy_layer", "numpy_objective"]
