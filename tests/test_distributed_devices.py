"""Data-parallel training on 8 devices equals single-device training.

Needs 8 devices, so it runs in its own process: ``tests/test_distributed.py`` starts
``XLA_FLAGS=--xla_force_host_platform_device_count=8 pytest tests/test_distributed_devices.py`` (8 fake
CPU devices; XLA fixes the device count when the process starts). In an ordinary run it is skipped.
"""
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fnnet import distributed
from fnnet import models as M
from fnnet.ensemble import fit_ensemble
from fnnet.train import create_train_state, fit, make_train_step

pytestmark = pytest.mark.skipif(
    jax.device_count() < 8, reason="needs 8 devices: run by test_distributed.py in a subprocess with 8 CPU devices"
)

LOSS = "softmax_cross_entropy"
rng = np.random.RandomState(0)
X = rng.randn(300, 6).astype(np.float32)  # batch 64: 4 full batches + 44 examples (not a multiple of 8)
Y = (X @ rng.randn(6, 3)).argmax(1)
XV = rng.randn(100, 6).astype(np.float32)
YV = (XV @ rng.randn(6, 3)).argmax(1)
# Dropout (per-step keys) and BatchNorm (statistics over the global batch) are the layers where a
# split batch could differ from a whole one.
MODEL = M.Sequential([M.Dense(32, "relu"), M.BatchNorm(), M.Dropout(0.2), M.Dense(3)])
RTOL, ATOL = 1e-5, 1e-6  # float32 sums in a different order


def _fit(**kw):
    args = dict(epochs=3, batch_size=64, key=jax.random.key(0), verbose=0, metrics=["accuracy"],
                validation_data=(XV, YV), epoch_mode="scan")
    args.update(kw)
    return fit(MODEL, LOSS, optax.adam(1e-2), (X, Y), **args)


@pytest.fixture(scope="module")
def single_device():
    return {mode: _fit(epoch_mode=mode) for mode in ("scan", "step")}


@pytest.fixture(scope="module")
def eight_devices():
    return _fit(mesh=distributed.data_mesh())


@pytest.mark.parametrize("mode", ["scan", "step"])
def test_eight_way_data_parallel_fit_equals_single_device_fit(single_device, eight_devices, mode):
    ref_state, ref_hist = single_device[mode]
    state, hist = eight_devices if mode == "scan" else _fit(epoch_mode=mode, mesh=distributed.data_mesh())
    chex.assert_trees_all_close(state.params, ref_state.params, rtol=RTOL, atol=ATOL)
    chex.assert_trees_all_close(state.model_state, ref_state.model_state, rtol=RTOL, atol=ATOL)
    chex.assert_trees_all_close(state.opt_state, ref_state.opt_state, rtol=RTOL, atol=ATOL)
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(hist[name], ref_hist[name], rtol=RTOL, err_msg=name)
    assert hist.steps == ref_hist.steps == 3 * 5
    # The whole state lives on all 8 devices.
    for leaf in jax.tree_util.tree_leaves(state):
        assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 8


def test_each_device_computes_on_its_slice_and_xla_all_reduces_the_gradients():
    mesh = distributed.data_mesh()
    tx = optax.sgd(0.1)
    seen = {}

    def spy_step(state, x, y):  # records how XLA laid out the batch the model sees
        jax.debug.inspect_array_sharding(x, callback=lambda s: seen.setdefault("x", s))
        return make_train_step(MODEL, LOSS, tx)(state, x, y)

    state = distributed.replicate(create_train_state(MODEL, tx, jax.random.key(0), X[:1]), mesh)
    step = jax.jit(distributed.data_parallel_step(spy_step, mesh))
    xb, yb = distributed.replicate((X[:64], Y[:64].astype(np.int32)), mesh)
    compiled = step.lower(state, xb, yb).compile()
    assert seen["x"].shard_shape((64, 6)) == (8, 6)  # 64 rows split 8 ways
    assert "all-reduce" in compiled.as_text()
    new_state, _ = compiled(state, xb, yb)
    single, _ = jax.jit(make_train_step(MODEL, LOSS, tx))(create_train_state(MODEL, tx, jax.random.key(0), X[:1]),
                                                          X[:64], Y[:64].astype(np.int32))
    chex.assert_trees_all_close(new_state.params, single.params, rtol=RTOL, atol=ATOL)


def test_a_batch_size_that_does_not_split_evenly_is_an_error():
    message = r"batch_size must be a multiple of the 8 devices.*got 60 \(use e.g. 56 or 64\)"
    with pytest.raises(ValueError, match=message):
        _fit(batch_size=60, mesh=distributed.data_mesh())


