"""Vectorized hyper-parameter sweeps: K settings trained as ONE compiled program.

Hyper-parameters that do not change any shape live in the training state as arrays, so ``jax.vmap``
can give every member of an ensemble (:func:`fnnet.ensemble.fit_ensemble`) its own value:

* the optimizer's numeric settings (``learning_rate``, ``momentum``, ``l2``, ``weight_decay``, ``b1``,
  ``b2``, ``eps``, ``decay``, ``clip_norm``...) through ``optax.inject_hyperparams``
  (``fnnet.optim.optimizer(..., inject=True)`` keeps them in ``opt_state.hyperparams``);
* dropout rates: a ``Dropout`` layer reads ``{"rate": r}`` from its entry in the model state when it is
  there (``"dropout"`` sets every Dropout layer, ``"dropout_1"`` one layer by its name).

:func:`set_hyperparams` writes such values into a (stacked) state, :func:`fit_sweep` trains one model per
setting in one program, and :func:`grid_search` runs the jhui seed's recipe: a log-scale mesh whose
points are randomly shifted a little ("instead of using the exact cross points, we randomly shift those
points slightly"), coarse first with few iterations, then a finer mesh (spacing divided by ``zoom``,
3 by default) around the best point with more iterations, centred on it so that a best point on the
border of the coarse mesh is retested beyond it. Settings that change shapes (hidden sizes) are passed to
a model builder and get one program per shape, each batched over all the other settings::

    result = grid_search(
        {"learning_rate": log_axis(1e-4, 1e-1, 4), "l2": log_axis(1e-6, 1e-2, 5)},
        model=M.jhui_mnist_mlp(), loss="softmax_cross_entropy", optimizer="adam",
        train_data=(x, y), validation_data=(xv, yv), key=key, epochs=2, batch_size=100, fine_epochs=6)
    print(result.table())                      # sorted, best first
    result.plot("grid.png")                    # heat map of the coarse mesh + every trial
"""
from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet import _checks, optim
from fnnet.callbacks import resolve_mode
from fnnet.engine import inputs
from fnnet.engine.options import Checkpointing, TrainOptions
from fnnet.ensemble import fit_ensemble, init_members
from fnnet.models.core import Model
from fnnet.models.layers import Dropout
from fnnet.state import History, PopulationHistory, TrainState

DROPOUT = "dropout"


# ----------------------------------------------------------------------------------------------
# Hyper-parameters in the state


def dropout_layers(model: Model) -> dict[str, tuple[str, ...]]:
    """The model's Dropout layers: ``{name: path in the model state}``. Top-level layers are named as
    in the params (``"dropout_0"``), nested ones by their path (``"encoder/dropout_0"``)."""
    found = {}

    def walk(m: Model, prefix: tuple):
        for layer, name in zip(m.layers, m.names):
            if isinstance(layer, Dropout):
                found["/".join(prefix + (name,))] = prefix + (name,)
            elif isinstance(layer, Model):
                walk(layer, prefix + (name,))

    walk(model, ())
    return found


def _with_rate(model_state: dict, path: tuple, rate) -> dict:
    """A copy of ``model_state`` whose entry at ``path`` holds ``{"rate": rate}``."""
    head, *rest = path
    entry = dict(model_state.get(head, {}))
    updated = _with_rate(entry, tuple(rest), rate) if rest else {**entry, "rate": rate}
    return {**model_state, head: updated}


def sweepable(model: Model, opt_state) -> list[str]:
    """The names :func:`set_hyperparams` accepts for this model and optimizer state."""
    injected = list(getattr(opt_state, "hyperparams", {}))
    dropouts = dropout_layers(model)
    return injected + ([DROPOUT, *dropouts] if dropouts else [])


