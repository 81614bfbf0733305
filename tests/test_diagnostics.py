"""Diagnostics: the gradient check, the in-step statistics hook and TrainingMonitor, the overfit and LR
range tests, and the doctor. Tiny models on small synthetic data; every expected value is set by the
test's construction (a wrong backward rule, dead or saturated units by design), not by the code."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from blobs import blobs

import fnnet
from fnnet import cli, initializers, optim
from fnnet import diagnostics as D
from fnnet import models as M
from fnnet.callbacks import Callback
from fnnet.data import flower
from fnnet.ensemble import fit_ensemble
from fnnet.train import NonFiniteLossError, fit

import recipes

LOSS = "softmax_cross_entropy"
X, Y = blobs(160, seed=0)


# ----------------------------------------------------------------------------------------------
# check_grads


def _tanh_with_backward(derivative):
    """tanh whose backward pass multiplies by ``derivative(tanh(z))``: a custom layer's hand-written rule."""

    @jax.custom_vjp
    def tanh(z):
        return jnp.tanh(z)

    tanh.defvjp(lambda z: (jnp.tanh(z), jnp.tanh(z)), lambda t, g: (g * derivative(t),))
    return tanh


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
@pytest.mark.parametrize("float64", [False, True])
def test_gradient_check_passes_a_right_backward_rule_and_names_the_leaves_of_a_wrong_one(float64):
    batch = (X[:64], Y[:64])
    results = {}
    for label, derivative in (("right", lambda t: 1 - t**2), ("missing square", lambda t: 1 - t)):
        model = M.Sequential([M.Dense(8, _tanh_with_backward(derivative)), M.Dense(3)])
        params = model.init(jax.random.key(0), X[:1])
        results[label] = D.check_grads(D.model_objective(model, LOSS), params, batch, float64=float64)
    assert results["right"].passed, str(results["right"])
    # The output layer's gradient does not pass through the tanh's backward rule; the hidden layer's does.
    assert results["missing square"].failed == ["dense_0/bias", "dense_0/kernel"]
    assert results["missing square"].max_rel_error > 0.1
    assert "WRONG" in str(results["missing square"]) and "FAILED" in results["missing square"].verdict()


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_gradient_check_of_the_course_hand_written_backpropagation():
    """The planar assignment's backward_propagation (dZ2 = A2 - Y, dZ1 = W2ᵀdZ2 * (1 - A1²)...) checked
    as a grad_fn against finite differences, and the same with the tanh derivative dropped."""
    x, y = flower(seed=1)
    x, y = x.astype(np.float32), y.reshape(-1, 1).astype(np.float32)
    model = M.planar_net(4)
    params = recipes.load("planar").course_initial_params(4)
    params = jax.tree_util.tree_map(lambda a: a + 0.3 * jax.random.normal(jax.random.key(1), a.shape), params)

    def backprop(params, batch, tanh_derivative=True):
        x, y = batch
        a1 = jnp.tanh(x @ params["dense_0"]["kernel"] + params["dense_0"]["bias"])
        a2 = jax.nn.sigmoid(a1 @ params["dense_1"]["kernel"] + params["dense_1"]["bias"])
        dz2 = (a2 - y) / len(x)
        dz1 = (dz2 @ params["dense_1"]["kernel"].T) * ((1 - a1**2) if tanh_derivative else 1.0)
        return {"dense_0": {"kernel": x.T @ dz1, "bias": dz1.sum(0)},
                "dense_1": {"kernel": a1.T @ dz2, "bias": dz2.sum(0)}}

    objective = D.model_objective(model, "sigmoid_binary_cross_entropy")
    right = D.check_grads(objective, params, (x, y), grad_fn=backprop, float64=True)
    wrong = D.check_grads(objective, params, (x, y), grad_fn=lambda p, b: backprop(p, b, tanh_derivative=False))
    assert right.passed and right.max_rel_error < 1e-6, str(right)
    assert wrong.failed == ["dense_0/bias", "dense_0/kernel"]


