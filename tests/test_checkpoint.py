"""Checkpoint and resume in fit: a resumed run equals the uninterrupted one bit for bit (stopped after
an epoch, stopped mid-epoch, killed by SIGKILL), retention of the last K and the best, damaged and
mismatched checkpoints. Small synthetic data; every run is a few compiled epochs."""
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import chex
import jax
import numpy as np
import optax
import pytest

import fnnet
from fnnet import checkpoint
from fnnet import models as M
from fnnet.callbacks import EarlyStopping
from fnnet.checkpoint import CheckpointError
from fnnet.engine.loop import epoch_pieces as _epoch_pieces
from fnnet.train import evaluate, fit

REPO = Path(__file__).resolve().parents[1]
LOSS = "softmax_cross_entropy"


def _blobs(n, seed, d=6, classes=3):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, d).astype(np.float32)
    return x, (x @ np.random.RandomState(99).randn(d, classes)).argmax(1)


X, Y = _blobs(200, 0)  # batch 32: 6 full batches + one of 8 = 7 steps per epoch
XV, YV = _blobs(100, 1)
STEPS_PER_EPOCH = 7
# Dropout draws per-step keys and BatchNorm carries model state: both must survive a resume.
MODEL = M.Sequential([M.Dense(16, "relu"), M.BatchNorm(), M.Dropout(0.2), M.Dense(3)])


_CHECKPOINTING = {"checkpoint_dir": "directory", "checkpoint_every": "every", "keep": "keep", "keep_best": "keep_best",
                  "resume": "resume"}


def _fit(epochs, **kw):
    """fit with the checkpoint settings as keywords, passed as one ``Checkpointing`` (the old keywords'
    own test: test_the_old_checkpoint_keywords_still_work_with_a_deprecation_warning)."""
    args = dict(batch_size=32, key=jax.random.key(0), verbose=0, metrics=["accuracy"], validation_data=(XV, YV))
    args.update(kw)
    settings = {new: args.pop(old) for old, new in _CHECKPOINTING.items() if old in args}
    if settings:
        args["checkpoint"] = fnnet.Checkpointing(**settings)
    return fit(args.pop("model", MODEL), LOSS, args.pop("optimizer", optax.adam(1e-2)), (X, Y), epochs=epochs, **args)


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_the_old_checkpoint_keywords_still_work_with_a_deprecation_warning(tmp_path, uninterrupted):
    with pytest.warns(DeprecationWarning, match="checkpoint_dir=.*is deprecated"):
        first = fit(MODEL, LOSS, optax.adam(1e-2), (X, Y), epochs=4, batch_size=32, key=jax.random.key(0), verbose=0,
                    metrics=["accuracy"], validation_data=(XV, YV), checkpoint_dir=tmp_path, keep=2)
    assert_same_run(first, uninterrupted)
    assert len(checkpoint.steps(tmp_path)) == 2


def _raw(state):
    """The state with PRNG keys as raw uint32 data, so that trees can be compared leaf by leaf."""
    is_key = lambda a: jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key)
    return jax.tree_util.tree_map(lambda a: jax.random.key_data(a) if is_key(a) else a, state)


def assert_same_run(a, b):
    (state_a, hist_a), (state_b, hist_b) = a, b
    chex.assert_trees_all_equal(_raw(state_a), _raw(state_b))  # params, opt/model state, step, key: bitwise
    assert hist_a.history == hist_b.history and hist_a.epochs == hist_b.epochs and hist_a.steps == hist_b.steps


@pytest.fixture(scope="module")
def uninterrupted():
    """The reference: 4 epochs, no checkpoints."""
    return _fit(4)


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
@pytest.mark.parametrize("make_key", [jax.random.key, jax.random.PRNGKey], ids=["typed_key", "raw_key"])
def test_stop_after_epoch_k_then_resume_equals_the_uninterrupted_run(tmp_path, uninterrupted, make_key):
    reference = uninterrupted if make_key is jax.random.key else _fit(4, key=make_key(0))
    first = _fit(2, key=make_key(0), checkpoint_dir=tmp_path)
    assert checkpoint.steps(tmp_path) == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    assert first[1].epochs == [0, 1]
    resumed = _fit(4, key=make_key(0), checkpoint_dir=tmp_path, resume=True)
    assert_same_run(resumed, reference)