def set_hyperparams(state: TrainState, model: Model, **values) -> TrainState:
    """Returns ``state`` with hyper-parameter values written into it (see the module docstring).

    ``state`` is a single :class:`~fnnet.train.TrainState` (values are scalars) or a stacked one with
    ``M`` members (values are scalars, broadcast, or ``(M,)`` arrays: one per member). Names are the
    optimizer's injected hyperparameters (build it with ``fnnet.optim.optimizer(..., inject=True)``)
    and ``"dropout"`` (every Dropout layer) or a Dropout layer's name (``"dropout_1"``).

    Raises:
      ValueError: an unknown name (listing the sweepable ones), a value of the wrong shape, or a value
        out of range (a learning rate <= 0, a dropout rate outside [0, 1), ...).
    """
    shape = tuple(np.shape(state.step))
    if len(shape) > 1:
        raise ValueError(f"state must be a TrainState or a stacked one (step of shape (M,)), got step {shape}")
    opt_state, model_state = state.opt_state, state.model_state
    dropouts = dropout_layers(model)
    for name, value in values.items():
        array = np.asarray(_checks.as_array(name, value), np.float64)
        if array.shape not in ((), shape):
            raise ValueError(f"{name} must be a scalar or an array of shape {shape} (one value per member), "
                             f"got shape {array.shape}")
        if name == DROPOUT or name in dropouts:
            if not dropouts:
                raise ValueError(f"{name} cannot be set: model '{model.name}' has no Dropout layer")
            _checks.check_range(name, array, 0.0, 1.0, high_open=True)
            rate = jnp.asarray(np.broadcast_to(array, shape), jnp.float32)
            for path in (dropouts.values() if name == DROPOUT else [dropouts[name]]):
                model_state = _with_rate(model_state, path, rate)
            continue
        injected = getattr(opt_state, "hyperparams", None)
        if injected is None or name not in injected:
            raise ValueError(_unknown_name_message(name, model, opt_state))
        optim.check_hyperparameter(name, array)
        old = injected[name]
        new_value = jnp.asarray(np.broadcast_to(array, old.shape), old.dtype)
        opt_state = opt_state._replace(hyperparams={**injected, name: new_value})
    return state.replace(opt_state=opt_state, model_state=model_state)


def _unknown_name_message(name: str, model: Model, opt_state) -> str:
    known = sweepable(model, opt_state)
    hint = ""
    if not hasattr(opt_state, "hyperparams"):
        hint = " (the optimizer keeps none in its state: build it with fnnet.optim.optimizer(..., inject=True))"
    elif name in ("l2", "weight_decay", "clip_norm", "momentum"):
        hint = f" ({name} is off in this optimizer: build it with a nonzero {name} to sweep it)"
    return f"unknown hyper-parameter {name!r}; sweepable here: {known}{hint}"


def _is_model_name(name: str, model: Model) -> bool:
    return name == DROPOUT or name in dropout_layers(model)


def _sweep_optimizer(optimizer, options: Optional[Mapping], hyperparams: Mapping[str, np.ndarray], model: Model):
    """The injectable optax transformation a sweep trains with.

    A name is built with ``inject=True``, ``options`` and, for each swept optimizer setting, its
    largest value (so that a stage such as ``l2`` is switched on; the members' values then replace it)."""
    if isinstance(optimizer, str):
        swept = {}
        for name, values in hyperparams.items():
            if _is_model_name(name, model):
                continue
            optim.check_hyperparameter(name, values)  # unknown names and bad values, before building
            swept[name] = float(np.max(values))
        return optim.optimizer(optimizer, inject=True, **dict(options or {}), **swept)
    if options:
        raise ValueError("optimizer_options apply to an optimizer given by name, not to an optax transformation")
    return optimizer


