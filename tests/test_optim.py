"""fnnet.optim: optax chains reproduce the seeds' from-scratch update rules step for step (float64), and
the chain's options (coupled L2, decoupled weight decay, clipping, schedules, injected hyperparameters)."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fnnet import losses, optim

STEPS = 20


def _expand(x):
    """The seed's quadratic features: x0, x1, x0^2, x1^2, x0*x1, 1."""
    return np.stack([x[:, 0], x[:, 1], x[:, 0] ** 2, x[:, 1] ** 2, x[:, 0] * x[:, 1], np.ones(len(x))], axis=1)


def _problem():
    """Seed 000's setting: 2-D points with a circular class boundary, logistic regression on expanded
    features, w0 = [0, 0, 0, 0, 0, 1], mini-batches of 4 (fixed here so both sides see the same ones)."""
    rng = np.random.default_rng(42)
    x = rng.uniform(-2.0, 2.0, size=(100, 2))
    y = (np.sum(x**2, axis=1) < 1.5).astype(np.float64)
    batches = rng.choice(len(x), size=(STEPS, 4))
    w0 = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    return _expand(x), y, batches, w0


def _seed_grad(features, y, w):
    """The seed's compute_grad: gradient of the mean logistic loss."""
    p = 1.0 / (1.0 + np.exp(-features @ w))
    return features.T @ (p - y) / len(y)


def _run_seed_rule(rule):
    """Trajectory ``(STEPS, 6)`` of the seed's numpy loop with ``w = rule(w, dw, state)``."""
    features, y, batches, w = _problem()
    state, trajectory = {"t": 0}, []
    for batch in batches:
        state["t"] += 1
        w = rule(w, _seed_grad(features[batch], y[batch], w), state)
        trajectory.append(w)
    return np.array(trajectory)


def _as_params(w):
    # The constant feature's weight is the bias of a Dense layer on the five other features.
    return {"dense_0": {"kernel": jnp.asarray(w[:5]), "bias": jnp.asarray(w[5])}}


def _as_vector(params):
    return np.concatenate([np.asarray(params["dense_0"]["kernel"]), np.asarray(params["dense_0"]["bias"])[None]])


def _data_loss(params, features, y):
    logits = features[:, :5] @ params["dense_0"]["kernel"] + params["dense_0"]["bias"]
    return losses.sigmoid_binary_cross_entropy(logits, y)


