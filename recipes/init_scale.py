"""Seed 003 (jhui, part 2, "Weight initialization"): why the weights' scale must shrink with the number
of inputs.

1. **The seed's demo.** One unit with 1000 inputs, half of them 1 and half 0; 20,000 draws of its
   weights ``w ~ N(0, 1)`` give outputs ``z = w·x`` with variance ``sum(x_i²) Var(w) = 500`` (the seed
   printed 497.6: a sample variance of 20,000 values has a standard error of ``500·sqrt(2/20000) = 5``).
   Scaled by ``sqrt(2/n)`` (He, :mod:`fnnet.initializers` ``"he_normal"``) the variance is
   ``500 · 2/1000 = 1``; by ``sqrt(1/n)`` (LeCun) 0.5. ``draws`` repeats the 20,000 outputs with
   independent keys to show the spread.
2. **Through a deep net** (the standard follow-up demo): a batch of N(0, 1) inputs through ``depth``
   Dense layers of ``width`` units (relu or tanh, zero biases), weights from N(0, 0.01²), N(0, 1),
   Glorot normal or He normal. The per-layer standard deviation of the activations shows the small
   weights' signal vanishing, N(0, 1) exploding (relu) or saturating (tanh), Glorot keeping tanh alive
   and He keeping relu's scale constant.
3. **Zero initialization** (the seed's "symmetry" remark): a one-hidden-layer net on the planar flower
   trained by full-batch gradient descent from all-zero weights next to the same net from Glorot-uniform
   weights, as one population of two members. From zeros every hidden unit computes the same output and
   receives the same gradient, so after training all hidden units are still identical (the spread of
   their weights across units is printed: 0): with sigmoid units they move but together, a net of one
   hidden unit; with tanh (tanh(0) = 0 and the output weights' gradient is 0) nothing but the output
   bias moves. The random start breaks the symmetry.

The ``draws`` of part 1 run as one compiled program over the draws' keys (``jax.lax.map``), not a Python
loop of draws.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import initializers, optim, viz
from fnnet import models as M
from fnnet.data import flower
from fnnet.ensemble import fit_ensemble
from fnnet.report import text_table
from fnnet.tree import member, stack

from . import _settings as V
from . import _support as S

DESCRIPTION = "weight scale: var(Wx) = 500 with N(0,1) weights vs 1 with He; activations through a deep net (seed 003)"

SEED_VARIANCE_W = 0.998
SEED_VARIANCE_WX = 497.6

#: Initializers compared, by display name (the single unit's demo uses the first, LeCun and He).
UNIT_INITS = {"N(0, 1)": initializers.normal(1.0), "LeCun normal, 1/n": initializers.get("lecun_normal"),
              "He normal, 2/n": initializers.get("he_normal")}
DEEP_INITS = {"N(0, 0.01²)": initializers.normal(0.01), "N(0, 1)": initializers.normal(1.0),
              "Glorot normal": "glorot_normal", "He normal": "he_normal"}


@dataclasses.dataclass(frozen=True)
class Config:
    n_inputs: int = 1000
    n_outputs: int = 20_000
    draws: int = 10
    depth: int = 10
    width: int = 500
    batch: int = 1000
    activations: tuple = ("relu", "tanh")
    symmetry_activations: tuple = ("sigmoid", "tanh")  # hidden units of the zero-initialization demo
    symmetry_hidden: int = 8
    symmetry_learning_rate: float = 2.0
    symmetry_iterations: int = 2_000


QUICK = dict(n_outputs=5_000, draws=2, depth=6, width=128, batch=256, symmetry_activations=("sigmoid",),
             symmetry_iterations=300)

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "n_inputs": V.integer(2),
    "n_outputs": V.integer(2),
    "draws": V.integer(1),
    "depth": V.integer(1),
    "width": V.integer(1),
    "batch": V.integer(2),
    "activations": V.subset(tuple(M.ACTIVATIONS)),
    "symmetry_activations": V.subset(tuple(M.ACTIVATIONS)),
    "symmetry_hidden": V.integer(2),
    "symmetry_learning_rate": V.positive(),
    "symmetry_iterations": V.integer(1),
}


def _unit_outputs(init, key, config: Config) -> jax.Array:
    x = (jnp.arange(config.n_inputs) < config.n_inputs // 2).astype(jnp.float32)
    return x @ init(key, (config.n_inputs, config.n_outputs), jnp.float32)


def unit_outputs(init, key, config: Config) -> np.ndarray:
    """``z = W^T x`` for the seed's input (first half ones, rest zeros) and ``W (n_inputs, n_outputs)``
    drawn by ``init``: ``n_outputs`` independent draws of one unit's output."""
    return np.asarray(_unit_outputs(init, key, config))


def unit_output_draws(init, keys, config: Config) -> np.ndarray:
    """:func:`unit_outputs` for every key of ``keys (draws,)``: ``(draws, n_outputs)``, in one compiled
    program (``lax.map``: one ``(n_inputs, n_outputs)`` weight matrix in memory at a time, not ``draws``)."""
    return np.asarray(jax.jit(lambda ks: jax.lax.map(lambda k: _unit_outputs(init, k, config), ks))(keys))


