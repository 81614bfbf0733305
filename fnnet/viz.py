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
                logy: bool = False) -> Path:
    """Several named 1-D curves on one axes (e.g. the loss of SGD vs momentum vs RMSprop)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(np.arange(len(values)), np.asarray(values), label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return save_figure(fig, path)
