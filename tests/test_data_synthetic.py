"""Synthetic generators: the course's flower exactly, circles, the jhui noisy line, template images."""
import chex
import jax
import numpy as np
import pytest

from fnnet.data import circles, flower, noisy_line, template_images


def course_load_planar_dataset():
    """deeplearning.ai's planar_utils.load_planar_dataset, literally (np.random.seed(1) + np.random.randn
    is RandomState(1).randn; an explicit RandomState keeps the test free of global state)."""
    rng = np.random.RandomState(1)
    m = 400
    N = int(m / 2)
    D = 2
    X = np.zeros((m, D))
    Y = np.zeros((m, 1), dtype="uint8")
    a = 4
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rng.randn(N) * 0.2
        r = a * np.sin(4 * t) + rng.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


def test_flower_is_the_course_data_exactly():
    X_course, Y_course = course_load_planar_dataset()
    x, y = flower()
    chex.assert_shape(x, (400, 2))
    chex.assert_shape(y, (400,))
    assert x.dtype == np.float64 and y.dtype == np.int32
    np.testing.assert_array_equal(x, X_course.T)
    np.testing.assert_array_equal(y, Y_course.ravel())
    # The course's printed first point.
    np.testing.assert_allclose(x[0], [1.20444229, 3.57611415], atol=1e-8)


def test_logistic_regression_on_flower_reaches_the_course_47_percent():
    x, y = flower()
    features = np.c_[x, np.ones(len(x))]
    w = np.zeros(3)
    for _ in range(5000):  # full-batch gradient descent on the mean cross-entropy
        p = 1.0 / (1.0 + np.exp(-features @ w))
        w -= 0.1 * features.T @ (p - y) / len(y)
    accuracy = np.mean((features @ w > 0) == y)
    assert abs(accuracy - 0.47) <= 0.02, accuracy


def test_flower_with_key_is_deterministic_balanced_and_differs_per_key():
    x1, y1 = flower(jax.random.key(0))
    x2, _ = flower(jax.random.key(0))
    x3, _ = flower(jax.random.key(1))
    chex.assert_shape(x1, (400, 2))
    assert x1.dtype == np.float32
    np.testing.assert_array_equal(x1, x2)
    assert not np.allclose(x1, x3)
    np.testing.assert_array_equal(np.bincount(y1), [200, 200])
    # Every point lies within the petal length a plus the noise.
    assert np.linalg.norm(x1, axis=1).max() < 4 + 5 * 0.2


def test_flower_seed_and_size_options():
    x, y = flower(seed=2, m=10)
    chex.assert_shape(x, (10, 2))
    np.testing.assert_array_equal(y, [0] * 5 + [1] * 5)
    assert not np.allclose(x, flower(m=10)[0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(m=7), "m must be an even integer"),
        (dict(m=0), "m must be an even integer"),
        (dict(a=-1.0), "a must be"),
        (dict(noise=-0.1), "noise must be"),
        (dict(key=jax.random.key(0), seed=1), "not both"),
    ],
)
def test_flower_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        flower(**kwargs)


def test_circles_shapes_balance_boundary_and_determinism():
    key = jax.random.key(3)
    x, y = circles(key, 1000, radius=2.0, noise=0.0)
    chex.assert_shape(x, (1000, 2))
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(y), [500, 500])
    radius = np.linalg.norm(x, axis=1)
    # Without noise the circle of radius 2 separates the classes exactly; class 0 stays within 2*radius.
    assert radius[y == 1].max() <= 2.0 + 1e-5 and radius[y == 0].min() >= 2.0 - 1e-5
    assert radius.max() <= 4.0 + 1e-5
    # Rows are shuffled: the classes are mixed, not in two blocks.
    assert 0.3 < y[:500].mean() < 0.7
    np.testing.assert_array_equal(x, circles(key, 1000, radius=2.0, noise=0.0)[0])
    assert not np.allclose(x, circles(jax.random.key(4), 1000, radius=2.0, noise=0.0)[0])


def test_circles_noise_blurs_the_boundary_and_bad_arguments():
    x, y = circles(jax.random.key(0), 2000, noise=0.3)
    radius = np.linalg.norm(x, axis=1)
    assert radius[y == 1].max() > 1.0  # noise pushes some inner points out
    with pytest.raises(ValueError, match="n must be an even integer"):
        circles(jax.random.key(0), 5)
    with pytest.raises(ValueError, match="radius"):
        circles(jax.random.key(0), 4, radius=0.0)


def test_noisy_line_follows_y_equals_x():
    x, y = noisy_line(jax.random.key(0), 200, noise=1.0)
    chex.assert_shape([x, y], (200, 1))
    assert x.dtype == y.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], np.linspace(0, 20, 200), rtol=1e-6)
    residual = (y - x)[:, 0]
    assert abs(residual.mean()) < 0.25 and 0.8 < residual.std() < 1.2
    np.testing.assert_array_equal(y, noisy_line(jax.random.key(0), 200, noise=1.0)[1])
    x0, y0 = noisy_line(jax.random.key(1), 5, noise=0.0)
    np.testing.assert_array_equal(x0, y0)
    with pytest.raises(ValueError, match="high must be greater than low"):
        noisy_line(jax.random.key(0), low=3.0, high=1.0)


def test_template_images_are_balanced_uint8_and_keyed():
    data = template_images(jax.random.key(3), n_train=60, n_test=20, shape=(8, 6, 3), num_classes=4)
    chex.assert_shape(data.x_train, (60, 8, 6, 3))
    chex.assert_shape(data.x_test, (20, 8, 6, 3))
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(data.y_train), [15] * 4)
    np.testing.assert_array_equal(np.bincount(data.y_test), [5] * 4)
    assert "not a real dataset" in data.source
    again = template_images(jax.random.key(3), n_train=60, n_test=20, shape=(8, 6, 3), num_classes=4)
    np.testing.assert_array_equal(again.x_train, data.x_train)
    other = template_images(jax.random.key(4), n_train=60, n_test=20, shape=(8, 6, 3), num_classes=4)
    assert not np.array_equal(other.x_train, data.x_train)


@pytest.mark.slow  # a longer run: the slow tier keeps the fast tier under 5 minutes
def test_template_images_are_learnable_by_nearest_class_mean():
    # Independent check in numpy: the class means of the training images classify the test images.
    data = template_images(jax.random.key(0), n_train=200, n_test=100, shape=(16, 16, 3), num_classes=10)
    x_train = data.x_train.reshape(200, -1).astype(np.float64)
    x_test = data.x_test.reshape(100, -1).astype(np.float64)
    means = np.stack([x_train[data.y_train == c].mean(0) for c in range(10)])
    predicted = np.argmin(((x_test[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (predicted == data.y_test).mean() > 0.9


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_train=0), "n_train must be a positive integer"),
    (dict(shape=(8, 8)), "shape must be"),
    (dict(noise=-1.0), "noise"),
])
def test_template_images_reject_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        template_images(jax.random.key(0), **kwargs)