def zero_init_symmetry(activation: str, key, config: Config) -> dict:
    """Trains ``mlp([symmetry_hidden, 1])`` with ``activation`` hidden units on the flower from all-zero
    weights and from Glorot-uniform weights (one population of two members, the same data and steps);
    returns per start its spread across hidden units (the largest ``|w_j - w_0|`` over the first layer's
    kernel columns and biases and the output kernel's rows: 0 when all units are identical), its largest
    first-layer weight and its training accuracy."""
    x, y = flower(seed=1)
    x = x.astype(np.float32)
    model = M.mlp([config.symmetry_hidden, 1], activation=activation, flatten=False)
    tx = optim.optimizer("sgd", config.symmetry_learning_rate)
    glorot = model.init(key, x[:1])
    starts = {"zeros": jax.tree.map(jnp.zeros_like, glorot), "Glorot uniform": glorot}
    initial = stack([fnnet.create_train_state(model, tx, key, x[:1], params=p) for p in starts.values()])
    state, _ = fit_ensemble(model, "sigmoid_binary_cross_entropy", tx, (x, y), batch_size=len(x), epochs=1,
                            keys=[key] * len(starts), initial_state=initial, verbose=0,
                            options=fnnet.TrainOptions(steps_per_epoch=config.symmetry_iterations))
    results = {}
    for i, name in enumerate(starts):
        trained = member(state, i)
        p = jax.tree.map(np.asarray, trained.params)
        w1, b1, w2 = p["dense_0"]["kernel"], p["dense_0"]["bias"], p["dense_1"]["kernel"]
        spread = max(np.abs(w1 - w1[:, :1]).max(), np.abs(b1 - b1[0]).max(), np.abs(w2 - w2[:1]).max())
        accuracy = fnnet.evaluate(model, trained, x, y, loss="sigmoid_binary_cross_entropy",
                                  metrics=["accuracy"])["accuracy"]
        results[name] = {"spread": float(spread), "largest_weight": float(np.abs(w1).max()), "accuracy": accuracy}
    return results


