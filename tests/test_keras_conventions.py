"""fnnet's claims about Keras 3 and PyTorch, against their update rules and formulas written out in numpy
(Keras and PyTorch are not test dependencies; the formulas are those of Keras 3.15's and PyTorch's sources
and documentation). DESIGN.md, "Conventions that differ from Keras 3 and PyTorch", lists them all."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fnnet import losses, optim
from fnnet import models as M

STEPS = 12
SHAPES = {"kernel": (3, 2), "bias": (2,)}


def _gradient(params: dict) -> dict:
    """The gradient of a fixed quadratic-plus-sine loss: varied, sign-changing, and depending on params."""
    return {name: 0.3 * w + np.sin(np.arange(w.size).reshape(w.shape) + 1.0) for name, w in params.items()}


def _start() -> dict:
    rng = np.random.RandomState(0)
    return {name: rng.randn(*shape) for name, shape in SHAPES.items()}


def run_fnnet(tx) -> list[dict]:
    """Every step's params of ``tx`` on ``{"dense_0": {kernel, bias}}`` in float64."""
    with jax.enable_x64(True):
        params = {"dense_0": {k: jnp.asarray(v) for k, v in _start().items()}}
        state, path = tx.init(params), []
        for _ in range(STEPS):
            grads = {"dense_0": {k: jnp.asarray(v) for k, v in _gradient(jax.device_get(params["dense_0"])).items()}}
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            path.append({k: np.asarray(v) for k, v in params["dense_0"].items()})
    return path


def run_numpy(rule) -> list[dict]:
    """Every step's params of ``rule(name, w, g, slots, t) -> w`` (numpy, per variable)."""
    params, slots, path = _start(), {name: {} for name in SHAPES}, []
    for t in range(1, STEPS + 1):
        grads = _gradient(params)
        params = {name: rule(name, params[name], grads[name], slots[name], t) for name in SHAPES}
        path.append(dict(params))
    return path


def assert_paths_close(ours, theirs, **tolerance):
    for a, b in zip(ours, theirs, strict=True):
        for name in SHAPES:
            np.testing.assert_allclose(a[name], b[name], **tolerance)


def keras3_rmsprop(name, w, g, s, t, lr=0.01, rho=0.9, eps=1e-7):
    # keras/src/optimizers/rmsprop.py: velocity = rho*v + (1-rho)*g^2; w -= lr*g / sqrt(velocity + eps)
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g**2
    return w - lr * g / np.sqrt(s["v"] + eps)


def keras3_adagrad(name, w, g, s, t, lr=0.01, initial=0.1, eps=1e-7):
    # keras/src/optimizers/adagrad.py: accumulator starts at 0.1; acc += g^2; w -= lr*g / sqrt(acc + eps)
    s["acc"] = s.get("acc", initial) + g**2
    return w - lr * g / np.sqrt(s["acc"] + eps)


def keras3_adam(name, w, g, s, t, lr=0.01, b1=0.9, b2=0.999, eps=1e-7, weight_decay=0.0, decayed=("kernel", "bias")):
    # keras/src/optimizers/adam.py ("epsilon hat" form) after base_optimizer._apply_weight_decay
    if weight_decay and name in decayed:
        w = w - w * weight_decay * lr
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - b1)
    s["v"] = s.get("v", 0.0) + (g**2 - s.get("v", 0.0)) * (1 - b2)
    alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    return w - s["m"] * alpha / (np.sqrt(s["v"]) + eps)


def test_rmsprop_with_eps_1e7_is_keras3_rmsprop_exactly():
    # fnnet's default placement (eps inside the root) is Keras 3's; only the default eps differs (1e-8 here).
    assert_paths_close(run_fnnet(optim.optimizer("rmsprop", 0.01, eps=1e-7)), run_numpy(keras3_rmsprop),
                       rtol=1e-12, atol=1e-14)
    outside = run_fnnet(optim.optimizer("rmsprop", 0.01, eps=1e-7, eps_in_sqrt=False))  # Keras 2 / PyTorch
    assert not np.allclose(outside[-1]["kernel"], run_numpy(keras3_rmsprop)[-1]["kernel"], rtol=1e-9, atol=0)


def test_adagrad_defaults_are_keras3_adagrad_exactly():
    assert_paths_close(run_fnnet(optim.optimizer("adagrad", 0.01)), run_numpy(keras3_adagrad), rtol=1e-12, atol=1e-14)


