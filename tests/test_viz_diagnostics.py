"""The diagnostics plots: written as non-empty PNGs, drawing what they are given (read back where a
colour or a count can be checked), and bad shapes refused with a message."""
import matplotlib.image
import numpy as np
import pytest

from fnnet import viz

PNG = b"\x89PNG\r\n\x1a\n"


def _saved(plot, *args, **kwargs):
    """Calls ``plot(*args, path, **kwargs)`` with the path last among ``args`` and returns the path."""
    figure = plot(*args, **kwargs)
    assert isinstance(figure, viz.Figure)
    return args[-1]


def _is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == PNG and path.stat().st_size > 1000


def _pixels(path, rgb_test) -> int:
    rgb = matplotlib.image.imread(str(path))[..., :3]
    return int(np.sum(rgb_test(rgb[..., 0], rgb[..., 1], rgb[..., 2])))


def test_layer_statistics_histograms_and_lr_curve(tmp_path):
    rng = np.random.default_rng(0)
    history = {"step": [0, 10, 20], "grad_norm": {"dense_0": [1e-3, 2e-3, 3e-3], "dense_1": [0.1, 0.2, 0.1]},
               "update_ratio": {"dense_0": [1e-4, 1e-3, 1e-2]}, "dead": {"dense_0": [0.0, 0.1, 0.2]}, "saturated": {}}
    assert _is_png(_saved(viz.plot_layer_statistics, history, tmp_path / "stats.png", title="t"))
    snapshot = {"weights": {"dense_0": rng.normal(size=50), "dense_1": rng.normal(size=20)},
                "activations": {"dense_0": np.maximum(rng.normal(size=(8, 5)), 0)},
                "gradients": {"dense_0": rng.normal(size=50), "dense_1": rng.normal(size=20)}}
    assert _is_png(_saved(viz.plot_layer_histograms, snapshot, tmp_path / "hist.png"))
    rates = np.geomspace(1e-4, 1.0, 30)
    assert _is_png(_saved(viz.plot_lr_vs_loss, rates, 1 + (np.log10(rates) + 2) ** 2, tmp_path / "lr.png",
                          suggested=1e-3))
    with pytest.raises(ValueError, match="at least one statistic"):
        viz.plot_layer_statistics({"step": [0], "dead": {}}, tmp_path / "none.png")
    with pytest.raises(ValueError, match="same length"):
        viz.plot_lr_vs_loss(rates, rates[:3], tmp_path / "bad.png")


def test_confusion_matrix_and_misclassified_examples(tmp_path):
    matrix = np.array([[5, 1, 0], [0, 6, 0], [2, 0, 4]])
    assert _is_png(_saved(viz.plot_confusion_matrix, matrix, tmp_path / "cm.png", class_names=["a", "b", "c"]))
    with pytest.raises(ValueError, match="square"):
        viz.plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "bad.png")
    images = np.random.default_rng(1).uniform(size=(6, 8, 8))
    labels, predicted = np.array([0, 1, 2, 0, 1, 2]), np.array([0, 2, 2, 1, 1, 2])
    assert _is_png(_saved(viz.plot_misclassified, images, labels, predicted, tmp_path / "wrong.png"))
    assert _saved(viz.plot_misclassified, images, labels, labels, tmp_path / "none.png").exists()  # a note
    with pytest.raises(ValueError, match="same length"):
        viz.plot_misclassified(images, labels[:3], predicted, tmp_path / "bad.png")


def test_filters_and_output_weights_with_green_and_red_units(tmp_path):
    rng = np.random.default_rng(2)
    dense = rng.normal(size=(784, 12))
    assert viz.filter_images(dense, (28, 28)).shape == (12, 28, 28)
    np.testing.assert_array_equal(viz.filter_images(dense, (28, 28))[3], dense[:, 3].reshape(28, 28))
    conv = rng.normal(size=(5, 5, 1, 10))
    assert viz.filter_images(conv).shape == (10, 5, 5)
    assert viz.filter_images(rng.normal(size=(3, 3, 3, 4))).shape == (4, 3, 3, 3)  # RGB filters
    with pytest.raises(ValueError, match="multiply to the kernel's 784 inputs"):
        viz.filter_images(dense, (27, 27))
    weights = np.array([1.0, -1.0, 0.1, 0.9, -0.2, 0.0])
    masks = viz.highlight_masks(weights, 0.75)
    np.testing.assert_array_equal(masks["green"], [True, False, False, True, False, False])
    np.testing.assert_array_equal(masks["red"], [False, True, False, False, False, False])
    bars = _saved(viz.plot_output_weights, weights, tmp_path / "bars.png", threshold=0.75)
    assert _pixels(bars, lambda r, g, b: (g > 0.4) & (r < 0.2) & (b < 0.2)) > 100  # green bars
    assert _pixels(bars, lambda r, g, b: (r > 0.8) & (g < 0.2) & (b < 0.2)) > 100  # a red bar
    grid = _saved(viz.plot_filters, rng.normal(size=(784, 6)), tmp_path / "grid.png", image_shape=(28, 28),
                  highlight=viz.highlight_masks(weights, 0.75))
    assert _pixels(grid, lambda r, g, b: (g > 0.4) & (r < 0.2) & (b < 0.2)) > 100