def layer_activations(activation: str, init, key, config: Config) -> list[np.ndarray]:
    """The outputs of every layer of a ``depth``-layer net for a batch of N(0, 1) inputs."""
    model = M.Sequential([M.Dense(config.width, activation, kernel_init=init) for _ in range(config.depth)])
    input_key, init_key = jax.random.split(key)
    x = jax.random.normal(input_key, (config.batch, config.width))
    params = model.init(init_key, x[:1])
    _, _, activations = model.apply_with_activations(params, x)
    return [np.asarray(activations[name]) for name in model.names]


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Runs both demos; ``data_dir`` is unused. Returns the results dict."""
    config = config or Config()
    if config.draws < 1 or config.depth < 1 or config.n_inputs < 2:
        raise ValueError(f"draws and depth must be >= 1 and n_inputs >= 2, got {config.draws}, {config.depth}, "
                         f"{config.n_inputs}")
    out = Path(out_dir or "outputs/init_scale")
    say = S.reporter(verbose)
    weight_key, unit_key, deep_key = jax.random.split(key, 3)
    symmetry_key = jax.random.fold_in(key, 3)
    ones = config.n_inputs // 2

    # 1. One unit, the seed's input.
    first_w = np.asarray(initializers.normal(1.0)(weight_key, (config.n_outputs,)))  # the seed's 20,000 values of W
    variances, first_draws = {}, {}
    for i, (name, init) in enumerate(UNIT_INITS.items()):
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(jax.random.fold_in(unit_key, i),
                                                                jnp.arange(config.draws))
        draws = unit_output_draws(init, keys, config)
        variances[name] = draws.var(axis=1)
        first_draws[name] = draws[0]
    fan_in_scale = {"N(0, 1)": 1.0, "LeCun normal, 1/n": 1.0 / config.n_inputs, "He normal, 2/n": 2.0 / config.n_inputs}
    unit_table = [{"weights": name, "theory: sum(x²)·Var(w)": f"{ones * fan_in_scale[name]:g}",
                   "var(z), first draw": f"{v[0]:.4g}",
                   f"mean ± sd over {config.draws} draws": f"{v.mean():.4g} ± {v.std():.2g}"}
                  for name, v in variances.items()]
    say(f"one unit, {config.n_inputs} inputs ({ones} ones), {config.n_outputs:,} outputs per draw; "
        f"var of {config.n_outputs:,} N(0,1) weights: {first_w.var():.4f} (seed {SEED_VARIANCE_W})")
    say(text_table(unit_table))
    # One x range for all panels: a variance of 500 against 1 shows as a wide bell next to a spike.
    figures = {"unit_outputs.png": viz.plot_histograms(
        {f"{name}: var {first_draws[name].var():.4g}": first_draws[name] for name in UNIT_INITS}, ncols=3,
        xlabel="z = w·x", sharex=True,
        title=f"{config.n_outputs:,} outputs of one unit with {config.n_inputs} inputs")}

    # 2. Deep nets.
    stds, deep_table = {}, []
    for activation in config.activations:
        stds[activation], samples = {}, {}
        for j, (name, init) in enumerate(DEEP_INITS.items()):
            acts = layer_activations(activation, init, jax.random.fold_in(deep_key, j), config)
            stds[activation][name] = [float(a.std()) for a in acts]
            for layer in sorted({1, (config.depth + 1) // 2, config.depth}):
                samples[f"{name}, layer {layer}"] = acts[layer - 1]
            deep_table.append({"activation": activation, "weights": name,
                               **{f"std layer {k}": f"{stds[activation][name][k - 1]:.3g}"
                                  for k in sorted({1, (config.depth + 1) // 2, config.depth})}})
        figures[f"activation_std_{activation}.png"] = viz.plot_curves(
            stds[activation], x=np.arange(1, config.depth + 1), xlabel="layer", logy=True,
            ylabel="std of the activations", title=f"{config.depth} x Dense({config.width}, {activation})")
        # One row per initialization, one x range per row: the layers' activations shrinking to a spike
        # (vanishing) or spreading (exploding) stay visible instead of each panel filling its own range.
        figures[f"activation_histograms_{activation}.png"] = viz.plot_histograms(
            samples, ncols=len(samples) // len(DEEP_INITS), xlabel=f"{activation} output", sharex="row",
            title=f"activations, {activation} net: each row on one x range")
    say(f"\n{config.depth} layers of {config.width} units, {config.batch} N(0, 1) inputs")
    say(text_table(deep_table))

    # 3. Zero initialization: the hidden units stay identical.
    symmetry, symmetry_table = {}, []
    for activation in config.symmetry_activations:
        symmetry[activation] = zero_init_symmetry(activation, symmetry_key, config)
        for start, r in symmetry[activation].items():
            symmetry_table.append({"hidden units": f"{config.symmetry_hidden} x {activation}", "start": start,
                                   "max |unit j - unit 0| after training": f"{r['spread']:.3g}",
                                   "largest first-layer |w|": f"{r['largest_weight']:.3g}",
                                   "training accuracy": S.percent(r["accuracy"], 1)})
    say(f"\nzero initialization: mlp([{config.symmetry_hidden}, 1]) on the flower, {config.symmetry_iterations} "
        f"full-batch steps at lr {config.symmetry_learning_rate}, from zeros and from Glorot uniform")
    say(text_table(symmetry_table))

    normal, he = variances["N(0, 1)"], variances["He normal, 2/n"]
    rows = [
        {"experiment": f"var of {config.n_outputs:,} weights drawn from N(0, 1)", "seed": f"{SEED_VARIANCE_W}",
         "fnnet": f"{first_w.var():.3f}"},
        {"experiment": f"var(Wx), {config.n_inputs} inputs half ones, N(0, 1) weights, "
                       f"first draw of {config.n_outputs:,}",
         "seed": f"{SEED_VARIANCE_WX}", "fnnet": f"{normal[0]:.1f}"},
        {"experiment": f"same, mean ± sd over {config.draws} draws (theory {ones})", "seed": f"{SEED_VARIANCE_WX}",
         "fnnet": f"{normal.mean():.1f} ± {normal.std():.1f}"},
        {"experiment": "var(Wx) with He weights N(0, 2/n)", "seed": "≈ 1",
         "fnnet": f"{he.mean():.3f} ± {he.std():.3f}"},
    ]
    rows += [{"experiment": f"{activation} net, {name}: activation std at layer {config.depth}", "seed": "-",
              "fnnet": f"{values[-1]:.3g}"} for activation, by_init in stds.items() for name, values in by_init.items()]
    for activation, by_start in symmetry.items():
        zero, glorot = by_start["zeros"], by_start["Glorot uniform"]
        rows.append({"experiment": f"zero init, {config.symmetry_hidden} {activation} hidden units: max difference "
                                   "between hidden units after training (from zeros / from Glorot)",
                     "seed": "all units identical (symmetry)",
                     "fnnet": f"{zero['spread']:.3g} / {glorot['spread']:.3g}"})
        rows.append({"experiment": f"zero init, {activation}: training accuracy (from zeros / from Glorot)",
                     "seed": "-", "fnnet": f"{S.percent(zero['accuracy'], 1)} / {S.percent(glorot['accuracy'], 1)}"})
    return {
        "rows": rows,
        "tables": {"one unit's output variance": unit_table, "activation std per layer": deep_table,
                   "zero initialization: hidden units after training": symmetry_table},
        "data": "generated: the seed's 0/1 input vector and N(0, 1) input batches",
        "weight_variance": float(first_w.var()),
        "unit_variances": {name: v.tolist() for name, v in variances.items()},
        "activation_std": stds,
        "zero_init_symmetry": symmetry,
        "plots": viz.save_figures(figures, out),
        "figures": figures,
    }