def _run_optax(tx, loss=_data_loss):
    """Trajectory ``(STEPS, 6)`` of ``tx`` on the same problem (jax.grad of fnnet's loss)."""
    features, y, batches, w0 = _problem()
    params = _as_params(w0)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, xb, yb):
        updates, opt_state = tx.update(jax.grad(loss)(params, xb, yb), opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    trajectory = []
    for batch in batches:
        params, opt_state = step(params, opt_state, features[batch], y[batch])
        trajectory.append(_as_vector(params))
    return np.array(trajectory)


# ----------------------------------------------------------------------------------------------
# The seeds' update formulas (numpy, exactly as the seeds write them)


def seed000_momentum(w, dw, s, eta=0.05, alpha=0.9):
    s["nu"] = alpha * s.get("nu", 0.0) + eta * dw
    return w - s["nu"]


def seed000_rmsprop(w, dw, s, eta=0.05, a=0.9, eps=1e-8):
    s["G"] = a * s.get("G", 0.0) + (1 - a) * dw**2
    return w - eta * dw / np.sqrt(s["G"] + eps)


def jhui_nesterov(w, dw, s, learning_rate=0.05, mu=0.9):
    v_prev = s.get("v", 0.0)
    s["v"] = mu * v_prev - learning_rate * dw
    return w - mu * v_prev + (1 + mu) * s["v"]


def jhui_rmsprop(w, dw, s, learning_rate=0.05, decay_rate=0.9):
    s["cache"] = decay_rate * s.get("cache", 0.0) + (1 - decay_rate) * dw**2
    return w - learning_rate * dw / (np.sqrt(s["cache"]) + 1e-7)


def jhui_adagrad(w, dw, s, learning_rate=0.05):
    s["cache"] = s.get("cache", 0.0) + dw**2
    return w - learning_rate * dw / (np.sqrt(s["cache"]) + 1e-7)


def jhui_adagrad_eps_in_root(w, dw, s, learning_rate=0.05):
    s["cache"] = s.get("cache", 0.0) + dw**2
    return w - learning_rate * dw / np.sqrt(s["cache"] + 1e-7)


def adam_with_bias_correction(w, dw, s, learning_rate=0.05, b1=0.9, b2=0.999, eps=1e-8):
    """The jhui seed's Adam plus the bias correction of Kingma & Ba (which the seed omits)."""
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * dw
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * dw**2
    m_hat, v_hat = s["m"] / (1 - b1 ** s["t"]), s["v"] / (1 - b2 ** s["t"])
    return w - learning_rate * m_hat / (np.sqrt(v_hat) + eps)


def plain_sgd(w, dw, s, eta=0.05):
    return w - eta * dw


@pytest.mark.parametrize(
    "seed_rule, build",
    [
        (plain_sgd, lambda: optim.optimizer("sgd", 0.05)),
        (seed000_momentum, lambda: optim.optimizer("momentum", 0.05, momentum=0.9)),
        (seed000_rmsprop, lambda: optim.optimizer("rmsprop", 0.05, decay=0.9, eps=1e-8)),
        (jhui_nesterov, lambda: optim.optimizer("nesterov", 0.05, momentum=0.9)),
        (jhui_rmsprop, lambda: optim.optimizer("rmsprop", 0.05, eps=1e-7, eps_in_sqrt=False)),
        (jhui_adagrad_eps_in_root, lambda: optim.optimizer("adagrad", 0.05, eps=1e-7, initial_accumulator_value=0.0)),
        (adam_with_bias_correction, lambda: optim.optimizer("adam", 0.05)),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_optax_chain_reproduces_the_seed_formula_step_for_step(seed_rule, build):
    with jax.enable_x64(True):
        ours = _run_optax(build())
    expected = _run_seed_rule(seed_rule)
    assert not np.allclose(expected[-1], expected[0])  # the run moves
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


def test_adagrad_eps_placement_and_initial_accumulator_are_the_only_differences():
    with jax.enable_x64(True):
        seed_like = _run_optax(optim.optimizer("adagrad", 0.05, eps=1e-7, initial_accumulator_value=0.0))
        optax_default_start = _run_optax(optim.optimizer("adagrad", 0.05, eps=1e-7))
    literal_seed = _run_seed_rule(jhui_adagrad)
    # eps inside vs outside the root: a relative step difference of order eps / sqrt(cache), tiny here.
    np.testing.assert_allclose(seed_like, literal_seed, rtol=1e-5, atol=1e-7)
    assert not np.allclose(seed_like, literal_seed, rtol=1e-12, atol=0)
    # optax's (and Keras's) initial accumulator 0.1 changes the early steps a lot.
    assert np.max(np.abs(optax_default_start[0] - literal_seed[0])) > 1e-2


def test_seed_adam_without_bias_correction_takes_a_larger_first_step():
    with jax.enable_x64(True):
        ours = _run_optax(optim.optimizer("adam", 0.05, eps=1e-7))

    def seed_adam(w, dw, s, learning_rate=0.05, b1=0.9, b2=0.999):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * dw
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * dw**2
        return w - learning_rate * s["m"] / (np.sqrt(s["v"]) + 1e-7)

    seed = _run_seed_rule(seed_adam)
    w0 = _problem()[3]
    # Step 1: (1 - b1) / sqrt(1 - b2) = 0.1 / sqrt(0.001) = 3.162 times the bias-corrected step.
    np.testing.assert_allclose((seed[0] - w0) / (ours[0] - w0), 0.1 / np.sqrt(0.001), rtol=1e-4)


def jhui_adam(w, dw, s, learning_rate=0.05, b1=0.9, b2=0.999):
    """The jhui article's Adam, as written: no bias correction, eps 1e-7 outside the root."""
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * dw
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * dw**2
    return w - learning_rate * s["m"] / (np.sqrt(s["v"]) + 1e-7)


@pytest.mark.parametrize(
    "seed_rule, build",
    [
        (jhui_adagrad, lambda: optim.optimizer("adagrad_jhui", 0.05)),
        (jhui_adagrad, lambda: optim.optimizer("adagrad_jhui", 0.05, inject=False)),
        (jhui_adagrad, lambda: optax.chain(optim.scale_by_sum_of_squares(), optax.scale(-0.05))),
        (jhui_adam, lambda: optim.optimizer("adam_jhui", 0.05)),
        (jhui_adam, lambda: optim.optimizer("adam_jhui", 0.05, inject=False)),
        (jhui_adam, lambda: optax.chain(optim.scale_by_adam_uncorrected(), optax.scale(-0.05))),
    ],
    ids=["adagrad_jhui", "adagrad_jhui-plain", "scale_by_sum_of_squares", "adam_jhui", "adam_jhui-plain",
         "scale_by_adam_uncorrected"],
)
def test_the_article_formulas_are_reproduced_step_for_step(seed_rule, build):
    with jax.enable_x64(True):
        ours = _run_optax(build())
        optax_rule = _run_optax(optim.optimizer("adagrad" if seed_rule is jhui_adagrad else "adam", 0.05, eps=1e-7))
    expected = _run_seed_rule(seed_rule)
    assert not np.allclose(expected[-1], expected[0])
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(optax_rule[0] - expected[0])) > 1e-3  # optax's own rule differs from the article's


def test_adam_jhui_takes_hyperparameters_and_refuses_others():
    with jax.enable_x64(True):
        ours = _run_optax(optim.optimizer("adam_jhui", 0.05, b1=0.8, b2=0.99))
    expected = _run_seed_rule(lambda w, dw, s: jhui_adam(w, dw, s, b1=0.8, b2=0.99))
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=r"\['initial_accumulator_value'\] do not apply to optimizer 'adagrad_jhui'"):
        optim.optimizer("adagrad_jhui", 0.05, initial_accumulator_value=0.1)


# ----------------------------------------------------------------------------------------------
# Coupled L2 vs decoupled weight decay, masks, clipping


def test_coupled_l2_equals_adding_half_l2_penalty_to_the_loss():
    lam = 0.3

    def penalized(params, features, y):
        return _data_loss(params, features, y) + losses.l2_penalty(params, lam, half=True)

    with jax.enable_x64(True):
        for name in ("momentum", "adam"):
            np.testing.assert_allclose(
                _run_optax(optim.optimizer(name, 0.05, l2=lam)),
                _run_optax(optim.optimizer(name, 0.05), loss=penalized), rtol=1e-10, atol=1e-12,
            )


def test_decoupled_weight_decay_is_adamw_and_differs_from_coupled_l2():
    kernels_only = {"dense_0": {"kernel": True, "bias": False}}
    with jax.enable_x64(True):
        ours = _run_optax(optim.optimizer("adamw", 0.05, weight_decay=0.3))
        reference = _run_optax(optax.adamw(0.05, weight_decay=0.3, mask=kernels_only))
        coupled = _run_optax(optim.optimizer("adam", 0.05, l2=0.3))
        sgd_decoupled = _run_optax(optim.optimizer("sgd", 0.05, weight_decay=0.3))
        sgd_coupled = _run_optax(optim.optimizer("sgd", 0.05, l2=0.3))
    np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(ours - coupled)) > 1e-3
    # For plain SGD the two are the same update.
    np.testing.assert_allclose(sgd_decoupled, sgd_coupled, rtol=1e-10, atol=1e-12)


