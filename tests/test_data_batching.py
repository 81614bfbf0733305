"""Key-driven batching: both forms visit the same examples in the same order."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet.data import epoch_batches, epoch_order, iterate_batches, num_batches, remainder_indices

N = 10
X = np.arange(N * 2, dtype=np.float32).reshape(N, 2)  # row i is (2i, 2i + 1)
Y = np.arange(N, dtype=np.int32)


def test_epoch_order():
    np.testing.assert_array_equal(epoch_order(None, 5), np.arange(5))
    np.testing.assert_array_equal(epoch_order(jax.random.key(0), 5, shuffle=False), np.arange(5))
    order = epoch_order(jax.random.key(0), 50)
    assert order.dtype == jnp.int32
    np.testing.assert_array_equal(np.sort(order), np.arange(50))
    assert not np.array_equal(order, np.arange(50))
    chex.assert_trees_all_equal(order, epoch_order(jax.random.key(0), 50))
    assert not np.array_equal(order, epoch_order(jax.random.key(1), 50))


@pytest.mark.parametrize("n, batch_size, drop, expected", [(10, 3, False, 4), (10, 3, True, 3), (9, 3, False, 3),
                                                           (2, 5, False, 1), (2, 5, True, 0)])
def test_num_batches(n, batch_size, drop, expected):
    assert num_batches(n, batch_size, drop_remainder=drop) == expected


def test_iterate_batches_visits_every_example_once_in_epoch_order():
    key = jax.random.key(3)
    batches = list(iterate_batches(key, X, Y, batch_size=3))
    assert [len(xb) for xb, _ in batches] == [3, 3, 3, 1]
    labels = np.concatenate([yb for _, yb in batches])
    np.testing.assert_array_equal(labels, epoch_order(key, N))
    for xb, yb in batches:  # inputs stay paired with their targets
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)
    dropped = list(iterate_batches(key, X, Y, batch_size=3, drop_remainder=True))
    assert [len(xb) for xb, _ in dropped] == [3, 3, 3]
    unshuffled = list(iterate_batches(key, X, None, batch_size=4, shuffle=False))
    np.testing.assert_array_equal(unshuffled[0][0], X[:4])
    assert all(yb is None for _, yb in unshuffled)


def test_iterate_batches_bad_arguments():
    with pytest.raises(ValueError, match="mismatched batch sizes"):
        next(iterate_batches(None, X, Y[:-1], batch_size=2))
    with pytest.raises(ValueError, match="batch_size must be finite and > 0"):
        next(iterate_batches(None, X, Y, batch_size=0))


def test_epoch_batches_match_iterate_batches_and_remainder_completes_the_epoch():
    key = jax.random.key(7)
    order = epoch_order(key, N)
    xb, yb = epoch_batches(jnp.asarray(X), jnp.asarray(Y), order, 3)
    chex.assert_shape(xb, (3, 3, 2))
    chex.assert_shape(yb, (3, 3))
    for i, (x_it, y_it) in enumerate(iterate_batches(key, X, Y, batch_size=3, drop_remainder=True)):
        np.testing.assert_array_equal(xb[i], x_it)
        np.testing.assert_array_equal(yb[i], y_it)
    rest = remainder_indices(order, 3)
    chex.assert_shape(rest, (1,))
    np.testing.assert_array_equal(np.concatenate([np.ravel(yb), rest]), order)
    chex.assert_shape(remainder_indices(order[:9], 3), (0,))


def test_epoch_batches_under_jit_with_a_traced_order():
    @jax.jit
    def gather(key):
        return epoch_batches(jnp.asarray(X), None, epoch_order(key, N), 5)

    xb, yb = gather(jax.random.key(1))
    assert yb is None
    chex.assert_shape(xb, (2, 5, 2))
    np.testing.assert_array_equal(np.sort(xb[..., 0].ravel()), np.arange(0, 2 * N, 2))
