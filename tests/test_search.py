"""Vectorized sweeps: a sweep member equals a separate fit at its setting (learning rate, L2, dropout);
the Dropout rate override; grid meshes, jitter and refinement; results; bad inputs."""
import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from blobs import blobs

from fnnet import TrainOptions, optim
from fnnet import models as M
from fnnet.ensemble import init_members, member
from fnnet.search import (
    Axis,
    SearchResult,
    dropout_layers,
    fit_sweep,
    grid_search,
    linear_axis,
    log_axis,
    set_hyperparams,
)
from fnnet.train import create_train_state, fit

LOSS = "softmax_cross_entropy"
KEY = jax.random.key(0)

X, Y = blobs(192, 0)
XV, YV = blobs(60, 1)
COMMON = dict(epochs=2, batch_size=32, verbose=0, metrics=["accuracy"], validation_data=(XV, YV))


def _dropout_net(rate):
    return M.Sequential([M.Dense(16, "relu"), M.Dropout(rate), M.Dense(3)])


def test_learning_rate_sweep_reproduces_separate_runs():
    model = M.mlp([16, 3], flatten=False)
    rates = [0.003, 0.03, 0.3]
    state, history = fit_sweep(model, LOSS, "momentum", (X, Y), hyperparams={"learning_rate": rates}, key=KEY,
                               **COMMON)
    np.testing.assert_allclose(state.opt_state.hyperparams["learning_rate"], rates, rtol=1e-7)
    for i, lr in enumerate(rates):
        single, single_history = fit(model, LOSS, optim.optimizer("momentum", lr), (X, Y), key=KEY, **COMMON)
        chex.assert_trees_all_close(member(state.params, i), single.params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(history.members[i]["val_loss"], single_history["val_loss"], rtol=1e-5)
    assert len(set(np.round(history["val_loss"][-1], 6))) == 3  # the settings really differ


def test_map_layout_sweep_member_is_bitwise_equal_to_fit():
    model = M.mlp([16, 3], flatten=False)
    state, _ = fit_sweep(model, LOSS, "adam", (X, Y), hyperparams={"learning_rate": [1e-3, 1e-2]}, key=KEY,
                         options=TrainOptions(member_layout="map"), **COMMON)
    single, _ = fit(model, LOSS, optim.optimizer("adam", 1e-2), (X, Y), key=KEY, **COMMON)
    chex.assert_trees_all_equal(member(state.params, 1), single.params)
    chex.assert_trees_all_equal(member(state.opt_state, 1).inner_state, single.opt_state.inner_state)


def test_dropout_and_l2_sweep_reproduces_separate_runs():
    rates, l2s = [0.0, 0.3, 0.6], [0.0, 1e-3, 1e-1]
    state, _ = fit_sweep(_dropout_net(0.5), LOSS, "adam", (X, Y), hyperparams={"dropout": rates, "l2": l2s},
                         key=KEY, **COMMON)
    for i in range(3):
        single, _ = fit(_dropout_net(rates[i]), LOSS, optim.optimizer("adam", l2=l2s[i]), (X, Y), key=KEY, **COMMON)
        chex.assert_trees_all_close(member(state.params, i), single.params, rtol=1e-5, atol=1e-6)


def test_momentum_and_weight_decay_sweep_reproduces_separate_runs():
    model = M.mlp([16, 3], flatten=False)
    momenta, decays = [0.0, 0.9], [1e-1, 1e-3]
    options = {**COMMON, "validation_data": None}
    state, _ = fit_sweep(model, LOSS, "sgd", (X, Y), hyperparams={"momentum": momenta, "weight_decay": decays},
                         optimizer_options={"learning_rate": 0.1}, key=KEY, **options)
    np.testing.assert_allclose(state.opt_state.hyperparams["momentum"], momenta, rtol=1e-7)
    for i in range(2):
        tx = optim.optimizer("sgd", 0.1, momentum=momenta[i], weight_decay=decays[i])
        single, _ = fit(model, LOSS, tx, (X, Y), key=KEY, **options)
        chex.assert_trees_all_close(member(state.params, i), single.params, rtol=1e-5, atol=1e-6)


def test_dropout_rate_from_the_state_draws_flax_dropouts_mask():
    x = jax.random.normal(jax.random.key(1), (8, 40))
    key = jax.random.key(2)
    expected = nn.Dropout(0.3, deterministic=False).apply({}, x, rngs={"dropout": key})
    layer = M.Dropout(0.0)
    y, state = layer.layer_apply({}, {"rate": jnp.float32(0.3)}, x, key=key, train=True)
    chex.assert_trees_all_equal(y, expected)
    assert state == {"rate": jnp.float32(0.3)}
    # Evaluation ignores the rate; without the override the layer behaves as before.
    chex.assert_trees_all_equal(layer.layer_apply({}, {"rate": jnp.float32(0.3)}, x, key=key, train=False)[0], x)
    chex.assert_trees_all_equal(M.Dropout(0.3).layer_apply({}, {}, x, key=key, train=True)[0], expected)
    # The rate is an array, so vmap trains one rate per member.
    batched = jax.vmap(lambda r: layer.layer_apply({}, {"rate": r}, x, key=key, train=True)[0])(jnp.array([0.3, 0.0]))
    chex.assert_trees_all_equal(batched[0], expected)
    chex.assert_trees_all_equal(batched[1], x)


def test_set_hyperparams_on_single_and_stacked_states_and_nested_dropout():
    inner = M.Sequential([M.Dense(4), M.Dropout(0.1)], name="encoder")
    model = M.Sequential([inner, M.Dropout(0.2), M.Dense(3)])
    assert dropout_layers(model) == {"encoder/dropout_0": ("encoder", "dropout_0"), "dropout_0": ("dropout_0",)}
    tx = optim.optimizer("sgd", 0.1, inject=True)
    single = set_hyperparams(create_train_state(model, tx, KEY, X[:1]), model, learning_rate=0.5, dropout_0=0.4)
    assert float(single.opt_state.hyperparams["learning_rate"]) == 0.5
    assert float(single.model_state["dropout_0"]["rate"]) == pytest.approx(0.4) and "encoder" not in single.model_state
    stacked = set_hyperparams(init_members(model, tx, jax.random.split(KEY, 2), X[:1]), model, dropout=[0.1, 0.5])
    np.testing.assert_allclose(stacked.model_state["encoder"]["dropout_0"]["rate"], [0.1, 0.5])
    np.testing.assert_allclose(stacked.model_state["dropout_0"]["rate"], [0.1, 0.5])
    logits, _ = model.apply(member(stacked.params, 0), X[:4], key=KEY, train=True, state=member(stacked.model_state, 0))
    chex.assert_shape(logits, (4, 3))


@pytest.mark.parametrize(
    "values, match",
    [
        (dict(learning_rate=[0.1, -0.01]), "learning_rate must be finite and > 0"),
        (dict(learning_rate=[0.1, 0.0]), "learning_rate must be finite and > 0"),
        (dict(momentum=[0.5, 1.5]), "momentum must lie in"),
        (dict(dropout=[0.1, 1.0]), r"dropout must lie in \[0.0, 1.0\)"),
        (dict(learning_rate=[0.1, 0.2, 0.3]), r"shape \(2,\)"),
        (dict(beta=[0.1, 0.2]), "unknown hyper-parameter 'beta'; sweepable here"),
        (dict(l2=[0.1, 0.2]), "l2 is off in this optimizer"),
    ],
)
def test_set_hyperparams_rejects_bad_values(values, match):
    model = _dropout_net(0.5)
    tx = optim.optimizer("momentum", 0.1, inject=True)
    state = init_members(model, tx, jax.random.split(KEY, 2), X[:1])
    with pytest.raises(ValueError, match=match):
        set_hyperparams(state, model, **values)


def test_set_hyperparams_needs_an_injected_optimizer_and_dropout_layers():
    model = M.mlp([4, 3], flatten=False)
    state = create_train_state(model, optim.optimizer("sgd", 0.1, inject=False), KEY, X[:1])
    with pytest.raises(ValueError, match="inject=True"):
        set_hyperparams(state, model, learning_rate=0.2)
    injected = create_train_state(model, optim.optimizer("sgd", 0.1), KEY, X[:1])  # the default
    assert float(set_hyperparams(injected, model, learning_rate=0.2).opt_state.hyperparams["learning_rate"]) == \
        pytest.approx(0.2)
    with pytest.raises(ValueError, match="has no Dropout layer"):
        set_hyperparams(injected, model, dropout=0.2)


def test_fit_sweep_rejects_bad_hyperparams():
    model = M.mlp([4, 3], flatten=False)
    with pytest.raises(ValueError, match="at least one"):
        fit_sweep(model, LOSS, "sgd", (X, Y), hyperparams={}, key=KEY, **COMMON)
    with pytest.raises(ValueError, match="one common length"):
        fit_sweep(model, LOSS, "sgd", (X, Y), hyperparams={"learning_rate": [0.1, 0.2], "momentum": [0.9]},
                  key=KEY, **COMMON)
    with pytest.raises(ValueError, match="learning_rate must be finite and > 0"):
        fit_sweep(model, LOSS, "sgd", (X, Y), hyperparams={"learning_rate": [0.1, -1.0]}, key=KEY, **COMMON)


# ----------------------------------------------------------------------------------------------
# Axes and meshes


def test_log_and_linear_axes():
    np.testing.assert_allclose(log_axis(1e-4, 1e-1, 4).values(), [1e-4, 1e-3, 1e-2, 1e-1], rtol=1e-12)
    assert log_axis(1e-4, 1e-1, 4).spacing == pytest.approx(1.0)
    np.testing.assert_allclose(linear_axis(0.0, 0.6, 4).values(), [0.0, 0.2, 0.4, 0.6], atol=1e-12)
    # A shift of u spacings moves the value by a factor 10**u on a log axis; linear values stay in bounds.
    assert log_axis(1e-4, 1e-1, 4).shifted(1, 0.25) == pytest.approx(1e-3 * 10**0.25)
    assert linear_axis(0.0, 0.6, 4).shifted(0, -0.5) == 0.0


def test_zoom_divides_the_spacing_around_the_centre():
    fine = log_axis(1e-4, 1e-1, 4).zoom(1e-1, 3.0)  # best point on the border: the fine mesh goes beyond
    assert fine.num == 4 and fine.spacing == pytest.approx(1 / 3)
    np.testing.assert_allclose(fine.values(), 1e-1 * 10.0 ** (np.array([-1.5, -0.5, 0.5, 1.5]) / 3), rtol=1e-9)
    clipped = linear_axis(0.0, 0.6, 4).zoom(0.0, 2.0)
    assert clipped.low == 0.0 and clipped.high == pytest.approx(0.15)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: log_axis(1e-3, 1e-1, 0), "num >= 1"),
        (lambda: log_axis(0.0, 1e-1, 3), "low > 0"),
        (lambda: linear_axis(0.5, 0.1, 3), "low <= high"),
        (lambda: Axis(0.1, 1.0, 3, "cubic"), "scale must be one of"),
    ],
)
def test_bad_axes(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ----------------------------------------------------------------------------------------------
# grid_search

SEARCH = dict(loss=LOSS, train_data=(X, Y), validation_data=(XV, YV), key=KEY, epochs=2, batch_size=32)


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_grid_search_mesh_jitter_refinement_table_and_heat_map(tmp_path):
    space = {"learning_rate": log_axis(1e-3, 1e-1, 3), "l2": log_axis(1e-5, 1e-3, 2)}
    result = grid_search(space, model=M.mlp([16, 3], flatten=False), optimizer="adam", jitter=0.5,
                         fine_epochs=3, **SEARCH)
    coarse = [t for t in result.trials if t.round == 0]
    fine = [t for t in result.trials if t.round == 1]
    assert len(coarse) == 6 and len(fine) == 6 and {t.epochs for t in fine} == {3}
    for t in coarse:  # every point lies within a quarter spacing (in decades) of its cross point
        for name, axis in space.items():
            nominal = axis.values()[t.cell[list(space).index(name)]]
            assert abs(np.log10(t.values[name] / nominal)) <= 0.25 * axis.spacing + 1e-9
    assert len({t.values["learning_rate"] for t in coarse}) == 6  # shifted independently per point
    best_coarse = max(coarse, key=lambda t: t.score)
    fine_lrs = sorted({t.values["learning_rate"] for t in fine})
    assert min(fine_lrs) < best_coarse.values["learning_rate"] < max(fine_lrs)
    scores = [t.score for t in result.trials]
    assert scores == sorted(scores, reverse=True) and result.best is result.trials[0]
    table = result.table().splitlines()
    assert table[0] == "| round | learning_rate | l2 | val_accuracy |" and len(table) == 2 + 12
    figure = result.plot(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 0 and len(figure.axes) >= 2


def test_grid_search_scores_are_the_separate_runs_scores():
    space = {"learning_rate": [0.01, 0.1]}
    model = M.mlp([16, 3], flatten=False)
    result = grid_search(space, model=model, optimizer="sgd", jitter=0.0, **SEARCH)
    for trial in result.trials:
        _, history = fit(model, LOSS, optim.optimizer("sgd", trial.values["learning_rate"]), (X, Y),
                         key=jax.random.fold_in(jax.random.split(KEY)[0], 1), epochs=2, batch_size=32,
                         validation_data=(XV, YV), metrics=["accuracy"], verbose=0)
        assert trial.score == pytest.approx(history["val_accuracy"][-1])


def test_shape_settings_get_one_program_each(capsys):
    result = grid_search({"hidden": [4, 8], "learning_rate": [0.01, 0.1, 1.0]},
                         model=lambda hidden: M.mlp([hidden, 3], flatten=False), optimizer="sgd", verbose=1, **SEARCH)
    assert sorted((t.values["hidden"], t.values["learning_rate"]) for t in result.trials) == [
        (h, lr) for h in (4, 8) for lr in (0.01, 0.1, 1.0)]
    out = capsys.readouterr().out
    assert "3 settings in one program for {'hidden': 4}" in out and "for {'hidden': 8}" in out
    assert isinstance(result, SearchResult) and len(result.rows()) == 6


@pytest.mark.parametrize(
    "space, match",
    [
        ({}, "space is empty"),
        ({"learning_rate": []}, "empty list"),
        ({"learning_rate": [0.1, -0.1]}, "learning_rate must be finite and > 0"),
        ({"learnin_rate": [0.1]}, "unknown hyper-parameter 'learnin_rate'"),
        ({"dropout": [0.1]}, "model 'mlp' has no Dropout layer"),
    ],
)
def test_grid_search_rejects_bad_spaces_before_training(space, match):
    with pytest.raises(ValueError, match=match):
        grid_search(space, model=M.mlp([4, 3], flatten=False), optimizer="sgd", **SEARCH)