def test_default_decay_mask_spares_biases_and_a_custom_mask_is_used():
    params = {"dense_0": {"kernel": jnp.array([2.0, -4.0]), "bias": jnp.array([1.0])}}
    zero_grads = jax.tree.map(jnp.zeros_like, params)
    tx = optim.optimizer("sgd", 0.1, weight_decay=0.5)
    updates, _ = tx.update(zero_grads, tx.init(params), params)
    np.testing.assert_allclose(updates["dense_0"]["kernel"], -0.1 * 0.5 * np.array([2.0, -4.0]))
    np.testing.assert_allclose(updates["dense_0"]["bias"], [0.0])
    everything = jax.tree.map(lambda _: True, params)
    tx = optim.optimizer("sgd", 0.1, l2=0.5, decay_mask=everything)
    updates, _ = tx.update(zero_grads, tx.init(params), params)
    np.testing.assert_allclose(updates["dense_0"]["bias"], [-0.05])


def test_clip_by_global_norm_and_l2_enters_before_clipping():
    params = {"dense_0": {"kernel": jnp.array([1.0, 0.0]), "bias": jnp.array([0.0])}}
    grads = {"dense_0": {"kernel": jnp.array([3.0, 4.0]), "bias": jnp.array([0.0])}}  # norm 5
    tx = optim.optimizer("sgd", 0.1, clip_norm=1.0)
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(updates["dense_0"]["kernel"], -0.1 * np.array([3.0, 4.0]) / 5.0, rtol=1e-6)
    tx = optim.optimizer("sgd", 0.1, clip_norm=1.0, l2=4.0)
    updates, _ = tx.update(grads, tx.init(params), params)
    # g + l2 * w = (7, 4), norm sqrt(65), clipped to norm 1.
    np.testing.assert_allclose(updates["dense_0"]["kernel"], -0.1 * np.array([7.0, 4.0]) / np.sqrt(65.0), rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Schedules


def test_exponential_and_step_decay_values():
    schedule = optim.exponential_decay(0.1, 0.5, 10)
    np.testing.assert_allclose([schedule(0), schedule(5), schedule(20)], [0.1, 0.1 * 0.5**0.5, 0.025], rtol=1e-6)
    stairs = optim.exponential_decay(0.1, 0.5, 10, staircase=True, start=5)
    np.testing.assert_allclose([stairs(0), stairs(14), stairs(15), stairs(35)], [0.1, 0.1, 0.05, 0.0125], rtol=1e-6)
    jhui = optim.step_decay(1e-3)  # x0.95 every 20k iterations after the first 10k
    steps = [0, 9_999, 10_000, 29_999, 30_000, 50_000]
    np.testing.assert_allclose([jhui(s) for s in steps], 1e-3 * 0.95 ** np.array([0, 0, 0, 0, 1, 2]), rtol=1e-6)
    assert float(optim.constant(0.2)(1000)) == pytest.approx(0.2)


def test_schedule_drives_the_sgd_step():
    params = jnp.array([0.0])
    tx = optim.optimizer("sgd", optim.exponential_decay(1.0, 0.5, 1))
    state, steps = tx.init(params), []
    for _ in range(3):
        updates, state = tx.update(jnp.array([1.0]), state, params)
        steps.append(float(updates[0]))
    assert steps == [-1.0, -0.5, -0.25]


# ----------------------------------------------------------------------------------------------
# Injected hyperparameters and vmap


def test_inject_keeps_hyperparameters_in_the_state():
    params = _as_params(_problem()[3])
    state = optim.optimizer("momentum", 0.05, inject=True, weight_decay=1e-3).init(params)
    assert set(state.hyperparams) == {"learning_rate", "momentum", "weight_decay"}
    np.testing.assert_allclose(state.hyperparams["learning_rate"], 0.05)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_vmap_over_learning_rates_equals_separate_runs(name):
    features, y, batches, w0 = _problem()
    features, y = jnp.asarray(features, jnp.float32), jnp.asarray(y, jnp.float32)
    learning_rates = jnp.array([0.01, 0.05, 0.2])

    def run(learning_rate):
        tx = optim.optimizer(name, learning_rate, inject=True, weight_decay=1e-2)
        params = jax.tree.map(lambda a: a.astype(jnp.float32), _as_params(w0))
        opt_state = tx.init(params)

        def step(carry, batch):
            params, opt_state = carry
            grads = jax.grad(_data_loss)(params, features[batch], y[batch])
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        (params, _), _ = jax.lax.scan(step, (params, opt_state), jnp.asarray(batches))
        return params

    batched = jax.jit(jax.vmap(run))(learning_rates)
    separate = [jax.jit(run)(lr) for lr in learning_rates]
    chex.assert_trees_all_close(batched, jax.tree.map(lambda *xs: jnp.stack(xs), *separate), rtol=1e-6, atol=1e-7)
    # And the three runs really differ.
    assert float(jnp.abs(batched["dense_0"]["kernel"][0] - batched["dense_0"]["kernel"][2]).max()) > 1e-3


def test_changing_the_injected_learning_rate_changes_the_step():
    params = jnp.array([0.0])
    tx = optim.optimizer("sgd", 0.1, inject=True)
    state = tx.init(params)
    state.hyperparams["learning_rate"] = jnp.asarray(0.5)
    updates, _ = tx.update(jnp.array([1.0]), state, params)
    assert float(updates[0]) == pytest.approx(-0.5)


# ----------------------------------------------------------------------------------------------
# Names, defaults and errors


def test_get_and_pass_through():
    existing = optax.sgd(0.1)
    assert optim.get(existing) is existing
    assert optim.optimizer(existing) is existing
    adam = optim.get("adam")
    assert isinstance(adam, optax.GradientTransformation)
    params = jnp.array([0.0])
    updates, _ = adam.update(jnp.array([1.0]), adam.init(params), params)
    assert float(updates[0]) == pytest.approx(-1e-3, rel=1e-4)  # Keras's default learning rate


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "adamax"}, r"optimizer must be one of \['adagrad', 'adagrad_jhui', 'adam', 'adam_jhui', 'adamw'"),
        ({"name": "sgd", "learning_rate": 0.0}, "learning_rate must be finite and > 0"),
        ({"name": "adam", "learning_rate": -1e-3}, "learning_rate must be finite and > 0"),
        ({"name": "rmsprop", "decay": -0.5}, r"decay must lie in \[0.0, 1.0\)"),
        ({"name": "momentum", "momentum": 1.0}, r"momentum must lie in \[0.0, 1.0\)"),
        ({"name": "adam", "b2": 1.5}, r"b2 must lie in"),
        ({"name": "adam", "eps": -1e-8}, r"eps must lie in"),
        ({"name": "sgd", "weight_decay": -1e-4}, r"weight_decay must lie in"),
        ({"name": "sgd", "l2": -1e-4}, r"l2 must lie in"),
        ({"name": "sgd", "clip_norm": 0.0}, "clip_norm must be finite and > 0"),
        ({"name": "sgd", "b1": 0.9}, r"\['b1'\] do not apply to optimizer 'sgd'"),
        ({"name": "adam", "momentum": 0.9}, r"\['momentum'\] do not apply to optimizer 'adam'"),
        ({"name": "adam", "eps_in_sqrt": False}, r"\['eps_in_sqrt'\] do not apply"),
        ({"name": "adam", "nesterov": True}, r"\['nesterov'\] do not apply"),
        ({"name": "sgd", "nesterov": True}, "momentum must be given with nesterov=True"),
        ({"name": optax.adam(1e-3), "learning_rate": 0.1}, r"\['learning_rate'\] cannot be applied to an existing"),
    ],
)
def test_bad_settings_raise_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim.optimizer(**kwargs)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: optim.constant(0.0), "learning_rate must be"),
        (lambda: optim.exponential_decay(0.1, -0.5, 10), "decay_rate must be"),
        (lambda: optim.exponential_decay(0.1, 0.5, 0), "decay_steps must be a positive integer"),
        (lambda: optim.exponential_decay(0.1, 0.5, 10, start=-1), "start must be a non-negative integer"),
        (lambda: optim.step_decay(0.1, factor=1.5), r"factor must lie in \[0.0, 1.0\]"),
    ],
)
def test_bad_schedule_settings_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_decay_mask_layer_raises_when_the_mask_is_built():
    params = {"dense_0": {"bias": jnp.zeros(2)}}  # no kernel for the default mask to select
    with pytest.raises(ValueError, match="selects no parameter"):
        optim.optimizer("sgd", 0.1, weight_decay=1e-3).init(params)


