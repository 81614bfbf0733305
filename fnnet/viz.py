"""Plots saved as PNG files (matplotlib, headless ``Agg`` backend).

Every function takes an output ``path`` (parent folders are created), writes one PNG and returns the
path, so recipes and notebooks can list what they produced.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_figure(fig, path) -> Path:
    """Saves ``fig`` as PNG at ``path`` (creating folders), closes it and returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def figure_grid(n_panels: int, *, ncols: int = 4, panel_size: tuple = (4.0, 3.5)):
    """A figure with ``n_panels`` axes on a grid (unused cells hidden): returns ``(fig, axes list)``."""
    ncols = min(ncols, n_panels)
    nrows = -(-n_panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False)
    axes = list(axes.ravel())
    for ax in axes[n_panels:]:
        ax.axis("off")
    return fig, axes[:n_panels]


def plot_history(history, path, *, metrics: Optional[Sequence[str]] = None, title: str = "") -> Path:
    """Training vs validation curves, one panel per quantity (``loss``, ``accuracy``...).

    ``history`` is a :class:`fnnet.train.History` or a dict of per-epoch lists."""
    logs = getattr(history, "history", history)
    names = list(metrics) if metrics else [k for k in logs if not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = np.arange(1, len(logs[name]) + 1)
        ax.plot(epochs, logs[name], label=f"train {name}")
        if f"val_{name}" in logs:
            ax.plot(epochs, logs[f"val_{name}"], label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


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
    path,
    *,
    title: str = "",
    ax=None,
    resolution: int = 200,
) -> Optional[Path]:
    """Filled class regions of ``predict_fn(points (M, 2)) -> labels (M,)`` with the data on top.

    With ``ax`` it draws into that axes (for grids of boundaries) and returns None; otherwise it
    writes ``path``."""
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    xx, yy, points = decision_grid(x, resolution=resolution)
    zz = np.asarray(predict_fn(points)).reshape(xx.shape)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(5, 4))
    ax.contourf(xx, yy, zz, cmap=plt.cm.Spectral, alpha=0.8)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap=plt.cm.Spectral, s=12, edgecolors="k", linewidths=0.3)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return save_figure(fig, path) if own else None


def plot_curves(curves: dict, path, *, xlabel: str = "iteration", ylabel: str = "loss", title: str = "",
                logy: bool = False, x: Optional[Sequence[float]] = None, logx: bool = False,
                start: float = 0, step: float = 1) -> Path:
    """Several named 1-D curves on one axes (e.g. the loss of SGD vs momentum vs RMSprop). Point ``i`` of
    each curve is drawn at ``x[i]`` when the shared abscissae ``x`` (one per value) are given, else at
    ``start + i * step`` (e.g. ``start=1`` for per-epoch values)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        values = np.asarray(values)
        if x is not None and len(x) != len(values):
            raise ValueError(f"x has {len(x)} values but curve {name!r} has {len(values)}")
        ax.plot(start + step * np.arange(len(values)) if x is None else np.asarray(x), values, label=name)
    if x is None and float(start).is_integer() and float(step).is_integer():
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # epochs, not 2.5
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return save_figure(fig, path)


def plot_fits(
    x,
    y,
    curves: dict,
    path,
    *,
    ax=None,
    title: str = "",
    xlabel: str = "x",
    ylabel: str = "y",
    ylim: Optional[tuple] = None,
) -> Optional[Path]:
    """Data points ``x (N,)``, ``y (N,)`` and fitted functions over them, ``curves = {name: (grid (G,),
    values (G,))}`` (e.g. polynomials of several orders). ``ylim`` keeps curves that shoot off (high-order
    polynomials at the ends) from squashing the data. With ``ax`` it draws there and returns None."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6, 4))
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
    return save_figure(fig, path) if own else None


def plot_trajectories(
    fn: Callable[[np.ndarray], np.ndarray],
    paths: dict,
    path,
    *,
    xlim: tuple,
    ylim: tuple,
    minimum: Optional[Sequence[float]] = None,
    levels: int = 30,
    log_levels: bool = True,
    resolution: int = 200,
    title: str = "",
) -> Path:
    """Contours of a 2-D function with optimizer paths on top (the seed's optimizer animations, as stills).

    Args:
      fn: maps points ``(M, 2)`` to values ``(M,)`` (e.g. ``jax.vmap(surface)``).
      paths: ``{name: points (T, 2)}``, each a path from its start ``points[0]`` (circle) to its end (cross).
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
    fig, ax = plt.subplots(figsize=(7, 5.5))
    positive = zz[np.isfinite(zz) & (zz > 0)]
    if log_levels and positive.size:
        contour_levels = np.geomspace(positive.min(), positive.max(), levels)
    else:
        contour_levels = levels
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
    return save_figure(fig, path)


def plot_histograms(samples: dict, path, *, bins: int = 50, ncols: int = 4, xlabel: str = "value",
                    title: str = "", panel_size: tuple = (3.2, 2.4)) -> Path:
    """One histogram panel per named sample, ``{panel title: values (any shape, flattened)}``: weight
    or activation distributions, e.g. per layer."""
    if not samples:
        raise ValueError("samples must name at least one array of values")
    fig, axes = figure_grid(len(samples), ncols=ncols, panel_size=panel_size)
    for ax, (name, values) in zip(axes, samples.items()):
        values = np.asarray(values, dtype=np.float64).ravel()
        ax.hist(values[np.isfinite(values)], bins=bins, color="tab:blue", alpha=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()  # panel titles clear of the x labels above them
    if title:
        fig.suptitle(title, y=1.02)
    return save_figure(fig, path)


def _as_panels(images) -> np.ndarray:
    """``images`` as ``(N, H, W)`` or ``(N, H, W, 3)`` float for imshow (a single channel is squeezed)."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3) or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, H, W), (N, H, W, 1) or (N, H, W, 3) array, got {images.shape}")
    return images


