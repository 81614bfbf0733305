#!/usr/bin/env python
"""What makes fnnet's compiled training fast on a CPU: interleaved A/B timings of the alternatives that
README "Performance" reports (the choices ``fnnet.train`` made, and what was tried and dropped).

    python benchmarks/cpu_paths.py              # all experiments (a few minutes)
    python benchmarks/cpu_paths.py --only mlp   # one of: mlp, cnn, conv, flags, cifar
    python benchmarks/cpu_paths.py --quick      # tiny shapes, a correctness run (seconds)

* ``mlp``: the jhui MLP (784-256-100-10, batch 100, Adam) epoch under ``lax.scan``, with the non-finite
  step skipped through ``lax.cond`` (fnnet's step), through ``jnp.where`` over every leaf (fnnet's
  earlier step), without any check, checking the loss only, with ``unroll=2``, and with the epoch's
  batches gathered before the scan instead of inside each step.
* ``cnn``: the CS4487 deep CNN (batch 50, Adam) step loop and scan epoch with XLA's default CPU
  convolutions (YNNPACK) and with fnnet's option (XLA's Eigen convolutions); the forward pass at batch
  1000 both ways.
* ``flags``: XLA CPU options on whole steps: the MLP scan epoch and the deep CNN step loop with one
  Eigen thread, the concurrency-optimized scheduler, and other YNNPACK fusion choices for dots.
* ``cifar`` (not in the default set: ~1 s per step): the workshop CIFAR-10 CNN (batch 128) step with
  YNNPACK and with Eigen convolutions.
* ``conv``: the deep CNN's largest convolution (40 -> 80 channels, 5x5, 7x7 images, batch 50): forward
  and both gradients as XLA's convolution, and as im2col (strided slices concatenated into patches,
  one matmul) with the gradients by matmul, by XLA's transposed convolution, or by col2im.

Each variant runs one timed segment per repeat in turn (round-robin), so load drifts over all alike;
the report gives the median steps/s (or ms) and the per-repeat ratio to the first variant, median.
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

from fnnet import models as M
from fnnet import train
from fnnet.engine import programs
from fnnet.objective import resolve_loss

LOSS = "softmax_cross_entropy"
YNN_CONVOLUTIONS = None  # XLA's default CPU options
EIGEN_CONVOLUTIONS = programs.CPU_CONV_OPTIONS


def interleaved(runs: dict, repeats: int, work: float) -> dict:
    """``runs``: name -> zero-argument function running one segment and blocking. Returns name ->
    ``(median rate, median per-repeat ratio to the first run)`` with rate = ``work`` / seconds."""
    for fn in runs.values():
        fn()  # compile and warm up
    rates = {name: [] for name in runs}
    for r in range(repeats):
        names = list(runs)[r % len(runs):] + list(runs)[: r % len(runs)]
        for name in names:
            t0 = time.perf_counter()
            runs[name]()
            rates[name].append(work / (time.perf_counter() - t0))
    first = rates[next(iter(runs))]
    return {name: (statistics.median(v), statistics.median([a / b for a, b in zip(v, first)])) for name, v in rates.items()}


def _report(title: str, results: dict, unit: str) -> None:
    print(f"\n{title}")
    for name, (rate, ratio) in results.items():
        print(f"  {name:48s} {rate:9.1f} {unit}   x{ratio:.2f}")


def _data(shape, n, key=0):
    x = jax.random.uniform(jax.random.key(key), (n,) + shape)
    return x, jax.random.randint(jax.random.key(key + 1), (n,), 0, 10)


def _select_skip_step(model, tx):
    """fnnet's earlier step: the update always computed, then ``jnp.where(finite, new, old)`` per leaf."""
    loss_fn = resolve_loss(LOSS)

    def step(state, x, y):
        def objective(params):
            return loss_fn(model.apply(params, x), y) + model.penalty(params)

        loss, grads = jax.value_and_grad(objective)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        finite = jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(grads))
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), new, old)
        return state.replace(params=keep(params, state.params), opt_state=keep(opt_state, state.opt_state),
                             step=state.step + 1), {"loss": loss, "finite": finite}

    return step


def _unchecked_step(model, tx):
    loss_fn = resolve_loss(LOSS)

    def step(state, x, y):
        loss, grads = jax.value_and_grad(lambda p: loss_fn(model.apply(p, x), y) + model.penalty(p))(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        return state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state,
                             step=state.step + 1), {"loss": loss}

    return step