# ----------------------------------------------------------------------------------------------
# trajectory: an optimizer's path on a function of the params


def test_trajectory_of_sgd_on_a_quadratic_is_the_geometric_sequence():
    curvature, lr, steps = np.array([0.1, 10.0]), 0.15, 12
    w0 = np.array([-9.0, 1.0])
    path, values = optim.trajectory(lambda w: 0.5 * jnp.sum(curvature * w**2), jnp.asarray(w0, jnp.float32),
                                    optim.optimizer("sgd", lr), steps)
    expected = w0 * (1 - lr * curvature) ** np.arange(steps + 1)[:, None]  # w_t = (1 - lr a)^t w_0
    chex.assert_shape(path, (steps + 1, 2))
    np.testing.assert_allclose(path, expected, rtol=1e-5)
    np.testing.assert_allclose(values, 0.5 * np.sum(curvature * expected**2, axis=1), rtol=1e-5)


def test_trajectory_follows_optax_updates_on_a_params_tree():
    def fn(p):
        return jnp.sum((p["a"] - 1.0) ** 2) + (p["b"] * p["a"][0]) ** 2

    start = {"a": jnp.array([0.5, -2.0]), "b": jnp.array(3.0)}
    tx = optim.optimizer("adam", 0.1)
    path, values = optim.trajectory(fn, start, tx, 5)
    params, state = start, tx.init(start)
    for t in range(6):  # the same updates, one call at a time
        chex.assert_trees_all_close(jax.tree.map(lambda leaf, t=t: leaf[t], path), params, rtol=1e-6)
        np.testing.assert_allclose(values[t], fn(params), rtol=1e-6)
        updates, state = tx.update(jax.grad(fn)(params), state, params)
        params = optax.apply_updates(params, updates)


