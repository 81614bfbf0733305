"""fit / train_step / evaluate / predict: determinism, equivalence of the compiled paths, early
stopping, non-finite handling and input validation. Small synthetic data only."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet
from fnnet import models as M
from fnnet.callbacks import EarlyStopping, LambdaCallback
from fnnet.train import (
    NonFiniteLossError,
    TrainState,
    create_train_state,
    evaluate,
    fit,
    make_eval_step,
    make_train_step,
    predict,
    predict_proba,
)

KEY = jax.random.key(0)
LOSS = "softmax_cross_entropy"


def _blobs(n=300, d=6, classes=3, seed=0):
    rng = np.random.RandomState(seed)
    w = rng.randn(d, classes)
    x = rng.randn(n, d).astype(np.float32)
    return x, (x @ w).argmax(1)


X, Y = _blobs()
XV, YV = _blobs(100, seed=1)
MODEL = M.mlp([16, 3], dropout=0.2, flatten=False)


_OPTION_NAMES = ("shuffle", "drop_remainder", "steps_per_epoch", "max_steps", "epoch_mode", "on_nonfinite",
                 "eval_batch_size")


def _fit(**kw):
    args = dict(epochs=2, batch_size=32, key=KEY, verbose=0, metrics=["accuracy"])
    args.update(kw)
    options = {name: args.pop(name) for name in _OPTION_NAMES if name in args}
    if options:
        args["options"] = fnnet.TrainOptions(**options)
    return fit(args.pop("model", MODEL), args.pop("loss", LOSS), args.pop("optimizer", optax.adam(1e-2)),
               args.pop("train_data", (X, Y)), **args)


def test_same_key_gives_bitwise_identical_params():
    a, _ = _fit()
    b, _ = _fit()
    chex.assert_trees_all_equal(a.params, b.params)
    c, _ = _fit(key=jax.random.key(1))
    assert not np.array_equal(a.params["dense_0"]["kernel"], c.params["dense_0"]["kernel"])


def test_scan_epochs_equal_the_step_loop():
    scan_state, scan_hist = _fit(epoch_mode="scan")
    step_state, step_hist = _fit(epoch_mode="step")
    chex.assert_trees_all_close(scan_state.params, step_state.params, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(scan_hist["loss"], step_hist["loss"], rtol=1e-6)
    assert scan_hist.epoch_mode == "scan" and step_hist.epoch_mode == "step"


def test_fit_equals_a_hand_written_loop_over_train_step():
    """fit = create_train_state + epochs of train_step over the key-driven batch order."""
    from fnnet.data.batching import epoch_order

    tx = optax.sgd(0.1)
    state, _ = _fit(optimizer=tx, epochs=2, batch_size=100, metrics=[])
    init_key, shuffle_key = jax.random.split(KEY)
    manual = create_train_state(MODEL, tx, init_key, X[:1])
    step = jax.jit(make_train_step(MODEL, LOSS, tx))
    for epoch in range(2):
        order = np.asarray(epoch_order(jax.random.fold_in(shuffle_key, epoch), len(X)))
        for start in range(0, len(X), 100):
            idx = order[start : start + 100]
            manual, logs = step(manual, X[idx], Y[idx].astype(np.int32))
    chex.assert_trees_all_close(state.params, manual.params, rtol=1e-6, atol=1e-6)
    assert int(state.step) == int(manual.step) == 6


class StepVariantsTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_train_and_eval_step_shapes_and_progress(self):
        state = create_train_state(MODEL, optax.adam(1e-2), KEY, X[:1])
        step = self.variant(make_train_step(MODEL, LOSS, optax.adam(1e-2), metrics=["accuracy"]))
        new_state, logs = step(state, X[:32], Y[:32])
        chex.assert_trees_all_equal_shapes(new_state.params, state.params)
        chex.assert_shape([logs["loss"], logs["accuracy"]], ())
        assert bool(logs["finite"]) and int(new_state.step) == 1
        eval_logs = self.variant(make_eval_step(MODEL, LOSS, metrics=["accuracy"]))(new_state, X, Y)
        assert set(eval_logs) == {"loss", "accuracy"}


def test_overfits_a_tiny_batch():
    x, y = X[:8], Y[:8]
    state, hist = _fit(model=M.mlp([64, 3], flatten=False), train_data=(x, y), epochs=300, batch_size=8,
                       optimizer=optax.adam(3e-2))
    assert hist["loss"][-1] < 0.01
    assert hist["accuracy"][-1] == 1.0


def test_history_has_keras_names_and_one_entry_per_epoch():
    _, hist = _fit(epochs=3, validation_data=(XV, YV))
    assert list(hist.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 3 for v in hist.history.values())
    assert hist.epochs == [0, 1, 2] and len(hist.epoch_times) == 3
    assert hist.steps == 3 * int(np.ceil(len(X) / 32))
    assert hist.compile_time > 0


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_partial_last_batch_and_drop_remainder():
    _, hist = _fit(train_data=(X[:70], Y[:70]), epochs=1, batch_size=32)
    assert hist.steps == 3  # 32 + 32 + 6
    _, dropped = _fit(train_data=(X[:70], Y[:70]), epochs=1, batch_size=32, drop_remainder=True)
    assert dropped.steps == 2


def test_epoch_loss_is_the_example_weighted_mean_of_step_losses():
    recorded = []
    x, y = X[:40], Y[:40]
    tx = optax.sgd(0.0)  # params never change, so every step sees the initial model
    state, hist = _fit(train_data=(x, y), epochs=1, batch_size=32, optimizer=tx, shuffle=False,
                       model=M.mlp([3], flatten=False),
                       callbacks=[LambdaCallback(on_epoch_end=lambda e, logs, s: recorded.append(logs))])
    full = evaluate(M.mlp([3], flatten=False), state, x, y, loss=LOSS)
    np.testing.assert_allclose(hist["loss"][0], full["loss"], rtol=1e-5)


def test_max_steps_stops_mid_epoch():
    _, hist = _fit(epochs=10, max_steps=13)
    assert hist.steps == 13 and len(hist.epochs) == 2


def test_validation_metrics_equal_evaluate():
    state, hist = _fit(validation_data=(XV, YV), metrics=["accuracy"])
    logs = evaluate(MODEL, state, XV, YV, loss=LOSS, metrics=["accuracy"])
    assert hist["val_loss"][-1] == pytest.approx(logs["loss"], rel=1e-6)
    assert hist["val_accuracy"][-1] == pytest.approx(logs["accuracy"])


def test_evaluate_does_not_depend_on_batch_size():
    state, _ = _fit()
    a = evaluate(MODEL, state, XV, YV, loss=LOSS, metrics=["accuracy"], batch_size=7)
    b = evaluate(MODEL, state, XV, YV, loss=LOSS, metrics=["accuracy"], batch_size=1000)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) and a["accuracy"] == b["accuracy"]


def test_predict_and_predict_proba():
    state, _ = _fit()
    logits = predict(MODEL, state, XV, batch_size=33)
    chex.assert_shape(logits, (100, 3))
    np.testing.assert_allclose(logits, MODEL.apply(state.params, XV), rtol=1e-5, atol=1e-6)
    probs = predict_proba(MODEL, state.params, XV)
    np.testing.assert_allclose(np.asarray(probs).sum(1), 1.0, rtol=1e-5)


def test_early_stopping_follows_keras_semantics():
    stopper = EarlyStopping("val_accuracy", min_delta=0.01, patience=2)
    stopper.on_train_begin(None, None)
    values = [0.50, 0.60, 0.605, 0.61]
    stops = [stopper.on_epoch_end(e, {"val_accuracy": v}, None) for e, v in enumerate(values)]
    # 0.605 and 0.61 are within min_delta of 0.60 -> two epochs without improvement -> stop at epoch 3.
    assert stops == [False, False, False, True]
    assert stopper.best == 0.60 and stopper.best_epoch == 1 and stopper.stopped_epoch == 3
    assert EarlyStopping("val_loss").mode == "min" and EarlyStopping("val_accuracy").mode == "max"


def test_early_stopping_restores_the_best_weights_in_fit():
    snapshots = []
    stopper = EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    recorder = LambdaCallback(
        on_epoch_end=lambda e, logs, s: snapshots.append(jax.tree_util.tree_map(np.array, s.params)))
    state, hist = _fit(epochs=60, validation_data=(XV, YV), optimizer=optax.adam(0.1),
                       model=M.mlp([64, 64, 3], flatten=False), callbacks=[recorder, stopper])
    assert hist.stopped_early and len(hist.epochs) < 60
    chex.assert_trees_all_equal(jax.tree_util.tree_map(np.array, state.params), snapshots[stopper.best_epoch])


def test_non_finite_loss_raises_with_the_step():
    bad_x = X.copy()
    bad_x[40:] *= 1e30  # overflow from the second batch on
    with pytest.raises(NonFiniteLossError, match=r"step 1 \(epoch 1, batch 2") as info:
        _fit(train_data=(bad_x, Y), optimizer=optax.sgd(1.0), epoch_mode="scan", shuffle=False)
    chex.assert_tree_all_finite(info.value.state.params)
    assert info.value.step == 1


def test_non_finite_steps_can_be_skipped():
    bad_x = X.copy()
    bad_x[:32] *= 1e30
    state, hist = _fit(train_data=(bad_x, Y), epochs=1, optimizer=optax.sgd(0.1), shuffle=False, on_nonfinite="skip")
    assert hist.skipped_steps == 1
    chex.assert_tree_all_finite(state.params)
    assert np.isfinite(hist["loss"][0])


def test_initial_state_is_continued_and_not_consumed():
    first, _ = _fit(epochs=1)
    kernel_before = np.array(first.params["dense_0"]["kernel"])
    second, _ = _fit(epochs=1, initial_state=first)
    np.testing.assert_array_equal(first.params["dense_0"]["kernel"], kernel_before)  # still readable
    assert int(second.step) == 2 * int(first.step)


def test_augment_runs_inside_the_step_with_a_per_step_key():
    seen = []

    def zero_out(key, x):
        seen.append(key)
        return jnp.zeros_like(x)

    state, hist = _fit(augment=zero_out, epochs=3)
    # With every input zeroed the first layer's kernel gets no gradient: only biases learn.
    init = create_train_state(MODEL, optax.adam(1e-2), jax.random.split(KEY)[0], X[:1])
    np.testing.assert_array_equal(state.params["dense_0"]["kernel"], init.params["dense_0"]["kernel"])
    assert seen  # traced into the compiled step


def test_batchnorm_state_is_trained_and_used_by_predict():
    model = M.Sequential([M.Dense(16), M.BatchNorm(), M.Activation("relu"), M.Dense(3)])
    state, hist = _fit(model=model, epochs=3, train_data=(X * 5 + 3, Y))
    stats = state.model_state["batchnorm_0"]["batch_stats"]
    assert not np.allclose(stats["mean"], 0)
    logits = predict(model, state, XV * 5 + 3)
    expected, _ = model.apply(state.params, XV * 5 + 3, state=state.model_state)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_weight_penalty_is_part_of_the_reported_loss():
    model = M.mlp([8, 3], l2=0.5, flatten=False)
    state = create_train_state(model, optax.sgd(0.0), KEY, X[:1])
    plain = evaluate(M.mlp([8, 3], flatten=False), state, XV, YV, loss=LOSS)["loss"]
    penalised = evaluate(model, state, XV, YV, loss=LOSS)["loss"]
    kernels = sum(float(jnp.sum(p["kernel"] ** 2)) for p in state.params.values())
    assert penalised == pytest.approx(plain + 0.5 * kernels, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("kwargs, match", [
    (dict(train_data=(X, Y[:-1])), "mismatched batch sizes.*300.*299"),
    (dict(train_data=(X, Y + 1)), r"integer class labels in \[0, 3\)"),
    (dict(train_data=(np.where(X > 2, np.nan, X), Y)), "non-finite"),
    (dict(train_data=X), r"tuple \(x, y\)"),
    (dict(epochs=0), "epochs must be a positive int"),
    (dict(batch_size=0), "batch_size"),
    (dict(epoch_mode="fast"), "epoch_mode"),
    (dict(on_nonfinite="ignore"), "on_nonfinite"),
    (dict(validation_data=(XV[:, :4], YV)), r"validation_data\[0\] \(x\) has examples of shape \(4,\)"),
    (dict(validation_data=(XV, YV[:10])), "mismatched batch sizes"),
    (dict(max_steps=0), "max_steps"),
])
def test_bad_fit_arguments_raise_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _fit(**kwargs)


def test_images_of_the_wrong_rank_for_a_cnn_name_the_layer_before_training():
    flat = np.zeros((4, 784), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_0.*NHWC images.*got \(1, 784\)"):
        _fit(model=M.cs4487_shallow_cnn(), train_data=(flat, np.zeros(4, int)))
    with pytest.raises(ValueError, match=r"conv2d_0.*NHWC images.*got \(1, 784\)"):  # no label check first
        _fit(model=M.cs4487_shallow_cnn(), loss="mse", train_data=(flat, np.zeros((4, 10), np.float32)), metrics=[])


def test_unknown_optimizer_name_in_fit():
    with pytest.raises(ValueError, match=r"optimizer must be one of \[.*'adam'.*got 'adamm'"):
        _fit(optimizer="adamm")


def test_progress_is_one_line_per_epoch_and_verbose_0_is_quiet(capsys):
    _fit(epochs=2, validation_data=(XV, YV), verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for epoch, line in enumerate(lines, 1):
        assert line.startswith(f"Epoch {epoch}/2 - ")
        assert all(f"{name}: " in line for name in ("loss", "accuracy", "val_loss", "val_accuracy"))
    _fit(epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_binary_loss_checks_labels_are_zero_or_one():
    model = M.mlp([4, 1], flatten=False)
    with pytest.raises(ValueError, match="binary labels 0/1"):
        _fit(model=model, loss="sigmoid_binary_cross_entropy", train_data=(X, Y), metrics=[])


def test_binary_loss_accepts_probability_targets_and_rejects_values_outside_unit_interval():
    # Soft targets (an autoencoder's pixel intensities) are valid for sigmoid cross-entropy.
    x = np.linspace(0.0, 1.0, 24, dtype=np.float32).reshape(4, 6)
    model = M.mlp([6], flatten=False)
    _, history = _fit(model=model, loss="sigmoid_binary_cross_entropy", train_data=(x, x), metrics=[], batch_size=2)
    assert np.isfinite(history["loss"]).all()
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*got values in \[0, 1.5\]"):
        _fit(model=model, loss="sigmoid_binary_cross_entropy", train_data=(x, x * 1.5), metrics=[])


def test_evaluate_and_predict_reject_mismatched_inputs():
    state, _ = _fit(epochs=1)
    with pytest.raises(ValueError, match="dense_0"):
        predict(MODEL, state, XV[:, :4])
    with pytest.raises(ValueError, match="non-finite"):
        predict(MODEL, state, np.full((2, 6), np.inf, np.float32))
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        evaluate(MODEL, state, XV, YV - 1, loss=LOSS)


def test_train_state_is_a_pytree():
    state = create_train_state(MODEL, optax.adam(1e-3), KEY, X[:1])
    assert isinstance(state, TrainState)
    leaves = jax.tree_util.tree_leaves(state)
    assert len(leaves) > 4


def test_steps_per_epoch_runs_full_batch_gradient_descent_in_compiled_chunks():
    tx = optax.sgd(0.5)
    state, hist = _fit(optimizer=tx, batch_size=len(X), epochs=3, steps_per_epoch=50, metrics=[],
                       model=M.mlp([3], flatten=False), validation_data=(X, Y))
    assert hist.steps == 150 and len(hist["loss"]) == 3
    # Full-batch GD is order-free: the same 150 steps by hand.
    init = create_train_state(M.mlp([3], flatten=False), tx, jax.random.split(KEY)[0], X[:1])
    step = jax.jit(make_train_step(M.mlp([3], flatten=False), LOSS, tx))
    for _ in range(150):
        init, _ = step(init, X, Y)
    chex.assert_trees_all_close(state.params, init.params, rtol=1e-5, atol=1e-6)
    assert hist["val_loss"][-1] < hist["val_loss"][0]


# ----------------------------------------------------------------------------------------------
# Fast paths give the plain path's results


def test_train_step_applies_the_plain_optax_update_and_skips_non_finite_steps():
    # The step applies its update through lax.cond(finite, ...) (a select over every leaf costs a pass
    # over params and optimizer state); the plain path is value_and_grad -> tx.update -> apply_updates.
    model, tx = M.mlp([16, 3], flatten=False), optax.adam(1e-2)
    state = create_train_state(model, tx, KEY, X[:1])
    step = jax.jit(make_train_step(model, LOSS, tx))
    new_state, logs = step(state, X[:32], Y[:32])
    loss_fn = lambda p: optax.softmax_cross_entropy_with_integer_labels(model.apply(p, X[:32]), Y[:32]).mean()
    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    chex.assert_trees_all_close(new_state.params, optax.apply_updates(state.params, updates), rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(new_state.opt_state, opt_state, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(logs["loss"], loss, rtol=1e-6)
    bad_x = np.where(np.arange(32)[:, None] == 3, np.inf, X[:32])
    skipped, logs = step(new_state, bad_x, Y[:32])
    assert not bool(logs["finite"]) and int(skipped.step) == 2
    chex.assert_trees_all_equal((skipped.params, skipped.opt_state), (new_state.params, new_state.opt_state))
    # Under vmap (ensembles) the branch becomes a per-member select: one member steps, the other skips.
    both = jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), new_state)
    stepped, logs = jax.jit(jax.vmap(make_train_step(model, LOSS, tx)))(both, jnp.stack([X[32:64], bad_x]),
                                                                          jnp.stack([Y[32:64], Y[:32]]))
    assert logs["finite"].tolist() == [True, False]
    alone, _ = step(new_state, X[32:64], Y[32:64])
    chex.assert_trees_all_close(jax.tree_util.tree_map(lambda a: a[0], stepped.params), alone.params, rtol=1e-6)
    chex.assert_trees_all_equal(jax.tree_util.tree_map(lambda a: a[1], stepped.params), new_state.params)


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_cpu_convolution_options_keep_fit_and_predict_results(monkeypatch):
    from fnnet.engine import programs

    cnn = M.Sequential([M.Conv2D(16, 3, padding="same", activation="relu"),
                        M.Conv2D(32, 3, strides=2, padding="same", activation="relu"), M.Flatten(), M.Dense(3)])
    x = np.random.RandomState(0).rand(64, 8, 8, 3).astype(np.float32)
    y = np.arange(64) % 3
    on_cpu = jax.default_backend() == "cpu"
    assert (programs.compiler_options(cnn) is not None) == on_cpu
    assert programs.compiler_options(MODEL) is None  # no convolution: XLA's defaults
    fast_state, fast_hist = _fit(model=cnn, train_data=(x, y))
    fast_logits = predict(cnn, fast_state, x)
    if on_cpu:  # the option changes the compiled program: XLA's Eigen convolutions instead of YNNPACK's
        lowered = jax.jit(lambda params: cnn.apply(params, x)).lower(fast_state.params)
        assert lowered.compile(compiler_options=programs.CPU_CONV_OPTIONS).as_text() != lowered.compile().as_text()
    monkeypatch.setattr(programs, "compiler_options", lambda model: None)
    programs.clear_cache()  # the cached programs were compiled with the option
    plain_state, plain_hist = _fit(model=cnn, train_data=(x, y))
    chex.assert_trees_all_close(fast_state.params, plain_state.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast_hist["loss"], plain_hist["loss"], rtol=1e-5)
    np.testing.assert_allclose(fast_logits, predict(cnn, plain_state, x), rtol=1e-4, atol=1e-5)
    programs.clear_cache()  # later tests get programs with the real option again


def test_unknown_compiler_option_falls_back_to_xla_defaults(monkeypatch):
    from fnnet.engine import programs

    cnn = M.Sequential([M.Conv2D(4, 3), M.Flatten(), M.Dense(3)])
    monkeypatch.setattr(programs, "CPU_CONV_OPTIONS", {"xla_cpu_no_such_option_in_this_jaxlib": True})
    programs.cpu_conv_options_supported.cache_clear()
    try:
        assert programs.compiler_options(cnn) is None
    finally:
        programs.cpu_conv_options_supported.cache_clear()  # the real option is probed again on next use