def test_stop_mid_epoch_then_resume_equals_the_uninterrupted_run(tmp_path, uninterrupted):
    # Checkpoints after every 3 batches of an epoch (6 full + 1 partial batch): 3, 7 (epoch end), 10, 14...
    # (the piece after batch 6 runs on into the partial batch, so the epoch-end checkpoint covers it).
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    full = _fit(4, checkpoint_dir=full_dir, checkpoint_every=3, keep=100)
    assert checkpoint.steps(full_dir) == [3, 7, 10, 14, 17, 21, 24, 28]
    assert_same_run(full, uninterrupted)  # running an epoch in pieces changes nothing
    # A run that died right after saving step 17 (epoch 3, batch 3 of 7): only steps <= 17 exist.
    shutil.copytree(full_dir, cut_dir)
    for step in checkpoint.steps(cut_dir):
        if step > 17:
            shutil.rmtree(cut_dir / str(step))
    resumed = _fit(4, checkpoint_dir=cut_dir, checkpoint_every=3, resume=True)
    assert_same_run(resumed, full)


def test_epoch_pieces_split_at_multiples_of_every_counted_from_the_epoch_start():
    assert _epoch_pieces(6, 0, None) == [(0, 6, True)]
    assert _epoch_pieces(6, 0, 4) == [(0, 4, False), (4, 6, True)]
    assert _epoch_pieces(6, 3, 3) == [(3, 6, True)]
    assert _epoch_pieces(8, 3, 3) == [(3, 6, False), (6, 8, True)]
    assert _epoch_pieces(6, 6, 3) == [(6, 6, True)]  # resumed before the partial batch only
    assert _epoch_pieces(7, 0, 2) == [(0, 2, False), (2, 4, False), (4, 6, False), (6, 7, True)]


_KILL_DATA = 4096, 64  # examples, batch size: 64 steps per epoch
_KILLED_RUN = textwrap.dedent("""
    import sys
    import jax, numpy as np, optax
    import fnnet
    from fnnet import models as M
    from fnnet.train import fit
    rng = np.random.RandomState(0)
    x = rng.randn(4096, 32).astype(np.float32)
    y = (x @ rng.randn(32, 10)).argmax(1)
    fit(M.mlp([64, 10], dropout=0.1, flatten=False), "softmax_cross_entropy", optax.adam(1e-3), (x, y),
        epochs=1000, batch_size=64, key=jax.random.key(0), verbose=0,
        checkpoint=fnnet.Checkpointing(sys.argv[1], every=16, keep=2))
""")


def _finished_steps(directory):
    """Steps of the checkpoints orbax has finished (unfinished ones carry a temporary suffix)."""
    if not Path(directory).exists():
        return []
    return sorted(int(p.name) for p in Path(directory).iterdir() if p.name.isdigit())


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_the_uninterrupted_run(tmp_path):
    """A training process killed with SIGKILL (no cleanup, possibly in the middle of a save) resumes
    from its last complete checkpoint and ends exactly where an uninterrupted run does."""
    script = tmp_path / "train.py"
    script.write_text(_KILLED_RUN)
    n, batch = _KILL_DATA
    steps_per_epoch, final_epochs = n // batch, 4
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(killed_dir)], env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:  # kill it in its second epoch, after its first mid-epoch checkpoint there
        while not _finished_steps(killed_dir) or _finished_steps(killed_dir)[-1] < steps_per_epoch + 16:
            assert proc.poll() is None, f"training failed: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "no checkpoint appeared within 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert _finished_steps(killed_dir)[-1] < final_epochs * steps_per_epoch, "killed too late to compare"

    rng = np.random.RandomState(0)
    x = rng.randn(n, 32).astype(np.float32)
    y = (x @ rng.randn(32, 10)).argmax(1)

    def run(directory, resume):
        return fit(M.mlp([64, 10], dropout=0.1, flatten=False), LOSS, optax.adam(1e-3), (x, y), epochs=final_epochs,
                   batch_size=batch, key=jax.random.key(0), verbose=0,
                   checkpoint=fnnet.Checkpointing(directory, every=16, keep=2, resume=resume))

    assert_same_run(run(killed_dir, True), run(tmp_path / "clean", False))