def test_trajectory_vmaps_over_injected_learning_rates():
    fn = lambda w: jnp.sum(w**2)
    rates = jnp.array([0.01, 0.1])
    paths, _ = jax.vmap(lambda lr: optim.trajectory(fn, jnp.ones(2), optim.optimizer("momentum", lr, inject=True), 4))(rates)
    for i, lr in enumerate([0.01, 0.1]):
        alone, _ = optim.trajectory(fn, jnp.ones(2), optim.optimizer("momentum", lr), 4)
        np.testing.assert_allclose(paths[i], alone, rtol=1e-6)


@pytest.mark.parametrize("steps, params, message", [
    (0, jnp.ones(2), "steps"),
    (2.5, jnp.ones(2), "steps"),
    (3, jnp.ones(2, jnp.int32), "floating-point"),
    (3, {}, "non-empty"),
])
def test_trajectory_rejects_bad_arguments(steps, params, message):
    with pytest.raises(ValueError, match=message):
        optim.trajectory(lambda w: jnp.sum(w), params, "sgd", steps)


# ----------------------------------------------------------------------------------------------
# one_of: several optimizers in one population


def _one_of_and_options():
    options = {"sgd": optim.optimizer("sgd", 0.05), "momentum": optim.optimizer("momentum", 0.05, momentum=0.9),
               "adam": optim.optimizer("adam", 0.1)}
    return optim.one_of(options), options


