"""On-device augmentation: contracts (shape, dtype, range, keys), geometry against scipy, the PNG grid."""
import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from fnnet.data import Augment, affine_transform, load_mnist_small, save_augmentation_grid, scale_pixels


@pytest.fixture(scope="module")
def digits():
    """(16, 28, 28, 1) float32 real digits in [0, 1]."""
    return scale_pixels(load_mnist_small().x_train[:16])


class AugmentVariantsTest(chex.TestCase):
    """The same contracts with and without jit."""

    def setUp(self):
        super().setUp()
        self.images = scale_pixels(load_mnist_small().x_train[:8])
        self.key = jax.random.key(0)

    @chex.variants(with_jit=True, without_jit=True)
    def test_zero_strength_is_the_identity(self):
        out = self.variant(Augment(fill_mode="constant"))(self.key, self.images)
        chex.assert_trees_all_equal(np.asarray(out), self.images)

    @chex.variants(with_jit=True, without_jit=True)
    def test_cs4487_keeps_shape_dtype_range_and_is_deterministic_per_key(self):
        augment = self.variant(Augment.cs4487())
        out = augment(self.key, self.images)
        chex.assert_shape(out, self.images.shape)
        chex.assert_type(out, jnp.float32)
        # Bilinear resampling with 'nearest' fill only averages input pixels: the range cannot grow.
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6
        chex.assert_trees_all_equal(out, augment(self.key, self.images))
        other = augment(jax.random.key(1), self.images)
        assert float(jnp.abs(other - out).max()) > 0.1
        assert float(jnp.abs(out - self.images).max()) > 0.1
        # Each image gets its own transform: two copies of one image come out different.
        pair = augment(self.key, jnp.stack([self.images[0], self.images[0]]))
        assert float(jnp.abs(pair[0] - pair[1]).max()) > 0.1

    @chex.variants(with_jit=True, without_jit=True)
    def test_noise_is_additive_gaussian_with_the_given_std(self):
        zeros = jnp.zeros((64, 28, 28, 1))
        out = self.variant(Augment(noise_std=0.05))(self.key, zeros)
        np.testing.assert_allclose(float(out.std()), 0.05, rtol=0.03)
        assert abs(float(out.mean())) < 0.002
        clipped = self.variant(Augment(noise_std=0.05, clip=(0.0, 1.0)))(self.key, zeros)
        assert float(clipped.min()) == 0.0


def test_affine_transform_matches_scipy_ndimage(digits):
    augment = Augment(rotation=30, width_shift=0.2, height_shift=0.1, shear=10, zoom=0.2)
    matrices = augment.matrices(jax.random.key(5), 4, 28, 28)
    for mode in ("nearest", "constant"):
        out = np.asarray(affine_transform(digits[:4], matrices, fill_mode=mode, cval=0.5))
        for i in range(4):
            m = np.asarray(matrices[i], np.float64)
            expected = scipy.ndimage.affine_transform(
                digits[i, :, :, 0].astype(np.float64), m[:2, :2], offset=m[:2, 2], order=1,
                mode="grid-constant" if mode == "constant" else mode, cval=0.5,
            )
            np.testing.assert_allclose(out[i, :, :, 0], expected, atol=2e-5)


def test_nearest_neighbour_order_matches_scipy_and_keeps_pixel_values(digits):
    """order=0 is the 2017 Keras ImageDataGenerator's resampling (scipy affine_transform, order=0)."""
    augment = Augment(rotation=10, width_shift=0.2, height_shift=0.2, shear=5.7, zoom=0.1, order=0)
    matrices = augment.matrices(jax.random.key(7), 4, 28, 28)
    out = np.asarray(affine_transform(digits[:4], matrices, order=0))
    for i in range(4):
        m = np.asarray(matrices[i], np.float64)
        expected = scipy.ndimage.affine_transform(digits[i, :, :, 0], m[:2, :2], offset=m[:2, 2], order=0,
                                                  mode="nearest")
        # Sampling points exactly halfway between pixels may round either way (float32 vs float64).
        assert np.mean(out[i, :, :, 0] != expected) < 0.01
    augmented = np.asarray(augment(jax.random.key(8), digits))
    for image, original in zip(augmented, digits, strict=True):
        assert set(np.unique(image)) <= set(np.unique(original))  # no blending: only the input's values
    bilinear = np.asarray(dataclasses.replace(augment, order=1)(jax.random.key(8), digits))
    assert sum(len(np.setdiff1d(b, d)) for b, d in zip(bilinear, digits, strict=True)) > 100  # blended values


def test_rotation_by_90_degrees_about_the_center_is_rot90(digits):
    size = 28
    center = (size - 1) / 2
    to_center = np.array([[1, 0, center], [0, 1, center], [0, 0, 1]])
    rotate = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])  # cos 90 = 0, sin 90 = 1, Keras' layout
    from_center = np.array([[1, 0, -center], [0, 1, -center], [0, 0, 1]])
    matrix = to_center @ rotate @ from_center
    out = affine_transform(digits[:2], np.stack([matrix, matrix]))
    # Output (r, c) reads input (27 - c, r): np.rot90 with k=-1 (clockwise).
    np.testing.assert_allclose(out, np.rot90(digits[:2], k=-1, axes=(1, 2)), atol=1e-6)


