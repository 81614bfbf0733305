"""What a Keras user types: names in any case, model.summary(x)."""
import jax
import numpy as np
import pytest

from fnnet import losses, metrics, optim
from fnnet import models as M


@pytest.mark.parametrize("given, canonical", [("Adam", "adam"), ("RMSprop", "rmsprop"), ("SGD", "sgd"),
                                              ("AdamW", "adamw")])
def test_optimizer_names_are_matched_case_insensitively(given, canonical):
    a, b = optim.optimizer(given, 1e-3), optim.optimizer(canonical, 1e-3)
    assert a.program_key == b.program_key  # the same optimizer, not merely one that accepts the name


def test_loss_and_metric_names_are_matched_case_insensitively():
    assert losses.get("MSE") is losses.get("mse")
    assert losses.get("Sparse_Categorical_Crossentropy") is losses.get("sparse_categorical_crossentropy")
    assert metrics.get("Accuracy") is metrics.get("accuracy")
    assert metrics.canonical_name("Top_3_Accuracy") == "top_3_accuracy"
    logits, labels = np.array([[0.1, 0.5, 0.2, 0.0]]), np.array([2])
    assert float(metrics.get("TOP_2_ACCURACY")(logits, labels)) == 1.0


@pytest.mark.parametrize("lookup, name, words", [
    (optim.optimizer, "Adamm", "optimizer must be one of"),
    (losses.get, "MSEE", "loss must be one of"),
    (metrics.get, "Acuracy", "metric must be one of"),
])
def test_unknown_names_still_list_the_choices_and_echo_what_was_given(lookup, name, words):
    with pytest.raises(ValueError, match=rf"{words}.*got '{name}'"):
        lookup(name)


def test_model_summary_method_lists_layers_shapes_and_params():
    model = M.Sequential([M.Conv2D(4, 3, activation="relu"), M.BatchNorm(), M.Flatten(), M.Dense(3)], name="tiny")
    printed = []
    result = model.summary(np.zeros((1, 6, 6, 1), np.float32), print_fn=printed.append)
    text = printed[0]
    assert text == str(result)
    assert 'Model: "tiny"' in text
    assert "(None, 4, 4, 4)" in text and "(None, 64)" in text and "(None, 3)" in text
    # conv 3*3*1*4 + 4 = 40; batchnorm 4 scale + 4 bias trainable, 8 statistics; dense 64*3 + 3 = 195
    assert result.trainable_params == 40 + 8 + 195 and result.non_trainable_params == 8
    assert [r.name for r in result.rows] == ["conv2d_0", "batchnorm_0", "flatten_0", "dense_0"]
    assert model.summary(jax.ShapeDtypeStruct((2, 6, 6, 1), np.float32), print_fn=None).total_params == 251
