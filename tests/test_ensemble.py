"""fit_ensemble (vmapped members == separate fit runs), chunking, per-member callbacks, the ensemble
predictors against hand computations, snapshot ensembles, and input validation. Small synthetic data."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from blobs import blobs

import fnnet
from fnnet import models as M
from fnnet.callbacks import EarlyStopping
from fnnet.engine import programs
from fnnet.ensemble import (
    Snapshots,
    accuracies,
    checkpoint_snapshots,
    class_probabilities,
    combine,
    ensemble_predict,
    evaluate_ensemble,
    fit_ensemble,
    init_members,
    member,
    member_keys,
    predict_members,
    stack,
)
from fnnet.objective import make_objective
from fnnet.train import NonFiniteLossError, create_train_state, fit, make_train_step

LOSS = "softmax_cross_entropy"
KEYS = jax.random.split(jax.random.key(0), 3)

X, Y = blobs(200, 0)
XV, YV = blobs(60, 1)
MODEL = M.mlp([16, 3], dropout=0.2, flatten=False)
TX = optax.adam(1e-2)
COMMON = dict(epochs=2, batch_size=32, verbose=0, metrics=["accuracy"], validation_data=(XV, YV))


def _comparable(state):
    """A TrainState with its PRNG key as raw data, so chex can compare it."""
    return state.replace(key=jax.random.key_data(state.key))


def _assert_member_equals_fit(ens_state, ens_history, i, state, history):
    chex.assert_trees_all_close(_comparable(member(ens_state, i)), _comparable(state), rtol=1e-5, atol=1e-6)
    assert ens_history.members[i].epochs == history.epochs
    for name, values in history.history.items():
        np.testing.assert_allclose(ens_history.members[i].history[name], values, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
@pytest.mark.parametrize("epoch_mode", ["scan", "step"])
def test_each_member_equals_a_separate_fit_with_its_key(epoch_mode):
    # 200 examples in batches of 32: 6 full batches and a partial one, as fit runs them.
    keys = KEYS if epoch_mode == "scan" else KEYS[:2]
    options = fnnet.TrainOptions(epoch_mode=epoch_mode)
    state, history = fit_ensemble(MODEL, LOSS, TX, (X, Y), keys=keys, options=options, **COMMON)
    chex.assert_shape(state.params["dense_0"]["kernel"], (len(keys), 6, 16))
    assert history["val_accuracy"].shape == (2, len(keys)) and len(history) == len(keys)
    for i in range(len(keys)):
        single, single_history = fit(MODEL, LOSS, TX, (X, Y), key=KEYS[i], options=options, **COMMON)
        _assert_member_equals_fit(state, history, i, single, single_history)
    # The members really differ (own init, dropout and data order).
    assert not np.allclose(state.params["dense_0"]["kernel"][0], state.params["dense_0"]["kernel"][1])


def test_shared_order_members_see_the_first_members_order():
    state, history = fit_ensemble(MODEL, LOSS, TX, (X, Y), keys=KEYS[:2], shared_order=True, **COMMON)
    for i in range(2):
        start = create_train_state(MODEL, TX, jax.random.split(KEYS[i])[0], X[:1])
        single, single_history = fit(MODEL, LOSS, TX, (X, Y), key=KEYS[0], initial_state=start, **COMMON)
        _assert_member_equals_fit(state, history, i, single, single_history)


def test_chunked_training_equals_unchunked():
    full, full_history = fit_ensemble(MODEL, LOSS, TX, (X, Y), keys=KEYS, **COMMON)
    chunked, chunked_history = fit_ensemble(MODEL, LOSS, TX, (X, Y), keys=KEYS, options=fnnet.TrainOptions(chunk=2),
                                            **COMMON)
    chex.assert_trees_all_close(_comparable(chunked), _comparable(full), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(chunked_history["val_loss"], full_history["val_loss"], rtol=1e-5)
    assert len(chunked_history.epoch_times) == 2


def test_map_layout_members_and_chunks_are_bitwise_equal_to_fit():
    # "map" runs each member's own unbatched step: the program fit runs, so equality is exact (the
    # batched "vmap" layout is equal up to rounding: benchmarks/equality.py measures how close).
    options = fnnet.TrainOptions(member_layout="map")
    state, _ = fit_ensemble(MODEL, LOSS, TX, (X, Y), keys=KEYS, options=options, **COMMON)
    chunked, _ = fit_ensemble(MODEL, LOSS, TX, (X, Y), keys=KEYS, options=options.replace(chunk=1), **COMMON)
    chex.assert_trees_all_equal(_comparable(chunked), _comparable(state))
    single, _ = fit(MODEL, LOSS, TX, (X, Y), key=KEYS[2], **COMMON)
    chex.assert_trees_all_equal(_comparable(member(state, 2)), _comparable(single))


def test_n_members_and_key_split_the_key():
    keys = member_keys(n_members=3, key=jax.random.key(0))
    np.testing.assert_array_equal(jax.random.key_data(keys), jax.random.key_data(KEYS))
    raw = member_keys(keys=jax.random.key_data(KEYS))
    np.testing.assert_array_equal(jax.random.key_data(raw), jax.random.key_data(KEYS))


def test_each_member_stops_early_on_its_own_like_fit():
    options = {**COMMON, "epochs": 25}
    callback = EarlyStopping("val_loss", patience=1, restore_best_weights=True)
    state, history = fit_ensemble(MODEL, LOSS, TX, (X, Y), keys=KEYS, callbacks=[callback], **options)
    lengths = [len(h.epochs) for h in history.members]
    assert all(history.stopped_early) and len(set(lengths)) > 1, lengths
    assert callback.best_epoch is None  # every member used its own copy
    table = history["val_loss"]
    for i in range(3):
        single_cb = EarlyStopping("val_loss", patience=1, restore_best_weights=True)
        single, single_history = fit(MODEL, LOSS, TX, (X, Y), key=KEYS[i], callbacks=[single_cb], **options)
        _assert_member_equals_fit(state, history, i, single, single_history)
        assert history.callbacks[i][0].best_epoch == single_cb.best_epoch
        assert np.isnan(table[lengths[i]:, i]).all() and not np.isnan(table[: lengths[i], i]).any()


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_non_finite_member_raises_naming_it_or_is_skipped():
    start = init_members(MODEL, TX, KEYS[:2], X[:1])
    kernel = start.params["dense_0"]["kernel"].at[1].set(jnp.inf)
    start = start.replace(params={**start.params, "dense_0": {**start.params["dense_0"], "kernel": kernel}})
    with pytest.raises(NonFiniteLossError, match="member 1"):
        fit_ensemble(MODEL, LOSS, TX, (X, Y), keys=KEYS[:2], initial_state=start, **{**COMMON, "validation_data": None})
    _, history = fit_ensemble(MODEL, LOSS, TX, (X, Y), keys=KEYS[:2], initial_state=start,
                              options=fnnet.TrainOptions(on_nonfinite="skip"), **{**COMMON, "validation_data": None})
    assert history.members[0].skipped_steps == 0
    assert history.members[1].skipped_steps == history.members[1].steps == 14


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
@pytest.mark.parametrize("shared_order", [False, True])
def test_population_step_keeps_only_the_failed_or_stopped_members_state(shared_order):
    spec = programs.StepSpec.make(make_objective(MODEL, LOSS), TX, skip_nonfinite=True)
    step = programs.member_step(spec, guard=False)
    single = make_train_step(MODEL, LOSS, TX)  # the guarded step of fit(options=TrainOptions(on_nonfinite="skip"))
    start = init_members(MODEL, TX, KEYS, X[:1])
    kernel = start.params["dense_0"]["kernel"].at[1].set(jnp.nan)
    bad = start.replace(params={**start.params, "dense_0": {**start.params["dense_0"], "kernel": kernel}})
    x = X[:32] if shared_order else jnp.stack([X[:32], X[32:64], X[64:96]])
    y = Y[:32] if shared_order else jnp.stack([Y[:32], Y[32:64], Y[64:96]])
    member_step = jax.jit(programs.population_step(step, shared_order=shared_order, skip_nonfinite=True))
    everyone = jnp.ones(3, bool)
    for state, failed in ((start, []), (bad, [1])):
        new, logs = member_step(state, x, y, jnp.int32(0), (), everyone)
        np.testing.assert_array_equal(logs["finite"], [i not in failed for i in range(3)])
        np.testing.assert_array_equal(new.step, state.step + 1)
        for i in range(3):
            xi, yi = (x, y) if shared_order else (x[i], y[i])
            expected, _ = single(member(state, i), xi, yi)  # a failed member: its old state, step + 1
            chex.assert_trees_all_close(_comparable(member(new, i)), _comparable(expected), rtol=1e-6, atol=1e-7)
    # A member that stopped (its callbacks asked to) keeps its whole state, step count included.
    new, _ = member_step(start, x, y, jnp.int32(0), (), jnp.array([True, False, True]))
    chex.assert_trees_all_equal(_comparable(member(new, 1)), _comparable(member(start, 1)))


# ----------------------------------------------------------------------------------------------
# Predictors

# Three members' class probabilities for two examples (M=3, N=2, C=3).
PROBS = np.array([
    [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]],
    [[0.1, 0.5, 0.4], [0.4, 0.35, 0.25]],
    [[0.2, 0.45, 0.35], [0.1, 0.25, 0.65]],
], np.float32)


def test_average_of_probabilities():
    expected = np.array([[0.9, 1.25, 0.85], [0.7, 1.1, 1.2]]) / 3
    np.testing.assert_allclose(combine(PROBS, "average"), expected, rtol=1e-6)


def test_majority_vote_and_its_tie_break():
    # Example 0: votes for classes 0, 1, 1 -> class 1 wins 2/3. Example 1: votes 1, 0, 2 -> a three-way
    # tie, broken towards the lowest class index.
    scores = combine(PROBS, "vote")
    np.testing.assert_allclose(scores, [[1 / 3, 2 / 3, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    np.testing.assert_array_equal(np.argmax(scores, -1), [1, 0])


def test_confidence_weighted_vote():
    # Example 0: class 0 with weight 0.6, class 1 with 0.5 + 0.45 = 0.95. Example 1: class 1 with 0.5,
    # class 0 with 0.4, class 2 with 0.65 -> class 2 wins although a plain vote ties.
    scores = combine(PROBS, "weighted_vote")
    np.testing.assert_allclose(scores, [[0.6 / 1.55, 0.95 / 1.55, 0.0], [0.4 / 1.55, 0.5 / 1.55, 0.65 / 1.55]],
                               rtol=1e-6)
    np.testing.assert_array_equal(np.argmax(scores, -1), [1, 2])


def test_binary_outputs_become_two_class_probabilities():
    logits = np.array([[[0.0], [2.0]]], np.float32)
    p = 1 / (1 + np.exp(-2.0))
    np.testing.assert_allclose(class_probabilities(logits), [[[0.5, 0.5], [1 - p, p]]], rtol=1e-6)


def _linear_members():
    """A bias-free linear model whose member logits for x = I are the rows of hand-chosen kernels."""
    model = M.Sequential([M.Dense(3, use_bias=False)])
    logits = np.log(PROBS)  # softmax(log p) = p (rows sum to 1)
    kernels = np.zeros((3, 3, 3), np.float32)
    kernels[:, :2, :] = logits  # example n is the one-hot input e_n, so its logits are kernel row n
    return model, {"dense_0": {"kernel": jnp.asarray(kernels)}}, np.eye(3, dtype=np.float32)[:2]


def test_predict_members_and_ensemble_predict_use_every_member():
    model, params, x = _linear_members()
    chex.assert_shape(predict_members(model, params, x), (3, 2, 3))
    np.testing.assert_allclose(ensemble_predict(model, params, x, method="average"), combine(PROBS), rtol=1e-5)


def test_evaluate_ensemble_against_hand_counts():
    model, params, x = _linear_members()
    labels = np.array([1, 2])
    result = evaluate_ensemble(model, params, x, labels)
    # Member predictions [0, 1], [1, 0], [1, 2] against labels [1, 2]: accuracies 0, 0.5, 1.
    np.testing.assert_allclose(result["members"], [0.0, 0.5, 1.0])
    assert result["best_member"] == 1.0 and result["best_member_index"] == 2 and result["mean_member"] == 0.5
    # Ensemble predictions: average [1, 2] -> 1; vote [1, 0 (three-way tie)] -> 0.5; weighted [1, 2] -> 1.
    assert (result["average"], result["vote"], result["weighted_vote"]) == (1.0, 0.5, 1.0)


# ----------------------------------------------------------------------------------------------
# Snapshot ensembles


def test_snapshots_keep_the_params_of_the_chosen_epochs():
    snapshots = Snapshots(epochs=[0, 2], monitor="val_loss")
    fit(MODEL, LOSS, TX, (X, Y), key=KEYS[0], callbacks=[snapshots], **{**COMMON, "epochs": 3})
    params, model_state = snapshots.stacked()
    chex.assert_shape(params["dense_1"]["kernel"], (2, 16, 3))
    assert snapshots.epochs == [0, 2] and model_state == {}
    for i, epochs in enumerate((1, 3)):  # the same key replays the same first epochs
        single, _ = fit(MODEL, LOSS, TX, (X, Y), key=KEYS[0], **{**COMMON, "epochs": epochs})
        chex.assert_trees_all_close(member(params, i), single.params, rtol=1e-6)
    best_params, _ = snapshots.stacked(best=1)
    best = int(np.argmin(snapshots.values))
    chex.assert_trees_all_close(member(best_params, 0), member(params, best))
    assert evaluate_ensemble(MODEL, params, XV, YV)["members"].shape == (2,)


def test_snapshots_every_n_epochs():
    snapshots = Snapshots(every=2)
    fit(MODEL, LOSS, TX, (X, Y), key=KEYS[0], callbacks=[snapshots], **{**COMMON, "epochs": 5})
    assert snapshots.epochs == [1, 3] and len(snapshots) == 2


def test_snapshot_ensemble_from_the_checkpoints_of_one_run(tmp_path):
    snapshots = Snapshots(every=1)
    fit(MODEL, LOSS, TX, (X, Y), key=KEYS[0], callbacks=[snapshots], checkpoint=fnnet.Checkpointing(tmp_path),
        **{**COMMON, "validation_data": None})
    from_memory = snapshots.stacked()  # after epochs 1 and 2: steps 7 and 14
    params, model_state = checkpoint_snapshots(tmp_path, MODEL, TX, X[:1])
    chex.assert_trees_all_equal((params, model_state), from_memory)
    assert evaluate_ensemble(MODEL, params, XV, YV)["members"].shape == (2,)
    second, _ = checkpoint_snapshots(tmp_path, MODEL, TX, X[:1], steps=[14])
    chex.assert_trees_all_equal(second, jax.tree.map(lambda a: a[1:], from_memory[0]))
    with pytest.raises(ValueError, match=r"steps must be saved checkpoint steps \[7, 14\], got \[8\]"):
        checkpoint_snapshots(tmp_path, MODEL, TX, X[:1], steps=[8])
    with pytest.raises(ValueError, match="holds no checkpoints"):
        checkpoint_snapshots(tmp_path / "none", MODEL, TX, X[:1])


def test_stack_and_member_round_trip():
    trees = [{"w": jnp.full((2,), float(i))} for i in range(3)]
    stacked = stack(trees)
    chex.assert_shape(stacked["w"], (3, 2))
    chex.assert_trees_all_equal(member(stacked, 2), trees[2])


# ----------------------------------------------------------------------------------------------
# Bad inputs


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_members=3, keys=KEYS[:2]), "2 keys but n_members is 3"),
        (dict(keys=KEYS, key=KEYS[0]), "either keys"),
        (dict(n_members=2), "n_members= together with key="),
        (dict(n_members=0, key=KEYS[0]), "n_members must be a positive int"),
        (dict(keys=np.zeros((2, 3), np.uint32)), "raw uint32 keys"),
        (dict(keys=KEYS, epochs=0), "epochs must be a positive int"),
        (dict(keys=KEYS, initial_state=create_train_state(MODEL, TX, KEYS[0], X[:1])), "leading member axis of 3"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, match):
    options = {**COMMON, **kwargs}
    with pytest.raises(ValueError, match=match):
        fit_ensemble(MODEL, LOSS, TX, (X, Y), **options)


def test_bad_options_are_refused_when_built():
    with pytest.raises(ValueError, match="chunk must be a positive int"):
        fnnet.TrainOptions(chunk=0)


def test_bad_predictor_arguments():
    with pytest.raises(ValueError, match="method must be one of"):
        combine(PROBS, "median")
    with pytest.raises(ValueError, match="probabilities must have 3 dimensions"):
        combine(PROBS[0], "vote")
    model, params, x = _linear_members()
    with pytest.raises(ValueError, match="x has 2, y has 3 examples"):
        evaluate_ensemble(model, params, x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="labels has 3 labels but probabilities has 2 examples"):
        accuracies(PROBS, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"kernel has shape \(\) but model 'sequential' expects \(members, 3, 3\)"):
        predict_members(model, {"dense_0": {"kernel": jnp.float32(1.0)}}, x)
    with pytest.raises(ValueError, match="either epochs"):
        Snapshots()
    with pytest.raises(ValueError, match="no snapshot was taken"):
        Snapshots(epochs=[5]).stacked()
