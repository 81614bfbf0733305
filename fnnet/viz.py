"""Plots as matplotlib Figures: shown inline in Jupyter, written as PNG when given a path.

Every plot function returns its :class:`Figure` and saves it as a PNG only when given ``path`` (parent
folders are created)::

    viz.plot_history(history)                          # a notebook cell: the figure shows inline
    viz.plot_history(history, "outputs/history.png")   # a script: the PNG is written too

Nothing here changes matplotlib's backend or uses ``pyplot``: the figures are plain
``matplotlib.figure.Figure`` objects, never registered with pyplot, so a notebook shows each one exactly
once (when it is a cell's value or passed to ``display``) and a headless run needs no display. Every
figure uses matplotlib's constrained layout, so labels, colour bars and titles do not overlap.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Optional, Sequence

import matplotlib.figure
import numpy as np
from matplotlib import colormaps
from matplotlib.ticker import MaxNLocator


class Figure(matplotlib.figure.Figure):
    """A matplotlib Figure that IPython displays as a PNG (``_repr_png_``) even where no pyplot backend
    registered a figure formatter (a kernel that never imported pyplot, or ``MPLBACKEND=Agg``)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: Optional[tuple] = None, **kwargs):
    """Like ``pyplot.subplots`` without pyplot: ``(Figure, axes)`` with constrained layout
    (``kwargs`` go to :meth:`matplotlib.figure.Figure.subplots`: ``squeeze``, ``sharex``...)."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig, path) -> Path:
    """Saves ``fig`` as PNG at ``path`` (creating folders) and returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def save_figures(figures: dict, folder) -> list[str]:
    """Saves ``{file name: Figure}`` into ``folder``; returns the written paths as strings, in order."""
    return [str(save_figure(fig, Path(folder) / name)) for name, fig in figures.items()]


def _finish(fig, path) -> Figure:
    """The plot functions' ending: save when a path is given, return the figure."""
    if path is not None:
        save_figure(fig, path)
    return fig


def figure_grid(n_panels: int, *, ncols: int = 4, panel_size: tuple = (4.0, 3.5), sharex=False):
    """A figure with ``n_panels`` axes on a grid (unused cells hidden): returns ``(fig, axes list)``.

    ``sharex``: ``False``, ``True``/``"all"``, ``"row"`` or ``"col"`` (matplotlib's shared x-axes); a panel
    whose neighbour below is hidden keeps its x tick labels."""
    if n_panels < 1:
        raise ValueError(f"n_panels must be >= 1, got {n_panels}")
    ncols = min(ncols, n_panels)
    nrows = -(-n_panels // ncols)
    fig, axes = subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False,
                         sharex=sharex)
    axes = list(axes.ravel())
    for ax in axes[n_panels:]:
        ax.axis("off")
    for i in range(max(0, n_panels - ncols), n_panels):
        axes[i].xaxis.set_tick_params(labelbottom=True)  # the lowest visible panel of each column
    return fig, axes[:n_panels]


# ----------------------------------------------------------------------------------------------
# Training curves


def _history_logs(history) -> dict:
    logs = getattr(history, "history", history)
    if not hasattr(logs, "keys") or not len(logs):
        raise ValueError(f"history must be a History, a PopulationHistory or a dict of per-epoch values, got "
                         f"{type(history).__name__}")
    return logs


def _first_epoch(history) -> int:
    """The 1-based number of ``history``'s first epoch: 1, or later for a run continued from a state."""
    runs = getattr(history, "members", None) or [history]
    starts = [run.epochs[0] for run in runs if getattr(run, "epochs", None)]
    return int(min(starts)) + 1 if starts else 1