def _loss_checked_step(model, tx):
    """The step skipped through ``lax.cond`` when the *loss* is not finite, without the gradients'
    global norm that fnnet's step also checks (what that reduction costs)."""
    loss_fn = resolve_loss(LOSS)

    def step(state, x, y):
        loss, grads = jax.value_and_grad(lambda p: loss_fn(model.apply(p, x), y) + model.penalty(p))(state.params)

        def apply(_):
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
            return optax.apply_updates(state.params, updates), opt_state

        finite = jnp.isfinite(loss)
        params, opt_state = jax.lax.cond(finite, apply, lambda _: (state.params, state.opt_state), None)
        return state.replace(params=params, opt_state=opt_state, step=state.step + 1), {"loss": loss, "finite": finite}

    return step


def _scan_epoch(step, *, unroll: int = 1, pregather: bool = False):
    def epoch(state, x, y, idx):
        if pregather:
            batches = (jnp.take(x, idx.reshape(-1), axis=0).reshape(idx.shape + x.shape[1:]), jnp.take(y, idx, axis=0))
            return jax.lax.scan(lambda s, b: step(s, *b), state, batches)
        return jax.lax.scan(lambda s, b: step(s, jnp.take(x, b, axis=0), jnp.take(y, b, axis=0)), state, idx,
                            unroll=unroll)

    return jax.jit(epoch, donate_argnums=(0,))


def _segment(program, state, *args):
    """A run of ``program`` that continues from the previous run's (donated) state."""
    box = [jax.tree.map(jnp.copy, state)]

    def run():
        box[0], logs = program(box[0], *args)
        jax.block_until_ready((box[0], logs))

    return run


def mlp_experiment(batches: int, repeats: int, batch_size: int = 100) -> dict:
    model = M.jhui_mnist_mlp()
    tx, state, fnnet_step, x, y, idx = _setup(model, (28, 28, 1), batch_size, batches, shuffled=True)
    programs = {
        "skip non-finite steps by lax.cond (fnnet)": _scan_epoch(fnnet_step),
        "skip by jnp.where over every leaf (earlier)": _scan_epoch(_select_skip_step(model, tx)),
        "no non-finite check": _scan_epoch(_unchecked_step(model, tx)),
        "lax.cond on the loss only (no gradient norm)": _scan_epoch(_loss_checked_step(model, tx)),
        "lax.cond, scan unroll=2": _scan_epoch(fnnet_step, unroll=2),
        "lax.cond, batches gathered before the scan": _scan_epoch(fnnet_step, pregather=True),
    }
    runs = {name: _segment(p, state, x, y, idx) for name, p in programs.items()}
    return interleaved(runs, repeats, batches)


def _step_loop(program, state, x, y, idx):
    box = [jax.tree.map(jnp.copy, state)]

    def run():
        for i in range(idx.shape[0]):
            box[0], logs = program(box[0], x, y, idx, i)
        jax.block_until_ready(box[0])

    return run


def _setup(model, example_shape, batch_size: int, batches: int, *, shuffled: bool):
    """Adam, a train state, fnnet's train step, synthetic data of ``batches`` batches and the batches'
    index matrix (a random order, or the examples in order)."""
    tx = optax.adam(1e-3)
    x, y = _data(example_shape, batches * batch_size)
    order = jax.random.permutation(jax.random.key(2), len(x)) if shuffled else jnp.arange(len(x))
    idx = order.reshape(batches, batch_size).astype(jnp.int32)
    state = train.create_train_state(model, tx, jax.random.key(0), x[:1])
    return tx, state, train.make_train_step(model, LOSS, tx), x, y, idx


def _epoch_programs(step, compiler_options):
    """``run(mode, ...)``: the two epoch shapes fnnet compiles, with the given XLA options: ``"scan"``
    ``(state, x, y, idx)`` scans every row of ``idx``; ``"step"`` ``(state, x, y, idx, i)`` runs row ``i``."""
    batch = lambda x, y, rows: (jnp.take(x, rows, axis=0), jnp.take(y, rows, axis=0))
    scan = lambda state, x, y, idx: jax.lax.scan(lambda s, rows: step(s, *batch(x, y, rows)), state, idx)
    one = lambda state, x, y, idx, i: step(state, *batch(x, y, idx[i]))
    compiled = {mode: jax.jit(fn, donate_argnums=0, compiler_options=compiler_options)
                for mode, fn in (("scan", scan), ("step", one))}
    return lambda mode, *args: compiled[mode](*args)


def _convolution_step_loops(step, state, x, y, idx) -> dict:
    """The step loop compiled with fnnet's Eigen convolutions and with XLA's default (YNNPACK) ones."""
    runs = {}
    for label, options in (("Eigen convolutions (fnnet)", EIGEN_CONVOLUTIONS), ("YNNPACK convolutions (XLA default)", YNN_CONVOLUTIONS)):
        programs = _epoch_programs(step, options)
        runs[f"jit per step, {label}"] = _step_loop(lambda *a, p=programs: p("step", *a), state, x, y, idx)
    return runs


def _ynn_fusions(*kinds: str) -> dict:
    return {"xla_cpu_experimental_ynn_fusion_type": ",".join(f"LIBRARY_FUSION_TYPE_{k}" for k in kinds)}


