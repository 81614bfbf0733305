"""Optimizers, named one way, built as optax chains, and LR schedules. The only update rules written here
are two of the jhui article's own formulas, offered to reproduce it (``"adagrad_jhui"``, ``"adam_jhui"``).

``optimizer(name, learning_rate, ...)`` returns an ``optax.GradientTransformation`` that is the chain ::

    add_decayed_weights(l2, mask)            coupled L2: g <- g + l2 * w
    clip_by_global_norm(clip_norm)           rescale g so that ||g||_2 <= clip_norm
    <direction of `name`>                    identity | trace | scale_by_rss | scale_by_rms | scale_by_adam
    add_decayed_weights(weight_decay, mask)  decoupled decay: u <- u + weight_decay * w
    scale_by_learning_rate(learning_rate)    u <- -learning_rate * u

where a stage whose setting is off (``l2=0``, no ``clip_norm``, no ``weight_decay``) is left out.

**Coupled L2 vs decoupled weight decay.** ``l2`` adds ``l2 * w`` to the gradient *before* the optimizer,
exactly as if ``(l2 / 2) * ||w||^2`` had been added to the loss: ``optimizer(..., l2=lam)`` equals
training on ``loss + fnnet.losses.l2_penalty(params, lam, half=True)``, and Keras's
``kernel_regularizer=l2(s)`` (which adds ``s * ||w||^2``) corresponds to ``l2=2 * s``. It therefore goes
through the adaptive scaling (Adam/RMSprop divide it by the gradient RMS) and is clipped with the loss
gradient. ``weight_decay`` is added *after* the adaptive scaling and only multiplied by the learning rate:
``w <- w - lr * (adam_direction + weight_decay * w)``, the decoupled decay of AdamW/SGDW (Loshchilov &
Hutter); for plain SGD the two coincide. Both use ``decay_mask``, by default every layer's ``kernel``
(``fnnet.tree.param_mask``): biases and BatchNorm scale/shift are not decayed. This is fnnet's choice,
not Keras': Keras 3's ``AdamW`` (and every Keras 3 optimizer's ``weight_decay``) and PyTorch's ``AdamW``
decay *every* variable, biases included, unless told otherwise (Keras ``exclude_from_weight_decay``,
PyTorch parameter groups); ``decay_mask=lambda params: jax.tree.map(lambda _: True, params)`` does the
same here. Their step is the same decoupled one, ``w <- w - lr * weight_decay * w``; the defaults differ
(``"adamw"`` here 1e-4 as ``optax.adamw``, Keras 3 0.004, PyTorch 0.01). See DESIGN.md, "Conventions
that differ from Keras 3 and PyTorch".

**How optax's rules compare with the seeds' from-scratch formulas** (tests/test_optim.py runs each side
by side in float64):

* Momentum, seed 000: ``nu = alpha*nu + eta*dw; w = w - nu`` (jhui: ``v = mu*v - lr*dw; w += v``).
  ``optax.trace(alpha)`` keeps ``t = alpha*t + dw`` and steps ``-eta*t``; ``nu = eta*t``, identical for a
  constant rate. (With a schedule, optax rescales the whole trace by the current rate, whereas the seed
  accumulates steps already scaled by their own rate.)
* Nesterov, jhui's "in practice" form ``v_prev = v; v = mu*v - lr*dw; w += -mu*v_prev + (1+mu)*v``
  (also Keras ``SGD(nesterov=True)``) equals ``-lr*(dw + mu*t)`` with ``t = mu*t + dw``:
  ``optax.trace(mu, nesterov=True)``, identical.
* RMSprop, seed 000: ``G = a*G + (1-a)*dw**2; w = w - eta*dw/np.sqrt(G + eps)`` (a=0.9, eps=1e-8) is
  ``optax.scale_by_rms`` with its default ``eps_in_sqrt=True``: identical. Keras 3's ``RMSprop`` also puts
  eps *inside* the root, ``lr * g / sqrt(v + eps)`` with eps 1e-7 (rho 0.9): ``optimizer("rmsprop", lr,
  eps=1e-7)`` is Keras 3's rule exactly (tests/test_keras_conventions.py). The jhui seed, Keras 2 (2.x and
  tf.keras' optimizer_v2 RMSprop) and PyTorch's ``RMSprop`` (alpha 0.99, eps 1e-8) put eps *outside* the
  root, ``dw / (np.sqrt(cache) + eps)``: ``eps_in_sqrt=False``.
* Adagrad, jhui: ``cache += dw**2; w += -lr*dw/(np.sqrt(cache) + 1e-7)``. ``optax.scale_by_rss`` differs
  twice: (1) its accumulator starts at ``initial_accumulator_value`` (default 0.1, as Keras 3 and TF), the
  seed's at 0 — pass ``initial_accumulator_value=0.0`` to reproduce the seed; (2) its eps is *inside* the
  root, ``dw / np.sqrt(cache + eps)`` (and 0 where ``cache == 0``). To first order the steps differ by
  the relative amount ``|eps / (2 * cache) - eps / sqrt(cache)|``, 4e-6 at ``cache = 1e-2`` with
  eps=1e-7; it matters only for parameters whose gradients have stayed ~0. ``optimizer("adagrad_jhui")``
  (:func:`scale_by_sum_of_squares`) is the seed's formula exactly.
* Adam, jhui: ``m = b1*m + (1-b1)*dw; v = b2*v + (1-b2)*dw**2; w += -lr*m/(np.sqrt(v) + 1e-7)`` omits
  the bias correction that ``optax.scale_by_adam`` (and the TensorFlow ``AdamOptimizer`` the seed's code
  actually runs) applies: ``m_hat = m/(1-b1**t)``, ``v_hat = v/(1-b2**t)``, step
  ``-lr*m_hat/(sqrt(v_hat) + eps)``. The uncorrected seed steps are ``(1-b1**t)/sqrt(1-b2**t)`` times
  the corrected ones (3.16x at t=1 with the default betas), tending to 1x as t grows;
  ``optimizer("adam_jhui")`` (:func:`scale_by_adam_uncorrected`, eps 1e-7) is the seed's formula exactly.
  optax's default eps is 1e-8 (Keras 3 1e-7, PyTorch 1e-8), outside the root in all three, but Keras 3 adds it to the
  *uncorrected* ``sqrt(v)`` (the paper's "epsilon hat" form, ``lr_t = lr*sqrt(1-b2**t)/(1-b1**t)``, step
  ``-lr_t*m/(sqrt(v) + eps)``), which equals optax's rule with ``eps / sqrt(1-b2**t)``: larger early on
  (31.6x at t=1), the same once ``b2**t`` is small. Keras 3's Adagrad (0.1 start, eps 1e-7 inside the
  root) is ``optimizer("adagrad", lr)`` exactly.

**Paths on a surface.** ``trajectory(fn, params, optimizer, steps)`` runs an optimizer on a plain
function of the parameters (e.g. a 2-D loss surface) and returns every point it visits, for plots that
compare the optimizers' paths.

**Several update rules in one population.** ``one_of({"sgd": ..., "adam": ...})`` keeps every option's
state and a per-member ``choice`` (``OneOf.select``), so members of one compiled program can train with
different optimizers (``lax.switch`` picks each member's update).

**Sweeps.** With ``inject=True`` the chain is wrapped in ``optax.inject_hyperparams``: the learning rate
and the numeric hyperparameters in use (momentum, b1, b2, eps, decay, l2, weight_decay, clip_norm) live in
``opt_state.hyperparams`` as arrays, so ``jax.vmap`` can run one optimizer per hyperparameter value, e.g.
``jax.vmap(lambda lr: optimizer("sgd", lr, inject=True).init(params))(learning_rates)``, or a batched
``opt_state.hyperparams["learning_rate"]`` with a vmapped ``update``. A stage that is off (``l2=0``,
``weight_decay=0``) is absent and so not sweepable: turn it on with any nonzero value first.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet import tree
from fnnet._checks import check_bool, check_choice, check_int, check_positive, check_range, is_traced

LearningRate = float | optax.Schedule


# ----------------------------------------------------------------------------------------------
# Learning-rate schedules (optax schedules: functions of the step count)


def constant(learning_rate: float) -> optax.Schedule:
    """``learning_rate`` at every step."""
    check_positive("learning_rate", learning_rate)
    return optax.constant_schedule(learning_rate)


def exponential_decay(
    learning_rate: float, decay_rate: float, decay_steps: int, *, staircase: bool = False, start: int = 0
) -> optax.Schedule:
    """``learning_rate * decay_rate ** ((step - start) / decay_steps)`` from step ``start`` on (constant
    before); with ``staircase`` the exponent is floored, so the rate drops every ``decay_steps`` steps,
    first at ``start + decay_steps``."""
    check_positive("learning_rate", learning_rate)
    check_positive("decay_rate", decay_rate)
    if not isinstance(decay_steps, int) or decay_steps < 1:
        raise ValueError(f"decay_steps must be a positive integer, got {decay_steps!r}")
    if not isinstance(start, int) or start < 0:
        raise ValueError(f"start must be a non-negative integer, got {start!r}")
    return optax.exponential_decay(
        init_value=learning_rate, transition_steps=decay_steps, decay_rate=decay_rate,
        transition_begin=start, staircase=staircase,
    )


def step_decay(learning_rate: float, factor: float = 0.95, every: int = 20000, start: int = 10000) -> optax.Schedule:
    """The jhui seed's decay: constant for ``start`` steps, then multiplied by ``factor`` every ``every``
    steps (the first drop at ``start + every``): ``lr * factor ** floor((step - start) / every)``."""
    check_range("factor", factor, 0.0, 1.0)
    check_positive("factor", factor)
    for name, value, lowest in (("every", every, 1), ("start", start, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
            raise ValueError(f"step_decay {name} must be an int >= {lowest} (steps), got {value!r}")
    return exponential_decay(learning_rate, factor, every, staircase=True, start=start)


# ----------------------------------------------------------------------------------------------
# Optimizer table


@dataclasses.dataclass(frozen=True)
class _Static:
    """Non-numeric settings of a chain (kept out of ``inject_hyperparams``'s array state)."""

    name: str
    nesterov: bool
    eps_in_sqrt: bool
    mask: Any  # pytree of bools, or a callable params -> mask


def _momentum_direction(h: dict, static: _Static) -> optax.GradientTransformation:
    if h["momentum"] is None:
        return optax.identity()
    return optax.trace(decay=h["momentum"], nesterov=static.nesterov)


def _adagrad_direction(h: dict, static: _Static) -> optax.GradientTransformation:
    return optax.scale_by_rss(initial_accumulator_value=h["initial_accumulator_value"], eps=h["eps"])


def _rmsprop_direction(h: dict, static: _Static) -> optax.GradientTransformation:
    rms = optax.scale_by_rms(decay=h["decay"], eps=h["eps"], eps_in_sqrt=static.eps_in_sqrt)
    if h["momentum"] is None:
        return rms
    return optax.chain(rms, optax.trace(decay=h["momentum"], nesterov=static.nesterov))


def _adam_direction(h: dict, static: _Static) -> optax.GradientTransformation:
    return optax.scale_by_adam(b1=h["b1"], b2=h["b2"], eps=h["eps"])


# ----------------------------------------------------------------------------------------------
# The jhui article's own update rules (seed 003), where they differ from optax's


def scale_by_sum_of_squares(eps: float = 1e-7) -> optax.GradientTransformation:
    """Adagrad as the jhui article writes it: the accumulator starts at 0 and eps is outside the root::

        cache += dw**2
        u = dw / (sqrt(cache) + eps)          # the step is -learning_rate * u

    ``optax.scale_by_rss`` starts the accumulator at ``initial_accumulator_value`` (0.1 by default) and
    computes ``dw / sqrt(cache + eps)``. Name ``"adagrad_jhui"`` in :func:`optimizer`. State:
    ``optax.ScaleByRssState`` (the sum of squares, same shapes as the params)."""

    def init_fn(params):
        return optax.ScaleByRssState(sum_of_squares=optax.tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        cache = jax.tree.map(lambda g, c: c + jnp.square(g), updates, state.sum_of_squares)
        updates = jax.tree.map(lambda g, c: g / (jnp.sqrt(c) + eps), updates, cache)
        return updates, optax.ScaleByRssState(sum_of_squares=cache)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_adam_uncorrected(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7) -> optax.GradientTransformation:
    """Adam as the jhui article writes it, without bias correction::

        m = b1 * m + (1 - b1) * dw            # m, v start at 0
        v = b2 * v + (1 - b2) * dw**2
        u = m / (sqrt(v) + eps)               # the step is -learning_rate * u

    ``optax.scale_by_adam`` (like the TensorFlow ``AdamOptimizer`` the article's code runs) divides
    ``m`` by ``1 - b1**t`` and ``v`` by ``1 - b2**t``: the uncorrected step is ``(1 - b1**t) /
    sqrt(1 - b2**t)`` times the corrected one (about 3.16x at t = 1 with the default betas, -> 1 as t
    grows). Name ``"adam_jhui"`` in :func:`optimizer`. State: ``optax.ScaleByAdamState``."""

    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        del params
        mu = optax.tree.update_moment(updates, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu, nu)
        return updates, optax.ScaleByAdamState(count=optax.safe_increment(state.count), mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def _adagrad_jhui_direction(h: dict, static: _Static) -> optax.GradientTransformation:
    return scale_by_sum_of_squares(eps=h["eps"])


def _adam_jhui_direction(h: dict, static: _Static) -> optax.GradientTransformation:
    return scale_by_adam_uncorrected(b1=h["b1"], b2=h["b2"], eps=h["eps"])


@dataclasses.dataclass(frozen=True)
class _Spec:
    default_learning_rate: float  # Keras's default for the optimizer
    defaults: dict  # the hyperparameters this optimizer takes, with optax's defaults
    direction: Callable[[dict, _Static], optax.GradientTransformation]
    takes_nesterov: bool = False
    default_weight_decay: float | None = None


_ADAM_DEFAULTS = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}
_SPECS: dict[str, _Spec] = {
    "sgd": _Spec(0.01, {"momentum": None}, _momentum_direction, takes_nesterov=True),
    "momentum": _Spec(0.01, {"momentum": 0.9}, _momentum_direction, takes_nesterov=True),
    "nesterov": _Spec(0.01, {"momentum": 0.9}, _momentum_direction, takes_nesterov=True),
    "adagrad": _Spec(0.001, {"eps": 1e-7, "initial_accumulator_value": 0.1}, _adagrad_direction),
    "rmsprop": _Spec(0.001, {"decay": 0.9, "eps": 1e-8, "momentum": None}, _rmsprop_direction, takes_nesterov=True),
    "adam": _Spec(0.001, _ADAM_DEFAULTS, _adam_direction),
    "adamw": _Spec(0.001, _ADAM_DEFAULTS, _adam_direction, default_weight_decay=1e-4),  # optax.adamw's
    # the jhui article's formulas (seed 003): accumulator from 0 / no bias correction, eps 1e-7 outside the root
    "adagrad_jhui": _Spec(0.001, {"eps": 1e-7}, _adagrad_jhui_direction),
    "adam_jhui": _Spec(0.001, {**_ADAM_DEFAULTS, "eps": 1e-7}, _adam_jhui_direction),
}

# Allowed values of the numeric settings: (low, high, high_open).
_RANGES = {
    "momentum": (0.0, 1.0, True),
    "b1": (0.0, 1.0, True),
    "b2": (0.0, 1.0, True),
    "decay": (0.0, 1.0, True),
    "eps": (0.0, None, False),
    "initial_accumulator_value": (0.0, None, False),
    "l2": (0.0, None, False),
    "weight_decay": (0.0, None, False),
}


def _chain(
    learning_rate, momentum=None, b1=None, b2=None, eps=None, decay=None, initial_accumulator_value=None,
    l2=None, weight_decay=None, clip_norm=None, *, static: _Static,
) -> optax.GradientTransformation:
    """The chain described in the module docstring; ``None`` = stage or setting not used.

    Its numeric arguments are exactly what ``optax.inject_hyperparams`` turns into state arrays.
    """
    spec = _SPECS[static.name]
    given = {"momentum": momentum, "b1": b1, "b2": b2, "eps": eps, "decay": decay,
             "initial_accumulator_value": initial_accumulator_value}
    stages = []
    if l2 is not None:
        stages.append(optax.add_decayed_weights(l2, mask=static.mask))
    if clip_norm is not None:
        stages.append(optax.clip_by_global_norm(clip_norm))
    stages.append(spec.direction({k: given[k] for k in spec.defaults}, static))
    if weight_decay is not None:
        stages.append(optax.add_decayed_weights(weight_decay, mask=static.mask))
    stages.append(optax.scale_by_learning_rate(learning_rate))
    return optax.chain(*stages)


def _is_off(value: Any) -> bool:
    """A concrete zero switches a stage off; a tracer (a swept value) keeps it on."""
    return value is None or (not callable(value) and not is_traced(value) and value == 0)


def optimizer(
    name: str | optax.GradientTransformation,
    learning_rate: LearningRate | None = None,
    *,
    momentum: float | None = None,
    nesterov: bool = False,
    b1: float | None = None,
    b2: float | None = None,
    eps: float | None = None,
    decay: float | None = None,
    initial_accumulator_value: float | None = None,
    eps_in_sqrt: bool | None = None,
    l2: float = 0.0,
    weight_decay: float | None = None,
    decay_mask: Any = None,
    clip_norm: float | None = None,
    inject: bool = True,
) -> optax.GradientTransformation:
    """An optax optimizer by name (see the module docstring for the chain and the seed formulas).

    Args:
      name: ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``, ``"adam"``,
        ``"adamw"`` (optax's rules); ``"adagrad_jhui"``, ``"adam_jhui"`` (the jhui article's own formulas:
        :func:`scale_by_sum_of_squares`, :func:`scale_by_adam_uncorrected`); in any case (``"Adam"``); or
        an existing ``optax.GradientTransformation``, returned unchanged (then no other argument may be given).
      learning_rate: a positive float or an optax schedule (``constant``, ``exponential_decay``,
        ``step_decay``...); ``None`` = Keras's default (0.01 for the SGD family, 0.001 otherwise).
      momentum: SGD family (``"momentum"``/``"nesterov"`` default 0.9; ``"sgd"`` default none) and
        ``"rmsprop"`` (default none); in [0, 1).
      nesterov: Nesterov momentum for ``"sgd"``/``"momentum"``/``"rmsprop"`` (``"nesterov"`` implies it).
      b1, b2, eps: Adam's (defaults 0.9, 0.999, 1e-8; ``"adam_jhui"`` eps 1e-7). ``eps`` also for RMSprop
        (1e-8), Adagrad (1e-7, both forms).
      decay: RMSprop's average decay, in [0, 1) (default 0.9).
      initial_accumulator_value: Adagrad's starting sum of squares (default 0.1; the seed's is 0.0).
      eps_in_sqrt: RMSprop: eps inside the root (default: seed 000, Keras 3) or outside (jhui, Keras 2,
        PyTorch).
      l2: coupled L2 coefficient (>= 0): ``g += l2 * w`` before the optimizer.
      weight_decay: decoupled decay coefficient (>= 0); default 1e-4 for ``"adamw"``, none otherwise.
      decay_mask: which leaves ``l2``/``weight_decay`` act on: a pytree of bools or a callable
        ``params -> mask``; default ``fnnet.tree.param_mask`` (every layer's ``kernel``).
      clip_norm: clip the gradient to this global L2 norm (> 0) before the optimizer.
      inject: keep the numeric hyperparameters in the state (``optax.inject_hyperparams``, the default):
        sweeps can give every member its own value, and optimizers that differ only in these numbers share
        one compiled training program (see :class:`Optimizer`). ``inject=False`` gives the plain chain.

    Raises:
      ValueError: unknown name, a setting out of range (naming it), or a setting that the optimizer
        does not take (e.g. ``b1`` for ``"sgd"``).
    """
    numeric = {"momentum": momentum, "b1": b1, "b2": b2, "eps": eps, "decay": decay,
               "initial_accumulator_value": initial_accumulator_value}
    if isinstance(name, optax.GradientTransformation):
        options = {**numeric, "learning_rate": learning_rate, "eps_in_sqrt": eps_in_sqrt,
                   "weight_decay": weight_decay, "decay_mask": decay_mask, "clip_norm": clip_norm,
                   "nesterov": nesterov or None,
                   "l2": None if _is_off(l2) else l2}
        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise ValueError(f"{given} cannot be applied to an existing optax transformation; "
                             "build the optimizer by name instead")
        return name
    if isinstance(name, str) and name.lower() in _SPECS:
        name = name.lower()  # names are matched case-insensitively, as Keras' ("Adam", "RMSprop")
    check_choice("optimizer", name, tuple(_SPECS))
    spec = _SPECS[name]

    not_taken = sorted(k for k, v in numeric.items() if v is not None and k not in spec.defaults)
    if eps_in_sqrt is not None and name != "rmsprop":
        not_taken.append("eps_in_sqrt")
    if nesterov and not spec.takes_nesterov:
        not_taken.append("nesterov")
    if not_taken:
        raise ValueError(f"{not_taken} do not apply to optimizer {name!r}; it takes {sorted(spec.defaults)}")
    hyper = {k: spec.defaults[k] if numeric[k] is None else numeric[k] for k in spec.defaults}
    nesterov = nesterov or name == "nesterov"
    if nesterov and hyper.get("momentum") is None:
        raise ValueError(f"momentum must be given with nesterov=True for optimizer {name!r}")

    learning_rate = spec.default_learning_rate if learning_rate is None else learning_rate
    weight_decay = spec.default_weight_decay if weight_decay is None else weight_decay
    settings = {**hyper, "l2": l2, "weight_decay": weight_decay, "clip_norm": clip_norm}
    if not callable(learning_rate):
        settings["learning_rate"] = learning_rate
    for key, value in settings.items():
        if value is not None:
            check_hyperparameter(key, value)
            if not is_traced(value) and np.ndim(value) != 0:
                raise ValueError(f"{key} must be one number, got {type(value).__name__} of shape "
                                 f"{np.shape(value)} (several values: fnnet.search.fit_sweep(hyperparams=...))")
    check_bool("nesterov", nesterov)
    check_bool("inject", inject)
    if decay_mask is not None and not callable(decay_mask) and not isinstance(decay_mask, (dict, list, tuple)):
        raise ValueError(f"decay_mask must be a pytree of bools shaped like the params or a function "
                         f"params -> mask, got {type(decay_mask).__name__} {decay_mask!r}")

    static = _Static(
        name=name, nesterov=nesterov, eps_in_sqrt=True if eps_in_sqrt is None else eps_in_sqrt,
        mask=tree.param_mask if decay_mask is None else decay_mask,
    )
    kwargs = {**hyper, "learning_rate": learning_rate, "clip_norm": clip_norm,
              "l2": None if _is_off(l2) else l2, "weight_decay": None if _is_off(weight_decay) else weight_decay}
    if callable(learning_rate):
        check_schedule("learning_rate", learning_rate)
    if not inject:
        return _chain(**kwargs, static=static)
    tx = optax.inject_hyperparams(functools.partial(_chain, static=static), static_args=("static",))(**kwargs)
    return Optimizer(tx.init, tx.update, key=_program_key(static, kwargs),
                     hyperparams={k: v for k, v in kwargs.items() if v is not None and not callable(v)})


class Optimizer(optax.GradientTransformationExtraArgs):
    """An optax transformation built by :func:`optimizer` with ``inject=True`` (the default).

    Its numeric settings live in the state (``opt_state.hyperparams``), so two optimizers that differ only
    in those numbers run the same compiled program: ``program_key`` names what does change the program
    (the optimizer, its stages and non-numeric settings, schedules), ``hyperparams`` the numbers.
    """

    def __new__(cls, init, update, *, key, hyperparams):
        tx = super().__new__(cls, init, update)
        tx.program_key, tx.hyperparams = key, dict(hyperparams)
        return tx

    def __getnewargs_ex__(self):  # copy/deepcopy/pickle: the keyword-only fields come back too
        return (self.init, self.update), {"key": self.program_key, "hyperparams": self.hyperparams}


def _program_key(static: _Static, kwargs: dict):
    """What of an injected chain determines its compiled program: the static settings, which stages are on,
    and schedule objects (numbers are state). None when a setting cannot be part of a key (an unhashable
    decay mask or schedule): such an optimizer is identified by the object itself."""
    kinds = tuple(sorted((k, None if v is None else (v if callable(v) else "number")) for k, v in kwargs.items()))
    key = ("fnnet.optim", static, kinds)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def check_schedule(name: str, schedule: Callable, counts=(0, 1, 2, 3)) -> None:
    """Raises ``ValueError`` unless the schedule's first values are finite and positive: a NaN or negative
    rate would otherwise train silently into NaN or uphill. (Later values are not known to be used: an
    LR range test's schedule grows without bound past its last step.)"""
    try:
        values = [float(schedule(jnp.asarray(c, jnp.int32))) for c in counts]
    except Exception as err:
        raise ValueError(f"{name} is a schedule that failed when evaluated at step 0: "
                         f"{type(err).__name__}: {err}") from None
    bad = [(c, v) for c, v in zip(counts, values) if not (v > 0 and math.isfinite(v))]
    if bad:
        raise ValueError(f"{name} schedule must give finite rates > 0, got {bad[0][1]!r} at step {bad[0][0]} "
                         f"(values at steps {list(counts)}: {[f'{v:.3g}' for v in values]})")


def check_hyperparameter(name: str, value: Any) -> None:
    """Raises ``ValueError`` unless ``value`` (a number, or an array of values such as a sweep's) is
    allowed for the numeric optimizer setting ``name``: ``learning_rate`` and ``clip_norm`` > 0,
    ``momentum``/``b1``/``b2``/``decay`` in [0, 1), ``eps``/``l2``/``weight_decay``/
    ``initial_accumulator_value`` >= 0. Traced values are not checked."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if name in ("learning_rate", "clip_norm"):
        check_positive(name, value)
    elif name in _RANGES:
        low, high, high_open = _RANGES[name]
        check_range(name, value, low, high, high_open=high_open)
    else:
        known = sorted([*_RANGES, "learning_rate", "clip_norm"])
        raise ValueError(f"unknown optimizer hyperparameter {name!r}; known: {known}")


def get(name_or_tx: str | optax.GradientTransformation) -> optax.GradientTransformation:
    """An optax transformation passes through; a name gives ``optimizer(name)`` with its defaults."""
    return optimizer(name_or_tx)


# ----------------------------------------------------------------------------------------------
# Several optimizers in one population


class OneOfState(NamedTuple):
    """The state of :func:`one_of`: ``choice`` (int32; ``(M,)`` in a stacked state of ``M`` members) indexes
    the option in use, ``states`` holds every option's own state (only the chosen one advances)."""

    choice: jax.Array
    states: tuple


class OneOf(optax.GradientTransformationExtraArgs):
    """An optax transformation that applies one of several, chosen by the index in its state (:func:`one_of`).
    ``names`` are the options' names, in index order."""

    def __new__(cls, init, update, *, names):
        tx = super().__new__(cls, init, update)
        tx.names = tuple(names)
        return tx

    def __getnewargs_ex__(self):  # copy/deepcopy/pickle: the keyword-only field comes back too
        return (self.init, self.update), {"names": self.names}

    def select(self, opt_state: OneOfState, choice) -> OneOfState:
        """``opt_state`` with its option set to ``choice``: a name or an index (one state), or a sequence
        of them with one entry per member (a stacked state, ``opt_state.choice`` of shape ``(M,)``)."""
        if not isinstance(opt_state, OneOfState):
            raise ValueError(f"opt_state must be the state of this one_of optimizer (a OneOfState), got "
                             f"{type(opt_state).__name__}")
        entries = np.asarray(choice, dtype=object)
        want = tuple(np.shape(opt_state.choice))
        if entries.shape != want and entries.shape != ():
            raise ValueError(f"choice must be one name/index or one per member, shape {want}, got shape "
                             f"{entries.shape}")
        indices = np.vectorize(lambda entry: _option_index(self.names, entry), otypes=[np.int32])(entries)
        return opt_state._replace(choice=jnp.asarray(np.broadcast_to(indices, want), jnp.int32))


def _option_index(names: tuple, entry) -> int:
    """The index of option ``entry`` (a name or an index) among ``names``, or a ``ValueError``."""
    if isinstance(entry, str):
        check_choice("choice", entry, names)
        return names.index(entry)
    if isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_)) and 0 <= entry < len(names):
        return int(entry)
    raise ValueError(f"choice must be one of the names {list(names)} or an index in [0, {len(names)}), got {entry!r}")