def test_matrices_have_the_keras_structure():
    n, h, w = 200, 28, 20
    key = jax.random.key(2)
    center = np.array([(h - 1) / 2, (w - 1) / 2, 1.0])

    rotations = np.asarray(Augment(rotation=10).matrices(key, n, h, w))
    linear = rotations[:, :2, :2]
    np.testing.assert_allclose(linear @ linear.transpose(0, 2, 1), np.broadcast_to(np.eye(2), (n, 2, 2)), atol=1e-6)
    angles = np.degrees(np.arctan2(linear[:, 1, 0], linear[:, 0, 0]))
    assert np.abs(angles).max() <= 10 + 1e-4 and np.abs(angles).max() > 8
    np.testing.assert_allclose(rotations @ center, np.broadcast_to(center, (n, 3)), atol=1e-4)  # center fixed

    shifts = np.asarray(Augment(width_shift=0.2, height_shift=0.1).matrices(key, n, h, w))
    np.testing.assert_allclose(shifts[:, :2, :2], np.broadcast_to(np.eye(2), (n, 2, 2)), atol=1e-7)
    assert np.abs(shifts[:, 0, 2]).max() <= 0.1 * h + 1e-5 and np.abs(shifts[:, 1, 2]).max() <= 0.2 * w + 1e-5
    assert np.abs(shifts[:, 1, 2]).max() > 0.15 * w

    zooms = np.asarray(Augment(zoom=0.1).matrices(key, n, h, w))
    diagonal = np.stack([zooms[:, 0, 0], zooms[:, 1, 1]], 1)
    assert diagonal.min() >= 0.9 - 1e-6 and diagonal.max() <= 1.1 + 1e-6
    assert not np.allclose(diagonal[:, 0], diagonal[:, 1])  # independent row and column zoom
    np.testing.assert_allclose(zooms @ center, np.broadcast_to(center, (n, 3)), atol=1e-4)

    shears = np.asarray(Augment(shear=20).matrices(key, n, h, w))
    angles = np.degrees(np.arcsin(-shears[:, 0, 1]))
    assert np.abs(angles).max() <= 20 + 1e-3 and np.abs(angles).max() > 15
    np.testing.assert_allclose(shears[:, 1, 1], np.cos(np.radians(angles)), atol=1e-6)


def test_horizontal_and_vertical_flips_are_exact(digits):
    out = np.asarray(Augment(horizontal_flip=True)(jax.random.key(3), digits))
    flipped = [np.array_equal(o, d[:, ::-1]) for o, d in zip(out, digits, strict=True)]
    kept = [np.array_equal(o, d) for o, d in zip(out, digits, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and 0 < sum(flipped) < len(digits)
    out = np.asarray(Augment(vertical_flip=True)(jax.random.key(3), digits))
    assert all(np.array_equal(o, d[::-1]) or np.array_equal(o, d) for o, d in zip(out, digits, strict=True))


def test_works_inside_a_jitted_step_with_keys_split_per_step(digits):
    augment = Augment.cs4487(noise=True)

    @jax.jit
    def step(key, images):
        key, sub = jax.random.split(key)
        return key, augment(sub, images).mean()

    key = jax.random.key(0)
    key, first = step(key, digits)
    _, second = step(key, digits)
    assert float(first) != float(second)


def test_bad_arguments(digits):
    for kwargs, message in [
        (dict(rotation=-1), "rotation must be finite and >= 0"),
        (dict(width_shift=1.5), "width_shift is a fraction and must be < 1"),
        (dict(zoom=1.0), "zoom is a fraction"),
        (dict(fill_mode="edge"), "fill_mode must be one of"),
        (dict(clip=(1.0, 0.0)), "clip must be None or"),
        (dict(order=3), "order must be one of"),
    ]:
        with pytest.raises(ValueError, match=message):
            Augment(**kwargs)
    with pytest.raises(ValueError, match=r"images must be a batch \(N, H, W, C\)"):
        Augment(rotation=5)(jax.random.key(0), digits[0])
    with pytest.raises(ValueError, match="images must be floating point, got uint8"):
        Augment(rotation=5)(jax.random.key(0), np.zeros((2, 4, 4, 1), np.uint8))
    with pytest.raises(ValueError, match=r"matrices must have shape \(16, 3, 3\)"):
        affine_transform(digits, np.eye(3)[None])
    with pytest.raises(ValueError, match="order must be one of"):
        affine_transform(digits, np.broadcast_to(np.eye(3), (16, 3, 3)), order=2)


def test_save_augmentation_grid_writes_a_png(tmp_path, digits):
    path = save_augmentation_grid(tmp_path / "sub" / "grid.png", digits[:3], Augment.cs4487(noise=True),
                                  jax.random.key(0), n_augmented=4)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    with pytest.raises(ValueError, match="n_augmented must be a positive integer"):
        save_augmentation_grid(tmp_path / "x.png", digits[:1], Augment(), jax.random.key(0), n_augmented=0)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        save_augmentation_grid(tmp_path / "x.png", jnp.zeros((1, 4, 4, 2)), Augment(), jax.random.key(0))


def test_augment_runs_inside_fit(digits):
    """The trainer calls ``augment(key, x_batch)`` inside its compiled step (fnnet.train.fit)."""
    import optax

    from fnnet import models
    from fnnet.train import fit

    labels = load_mnist_small().y_train[:16]
    model = models.mlp([8, 10])

    def train(augment, key):
        state, _ = fit(model, "softmax_cross_entropy", optax.sgd(0.1), (digits, labels), epochs=1, batch_size=8,
                       key=key, augment=augment, verbose=0)
        return state.params

    augmented = train(Augment.cs4487(noise=True), jax.random.key(0))
    plain = train(None, jax.random.key(0))
    chex.assert_tree_all_finite(augmented)
    assert not np.allclose(augmented["dense_0"]["kernel"], plain["dense_0"]["kernel"])
