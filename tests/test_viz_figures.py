"""fnnet.viz returns Figures and leaves matplotlib's backend alone; the plot defects of issue 17 stay fixed."""
import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from fnnet import viz
from fnnet.search import Axis, SearchResult, Trial
from fnnet.state import History, PopulationHistory

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def test_importing_fnnet_and_the_recipes_leaves_the_backend_and_pyplot_alone(tmp_path):
    """A notebook's own plt.show() must keep working: nothing may choose a backend or import pyplot; the
    Figures still write PNGs (any canvas saves PNG) with no display."""
    script = f"""
import matplotlib, sys
before = matplotlib.rcParams._get_backend_or_none()
import fnnet, fnnet.viz, fnnet.cli, recipes
from fnnet import viz
after = matplotlib.rcParams._get_backend_or_none()
assert before == after, (before, after)
assert "matplotlib.pyplot" not in sys.modules
fig = viz.plot_curves({{"a": [3, 2, 1]}}, {str(tmp_path / "a.png")!r})
assert fig._repr_png_().startswith(b"\\x89PNG")
assert "matplotlib.pyplot" not in sys.modules and matplotlib.rcParams._get_backend_or_none() == before
"""
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG


def test_a_plot_writes_a_png_only_when_given_a_path(tmp_path):
    fig = viz.plot_bars(np.arange(3.0))
    assert isinstance(fig, viz.Figure) and list(tmp_path.iterdir()) == []
    assert viz.save_figures({"bars.png": fig}, tmp_path / "sub") == [str(tmp_path / "sub" / "bars.png")]
    assert (tmp_path / "sub" / "bars.png").read_bytes()[:8] == PNG


def _population(curves: dict) -> PopulationHistory:
    members = []
    for i in range(len(next(iter(curves.values())))):
        h = History()
        for epoch in range(len(next(iter(curves.values()))[i])):
            h.append(epoch, {name: values[i][epoch] for name, values in curves.items()}, 0.0)
        members.append(h)
    return PopulationHistory(members=members, callbacks=[[] for _ in members])


def test_plot_history_of_a_population_draws_members_faintly_and_the_mean_boldly():
    rng = np.random.default_rng(0)
    history = _population({"loss": rng.uniform(size=(3, 4)), "val_loss": rng.uniform(size=(3, 4))})
    ax = viz.plot_history(history).axes[0]
    faint = [line for line in ax.lines if line.get_alpha() == 0.3]
    bold = [line for line in ax.lines if line.get_linewidth() > 2]
    assert len(faint) == 6 and len(bold) == 2
    train, validation = bold
    assert train.get_color() != validation.get_color()
    assert {line.get_color() for line in faint} == {train.get_color(), validation.get_color()}
    np.testing.assert_allclose(train.get_ydata(), history["loss"].mean(axis=1))
    labels = ax.get_legend_handles_labels()[1]
    assert "train: each of 3 members" in labels and "validation: mean" in labels


def test_epoch_axes_have_integer_ticks_and_continued_runs_number_on():
    history = History()
    for epoch in (4, 5, 6):  # a run continued from a state at epoch 4
        history.append(epoch, {"loss": 1.0 / (epoch + 1)}, 0.0)
    fig = viz.plot_history(history)
    fig.canvas.draw()
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [5, 6, 7])
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    curves = viz.plot_curves({"val": [0.5, 0.4, 0.3]}, start=1)
    curves.canvas.draw()
    assert all(float(t).is_integer() for t in curves.axes[0].get_xticks())


def test_unit_frames_use_a_cut_relative_to_the_largest_weight():
    weights = 0.01 * np.array([1.0, -0.9, 0.2, 0.6, -0.1])  # a short run: every weight far below 0.75
    fixed = viz.highlight_masks(weights, 0.75)
    assert not fixed["green"].any() and not fixed["red"].any()
    relative = viz.highlight_masks(weights)  # half the largest |weight|
    np.testing.assert_array_equal(relative["green"], [True, False, False, True, False])
    np.testing.assert_array_equal(relative["red"], [False, True, False, False, False])
    assert viz.highlight_threshold(weights, fraction=0.95) == pytest.approx(0.0095)
    with pytest.raises(ValueError, match="not both"):
        viz.highlight_threshold(weights, threshold=0.1, fraction=0.5)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        viz.highlight_masks(weights, fraction=0.0)