def test_gradient_check_rejects_bad_arguments():
    model = M.mlp([3], flatten=False)
    params = model.init(jax.random.key(0), X[:1])
    objective = D.model_objective(model, LOSS)
    with pytest.raises(ValueError, match="structure of params"):
        D.check_grads(objective, params, (X, Y), grad_fn=lambda p, b: {"dense_0": p["dense_0"]["kernel"]})
    with pytest.raises(ValueError, match="directions must be a positive int"):
        D.check_grads(objective, params, (X, Y), directions=0)
    with pytest.raises(ValueError, match="steps must be"):
        D.check_grads(objective, params, (X, Y), steps=())


# ----------------------------------------------------------------------------------------------
# The in-step statistics hook and the monitor


class _ParamNorm(Callback):
    """Records ||params|| before each monitored step, computed inside the compiled step."""

    statistics_every = 3

    def __init__(self):
        self.seen = []

    def step_statistics(self, info):
        return {"param_norm": optax.tree.norm(info.params)}

    def on_step_statistics(self, epoch, statistics):
        self.seen.append((epoch, statistics["step"].tolist(), statistics["param_norm"]))


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
@pytest.mark.parametrize("epoch_mode", ["scan", "step"])
def test_in_step_statistics_leave_training_bitwise_unchanged(epoch_mode):
    """Two epochs of 5 full batches and a remainder batch (160 = 5 * 30 + 10): the monitored run's
    params equal the plain run's bit for bit, and the statistics arrive on every third step."""
    model = M.mlp([16, 16, 3], flatten=False, dropout=0.1)
    args = dict(epochs=2, batch_size=30, key=jax.random.key(3), verbose=0,
                options=fnnet.TrainOptions(epoch_mode=epoch_mode))
    plain, _ = fit(model, LOSS, optim.optimizer("sgd", 0.1), (X, Y), **args)
    recorder, monitor = _ParamNorm(), D.TrainingMonitor(every=4)
    watched, _ = fit(model, LOSS, optim.optimizer("sgd", 0.1), (X, Y), callbacks=[recorder, monitor], **args)
    chex.assert_trees_all_equal(plain.params, watched.params)
    assert [(e, steps) for e, steps, _ in recorder.seen] == [(0, [0, 3]), (1, [6, 9])]
    assert monitor.history["step"] == [0, 4, 8] and monitor.history["epoch"] == [0, 0, 1]
    initial = model.init(jax.random.split(jax.random.split(jax.random.key(3))[0])[0], X[:1])  # fit's init key
    np.testing.assert_allclose(recorder.seen[0][2][0], optax.tree.norm(initial), rtol=1e-6)
    assert set(monitor.history["grad_norm"]) == {"dense_0", "dense_1", "dense_2"}
    assert set(monitor.history["dead"]) == {"dense_0", "dense_1"}  # ReLU layers only


def test_statistics_every_is_checked_and_ensemble_members_get_their_own_monitor():
    bad = _ParamNorm()
    bad.statistics_every = -1
    with pytest.raises(ValueError, match="statistics_every must be an int >= 0"):
        fit(M.mlp([3], flatten=False), LOSS, "sgd", (X, Y), epochs=1, key=jax.random.key(0), callbacks=[bad])
    with pytest.raises(ValueError, match="every must be a positive int"):
        D.TrainingMonitor(every=0)
    model = M.mlp([3], flatten=False)
    _, history = fit_ensemble(model, LOSS, "sgd", (X, Y), epochs=1, n_members=2, key=jax.random.key(0),
                              callbacks=[D.TrainingMonitor(every=2)], verbose=0)
    single = D.TrainingMonitor(every=2)
    fit(model, LOSS, "sgd", (X, Y), epochs=1, key=jax.random.split(jax.random.key(0), 2)[1], callbacks=[single],
        verbose=0)
    monitors = [cbs[0] for cbs in history.callbacks]
    assert monitors[0].history["step"] == monitors[1].history["step"] == single.history["step"] != []
    np.testing.assert_allclose(monitors[1].history["grad_norm"]["dense_0"], single.history["grad_norm"]["dense_0"],
                               rtol=1e-5)  # member 1's own statistics, as fit with its key
    assert monitors[0].history["grad_norm"]["dense_0"] != monitors[1].history["grad_norm"]["dense_0"]


def _monitored(model, optimizer, **kw):
    monitor = D.TrainingMonitor(every=2)
    options = fnnet.TrainOptions(**kw) if kw else None
    fit(model, LOSS, optimizer, (X, Y), epochs=2, batch_size=32, key=jax.random.key(0), verbose=0,
        callbacks=[monitor], options=options)
    return monitor