def test_keeps_the_last_k_and_the_best_checkpoint(tmp_path):
    # Validation labels unrelated to the inputs: the validation loss is lowest early, then rises.
    yv_noise = np.random.RandomState(5).randint(0, 3, len(XV))
    state, hist = _fit(6, checkpoint_dir=tmp_path, keep=2, keep_best="val_loss", validation_data=(XV, yv_noise))
    best_epoch = int(np.argmin(hist["val_loss"]))
    assert best_epoch < 4, "the best epoch must not be among the last two for this test to mean anything"
    assert checkpoint.steps(tmp_path) == [(best_epoch + 1) * STEPS_PER_EPOCH, 5 * STEPS_PER_EPOCH, 6 * STEPS_PER_EPOCH]
    best_state, best_hist = checkpoint.restore(tmp_path, MODEL, optax.adam(1e-2), X[:1], step="best")
    assert int(best_state.step) == (best_epoch + 1) * STEPS_PER_EPOCH
    assert best_hist.epochs == list(range(best_epoch + 1))
    # The restored weights are the ones that scored the recorded best validation loss.
    best_val_loss = evaluate(MODEL, best_state, XV, yv_noise, loss=LOSS)["loss"]
    np.testing.assert_allclose(best_val_loss, hist["val_loss"][best_epoch], rtol=1e-6)
    latest, _ = checkpoint.restore(tmp_path, MODEL, optax.adam(1e-2), X[:1])
    chex.assert_trees_all_equal(_raw(latest), _raw(state))


