"""save_model / load_model and the model config: round trips bitwise, custom layers, damaged files."""
import json
import shutil

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import models as M
from fnnet import optim
from fnnet.models.config import CustomLayerError, model_config, model_from_config
from fnnet.saving import load_model, save_model

KEY = jax.random.key(0)


def _every_builtin_layer():
    """A small image model using every built-in layer kind, with a nested model and non-default settings."""
    head = M.Sequential([M.Dense(6, "tanh", l2=1e-3, kernel_init="he_normal"), M.Maxout(3, pieces=2),
                         M.Dense(4, use_bias=False)], name="head")
    return M.Sequential([
        M.Conv2D(3, (3, 2), strides=1, padding="same", activation="relu", l1=1e-4), M.BatchNorm(momentum=0.9),
        M.MaxPool2D(2, strides=(1, 1)), M.Activation("gelu"), M.Dropout(0.25), M.Reshape((-1,)), M.Flatten(), head,
    ], name="every_layer")


@pytest.mark.parametrize("build", [_every_builtin_layer, M.workshop_mnist_cnn, lambda: M.mlp([5, 3])])
def test_model_config_rebuilds_every_builtin_layer_and_survives_json(build):
    model = build()
    config = json.loads(json.dumps(model_config(model)))
    assert model_from_config(config) == model


def _trained(model, x, y):
    """A few real training steps, so the saved params and BatchNorm statistics are not the initial ones."""
    state, _ = fnnet.fit(model, "sparse_categorical_crossentropy", optim.optimizer("adam", 1e-2), (x, y), epochs=2,
                         batch_size=4, key=KEY, verbose=0)
    return state


def test_round_trip_gives_bitwise_equal_predictions(tmp_path):
    x = jax.random.normal(jax.random.key(1), (8, 6, 6, 1))
    y = jnp.arange(8) % 4
    model = _every_builtin_layer()
    state = _trained(model, x, y)
    assert "batchnorm_0" in state.model_state
    save_model(tmp_path / "saved", model, state)
    loaded_model, loaded = load_model(tmp_path / "saved")
    assert loaded_model == model
    chex.assert_trees_all_equal(loaded.params, state.params)
    chex.assert_trees_all_equal(loaded.model_state, state.model_state)
    chex.assert_trees_all_equal_dtypes(loaded.params, state.params)
    assert int(loaded.step) == int(state.step) and int(loaded.epoch) == 2
    np.testing.assert_array_equal(jax.random.key_data(loaded.key), jax.random.key_data(state.key))
    np.testing.assert_array_equal(np.asarray(fnnet.predict(loaded_model, loaded, x)),
                                  np.asarray(fnnet.predict(model, state, x)))
    # Saving again replaces the folder (no temporary folders left behind); overwrite=False refuses.
    save_model(tmp_path / "saved", model, state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(tmp_path / "saved", model, state, overwrite=False)


def test_params_dict_and_float64_params_round_trip(tmp_path):
    model = M.Sequential([M.Dense(3)])
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), model.init(KEY, jnp.zeros((1, 2))))
        save_model(tmp_path / "m", model, params)
        _, loaded = load_model(tmp_path / "m")
        chex.assert_trees_all_equal(loaded.params, params)
        assert loaded.params["dense_0"]["kernel"].dtype == jnp.float64
        assert loaded.model_state == {}


def test_custom_layers_are_saved_with_a_warning_and_need_the_model_to_load(tmp_path):
    model = M.Sequential([M.Lambda(lambda x: x ** 2, "square"), M.Dense(2)], name="custom")
    params = model.init(KEY, jnp.ones((1, 3)))
    with pytest.warns(UserWarning, match=r"lambda_0: Lambda\(square\).*model=\.\.\."):
        save_model(tmp_path / "custom", model, params)
    with pytest.raises(CustomLayerError, match=r"layer 'lambda_0' .*load_model\(path, model=\.\.\.\)"):
        load_model(tmp_path / "custom")
    same, loaded = load_model(tmp_path / "custom", model=model)
    x = jnp.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(fnnet.predict(same, loaded, x), fnnet.predict(model, params, x))
    other = M.Sequential([M.Dense(2)])
    with pytest.raises(ValueError, match=r"does not match the model saved.*lambda_0 \(Lambda\)"):
        load_model(tmp_path / "custom", model=other)


def test_a_callable_activation_counts_as_custom(tmp_path):
    config = model_config(M.Sequential([M.Dense(2, activation=jnp.sin)]))
    assert "custom" in config["layers"][0] and "activation" in config["layers"][0]["custom"]
    with pytest.raises(CustomLayerError, match="dense_0"):
        model_from_config(config)
    flax_layer = model_config(M.Sequential([M.FlaxLayer(nn.Dense(2))]))["layers"][0]
    assert flax_layer["class"] == "FlaxLayer" and "holds code" in flax_layer["custom"]
    nested = model_config(M.Sequential([M.Dense(2), M.Sequential([M.Lambda(jnp.sin, "sin")], name="enc")]))
    with pytest.raises(CustomLayerError, match=r"layer 'enc/lambda_0' .*Lambda\(sin\)"):
        model_from_config(nested)


def test_missing_and_damaged_files_give_clear_errors(tmp_path):
    model = M.Sequential([M.Dense(2)])
    params = model.init(KEY, jnp.ones((1, 3)))
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_model(tmp_path / "nothing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a saved fnnet model"):
        save_model(tmp_path / "other", model, params)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"  # left alone
    with pytest.raises(FileNotFoundError, match=r"model\.json is missing"):
        load_model(tmp_path / "other")

    saved = save_model(tmp_path / "m", model, params)
    (saved / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="damaged"):
        load_model(saved)
    save_model(saved, model, params)
    for file in sorted((saved / "arrays").rglob("*")):
        if file.is_file() and file.parent.name == "d":  # the array data chunks
            file.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read"):
        load_model(saved)
    save_model(saved, model, params)
    shutil.rmtree(saved / "arrays")
    with pytest.raises(FileNotFoundError, match=r"arrays/ .* is missing"):
        load_model(saved)


def test_bad_arguments_name_what_was_expected(tmp_path):
    model = M.Sequential([M.Dense(2)])
    with pytest.raises(TypeError, match="model must be an fnnet Model"):
        save_model(tmp_path / "a", "dense", {})
    with pytest.raises(TypeError, match="state must be a TrainState"):
        save_model(tmp_path / "a", model, [1, 2])
    with pytest.raises(ValueError, match="class 'Sequential'"):
        model_from_config({"class": "Dense"})
