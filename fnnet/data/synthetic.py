"""Synthetic datasets generated in the package (no files): the course's toy problems."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_positive
from fnnet.data.dataset import Dataset


def _check_count(name: str, n: int, *, even: bool = False) -> int:
    if int(n) != n or n < (2 if even else 1) or (even and n % 2):
        kind = "an even integer >= 2" if even else "a positive integer"
        raise ValueError(f"{name} must be {kind}, got {n!r}")
    return int(n)


def flower(
    key: jax.Array | None = None,
    *,
    seed: int | None = None,
    m: int = 400,
    a: float = 4.0,
    noise: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """The planar "flower" of deeplearning.ai's one-hidden-layer assignment.

    For class ``j`` in {0, 1}, ``m/2`` points: ``t = linspace(j*3.12, (j+1)*3.12, m/2) + noise*N(0,1)``,
    ``r = a*sin(4t) + noise*N(0,1)``, point ``(r*sin t, r*cos t)``, label ``j``. Class 0 fills rows
    ``0 .. m/2-1``, class 1 the rest.

    Randomness: with ``key=None`` the draws come from numpy's legacy ``RandomState(seed)`` (default seed 1)
    in the course's order (class 0's t noise, class 0's r noise, then class 1's), so ``flower()`` is the
    course's data exactly (logistic regression reaches 47% training accuracy on it). With a jax ``key`` the
    same formula is drawn with ``jax.random`` (float32).

    Returns:
      ``X (m, 2)`` float64 (seed) / float32 (key) and ``y (m,)`` int32. The course stores the transposes,
      ``X.T (2, m)`` and ``Y (1, m)``.
    """
    m = _check_count("m", m, even=True)
    check_positive("a", a)
    check_positive("noise", noise, allow_zero=True)
    if key is not None and seed is not None:
        raise ValueError("pass either key (jax draws) or seed (the course's numpy draws), not both")
    half = m // 2
    if key is None:
        # numpy's legacy generator only because the course's exact data depends on it.
        rng = np.random.RandomState(1 if seed is None else seed)
        draws = []
        for _ in range(2):
            draws.append((rng.randn(half), rng.randn(half)))
        xp, dtype = np, np.float64
    else:
        keys = jax.random.split(key, 4)
        draws = [(jax.random.normal(keys[2 * j], (half,)), jax.random.normal(keys[2 * j + 1], (half,)))
                 for j in range(2)]
        xp, dtype = jnp, np.float32
    points = []
    for j, (t_noise, r_noise) in enumerate(draws):
        t = xp.linspace(j * 3.12, (j + 1) * 3.12, half) + t_noise * noise
        r = a * xp.sin(4 * t) + r_noise * noise
        points.append(xp.stack([r * xp.sin(t), r * xp.cos(t)], axis=1))
    x = np.asarray(xp.concatenate(points), dtype=dtype)
    y = np.repeat(np.arange(2, dtype=np.int32), half)
    return x, y


def circles(
    key: jax.Array, n: int = 400, *, radius: float = 1.0, noise: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Two classes split by a circle, for logistic regression on quadratic features.

    Class 1: ``n/2`` points uniform in the disc of ``radius``; class 0: ``n/2`` points uniform in the ring
    between ``radius`` and ``2*radius``; then Gaussian jitter of std ``noise`` on both coordinates (which
    blurs the boundary), and the rows shuffled. The boundary ``x0^2 + x1^2 = radius^2`` is linear in the
    features ``(x0, x1, x0^2, x1^2, x0*x1, 1)``.

    Returns ``X (n, 2)`` float32 and ``y (n,)`` int32 with exactly ``n/2`` of each class.
    """
    n = _check_count("n", n, even=True)
    check_positive("radius", radius)
    check_positive("noise", noise, allow_zero=True)
    points, labels = _circles(key, n, float(radius), float(noise))
    return np.asarray(points, np.float32), np.asarray(labels, np.int32)