def _problems(monitor, layer=None):
    return [f.problem + ": " + f.hint for f in monitor.findings() if layer is None or f.layer == layer]


def test_monitor_flags_sigmoid_units_saturated_by_large_initial_weights():
    big = initializers.normal(10.0)
    saturating = M.Sequential([M.Dense(32, "sigmoid", kernel_init=big), M.Dense(32, "sigmoid", kernel_init=big),
                               M.Dense(3)])
    monitor = _monitored(saturating, optim.optimizer("sgd", 0.1))
    summary = monitor.summary()
    for layer in ("dense_0", "dense_1"):
        assert summary[layer]["saturated"] > 0.5
        assert any("sigmoid saturated" in p and "smaller initial weights" in p for p in _problems(monitor, layer))
    healthy = _monitored(M.mlp([32, 32, 3], activation="sigmoid", flatten=False), optim.optimizer("sgd", 0.1))
    assert healthy.summary()["dense_0"]["saturated"] < 0.1
    assert not any("saturated" in p for p in _problems(healthy))


def test_monitor_flags_a_too_large_learning_rate_and_passes_a_moderate_one():
    model = M.mlp([32, 32, 3], flatten=False)
    too_large = _monitored(model, optim.optimizer("sgd", 5.0), on_nonfinite="skip")
    assert too_large.summary()["dense_0"]["update_ratio"] > 1e-2
    assert any("update/weight" in p and "lower the learning rate" in p for p in _problems(too_large, "dense_0"))
    moderate = _monitored(model, optim.optimizer("sgd", 0.05))
    assert moderate.findings() == [], moderate.report()
    assert "findings: none" in moderate.report()


def test_monitor_counts_relus_killed_by_a_negative_bias():
    dead_bias = jax.nn.initializers.constant(-100.0)  # |x @ W| << 100: every unit outputs 0 for every example
    model = M.Sequential([M.Dense(16, "relu", bias_init=dead_bias), M.Dense(16, "relu"), M.Dense(3)])
    monitor = _monitored(model, optim.optimizer("sgd", 0.1))
    assert monitor.history["dead"]["dense_0"] == [1.0] * len(monitor.history["step"])
    assert any("100% dead ReLUs" in p for p in _problems(monitor, "dense_0"))
    # No signal passes back through units that output 0 for every input: dense_0 does not learn.
    assert monitor.summary()["dense_0"]["grad_norm"] == 0.0
    assert any("zero gradient" in p for p in _problems(monitor, "dense_0"))


def test_monitor_sees_the_nan_before_fit_raises():
    x = np.linspace(-1, 1, 64, dtype=np.float32)[:, None] * 100
    monitor = D.TrainingMonitor(every=1)
    with pytest.raises(NonFiniteLossError):
        fit(M.mlp([8, 1], flatten=False), "mse", optim.optimizer("sgd", 1e3), (x, x**2), epochs=3, batch_size=8,
            key=jax.random.key(0), verbose=0, callbacks=[monitor])
    assert any("NaN/Inf" in str(f) for f in monitor.findings())


# ----------------------------------------------------------------------------------------------
# Overfit and LR range tests


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_overfit_small_batch_memorizes_random_labels_with_regularization_off():
    random_labels = np.random.RandomState(0).randint(0, 3, len(X))
    regularized = M.mlp([32, 32, 3], dropout=0.5, l2=0.1, flatten=False)
    plain = D.without_regularization(regularized)
    assert plain.penalty(plain.init(jax.random.key(0), X[:1])) == 0.0 and not plain.needs_rng
    result = D.overfit_small_batch(regularized, LOSS, optim.optimizer("adam", 1e-2), X, random_labels,
                                   key=jax.random.key(0), examples=16, steps=150)
    assert result.passed and result.final_loss < 0.1 * result.initial_loss, result.message
    assert result.losses[0] > result.losses[-1] and result.examples == 16
    stuck = D.overfit_small_batch(regularized, LOSS, optim.optimizer("sgd", 1e-6), X, random_labels,
                                  key=jax.random.key(0), examples=16, steps=150)
    assert not stuck.passed and stuck.message.startswith("FAILED")