def one_of(options: Mapping[str, str | optax.GradientTransformation], choice: Any = 0) -> OneOf:
    """One transformation standing for several optimizers, so that members of one population (one compiled
    program) can each train with a different update rule: ``one_of({"SGD": sgd, "momentum": mom})``.

    The state is ``OneOfState(choice, states)``: ``init`` builds every option's state and chooses
    ``choice``; :meth:`OneOf.select` sets the choice (per member in a stacked state). ``update`` is
    ``jax.lax.switch(choice, options)``: option ``choice`` computes the update from its own state and only
    that state advances, so a member equals training with its option alone. Under ``vmap`` (a population
    whose members choose differently) XLA computes every option and keeps each member's, so a step costs
    the sum of the options' updates (the gradient, the expensive part, is computed once).

    Args:
      options: ``{name: optax transformation or a name for fnnet.optim.get}``, at least one; the options
        must give updates of the same structure and dtypes (optimizers of the same params do).
      choice: the option ``init`` chooses: a name, an index, or a traced int (e.g. under ``jax.vmap`` over
        options, with :func:`trajectory`).
    """
    if not isinstance(options, Mapping) or not options:
        raise ValueError(f"options must be a non-empty dict {{name: optimizer}}, e.g. {{'sgd': "
                         f"optimizer('sgd', 0.1), 'adam': optimizer('adam')}}, got {options!r}")
    names = tuple(options)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise ValueError(f"options must be keyed by names (str), got keys {bad}")
    txs = []
    for name, tx in options.items():
        if not isinstance(tx, (str, optax.GradientTransformation)):
            raise ValueError(f"options[{name!r}] must be an optax transformation or an optimizer name, got "
                             f"{type(tx).__name__}")
        txs.append(get(tx))
    start = choice if is_traced(choice) else _option_index(names, choice)

    def init(params):
        return OneOfState(jnp.asarray(start, jnp.int32), tuple(option.init(params) for option in txs))

    def option(index: int):
        def apply(updates, states, params):
            new_updates, new_state = txs[index].update(updates, states[index], params)
            return new_updates, (*states[:index], new_state, *states[index + 1:])
        return apply

    def update(updates, state, params=None, **extra_args):
        del extra_args
        new_updates, states = jax.lax.switch(state.choice, [option(i) for i in range(len(txs))], updates,
                                             state.states, params)
        return new_updates, OneOfState(state.choice, states)

    return OneOf(init, update, names=names)