def _descend(tx, state, steps=8):
    """``steps`` compiled updates on a quadratic bowl from 0; the final point."""
    fn = lambda w: jnp.sum(jnp.arange(1.0, 4.0) * (w - 3.0) ** 2)

    def step(carry, _):
        w, s = carry
        updates, s = tx.update(jax.grad(fn)(w), s, w)
        return (optax.apply_updates(w, updates), s), None

    return jax.jit(lambda s: jax.lax.scan(step, (jnp.zeros(3), s), None, length=steps)[0][0])(state)


def test_one_of_member_follows_its_own_optimizer_and_only_its_state_advances():
    tx, options = _one_of_and_options()
    start = tx.init(jnp.zeros(3))
    assert int(start.choice) == 0 and len(start.states) == 3
    for name, alone in options.items():
        chex.assert_trees_all_close(_descend(tx, tx.select(start, name)), _descend(alone, alone.init(jnp.zeros(3))),
                                    rtol=1e-6)
    _, after = tx.update(jnp.ones(3), tx.select(start, "adam"), jnp.zeros(3))
    chex.assert_trees_all_equal(after.states[:2], start.states[:2])  # the other options' states stay as they were
    moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), after.states[2], start.states[2])
    assert any(jax.tree.leaves(moved))  # adam's own moments did advance