def flags_experiment(mlp_batches: int, cnn_batches: int, repeats: int) -> tuple[dict, dict]:
    one_thread, concurrent = {"xla_cpu_multi_thread_eigen": False}, {"xla_cpu_enable_concurrency_optimized_scheduler": True}
    results = []
    for model, batch, batches, mode, variants in (
        (M.jhui_mnist_mlp(), 100, mlp_batches, "scan", {
            "XLA defaults (fnnet)": None,
            "one Eigen thread": one_thread,
            "concurrency-optimized scheduler": concurrent,
            "YNNPACK dots fused with element-wise ops": _ynn_fusions("DOT", "REDUCE"),
            "no YNNPACK (Eigen dots)": _ynn_fusions(),
        }),
        (M.cs4487_deep_cnn(), 50, cnn_batches, "step", {
            "Eigen convolutions (fnnet)": EIGEN_CONVOLUTIONS,
            "Eigen convolutions, one Eigen thread": {**EIGEN_CONVOLUTIONS, **one_thread},
            "Eigen convolutions, concurrency-optimized scheduler": {**EIGEN_CONVOLUTIONS, **concurrent},
        }),
    ):
        _, state, step, x, y, idx = _setup(model, (28, 28, 1), batch, batches, shuffled=False)
        runs = {}
        for name, options in variants.items():
            programs = _epoch_programs(step, options)
            run = _step_loop if mode == "step" else _segment
            runs[name] = run(lambda *a, p=programs, m=mode: p(m, *a), state, x, y, idx)
        results.append(interleaved(runs, repeats, batches))
    return tuple(results)


def cifar_experiment(batches: int, repeats: int, batch_size: int = 128) -> dict:
    _, state, step, x, y, idx = _setup(M.workshop_cifar_cnn(), (32, 32, 3), batch_size, batches, shuffled=False)
    return interleaved(_convolution_step_loops(step, state, x, y, idx), repeats, batches)


def cnn_experiment(batches: int, repeats: int, batch_size: int = 50, scan_batches: int = 5) -> tuple[dict, dict]:
    model = M.cs4487_deep_cnn()
    _, state, step, x, y, idx = _setup(model, (28, 28, 1), batch_size, batches, shuffled=True)
    train_rates = interleaved(_convolution_step_loops(step, state, x, y, idx), repeats, batches)
    # the scan epochs collapse: time them on a few batches only (ratio: of the medians)
    scan_runs = {}
    for label, options in (("Eigen", EIGEN_CONVOLUTIONS), ("YNNPACK", YNN_CONVOLUTIONS)):
        programs = _epoch_programs(step, options)
        scan_runs[f"lax.scan epoch, {label} convolutions"] = _segment(lambda *a, p=programs: p("scan", *a), state, x, y,
                                                                       idx[:scan_batches])
    train_rates.update({k: (v[0], v[0] / train_rates[next(iter(train_rates))][0])
                        for k, v in interleaved(scan_runs, repeats, scan_batches).items()})
    xf, _ = _data((28, 28, 1), 20 * batch_size, key=3)
    forward = {label: jax.jit(lambda p, s, xb: model.apply(p, xb, state=s)[0], compiler_options=options)
               for label, options in (("Eigen convolutions (fnnet)", EIGEN_CONVOLUTIONS),
                                      ("YNNPACK convolutions (XLA default)", YNN_CONVOLUTIONS))}
    forward_runs = {f"forward, batch {len(xf)}, {k}": (lambda f=f: f(state.params, state.model_state, xf).block_until_ready())
                    for k, f in forward.items()}
    return train_rates, interleaved(forward_runs, repeats, len(xf))


# im2col: a convolution as strided slices of the padded input concatenated into patches, then one matmul


def _same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def _patches(x, k: int, stride: int, pads):
    n, h, w, c = x.shape
    xp = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    oh, ow = (h + sum(pads[0]) - k) // stride + 1, (w + sum(pads[1]) - k) // stride + 1
    cols = [jax.lax.slice(xp, (0, i, j, 0), (n, i + (oh - 1) * stride + 1, j + (ow - 1) * stride + 1, c), (1, stride, stride, 1))
            for i in range(k) for j in range(k)]
    return jnp.concatenate(cols, axis=-1)  # (n, oh, ow, k*k*c) in HWIO's (kh, kw, c) order


def _col2im(dpatches, x_shape, k: int, stride: int, pads):
    n, h, w, c = x_shape
    oh, ow = dpatches.shape[1:3]
    dp = dpatches.reshape(n, oh, ow, k, k, c)
    out = jnp.zeros((n, h + sum(pads[0]), w + sum(pads[1]), c), dp.dtype)
    for i in range(k):
        for j in range(k):
            out = out.at[:, i:i + (oh - 1) * stride + 1:stride, j:j + (ow - 1) * stride + 1:stride].add(dp[:, :, :, i, j])
    return out[:, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + w]