@functools.partial(jax.jit, static_argnums=(1,))
def _circles(key, n: int, radius, noise):
    # One compiled program with ONE random draw: every draw (and a permutation's sort keys) compiles a
    # random-bit generator of its own, the slowest part of compiling this program.
    half = n // 2
    u = jax.random.uniform(key, (5, n), minval=jnp.finfo(jnp.float32).tiny)  # in (0, 1)
    # Uniform in area: r^2 uniform in [0, R^2] (disc) or [R^2, 4R^2] (ring).
    r_squared = jnp.where(jnp.arange(n) < half, u[0], 1.0 + 3.0 * u[0]) * radius**2
    angle = 2 * jnp.pi * u[1]
    points = jnp.sqrt(r_squared)[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    points = points + noise * jax.scipy.special.ndtri(u[2:4]).T  # N(0, 1) jitter by the inverse normal CDF
    labels = (jnp.arange(n) < half).astype(jnp.int32)
    order = jnp.argsort(u[4])  # a uniformly random order of the rows
    return points[order], labels[order]


def noisy_line(
    key: jax.Array, n: int = 20, *, noise: float = 1.0, low: float = 0.0, high: float = 20.0
) -> tuple[np.ndarray, np.ndarray]:
    """The jhui seed's overfitting toy: ``y = x + noise*N(0,1)`` at ``n`` evenly spaced ``x`` in
    ``[low, high]`` (default [0, 20]), to fit with polynomials of growing order.

    Returns ``x (n, 1)`` and ``y (n, 1)``, float32.
    """
    n = _check_count("n", n)
    check_positive("noise", noise, allow_zero=True)
    if not high > low:
        raise ValueError(f"high must be greater than low, got low={low!r}, high={high!r}")
    x = jnp.linspace(low, high, n)
    y = x + noise * jax.random.normal(key, (n,))
    return np.asarray(x[:, None], np.float32), np.asarray(y[:, None], np.float32)


def template_images(
    key: jax.Array,
    *,
    n_train: int = 500,
    n_test: int = 100,
    shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    noise: float = 0.2,
) -> Dataset:
    """A tiny image-classification stand-in for smoke tests and quick runs when a real image set is absent.

    It is *not* any real dataset (its ``name`` and ``source`` say so). Each class has a smooth random
    template: uniform noise on a 4x4 grid per channel, resized bilinearly to ``shape``; an image is its
    class's template plus ``noise * N(0, 1)`` per pixel, clipped to [0, 1] and stored like the real loaders'
    images. Labels cycle through the classes (balanced) in a shuffled order.

    Returns:
      a :class:`Dataset` with ``x_train (n_train, H, W, C)`` / ``x_test (n_test, H, W, C)`` uint8 NHWC and
      int32 labels in ``[0, num_classes)``.
    """
    n_train, n_test = _check_count("n_train", n_train), _check_count("n_test", n_test)
    num_classes = _check_count("num_classes", num_classes)
    if len(shape) != 3 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"shape must be (height, width, channels) of positive ints, got {shape!r}")
    check_positive("noise", noise, allow_zero=True)
    k_templates, k_train, k_test = jax.random.split(key, 3)
    coarse = jax.random.uniform(k_templates, (num_classes, 4, 4, shape[2]))
    templates = jax.image.resize(coarse, (num_classes, *shape), method="bilinear")

    def draw(k, n):
        k_order, k_noise = jax.random.split(k)
        labels = jax.random.permutation(k_order, jnp.arange(n) % num_classes).astype(jnp.int32)
        images = templates[labels] + noise * jax.random.normal(k_noise, (n, *shape))
        return np.asarray(jnp.round(jnp.clip(images, 0.0, 1.0) * 255), np.uint8), np.asarray(labels)

    x_train, y_train = draw(k_train, n_train)
    x_test, y_test = draw(k_test, n_test)
    return Dataset(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, name="template_images",
        class_names=tuple(f"template {c}" for c in range(num_classes)),
        source=f"synthetic: fnnet.data.template_images (noisy class templates, {shape}), not a real dataset",
    )
