"""The Keras callbacks a Keras user reaches for: ReduceLROnPlateau (Keras 3's rule), CSVLogger,
TensorBoard; each on a real run, alone and in a population."""
import csv
import glob
import os
import struct

import jax
import numpy as np
import pytest

import fnnet
from fnnet import models as M
from fnnet.callbacks import CSVLogger, ModelCheckpoint, ReduceLROnPlateau, TensorBoard
from fnnet.engine import count_compiles
from fnnet.ensemble import fit_ensemble

KEY = jax.random.key(0)
RNG = np.random.RandomState(0)
X = RNG.randn(48, 4).astype(np.float32)
Y = (X @ RNG.randn(4, 3)).argmax(1)
MODEL = M.mlp([8, 3], flatten=False)


def _fit(callbacks, epochs=4, lr=0.1, **kw):
    return fnnet.fit(MODEL, "softmax_cross_entropy", fnnet.optim.optimizer("sgd", lr), (X, Y), epochs=epochs,
                     batch_size=16, key=KEY, callbacks=callbacks, verbose=0, **kw)


def keras_reduce_lr(values, lr, *, factor, patience, min_delta, cooldown, min_lr):
    """Keras 3's ReduceLROnPlateau.on_epoch_end in min mode, transcribed: the rate used in each epoch."""
    best, wait, cooldown_counter, used = np.inf, 0, 0, []
    for current in values:
        used.append(lr)
        if cooldown_counter > 0:
            cooldown_counter -= 1
            wait = 0
        if np.less(current, best - min_delta):
            best, wait = current, 0
        elif not cooldown_counter > 0:
            wait += 1
            if wait >= patience and lr > np.float32(min_lr):
                lr = max(lr * factor, min_lr)
                cooldown_counter, wait = cooldown, 0
    return used, lr


class _FakeState:
    class opt_state:
        hyperparams = {"learning_rate": np.float32(1.0)}


@pytest.mark.parametrize("settings", [dict(factor=0.5, patience=1, min_delta=0.0, cooldown=0, min_lr=0.0),
                                      dict(factor=0.1, patience=2, min_delta=0.05, cooldown=1, min_lr=0.02)])
def test_reduce_lr_on_plateau_follows_keras_3s_rule(settings):
    values = [1.0, 0.9, 0.95, 0.97, 0.89, 0.99, 0.98, 0.97, 0.96, 0.5, 0.6, 0.7, 0.8]
    callback = ReduceLROnPlateau("loss", **settings)
    callback.on_train_begin(_FakeState, None)
    lr = 1.0
    for epoch, value in enumerate(values):
        _FakeState.opt_state.hyperparams = {"learning_rate": np.float32(lr)}
        callback.on_epoch_end(epoch, {"loss": value}, _FakeState)
        lr = callback._new_lr if callback._new_lr is not None else lr
        callback._new_lr = None
    expected, final = keras_reduce_lr(values, 1.0, **settings)
    np.testing.assert_allclose(callback.learning_rates, expected, rtol=1e-6)
    np.testing.assert_allclose(lr, final, rtol=1e-6)


def test_reduce_lr_on_plateau_writes_the_rate_into_the_state_without_recompiling():
    _fit([ReduceLROnPlateau("loss", patience=1, min_delta=10.0, factor=0.5)])
    callback = ReduceLROnPlateau("loss", patience=1, min_delta=10.0, factor=0.5)
    with count_compiles() as compiles:
        state, history = _fit([callback])
    assert compiles.count == 0
    np.testing.assert_allclose(callback.learning_rates, [0.1, 0.1, 0.05, 0.025], rtol=1e-6)
    np.testing.assert_allclose(state.opt_state.hyperparams["learning_rate"], 0.0125, rtol=1e-6)
    assert len(history.epochs) == 4
    with pytest.raises(ValueError, match="needs the learning rate in the optimizer state"):
        fnnet.fit(MODEL, "softmax_cross_entropy", fnnet.optim.optimizer("sgd", 0.1, inject=False), (X, Y), epochs=1,
                  key=KEY, callbacks=[ReduceLROnPlateau("loss")], verbose=0)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_on_plateau_acts_on_each_member_of_a_population():
    state, _ = fit_ensemble(MODEL, "softmax_cross_entropy", fnnet.optim.optimizer("sgd", 0.1), (X, Y), epochs=3,
                            batch_size=16, n_members=2, key=KEY, verbose=0,
                            callbacks=[ReduceLROnPlateau("loss", patience=1, min_delta=10.0, factor=0.5)])
    np.testing.assert_allclose(state.opt_state.hyperparams["learning_rate"], [0.025, 0.025], rtol=1e-6)


