#!/usr/bin/env python
"""The training engine's costs, measured side by side in one run (issue 14's measures):

* ``fixed``: a second ``fit`` with the same pieces (tiny MLP, 1 epoch of 4 steps): XLA compilations
  counted by jax's monitoring events, and the wall time per call (median).
* ``population``: 8 members of an MLP (``--hidden``, default 784-32-10), ``--steps`` Adam steps of batch
  100 each, trained (a) by a pure JAX + optax program without any framework (one member scanned; 8 members
  vmapped in one scan), (b) by ``fit_ensemble`` (one compiled program), (c) by 8 sequential ``fit`` calls
  (cached programs). Warm: the best of ``--repeats`` runs after a first one; end to end: from cleared
  caches, compilation included.

    python benchmarks/engine.py                 # both, a minute or two on 2 cores
    python benchmarks/engine.py --only fixed
    python benchmarks/engine.py --hidden 256,100 --members 8
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnnet
from fnnet import models as M
from fnnet.engine import clear_cache, count_compiles
from fnnet.ensemble import fit_ensemble


def fixed_cost(repeats: int = 10) -> dict:
    rng = np.random.RandomState(0)
    x, y = rng.randn(32, 6).astype(np.float32), rng.randint(0, 3, 32)
    model = M.mlp([16, 3], flatten=False)
    run = lambda seed: fnnet.fit(model, "softmax_cross_entropy", fnnet.optim.optimizer("adam", 1e-3), (x, y), epochs=1,
                                 batch_size=8, key=jax.random.key(seed), verbose=0)
    t0 = time.perf_counter()
    run(0)
    first = time.perf_counter() - t0
    times = []
    with count_compiles() as compiles:
        for seed in range(1, repeats + 1):
            t0 = time.perf_counter()
            run(seed)
            times.append(time.perf_counter() - t0)
    return {"first call s": first, "later calls ms (median)": 1e3 * statistics.median(times),
            "compilations in later calls": compiles.count}


def _mlp_init(key, sizes):
    params = []
    for k, (a, b) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        params.append({"w": jax.random.normal(k, (a, b)) * np.sqrt(2.0 / a), "b": jnp.zeros(b)})
    return params


def _mlp_apply(params, x):
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def pure_jax_program(sizes, steps: int, batch: int, members: int):
    """``run(key, x, y) -> losses``: ``members`` MLPs, each ``steps`` Adam steps on its own data order, in
    one jitted scan (vmapped over members when there are several). No framework: jax + optax only."""
    tx = optax.adam(1e-3)

    def one(key, x, y):
        init_key, order_key = jax.random.split(key)
        params = _mlp_init(init_key, sizes)
        idx = jax.random.permutation(order_key, x.shape[0])[: steps * batch].reshape(steps, batch)

        def step(carry, rows):
            params, opt_state = carry
            loss_fn = lambda p: optax.softmax_cross_entropy_with_integer_labels(_mlp_apply(p, x[rows]), y[rows]).mean()
            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (_, _), losses = jax.lax.scan(step, (params, tx.init(params)), idx)
        return losses

    if members == 1:
        return jax.jit(one)
    return jax.jit(lambda key, x, y: jax.vmap(one, in_axes=(0, None, None))(jax.random.split(key, members), x, y))


def population(hidden, members: int, steps: int, repeats: int, batch: int = 100) -> dict:
    sizes = [784, *hidden, 10]
    rng = np.random.RandomState(0)
    x = rng.rand(steps * batch, 784).astype(np.float32)
    y = rng.randint(0, 10, steps * batch)
    model = M.mlp([*hidden, 10], flatten=False)
    opt = lambda: fnnet.optim.optimizer("adam", 1e-3)
    fit_args = dict(epochs=1, batch_size=batch, verbose=0)
    xd, yd = jnp.asarray(x), jnp.asarray(y)
    jax_one, jax_many = pure_jax_program(sizes, steps, batch, 1), pure_jax_program(sizes, steps, batch, members)
    variants = {
        "pure JAX, 1 member": lambda: jax_one(jax.random.key(0), xd, yd).block_until_ready(),
        f"pure JAX, {members} members vmapped": lambda: jax_many(jax.random.key(0), xd, yd).block_until_ready(),
        f"fnnet fit_ensemble, {members} members": lambda: fit_ensemble(
            model, "softmax_cross_entropy", opt(), (x, y), n_members=members, key=jax.random.key(0), **fit_args),
        f"fnnet fit x {members}, sequential": lambda: [fnnet.fit(
            model, "softmax_cross_entropy", opt(), (x, y), key=jax.random.key(i), **fit_args) for i in range(members)],
    }
    end_to_end = {}
    for name, fn in variants.items():
        jax.clear_caches()
        clear_cache()
        t0 = time.perf_counter()
        fn()
        end_to_end[name] = time.perf_counter() - t0
    warm = {name: [] for name in variants}
    for _ in range(repeats):  # round robin: the load of a shared machine hits every variant alike
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            warm[name].append(time.perf_counter() - t0)
    floor = min(warm[f"pure JAX, {members} members vmapped"])
    return {name: {"warm s (best)": min(warm[name]), "end to end s": end_to_end[name],
                   "warm / pure-JAX members floor": min(warm[name]) / floor} for name in variants}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("fixed", "population"))
    parser.add_argument("--hidden", default="32", help="hidden sizes, e.g. 256,100")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    if args.only in (None, "fixed"):
        for name, value in fixed_cost().items():
            print(f"fixed cost   {name:34s} {value:10.3f}")
    if args.only in (None, "population"):
        hidden = [int(h) for h in args.hidden.split(",")]
        print(f"population   MLP 784-{'-'.join(map(str, hidden))}-10, {args.steps} Adam steps of batch 100 per member")
        print(f"  {'variant':40s} {'warm s':>8s} {'end to end s':>13s} {'warm/floor':>11s}")
        for name, row in population(hidden, args.members, args.steps, args.repeats).items():
            print(f"  {name:40s} {row['warm s (best)']:8.3f} {row['end to end s']:13.3f} "
                  f"{row['warm / pure-JAX members floor']:11.2f}")
    print(f"load after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