def _damage(step_dir: Path):
    """Truncates every array file of a checkpoint to half its size (a disk-full or torn copy)."""
    for path in (step_dir / "arrays").rglob("*"):
        if path.is_file() and path.parent.name == "d":
            with open(path, "r+b") as f:
                f.truncate(path.stat().st_size // 2)


# orbax's reader threads report the damaged files a second time while shutting down; not our concern.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, uninterrupted):
    _fit(3, checkpoint_dir=tmp_path)
    _damage(tmp_path / str(3 * STEPS_PER_EPOCH))
    damaged, previous = 3 * STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH
    with pytest.warns(UserWarning, match=f"skipped unreadable checkpoint.*step {damaged}.*using step {previous}"):
        resumed = _fit(4, checkpoint_dir=tmp_path, resume=True)
    assert_same_run(resumed, uninterrupted)
    # The damaged step was written again by the resumed run: all of the last three read back.
    assert checkpoint.steps(tmp_path) == [damaged - STEPS_PER_EPOCH, damaged, damaged + STEPS_PER_EPOCH]
    for step in checkpoint.steps(tmp_path):
        checkpoint.restore(tmp_path, MODEL, optax.adam(1e-2), X[:1], step=step)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_no_readable_checkpoint_is_a_clear_error(tmp_path):
    _fit(2, checkpoint_dir=tmp_path)
    for step in checkpoint.steps(tmp_path):
        _damage(tmp_path / str(step))
    (tmp_path / str(STEPS_PER_EPOCH) / "meta" / "metadata").write_text('{"format": 1, "epo')  # torn JSON too
    with pytest.raises(CheckpointError, match=r"no readable checkpoint in .*step 14: .*step 7: JSONDecodeError"):
        _fit(4, checkpoint_dir=tmp_path, resume=True)


def test_a_different_model_or_optimizer_is_a_clear_error(tmp_path):
    _fit(1, checkpoint_dir=tmp_path)
    wider = M.Sequential([M.Dense(17, "relu"), M.BatchNorm(), M.Dropout(0.2), M.Dense(3)])
    shapes = r"params/dense_0/kernel is float32\[6, 16\] in the checkpoint but float32\[6, 17\] in this run"
    with pytest.raises(CheckpointError, match=r"at step 7 .* was saved from a different model.*" + shapes):
        _fit(2, model=wider, checkpoint_dir=tmp_path, resume=True)
    missing = r"opt_state/0/mu/\S+ is in the checkpoint but not in this run"
    with pytest.raises(CheckpointError, match=r"different model or optimizer.*" + missing):
        _fit(2, optimizer=optax.sgd(0.1), checkpoint_dir=tmp_path, resume=True)
    batching = r"differs from this one in the batching \(batch_size=32 there, 64 here\)"
    with pytest.raises(CheckpointError, match=batching):
        _fit(2, batch_size=64, checkpoint_dir=tmp_path, resume=True)


def test_checkpoint_arguments_are_checked(tmp_path):
    _fit(1, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="already holds checkpoints.*resume=True"):
        _fit(2, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="keep_best, resume need checkpoint_dir"):
        fit(MODEL, LOSS, optax.adam(1e-2), (X, Y), epochs=1, key=jax.random.key(0), verbose=0, keep_best="val_loss",
            resume=True)
    with pytest.raises(ValueError, match="every must be 'epoch' or a positive number of steps"):
        _fit(1, checkpoint_dir=tmp_path / "a", checkpoint_every=0)
    with pytest.raises(ValueError, match="keep must be a positive int"):
        _fit(1, checkpoint_dir=tmp_path / "b", keep=0)
    with pytest.raises(ValueError, match="keep_best must be one of.*val_accuracy"):
        _fit(1, checkpoint_dir=tmp_path / "c", keep_best="val_acc")
    with pytest.raises(ValueError, match="step must be 'latest', 'best' or one of the saved steps"):
        checkpoint.restore(tmp_path, MODEL, optax.adam(1e-2), X[:1], step=3)
    with pytest.raises(ValueError, match="step='best' needs a run saved with keep_best"):
        checkpoint.restore(tmp_path, MODEL, optax.adam(1e-2), X[:1], step="best")
    with pytest.raises(CheckpointError, match="no checkpoints in"):
        checkpoint.restore(tmp_path / "empty", MODEL, optax.adam(1e-2), X[:1])


def test_resume_without_checkpoints_starts_afresh(tmp_path, uninterrupted):
    assert_same_run(_fit(4, checkpoint_dir=tmp_path, resume=True), uninterrupted)


def test_early_stopping_progress_survives_a_resume(tmp_path):
    stopper = lambda: EarlyStopping("val_loss", patience=1, min_delta=0.02)
    reference = _fit(30, callbacks=[stopper()])
    stopped_at = reference[1].epochs[-1]
    assert reference[1].stopped_early and 2 <= stopped_at < 29
    # Interrupt one epoch before the stop, while the patience counter may be running.
    _fit(stopped_at, callbacks=[stopper()], checkpoint_dir=tmp_path)
    cb = stopper()
    resumed = _fit(30, callbacks=[cb], checkpoint_dir=tmp_path, resume=True)
    assert_same_run(resumed, reference)
    assert cb.stopped_epoch == stopped_at
    # A finished (early-stopped) run resumed again trains no further.
    again = _fit(30, callbacks=[stopper()], checkpoint_dir=tmp_path, resume=True)
    assert_same_run(again, reference)


def test_early_stopping_progress_round_trips_and_lost_best_weights_are_reported():
    before = EarlyStopping("val_loss", patience=3, restore_best_weights=True)
    before.on_train_begin(None, None)
    before.on_epoch_end(0, {"val_loss": 0.5}, {"w": np.ones(2)})
    before.on_epoch_end(1, {"val_loss": 0.7}, {"w": np.zeros(2)})
    after = EarlyStopping("val_loss", patience=3, restore_best_weights=True)
    after.on_train_begin(None, None)
    after.load_state_dict(before.state_dict())
    assert (after.best, after.best_epoch, after.wait, after.stopped_epoch) == (0.5, 0, 1, None)
    # The best epoch's weights were in the interrupted process's memory only.
    with pytest.warns(UserWarning, match=r"could not restore the best weights \(epoch 1\).*keep_best='val_loss'"):
        assert after.on_train_end({"w": np.zeros(2)}) is None
    # A better epoch after the resume is kept as usual.
    after.on_epoch_end(2, {"val_loss": 0.1}, {"w": np.full(2, 2.0)})
    np.testing.assert_array_equal(after.on_train_end(None)["w"], [2.0, 2.0])
