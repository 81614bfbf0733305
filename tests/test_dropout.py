"""Classic (non-inverted) and inverted dropout: the same units dropped for one key, the same expectation,
and seed 001's worked vector."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import models as M

# Seed 001 (workshop 3, "1.2.3 Adding Dropout"): a layer's output and the same output after dropout.
WORKSHOP_OUTPUT = np.array([0.2, 0.5, 1.3, 0.8, 1.1], np.float32)
WORKSHOP_DROPPED = np.array([0.0, 0.5, 1.3, 0.0, 1.1], np.float32)


def _apply(layer, x, *, train, key=None):
    model = M.Sequential([layer])
    params = model.init(jax.random.key(0), x)
    return model.apply(params, x, key=key, train=train)


def _train_outputs(layer, x, keys):
    model = M.Sequential([layer])
    params = model.init(jax.random.key(0), x)
    return jax.vmap(lambda k: model.apply(params, x, key=k, train=True))(keys)


@pytest.mark.parametrize("inverted", [True, False])
def test_dropout_forms_agree_in_expectation(inverted):
    rate = 0.4
    x = jnp.asarray(np.tile(WORKSHOP_OUTPUT, (2, 1)))
    layer = M.Dropout(rate, inverted=inverted)
    keys = jax.random.split(jax.random.key(3), 20_000)
    mean = np.asarray(_train_outputs(layer, x, keys)).mean(axis=0)
    evaluation = np.asarray(_apply(layer, x, train=False))
    np.testing.assert_allclose(evaluation, x if inverted else (1 - rate) * x, rtol=1e-6)
    # mean over 20,000 masks: standard error <= 1.3 * sqrt(0.24 / 20000) / 0.6 < 0.008 per unit
    np.testing.assert_allclose(mean, evaluation, atol=0.03)


def test_classic_and_inverted_drop_the_same_units_and_differ_by_the_keep_probability():
    rate = 0.3
    x = jnp.asarray(np.random.RandomState(0).rand(50, 20).astype(np.float32) + 0.1)
    key = jax.random.key(7)
    classic = np.asarray(_apply(M.Dropout(rate, inverted=False), x, train=True, key=key))
    inverted = np.asarray(_apply(M.Dropout(rate), x, train=True, key=key))
    np.testing.assert_array_equal(classic == 0, inverted == 0)
    kept = classic != 0
    np.testing.assert_array_equal(classic[kept], np.asarray(x)[kept])  # kept units are not rescaled
    np.testing.assert_allclose(inverted, classic / (1 - rate), rtol=1e-6)


def test_classic_dropout_reproduces_the_workshop_vector():
    """The workshop zeroes 2 of 5 units and leaves the others as they were: a key whose mask drops the
    first and fourth unit gives exactly its vector with classic dropout (inverted dropout would give
    ``[0, 0.833, 2.167, 0, 1.833]`` for the same key)."""
    layer = M.Dropout(0.4, inverted=False)
    x = jnp.asarray(WORKSHOP_OUTPUT[None])
    keys = jax.random.split(jax.random.key(0), 200)
    outputs = np.asarray(_train_outputs(layer, x, keys))[:, 0]
    matches = np.flatnonzero(np.all(outputs == WORKSHOP_DROPPED, axis=1))
    assert matches.size > 0, "no key among 200 drops exactly units 0 and 3 (p = 0.4^2 * 0.6^3 each)"
    y = _apply(layer, x, train=True, key=keys[matches[0]])
    chex.assert_trees_all_equal(np.asarray(y)[0], WORKSHOP_DROPPED)
    inverted = np.asarray(_apply(M.Dropout(0.4), x, train=True, key=keys[matches[0]]))[0]
    np.testing.assert_allclose(inverted, WORKSHOP_DROPPED / 0.6, rtol=1e-6)
    # at test time classic dropout scales by the keep probability (CS4487: "scale by p")
    np.testing.assert_allclose(_apply(layer, x, train=False)[0], 0.6 * WORKSHOP_OUTPUT, rtol=1e-6)


def test_classic_dropout_rate_override_scales_evaluation():
    layer = M.Dropout(0.5, inverted=False)
    model = M.Sequential([layer])
    x = jnp.ones((2, 3))
    params, state = model.init_with_state(jax.random.key(0), x)
    state = {**state, model.names[0]: {"rate": jnp.float32(0.25)}}
    y, _ = model.apply(params, x, state=state, train=False)
    np.testing.assert_allclose(y, 0.75 * np.ones((2, 3)), rtol=1e-6)


def test_dropout_inverted_must_be_a_bool():
    with pytest.raises(TypeError, match="inverted"):
        M.Dropout(0.5, inverted="no")
    assert M.Dropout(0.5, inverted=False).describe() == "Dropout(0.5, inverted=False)"
