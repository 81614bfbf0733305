"""The training engine's guarantees (issue 14): compiled once and reused, the non-finite guard on the
update, the pre-step state on a raise, continued training, populations resumed bitwise, label checks that
belong to the loss, per-step full-data logs. Tiny shapes: each test compiles a handful of programs."""
import chex
import jax
import numpy as np
import optax
import pytest

import fnnet
from fnnet import losses
from fnnet import models as M
from fnnet.callbacks import StepLog
from fnnet.engine import count_compiles
from fnnet.ensemble import fit_ensemble
from fnnet.search import fit_sweep

KEY = jax.random.key(0)
RNG = np.random.RandomState(0)
X = RNG.randn(64, 5).astype(np.float32)
Y = (X @ RNG.randn(5, 3)).argmax(1)
MODEL = M.mlp([8, 3], flatten=False)
LOSS = "softmax_cross_entropy"


def _fit(**kw):
    args = dict(model=MODEL, loss=LOSS, optimizer=fnnet.optim.optimizer("sgd", 0.1), train_data=(X, Y), epochs=2,
                batch_size=16, key=KEY, verbose=0)
    args.update(kw)
    return fnnet.fit(args.pop("model"), args.pop("loss"), args.pop("optimizer"), args.pop("train_data"), **args)


def test_a_second_fit_evaluate_and_predict_compile_nothing():
    state, _ = _fit(metrics=["accuracy"])
    fnnet.evaluate(MODEL, state, X, Y, loss=LOSS, metrics=["accuracy"])
    fnnet.predict(MODEL, state, X)
    with count_compiles() as compiles:
        again, _ = _fit(metrics=["accuracy"], key=jax.random.key(1))
        fnnet.evaluate(MODEL, again, X, Y, loss=LOSS, metrics=["accuracy"])
        fnnet.predict(MODEL, again, X)
    assert compiles.count == 0


def test_a_loop_over_learning_rates_compiles_once():
    _fit(optimizer=fnnet.optim.optimizer("adam", 1e-3))
    with count_compiles() as compiles:
        finals = [_fit(optimizer=fnnet.optim.optimizer("adam", lr))[1]["loss"][-1] for lr in (1e-2, 3e-2, 1e-1)]
    assert compiles.count == 0
    assert len(set(finals)) == 3  # the learning rate is an input that changes the run


def test_a_nan_update_from_a_finite_gradient_is_caught():
    """Adam with eps=0 on a zero gradient divides 0 by 0: loss and gradient are finite, the update is not."""
    x = X.copy()
    x[:, 0] = 0.0  # the first input's weights get exactly zero gradient
    adam_no_eps = optax.adam(1e-2, eps=0.0)
    with pytest.raises(fnnet.NonFiniteError, match="step 0") as info:
        _fit(train_data=(x, Y), optimizer=adam_no_eps)
    chex.assert_tree_all_finite(info.value.state.params)
    state, history = _fit(train_data=(x, Y), optimizer=adam_no_eps,
                          options=fnnet.TrainOptions(on_nonfinite="skip"))
    assert history.skipped_steps == 8
    chex.assert_tree_all_finite(state.params)


def test_the_raised_state_is_the_state_before_the_bad_step():
    x = X.copy()
    x[40:] *= 1e30  # the third batch (rows 32-47) overflows
    options = fnnet.TrainOptions(shuffle=False)
    with pytest.raises(fnnet.NonFiniteError) as info:
        _fit(train_data=(x, Y), optimizer=fnnet.optim.optimizer("sgd", 1.0), options=options)
    before, _ = _fit(train_data=(x, Y), optimizer=fnnet.optim.optimizer("sgd", 1.0),
                     options=fnnet.TrainOptions(shuffle=False, max_steps=2))
    assert info.value.step == 2 and int(info.value.state.step) == 2
    chex.assert_trees_all_equal(info.value.state.params, before.params)