# ----------------------------------------------------------------------------------------------
# Optimizer paths on a function of the parameters (no data, no model)


def trajectory(fn: Callable[[Any], Any], params: Any, optimizer: str | optax.GradientTransformation, steps: int):
    """The path an optimizer takes on ``fn(params) -> scalar``, with the exact gradient at every step.

    For teaching plots of optimizers on 2-D loss surfaces (``params`` a ``(2,)`` array) and other small
    problems: the whole run is one compiled ``lax.scan`` of ``optimizer.update`` (optax does the
    update rules) and the path is kept, so memory grows as ``(steps + 1) x size(params)``.

    Args:
      fn: a differentiable function of the params pytree returning a scalar.
      params: the starting point (any pytree of float arrays).
      optimizer: an optax transformation, or a name for :func:`get` (``"adam"``...).
      steps: number of updates (>= 1).

    Returns:
      ``(path, values)``: ``path`` is the params pytree with a leading axis of ``steps + 1`` (``path[0]``
      is ``params``, ``path[t]`` the point after ``t`` updates) and ``values`` the ``(steps + 1,)``
      values ``fn(path[t])``.
    """
    check_int("steps", steps)
    if not callable(fn):
        raise ValueError(f"fn must be a function fn(params) -> scalar, got {type(fn).__name__}")
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves or not all(jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating) for leaf in leaves):
        raise ValueError("params must be a non-empty pytree of floating-point arrays")
    value = jax.eval_shape(fn, params)
    if not (hasattr(value, "shape") and value.shape == () and jnp.issubdtype(value.dtype, jnp.floating)):
        given = f"shape {value.shape} {value.dtype}" if hasattr(value, "shape") else type(value).__name__
        raise ValueError(f"fn must return one float (a scalar to minimize), got {given}: sum or average it")
    tx = get(optimizer)
    value_and_grad = jax.value_and_grad(fn)

    def update(carry, _):
        point, opt_state = carry
        _, grads = value_and_grad(point)
        updates, opt_state = tx.update(grads, opt_state, point)
        return (optax.apply_updates(point, updates), opt_state), point

    @jax.jit
    def run(start):
        (last, _), visited = jax.lax.scan(update, (start, tx.init(start)), None, length=steps)
        path = jax.tree_util.tree_map(lambda before, end: jnp.concatenate([before, end[None]]), visited, last)
        return path, jax.vmap(fn)(path)

    return run(jax.tree_util.tree_map(jnp.asarray, params))