def test_one_of_population_members_each_choose_their_optimizer():
    tx, options = _one_of_and_options()
    stacked = jax.vmap(lambda _: tx.init(jnp.zeros(3)))(jnp.arange(3))
    stacked = tx.select(stacked, ["adam", 0, "momentum"])
    np.testing.assert_array_equal(stacked.choice, [2, 0, 1])
    paths = jax.vmap(lambda s: _descend(tx, s))(stacked)
    for row, name in enumerate(["adam", "sgd", "momentum"]):
        alone = options[name]
        np.testing.assert_allclose(paths[row], _descend(alone, alone.init(jnp.zeros(3))), rtol=1e-6)
    assert len({tuple(np.asarray(p).round(4)) for p in paths}) == 3  # three different update rules


def test_one_of_trains_a_population_like_separate_fits():
    from fnnet import models as M
    from fnnet.ensemble import fit_ensemble, init_members

    rng = np.random.RandomState(0)
    x, y = rng.randn(64, 3).astype(np.float32), (rng.rand(64) > 0.5).astype(np.int32)
    model, key = M.mlp([8, 2]), jax.random.key(3)
    tx, options = _one_of_and_options()
    keys = jnp.stack([key] * 3)
    start = init_members(model, tx, keys, x[:1])
    start = start.replace(opt_state=tx.select(start.opt_state, list(options)))
    together, _ = fit_ensemble(model, "softmax_cross_entropy", tx, (x, y), epochs=2, batch_size=16, keys=keys,
                               initial_state=start, verbose=0)
    for i, alone_tx in enumerate(options.values()):
        alone, _ = fit_ensemble(model, "softmax_cross_entropy", alone_tx, (x, y), epochs=2, batch_size=16,
                                keys=keys[:1], verbose=0)
        chex.assert_trees_all_close(jax.tree.map(lambda leaf, i=i: leaf[i], together.params),
                                    jax.tree.map(lambda leaf: leaf[0], alone.params), rtol=1e-5, atol=1e-6)


def test_one_of_initial_choice_by_name_or_traced_under_vmap():
    tx, options = _one_of_and_options()
    assert int(optim.one_of(options, "adam").init(jnp.zeros(3)).choice) == 2
    bowl = lambda w: jnp.sum((w - 1.0) ** 2)
    paths, _ = jax.vmap(lambda c: optim.trajectory(bowl, jnp.zeros(3), optim.one_of(options, c), 5))(jnp.arange(3))
    for row, alone in enumerate(options.values()):
        np.testing.assert_allclose(paths[row], optim.trajectory(bowl, jnp.zeros(3), alone, 5)[0], rtol=1e-6)
    with pytest.raises(ValueError, match=r"choice must be one of the names \['sgd', 'momentum', 'adam'\]"):
        optim.one_of(options, 3)
