"""Host-side preprocessing: scaling, centering/standardization, PCA/ZCA whitening, one-hot.

Statistics are fitted on training data only and then applied unchanged to validation/test data, so no
information leaks from the evaluation sets. Fitted transforms are small frozen dataclasses of numpy arrays;
statistics are computed in float64 and outputs are float32 (JAX's default precision).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from fnnet._checks import as_array, check_choice, check_finite, check_labels, check_ndim, check_positive


def scale_pixels(images, *, max_value: float = 255.0) -> np.ndarray:
    """``images / max_value`` as float32: uint8 pixels 0..255 -> [0, 1] (any shape)."""
    check_positive("max_value", max_value)
    images = as_array("images", images)
    return (np.asarray(images, np.float32) / np.float32(max_value)).astype(np.float32)


def _fit_rows(name: str, x) -> np.ndarray:
    """``x (N, ...)`` as ``(N, features)`` float64 for fitting statistics (N >= 2, all finite)."""
    x = np.asarray(as_array(name, x))
    if x.ndim < 1 or len(x) < 2:
        raise ValueError(f"{name} needs at least 2 examples along axis 0 to fit statistics, got shape {x.shape}")
    rows = x.reshape(len(x), -1).astype(np.float64)
    check_finite(name, rows)
    return rows


@dataclass(frozen=True, eq=False)
class Standardizer:
    """``(x - mean) / scale`` per feature, fitted with :meth:`fit` (sklearn's ``StandardScaler``).

    ``Standardizer.fit(x_train, with_std=False)`` only centers (the CS4487 seed's preprocessing).
    Works on any trailing shape: statistics are per position over axis 0, e.g. per pixel for images.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x, *, with_mean: bool = True, with_std: bool = True) -> Standardizer:
        """Fits on ``x (N, ...)``: mean over axis 0 and population std (ddof 0); features with zero
        spread get scale 1 so they are only centered."""
        flat = _fit_rows("x", x)
        feature_shape = np.shape(x)[1:]
        mean = flat.mean(axis=0) if with_mean else np.zeros(flat.shape[1])
        std = flat.std(axis=0) if with_std else np.ones(flat.shape[1])
        std = np.where(std > 0, std, 1.0)
        return cls(mean.reshape(feature_shape), std.reshape(feature_shape))

    def __call__(self, x) -> np.ndarray:
        """Transforms ``x (N, ...)`` (same trailing shape as the fit data) to float32."""
        x = np.asarray(as_array("x", x), np.float64)
        if x.shape[1:] != self.mean.shape:
            raise ValueError(f"x must have per-example shape {self.mean.shape} (as fitted), got {x.shape[1:]}")
        return ((x - self.mean) / self.scale).astype(np.float32)

    def inverse(self, z) -> np.ndarray:
        """Undoes :meth:`__call__`: ``z * scale + mean`` (float32)."""
        return (np.asarray(z, np.float64) * self.scale + self.mean).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Whitener:
    """PCA or ZCA whitening fitted by SVD of the training covariance (as the jhui seed shows)::

        X -= mean;  cov = X.T @ X / N;  U, S, _ = svd(cov)
        pca: X @ U / sqrt(S + eps)            zca: (X @ U / sqrt(S + eps)) @ U.T

    The whitened training data has covariance ``S / (S + eps)``, the identity up to ``eps``. ZCA stays in
    the input coordinates (images still look like images); PCA rotates to principal axes and can keep only
    the first ``n_components``. ``matrix`` is ``(d, k)``: ``whiten(x) = (x - mean) @ matrix``.
    """

    mean: np.ndarray
    matrix: np.ndarray

    @classmethod
    def fit(cls, x, *, method: str = "zca", eps: float = 1e-5, n_components: int | None = None) -> Whitener:
        """Fits on ``x (N, d)``; ``method`` is ``"pca"`` or ``"zca"``; ``n_components`` (PCA only) keeps the
        leading components."""
        check_choice("method", method, ("pca", "zca"))
        check_positive("eps", eps, allow_zero=True)
        check_ndim("x", x, 2)
        x = _fit_rows("x", x)
        d = x.shape[1]
        if n_components is not None:
            if method != "pca":
                raise ValueError("n_components applies to method='pca' only")
            if int(n_components) != n_components or not 1 <= n_components <= d:
                raise ValueError(f"n_components must be an integer in [1, {d}], got {n_components!r}")
        mean = x.mean(axis=0)
        centered = x - mean
        cov = centered.T @ centered / len(x)
        u, s, _ = np.linalg.svd(cov)
        if method == "pca":
            k = d if n_components is None else int(n_components)
            matrix = u[:, :k] / np.sqrt(s[:k] + eps)
        else:
            matrix = (u / np.sqrt(s + eps)) @ u.T
        return cls(mean, matrix)

    def __call__(self, x) -> np.ndarray:
        """Whitens ``x (N, d)`` to ``(N, k)`` float32."""
        x = np.asarray(as_array("x", x), np.float64)
        check_ndim("x", x, 2)
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"x must have {self.mean.shape[0]} features (as fitted), got {x.shape[1]}")
        return ((x - self.mean) @ self.matrix).astype(np.float32)


def one_hot(labels, num_classes: int, *, dtype=np.float32) -> np.ndarray:
    """``(N,)`` integer labels in ``[0, num_classes)`` -> ``(N, num_classes)`` one-hot rows of ``dtype``
    (Keras' ``to_categorical``)."""
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    labels = np.asarray(as_array("labels", labels))
    check_ndim("labels", labels, 1)
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.bool_)):
        raise ValueError(f"labels must be integer class labels, got dtype {labels.dtype}")
    check_labels("labels", labels, int(num_classes))
    return np.asarray(jax.nn.one_hot(labels, int(num_classes), dtype=dtype))
