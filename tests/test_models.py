"""Layers, Sequential, builders and summary: shapes, semantics against numpy, gradients, errors."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized
from jax.test_util import check_grads

from fnnet import initializers
from fnnet import models as M

KEY = jax.random.key(0)


# ---------------------------------------------------------------------------------------------
# Parameter counts: the seeds' Keras summaries


@pytest.mark.parametrize(
    "builder, sample_shape, expected",
    [
        (M.logistic_regression, (1, 784), 7_850),
        (lambda: M.mlp([50, 10]), (1, 784), 39_760),
        (lambda: M.mlp([200, 10]), (1, 784), 159_010),
        (lambda: M.mlp([1000, 10]), (1, 784), 795_010),
        (lambda: M.mlp([500, 500, 10]), (1, 784), 648_010),
        (M.cs4487_shallow_cnn, (1, 28, 28, 1), 98_820),
        (M.cs4487_deep_cnn, (1, 28, 28, 1), 286_940),
        (lambda: M.cs4487_deep_cnn(dropout=0.5, l2=1e-4), (1, 28, 28, 1), 286_940),
        (M.workshop_mnist_dense, (1, 784), 79_510),
    ],
)
def test_param_counts_match_the_seeds(builder, sample_shape, expected):
    result = M.summary(builder(), np.zeros(sample_shape, np.float32), print_fn=None)
    assert result.total_params == expected
    assert result.non_trainable_params == 0
    assert f"Total params: {expected:,}" in str(result)


def test_summary_rows_follow_the_cs4487_deep_cnn_table():
    rows = M.summary(M.cs4487_deep_cnn(), np.zeros((1, 28, 28, 1)), print_fn=None).rows
    # The seed's per-layer counts (channels-first there, NHWC here: same numbers).
    assert [r.params for r in rows] == [260, 10_040, 80_080, 0, 196_050, 510]
    assert [r.output_shape[1:] for r in rows] == [(14, 14, 10), (7, 7, 40), (7, 7, 80), (3920,), (50,), (10,)]


def test_summary_counts_batchnorm_statistics_as_non_trainable():
    model = M.Sequential([M.Dense(8), M.BatchNorm(), M.Dense(2)])
    result = M.summary(model, np.zeros((1, 3)), print_fn=None)
    assert result.trainable_params == (3 * 8 + 8) + (8 + 8) + (8 * 2 + 2)
    assert result.non_trainable_params == 16  # moving mean and variance


# ---------------------------------------------------------------------------------------------
# Builders: shapes, jitted and not


BUILDERS = {
    "logistic_regression": (M.logistic_regression, (4, 28, 28), (4, 10)),
    "keras_mnist_mlp": (M.keras_mnist_mlp, (4, 28, 28), (4, 10)),
    "cs4487_shallow_cnn": (M.cs4487_shallow_cnn, (4, 28, 28, 1), (4, 10)),
    "cs4487_deep_cnn": (lambda: M.cs4487_deep_cnn(dropout=0.5), (4, 28, 28, 1), (4, 10)),
    "workshop_mnist_cnn": (M.workshop_mnist_cnn, (4, 28, 28, 1), (4, 10)),
    "workshop_cifar_cnn": (M.workshop_cifar_cnn, (2, 32, 32, 3), (2, 10)),
    "jhui_fc_net": (M.jhui_fc_net, (4, 32, 32, 3), (4, 10)),
    "jhui_mnist_mlp": (M.jhui_mnist_mlp, (4, 784), (4, 10)),
    "planar_net": (M.planar_net, (5, 2), (5, 1)),
    "quadratic_logistic_regression": (M.quadratic_logistic_regression, (5, 2), (5, 1)),
    "polynomial_regression": (lambda: M.polynomial_regression(9, x_scale=20.0), (5, 1), (5, 1)),
    "autoencoder": (M.autoencoder, (3, 784), (3, 784)),
    "mlp": (lambda: M.mlp([8, 8, 4], dropout=0.1, activation="tanh"), (4, 5, 3), (4, 4)),
    "workshop_mnist_dense": (M.workshop_mnist_dense, (4, 784), (4, 10)),
}


class BuilderShapesTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in sorted(BUILDERS)])
    def test_builders_output_shapes_in_train_and_eval_mode(self, name):
        builder, in_shape, out_shape = BUILDERS[name]
        model = builder()
        x = jax.random.uniform(KEY, in_shape)
        params = model.init(KEY, x)

        @self.variant
        def forward(params, x, key):
            return model.apply(params, x), model.apply(params, x, key=key, train=True)

        y_eval, y_train = forward(params, x, jax.random.key(1))
        chex.assert_shape([y_eval, y_train], out_shape)
        chex.assert_type([y_eval, y_train], jnp.float32)
        chex.assert_tree_all_finite((y_eval, y_train))


# Every layer (the activations as one chain): (layers, input shape, output shape in eval and train mode).
LAYERS = {
    "dense": ([M.Dense(5, "relu")], (3, 2, 4), (3, 2, 5)),
    "conv_same_s2": ([M.Conv2D(4, 3, strides=2, padding="same")], (2, 9, 8, 3), (2, 5, 4, 4)),
    "conv_valid_s2": ([M.Conv2D(4, (3, 2), strides=2)], (2, 9, 8, 3), (2, 4, 4, 4)),
    "maxpool": ([M.MaxPool2D(2)], (2, 9, 8, 3), (2, 4, 4, 3)),
    "flatten_reshape": ([M.Flatten(), M.Reshape((12, 5))], (2, 3, 4, 5), (2, 12, 5)),
    "dropout": ([M.Dropout(0.5)], (3, 4), (3, 4)),
    "batchnorm": ([M.BatchNorm()], (2, 5, 5, 3), (2, 5, 5, 3)),
    "maxout": ([M.Maxout(3, pieces=4)], (3, 4), (3, 3)),
    "activations": ([M.Activation(a) for a in ("relu", "tanh", "sigmoid", "leaky_relu", "softmax")], (3, 4), (3, 4)),
}


class LayerShapesTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in sorted(LAYERS)])
    def test_layer_output_shapes_in_train_and_eval_mode(self, name):
        layers, in_shape, out_shape = LAYERS[name]
        model = M.Sequential(layers)
        x = jax.random.normal(KEY, in_shape)
        params, state = model.init_with_state(KEY, x)

        @self.variant
        def forward(params, state, x, key):
            return model.apply(params, x, state=state), model.apply(params, x, key=key, train=True, state=state)

        (y_eval, state_eval), (y_train, state_train) = forward(params, state, x, jax.random.key(1))
        chex.assert_shape([y_eval, y_train], out_shape)
        chex.assert_type([y_eval, y_train], jnp.float32)
        chex.assert_trees_all_equal_shapes_and_dtypes(state_eval, state_train, state)


def test_param_tree_uses_keras_like_layer_names():
    params = M.cs4487_deep_cnn(dropout=0.5).init(KEY, np.zeros((1, 28, 28, 1)))
    assert sorted(params) == ["conv2d_0", "conv2d_1", "conv2d_2", "dense_0", "dense_1"]
    chex.assert_shape(params["conv2d_1"]["kernel"], (5, 5, 10, 40))  # HWIO
    chex.assert_shape(params["dense_0"]["kernel"], (3920, 50))


def test_nested_models_keep_their_names():
    model = M.autoencoder(input_dim=20, hidden=(8,), code=3)
    params = model.init(KEY, np.zeros((1, 20)))
    assert sorted(params) == ["decoder", "encoder"]
    encoder = model.layers[0]
    codes = encoder.apply(params["encoder"], np.ones((2, 20)))
    chex.assert_shape(codes, (2, 3))


def test_integer_inputs_are_cast_to_float32():
    model = M.logistic_regression()
    params = model.init(KEY, np.zeros((1, 28, 28), np.uint8))
    chex.assert_type(model.apply(params, np.ones((2, 28, 28), np.uint8)), jnp.float32)


# ---------------------------------------------------------------------------------------------
# Layer semantics against independent numpy code


def _init_apply(layer, x, *, train=False, key=None):
    model = M.Sequential([layer])
    params, state = model.init_with_state(KEY, x)
    y, new_state = model.apply(params, x, key=key, train=train, state=state)
    return params, state, y, new_state


def test_dense_is_affine_then_activation():
    x = np.random.RandomState(0).randn(3, 4).astype(np.float32)
    params, _, y, _ = _init_apply(M.Dense(5, "tanh"), x)
    p = params["dense_0"]
    np.testing.assert_allclose(y, np.tanh(x @ np.asarray(p["kernel"]) + np.asarray(p["bias"])), rtol=1e-5, atol=1e-6)


def _numpy_conv_same_or_valid(x, w, b, stride, padding):
    """Direct cross-correlation (what Keras/TF call convolution), NHWC x HWIO, TF 'SAME' padding."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    if padding == "same":
        oh, ow = -(-h // stride), -(-wd // stride)
        ph = max((oh - 1) * stride + kh - h, 0)
        pw = max((ow - 1) * stride + kw - wd, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.einsum("nhwc,hwcf->nf", patch, w)
    return out + b


@pytest.mark.parametrize("stride, padding", [(1, "valid"), (2, "same"), (1, "same"), (2, "valid")])
def test_conv2d_matches_direct_cross_correlation(stride, padding):
    x = np.random.RandomState(1).randn(2, 7, 6, 3).astype(np.float32)
    params, _, y, _ = _init_apply(M.Conv2D(4, 3, strides=stride, padding=padding), x)
    p = params["conv2d_0"]
    expected = _numpy_conv_same_or_valid(x, np.asarray(p["kernel"]), np.asarray(p["bias"]), stride, padding)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_maxpool_takes_window_maxima():
    x = np.arange(2 * 4 * 4 * 1, dtype=np.float32).reshape(2, 4, 4, 1)
    _, _, y, _ = _init_apply(M.MaxPool2D(2), x)
    expected = x.reshape(2, 2, 2, 2, 2, 1).max(axis=(2, 4))
    np.testing.assert_array_equal(y, expected)


def test_dropout_is_inverted_keyed_and_off_in_eval():
    x = np.ones((200, 50), np.float32)
    layer = M.Dropout(0.3)
    _, _, y_eval, _ = _init_apply(layer, x)
    np.testing.assert_array_equal(y_eval, x)
    _, _, y1, _ = _init_apply(layer, x, train=True, key=jax.random.key(1))
    _, _, y1_again, _ = _init_apply(layer, x, train=True, key=jax.random.key(1))
    _, _, y2, _ = _init_apply(layer, x, train=True, key=jax.random.key(2))
    y1 = np.asarray(y1)
    kept = y1 != 0
    np.testing.assert_allclose(y1[kept], 1 / 0.7, rtol=1e-6)  # survivors are scaled up
    assert abs(1 - kept.mean() - 0.3) < 0.02
    np.testing.assert_array_equal(y1, y1_again)
    assert not np.array_equal(y1, y2)


def test_batchnorm_train_normalizes_and_updates_running_stats():
    rng = np.random.RandomState(2)
    x = (3.0 + 2.0 * rng.randn(64, 5)).astype(np.float32)
    layer = M.BatchNorm(momentum=0.9, epsilon=1e-3)
    _, state, y, new_state = _init_apply(layer, x, train=True)
    y = np.asarray(y)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(0), x.var(0) / (x.var(0) + 1e-3), rtol=1e-4)
    stats = new_state["batchnorm_0"]["batch_stats"]
    # running = momentum * running + (1 - momentum) * batch, from mean 0 / var 1
    np.testing.assert_allclose(stats["mean"], 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * x.var(0), rtol=1e-5)
    # Evaluation uses the running statistics, not the batch's.
    _, _, y_eval, unchanged = _init_apply(layer, x, train=False)
    np.testing.assert_allclose(y_eval, x / np.sqrt(1 + 1e-3), rtol=1e-5)
    chex.assert_trees_all_equal(unchanged, state)


def test_batchnorm_is_stable_for_features_with_a_large_mean():
    # N(1e4, 1) features: E[x^2] - E[x]^2 in float32 (flax's default) is off by ~100 here.
    x = (1e4 + np.random.RandomState(4).randn(64, 3)).astype(np.float32)
    _, _, y, new_state = _init_apply(M.BatchNorm(momentum=0.9, epsilon=1e-3), x, train=True)
    x64 = x.astype(np.float64)  # the float64 reference on the same (float32) inputs
    np.testing.assert_allclose(y, (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-3), atol=1e-3)
    stats = new_state["batchnorm_0"]["batch_stats"]
    np.testing.assert_allclose(stats["mean"], 0.1 * x64.mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * x64.var(0), rtol=1e-4)


def test_batchnorm_equals_flax_batchnorm_at_ordinary_scale():
    # Same variables, outputs, running statistics and gradients as nn.BatchNorm (exact variance form).
    import flax.linen as nn

    x = jax.random.normal(jax.random.key(1), (16, 4, 4, 3)) * 2.0 + 0.5
    model = M.Sequential([M.BatchNorm(momentum=0.8, epsilon=1e-3)])
    params, state = model.init_with_state(KEY, x)
    reference = nn.BatchNorm(use_running_average=False, momentum=0.8, epsilon=1e-3, use_fast_variance=False)
    variables = reference.init(KEY, x)
    chex.assert_trees_all_equal_shapes(variables, {"params": params["batchnorm_0"], **state["batchnorm_0"]})

    def ours(scale, x):
        p = {"batchnorm_0": {**params["batchnorm_0"], "scale": scale}}
        return model.apply(p, x, train=True, state=state)

    def theirs(scale, x):
        return reference.apply({**variables, "params": {**variables["params"], "scale": scale}}, x,
                               mutable=["batch_stats"])

    scale = params["batchnorm_0"]["scale"] * 1.5
    (y, new_state), (y_ref, ref_state) = ours(scale, x), theirs(scale, x)
    chex.assert_trees_all_close(y, y_ref, atol=1e-5)
    chex.assert_trees_all_close(new_state["batchnorm_0"], dict(ref_state), atol=1e-6)
    loss = lambda f: lambda s, x: jnp.sum(jnp.sin(f(s, x)[0]))
    chex.assert_trees_all_close(jax.grad(loss(ours), (0, 1))(scale, x), jax.grad(loss(theirs), (0, 1))(scale, x),
                                rtol=1e-5, atol=1e-5)


def test_batchnorm_batch_of_one_in_training_names_the_layer():
    model = M.Sequential([M.Dense(4), M.BatchNorm()])
    params, state = model.init_with_state(KEY, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"layer 'batchnorm_0' \(BatchNorm\).*more than one value per feature"):
        model.apply(params, np.ones((1, 3), np.float32), train=True, state=state)
    model.apply(params, np.ones((1, 3), np.float32), train=False, state=state)  # evaluation: fine
    conv = M.Sequential([M.BatchNorm()])  # one image still has a value per pixel
    params, state = conv.init_with_state(KEY, np.zeros((1, 2, 2, 3), np.float32))
    conv.apply(params, np.arange(12.0).reshape(1, 2, 2, 3), train=True, state=state)


def test_maxout_takes_the_max_over_pieces():
    x = np.random.RandomState(3).randn(4, 3).astype(np.float32)
    params, _, y, _ = _init_apply(M.Maxout(2, pieces=3), x)
    z = x @ np.asarray(params["maxout_0"]["kernel"]) + np.asarray(params["maxout_0"]["bias"])
    np.testing.assert_allclose(y, z.reshape(4, 2, 3).max(-1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, fn", [
    ("relu", lambda z: np.maximum(z, 0)),
    ("tanh", np.tanh),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("leaky_relu", lambda z: np.where(z > 0, z, 0.01 * z)),
    ("softmax", lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)),
])
def test_activations_match_their_formulas(name, fn):
    z = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    _, _, y, _ = _init_apply(M.Activation(name), z)
    np.testing.assert_allclose(y, fn(z.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_polynomial_regression_l2_penalizes_the_powers_not_the_intercept():
    model = M.polynomial_regression(3, x_scale=2.0, l2=0.5)
    params = {"dense_0": {"kernel": jnp.array([[1.0], [-2.0], [3.0]]), "bias": jnp.array([10.0])}}
    np.testing.assert_allclose(model.penalty(params), 0.5 * (1 + 4 + 9), rtol=1e-6)
    np.testing.assert_allclose(model.apply(params, jnp.array([[2.0]])), [[10.0 + 1 - 2 + 3]], rtol=1e-6)
    assert float(M.polynomial_regression(3).penalty(params)) == 0.0


def test_expand_matches_the_seed_dummy_test():
    dummy_x = np.array([[0, 0], [1, 0], [2.61, -1.28], [-0.59, 2.1]])
    expected = np.array([
        [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        [1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
        [2.61, -1.28, 6.8121, 1.6384, -3.3408, 1.0],
        [-0.59, 2.1, 0.3481, 4.41, -1.239, 1.0],
    ])
    np.testing.assert_allclose(M.expand(dummy_x), expected, atol=1e-5)
    with jax.enable_x64(True):
        np.testing.assert_allclose(M.expand(dummy_x), expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Gradients against finite differences (float64)


GRAD_LAYERS = {
    "dense_relu": (M.Dense(3, "relu"), (4, 5)),
    "dense_sigmoid": (M.Dense(3, "sigmoid"), (4, 5)),
    "conv_same_s2": (M.Conv2D(2, 3, strides=2, padding="same", activation="tanh"), (2, 5, 5, 2)),
    "conv_valid": (M.Conv2D(2, 2, padding="valid"), (2, 4, 4, 1)),
    "maxpool": (M.MaxPool2D(2), (2, 4, 4, 2)),
    "flatten": (M.Flatten(), (2, 3, 2)),
    "maxout": (M.Maxout(3, pieces=2), (4, 5)),
    "leaky_relu": (M.Activation("leaky_relu"), (4, 5)),
    "softmax": (M.Activation("softmax"), (4, 5)),
    "batchnorm": (M.BatchNorm(), (6, 3)),
    "dropout": (M.Dropout(0.4), (4, 5)),
    "reshape": (M.Reshape((2, 10)), (4, 20)),
    "tanh": (M.Activation("tanh"), (4, 5)),
}


@pytest.mark.parametrize("name", sorted(GRAD_LAYERS))
def test_layer_gradients_match_finite_differences(name):
    layer, shape = GRAD_LAYERS[name]
    with jax.enable_x64(True):
        model = M.Sequential([layer, M.Flatten(), M.Dense(1)])
        # Values away from the kinks of relu/max, so finite differences are valid.
        x = jax.random.normal(jax.random.key(3), shape, jnp.float64)
        params, state = model.init_with_state(KEY, x)
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
        state = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), state)

        def f(params, x):
            y, _ = model.apply(params, x, key=jax.random.key(5), train=True, state=state)
            return jnp.sum(jnp.sin(y))

        check_grads(f, (params, x), order=1, modes=["rev"], eps=1e-6, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Initializers


def test_initializers_have_the_documented_scale():
    key, shape = jax.random.key(7), (1000, 400)
    fan_in = shape[0]
    assert abs(float(jnp.std(initializers.get("course_normal")(key, shape))) - 0.01) < 2e-4
    assert abs(float(jnp.var(initializers.get("he_normal")(key, shape))) * fan_in / 2 - 1) < 0.02
    assert abs(float(jnp.var(initializers.get("he_truncated_normal")(key, shape))) * fan_in / 2 - 1) < 0.02
    tf_trunc = initializers.get("tf_truncated_normal")(key, shape)
    sigma = np.sqrt(2 / fan_in)
    assert float(jnp.max(jnp.abs(tf_trunc))) <= 2 * sigma + 1e-7
    # Unrescaled truncation at 2 sigma keeps ~0.774 of the variance (standard result).
    assert abs(float(jnp.var(tf_trunc)) / sigma**2 - 0.774) < 0.02
    glorot = initializers.get("glorot_normal")(key, shape)
    assert abs(float(jnp.var(glorot)) * (shape[0] + shape[1]) / 2 - 1) < 0.02
    # Truncated normals are cut at 2 standard deviations of the underlying normal and rescaled so the
    # variance is still the target one (jax's variance_scaling divides sigma by 0.8796).
    for name, variance in (("he_truncated_normal", 2 / fan_in), ("glorot_truncated_normal", 2 / sum(shape))):
        w = initializers.get(name)(key, shape)
        assert abs(float(jnp.var(w)) / variance - 1) < 0.02, name
        assert float(jnp.max(jnp.abs(w))) <= 2 * np.sqrt(variance) / 0.87962566103423978 + 1e-7, name


def test_he_init_demo_output_variance():
    """The jhui seed: 1000 inputs, half of them ones; N(0,1) weights give var(Wx) ~ 500 (seed: 497.6)."""
    x = np.concatenate([np.ones(500), np.zeros(500)]).astype(np.float32)
    w = jax.random.normal(jax.random.key(11), (20_000, 1000))
    var_plain = float(jnp.var(w @ x))
    assert 470 < var_plain < 530
    w_he = initializers.get("he_normal")(jax.random.key(12), (1000, 20_000)).T
    assert 0.9 < float(jnp.var(w_he @ x)) < 1.1  # 500 * 2/1000 = 1


# ---------------------------------------------------------------------------------------------
# Errors


def test_wrong_input_shape_names_the_layer_and_expectation():
    model = M.mlp([16, 3], flatten=False)
    params = model.init(KEY, np.zeros((1, 8)))
    with pytest.raises(ValueError, match=r"dense_0.*\(batch, \.\.\., 8\).*\(2, 5\)"):
        model.apply(params, np.zeros((2, 5)))
    cnn = M.cs4487_shallow_cnn()
    cnn_params = cnn.init(KEY, np.zeros((1, 28, 28, 1)))
    with pytest.raises(ValueError, match="NHWC"):
        cnn.apply(cnn_params, np.zeros((2, 28, 28)))


@pytest.mark.parametrize("model, sample, match", [
    (M.cs4487_shallow_cnn(), (1, 784), r"conv2d_0.*NHWC images \(batch, height, width, channels\), got \(1, 784\)"),
    (M.Sequential([M.MaxPool2D(2)]), (1, 28, 28), r"maxpool2d_0.*NHWC images \(4 dimensions\), got shape \(1, 28, 28\)"),
    (M.mlp([4, 2], flatten=False), (5,), r"dense_0.*\(batch, \.\.\., features\), got \(5,\)"),
])
def test_init_on_a_sample_of_the_wrong_rank_names_the_layer(model, sample, match):
    with pytest.raises(ValueError, match=match):
        model.init(KEY, np.zeros(sample, np.float32))


def test_dropout_in_training_needs_a_key():
    model = M.keras_mnist_mlp()
    params = model.init(KEY, np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match="needs key"):
        model.apply(params, np.zeros((2, 28, 28)), train=True)


def test_batchnorm_model_needs_state():
    model = M.Sequential([M.Dense(4), M.BatchNorm()])
    params = model.init(KEY, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="init_with_state"):
        model.apply(params, np.zeros((2, 3)))


@pytest.mark.parametrize("make, match", [
    (lambda: M.Dense(0), "units"),
    (lambda: M.Dense(3, "swish-ish"), "unknown activation"),
    (lambda: M.Conv2D(4, 3, padding="full"), "padding"),
    (lambda: M.Dropout(1.0), "rate"),
    (lambda: M.mlp([]), "sizes"),
    (lambda: M.polynomial_regression(0), "order"),
    (lambda: M.polynomial_regression(3, l2=-1.0), "l2"),
    (lambda: initializers.get("he_wrong"), "unknown initializer"),
    (lambda: M.Sequential([M.Dense(2), "relu"]), r"layers\[1\]"),
])
def test_bad_layer_settings_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_same_key_same_params_different_key_different_params():
    model = M.cs4487_shallow_cnn()
    x = np.zeros((1, 28, 28, 1))
    chex.assert_trees_all_equal(model.init(KEY, x), model.init(jax.random.key(0), x))
    a = model.init(jax.random.key(1), x)["dense_0"]["kernel"]
    b = model.init(jax.random.key(2), x)["dense_0"]["kernel"]
    assert not np.array_equal(a, b)


def test_jhui_fc_net_reg_is_the_seeds_half_sum_of_squares():
    # The seed's loss adds 0.5 * reg * sum(W**2) for every layer's W (biases excluded).
    model = M.jhui_fc_net((5, 4), n_classes=3, reg=0.1)
    params = model.init(KEY, np.zeros((1, 6), np.float32))
    expected = sum(0.5 * 0.1 * np.sum(np.asarray(layer["kernel"], np.float64) ** 2) for layer in params.values())
    np.testing.assert_allclose(float(model.penalty(params)), expected, rtol=1e-6)
    assert float(M.jhui_fc_net((5, 4), n_classes=3).penalty(params)) == 0.0
    with pytest.raises(ValueError, match="reg must be >= 0"):
        M.jhui_fc_net(reg=-1.0)


def test_jhui_mnist_mlp_reg_is_tensorflow_l2_loss():
    # The seed: lmbda * (tf.nn.l2_loss(W1) + l2_loss(W2) + l2_loss(W3)), tf.nn.l2_loss(w) = sum(w**2) / 2.
    model = M.jhui_mnist_mlp(reg=5e-5)
    params = model.init(KEY, np.zeros((1, 784), np.float32))
    kernels = [np.asarray(params[name]["kernel"], np.float64) for name in ("dense_0", "dense_1", "dense_2")]
    expected = 5e-5 * sum(np.sum(w**2) / 2 for w in kernels)
    np.testing.assert_allclose(float(model.penalty(params)), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="reg must be >= 0"):
        M.jhui_mnist_mlp(reg=-1e-5)
