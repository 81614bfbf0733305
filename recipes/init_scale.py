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
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import initializers, viz
from fnnet import models as M
from fnnet.report import text_table

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


QUICK = dict(n_outputs=5_000, draws=2, depth=6, width=128, batch=256)

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "n_inputs": V.integer(2),
    "n_outputs": V.integer(2),
    "draws": V.integer(1),
    "depth": V.integer(1),
    "width": V.integer(1),
    "batch": V.integer(2),
    "activations": V.subset(tuple(M.ACTIVATIONS)),
}


def unit_outputs(init, key, config: Config) -> np.ndarray:
    """``z = W^T x`` for the seed's input (first half ones, rest zeros) and ``W (n_inputs, n_outputs)``
    drawn by ``init``: ``n_outputs`` independent draws of one unit's output."""
    x = (jnp.arange(config.n_inputs) < config.n_inputs // 2).astype(jnp.float32)
    weights = init(key, (config.n_inputs, config.n_outputs), jnp.float32)
    return np.asarray(x @ weights)


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
    ones = config.n_inputs // 2

    # 1. One unit, the seed's input.
    first_w = np.asarray(initializers.normal(1.0)(weight_key, (config.n_outputs,)))  # the seed's 20,000 values of W
    variances, first_draws = {}, {}
    for i, (name, init) in enumerate(UNIT_INITS.items()):
        draws = [unit_outputs(init, jax.random.fold_in(jax.random.fold_in(unit_key, i), d), config)
                 for d in range(config.draws)]
        variances[name] = np.array([z.var() for z in draws])
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
    return {
        "rows": rows,
        "tables": {"one unit's output variance": unit_table, "activation std per layer": deep_table},
        "data": "generated: the seed's 0/1 input vector and N(0, 1) input batches",
        "weight_variance": float(first_w.var()),
        "unit_variances": {name: v.tolist() for name, v in variances.items()},
        "activation_std": stds,
        "plots": viz.save_figures(figures, out),
        "figures": figures,
    }