def test_lr_range_test_sweeps_geometrically_and_finds_the_divergence():
    result = D.lr_range_test(M.mlp([16, 3], flatten=False), LOSS, X, Y, key=jax.random.key(0), min_lr=1e-4,
                             max_lr=1e3, steps=60)
    rates = np.asarray(result.learning_rates)
    assert len(rates) == len(result.losses) == 60
    np.testing.assert_allclose([rates[0], rates[-1]], [1e-4, 1e3], rtol=1e-5)
    np.testing.assert_allclose(rates[1:] / rates[:-1], (1e7) ** (1 / 59), rtol=1e-4)
    assert result.diverged_at is not None and result.best < result.diverged_at
    assert result.suggested == pytest.approx(result.best / 10)


# ----------------------------------------------------------------------------------------------
# Layer snapshot


def test_layer_snapshot_is_the_evaluation_pass_and_the_gradient_of_the_penalized_loss():
    model = M.Sequential([M.Dense(8, "relu", l2=0.01), M.BatchNorm(), M.Dropout(0.5), M.Dense(3)])
    params, state = model.init_with_state(jax.random.key(0), X[:1])
    stats = {"mean": jnp.full(8, 0.3), "var": jnp.full(8, 2.0)}  # running statistics unlike the batch's
    state = {"batchnorm_0": {"batch_stats": stats}}
    x, y = X[:32], Y[:32]
    snapshot = D.layer_snapshot(model, LOSS, params, x, y, model_state=state)

    def by_hand(p):  # evaluation mode: no dropout, BatchNorm with the running statistics (epsilon 1e-3)
        hidden = jax.nn.relu(x @ p["dense_0"]["kernel"] + p["dense_0"]["bias"])
        standardized = (hidden - stats["mean"]) / jnp.sqrt(stats["var"] + 1e-3)
        normed = standardized * p["batchnorm_0"]["scale"] + p["batchnorm_0"]["bias"]
        logits = normed @ p["dense_1"]["kernel"] + p["dense_1"]["bias"]
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss + 0.01 * jnp.sum(p["dense_0"]["kernel"] ** 2), (hidden, normed)

    grads, (hidden, normed) = jax.grad(by_hand, has_aux=True)(params)
    assert list(snapshot["activations"]) == ["dense_0", "batchnorm_0", "dense_1"]  # Dropout only moves values
    np.testing.assert_allclose(snapshot["activations"]["dense_0"], hidden, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(snapshot["activations"]["batchnorm_0"], normed, rtol=1e-5, atol=1e-6)
    for layer in ("dense_0", "dense_1"):
        np.testing.assert_array_equal(snapshot["weights"][layer], np.ravel(params[layer]["kernel"]))
        np.testing.assert_allclose(snapshot["gradients"][layer], np.ravel(grads[layer]["kernel"]), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"y must hold integer class labels in \[0, 3\)"):
        D.layer_snapshot(model, LOSS, params, x, np.full(32, 3), model_state=state)


# ----------------------------------------------------------------------------------------------
# The doctor


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_doctor_reports_on_the_planar_recipe(capsys):
    assert cli.main(["doctor", "planar", "--quick", "--steps", "40"]) == 0
    out = capsys.readouterr().out
    for line in ("fnnet doctor: planar", "gradient check: passed", "overfit a tiny set: passed", "LR range test",
                 "training 40 steps", "dense_0  tanh", "verdict:"):
        assert line in out


def test_doctor_names_the_recipes_it_supports(capsys):
    assert cli.main(["doctor", "mnist_mlp"]) == 2
    err = capsys.readouterr().err
    assert "fnnet doctor supports: cs4487_table, planar" in err


def test_cs4487_doctor_setup_follows_the_rows_protocol():
    module = recipes.load("cs4487_table")
    config = recipes.make_config(module, quick=True, overrides={"rows": "mlp_50"})
    setup = module.diagnose_setup(config, key=jax.random.key(0))
    x, y = setup.train
    assert x.shape[1:] == (784,) and len(x) == len(y) and setup.batch_size == 50
    assert setup.learning_rate == module.ROWS["mlp_50"].learning_rate
    assert isinstance(setup.make_optimizer(0.1), optax.GradientTransformation)