def test_the_partial_last_batch_is_padded_and_masked_by_xla():
    """44 examples over 8 devices: XLA pads to 6 rows per device and masks the padding; the mean
    loss and its gradient are those of the 44 real examples."""
    mesh = distributed.data_mesh()
    loss = lambda w, x: jnp.mean((x @ w) ** 2)
    w = jnp.ones((6,))
    split = jax.jit(lambda w, x: jax.value_and_grad(loss)(w, distributed.constrain_leading_axis(x, mesh)))
    value, grad = split(distributed.replicate(w, mesh), distributed.replicate(X[:44], mesh))
    expected_value = np.mean((X[:44].astype(np.float64) @ np.ones(6)) ** 2)
    expected_grad = 2 * X[:44].T.astype(np.float64) @ (X[:44] @ np.ones(6)) / 44
    np.testing.assert_allclose(value, expected_value, rtol=1e-5)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5)


def test_ensemble_members_sharded_over_devices_train_independently():
    """8 members stacked on a leading axis, one per device: a vmapped step needs no communication and
    gives each member the update it gets alone."""
    mesh = distributed.data_mesh()
    tx = optax.adam(1e-2)
    keys = jax.random.split(jax.random.key(1), 8)
    members = jax.vmap(lambda k: create_train_state(MODEL, tx, k, X[:1]))(keys)
    member_step = jax.vmap(make_train_step(MODEL, LOSS, tx), in_axes=(0, None, None))  # one batch for all
    yb = Y[:64].astype(np.int32)
    sharded = distributed.shard_leading_axis(members, mesh)
    assert [s.data.shape[0] for s in sharded.params["dense_0"]["kernel"].addressable_shards] == [1] * 8
    batch = distributed.replicate((X[:64], yb), mesh)
    step = jax.jit(distributed.member_parallel_step(member_step, mesh, per_member_batches=False))
    sharded_step = step.lower(sharded, *batch).compile()
    assert "all-reduce" not in sharded_step.as_text()
    new_sharded, _ = sharded_step(sharded, *batch)
    assert [s.data.shape[0] for s in new_sharded.params["dense_0"]["kernel"].addressable_shards] == [1] * 8
    new_local, _ = jax.jit(member_step)(members, X[:64], yb)
    chex.assert_trees_all_close(new_sharded.params, new_local.params, rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match=r"axis 0 of leaf \['a'\] must be a multiple of the 8 devices.*got 6"):
        distributed.shard_leading_axis({"a": np.zeros((6, 2))}, mesh)


def test_fit_ensemble_on_a_mesh_trains_whole_members_per_device_like_one_device():
    # Full batches only and no validation: the fewest programs to compile on 8 devices.
    options = dict(keys=jax.random.split(jax.random.key(1), 8), epochs=2, batch_size=64, drop_remainder=True,
                   metrics=["accuracy"], verbose=0, epoch_mode="scan")
    reference, ref_hist = fit_ensemble(MODEL, LOSS, optax.adam(1e-2), (X, Y), **options)
    state, hist = fit_ensemble(MODEL, LOSS, optax.adam(1e-2), (X, Y), mesh=distributed.data_mesh(), **options)
    chex.assert_trees_all_close(state.params, reference.params, rtol=RTOL, atol=ATOL)
    chex.assert_trees_all_close(state.model_state, reference.model_state, rtol=RTOL, atol=ATOL)
    chex.assert_trees_all_close(state.opt_state, reference.opt_state, rtol=RTOL, atol=ATOL)
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(hist[name], ref_hist[name], rtol=RTOL, err_msg=name)
    kernel = state.params["dense_0"]["kernel"]  # one whole member per device
    assert [s.data.shape for s in kernel.addressable_shards] == [(1, 6, 32)] * 8
    assert len(kernel.sharding.device_set) == 8


def test_fit_ensemble_member_count_must_split_over_the_devices():
    options = dict(epochs=1, batch_size=64, verbose=0)
    with pytest.raises(ValueError, match=r"number of members must be a multiple of the 8 devices.*got 6"):
        fit_ensemble(MODEL, LOSS, optax.adam(1e-2), (X, Y), n_members=6, key=jax.random.key(0),
                     mesh=distributed.data_mesh(), **options)
    with pytest.raises(ValueError, match=r"chunk must be a multiple of the 8 devices.*got 4"):
        fit_ensemble(MODEL, LOSS, optax.adam(1e-2), (X, Y), n_members=8, key=jax.random.key(0), chunk=4,
                     mesh=distributed.data_mesh(), **options)


def test_resume_on_the_mesh_equals_the_uninterrupted_mesh_run(tmp_path, eight_devices):
    reference, ref_hist = eight_devices
    _fit(epochs=1, mesh=distributed.data_mesh(), checkpoint_dir=tmp_path / "run")
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    resumed, hist = _fit(mesh=distributed.data_mesh(), checkpoint_dir=tmp_path / "run", resume=True)
    chex.assert_trees_all_equal(resumed.params, reference.params)
    assert hist.history == ref_hist.history
    # The same checkpoint continues on a subset of the devices, equal up to float rounding.
    elastic, _ = _fit(devices=jax.devices()[:4], checkpoint_dir=tmp_path / "copy", resume=True)
    chex.assert_trees_all_close(elastic.params, reference.params, rtol=RTOL, atol=ATOL)
    assert {d.id for d in elastic.params["dense_0"]["kernel"].sharding.device_set} == {0, 1, 2, 3}