def test_csv_logger_writes_keras_rows_and_a_member_column_in_populations(tmp_path):
    path = tmp_path / "log.csv"
    _, history = _fit([CSVLogger(path)], epochs=3, metrics=["accuracy"], validation_data=(X, Y))
    rows = list(csv.DictReader(open(path)))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    np.testing.assert_allclose([float(r["val_loss"]) for r in rows], history["val_loss"], rtol=1e-6)
    _fit([CSVLogger(path, append=True)], epochs=1)
    assert len(list(csv.DictReader(open(path)))) == 4
    fit_ensemble(MODEL, "softmax_cross_entropy", "sgd", (X, Y), epochs=2, batch_size=16, n_members=2, key=KEY,
                 verbose=0, callbacks=[CSVLogger(path)])
    rows = list(csv.DictReader(open(path)))
    assert sorted((r["member"], r["epoch"]) for r in rows) == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]


def _scalars(run_dir):
    """(tag, step, value) of every scalar in a run's event files (TFRecord framing: length, crc, data, crc)."""
    from tensorboardX.proto import event_pb2

    found = []
    for path in glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
        data = open(path, "rb").read()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])
            at += 12 + length + 4
            found += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return sorted(found)


def test_tensorboard_writes_the_epoch_logs_as_scalars(tmp_path):
    pytest.importorskip("tensorboardX")
    _, history = _fit([TensorBoard(tmp_path / "tb")], epochs=2, validation_data=(X, Y))
    scalars = _scalars(tmp_path / "tb")
    losses = [v for tag, _, v in scalars if tag == "validation/loss"]
    np.testing.assert_allclose(losses, history["val_loss"], rtol=1e-6)
    assert {tag for tag, _, _ in scalars} == {"train/loss", "validation/loss"}
    fit_ensemble(MODEL, "softmax_cross_entropy", "sgd", (X, Y), epochs=1, batch_size=16, n_members=2, key=KEY,
                 verbose=0, callbacks=[TensorBoard(tmp_path / "pop")])
    assert [len(_scalars(tmp_path / "pop" / f"member_{i}")) for i in (0, 1)] == [1, 1]


def test_model_checkpoint_saves_the_best_model_for_load_model(tmp_path):
    callback = ModelCheckpoint(tmp_path / "best", monitor="val_loss", save_best_only=True)
    state, history = _fit([callback], epochs=3, validation_data=(X, Y))
    assert np.all(np.diff(history["val_loss"]) < 0) and len(callback.saved) == 3  # every epoch improved here
    model, loaded = fnnet.load_model(tmp_path / "best")
    np.testing.assert_array_equal(fnnet.predict(model, loaded, X), fnnet.predict(MODEL, state, X))
    every = ModelCheckpoint(str(tmp_path / "epoch_{epoch:02d}"))
    _fit([every], epochs=2)
    assert [os.path.basename(p) for p in every.saved] == ["epoch_01", "epoch_02"]
    with pytest.raises(ValueError, match="names 'val_acc'"):
        _fit([ModelCheckpoint(str(tmp_path / "{val_acc}"))], epochs=1)
    fit_ensemble(MODEL, "softmax_cross_entropy", "sgd", (X, Y), epochs=1, batch_size=16, n_members=2, key=KEY,
                 verbose=0, callbacks=[ModelCheckpoint(tmp_path / "pop")])
    assert sorted(os.listdir(tmp_path / "pop")) == ["member_0", "member_1"]
