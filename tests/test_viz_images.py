"""Image grids, bar plots and 2-D embeddings written as PNG (read back to check what was drawn)."""
import matplotlib.image
import numpy as np
import pytest

from fnnet import viz


def _green_pixels(path) -> int:
    rgb = matplotlib.image.imread(str(path))[..., :3]
    return int(np.sum((rgb[..., 1] > 0.4) & (rgb[..., 0] < 0.2) & (rgb[..., 2] < 0.2)))


def test_image_grid_frames_exactly_the_highlighted_panels(tmp_path):
    weights = np.random.default_rng(0).normal(size=(6, 28, 28))  # any real values, like weight images
    plain, framed = tmp_path / "plain.png", tmp_path / "framed.png"
    viz.plot_image_grid(weights, plain, ncols=3, titles=[str(i) for i in range(6)])
    viz.plot_image_grid(weights, framed, ncols=3, highlight={"green": [True, False, False, False, False, True]})
    assert plain.stat().st_size > 1000
    assert _green_pixels(plain) == 0  # gray panels, white background: nothing green
    assert _green_pixels(framed) > 100


def test_image_grid_takes_single_channel_and_rgb_batches(tmp_path):
    gray = np.zeros((3, 5, 5, 1), np.float32)
    rgb = np.random.default_rng(1).uniform(-2, 3, size=(2, 4, 4, 3))
    for images, name in ((gray, "gray.png"), (rgb, "rgb.png")):
        assert isinstance(viz.plot_image_grid(images, tmp_path / name), viz.Figure)
        assert (tmp_path / name).exists()


@pytest.mark.parametrize("call, match", [
    (lambda p: viz.plot_image_grid(np.zeros((2, 3, 3)), p, titles=["a"]), "one entry per image"),
    (lambda p: viz.plot_image_grid(np.zeros((2, 3, 3)), p, highlight={"red": [True]}), "mask of length 2"),
    (lambda p: viz.plot_image_grid(np.zeros((2, 3, 3, 2)), p), "images must be"),
    (lambda p: viz.plot_bars(np.zeros((2, 2)), p), "1-D"),
    (lambda p: viz.plot_bars(np.zeros(3), p, colors=["r"]), "one entry per value"),
    (lambda p: viz.plot_embedding(np.zeros((4, 3)), np.zeros(4), p), r"\(N, 2\)"),
])
def test_plots_reject_bad_shapes(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path / "x.png")


def test_bars_and_embedding_write_pngs(tmp_path):
    bars, emb = tmp_path / "bars.png", tmp_path / "emb.png"
    viz.plot_bars(np.linspace(-1, 1, 50), bars, colors=["g"] * 25 + ["r"] * 25)
    assert _green_pixels(bars) > 100
    points = np.random.default_rng(2).normal(size=(40, 2))
    viz.plot_embedding(points, np.arange(40) % 4, emb, class_names=list("abcd"))
    assert emb.stat().st_size > 1000


def test_trajectories_fits_histograms_and_curves_against_x_write_pngs(tmp_path):
    surface = lambda p: 0.5 * (p[:, 0] ** 2 / 10 + 10 * p[:, 1] ** 2)
    paths = {"sgd": np.array([[-9.0, 1.0], [-8.0, -0.5], [-7.0, 0.2]]), "adam": np.array([[-9.0, 1.0], [-5.0, 0.0]])}
    plots = [tmp_path / name for name in ("paths.png", "fits.png", "h.png", "c.png")]
    viz.plot_trajectories(surface, paths, plots[0], xlim=(-10, 2), ylim=(-2, 2), minimum=(0, 0))
    viz.plot_fits(np.arange(5), np.arange(5) + 0.5, {"line": (np.arange(5), np.arange(5))}, plots[1])
    viz.plot_histograms({"a": np.random.default_rng(0).normal(size=100), "b": np.ones((3, 4))}, plots[2])
    viz.plot_curves({"std": [1.0, 0.1, 0.01]}, plots[3], x=[1, 10, 100], logx=True, logy=True)
    for plot in plots:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 1000


@pytest.mark.parametrize("call, match", [
    (lambda p: viz.plot_trajectories(lambda q: q[:, 0], {"a": np.zeros((3, 3))}, p, xlim=(0, 1), ylim=(0, 1)),
     r"points \(T, 2\)"),
    (lambda p: viz.plot_trajectories(lambda q: q[:, 0], {}, p, xlim=(1, 0), ylim=(0, 1)), "low < high"),
    (lambda p: viz.plot_fits(np.zeros(3), np.zeros(4), {}, p), "same length"),
    (lambda p: viz.plot_histograms({}, p), "at least one"),
    (lambda p: viz.plot_curves({"a": [1, 2, 3]}, p, x=[1, 2]), "curve 'a' has 3"),
])
def test_new_plots_reject_bad_input(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path / "x.png")