def test_initial_state_continues_steps_epochs_and_history():
    first, h1 = _fit(epochs=1)
    second, h2 = _fit(epochs=2, initial_state=first)
    whole, h = _fit(epochs=3)
    assert (int(second.step), int(second.epoch)) == (12, 3)
    assert h2.epochs == [1, 2] and (h1 + h2).epochs == [0, 1, 2]
    chex.assert_trees_all_close(second.params, whole.params, rtol=1e-6)
    np.testing.assert_allclose((h1 + h2)["loss"], h["loss"], rtol=1e-6)


def test_a_lambda_loss_gets_the_label_checks_of_the_loss_it_calls():
    user_loss = lambda outputs, labels: losses.softmax_cross_entropy(outputs, labels)
    with pytest.raises(ValueError, match="labels"):
        _fit(loss=user_loss, train_data=(X, Y + 3))


def test_a_final_softmax_with_a_logit_loss_names_both_fixes():
    squashing = M.Sequential([M.Dense(8, "relu"), M.Dense(3, "softmax")])
    with pytest.raises(ValueError, match="applied twice.*remove the final activation.*from_logits=False"):
        _fit(model=squashing, loss="sparse_categorical_crossentropy")


def test_validation_split_holds_out_the_last_rows_before_shuffling():
    _, split = _fit(validation_split=0.25, metrics=["accuracy"])
    _, explicit = _fit(train_data=(X[:48], Y[:48]), validation_data=(X[48:], Y[48:]), metrics=["accuracy"])
    np.testing.assert_allclose(split["val_loss"], explicit["val_loss"], rtol=1e-6)
    with pytest.raises(ValueError, match="validation_split"):
        _fit(validation_split=0.25, validation_data=(X, Y))


def test_step_log_records_the_full_data_loss_before_and_after_every_step():
    log = StepLog(X, Y)
    state, _ = _fit(callbacks=[log], epochs=1)
    after_two, _ = _fit(epochs=1, options=fnnet.TrainOptions(max_steps=2))
    assert log.steps.tolist() == list(range(5)) and log.values["loss"].shape == (5,)
    np.testing.assert_allclose(log.values["loss"][2], fnnet.evaluate(MODEL, after_two, X, Y, loss=LOSS)["loss"],
                               rtol=1e-5)
    assert log.values["loss"][0] > log.values["loss"][1] > log.values["loss"][4]
    np.testing.assert_allclose(log.values["loss"][-1], fnnet.evaluate(MODEL, state, X, Y, loss=LOSS)["loss"], rtol=1e-5)
    members = StepLog(X, Y, every=2)
    fit_ensemble(MODEL, LOSS, fnnet.optim.optimizer("sgd", 0.1), (X, Y), epochs=1, batch_size=16, n_members=3,
                 key=KEY, callbacks=[members], verbose=0)
    assert members.values["loss"].shape == (3, 3) and members.steps.tolist() == [0, 1, 3]
    with pytest.raises(ValueError, match="same number of rows"):
        StepLog(X, Y[:10])


def test_an_interrupted_population_resumes_bitwise(tmp_path):
    sweep = dict(hyperparams={"learning_rate": [0.05, 0.1, 0.2]}, key=KEY, batch_size=16, verbose=0)
    whole, whole_history = fit_sweep(MODEL, LOSS, "sgd", (X, Y), epochs=3, **sweep)
    ckpt = fnnet.Checkpointing(tmp_path / "run", resume=True)
    fit_sweep(MODEL, LOSS, "sgd", (X, Y), epochs=3, checkpoint=ckpt,
              options=fnnet.TrainOptions(max_steps=6), **sweep)  # stops mid-epoch 2, as if killed
    resumed, history = fit_sweep(MODEL, LOSS, "sgd", (X, Y), epochs=3, checkpoint=ckpt, **sweep)
    chex.assert_trees_all_equal(resumed.params, whole.params)
    np.testing.assert_array_equal(history.members[1]["loss"], whole_history.members[1]["loss"])