def plot_image_grid(
    images,
    path,
    *,
    ncols: int = 10,
    titles: Optional[Sequence[str]] = None,
    highlight: Optional[dict] = None,
    cmap: str = "gray",
    panel_size: float = 1.3,
    title: str = "",
) -> Path:
    """A grid of images, each scaled to its own value range: samples, weight images, filters,
    reconstructions (the CS4487 seed's ``show_imgs``).

    Args:
      images: ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``, any real values (e.g. a Dense kernel
        column reshaped to 28x28); RGB panels are min-max scaled to [0, 1].
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
        fig.suptitle(title, y=1.02)  # above the panel titles; save_figure's tight box keeps it
    return save_figure(fig, path)


def plot_bars(values, path, *, xlabel: str = "index", ylabel: str = "value", title: str = "",
              colors: Optional[Sequence[str]] = None) -> Path:
    """A bar plot of a 1-D array against its index, e.g. the output weights of one class
    (``colors``: one matplotlib color per bar)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {values.shape}")
    if colors is not None and len(colors) != len(values):
        raise ValueError(f"colors must have one entry per value ({len(values)}), got {len(colors)}")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(np.arange(len(values)), values, color=colors)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    return save_figure(fig, path)


def plot_embedding(points, labels, path, *, class_names: Optional[Sequence[str]] = None, title: str = "") -> Path:
    """2-D points ``(N, 2)`` (codes, projections) coloured by their integer class ``labels (N,)``."""
    points, labels = np.asarray(points, dtype=np.float64), np.asarray(labels).reshape(-1)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"points must be (N, 2) with one label each, got {points.shape} and {labels.shape}")
    fig, ax = plt.subplots(figsize=(6, 5))
    classes = np.unique(labels)
    for c in classes:
        name = class_names[int(c)] if class_names is not None else str(c)
        sel = labels == c
        ax.scatter(points[sel, 0], points[sel, 1], s=6, alpha=0.6, label=name)
    ax.legend(markerscale=3, fontsize=8, loc="best")
    ax.set_title(title)
    return save_figure(fig, path)


