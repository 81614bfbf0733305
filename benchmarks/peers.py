#!/usr/bin/env python
"""fnnet against what users would otherwise pick: the same models, data shapes, optimizer and batch size
trained by fnnet's ``fit`` (both epoch modes: one ``lax.scan`` per epoch, and a Python loop over a
jit-compiled step), PyTorch (eager), Keras 3 on JAX, plain Flax + Optax written as Flax's MNIST example
(a Python loop over a jit-compiled step, the plain-JAX baseline) and the same Flax code with each epoch
under ``lax.scan``.

    python benchmarks/peers.py                 # steps/s, GFLOP/s and time to accuracy (many minutes)
    python benchmarks/peers.py --quick         # seconds: every installed framework trains a few small
                                               # batches of every model; a correctness check, no timing
    python benchmarks/peers.py --models mlp --no-tta --repeats 5 --out results.md

Peers that are not installed are skipped (``pip install torch keras``; CPU wheels suffice).

What is measured
* steps/s: each framework trains one timed segment (an epoch of synthetic data of the model's shapes)
  per model in turn, round-robin, ``--repeats`` times, so the machine's load drifts over all of them
  alike; the table gives the median and the [min, max] spread, and the load averages of the run.
  Compilation is excluded everywhere (each framework is warmed up first). The ratio column divides the
  steps/s of the epoch mode ``fit`` picks by default (``epoch_mode="auto"``) by each row's.
* GFLOP/s: floating-point operations of one training step (forward + backward + Adam, from XLA's cost
  analysis of the step's HLO) times steps/s, against the fp32 matrix-multiplication peak of this
  machine measured in the same run (the best of XLA's and PyTorch's 2048 x 2048 products).
* time to accuracy: real MNIST (``--data-dir`` / ``$FNNET_DATA_DIR``, else ``../shared/data``), trained
  until the test accuracy reaches the target (checked after every epoch): the seconds of training and
  evaluation, with the compilation time reported separately.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras 3 reads its backend when first imported

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnnet
from fnnet import models as M
from fnnet.callbacks import LambdaCallback

LEARNING_RATE = 1e-3
LOSS = "softmax_cross_entropy"
FNNET_MODES = ("scan", "step")
FRAMEWORKS = tuple(f"fnnet_{mode}" for mode in FNNET_MODES) + ("torch", "torch_1t", "keras", "flax_step", "flax_scan")
FRAMEWORK_TITLES = {
    "fnnet_scan": "fnnet `fit`, `lax.scan` epoch",
    "fnnet_step": "fnnet `fit`, jit per step",
    "torch": "PyTorch eager",
    "torch_1t": "PyTorch eager, 1 thread",
    "keras": "Keras 3 (JAX) `fit`",
    "flax_step": "Flax, jit per step",
    "flax_scan": "Flax, `lax.scan` epoch",
}
_OPTIONAL_MODULES = {"torch": "torch", "torch_1t": "torch", "keras": "keras"}


# ----------------------------------------------------------------------------------------------
# The models, described once and built in every framework


@dataclasses.dataclass(frozen=True)
class Spec:
    """A benchmark model: a framework-neutral layer list (``("conv", filters, size, stride)``,
    ``("pool",)`` 2x2 max pooling, ``("dropout", rate)``, ``("flatten",)``, ``("dense", units, relu)``;
    convolutions are "same"-padded with relu) and the fnnet builder of the same network."""

    name: str
    title: str
    input_shape: tuple  # one example, NHWC
    batch_size: int
    segment_batches: int  # steps per timed segment
    layers: tuple
    fnnet_model: Callable[[], M.Model]


SPECS = {
    "mlp": Spec(
        "mlp", "MLP 784-256-100-10", (28, 28, 1), 100, 600,
        (("flatten",), ("dense", 256, True), ("dense", 100, True), ("dense", 10, False)),
        M.jhui_mnist_mlp,
    ),
    "deep_cnn": Spec(
        "deep_cnn", "CS4487 deep CNN", (28, 28, 1), 50, 30,
        (("conv", 10, 5, 2), ("conv", 40, 5, 2), ("conv", 80, 5, 1), ("flatten",), ("dense", 50, True),
         ("dense", 10, False)),
        M.cs4487_deep_cnn,
    ),
    "cifar_cnn": Spec(
        "cifar_cnn", "workshop CIFAR-10 CNN", (32, 32, 3), 128, 10,
        (("conv", 50, 3, 1), ("conv", 75, 3, 1), ("pool",), ("dropout", 0.25), ("conv", 125, 3, 1), ("pool",),
         ("dropout", 0.25), ("flatten",), ("dense", 500, True), ("dropout", 0.4), ("dense", 250, True),
         ("dropout", 0.3), ("dense", 10, False)),
        M.workshop_cifar_cnn,
    ),
}


def available_frameworks(requested) -> list[str]:
    """``requested`` minus the peers whose package is not installed."""
    return [f for f in requested if f not in _OPTIONAL_MODULES or importlib.util.find_spec(_OPTIONAL_MODULES[f])]


def _flax_module(layers: tuple):
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            for kind, *args in layers:
                if kind == "conv":
                    x = nn.relu(nn.Conv(args[0], (args[1], args[1]), strides=args[2], padding="SAME")(x))
                elif kind == "pool":
                    x = nn.max_pool(x, (2, 2), strides=(2, 2))
                elif kind == "dropout":
                    x = nn.Dropout(args[0], deterministic=not train)(x)
                elif kind == "flatten":
                    x = x.reshape(x.shape[0], -1)
                else:
                    x = nn.Dense(args[0])(x)
                    x = nn.relu(x) if args[1] else x
            return x

    return Net()


def _torch_module(layers: tuple, input_shape: tuple):
    import torch

    height, width, channels = input_shape
    features, modules = None, []
    for kind, *args in layers:
        if kind == "conv":
            filters, size, stride = args
            # padding size//2 gives TF "same" output sizes (ceil(in / stride)) for these odd kernels
            modules += [torch.nn.Conv2d(channels, filters, size, stride=stride, padding=size // 2), torch.nn.ReLU()]
            channels, height, width = filters, -(-height // stride), -(-width // stride)
        elif kind == "pool":
            modules.append(torch.nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        elif kind == "dropout":
            modules.append(torch.nn.Dropout(args[0]))
        elif kind == "flatten":
            modules.append(torch.nn.Flatten())
            features = channels * height * width
        else:
            modules.append(torch.nn.Linear(features, args[0]))
            features = args[0]
            if args[1]:
                modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


def _keras_model(layers: tuple, input_shape: tuple):
    import keras

    built = [keras.Input(input_shape)]
    for kind, *args in layers:
        if kind == "conv":
            built.append(keras.layers.Conv2D(args[0], args[1], strides=args[2], padding="same", activation="relu"))
        elif kind == "pool":
            built.append(keras.layers.MaxPooling2D(2))
        elif kind == "dropout":
            built.append(keras.layers.Dropout(args[0]))
        elif kind == "flatten":
            built.append(keras.layers.Flatten())
        else:
            built.append(keras.layers.Dense(args[0], activation="relu" if args[1] else None))
    model = keras.Sequential(built)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


# ----------------------------------------------------------------------------------------------
# One trainer per framework: warm up (compile) in __init__, then ``epoch()`` -> (seconds, steps)


class FnnetTrainer:
    """``fnnet.fit`` for one epoch per call, continuing from the previous state. The seconds are fit's
    own epoch time (``History.epoch_times``), which excludes compilation. ``epoch_mode`` is fit's."""

    def __init__(self, spec: Spec, x, y, key, *, epoch_mode: str = "auto", validation=None):
        self.spec, self.x, self.y, self.key, self.validation = spec, x, y, key, validation
        self.epoch_mode = epoch_mode
        self.model = spec.fnnet_model()
        self.state, self.calls = None, 0
        self.history = None
        self.compile_seconds = None

    def fit(self, epochs: int, callbacks=()):
        self.calls += 1
        self.state, self.history = fnnet.fit(
            self.model, LOSS, optax.adam(LEARNING_RATE), (self.x, self.y), epochs=epochs,
            batch_size=self.spec.batch_size, key=jax.random.fold_in(self.key, self.calls), initial_state=self.state,
            options=fnnet.TrainOptions(drop_remainder=True, epoch_mode=self.epoch_mode), validation_data=self.validation, metrics=["accuracy"] if self.validation else [],
            callbacks=callbacks, verbose=0,
        )
        if self.compile_seconds is None:
            self.compile_seconds = self.history.compile_time
        return self.history

    def epoch(self):
        history = self.fit(1)
        return history.epoch_times[0], history.steps

    def losses(self):
        return self.history["loss"]

    def params(self):
        return fnnet.tree.count_params(self.state.params)