def test_histograms_on_one_x_range_show_a_collapse():
    samples = {"layer 1": np.random.default_rng(0).normal(size=500), "layer 5": 1e-3 * np.ones(500)}
    shared = viz.plot_histograms(samples, sharex=True)
    shared.canvas.draw()
    assert shared.axes[0].get_xlim() == shared.axes[1].get_xlim()  # the collapsed layer is a spike
    own = viz.plot_histograms(samples)
    own.canvas.draw()
    assert own.axes[0].get_xlim() != own.axes[1].get_xlim()


def _search_result() -> SearchResult:
    axes = {"learning_rate": Axis(1e-3, 1e-1, 3), "l2": (0.0, 1e-4)}
    trials = []
    for i, lr in enumerate(axes["learning_rate"].values()):
        for j, l2 in enumerate(axes["l2"]):
            trials.append(Trial(values={"learning_rate": float(lr), "l2": l2}, score=0.5 + 0.1 * i - 0.05 * j,
                                round=0, cell=(i, j), epochs=1, history=History()))
    trials.append(Trial(values={"learning_rate": 0.09, "l2": 0.0}, score=0.75, round=1, cell=(2, 0), epochs=1,
                        history=History()))
    trials.sort(key=lambda t: -t.score)
    return SearchResult(trials=trials, monitor="val_accuracy", mode="max", axes=[axes])


def test_plot_search_draws_the_mesh_and_every_trial_with_labelled_colour_bars(tmp_path):
    result = _search_result()
    fig = viz.plot_search(result, tmp_path / "search.png")
    assert (tmp_path / "search.png").read_bytes()[:8] == PNG
    heat_map, points, *bars = fig.axes
    assert [bar.get_ylabel() for bar in bars] == ["val_accuracy", "val_accuracy"]
    grid = heat_map.images[0].get_array()
    assert grid.shape == (2, 3)  # rows: l2 values, columns: learning rates
    assert grid[0, 2] == pytest.approx(0.7)  # the coarse mesh only (the fine trial scored 0.75)
    assert points.get_xscale() == "log" and heat_map.get_xlabel() == "learning_rate"
    with pytest.raises(ValueError, match="not an axis of the search"):
        viz.plot_search(result, x="dropout", y="l2")


def test_every_figure_lays_out_its_labels_without_overlap():
    """Constrained layout on every figure (matplotlib moves labels, colour bars and titles apart); and in a
    grid of small panels, a y label stays clear of its left neighbour's plot area."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    stats = {"step": [0, 1, 2], "grad_norm": {f"dense_{i}": [1e-3, 1e-2, 1e-1] for i in range(3)},
             "update_ratio": {"dense_0": [1e-4, 1e-3, 1e-2]}, "dead": {"dense_0": [0.0, 0.5, 0.9]}}
    figures = [viz.plot_history({"loss": [3.0, 2.0], "accuracy": [0.5, 0.6]}), viz.plot_bars(np.arange(3.0)),
               viz.plot_layer_statistics(stats), viz.plot_confusion_matrix(np.eye(3)),
               viz.plot_search(_search_result()), viz.plot_image_grid(np.zeros((3, 4, 4)))]
    assert all(isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine) for fig in figures)
    fig = figures[2]
    canvas = FigureCanvasAgg(fig)  # what savefig(".png") draws with
    canvas.draw()
    renderer = canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.lines]
    for left, right in itertools.pairwise(panels):
        assert right.yaxis.label.get_window_extent(renderer).x0 > left.get_window_extent(renderer).x1
