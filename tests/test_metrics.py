"""fnnet.metrics: accuracies, confusion matrix, registry, errors."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import losses, metrics

SCORES = np.array(
    [[2.0, 1.0, 0.0], [0.1, 0.5, 0.2], [0.0, 0.3, 0.9], [1.0, 3.0, 2.0], [0.2, 0.1, 0.0]], np.float32
)
# argmax: 0, 1, 2, 1, 0; second best: 1, 2, 1, 2, 1
LABELS = np.array([0, 2, 2, 2, 1])


class AccuracyTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_accuracy_int_and_one_hot_labels(self):
        accuracy = self.variant(metrics.accuracy)
        assert float(accuracy(SCORES, LABELS)) == pytest.approx(2 / 5)
        assert float(accuracy(SCORES, np.eye(3, dtype=np.float32)[LABELS])) == pytest.approx(2 / 5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_binary_outputs_use_threshold_zero(self):
        logits = np.array([[-1.0], [0.5], [2.0], [-0.2]], np.float32)
        labels = np.array([0, 0, 1, 1])
        assert float(self.variant(metrics.accuracy)(logits, labels)) == pytest.approx(2 / 4)
        assert float(self.variant(metrics.binary_accuracy)(logits[:, 0], labels)) == pytest.approx(2 / 4)

    @chex.variants(with_jit=True, without_jit=True)
    def test_top_k_accuracy(self):
        assert float(self.variant(metrics.top_k_accuracy(1))(SCORES, LABELS)) == pytest.approx(2 / 5)
        assert float(self.variant(metrics.top_k_accuracy(2))(SCORES, LABELS)) == pytest.approx(5 / 5)
        assert float(self.variant(metrics.top_k_accuracy(3))(SCORES, LABELS)) == 1.0


def test_binary_accuracy_threshold_for_probabilities():
    probs = np.array([0.2, 0.6, 0.4, 0.9], np.float32)
    assert float(metrics.binary_accuracy(probs, np.array([0, 1, 1, 1]), threshold=0.5)) == pytest.approx(3 / 4)


def test_confusion_matrix_rows_are_truth():
    predicted = np.argmax(SCORES, axis=1)
    cm = metrics.confusion_matrix(predicted, LABELS, 3)
    chex.assert_shape(cm, (3, 3))
    assert cm.dtype == jnp.int32
    expected = np.zeros((3, 3), int)
    for truth, guess in zip(LABELS, predicted):
        expected[truth, guess] += 1
    np.testing.assert_array_equal(cm, expected)
    assert int(jnp.trace(cm)) / len(LABELS) == pytest.approx(float(metrics.accuracy(SCORES, LABELS)))


def test_regression_metrics_are_the_losses():
    assert metrics.mse is losses.mse and metrics.mae is losses.mae


def test_get_names_patterns_and_pass_through():
    assert metrics.get("accuracy") is metrics.accuracy
    assert metrics.get("sparse_categorical_accuracy") is metrics.accuracy
    top3 = metrics.get("top_3_accuracy")
    assert top3.__name__ == "top_3_accuracy"
    assert float(top3(SCORES, LABELS)) == 1.0
    assert metrics.get("top_k_categorical_accuracy").__name__ == "top_5_accuracy"
    assert metrics.get(jnp.mean) is jnp.mean
    with pytest.raises(ValueError, match=r"metric must be one of .*'accuracy'.*got 'acuracy'"):
        metrics.get("acuracy")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: metrics.accuracy(SCORES, LABELS[:3]), "mismatched batch sizes"),
        (lambda: metrics.accuracy(SCORES, np.eye(4)[LABELS]), "labels rows must have 3 columns"),
        (lambda: metrics.accuracy(SCORES, LABELS + 1), r"labels must hold integer class labels in \[0, 3\)"),
        (lambda: metrics.binary_accuracy(np.zeros((4, 1)), np.zeros(5)), "labels must have the shape of outputs"),
        (lambda: metrics.top_k_accuracy(0), "k must be a positive integer"),
        (lambda: metrics.top_k_accuracy(4)(SCORES, LABELS), "k must be at most the number of classes 3"),
        (lambda: metrics.confusion_matrix(LABELS, LABELS, 2), r"labels must hold integer class labels in \[0, 2\)"),
        (lambda: metrics.confusion_matrix(LABELS[:2], LABELS, 3), "mismatched batch sizes"),
        (lambda: metrics.confusion_matrix(LABELS, LABELS, 0), "n_classes must be a positive integer"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_accuracy_is_jittable_with_traced_labels():
    # Value checks are skipped for tracers; the static shape checks still run.
    assert float(jax.jit(metrics.accuracy)(SCORES, LABELS)) == pytest.approx(2 / 5)