def plot_fitted_lines(x, y, lines: dict, path, *, xlabel: str = "x", ylabel: str = "y", title: str = "",
                      max_points: int = 5000) -> Path:
    """Data ``x (N,)``, ``y (N,)`` as a scatter and straight lines ``y = m x + b`` over its x-range, one per
    entry ``{name: (m, b)}`` (e.g. gradient descent vs the closed form). At most ``max_points`` evenly
    spaced points are drawn, so large data sets stay readable."""
    x, y = np.asarray(x, np.float64).reshape(-1), np.asarray(y, np.float64).reshape(-1)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"x and y must be non-empty with one y per x, got shapes {x.shape} and {y.shape}")
    shown = slice(None, None, max(1, -(-len(x) // max_points)))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(x[shown], y[shown], s=3, alpha=0.25, color="gray", label="data")
    grid = np.array([x.min(), x.max()])
    for name, (slope, intercept) in lines.items():
        ax.plot(grid, slope * grid + intercept, linewidth=2, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------------------------
# Weights as images


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
        raise ValueError(f"kernel must be a Dense (inputs, units) or conv (h, w, in, out) kernel, got shape {kernel.shape}")
    if image_shape is None or int(np.prod(image_shape)) != kernel.shape[0]:
        raise ValueError(f"image_shape must multiply to the kernel's {kernel.shape[0]} inputs, got {image_shape}")
    return kernel.T.reshape((kernel.shape[1],) + tuple(image_shape))


def plot_filters(kernel, path, *, image_shape: Optional[Sequence[int]] = None, ncols: int = 10,
                 titles: Optional[Sequence[str]] = None, highlight: Optional[dict] = None, title: str = "") -> Path:
    """A first-layer kernel as a grid of weight images (Dense units or conv filters, see
    :func:`filter_images`), optionally framing units green/red (``highlight``, as in
    :func:`plot_image_grid`)."""
    return plot_image_grid(filter_images(kernel, image_shape), path, ncols=ncols, titles=titles,
                           highlight=highlight, title=title)


def highlight_masks(weights, threshold: float) -> dict:
    """``{"green": weights > threshold, "red": weights < -threshold}``: the CS4487 lecture's choice of
    the hidden units an output unit wants (green) and does not want (red)."""
    weights = np.asarray(weights)
    return {"green": weights > threshold, "red": weights < -threshold}


def plot_output_weights(weights, path, *, threshold: float, xlabel: str = "hidden unit", title: str = "") -> Path:
    """One output unit's incoming weights as bars, green above ``threshold``, red below ``-threshold``,
    gray otherwise (the lecture's bar plot; pair it with :func:`plot_filters` and
    :func:`highlight_masks` to frame the same units)."""
    masks = highlight_masks(weights, threshold)
    colors = np.where(masks["green"], "green", np.where(masks["red"], "red", "gray"))
    return plot_bars(weights, path, xlabel=xlabel, ylabel="weight", colors=list(colors), title=title)


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


def plot_layer_statistics(history: dict, path, *, statistics: Optional[Sequence[str]] = None, title: str = "") -> Path:
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
    return save_figure(fig, path)


def plot_layer_histograms(values: dict, path, *, bins: int = 50, title: str = "") -> Path:
    """Histograms per layer: ``values`` maps a group (``"weights"``, ``"activations"``, ``"gradients"``,
    as :func:`fnnet.diagnostics.layer_snapshot` returns) to ``{layer: array}``; one row per layer, one
    column per group. Unhealthy shapes to look for (the jhui seed): gradients all near 0 (vanishing),
    very wide (exploding) or all of one sign; activations piled up at 0 (dead) or at the ends
    (saturated); weights far from a centred bell."""
    groups = [g for g, by_layer in values.items() if by_layer]
    layers = list(dict.fromkeys(layer for g in groups for layer in values[g]))
    if not layers:
        raise ValueError("values must map groups (weights, activations, gradients) to non-empty {layer: array} dicts")
    fig, axes = plt.subplots(len(layers), len(groups), figsize=(3.6 * len(groups), 2.4 * len(layers)), squeeze=False)
    for r, layer in enumerate(layers):
        for c, group in enumerate(groups):
            ax = axes[r][c]
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
    fig.tight_layout()
    return save_figure(fig, path)


def plot_lr_vs_loss(learning_rates, losses, path, *, smoothed=None, suggested: Optional[float] = None,
                    title: str = "LR range test") -> Path:
    """Loss against the learning rate on a log axis (the LR range test), with the smoothed curve and the
    suggested rate when given."""
    rates = np.asarray(learning_rates, np.float64)
    losses = np.asarray(losses, np.float64)
    if rates.ndim != 1 or rates.shape != losses.shape or len(rates) == 0:
        raise ValueError(f"learning_rates and losses must be 1-D of the same length, got {rates.shape} and {losses.shape}")
    fig, ax = plt.subplots(figsize=(6, 4))
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
    return save_figure(fig, path)


def plot_confusion_matrix(matrix, path, *, class_names: Optional[Sequence[str]] = None, title: str = "") -> Path:
    """A ``(C, C)`` confusion matrix (rows: true class, columns: predicted, as
    :func:`fnnet.metrics.confusion_matrix`) with the count in every cell."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"matrix must be a square (C, C) array, got shape {matrix.shape}")
    n = matrix.shape[0]
    names = [str(i) for i in range(n)] if class_names is None else list(class_names)
    if len(names) != n:
        raise ValueError(f"class_names must have one entry per class ({n}), got {len(names)}")
    fig, ax = plt.subplots(figsize=(0.55 * n + 2.5, 0.55 * n + 2))
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
    return save_figure(fig, path)


def plot_misclassified(images, labels, predicted, path, *, max_images: int = 20, ncols: int = 10,
                       class_names: Optional[Sequence[str]] = None, title: str = "") -> Path:
    """The first ``max_images`` examples whose ``predicted`` label differs from ``labels``, each titled
    ``true -> predicted`` (the seed's "display and analyse samples that have wrong predictions")."""
    labels, predicted = np.asarray(labels).reshape(-1), np.asarray(predicted).reshape(-1)
    if len(labels) != len(predicted) or len(labels) != len(images):
        raise ValueError(f"images, labels and predicted must have the same length, got {len(images)}, "
                         f"{len(labels)} and {len(predicted)}")
    name = (lambda c: str(c)) if class_names is None else (lambda c: str(class_names[int(c)]))
    wrong = np.flatnonzero(labels != predicted)[:max_images]
    if len(wrong) == 0:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
        return save_figure(fig, path)
    titles = [f"{name(labels[i])} -> {name(predicted[i])}" for i in wrong]
    return plot_image_grid(np.asarray(images)[wrong], path, ncols=ncols, titles=titles,
                           title=title or f"{len(np.flatnonzero(labels != predicted))} misclassified (true -> predicted)")