def fit_sweep(
    model: Model,
    loss,
    optimizer: Union[str, optax.GradientTransformation],
    train_data: tuple,
    *,
    hyperparams: Mapping[str, Sequence[float]],
    key: jax.Array,
    epochs: int,
    batch_size: int = 32,
    same_init: bool = True,
    optimizer_options: Optional[Mapping] = None,
    validation_data: Optional[tuple] = None,
    validation_split: Optional[float] = None,
    metrics: Sequence = (),
    callbacks: Sequence = (),
    augment=None,
    verbose: int = 1,
    checkpoint: Optional[Checkpointing] = None,
    devices=None,
    options: Optional[TrainOptions] = None,
    **deprecated,
) -> tuple[TrainState, PopulationHistory]:
    """Trains one model per setting, all ``K`` in one compiled program (a population of the training engine).

    Args:
      hyperparams: ``{name: K values}``, e.g. ``{"learning_rate": [1e-3, 1e-2], "l2": [0.0, 1e-4]}`` is
        two settings; all lists have the same length ``K``.
      optimizer: a name (built with ``optimizer_options``, e.g. ``{"momentum": 0.9}``) or an optax
        transformation built by :func:`fnnet.optim.optimizer` (whose numbers live in its state).
      same_init: every setting starts from the same initial weights and sees the same data order and
        dropout masks (``key``), so the settings alone differ; otherwise each gets its own key.
      the others: as :func:`fnnet.ensemble.fit_ensemble` (validation, callbacks, checkpoints, options...).

    Returns:
      ``(stacked state, PopulationHistory)`` with member ``k`` trained at setting ``k``. Member ``k`` equals
      ``fit`` with that setting's optimizer/dropout and the same ``key`` (``same_init``) up to float rounding
      of batched products (bitwise with ``options=TrainOptions(member_layout="map")``; README, "How equal
      'equal' is", gives the measured gap).
    """
    if not isinstance(hyperparams, Mapping):
        raise ValueError("hyperparams must be a dict {name: values}, e.g. {'learning_rate': [1e-3, 1e-2]}, got "
                         f"{type(hyperparams).__name__} {hyperparams!r}")
    if not hyperparams:
        raise ValueError("hyperparams must name at least one hyper-parameter with its values")
    _checks.check_bool("same_init", same_init)
    arrays = {name: np.asarray(_checks.as_array(name, v), np.float64) for name, v in hyperparams.items()}
    lengths = {name: a.shape for name, a in arrays.items()}
    if any(len(s) != 1 or s[0] == 0 for s in lengths.values()) or len({s[0] for s in lengths.values()}) != 1:
        raise ValueError(f"hyperparams values must be non-empty 1-D lists of one common length, got shapes {lengths}")
    k = next(iter(lengths.values()))[0]
    _checks.check_key("key", key)
    tx = _sweep_optimizer(optimizer, optimizer_options, arrays, model)
    keys = jnp.stack([key] * k) if same_init else jax.random.split(key, k)
    if not isinstance(train_data, (tuple, list)) or len(train_data) != 2:
        raise ValueError("train_data must be a tuple (x, y) of arrays")
    state = set_hyperparams(init_members(model, tx, keys, np.asarray(train_data[0][:1])), model, **arrays)
    return fit_ensemble(model, loss, tx, train_data, keys=keys, initial_state=state, shared_order=same_init and k > 1,
                        epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                        validation_split=validation_split, metrics=metrics, callbacks=callbacks, augment=augment,
                        verbose=verbose, checkpoint=checkpoint, devices=devices, options=options, **deprecated)


# ----------------------------------------------------------------------------------------------
# Search spaces


@dataclasses.dataclass(frozen=True)
class Axis:
    """``num`` grid values from ``low`` to ``high``, evenly spaced on a ``"log"`` or ``"linear"`` scale."""

    low: float
    high: float
    num: int
    scale: str = "log"

    def __post_init__(self):
        _checks.check_choice("scale", self.scale, ("log", "linear"))
        if not isinstance(self.num, (int, np.integer)) or self.num < 1:
            raise ValueError(f"an axis needs num >= 1 grid values (an empty grid trains nothing), got num={self.num!r}")
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"an axis needs finite low <= high, got low={self.low!r}, high={self.high!r}")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"a log axis needs low > 0, got low={self.low!r}")

    def _unit(self, value):
        return np.log10(value) if self.scale == "log" else np.asarray(value, np.float64)

    def _value(self, unit):
        return 10.0 ** unit if self.scale == "log" else unit

    @property
    def spacing(self) -> float:
        """Distance between neighbouring grid values, in decades for a log axis."""
        return 0.0 if self.num == 1 else float((self._unit(self.high) - self._unit(self.low)) / (self.num - 1))

    def values(self) -> np.ndarray:
        """The exact grid values ``(num,)`` float64."""
        return self._value(np.linspace(self._unit(self.low), self._unit(self.high), self.num))

    def shifted(self, index: int, u: float) -> float:
        """Grid value ``index`` moved by ``u`` (in [-1/2, 1/2]) times the spacing, on the axis' scale
        (a linear axis' values stay within ``[low, high]``)."""
        value = float(self._value(self._unit(self.values()[index]) + u * self.spacing))
        return value if self.scale == "log" else min(max(value, self.low), self.high)

    def zoom(self, center: float, factor: float) -> Axis:
        """The finer axis for the next round: ``num`` values centred on ``center``, spacing divided by
        ``factor``. A log axis may extend past the old bounds (a best point on the border is retested
        beyond it); a linear axis stays inside them (they are usually hard limits, e.g. dropout in [0, 1))."""
        half = self.spacing / factor * (self.num - 1) / 2
        low, high = self._unit(center) - half, self._unit(center) + half
        if self.scale == "linear":
            low, high = max(low, self.low), min(high, self.high)
        return Axis(float(self._value(low)), float(self._value(high)), self.num, self.scale)