def _conv_variant(kind: str, stride: int, pads):
    def xla_conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (stride, stride), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))

    if kind == "xla":
        return xla_conv

    @jax.custom_vjp
    def conv(x, w):
        return forward(x, w)[0]

    def forward(x, w):
        k, _, c_in, c_out = w.shape
        if kind == "xla forward":
            return xla_conv(x, w), (x, w, None)
        p = _patches(x, k, stride, pads)
        return (p.reshape(-1, k * k * c_in) @ w.reshape(-1, c_out)).reshape(p.shape[:3] + (c_out,)), (x, w, p)

    def backward(res, dy):
        x, w, p = res
        k, _, c_in, c_out = w.shape
        p = _patches(x, k, stride, pads) if p is None else p
        dw = (p.reshape(-1, k * k * c_in).T @ dy.reshape(-1, c_out)).reshape(w.shape)
        if kind == "im2col, col2im":
            dx = _col2im((dy.reshape(-1, c_out) @ w.reshape(-1, c_out).T).reshape(p.shape), x.shape, k, stride, pads)
        else:
            dx = jax.vjp(lambda x: xla_conv(x, w), x)[1](dy)[0]
        return dx, dw

    conv.defvjp(forward, backward)
    return conv


def conv_experiment(repeats: int, batch: int = 50) -> dict:
    x, _ = _data((7, 7, 40), batch)
    w = 0.05 * jax.random.normal(jax.random.key(4), (5, 5, 40, 80))
    pads = (_same_padding(7, 5, 1), _same_padding(7, 5, 1))
    dy = jax.random.normal(jax.random.key(5), (batch, 7, 7, 80))
    variants = {
        "XLA convolution, Eigen (fnnet)": ("xla", EIGEN_CONVOLUTIONS),
        "XLA convolution, YNNPACK (XLA default)": ("xla", YNN_CONVOLUTIONS),
        "im2col forward, dW by matmul, dX by XLA": ("im2col", EIGEN_CONVOLUTIONS),
        "XLA forward, dW by im2col matmul, dX by XLA": ("xla forward", EIGEN_CONVOLUTIONS),
        "im2col forward, dW by matmul, dX by col2im": ("im2col, col2im", EIGEN_CONVOLUTIONS),
    }
    runs, reference = {}, None
    for name, (kind, options) in variants.items():
        conv = _conv_variant(kind, 1, pads)
        grads = jax.jit(jax.grad(lambda x, w, conv=conv: jnp.sum(conv(x, w) * dy), argnums=(0, 1)),
                        compiler_options=options)
        got = grads(x, w)
        reference = got if reference is None else reference
        np.testing.assert_allclose(np.asarray(got[1]), np.asarray(reference[1]), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(np.asarray(got[0]), np.asarray(reference[0]), rtol=1e-3, atol=1e-3)
        runs[name] = lambda g=grads: jax.block_until_ready(g(x, w))
    return interleaved(runs, repeats, 1.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("mlp", "cnn", "conv", "flags", "cifar"), default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny segments, one repeat: a correctness run")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {os.cpu_count()} cores, load averages "
          + "/".join(f"{v:.1f}" for v in os.getloadavg()))
    if args.only in (None, "mlp"):
        _report("MLP 784-256-100-10, batch 100, Adam: lax.scan epoch (steps/s)",
                mlp_experiment(4 if args.quick else 600, repeats), "steps/s")
    if args.only in (None, "cnn"):
        train_rates, forward_rates = cnn_experiment(2 if args.quick else 30, repeats, scan_batches=2 if args.quick else 5)
        _report("CS4487 deep CNN, batch 50, Adam (steps/s)", train_rates, "steps/s")
        _report("CS4487 deep CNN forward pass (examples/s)", forward_rates, "ex/s")
    if args.only in (None, "conv"):
        results = conv_experiment(repeats, batch=4 if args.quick else 50)
        _report("Conv 40->80, 5x5, 7x7 images: forward + dX + dW (calls/s)", results, "calls/s")
    if args.only in (None, "flags"):
        mlp_rates, cnn_rates = flags_experiment(4 if args.quick else 600, 2 if args.quick else 30, repeats)
        _report("XLA CPU options: MLP lax.scan epoch (steps/s)", mlp_rates, "steps/s")
        _report("XLA CPU options: deep CNN step loop (steps/s)", cnn_rates, "steps/s")
    if args.only == "cifar":
        _report("workshop CIFAR-10 CNN, batch 128, Adam (steps/s)", cifar_experiment(1 if args.quick else 3, repeats), "steps/s")
    print(f"\nload averages after: {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
