"""Recipes on generated data (linear_quadratic, planar, polynomial_overfit, optimizers, init_scale), quick:
the properties each experiment is about, checked on what the recipe measured."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import recipes
from recipes import init_scale, linear_quadratic, optimizers, polynomial_overfit

PNG = b"\x89PNG\r\n\x1a\n"


def run_quick(name, tmp_path, **overrides):
    results = recipes.run(name, quick=True, overrides=overrides, out_dir=tmp_path / name, verbose=False)
    assert results["rows"] and all({"experiment", "seed", "fnnet"} <= set(row) for row in results["rows"])
    for plot in results["plots"]:
        with open(plot, "rb") as f:
            assert f.read(8) == PNG
    return results


def test_recipes_are_listed():
    assert {"linear_quadratic", "polynomial_overfit", "optimizers", "init_scale"} <= set(recipes.names())


def test_linear_quadratic_momentum_and_rmsprop_fall_faster_than_sgd(tmp_path):
    results = run_quick("linear_quadratic", tmp_path, repeats=3)  # 3 data orders x 3 optimizers: one population
    assert results["expand_max_difference"] <= 1e-12  # the seed's dummy test, in float64
    curves = {name: np.asarray(c) for name, c in results["curves"].items()}
    iterations = linear_quadratic.Config().iterations
    # w0 = [0, 0, 0, 0, 0, 1] gives logit 1 everywhere; the classes are balanced: -(log s(1) + log s(-1)) / 2.
    start = 0.5 * (np.log1p(np.exp(-1.0)) + np.log1p(np.exp(1.0)))
    for c in curves.values():
        assert c.shape == (3, iterations + 1)  # (orders, steps + 1): the full-data loss before and after each step
        np.testing.assert_allclose(c[:, 0], start, rtol=1e-5)
        assert len(np.unique(c[:, -1])) == 3  # the orders differ
    assert np.all(curves["momentum"][:, -1] < curves["SGD"][:, -1])
    assert np.all(curves["RMSprop"][:, -1] < curves["SGD"][:, -1])
    assert results["below_sgd"] == {"SGD": 0, "momentum": 3, "RMSprop": 3}
    assert curves["SGD"][0, -1] < 0.8 * start  # SGD too learns, only slower
    assert {p.rsplit("/", 1)[-1] for p in results["plots"]} == {"loss_curves.png", "loss_curves_median.png",
                                                               "decision_surfaces.png"}


def test_rmsprop_of_the_recipe_is_the_seeds_formula_with_eps_inside_the_root():
    tx = linear_quadratic.optimizers(linear_quadratic.Config())["RMSprop"]
    grad = jnp.array([0.3, -2e-4])
    updates, _ = tx.update(grad, tx.init(jnp.zeros(2)))
    g = 0.1 * np.asarray(grad, np.float64) ** 2  # G = a*G + (1-a)*dw**2 from G = 0
    np.testing.assert_allclose(updates, -0.05 * np.asarray(grad) / np.sqrt(g + 1e-8), rtol=1e-5)


@pytest.mark.slow  # a recipe run end to end: the slow tier
def test_polynomial_overfit_l2_shrinks_the_high_order_coefficients(tmp_path):
    results = run_quick("polynomial_overfit", tmp_path)
    fits = results["fits"]
    none, swept, seed = fits["order 9, l2 0"], fits["order 9, l2 0.001"], fits["order 9, l2 1"]
    assert none["train_mse"] < fits["order 1, l2 0"]["train_mse"]  # the high order fits the points closer
    assert seed["nonlinear_norm"] < swept["nonlinear_norm"] < none["nonlinear_norm"]
    assert none["nonlinear_norm"] > 1.0 and fits["order 1, l2 0"]["nonlinear_norm"] == 0.0
    # lambda = 1 in these units outweighs the data: the fit is far from y = x, not just smoother.
    assert seed["line_gap"] > 10 * none["line_gap"]
    assert len(results["plots"]) == 3
    _check_polynomial_exact_fits(results)


def _check_polynomial_exact_fits(results):
    exact = results["exact"]
    assert exact["order 9, none"]["train_mse"] < 1e-12  # 10 points, 10 coefficients: through every point
    assert exact["order 1, none"]["train_mse"] > 0.1
    rows = {row["experiment"]: row["fnnet"] for row in results["rows"]}
    article = [text for name, text in rows.items() if "article's MSE + λ||c||" in name]
    assert len(article) == 4 and all(text.endswith("as the article says") for text in article)


def test_article_penalty_minimizer_is_stationary_and_beats_perturbations():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 20, 10)
    y = x + rng.normal(size=10)
    a = polynomial_overfit.powers(x, 5)
    objective = lambda c, w, lam: np.mean((a @ c - y) ** 2) + lam * np.linalg.norm(w * c)
    for weights in (np.ones(6), 20.0 ** -np.arange(6.0)):
        for lam in (0.1, 1.0):
            c = polynomial_overfit.article_penalized_fit(a, y, lam, weights)
            grad = 2 / len(y) * a.T @ (a @ c - y) + lam * weights**2 * c / np.linalg.norm(weights * c)
            assert np.max(np.abs(grad)) < 1e-6 * max(1.0, np.max(np.abs(2 / len(y) * a.T @ y)))
            best = objective(c, weights, lam)
            for _ in range(20):
                assert objective(c + 1e-3 * rng.normal(size=6) * np.abs(c).max(), weights, lam) > best
    # a penalty larger than the data's pull gives c = 0 (the norm's kink at 0)
    np.testing.assert_array_equal(polynomial_overfit.article_penalized_fit(a, y, 1e6, np.ones(6)), np.zeros(6))


def test_optimizers_surface_sgd_is_slowest_on_the_valley():
    found = optimizers.best_paths(optimizers.SURFACES["valley"], optimizers.OPTIMIZERS, np.geomspace(1e-3, 1.0, 4))
    final = {name: r["values"][-1] for name, r in found.items()}
    assert max(final, key=final.get) == "sgd"
    assert found["sgd"]["steps_to_threshold"] is None and found["nesterov"]["steps_to_threshold"] is not None
    for r in found.values():
        assert r["path"].shape == (optimizers.SURFACES["valley"].steps + 1, 2)
        np.testing.assert_allclose(r["path"][0], optimizers.SURFACES["valley"].start)


def test_optimizers_offers_the_article_rules_next_to_optax():
    assert set(optimizers.RULES) == set(optimizers.ALL_OPTIMIZERS)
    assert set(optimizers.ARTICLE_OPTIMIZERS) <= set(optimizers.Config().optimizers)
    found = optimizers.best_paths(optimizers.SURFACES["valley"], ("adam", "adam_jhui"), np.array([0.1]))
    start = np.asarray(optimizers.SURFACES["valley"].start)
    first = {name: np.abs(r["path"][1] - start) for name, r in found.items()}
    # step 1 without bias correction: (1 - b1) / sqrt(1 - b2) = 3.16 times optax's lr * sign(g)
    np.testing.assert_allclose(first["adam_jhui"] / first["adam"], 0.1 / np.sqrt(0.001), rtol=1e-3)


def test_optimizers_mnist_options_clip_and_decay():
    config = optimizers.Config(step_decay=True, decay_start=2, decay_every=3, decay_factor=0.5, clip_norm=5.0)
    tx = optimizers.mnist_optimizer("sgd", 0.1, config)
    params = {"dense_0": {"kernel": jnp.zeros(2)}}
    grads = {"dense_0": {"kernel": jnp.array([300.0, 400.0])}}  # norm 500, clipped to 5
    state = tx.init(params)
    sizes = []
    for _ in range(6):
        updates, state = tx.update(grads, state, params)
        sizes.append(float(jnp.linalg.norm(updates["dense_0"]["kernel"])))
    # rate 0.1 for steps 0-4, halved from step start + every = 5
    np.testing.assert_allclose(sizes, [0.5] * 5 + [0.25], rtol=1e-5)


@pytest.mark.slow  # three MNIST MLP programs on mnist_small: ~10 s on 2 cores
def test_optimizers_quick_trains_every_optimizer(tmp_path, monkeypatch):
    monkeypatch.delenv("FNNET_DATA_DIR", raising=False)
    results = run_quick("optimizers", tmp_path)
    quick = recipes.make_config(optimizers, quick=True)
    assert list(results["mnist"]) == list(quick.optimizers)
    assert all(r["accuracy"] > 0.3 for r in results["mnist"].values())  # chance is 0.1
    valley = results["surfaces"]["valley"]
    assert valley["momentum"]["steps_to_threshold"] is not None and valley["sgd"]["steps_to_threshold"] is None
    assert {p.rsplit("/", 1)[-1] for p in results["plots"]} == {"valley_paths.png", "valley_loss.png", "step_decay.png"}


@pytest.mark.slow  # a recipe run end to end: the slow tier
def test_init_scale_variances_and_activation_scales(tmp_path):
    results = run_quick("init_scale", tmp_path)
    variances = {name: np.asarray(v) for name, v in results["unit_variances"].items()}
    # var(z) = 500 Var(w); the variance of n normal samples has a relative standard error sqrt(2 / n).
    within = 5 * np.sqrt(2 / recipes.make_config(init_scale, quick=True).n_outputs)  # 5 standard errors
    assert np.all(np.abs(variances["N(0, 1)"] / 500 - 1) < within)
    assert np.all(np.abs(variances["He normal, 2/n"] - 1) < within)
    assert np.all(np.abs(variances["LeCun normal, 1/n"] / 0.5 - 1) < within)
    assert abs(results["weight_variance"] - 1) < within
    relu, tanh = results["activation_std"]["relu"], results["activation_std"]["tanh"]
    assert relu["N(0, 0.01²)"][-1] < 1e-4 and relu["N(0, 1)"][-1] > 1e3  # vanishes / explodes
    assert 0.3 < relu["He normal"][-1] < 3.0  # He keeps relu's scale
    assert tanh["N(0, 1)"][-1] > 0.9  # saturated at +-1
    assert 0.1 < tanh["Glorot normal"][-1] < 1.0
    # Zero initialization: the sigmoid hidden units moved off zero but stayed identical; Glorot broke the symmetry.
    symmetry = results["zero_init_symmetry"]["sigmoid"]
    zeros, glorot = symmetry["zeros"], symmetry["Glorot uniform"]
    assert zeros["spread"] == 0.0 and zeros["largest_weight"] > 0
    assert glorot["spread"] > 0.1 and glorot["accuracy"] > zeros["accuracy"]


def test_init_scale_draws_in_one_program_equal_the_single_draws():
    config = init_scale.Config(n_inputs=10, n_outputs=50)
    init = init_scale.UNIT_INITS["He normal, 2/n"]
    keys = jax.random.split(jax.random.key(0), 3)
    draws = init_scale.unit_output_draws(init, keys, config)
    assert draws.shape == (3, 50)
    for k, z in zip(keys, draws):
        np.testing.assert_allclose(z, init_scale.unit_outputs(init, k, config), rtol=1e-6, atol=1e-6)


def test_init_scale_unit_outputs_are_keyed():
    config = init_scale.Config(n_outputs=500)
    init = init_scale.UNIT_INITS["N(0, 1)"]
    same = [init_scale.unit_outputs(init, jax.random.key(3), config) for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])
    assert not np.array_equal(same[0], init_scale.unit_outputs(init, jax.random.key(4), config))


@pytest.mark.slow  # a recipe run end to end: the slow tier
def test_planar_logs_the_cost_from_iteration_0_and_reports_held_out_accuracy(tmp_path):
    results = run_quick("planar", tmp_path, iterations=200, log_every=100, sweep_sizes=(4,), sweep_iterations=200,
                        logreg_iterations=50)
    assert results["cost_iterations"] == [0, 100, 200] and len(results["costs"]) == 2
    # The course's initial weights are randn * 0.01: the output is ~0, so the cost at iteration 0 is ~ln 2.
    assert results["cost_at_0"] == pytest.approx(np.log(2), abs=1e-3)
    assert results["cost_at_0"] > results["costs"][0] > results["costs"][1]
    held = results["held_out_sweep"][4]
    assert 0.5 < held["train"] <= 1 and 0.5 < held["held_out"] <= 1
    experiments = [row["experiment"] for row in results["rows"]]
    assert any(e.startswith("held-out sweep n_h=4: train / held-out accuracy (300 / 100 points)") for e in experiments)
    assert "does large n_h overfit? (held-out sweep)" in experiments


def test_planar_holdout_split_is_keyed_and_disjoint():
    from recipes import planar

    train, held = planar.holdout_split(jax.random.key(0), 400, 0.25)
    assert len(train) == 300 and len(held) == 100 and not set(train) & set(held)
    assert np.array_equal(held, planar.holdout_split(jax.random.key(0), 400, 0.25)[1])
    assert not np.array_equal(held, planar.holdout_split(jax.random.key(1), 400, 0.25)[1])


def test_planar_sweep_member_is_the_small_net_with_dead_padding_units():
    """A sweep member is the widest net started from an n_h net's weights padded with zero units: the extra
    units stay exactly zero under gradient descent, and the live ones follow the n_h net's own training."""
    from fnnet.tree import member

    from recipes import planar

    x, y = fnnet_flower()
    sizes, keys = (2, 5), [jax.random.key(0), jax.random.key(1)]
    wide, population = planar._train_sweep(sizes, x, y, keys=keys, learning_rate=1.2, iterations=150, course_init=True)
    for i, n_h in enumerate(sizes):
        padded = member(population, i).params
        _, alone, _ = planar._train_net(n_h, x, y, key=keys[i], learning_rate=1.2, iterations=150, course_init=True)
        np.testing.assert_array_equal(padded["dense_0"]["kernel"][:, n_h:], 0.0)
        np.testing.assert_array_equal(padded["dense_0"]["bias"][n_h:], 0.0)
        np.testing.assert_array_equal(padded["dense_1"]["kernel"][n_h:], 0.0)
        np.testing.assert_allclose(padded["dense_0"]["kernel"][:, :n_h], alone.params["dense_0"]["kernel"],
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(padded["dense_1"]["kernel"][:n_h], alone.params["dense_1"]["kernel"],
                                   rtol=1e-4, atol=1e-6)
        assert planar._accuracy(wide, member(population, i), x, y) == planar._accuracy(
            planar.M.planar_net(n_h), alone, x, y)


def fnnet_flower():
    from fnnet.data import flower

    x, y = flower(seed=1)
    return x.astype(np.float32), y