def log_axis(low: float, high: float, num: int) -> Axis:
    """``num`` values from ``low`` to ``high`` evenly spaced in log scale (``np.geomspace``)."""
    return Axis(low, high, num, "log")


def linear_axis(low: float, high: float, num: int) -> Axis:
    """``num`` values from ``low`` to ``high`` evenly spaced (``np.linspace``)."""
    return Axis(low, high, num, "linear")


def _as_axis(name: str, entry) -> Union[Axis, tuple]:
    if isinstance(entry, Axis):
        return entry
    if isinstance(entry, (list, tuple)):
        if not entry:
            raise ValueError(f"space[{name!r}] is an empty list: an empty grid trains nothing")
        return tuple(entry)
    raise ValueError(f"space[{name!r}] must be an Axis (log_axis/linear_axis) or a list of values, got {entry!r}")


# ----------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass
class Trial:
    """One trained setting: its ``values`` (``{name: value}``), the ``score`` (the monitored quantity at
    the last epoch), the search ``round`` (0 coarse, 1 fine), its ``cell`` in that round's mesh (one grid
    index per axis) and its ``history``."""

    values: dict
    score: float
    round: int
    cell: tuple
    epochs: int
    history: History = dataclasses.field(repr=False)


@dataclasses.dataclass
class SearchResult:
    """All trials of a :func:`grid_search`, best first (``trials[0]`` is :attr:`best`)."""

    trials: list
    monitor: str
    mode: str
    axes: list  # per round: {name: Axis or tuple of values}

    @property
    def best(self) -> Trial:
        return self.trials[0]

    def rows(self) -> list[dict]:
        """The trials as plain dicts (best first): round, each hyper-parameter, the score."""
        return [{"round": t.round, **t.values, self.monitor: t.score} for t in self.trials]

    def table(self, limit: Optional[int] = None) -> str:
        """A markdown table of the trials sorted best first (the first ``limit`` rows)."""
        rows = self.rows()[:limit]
        columns = list(rows[0])
        fmt = lambda v: f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows]
        return "\n".join(lines)

    def plot(self, path=None, *, x: Optional[str] = None, y: Optional[str] = None):
        """:func:`fnnet.viz.plot_search` of this result: a matplotlib Figure (inline in Jupyter), also
        written as a PNG when ``path`` is given."""
        from fnnet import viz  # matplotlib only when plotting

        return viz.plot_search(self, path, x=x, y=y)


def _size(axis) -> int:
    return axis.num if isinstance(axis, Axis) else len(axis)


def _axis_values(axis) -> list:
    return list(axis.values()) if isinstance(axis, Axis) else list(axis)


# ----------------------------------------------------------------------------------------------
# Grid search


def _mesh(axes: dict, key: jax.Array, jitter: float) -> list[tuple[tuple, dict]]:
    """Every cross point of ``axes`` as ``(cell, values)``; Axis coordinates shifted by up to
    ``jitter / 2`` spacings each way, independently per point and axis."""
    names = list(axes)
    cells = list(itertools.product(*(range(_size(axes[n])) for n in names)))
    shifts = np.asarray(jax.random.uniform(key, (len(cells), len(names)), minval=-0.5, maxval=0.5)) * jitter
    points = []
    for p, cell in enumerate(cells):
        values = {}
        for a, name in enumerate(names):
            axis = axes[name]
            values[name] = axis.shifted(cell[a], float(shifts[p, a])) if isinstance(axis, Axis) else axis[cell[a]]
        points.append((cell, values))
    return points