def test_adam_differs_from_keras3_only_by_where_eps_goes():
    # Without eps the two rules are one; with it, Keras 3 adds eps to the uncorrected sqrt(v) ("epsilon hat").
    tiny = {"eps": 1e-300}
    keras_no_eps = run_numpy(lambda *a: keras3_adam(*a, **tiny))
    assert_paths_close(run_fnnet(optim.optimizer("adam", 0.01, eps=1e-300)), keras_no_eps, rtol=1e-12, atol=1e-14)
    ours, theirs = run_fnnet(optim.optimizer("adam", 0.01, eps=1e-3)), run_numpy(lambda *a: keras3_adam(*a, eps=1e-3))
    assert not np.allclose(ours[0]["kernel"], theirs[0]["kernel"], rtol=1e-6, atol=0)


def test_adamw_decays_kernels_only_where_keras3_decays_every_variable():
    ours = run_fnnet(optim.optimizer("adamw", 0.01, eps=1e-300, weight_decay=0.1))
    kernels_only = run_numpy(lambda *a: keras3_adam(*a, eps=1e-300, weight_decay=0.1, decayed=("kernel",)))
    assert_paths_close(ours, kernels_only, rtol=1e-12, atol=1e-14)  # the same decoupled step, w -= lr*wd*w
    every_variable = run_numpy(lambda *a: keras3_adam(*a, eps=1e-300, weight_decay=0.1))  # Keras 3's default
    assert not np.allclose(ours[-1]["bias"], every_variable[-1]["bias"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(ours[-1]["kernel"], every_variable[-1]["kernel"], rtol=1e-12)
    # decay_mask=all True gives Keras 3's behaviour.
    everything = optim.optimizer("adamw", 0.01, eps=1e-300, weight_decay=0.1,
                                 decay_mask=lambda params: jax.tree.map(lambda _: True, params))
    assert_paths_close(run_fnnet(everything), every_variable, rtol=1e-12, atol=1e-14)


def test_gelu_is_the_tanh_approximation_not_keras3_and_pytorchs_exact_erf():
    erf = np.vectorize(math.erf)
    z = np.linspace(-4, 4, 81)
    tanh_form = 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))
    exact = 0.5 * z * (1 + erf(z / np.sqrt(2)))
    ours = np.asarray(M.get_activation("gelu")(jnp.asarray(z, jnp.float32)))
    np.testing.assert_allclose(ours, tanh_form, atol=1e-6)
    assert np.max(np.abs(ours - exact)) > 1e-4


def test_leaky_relu_slope_is_pytorchs_0_01_not_keras3s():
    z = jnp.asarray([-2.0, 3.0])
    np.testing.assert_allclose(M.get_activation("leaky_relu")(z), [-0.02, 3.0], rtol=1e-6)


def test_multiclass_hinge_is_c_times_torch_multi_margin_loss_and_hinge_is_multiclass():
    scores = np.array([[0.2, 1.5, -0.3, 0.9], [2.0, 0.1, 0.4, -1.0]])
    labels = np.array([1, 2])
    n, c = scores.shape
    # torch.nn.MultiMarginLoss (p=1, margin=1): mean over the batch of sum_{j != y} max(0, 1 - s_y + s_j) / C
    margins = np.maximum(0, 1 - scores[np.arange(n), labels][:, None] + scores)
    margins[np.arange(n), labels] = 0
    torch_value = np.mean(margins.sum(1) / c)
    assert float(losses.multiclass_hinge(scores, labels)) == pytest.approx(c * torch_value, rel=1e-6)
    assert losses.get("hinge") is losses.multiclass_hinge  # Keras 3's "hinge" is the binary mean(max(0, 1 - y*s))


def test_l2_penalty_scaling_against_keras_regularizer_and_pytorch_weight_decay():
    # optimizer(l2=lam) adds lam*w to the gradient: (lam/2)*||w||^2 in the loss, PyTorch's SGD(weight_decay=lam);
    # Keras' kernel_regularizer=l2(s) adds s*||w||^2, so it is l2=2*s.
    s = 0.01
    ours = run_fnnet(optim.optimizer("sgd", 0.1, l2=2 * s))

    def keras_sgd_with_l2_regularizer(name, w, g, slots, t, lr=0.1):
        return w - lr * (g + (2 * s * w if name == "kernel" else 0.0))  # d/dw of s*||w||^2 on the kernel

    assert_paths_close(ours, run_numpy(keras_sgd_with_l2_regularizer), rtol=1e-12, atol=1e-14)