def _cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


class FlaxTrainer:
    """Plain Flax + Optax. ``mode="step"`` is Flax's MNIST example: jit-compiled ``apply_model`` and
    ``update_model`` per batch, batches gathered from host numpy arrays. ``mode="scan"`` runs the same
    step over a whole epoch under ``lax.scan`` with the data on the device."""

    def __init__(self, spec: Spec, x, y, key, *, mode: str):
        from flax.training import train_state

        self.spec, self.mode = spec, mode
        self.x_host, self.y_host = np.asarray(x), np.asarray(y)
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)
        module = _flax_module(spec.layers)
        init_key, self.dropout_key, self.order_key = jax.random.split(key, 3)
        params = module.init(init_key, self.x[:1])["params"]
        self.state = train_state.TrainState.create(apply_fn=module.apply, params=params, tx=optax.adam(LEARNING_RATE))
        dropout_key = self.dropout_key

        def apply_model(state, images, labels):
            def loss_fn(params):
                logits = state.apply_fn(
                    {"params": params}, images, train=True, rngs={"dropout": jax.random.fold_in(dropout_key, state.step)}
                )
                return _cross_entropy(logits, labels), logits

            (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
            return grads, loss, jnp.mean(jnp.argmax(logits, -1) == labels)

        def update_model(state, grads):
            return state.apply_gradients(grads=grads)

        def scan_epoch(state, x, y, perms):
            def body(state, perm):
                grads, loss, _ = apply_model(state, x[perm], y[perm])
                return update_model(state, grads), loss

            return jax.lax.scan(body, state, perms)

        self.apply_model, self.update_model = jax.jit(apply_model), jax.jit(update_model)
        self.n_batches = len(x) // spec.batch_size
        self.loss_history = []
        t0 = time.perf_counter()
        if mode == "scan":
            perms_shape = jax.ShapeDtypeStruct((self.n_batches, spec.batch_size), jnp.int32)
            self.scan_epoch = jax.jit(scan_epoch).lower(self.state, self.x, self.y, perms_shape).compile()
        else:
            b = slice(0, spec.batch_size)
            grads, _, _ = self.apply_model(self.state, self.x_host[b], self.y_host[b])
            jax.block_until_ready(self.update_model(self.state, grads))
        self.compile_seconds = time.perf_counter() - t0
        self.epochs = 0
        self.predict = jax.jit(lambda params, images: module.apply({"params": params}, images))

    def _perms(self):
        self.epochs += 1
        perms = jax.random.permutation(jax.random.fold_in(self.order_key, self.epochs), len(self.x_host))
        return perms[: self.n_batches * self.spec.batch_size].reshape(self.n_batches, self.spec.batch_size)

    def epoch(self):
        perms = self._perms()
        t0 = time.perf_counter()
        if self.mode == "scan":
            self.state, losses = self.scan_epoch(self.state, self.x, self.y, perms.astype(jnp.int32))
        else:
            losses = []
            for perm in perms:  # as in Flax's MNIST example
                grads, loss, _ = self.apply_model(self.state, self.x_host[perm, ...], self.y_host[perm, ...])
                self.state = self.update_model(self.state, grads)
                losses.append(loss)
        self.loss_history.append(float(np.mean(jax.device_get(losses))))
        return time.perf_counter() - t0, self.n_batches

    def accuracy(self, x, y) -> float:
        correct = sum(
            int(jnp.sum(jnp.argmax(self.predict(self.state.params, x[i : i + 1000]), -1) == y[i : i + 1000]))
            for i in range(0, len(x), 1000)
        )
        return correct / len(x)

    def losses(self):
        return self.loss_history

    def params(self):
        return fnnet.tree.count_params(self.state.params)


class TorchTrainer:
    """PyTorch eager: ``zero_grad / loss.backward / Adam.step`` per batch, NCHW tensors in memory.

    ``threads``: intra-op threads while training (``None``: PyTorch's default, one per core). On a
    machine busier than its core count, OpenMP's spinning barriers can make the default far slower
    than one thread, so the benchmark reports both."""

    def __init__(self, spec: Spec, x, y, key, *, threads: Optional[int] = None):
        import torch

        self.torch, self.spec, self.threads = torch, spec, threads
        torch.manual_seed(int(jax.random.randint(key, (), 0, 2**31 - 1)))
        self.x = torch.from_numpy(np.array(np.asarray(x).transpose(0, 3, 1, 2), order="C"))  # a writable NCHW copy
        self.y = torch.from_numpy(np.asarray(y).astype(np.int64))
        self.model = _torch_module(spec.layers, spec.input_shape)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.n_batches = len(x) // spec.batch_size
        self.loss_history = []
        t0 = time.perf_counter()
        self._steps(torch.arange(spec.batch_size).reshape(1, -1))  # first-call allocations, oneDNN primitives
        self.compile_seconds = time.perf_counter() - t0

    def _steps(self, perms):
        self.model.train()
        default_threads = self.torch.get_num_threads()
        self.torch.set_num_threads(self.threads or default_threads)  # a process-wide setting: restored below
        try:
            losses = []
            for perm in perms:
                self.optimizer.zero_grad()
                loss = self.loss_fn(self.model(self.x[perm]), self.y[perm])
                loss.backward()
                self.optimizer.step()
                losses.append(loss.detach())
            return losses
        finally:
            self.torch.set_num_threads(default_threads)

    def epoch(self):
        t0 = time.perf_counter()
        perms = self.torch.randperm(len(self.x))[: self.n_batches * self.spec.batch_size].reshape(self.n_batches, -1)
        losses = self._steps(perms)
        self.loss_history.append(float(self.torch.stack(losses).mean()))
        return time.perf_counter() - t0, self.n_batches

    def accuracy(self, x, y) -> float:
        self.model.eval()
        x = self.torch.from_numpy(np.array(np.asarray(x).transpose(0, 3, 1, 2), order="C"))  # a writable NCHW copy
        with self.torch.no_grad():
            predicted = self.torch.cat([self.model(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
        return float((predicted.numpy() == np.asarray(y)).mean())

    def losses(self):
        return self.loss_history

    def params(self):
        return sum(p.numel() for p in self.model.parameters())


class KerasTrainer:
    """Keras 3 on the JAX backend: ``model.fit(x, y, epochs=1)`` per call; the seconds run from
    ``on_epoch_begin`` to ``on_epoch_end``, leaving out ``fit``'s setup."""

    def __init__(self, spec: Spec, x, y, key):
        import keras

        keras.utils.set_random_seed(int(jax.random.randint(key, (), 0, 2**31 - 1)))
        self.spec, self.x, self.y = spec, np.asarray(x), np.asarray(y)
        self.model = _keras_model(spec.layers, spec.input_shape)
        self.loss_history = []
        trainer = self

        class EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                trainer._t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                trainer._seconds = time.perf_counter() - trainer._t0
                trainer.loss_history.append(float(logs["loss"]))

        self.timer = EpochTimer()
        n = spec.batch_size * 2
        t0 = time.perf_counter()
        self.model.fit(self.x[:n], self.y[:n], batch_size=spec.batch_size, epochs=1, verbose=0)
        self.compile_seconds = time.perf_counter() - t0
        self.loss_history.clear()

    def epoch(self):
        self.model.fit(self.x, self.y, batch_size=self.spec.batch_size, epochs=1, verbose=0, callbacks=[self.timer])
        return self._seconds, len(self.x) // self.spec.batch_size

    def losses(self):
        return self.loss_history

    def params(self):
        return self.model.count_params()


def make_trainer(framework: str, spec: Spec, x, y, key):
    if framework.startswith("fnnet_"):
        trainer = FnnetTrainer(spec, x, y, key, epoch_mode=framework.split("_")[1])
        trainer.epoch()  # warm-up, like every other trainer's __init__
        return trainer
    if framework in ("torch", "torch_1t"):
        return TorchTrainer(spec, x, y, key, threads=1 if framework == "torch_1t" else None)
    if framework == "keras":
        return KerasTrainer(spec, x, y, key)
    return FlaxTrainer(spec, x, y, key, mode=framework.split("_")[1])


# ----------------------------------------------------------------------------------------------
# Measurements


def synthetic_data(spec: Spec, n: int, key):
    """``n`` random examples of the model's input shape with random labels (float32, int32)."""
    kx, ky = jax.random.split(key)
    x = jax.random.uniform(kx, (n,) + spec.input_shape, jnp.float32)
    return np.asarray(x), np.asarray(jax.random.randint(ky, (n,), 0, 10, jnp.int32))


def flops_per_step(spec: Spec) -> float:
    """FLOPs of one fnnet training step (forward, backward, Adam) at the model's batch size, from XLA's
    cost analysis of the step's HLO (XLA convolutions, so the count is that of the textbook layers)."""
    model = spec.fnnet_model()
    tx = optax.adam(LEARNING_RATE)
    x = jnp.zeros((spec.batch_size,) + spec.input_shape, jnp.float32)
    y = jnp.zeros((spec.batch_size,), jnp.int32)
    state = fnnet.train.create_train_state(model, tx, jax.random.key(0), x[:1])
    step = fnnet.make_train_step(model, LOSS, tx)
    return float(jax.jit(step).lower(state, x, y).cost_analysis()["flops"])


def matmul_peak(n: int = 2048, tries: int = 5) -> dict:
    """Best fp32 GFLOP/s of an ``n x n`` matrix product in XLA (and PyTorch when installed)."""
    result = {}
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    matmul(a, a).block_until_ready()
    best = math.inf
    for _ in range(tries):
        t0 = time.perf_counter()
        matmul(a, a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    result["xla"] = 2 * n**3 / best / 1e9
    if importlib.util.find_spec("torch"):
        import torch

        b = torch.from_numpy(np.array(a))  # a writable copy
        torch.mm(b, b)
        best = math.inf
        for _ in range(tries):
            t0 = time.perf_counter()
            torch.mm(b, b)
            best = min(best, time.perf_counter() - t0)
        result["torch"] = 2 * n**3 / best / 1e9
    return result


def _load_averages() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def measure_throughput(specs, frameworks, *, repeats: int, key, quick: bool, log=print) -> dict:
    """Round-robin timed segments; returns ``{model: {framework: {"steps_per_s": [...], ...}}}``."""
    results, trainers = {}, {}
    for spec in specs:
        n = spec.batch_size * spec.segment_batches
        x, y = synthetic_data(spec, n, jax.random.fold_in(key, hash(spec.name) % 1000))
        for framework in frameworks:
            log(f"  warming up {framework} on {spec.name} ...")
            trainers[spec.name, framework] = make_trainer(framework, spec, x, y, jax.random.fold_in(key, 7))
            results.setdefault(spec.name, {})[framework] = {"steps_per_s": []}
    for r in range(repeats):
        for spec in specs:
            order = frameworks[r % len(frameworks):] + frameworks[: r % len(frameworks)]  # rotate who goes first
            for framework in order:
                seconds, steps = trainers[spec.name, framework].epoch()
                results[spec.name][framework]["steps_per_s"].append(steps / seconds)
                log(f"  repeat {r + 1}: {spec.name:9s} {framework:9s} {steps / seconds:8.1f} steps/s")
    for (name, framework), trainer in trainers.items():
        entry = results[name][framework]
        entry["compile_seconds"] = trainer.compile_seconds
        entry["losses"] = trainer.losses()
        entry["params"] = trainer.params()
    return results


def fnnet_default_mode(spec: Spec) -> str:
    """The epoch mode ``fnnet.fit`` picks for the model by itself (``epoch_mode="auto"``)."""
    x, y = synthetic_data(spec, spec.batch_size, jax.random.key(0))
    _, history = fnnet.fit(spec.fnnet_model(), LOSS, optax.adam(LEARNING_RATE), (x, y), epochs=1,
                           options=fnnet.TrainOptions(max_steps=1),
                           batch_size=spec.batch_size, key=jax.random.key(0), verbose=0)
    return history.epoch_mode


def check_results(specs, results) -> list[str]:
    """Correctness of a run: every loss finite, every framework's network has fnnet's parameter count."""
    problems = []
    for spec in specs:
        fnnet_entries = [e for f, e in results[spec.name].items() if f.startswith("fnnet_")]
        expected = fnnet_entries[0]["params"] if fnnet_entries else None
        for framework, entry in results[spec.name].items():
            if not all(math.isfinite(v) for v in entry["losses"]) or not entry["losses"]:
                problems.append(f"{spec.name}/{framework}: non-finite or missing losses {entry['losses']}")
            if expected is not None and entry["params"] != expected:
                problems.append(f"{spec.name}/{framework}: {entry['params']} parameters, fnnet has {expected}")
    return problems


# ----------------------------------------------------------------------------------------------
# Time to accuracy on real MNIST

TTA_TARGETS = {"mlp": (0.98, 20), "deep_cnn": (0.99, 8)}  # target test accuracy, epoch cap
# The faster Flax variant of each model (lax.scan collapses with XLA's CPU convolutions).
TTA_FLAX = {"mlp": "flax_scan", "deep_cnn": "flax_step"}


def _shared_data_dir() -> Optional[Path]:
    for candidate in (os.environ.get("FNNET_DATA_DIR"), os.environ.get("FNNET_SHARED_DATA"),
                      Path(__file__).resolve().parents[1] / ".." / "shared" / "data"):
        if candidate and (Path(candidate) / "mnist").is_dir():
            return Path(candidate)
    return None


def time_to_accuracy(spec: Spec, framework: str, data, *, key) -> dict:
    """Trains on MNIST until the test accuracy reaches the target; seconds exclude compilation."""
    target, max_epochs = TTA_TARGETS[spec.name]
    x, y, x_test, y_test = data
    if framework == "fnnet":  # fit's default epoch mode
        trainer = FnnetTrainer(spec, x, y, key, validation=(x_test, y_test))
        # fit's epoch times include its per-epoch test evaluation; compile that first, as the peers'
        # warm-up does, so that the first epoch's time holds no compilation
        t0 = time.perf_counter()
        init_state = fnnet.train.create_train_state(trainer.model, optax.adam(LEARNING_RATE), key, x[:1])
        fnnet.evaluate(trainer.model, init_state, x_test, y_test, loss=LOSS, metrics=["accuracy"])
        eval_compile_seconds = time.perf_counter() - t0
        history = trainer.fit(max_epochs, callbacks=[LambdaCallback(on_epoch_end=lambda e, logs, s: logs["val_accuracy"] >= target)])
        return {"seconds": sum(history.epoch_times), "epochs": len(history.epochs), "accuracy": history["val_accuracy"][-1],
                "compile_seconds": history.compile_time + eval_compile_seconds,
                "reached": history["val_accuracy"][-1] >= target, "mode": history.epoch_mode}
    trainer = make_trainer(framework, spec, x, y, key)
    seconds, accuracy, epochs = 0.0, 0.0, 0
    while epochs < max_epochs and accuracy < target:
        t0 = time.perf_counter()
        trainer.epoch()
        accuracy = trainer.accuracy(x_test, y_test)
        seconds += time.perf_counter() - t0
        epochs += 1
    return {"seconds": seconds, "epochs": epochs, "accuracy": accuracy, "compile_seconds": trainer.compile_seconds,
            "reached": accuracy >= target}


def measure_time_to_accuracy(specs, frameworks, data_dir: Path, *, key, log=print) -> dict:
    from fnnet.data import load, scale_pixels

    mnist = load("mnist", data_dir=data_dir)
    data = (scale_pixels(mnist.x_train), mnist.y_train, scale_pixels(mnist.x_test), mnist.y_test)
    results = {}
    for spec in specs:
        if spec.name not in TTA_TARGETS:
            continue
        wanted = ["torch", "torch_1t", TTA_FLAX[spec.name]]
        fnnet_wanted = ["fnnet"] if any(f.startswith("fnnet_") for f in frameworks) else []
        for framework in fnnet_wanted + [f for f in wanted if f in frameworks]:
            log(f"  time to accuracy: {spec.name} {framework} ...")
            results[spec.name, framework] = time_to_accuracy(spec, framework, data, key=key)
            log(f"    {results[spec.name, framework]}")
    return results


# ----------------------------------------------------------------------------------------------
# Report


def _spread(values, digits: int = 1) -> str:
    """``median [min–max]`` of ``values``."""
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}–{max(values):.{digits}f}]"


def throughput_table(specs, results, default_modes: dict, flops: dict, peak: float) -> str:
    """Markdown table; the ratio is taken within each repeat (the segments of a repeat ran back to back,
    under the same load), then summarized as median [min–max] over the repeats."""
    lines = [
        "| model (batch) | framework | steps/s median [min–max] | fnnet default ÷ framework | GFLOP/s | % of fp32 matmul peak |",
        "|---|---|---|---|---|---|",
    ]
    for spec in specs:
        reference = f"fnnet_{default_modes[spec.name]}"
        reference_runs = results[spec.name].get(reference, {}).get("steps_per_s")
        for framework, entry in results[spec.name].items():
            runs = entry["steps_per_s"]
            if framework == reference or reference_runs is None:
                ratio = "—"
            else:
                ratio = _spread([a / b for a, b in zip(reference_runs, runs)], digits=2) + "x"
            gflops = flops[spec.name] * statistics.median(runs) / 1e9
            title = FRAMEWORK_TITLES[framework] + (" (**fit's default**)" if framework == reference else "")
            lines.append(
                f"| {spec.title} ({spec.batch_size}) | {title} | {_spread(runs)} | {ratio} | "
                f"{gflops:.1f} | {100 * gflops / peak:.0f}% |"
            )
    return "\n".join(lines)


def tta_table(specs, results) -> str:
    lines = [
        "| model (batch) | framework | target | reached | epochs | seconds (train + test eval) | compile s |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in specs:
        for (name, framework), r in results.items():
            if name != spec.name:
                continue
            title = f"fnnet `fit` (default: {r['mode']})" if framework == "fnnet" else FRAMEWORK_TITLES[framework]
            reached = "yes" if r["reached"] else f"no ({r['accuracy']:.4f})"
            lines.append(
                f"| {spec.title} ({spec.batch_size}) | {title} | {TTA_TARGETS[name][0]:.0%} | {reached} | "
                f"{r['epochs']} | {r['seconds']:.1f} | {r['compile_seconds']:.1f} |"
            )
    return "\n".join(lines)


def _versions(frameworks) -> str:
    parts = [f"jax {jax.__version__}", f"fnnet {fnnet.__version__}" if hasattr(fnnet, "__version__") else "fnnet"]
    for module in sorted({_OPTIONAL_MODULES[f] for f in frameworks if f in _OPTIONAL_MODULES}):
        parts.append(f"{module} {__import__(module).__version__}")
    return ", ".join(parts)


def _quick_spec(spec: Spec) -> Spec:
    return dataclasses.replace(spec, batch_size=4, segment_batches=2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few small batches per model and framework; checks, no timing")
    parser.add_argument("--models", default=",".join(SPECS), help=f"comma-separated subset of {','.join(SPECS)}")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help=f"comma-separated subset of {','.join(FRAMEWORKS)}")
    parser.add_argument("--repeats", type=int, default=3, help="timed segments per model and framework")
    parser.add_argument("--no-tta", action="store_true", help="skip time to accuracy on MNIST")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding mnist/ (time to accuracy)")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    args = parser.parse_args(argv)
    for name in args.models.split(","):
        if name not in SPECS:
            parser.error(f"--models: unknown model {name!r}; known: {', '.join(SPECS)}")
    for name in args.frameworks.split(","):
        if name not in FRAMEWORKS:
            parser.error(f"--frameworks: unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}")
    specs = [SPECS[name] for name in args.models.split(",")]
    frameworks = available_frameworks(args.frameworks.split(","))
    skipped = sorted(set(args.frameworks.split(",")) - set(frameworks))
    key = jax.random.key(0)
    # Each fnnet.fit call compiles its programs; the cache makes the later calls of a run cheap.
    jax.config.update("jax_compilation_cache_dir", os.path.join(tempfile.gettempdir(), "fnnet-bench-xla-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    log = (lambda *a: None) if args.quick else (lambda *a: print(*a, file=sys.stderr, flush=True))

    if args.quick:
        specs = [_quick_spec(s) for s in specs]
        results = measure_throughput(specs, frameworks, repeats=1, key=key, quick=True, log=log)
        problems = check_results(specs, results)
        for spec in specs:
            print(f"{spec.name}: " + ", ".join(f"{f} loss {e['losses'][-1]:.3f}" for f, e in results[spec.name].items()))
        if skipped:
            print(f"skipped (not installed): {', '.join(skipped)}")
        for p in problems:
            print("PROBLEM:", p)
        return 1 if problems else 0

    default_modes = {spec.name: fnnet_default_mode(spec) for spec in specs}
    load_before = _load_averages()
    peak_before = matmul_peak()
    results = measure_throughput(specs, frameworks, repeats=args.repeats, key=key, quick=False, log=log)
    peak_after = matmul_peak()
    peaks = {k: max(peak_before[k], peak_after[k]) for k in peak_before}
    peak = max(peaks.values())
    flops = {spec.name: flops_per_step(spec) for spec in specs}
    load_after = _load_averages()
    problems = check_results(specs, results)

    report = [
        f"Command: `python benchmarks/peers.py {' '.join(argv if argv is not None else sys.argv[1:])}`".rstrip(),
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {_versions(frameworks)}; "
        f"load averages (1/5/15 min) {load_before} before, {load_after} after the throughput runs.",
        "fp32 matmul peak (2048², best of 5, before and after): "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()) + f"; the % column uses {peak:.0f}.",
        "FLOPs per step (XLA cost analysis, forward + backward + Adam): "
        + ", ".join(f"{s.name} {flops[s.name] / 1e6:.0f} MFLOP" for s in specs) + ".",
        "",
        f"Steps/s over {args.repeats} interleaved repeats (synthetic data, compilation excluded):",
        "",
        throughput_table(specs, results, default_modes, flops, peak),
    ]
    if skipped:
        report += ["", f"Not installed, skipped: {', '.join(skipped)}."]
    if not args.no_tta:
        data_dir = args.data_dir or _shared_data_dir()
        if data_dir is None:
            report += ["", "Time to accuracy skipped: no MNIST folder (--data-dir)."]
        else:
            tta = measure_time_to_accuracy(specs, frameworks, data_dir, key=key, log=log)
            report += ["", f"Time to accuracy on MNIST (one run each, load after: {_load_averages()}):", "", tta_table(specs, tta)]
    for p in problems:
        report.append(f"\nPROBLEM: {p}")
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