def _builder_arguments(model) -> Optional[set]:
    """The keyword names a model builder takes (None: any), or the empty set for a Model."""
    if isinstance(model, Model):
        return set()
    if not callable(model):
        raise ValueError(f"model must be an fnnet Model or a function (**shape settings) -> Model, got {model!r}")
    parameters = inspect.signature(model).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters}


def _build(model, static_values: dict) -> Model:
    built = model if isinstance(model, Model) else model(**static_values)
    if not isinstance(built, Model):
        raise ValueError(f"the model builder must return an fnnet Model, got {type(built).__name__}")
    return built


def _check_traced(name: str, values, model: Model) -> None:
    """Raises unless every value of ``name`` can be written into the state of ``model``'s training."""
    if _is_model_name(name, model):
        if not dropout_layers(model):
            raise ValueError(f"{name} cannot be swept: model '{model.name}' has no Dropout layer")
        _checks.check_range(name, values, 0.0, 1.0, high_open=True)
        return
    try:
        optim.check_hyperparameter(name, values)
    except ValueError as err:
        if str(err).startswith("unknown"):
            dropouts = [DROPOUT, *dropout_layers(model)] if dropout_layers(model) else "none"
            raise ValueError(
                f"unknown hyper-parameter {name!r}: not an optimizer setting, not a Dropout layer of the model "
                f"(its dropout names: {dropouts}), and not an argument of the model builder"
            ) from None
        raise


@dataclasses.dataclass(frozen=True)
class _Runner:
    """What every round of a grid search trains with; ``train`` runs one group of settings."""

    model: Any
    loss: Any
    optimizer: Any
    optimizer_options: Optional[Mapping]
    train_data: tuple
    static: tuple  # names passed to the model builder
    monitor: str
    fit_options: dict

    def train(self, static_values: tuple, points: list, key, epochs: int) -> PopulationHistory:
        built = _build(self.model, dict(zip(self.static, static_values)))
        hyperparams = {n: [values[n] for _, values in points] for n in points[0][1] if n not in self.static}
        if self.fit_options.get("verbose"):
            where = f" for {dict(zip(self.static, static_values))}" if self.static else ""
            print(f"{len(points)} settings in one program{where}", flush=True)
        if hyperparams:
            return fit_sweep(built, self.loss, self.optimizer, self.train_data, hyperparams=hyperparams, key=key,
                             optimizer_options=self.optimizer_options, epochs=epochs, **self.fit_options)[1]
        # Only shape settings vary: a single setting per program.
        fit_options = {k: v for k, v in self.fit_options.items() if k != "same_init"}
        if fit_options.get("options") is not None:
            fit_options["options"] = fit_options["options"].replace(member_layout="auto")
        tx = _sweep_optimizer(self.optimizer, self.optimizer_options, {}, built)
        return fit_ensemble(built, self.loss, tx, self.train_data, keys=key[None], epochs=epochs, **fit_options)[1]

    def run_round(self, axes: dict, jitter: float, key, epochs: int, round_index: int) -> list:
        """Trains every point of one mesh, one program per combination of the static values."""
        groups: dict[tuple, list] = {}
        for cell, values in _mesh(axes, key, jitter):
            groups.setdefault(tuple(values[n] for n in self.static), []).append((cell, values))
        train_key = jax.random.fold_in(key, 1)
        trials = []
        for static_values, points in groups.items():
            history = self.train(static_values, points, train_key, epochs)
            for (cell, values), h in zip(points, history.members):
                if self.monitor not in h.history:
                    raise ValueError(f"monitor {self.monitor!r} was not recorded; recorded: {sorted(h.history)} "
                                     "(val_* needs validation_data, accuracies need metrics=['accuracy'])")
                trials.append(Trial(values, float(h.history[self.monitor][-1]), round_index, cell, len(h.epochs), h))
        return trials


