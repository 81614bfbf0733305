"""On-device image augmentation (jit + vmap, keyed): Keras ``ImageDataGenerator``'s geometric set plus
additive Gaussian pixel noise, applied per batch inside the compiled training step.

Each image gets one random 3x3 affine sampling matrix (rotation, shift, shear, zoom, flips composed the
way Keras composes them) and is resampled once with ``jax.scipy.ndimage.map_coordinates``: bilinear
(``order=1``, the default of keras-preprocessing's ``interpolation_order``) or nearest-neighbour
(``order=0``: what the 2017 Keras 2.0/2.1 ``ImageDataGenerator`` did, its ``apply_transform`` called
``scipy.ndimage.affine_transform(..., order=0)`` with no option). At the fractional coordinates a random
transform almost always has, bilinear resampling blends neighbouring pixels (softer strokes) while
nearest-neighbour copies input pixel values. Differences from Keras, on purpose:

* transforms are centered on the true image center ``((H-1)/2, (W-1)/2)``; Keras uses ``H/2 + 0.5``,
  which puts its rotation/zoom center half a pixel past the middle (one pixel past for even sizes);
* ``shear`` is in degrees, as in Keras >= 2.1.3 (its ``shear_range``). Keras before 2.1.3 read
  ``shear_range`` in radians, so a 2017 script's ``shear_range=0.1`` meant 5.7 degrees;
* the randomness comes from a jax key, not numpy's global generator.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.ndimage import map_coordinates

from fnnet._checks import check_choice, check_positive

#: Boundary modes, as in Keras' ``fill_mode`` (plus ``mirror``); see ``jax.scipy.ndimage.map_coordinates``.
FILL_MODES = ("nearest", "constant", "reflect", "wrap", "mirror")


def _check_images(images) -> None:
    """Static checks (shape and dtype only), so they also run while tracing under jit."""
    if images.ndim != 4:
        raise ValueError(f"images must be a batch (N, H, W, C), got shape {tuple(images.shape)}")
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise ValueError(
            f"images must be floating point, got {images.dtype}; scale uint8 pixels first "
            "(fnnet.data.scale_pixels)"
        )


#: Interpolation orders of :func:`affine_transform` (``map_coordinates`` supports no higher).
ORDERS = (0, 1)


def _apply_affine_one(image: jax.Array, matrix: jax.Array, fill_mode: str, cval: float, order: int) -> jax.Array:
    height, width = image.shape[:2]
    rows, cols = jnp.meshgrid(
        jnp.arange(height, dtype=matrix.dtype), jnp.arange(width, dtype=matrix.dtype), indexing="ij"
    )
    # Output pixel (r, c) samples the input at matrix @ (r, c, 1), as scipy.ndimage.affine_transform.
    src_rows = matrix[0, 0] * rows + matrix[0, 1] * cols + matrix[0, 2]
    src_cols = matrix[1, 0] * rows + matrix[1, 1] * cols + matrix[1, 2]

    def channel(plane):
        return map_coordinates(plane, [src_rows, src_cols], order=order, mode=fill_mode, cval=cval)

    return jax.vmap(channel, in_axes=2, out_axes=2)(image).astype(image.dtype)


def affine_transform(
    images, matrices, *, fill_mode: str = "nearest", cval: float = 0.0, order: int = 1
) -> jax.Array:
    """Resamples each image with its own affine sampling matrix.

    Args:
      images: ``(N, H, W, C)`` floating. matrices: ``(N, 3, 3)``: output pixel ``(r, c)`` takes the input
        value at ``matrices[i] @ (r, c, 1)`` (row/column coordinates, the convention of
        ``scipy.ndimage.affine_transform`` with ``matrix[:2, :2]`` and ``offset = matrix[:2, 2]``).
      fill_mode: how points outside the image are filled (:data:`FILL_MODES`); cval: the value for
        ``"constant"``; order: interpolation, 1 bilinear or 0 nearest neighbour (:data:`ORDERS`).
    Returns:
      ``(N, H, W, C)`` of the images' dtype. Works under ``jit``.
    """
    check_choice("fill_mode", fill_mode, FILL_MODES)
    check_choice("order", order, ORDERS)
    images = jnp.asarray(images)
    _check_images(images)
    matrices = jnp.asarray(matrices, dtype=jnp.promote_types(images.dtype, jnp.float32))
    if matrices.shape != (images.shape[0], 3, 3):
        raise ValueError(f"matrices must have shape ({images.shape[0]}, 3, 3), got {tuple(matrices.shape)}")
    return jax.vmap(_apply_affine_one, in_axes=(0, 0, None, None, None))(images, matrices, fill_mode, cval, order)


def _homogeneous(a, b, c, d, tx, ty):
    """Stack of 3x3 matrices ``[[a, b, tx], [c, d, ty], [0, 0, 1]]`` from ``(N,)`` arrays."""
    zero, one = jnp.zeros_like(a), jnp.ones_like(a)
    return jnp.stack([jnp.stack([a, b, tx], -1), jnp.stack([c, d, ty], -1), jnp.stack([zero, zero, one], -1)], -2)


@dataclass(frozen=True)
class Augment:
    """Random augmentation of a batch of NHWC float images: ``augment(key, images) -> images``.

    Fields (all off by default, so ``Augment()`` is the identity), per image, uniformly:

    * ``rotation``: angle in ``[-rotation, rotation]`` degrees (Keras ``rotation_range``);
    * ``width_shift`` / ``height_shift``: shift in ``[-s, s]`` times the width / height (Keras
      ``width_shift_range`` / ``height_shift_range`` given as fractions < 1);
    * ``shear``: shear angle in ``[-shear, shear]`` degrees (Keras >= 2.1.3 ``shear_range``);
    * ``zoom``: independent row and column zoom factors in ``[1 - zoom, 1 + zoom]`` (Keras ``zoom_range``;
      factors > 1 sample a larger area, so the content shrinks);
    * ``horizontal_flip`` / ``vertical_flip``: flip with probability 1/2, after the affine part (as Keras);
    * ``noise_std``: add ``noise_std * N(0, 1)`` to every pixel, after the geometry (the CS4487 seed's
      ``add_gauss_noise``, whose ``sigma2=0.05`` is passed to ``random.normal`` as the std); not clipped
      unless ``clip=(low, high)`` is given;
    * ``fill_mode`` / ``cval``: the boundary (default ``"nearest"``, Keras' default);
    * ``order``: resampling, 1 bilinear (default, as keras-preprocessing) or 0 nearest neighbour (as
      the Keras 2.0/2.1 ``ImageDataGenerator`` of 2017 scripts such as the CS4487 seed).

    The call is pure JAX: jit it, or call it inside a jitted training step. Same key, same output; output
    shape and dtype equal the input's. Geometry is skipped entirely when no geometric field is set.
    """

    rotation: float = 0.0
    width_shift: float = 0.0
    height_shift: float = 0.0
    shear: float = 0.0
    zoom: float = 0.0
    horizontal_flip: bool = False
    vertical_flip: bool = False
    noise_std: float = 0.0
    fill_mode: str = "nearest"
    cval: float = 0.0
    clip: tuple[float, float] | None = None
    order: int = 1

    def __post_init__(self):
        for name in ("rotation", "width_shift", "height_shift", "shear", "zoom", "noise_std"):
            check_positive(name, getattr(self, name), allow_zero=True)
        for name in ("width_shift", "height_shift", "zoom"):
            if getattr(self, name) >= 1:
                raise ValueError(f"{name} is a fraction and must be < 1, got {getattr(self, name)!r}")
        if self.rotation > 180 or self.shear >= 90:
            raise ValueError(f"rotation must be <= 180 and shear < 90 degrees, got {self.rotation!r}, {self.shear!r}")
        check_choice("fill_mode", self.fill_mode, FILL_MODES)
        check_choice("order", self.order, ORDERS)
        if self.clip is not None and (len(self.clip) != 2 or not self.clip[0] < self.clip[1]):
            raise ValueError(f"clip must be None or (low, high) with low < high, got {self.clip!r}")

    @classmethod
    def cs4487(cls, *, noise: bool = False) -> Augment:
        """The CS4487 seed's generator: rotation 10, shifts 0.2, shear 0.1, zoom 0.1 (+ noise std 0.05), read
        as current Keras reads it (shear in degrees, bilinear). The seed's Keras 2.0 read the same arguments as
        ``dataclasses.replace(Augment.cs4487(), shear=math.degrees(0.1), order=0)`` (recipes/cs4487_table)."""
        return cls(rotation=10.0, width_shift=0.2, height_shift=0.2, shear=0.1, zoom=0.1,
                   noise_std=0.05 if noise else 0.0)

    @property
    def moves_pixels(self) -> bool:
        """True when any geometric transform (affine part or flip) is enabled."""
        return bool(self.rotation or self.width_shift or self.height_shift or self.shear or self.zoom
                    or self.horizontal_flip or self.vertical_flip)

    def matrices(self, key: jax.Array, n: int, height: int, width: int) -> jax.Array:
        """The ``(n, 3, 3)`` float32 sampling matrices (see :func:`affine_transform`) drawn from ``key``."""
        keys = jax.random.split(key, 8)

        def uniform(k, low, high):
            return jax.random.uniform(k, (n,), minval=low, maxval=high)

        theta = jnp.deg2rad(uniform(keys[0], -self.rotation, self.rotation))
        shift_rows = uniform(keys[1], -self.height_shift, self.height_shift) * height
        shift_cols = uniform(keys[2], -self.width_shift, self.width_shift) * width
        shear = jnp.deg2rad(uniform(keys[3], -self.shear, self.shear))
        zoom_rows = uniform(keys[4], 1 - self.zoom, 1 + self.zoom)
        zoom_cols = uniform(keys[5], 1 - self.zoom, 1 + self.zoom)
        zeros, ones = jnp.zeros(n), jnp.ones(n)
        # Keras' composition: rotation @ shift @ shear @ zoom, applied about the image center.
        rotate = _homogeneous(jnp.cos(theta), -jnp.sin(theta), jnp.sin(theta), jnp.cos(theta), zeros, zeros)
        shift = _homogeneous(ones, zeros, zeros, ones, shift_rows, shift_cols)
        shear_m = _homogeneous(ones, -jnp.sin(shear), zeros, jnp.cos(shear), zeros, zeros)
        zoom_m = _homogeneous(zoom_rows, zeros, zeros, zoom_cols, zeros, zeros)
        center_r, center_c = (height - 1) / 2.0, (width - 1) / 2.0
        to_center = _homogeneous(ones, zeros, zeros, ones, ones * center_r, ones * center_c)
        from_center = _homogeneous(ones, zeros, zeros, ones, -ones * center_r, -ones * center_c)
        affine = to_center @ rotate @ shift @ shear_m @ zoom_m @ from_center
        # A flip of the output: output (r, c) reads the transformed image at (r, W-1-c) / (H-1-r, c).
        flip_c = jnp.where(jax.random.bernoulli(keys[6], 0.5, (n,)) & self.horizontal_flip, -1.0, 1.0)
        flip_r = jnp.where(jax.random.bernoulli(keys[7], 0.5, (n,)) & self.vertical_flip, -1.0, 1.0)
        flip = _homogeneous(
            flip_r, zeros, zeros, flip_c, (1 - flip_r) / 2 * (height - 1), (1 - flip_c) / 2 * (width - 1)
        )
        return affine @ flip

    def __call__(self, key: jax.Array, images) -> jax.Array:
        """Augments ``images (N, H, W, C)`` (floating); returns the same shape and dtype."""
        images = jnp.asarray(images)
        _check_images(images)
        n, height, width, _ = images.shape
        key_geometry, key_noise = jax.random.split(key)
        out = images
        if self.moves_pixels:
            out = affine_transform(
                images, self.matrices(key_geometry, n, height, width), fill_mode=self.fill_mode, cval=self.cval,
                order=self.order,
            )
        if self.noise_std:
            out = out + self.noise_std * jax.random.normal(key_noise, out.shape, out.dtype)
        if self.clip is not None:
            out = jnp.clip(out, self.clip[0], self.clip[1])
        return out.astype(images.dtype)


def plot_augmentations(images, augment, key: jax.Array, path: str | Path | None = None, *, n_augmented: int = 9):
    """A grid like the CS4487 seed's figure, as a :class:`fnnet.viz.Figure`: one row per image, the original
    first, then ``n_augmented`` augmented versions (``augment(key_i, images)`` for ``n_augmented`` keys split
    from ``key``). Written as PNG when ``path`` is given.

    Args:
      images: ``(k, H, W, C)`` floating, C in {1, 3}; shown with the originals' value range.
      augment: a callable ``(key, images) -> images`` such as :class:`Augment`.
    """
    from fnnet import viz  # matplotlib only when plotting

    images = jnp.asarray(images)
    _check_images(images)
    if images.shape[-1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels to be shown, got {images.shape[-1]}")
    if int(n_augmented) != n_augmented or n_augmented < 1:
        raise ValueError(f"n_augmented must be a positive integer, got {n_augmented!r}")
    augment_batch = jax.jit(augment)  # one compilation, reused for every key
    augmented = np.stack([np.asarray(augment_batch(k, images)) for k in jax.random.split(key, int(n_augmented))])
    originals = np.asarray(images)
    low, high = float(originals.min()), float(originals.max())
    rows, cols = originals.shape[0], int(n_augmented) + 1
    figure, axes = viz.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows + 0.3), squeeze=False)

    def show(ax, image):
        shown = np.clip((image - low) / max(high - low, 1e-12), 0, 1)
        ax.imshow(shown[..., 0] if shown.shape[-1] == 1 else shown, cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()

    for i in range(rows):
        show(axes[i, 0], originals[i])
        for j in range(1, cols):
            show(axes[i, j], augmented[j - 1, i])
    axes[0, 0].set_title("original", fontsize=8)
    axes[0, 1].set_title("augmented", fontsize=8)
    if path is not None:
        viz.save_figure(figure, path)
    return figure


def save_augmentation_grid(
    path: str | Path, images, augment, key: jax.Array, *, n_augmented: int = 9, dpi: int = 100
) -> Path:
    """Saves :func:`plot_augmentations`'s grid as a PNG at ``path`` (``dpi`` dots per inch) and returns
    the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_augmentations(images, augment, key, n_augmented=n_augmented).savefig(path, dpi=dpi)
    return path
