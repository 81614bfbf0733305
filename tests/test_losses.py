"""fnnet.losses: the seed's worked numbers, numpy reference formulas, gradients, stability, errors."""
import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from fnnet import losses

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(6, 4)).astype(np.float32)
LABELS = np.array([0, 3, 1, 2, 3, 0])
ONE_HOT = np.eye(4, dtype=np.float32)[LABELS]
SOFT = RNG.dirichlet(np.ones(4), size=6).astype(np.float32)  # probability rows
BINARY_LOGITS = RNG.normal(size=(6, 1)).astype(np.float32)
BINARY_LABELS = np.array([0, 1, 1, 0, 1, 0], dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# Independent numpy formulas (float64)


def np_log_softmax(z):
    z = np.asarray(z, np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_softmax_ce(z, rows):
    return float(np.mean(-(np.asarray(rows, np.float64) * np_log_softmax(z)).sum(axis=-1)))


def np_sigmoid_bce(z, y):
    p = 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def np_hinge(scores, labels, margin=1.0):
    total = 0.0
    for s, y in zip(np.asarray(scores, np.float64), labels):
        total += sum(max(0.0, s[j] - s[y] + margin) for j in range(len(s)) if j != y)
    return total / len(labels)


# ----------------------------------------------------------------------------------------------
# The seed's worked examples (jhui, part 2)


def test_seed_softmax_example():
    np.testing.assert_allclose(losses.softmax(jnp.array([3.2, 0.8, 0.0])), [0.8838, 0.0802, 0.0360], atol=5e-5)


def test_seed_hinge_example_is_5_5():
    # scores (8, 14, 9.5, 10), true class 4 (index 3): 0 + 5 + 0.5
    assert float(losses.multiclass_hinge(np.array([[8.0, 14.0, 9.5, 10.0]]), np.array([3]))) == 5.5


def test_seed_entropy_example_is_1_5_bits():
    assert float(losses.entropy(np.array([0.25, 0.25, 0.5]))) == pytest.approx(1.5, abs=1e-6)


def test_seed_cross_entropy_example_and_kl_identity():
    y, y_hat = np.array([1.0, 0.0, 0.0]), np.array([0.88, 0.08, 0.04])
    assert float(losses.cross_entropy(y, y_hat, base=math.e)) == pytest.approx(-math.log(0.88), rel=1e-6)
    # D_KL(p || q) = H(p, q) - H(p), in any base.
    p, q = SOFT[0], SOFT[1]
    np.testing.assert_allclose(
        losses.kl_divergence(p, q), losses.cross_entropy(p, q) - losses.entropy(p), rtol=1e-5
    )
    np_kl_bits = float(np.sum(p * np.log2(p / q)))
    assert float(losses.kl_divergence(p, q)) == pytest.approx(np_kl_bits, rel=1e-5)


# ----------------------------------------------------------------------------------------------
# Values against numpy, jitted and not


class LossValuesTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_softmax_cross_entropy_int_one_hot_and_soft_labels(self):
        loss = self.variant(losses.softmax_cross_entropy)
        expected = np_softmax_ce(LOGITS, ONE_HOT)
        np.testing.assert_allclose(loss(LOGITS, LABELS), expected, rtol=1e-6)
        np.testing.assert_allclose(loss(LOGITS, ONE_HOT), expected, rtol=1e-6)
        np.testing.assert_allclose(loss(LOGITS, SOFT), np_softmax_ce(LOGITS, SOFT), rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_keras_categorical_names(self):
        expected = np_softmax_ce(LOGITS, ONE_HOT)
        for fn in (losses.categorical_crossentropy, losses.sparse_categorical_crossentropy):
            np.testing.assert_allclose(self.variant(fn)(LOGITS, LABELS), expected, rtol=1e-6)
        probs = np.exp(np_log_softmax(LOGITS))
        from_probs = self.variant(functools.partial(losses.categorical_crossentropy, from_logits=False))
        np.testing.assert_allclose(from_probs(probs.astype(np.float32), ONE_HOT), expected, rtol=1e-5)
        # Keras clips probabilities to [1e-7, 1 - 1e-7]: a zero probability of the true class costs -log(1e-7).
        zero_true = np.array([[0.0, 1.0]], np.float32)
        np.testing.assert_allclose(from_probs(zero_true, np.array([0])), -np.log(1e-7), rtol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_sigmoid_binary_cross_entropy_shapes(self):
        expected = np_sigmoid_bce(BINARY_LOGITS[:, 0], BINARY_LABELS)
        loss = self.variant(losses.sigmoid_binary_cross_entropy)
        np.testing.assert_allclose(loss(BINARY_LOGITS, BINARY_LABELS), expected, rtol=1e-6)  # (N,1) vs (N,)
        np.testing.assert_allclose(loss(BINARY_LOGITS, BINARY_LABELS[:, None]), expected, rtol=1e-6)
        np.testing.assert_allclose(loss(BINARY_LOGITS[:, 0], BINARY_LABELS), expected, rtol=1e-6)
        np.testing.assert_allclose(self.variant(losses.binary_crossentropy)(BINARY_LOGITS, BINARY_LABELS), expected,
                                   rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_binary_crossentropy_from_probabilities(self):
        probs = 1.0 / (1.0 + np.exp(-BINARY_LOGITS.astype(np.float64)))
        loss = self.variant(functools.partial(losses.binary_crossentropy, from_logits=False))
        np.testing.assert_allclose(loss(probs.astype(np.float32), BINARY_LABELS),
                                   np_sigmoid_bce(BINARY_LOGITS[:, 0], BINARY_LABELS), rtol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_multiclass_hinge(self):
        loss = self.variant(losses.multiclass_hinge)
        np.testing.assert_allclose(loss(LOGITS, LABELS), np_hinge(LOGITS, LABELS), rtol=1e-6)
        np.testing.assert_allclose(loss(LOGITS, ONE_HOT), np_hinge(LOGITS, LABELS), rtol=1e-6)
        wide = self.variant(functools.partial(losses.multiclass_hinge, margin=2.0))
        np.testing.assert_allclose(wide(LOGITS, LABELS), np_hinge(LOGITS, LABELS, margin=2.0), rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_mse_and_mae(self):
        pred, target = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))
        np.testing.assert_allclose(self.variant(losses.mse)(pred, target), np.mean((pred - target) ** 2), rtol=1e-6)
        np.testing.assert_allclose(self.variant(losses.mae)(pred, target), np.mean(np.abs(pred - target)), rtol=1e-6)
        # (N, 1) predictions with (N,) targets: no silent (N, N) broadcast.
        column, flat = pred[:, :1], target[:, 0]
        np.testing.assert_allclose(self.variant(losses.mse)(column, flat), np.mean((column[:, 0] - flat) ** 2),
                                   rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_information_theory_rows(self):
        p, q = SOFT[:3].astype(np.float64), SOFT[3:].astype(np.float64)
        np.testing.assert_allclose(self.variant(losses.entropy)(p), np.mean(-(p * np.log2(p)).sum(-1)), rtol=1e-5)
        np.testing.assert_allclose(self.variant(losses.cross_entropy)(p, q), np.mean(-(p * np.log2(q)).sum(-1)),
                                   rtol=1e-5)
        np.testing.assert_allclose(self.variant(losses.kl_divergence)(p, q),
                                   np.mean((p * np.log2(p / q)).sum(-1)), rtol=1e-5)


def test_zero_probabilities_count_as_zero_in_entropy():
    assert float(losses.entropy(np.array([0.0, 0.5, 0.5]))) == pytest.approx(1.0)
    assert float(losses.kl_divergence(np.array([0.0, 1.0]), np.array([0.5, 0.5]))) == pytest.approx(1.0)


def test_kl_divergence_of_one_hot_rows_is_finite_where_p_and_q_are_zero():
    one_hot = np.eye(3)
    assert float(losses.kl_divergence(one_hot, one_hot)) == 0.0  # was NaN: 0 * log(0 / 0)
    q = np.array([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75], [0.1, 0.0, 0.9]])
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    expected = np.mean([np.log2(1 / 0.5), np.log2(1 / 0.25), np.log2(1 / 0.9)])  # only p_i = 1 terms count
    assert float(losses.kl_divergence(p, q)) == pytest.approx(expected, rel=1e-6)
    grad_p, grad_q = jax.grad(lambda p, q: losses.kl_divergence(p, q), (0, 1))(one_hot, one_hot)
    assert np.isfinite(grad_p).all() and np.isfinite(grad_q).all()
    assert float(losses.kl_divergence(np.array([0.5, 0.5]), np.array([1.0, 0.0]))) == np.inf  # p > 0 = q


# ----------------------------------------------------------------------------------------------
# Gradients: finite differences in float64


GRAD_CASES = {
    "softmax_ce_int": lambda z: losses.softmax_cross_entropy(z, LABELS),
    "softmax_ce_soft": lambda z: losses.softmax_cross_entropy(z, SOFT.astype(np.float64)),
    "categorical_from_probs": lambda z: losses.categorical_crossentropy(jax.nn.softmax(z), LABELS, from_logits=False),
    "sigmoid_bce": lambda z: losses.sigmoid_binary_cross_entropy(z[:, :1], BINARY_LABELS),
    "binary_from_probs": lambda z: losses.binary_crossentropy(jax.nn.sigmoid(z[:, 0]), BINARY_LABELS,
                                                              from_logits=False),
    "hinge": lambda z: losses.multiclass_hinge(z, LABELS),
    "mse": lambda z: losses.mse(z, SOFT.astype(np.float64)),
    "mae": lambda z: losses.mae(z, SOFT.astype(np.float64)),
    "entropy": lambda z: losses.entropy(jax.nn.softmax(z)),
    "cross_entropy_q": lambda z: losses.cross_entropy(SOFT.astype(np.float64), jax.nn.softmax(z)),
    "kl_q": lambda z: losses.kl_divergence(SOFT.astype(np.float64), jax.nn.softmax(z)),
    "kl_p": lambda z: losses.kl_divergence(jax.nn.softmax(z), SOFT.astype(np.float64)),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradients_match_finite_differences(case):
    with jax.enable_x64(True):
        z = jnp.asarray(LOGITS, jnp.float64)
        # The hinge and MAE have kinks; LOGITS are a generic point, at distance > 1e-3 from all of them.
        check_grads(jax.jit(GRAD_CASES[case]), (z,), order=1, modes=("rev",), eps=1e-6, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("penalty", [losses.l2_penalty, functools.partial(losses.l2_penalty, half=True),
                                     losses.l1_penalty])
def test_penalty_gradients_match_finite_differences(penalty):
    with jax.enable_x64(True):
        params = {"dense_0": {"kernel": jnp.asarray(LOGITS, jnp.float64), "bias": jnp.ones(4, jnp.float64)}}
        check_grads(jax.jit(lambda p: penalty(p, 0.3)), (params,), order=1, modes=("rev",), eps=1e-6,
                    atol=1e-6, rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Numerical stability


HUGE = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]], np.float32)


@pytest.mark.parametrize(
    "loss, labels, expected",
    [
        (losses.softmax_cross_entropy, np.array([1, 1]), 1000.0),  # (2000 + 0) / 2
        (losses.softmax_cross_entropy, np.eye(3, dtype=np.float32)[[1, 1]], 1000.0),
        # row 0: (1000 + 1000 + 1) + (0 + 1000 + 1); row 1: both margins negative
        (losses.multiclass_hinge, np.array([1, 1]), 1501.0),
    ],
)
def test_huge_logits_give_finite_exact_losses_and_gradients(loss, labels, expected):
    value, grad = jax.value_and_grad(loss)(HUGE, labels)
    assert float(value) == pytest.approx(expected)
    assert bool(jnp.all(jnp.isfinite(grad)))


def test_huge_binary_logits_are_stable():
    logits, labels = np.array([1000.0, -1000.0, 1000.0], np.float32), np.array([0.0, 1.0, 1.0], np.float32)
    for loss in (losses.sigmoid_binary_cross_entropy, losses.binary_crossentropy):
        value, grad = jax.value_and_grad(loss)(logits, labels)
        assert float(value) == pytest.approx(2000.0 / 3)
        chex.assert_tree_all_finite(grad)


# ----------------------------------------------------------------------------------------------
# Penalties on parameter subsets, against hand sums


def _params():
    return {
        "dense_0": {"kernel": jnp.array([[1.0, -2.0], [0.0, 3.0]]), "bias": jnp.array([5.0, 5.0])},
        "batchnorm_0": {"scale": jnp.array([2.0, 2.0]), "bias": jnp.array([1.0, 1.0])},
        "dense_1": {"kernel": jnp.array([[-1.0], [0.5]]), "bias": jnp.array([7.0])},
    }


def test_l2_penalty_kernels_only_keras_and_tf_conventions():
    kernels_sq = (1 + 4 + 0 + 9) + (1 + 0.25)
    assert float(losses.l2_penalty(_params(), 0.1)) == pytest.approx(0.1 * kernels_sq)
    assert float(losses.l2_penalty(_params(), 0.1, half=True)) == pytest.approx(0.1 * kernels_sq / 2)


def test_penalties_on_named_layers_and_all_leaves():
    assert float(losses.l2_penalty(_params(), 1.0, layers=["dense_1"])) == pytest.approx(1.25)
    assert float(losses.l1_penalty(_params(), 2.0, layers="dense_0")) == pytest.approx(2.0 * 6.0)
    assert float(losses.l1_penalty(_params(), 1.0, layers=["batchnorm_0"], leaves=None)) == pytest.approx(6.0)
    assert float(losses.l2_penalty(_params(), 1.0, leaves=None)) == pytest.approx(14 + 50 + 8 + 2 + 1.25 + 49)


def test_l0_count_counts_nonzero_selected_weights():
    assert int(losses.l0_count(_params())) == 5  # one zero in dense_0's kernel
    assert int(losses.l0_count(_params(), tol=1.0)) == 2  # |w| > 1: -2 and 3
    assert int(losses.l0_count(_params(), leaves=None)) == 12
    assert jax.jit(losses.l0_count)(_params()).dtype == jnp.int32


def test_penalty_inside_a_jitted_loss_is_differentiable():
    grad = jax.jit(jax.grad(lambda p: losses.l2_penalty(p, 0.5)))(_params())
    np.testing.assert_allclose(grad["dense_0"]["kernel"], 2 * 0.5 * _params()["dense_0"]["kernel"])
    np.testing.assert_allclose(grad["dense_0"]["bias"], 0.0)


# ----------------------------------------------------------------------------------------------
# Registry and errors


def test_get_by_name_and_pass_through():
    assert losses.get("categorical_crossentropy") is losses.categorical_crossentropy
    assert losses.get("hinge") is losses.multiclass_hinge
    assert losses.get("mse") is losses.mse

    def custom(outputs, targets):
        return jnp.sum(outputs)

    assert losses.get(custom) is custom
    with pytest.raises(ValueError, match=r"loss must be one of \[.*'binary_crossentropy'.*got 'crossentropy'"):
        losses.get("crossentropy")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: losses.softmax_cross_entropy(LOGITS, LABELS[:5]), "mismatched batch sizes"),
        (lambda: losses.softmax_cross_entropy(LOGITS, np.eye(3)[LABELS % 3]), r"labels rows must have 4 columns"),
        (lambda: losses.softmax_cross_entropy(LOGITS[0], LABELS[:1]), "logits must have 2 dimensions"),
        (lambda: losses.softmax_cross_entropy(LOGITS, LABELS[:, None, None]), "labels must have 1 or 2 dimensions"),
        (lambda: losses.softmax_cross_entropy(LOGITS, LABELS + 1), r"labels must hold integer class labels in \[0, 4\)"),
        (lambda: losses.softmax_cross_entropy(LOGITS, -ONE_HOT), r"labels must lie in \[0.0, 1.0\]"),
        (lambda: losses.multiclass_hinge(LOGITS, LABELS, margin=-1.0), "margin must be"),
        (lambda: losses.sigmoid_binary_cross_entropy(BINARY_LOGITS, BINARY_LABELS[:4]), "labels must have the shape"),
        (lambda: losses.sigmoid_binary_cross_entropy(BINARY_LOGITS, BINARY_LABELS * 2), r"labels must be binary labels 0/1"),
        (lambda: losses.binary_crossentropy(BINARY_LOGITS, BINARY_LABELS, from_logits=False), r"outputs must lie in"),
        (lambda: losses.mse(np.ones((4, 2)), np.ones((4, 3))), r"targets must have the shape of predictions \(4, 2\)"),
        (lambda: losses.entropy(np.array([0.5, 0.6])), "the row sums of p must lie in"),
        (lambda: losses.cross_entropy(SOFT[0], SOFT[:2]), "q must have the shape of p"),
        (lambda: losses.entropy(SOFT[0], base=1.0), "base must be a positive number other than 1"),
        (lambda: losses.l2_penalty(_params(), -1.0), "scale must be"),
        (lambda: losses.l2_penalty(_params(), 1.0, layers=["conv2d_0"]), "not found in params"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_static_shape_errors_also_raise_under_jit():
    with pytest.raises(ValueError, match="mismatched batch sizes"):
        jax.jit(losses.softmax_cross_entropy)(LOGITS, LABELS[:5])