def grid_search(
    space: Mapping[str, Any],
    *,
    model: Union[Model, Callable[..., Model]],
    loss,
    optimizer: Union[str, optax.GradientTransformation],
    train_data: tuple,
    validation_data: tuple,
    key: jax.Array,
    epochs: int,
    batch_size: int = 32,
    monitor: str = "val_accuracy",
    mode: str = "auto",
    metrics: Sequence = ("accuracy",),
    jitter: float = 0.5,
    fine_epochs: Optional[int] = None,
    zoom: float = 3.0,
    optimizer_options: Optional[Mapping] = None,
    same_init: bool = True,
    verbose: int = 0,
    options: Optional[TrainOptions] = None,
    **deprecated,
) -> SearchResult:
    """Grid search over ``space``, every mesh trained as few programs as the shapes allow.

    Args:
      space: ``{name: axis}``; an axis is :func:`log_axis` / :func:`linear_axis` (jittered, refined in
        the fine round) or a list of values (taken exactly; kept at the best value in the fine round).
        Names are optimizer settings and dropout names (batched in one program, see
        :func:`set_hyperparams`), or arguments of the ``model`` builder (shape settings, e.g. hidden
        sizes: one program per combination of their values).
      model: an fnnet Model, or a function ``(**shape settings) -> Model`` when the space has such
        settings. To sweep ``"dropout"`` the model needs Dropout layers (any rate; the swept one replaces it).
      optimizer: a name (built with ``inject=True``, ``optimizer_options`` and the swept settings) or an
        optax transformation built with ``inject=True``.
      epochs: epochs of the coarse round; ``fine_epochs``: epochs of the fine round (None: no fine round).
      jitter: how far each point moves at random, as a fraction of the grid spacing (0: exact cross
        points; 0.5: up to a quarter spacing each way). Linear axes stay within their bounds.
      zoom: the fine mesh's spacing is the coarse one divided by ``zoom``.
      monitor, mode: the score of a setting is ``monitor`` at its last epoch; ``mode`` max/min/auto
        (auto: max for accuracies).
      same_init: every setting starts from the same weights (see :func:`fit_sweep`).
      options: :class:`~fnnet.TrainOptions` of every training (``chunk``: at most this many settings per
        program; ``steps_per_epoch``, ``shuffle``...).

    Returns:
      a :class:`SearchResult` (trials sorted best first, ``table()``, ``plot(path)``).

    Raises:
      ValueError (before any training): an empty space or axis, an unknown name, a value out of range
        (e.g. a learning rate <= 0), ``zoom`` <= 1, ``jitter`` outside [0, 1].
    """
    options, _, _ = inputs.resolve_options(options, None, None, deprecated, front="grid_search")
    if not space:
        raise ValueError("space is empty: give at least one hyper-parameter axis")
    axes = {name: _as_axis(name, entry) for name, entry in space.items()}
    _checks.check_range("jitter", jitter, 0.0, 1.0)
    if not zoom > 1:
        raise ValueError(f"zoom must be > 1 (the fine mesh is finer), got {zoom!r}")
    if fine_epochs is not None and (not isinstance(fine_epochs, int) or fine_epochs < 1):
        raise ValueError(f"fine_epochs must be a positive int or None, got {fine_epochs!r}")
    mode = resolve_mode(monitor, mode)
    accepted = _builder_arguments(model)
    static = tuple(n for n in axes if accepted is None or n in accepted)
    for static_values in itertools.product(*(_axis_values(axes[n]) for n in static)):
        built = _build(model, dict(zip(static, static_values)))
        for name in axes:
            if name not in static:
                _check_traced(name, np.asarray(_axis_values(axes[name]), np.float64), built)
    runner = _Runner(model, loss, optimizer, optimizer_options, train_data, static, monitor,
                     dict(validation_data=validation_data, batch_size=batch_size, metrics=metrics,
                          same_init=same_init, verbose=verbose, options=options))
    coarse_key, fine_key = jax.random.split(key)
    trials = runner.run_round(axes, jitter, coarse_key, epochs, 0)
    rounds = [axes]
    if fine_epochs is not None:
        best = _sorted(trials, mode)[0]
        fine = {name: (axis.zoom(best.values[name], zoom) if isinstance(axis, Axis) and axis.num > 1
                       else (best.values[name],))
                for name, axis in axes.items()}
        trials += runner.run_round(fine, jitter, fine_key, fine_epochs, 1)
        rounds.append(fine)
    return SearchResult(_sorted(trials, mode), monitor, mode, rounds)


def _sorted(trials: list, mode: str) -> list:
    # NaN scores (diverged settings) go last.
    sign = -1.0 if mode == "max" else 1.0
    return sorted(trials, key=lambda t: (math.isnan(t.score), sign * t.score))