def plot_history(history, path=None, *, metrics: Optional[Sequence[str]] = None, title: str = "") -> Figure:
    """Training vs validation curves, one panel per quantity (``loss``, ``accuracy``...); training in
    blue, validation in orange, integer epochs on the x axis.

    ``history`` is a :class:`fnnet.History`, a dict of per-epoch lists, or a population's history
    (:class:`fnnet.state.PopulationHistory` of ``fit_ensemble``/``fit_sweep``, whose entries are
    ``(epochs, M)`` arrays): then every member is drawn faintly and the members' mean (over the members
    still training at that epoch) boldly. A run continued from a state numbers its epochs on."""
    logs = _history_logs(history)
    first = _first_epoch(history)
    names = list(metrics) if metrics else [k for k in logs if not k.startswith("val_")]
    missing = [n for n in names if n not in logs and f"val_{n}" not in logs]
    if missing or not names:
        raise ValueError(f"metrics {missing or names} are not in the history; recorded: {list(logs)}")
    fig, axes = subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, label, color in ((name, "train", "tab:blue"), (f"val_{name}", "validation", "tab:orange")):
            if key not in logs:
                continue
            values = np.asarray(logs[key], np.float64)
            epochs = np.arange(first, first + len(values))
            if values.ndim == 2:  # a population: one column per member, NaN after a member stopped
                members = ax.plot(epochs, values, color=color, alpha=0.3, linewidth=0.8)
                members[0].set_label(f"{label}: each of {values.shape[1]} members")
                counts = np.isfinite(values).sum(axis=1)
                mean = np.where(counts > 0, np.nansum(values, axis=1) / np.maximum(counts, 1), np.nan)
                ax.plot(epochs, mean, color=color, linewidth=2.4, label=f"{label}: mean")
            else:
                ax.plot(epochs, values, color=color, marker="o" if len(values) <= 12 else None, markersize=3,
                        label=f"{label} {name}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, not 2.5
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_curves(curves: dict, path=None, *, xlabel: str = "iteration", ylabel: str = "loss", title: str = "",
                logy: bool = False, x: Optional[Sequence[float]] = None, logx: bool = False,
                start: float = 0, step: float = 1) -> Figure:
    """Several named 1-D curves on one axes (e.g. the loss of SGD vs momentum vs RMSprop). Point ``i`` of
    each curve is drawn at ``x[i]`` when the shared abscissae ``x`` (one per value) are given, else at
    ``start + i * step`` (e.g. ``start=1`` for per-epoch values)."""
    fig, ax = subplots(figsize=(6, 4))
    for name, values in curves.items():
        values = np.asarray(values)
        if x is not None and len(x) != len(values):
            raise ValueError(f"x has {len(x)} values but curve {name!r} has {len(values)}")
        ax.plot(start + step * np.arange(len(values)) if x is None else np.asarray(x), values, label=name,
                marker="o" if len(values) <= 12 else None, markersize=3)  # a few points: show where they are
    if x is None and float(start).is_integer() and float(step).is_integer():
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, not 2.5
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return _finish(fig, path)


# ----------------------------------------------------------------------------------------------
# Data and fitted functions


def decision_grid(x: np.ndarray, *, resolution: int = 200, margin: float = 1.0):
    """A ``resolution x resolution`` grid covering 2-D points ``x (N, 2)`` plus ``margin``:
    returns ``(xx, yy, points (resolution², 2) float32)``."""
    lo, hi = x.min(0) - margin, x.max(0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    return xx, yy, np.c_[xx.ravel(), yy.ravel()].astype(np.float32)


def plot_decision_boundary(
    predict_fn: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    path=None,
    *,
    title: str = "",
    ax=None,
    resolution: int = 200,
) -> Figure:
    """Filled class regions of ``predict_fn(points (M, 2)) -> labels (M,)`` with the data on top.

    With ``ax`` it draws into that axes (for grids of boundaries, see :func:`figure_grid`) and returns the
    axes' figure."""
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    xx, yy, points = decision_grid(x, resolution=resolution)
    zz = np.asarray(predict_fn(points)).reshape(xx.shape)
    if ax is None:
        _, ax = subplots(figsize=(5, 4))
    spectral = colormaps["Spectral"]
    ax.contourf(xx, yy, zz, cmap=spectral, alpha=0.8)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap=spectral, s=12, edgecolors="k", linewidths=0.3)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return _finish(ax.figure, path)


def plot_fits(
    x,
    y,
    curves: dict,
    path=None,
    *,
    ax=None,
    title: str = "",
    xlabel: str = "x",
    ylabel: str = "y",
    ylim: Optional[tuple] = None,
) -> Figure:
    """Data points ``x (N,)``, ``y (N,)`` and fitted functions over them, ``curves = {name: (grid (G,),
    values (G,))}`` (e.g. polynomials of several orders). ``ylim`` keeps curves that shoot off (high-order
    polynomials at the ends) from squashing the data. With ``ax`` it draws there and returns its figure."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if ax is None:
        _, ax = subplots(figsize=(6, 4))
    for name, (grid, values) in curves.items():
        ax.plot(np.asarray(grid).ravel(), np.asarray(values).ravel(), label=name, linewidth=1.4)
    ax.scatter(x, y, s=18, color="k", zorder=3, label="data")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _finish(ax.figure, path)


def plot_trajectories(
    fn: Callable[[np.ndarray], np.ndarray],
    paths: dict,
    path=None,
    *,
    xlim: tuple,
    ylim: tuple,
    minimum: Optional[Sequence[float]] = None,
    levels: int = 30,
    log_levels: bool = True,
    resolution: int = 200,
    title: str = "",
) -> Figure:
    """Contours of a 2-D function with optimizer paths on top (the seed's optimizer animations, as stills).

    Args:
      fn: maps points ``(M, 2)`` to values ``(M,)`` (e.g. ``jax.vmap(surface)``).
      paths: ``{name: points (T, 2)}``, each a path from its start ``points[0]`` (circle) to its end (cross).
      path: the PNG to write (optional).
      xlim, ylim: ``(low, high)`` of the plotted window; paths leaving it are clipped by the axes.
      minimum: the known minimizer ``(x, y)``, drawn as a star.
      levels: number of contour levels; ``log_levels`` spaces them logarithmically between the smallest
        positive and the largest value on the grid (for surfaces spanning many orders of magnitude).
    """
    if len(xlim) != 2 or len(ylim) != 2 or not (xlim[0] < xlim[1] and ylim[0] < ylim[1]):
        raise ValueError(f"xlim and ylim must be (low, high) with low < high, got {xlim!r} and {ylim!r}")
    paths = {name: np.asarray(points, dtype=np.float64) for name, points in paths.items()}
    for name, points in paths.items():
        if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
            raise ValueError(f"paths[{name!r}] must be an array of points (T, 2), got shape {points.shape}")
    xx, yy = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    zz = np.asarray(fn(np.c_[xx.ravel(), yy.ravel()].astype(np.float32)), dtype=np.float64).reshape(xx.shape)
    fig, ax = subplots(figsize=(7, 5.5))
    positive = zz[np.isfinite(zz) & (zz > 0)]
    contour_levels = np.geomspace(positive.min(), positive.max(), levels) if log_levels and positive.size else levels
    ax.contour(xx, yy, zz, levels=contour_levels, cmap="viridis", linewidths=0.7, alpha=0.8)
    for name, points in paths.items():
        (line,) = ax.plot(points[:, 0], points[:, 1], "-", linewidth=1.6, label=name)
        ax.plot(points[0, 0], points[0, 1], "o", color=line.get_color(), markersize=6)
        ax.plot(points[-1, 0], points[-1, 1], "x", color=line.get_color(), markersize=9, markeredgewidth=2)
    if minimum is not None:
        ax.plot(minimum[0], minimum[1], "*", color="k", markersize=14, label="minimum")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title)
    return _finish(fig, path)


def plot_histograms(samples: dict, path=None, *, bins: int = 50, ncols: int = 4, xlabel: str = "value",
                    title: str = "", panel_size: tuple = (3.2, 2.4), sharex=False) -> Figure:
    """One histogram panel per named sample, ``{panel title: values (any shape, flattened)}``: weight
    or activation distributions, e.g. per layer.

    ``sharex`` (``"row"``, ``"col"``, ``True`` for all panels) puts panels on one x range, so that a
    distribution that collapses (activations shrinking layer by layer) or spreads (a variance of 500
    against 1) shows as a narrow spike next to a wide one instead of filling its own panel."""
    if not samples:
        raise ValueError("samples must name at least one array of values")
    fig, axes = figure_grid(len(samples), ncols=ncols, panel_size=panel_size, sharex=sharex)
    for ax, (name, values) in zip(axes, samples.items()):
        values = np.asarray(values, dtype=np.float64).ravel()
        ax.hist(values[np.isfinite(values)], bins=bins, color="tab:blue", alpha=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_bars(values, path=None, *, xlabel: str = "index", ylabel: str = "value", title: str = "",
              colors: Optional[Sequence[str]] = None) -> Figure:
    """A bar plot of a 1-D array against its index, e.g. the output weights of one class
    (``colors``: one matplotlib color per bar)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {values.shape}")
    if colors is not None and len(colors) != len(values):
        raise ValueError(f"colors must have one entry per value ({len(values)}), got {len(colors)}")
    fig, ax = subplots(figsize=(7, 3.5))
    ax.bar(np.arange(len(values)), values, color=colors)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    return _finish(fig, path)


def plot_embedding(points, labels, path=None, *, class_names: Optional[Sequence[str]] = None,
                   title: str = "") -> Figure:
    """2-D points ``(N, 2)`` (codes, projections) coloured by their integer class ``labels (N,)``."""
    points, labels = np.asarray(points, dtype=np.float64), np.asarray(labels).reshape(-1)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"points must be (N, 2) with one label each, got {points.shape} and {labels.shape}")
    fig, ax = subplots(figsize=(6, 5))
    for c in np.unique(labels):
        name = class_names[int(c)] if class_names is not None else str(c)
        sel = labels == c
        ax.scatter(points[sel, 0], points[sel, 1], s=6, alpha=0.6, label=name)
    ax.legend(markerscale=3, fontsize=8, loc="best")
    ax.set_title(title)
    return _finish(fig, path)


def plot_fitted_lines(x, y, lines: dict, path=None, *, xlabel: str = "x", ylabel: str = "y", title: str = "",
                      max_points: int = 5000) -> Figure:
    """Data ``x (N,)``, ``y (N,)`` as a scatter and straight lines ``y = m x + b`` over its x-range, one per
    entry ``{name: (m, b)}`` (e.g. gradient descent vs the closed form). At most ``max_points`` evenly
    spaced points are drawn, so large data sets stay readable."""
    x, y = np.asarray(x, np.float64).reshape(-1), np.asarray(y, np.float64).reshape(-1)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"x and y must be non-empty with one y per x, got shapes {x.shape} and {y.shape}")
    shown = slice(None, None, max(1, -(-len(x) // max_points)))
    fig, ax = subplots(figsize=(6, 4.5))
    ax.scatter(x[shown], y[shown], s=3, alpha=0.25, color="gray", label="data")
    grid = np.array([x.min(), x.max()])
    for name, (slope, intercept) in lines.items():
        ax.plot(grid, slope * grid + intercept, linewidth=2, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return _finish(fig, path)


# ----------------------------------------------------------------------------------------------
# Images and weights as images


def _as_panels(images) -> np.ndarray:
    """``images`` as ``(N, H, W)`` or ``(N, H, W, 3)`` float for imshow (a single channel is squeezed)."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3) or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, H, W), (N, H, W, 1) or (N, H, W, 3) array, "
                         f"got {images.shape}")
    return images


def plot_image_grid(
    images,
    path=None,
    *,
    ncols: int = 10,
    titles: Optional[Sequence[str]] = None,
    highlight: Optional[dict] = None,
    cmap: str = "gray",
    panel_size: float = 1.3,
    title: str = "",
) -> Figure:
    """A grid of images, each scaled to its own value range: samples, weight images, filters,
    reconstructions (the CS4487 seed's ``show_imgs``).

    Args:
      images: ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``, any real values (e.g. a Dense kernel
        column reshaped to 28x28); RGB panels are min-max scaled to [0, 1].
      path: the PNG to write (optional).
      titles: one string per panel. highlight: ``{color: mask}`` with boolean masks of length N: a thick
        frame of that matplotlib color around the selected panels (the lecture's green and red boxes).
    """
    panels = _as_panels(images)
    n = len(panels)
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have one entry per image ({n}), got {len(titles)}")
    masks = {}
    for color, mask in (highlight or {}).items():
        mask = np.asarray(mask, dtype=bool).reshape(-1)
        if mask.shape != (n,):
            raise ValueError(f"highlight[{color!r}] must be a boolean mask of length {n}, got shape {mask.shape}")
        masks[color] = mask
    fig, axes = figure_grid(n, ncols=ncols, panel_size=(panel_size, panel_size))
    for i, (ax, panel) in enumerate(zip(axes, panels)):
        if panel.ndim == 3:
            span = panel.max() - panel.min()
            panel = (panel - panel.min()) / (span if span > 0 else 1.0)
        ax.imshow(panel, cmap=cmap, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
        for color, mask in masks.items():
            if mask[i]:
                for spine in ax.spines.values():
                    spine.set_edgecolor(color)
                    spine.set_linewidth(4)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def filter_images(kernel, image_shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """First-layer weights as one image per unit, for :func:`plot_image_grid`.

    A Dense kernel ``(inputs, units)`` gives ``(units, *image_shape)`` (the seed's
    ``W[:, i].reshape(28, 28)``; ``image_shape`` is required and must multiply to ``inputs``). An HWIO
    conv kernel ``(h, w, in, filters)`` gives ``(filters, h, w)`` for one input channel (the first one
    when there are several, except RGB) or ``(filters, h, w, 3)`` for three."""
    kernel = np.asarray(kernel)
    if kernel.ndim == 4:
        if kernel.shape[2] == 3:
            return np.moveaxis(kernel, -1, 0)
        return np.moveaxis(kernel[:, :, 0, :], -1, 0)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be a Dense (inputs, units) or conv (h, w, in, out) kernel, "
                         f"got shape {kernel.shape}")
    if image_shape is None or int(np.prod(image_shape)) != kernel.shape[0]:
        raise ValueError(f"image_shape must multiply to the kernel's {kernel.shape[0]} inputs, got {image_shape}")
    return kernel.T.reshape((kernel.shape[1],) + tuple(image_shape))


def plot_filters(kernel, path=None, *, image_shape: Optional[Sequence[int]] = None, ncols: int = 10,
                 titles: Optional[Sequence[str]] = None, highlight: Optional[dict] = None,
                 title: str = "") -> Figure:
    """A first-layer kernel as a grid of weight images (Dense units or conv filters, see
    :func:`filter_images`), optionally framing units green/red (``highlight``, as in
    :func:`plot_image_grid`)."""
    return plot_image_grid(filter_images(kernel, image_shape), path, ncols=ncols, titles=titles,
                           highlight=highlight, title=title)


def highlight_threshold(weights, *, threshold: Optional[float] = None, fraction: Optional[float] = None) -> float:
    """The cut-off for :func:`highlight_masks`: ``threshold`` itself, or ``fraction`` of the largest
    ``|weight|`` (default ``fraction=0.5``). A relative cut frames units on a short run too, whose weights
    are still small; the lecture's fixed 0.75 suits only its 100-epoch model."""
    if threshold is not None and fraction is not None:
        raise ValueError(f"give threshold or fraction, not both (got {threshold!r} and {fraction!r})")
    if threshold is not None:
        if not threshold >= 0:
            raise ValueError(f"threshold must be >= 0, got {threshold!r}")
        return float(threshold)
    fraction = 0.5 if fraction is None else fraction
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    return float(fraction * np.max(np.abs(np.asarray(weights, np.float64)), initial=0.0))


def highlight_masks(weights, threshold: Optional[float] = None, *, fraction: Optional[float] = None) -> dict:
    """``{"green": weights > t, "red": weights < -t}``: the CS4487 lecture's choice of the hidden units an
    output unit wants (green) and does not want (red). ``t`` is ``threshold`` or ``fraction`` of the
    largest ``|weight|`` (see :func:`highlight_threshold`; default half the largest)."""
    weights = np.asarray(weights)
    t = highlight_threshold(weights, threshold=threshold, fraction=fraction)
    return {"green": weights > t, "red": weights < -t}


def plot_output_weights(weights, path=None, *, threshold: Optional[float] = None, fraction: Optional[float] = None,
                        xlabel: str = "hidden unit", title: str = "") -> Figure:
    """One output unit's incoming weights as bars, green above the cut-off, red below minus it, gray
    otherwise, with the cut-off drawn (the lecture's bar plot; pair it with :func:`plot_filters` and
    :func:`highlight_masks` given the same ``threshold``/``fraction`` to frame the same units)."""
    t = highlight_threshold(weights, threshold=threshold, fraction=fraction)
    masks = highlight_masks(weights, t)
    colors = np.where(masks["green"], "green", np.where(masks["red"], "red", "gray"))
    fig = plot_bars(weights, xlabel=xlabel, ylabel="weight", colors=list(colors), title=title)
    ax = fig.axes[0]
    for level in (t, -t):
        ax.axhline(level, color="k", linestyle=":", linewidth=1)
    ax.text(1.0, t, f" ±{t:.3g}", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    return _finish(fig, path)


# ----------------------------------------------------------------------------------------------
# Diagnostics plots

_STATISTIC_LABELS = {
    "grad_norm": ("gradient norm", True),
    "update_ratio": ("update / weight", True),
    "dead": ("dead ReLU units", False),
    "saturated": ("saturated outputs", False),
    "act_std": ("activation std", True),
    "act_mean": ("activation mean", False),
}


def plot_layer_statistics(history: dict, path=None, *, statistics: Optional[Sequence[str]] = None,
                          title: str = "") -> Figure:
    """Per-layer training statistics against the step, one panel per statistic, one line per layer.

    ``history`` is a :class:`fnnet.diagnostics.TrainingMonitor`'s ``history``: ``{"step": [...],
    statistic: {layer: [...]}}``. Norms and ratios use a log scale; the update/weight panel marks the
    seed's 1e-3 target. Statistics without any layer (e.g. ``dead`` for a tanh net) are left out."""
    names = [s for s in (statistics or _STATISTIC_LABELS) if history.get(s)]
    if not names or not history.get("step"):
        raise ValueError("history must hold 'step' and at least one statistic with values, e.g. a TrainingMonitor's")
    steps = np.asarray(history["step"])
    fig, axes = figure_grid(len(names), ncols=min(3, len(names)))
    for ax, name in zip(axes, names):
        label, log = _STATISTIC_LABELS.get(name, (name, False))
        for layer, values in history[name].items():
            ax.plot(steps, np.asarray(values, np.float64), label=layer)
        if name == "update_ratio":
            ax.axhline(1e-3, color="k", linestyle="--", linewidth=1, label="1e-3 target")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_layer_histograms(values: dict, path=None, *, bins: int = 50, title: str = "") -> Figure:
    """Histograms per layer: ``values`` maps a group (``"weights"``, ``"activations"``, ``"gradients"``,
    as :func:`fnnet.diagnostics.layer_snapshot` returns) to ``{layer: array}``; one row per layer, one
    column per group, each column on one x range so the layers compare at a glance. Unhealthy shapes to
    look for (the jhui seed): gradients all near 0 (vanishing: a spike where later layers spread),
    very wide (exploding) or all of one sign; activations piled up at 0 (dead) or at the ends
    (saturated); weights far from a centred bell."""
    groups = [g for g, by_layer in values.items() if by_layer]
    layers = list(dict.fromkeys(layer for g in groups for layer in values[g]))
    if not layers:
        raise ValueError("values must map groups (weights, activations, gradients) to non-empty {layer: array} dicts")
    fig, axes = subplots(len(layers), len(groups), figsize=(3.6 * len(groups), 2.4 * len(layers)), squeeze=False,
                         sharex="col")
    for r, layer in enumerate(layers):
        for c, group in enumerate(groups):
            ax = axes[r][c]
            ax.xaxis.set_tick_params(labelbottom=True)  # the ranges differ by column: label every panel
            if layer not in values[group]:
                ax.axis("off")
                continue
            data = np.asarray(values[group][layer], np.float64).ravel()
            data = data[np.isfinite(data)]
            ax.hist(data, bins=bins, color="tab:blue" if group != "gradients" else "tab:orange")
            ax.set_title(f"{layer}: {group}", fontsize=9)
            ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_lr_vs_loss(learning_rates, losses, path=None, *, smoothed=None, suggested: Optional[float] = None,
                    title: str = "LR range test") -> Figure:
    """Loss against the learning rate on a log axis (the LR range test), with the smoothed curve and the
    suggested rate when given."""
    rates = np.asarray(learning_rates, np.float64)
    losses = np.asarray(losses, np.float64)
    if rates.ndim != 1 or rates.shape != losses.shape or len(rates) == 0:
        raise ValueError(f"learning_rates and losses must be 1-D of the same length, "
                         f"got {rates.shape} and {losses.shape}")
    fig, ax = subplots(figsize=(6, 4))
    ax.plot(rates, losses, alpha=0.4, label="loss")
    if smoothed is not None:
        ax.plot(rates, np.asarray(smoothed, np.float64), label="smoothed")
    if suggested is not None:
        ax.axvline(suggested, color="green", linestyle="--", label=f"suggested {suggested:.2g}")
    finite = losses[np.isfinite(losses)]
    if len(finite):
        ax.set_ylim(finite.min() - 0.05 * abs(finite.min()), min(finite.max(), 4 * np.median(finite)) * 1.05)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return _finish(fig, path)


def plot_confusion_matrix(matrix, path=None, *, class_names: Optional[Sequence[str]] = None,
                          title: str = "") -> Figure:
    """A ``(C, C)`` confusion matrix (rows: true class, columns: predicted, as
    :func:`fnnet.metrics.confusion_matrix`) with the count in every cell."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"matrix must be a square (C, C) array, got shape {matrix.shape}")
    n = matrix.shape[0]
    names = [str(i) for i in range(n)] if class_names is None else list(class_names)
    if len(names) != n:
        raise ValueError(f"class_names must have one entry per class ({n}), got {len(names)}")
    fig, ax = subplots(figsize=(0.55 * n + 2.5, 0.55 * n + 2))
    ax.imshow(matrix, cmap="Blues")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{matrix[i, j]:g}", ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > threshold else "black")
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _finish(fig, path)


def plot_misclassified(images, labels, predicted, path=None, *, max_images: int = 20, ncols: int = 10,
                       class_names: Optional[Sequence[str]] = None, title: str = "") -> Figure:
    """The first ``max_images`` examples whose ``predicted`` label differs from ``labels``, each titled
    ``true -> predicted`` (the seed's "display and analyse samples that have wrong predictions")."""
    labels, predicted = np.asarray(labels).reshape(-1), np.asarray(predicted).reshape(-1)
    if len(labels) != len(predicted) or len(labels) != len(images):
        raise ValueError(f"images, labels and predicted must have the same length, got {len(images)}, "
                         f"{len(labels)} and {len(predicted)}")
    name = (lambda c: str(c)) if class_names is None else (lambda c: str(class_names[int(c)]))
    wrong = np.flatnonzero(labels != predicted)[:max_images]
    if len(wrong) == 0:
        fig, ax = subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
        return _finish(fig, path)
    titles = [f"{name(labels[i])} -> {name(predicted[i])}" for i in wrong]
    title = title or f"{int(np.sum(labels != predicted))} misclassified (true -> predicted)"
    return plot_image_grid(np.asarray(images)[wrong], path, ncols=ncols, titles=titles, title=title)


# ----------------------------------------------------------------------------------------------
# Hyper-parameter search


def _axis_values(axis) -> list:
    """A search axis' values: a :class:`fnnet.search.Axis` (``.values()``) or a sequence."""
    return list(axis.values()) if callable(getattr(axis, "values", None)) else list(axis)


def _tick_label(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.0e}" if value != 0 and not 1e-2 <= abs(value) < 1e3 else f"{value:g}"
    return str(value)


def _search_axes(coarse: dict, x: Optional[str], y: Optional[str]) -> tuple[str, str]:
    """The two axes of the heat map: the given ones, else the two with most values."""
    sizes = {name: len(_axis_values(axis)) for name, axis in coarse.items()}
    varying = sorted((n for n, size in sizes.items() if size > 1), key=lambda n: -sizes[n])
    if x is None or y is None:
        if len(varying) < 2:
            raise ValueError(f"a heat map needs two axes with several values; the mesh varies {varying}")
        x = x or next(n for n in varying if n != y)
        y = y or next(n for n in varying if n != x)
    for name in (x, y):
        if name not in coarse:
            raise ValueError(f"{name!r} is not an axis of the search; axes: {list(coarse)}")
    return x, y


def plot_search(result, path=None, *, x: Optional[str] = None, y: Optional[str] = None) -> Figure:
    """A :class:`fnnet.search.SearchResult`: a heat map of the coarse mesh's scores over two of its axes
    (``x``, ``y``; by default the two with most values; a cell shows the best score over the other axes),
    and every trial of every round at its actual (jittered) point. Both colour bars are the monitored
    quantity."""
    coarse = result.axes[0]
    x, y = _search_axes(coarse, x, y)
    names = list(coarse)
    ix, iy = names.index(x), names.index(y)
    grid = np.full((len(_axis_values(coarse[y])), len(_axis_values(coarse[x]))), np.nan)
    use_max = result.mode == "max"
    for t in result.trials:
        if t.round == 0:
            current = grid[t.cell[iy], t.cell[ix]]
            better = np.isnan(current) or (t.score > current if use_max else t.score < current)
            grid[t.cell[iy], t.cell[ix]] = t.score if better else current
    scores = [t.score for t in result.trials]
    limits = dict(vmin=np.nanmin(scores), vmax=np.nanmax(scores), cmap="viridis")
    fig, (ax_map, ax_points) = subplots(1, 2, figsize=(12, 4.8))
    image = ax_map.imshow(grid, origin="lower", aspect="auto", **limits)
    for (r, c), v in np.ndenumerate(grid):
        if np.isfinite(v):
            ax_map.text(c, r, f"{v:.3f}", ha="center", va="center", fontsize=8, color="w")
    ax_map.set_xticks(range(grid.shape[1]), [_tick_label(v) for v in _axis_values(coarse[x])])
    ax_map.set_yticks(range(grid.shape[0]), [_tick_label(v) for v in _axis_values(coarse[y])])
    ax_map.set(xlabel=x, ylabel=y, title=f"coarse mesh: {result.monitor}")
    fig.colorbar(image, ax=ax_map, label=result.monitor)
    points = None
    for rnd, marker in ((0, "o"), (1, "s")):
        trials = [t for t in result.trials if t.round == rnd]
        if trials:
            points = ax_points.scatter([t.values[x] for t in trials], [t.values[y] for t in trials],
                                       c=[t.score for t in trials], marker=marker, edgecolors="k", linewidths=0.3,
                                       label="coarse" if rnd == 0 else "fine", **limits)
    ax_points.scatter([result.best.values[x]], [result.best.values[y]], marker="*", s=250, c="red", label="best")
    for name, set_scale in ((x, ax_points.set_xscale), (y, ax_points.set_yscale)):
        if getattr(coarse[name], "scale", None) == "log":
            set_scale("log")
    ax_points.set(xlabel=x, ylabel=y, title="every trial (jittered points)")
    ax_points.legend()
    if points is not None:
        fig.colorbar(points, ax=ax_points, label=result.monitor)
    return _finish(fig, path)
