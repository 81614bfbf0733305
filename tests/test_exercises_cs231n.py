"""The cs231n course's exercises: the references are right (the seed's printed values, finite differences,
cs231n's own numpy formulas) and every typical wrong solution fails with its hint.

These tests read the :class:`fnnet.exercises.spec.Exercise` fields directly (``reference``, ``cases``,
``project``, ``diagnose``, ``mistakes``, ``numeric``), so they need no checker.
"""

import copy
import functools

import chex
import numpy as np
import pytest

from fnnet.exercises.cs231n import EXERCISES
from fnnet.exercises.spec import Exercise

BY_NAME = {exercise.name: exercise for exercise in EXERCISES}
BACKWARD = [e for e in EXERCISES if e.numeric is not None]
MISTAKES = [(e, m) for e in EXERCISES for m in e.mistakes]


@functools.cache
def cases_of(name):
    return tuple(BY_NAME[name].cases(np.random.default_rng(0)))


def call(fn, case):
    """``fn`` on a fresh copy of the case's arguments, as the checker calls it."""
    args, kwargs = copy.deepcopy((case.args, case.kwargs))
    with np.errstate(all="ignore"):  # wrong solutions overflow on purpose
        return fn(*args, **kwargs)


def close(a, b, rtol, atol):
    """Structural comparison of projected outputs: tuples, dicts of arrays, numbers."""
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            close(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return (isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(b)
                and all(close(x, y, rtol, atol) for x, y in zip(a, b)))
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def expected_of(exercise, case):
    if case.expected is not None:
        return case.expected
    return exercise.project(call(exercise.reference, case))


def ids(items):
    return [item.name if isinstance(item, Exercise) else f"{item[0].name}:{item[1].name}" for item in items]


# ----------------------------------------------------------------------------------------------
# The catalogue


def test_catalogue_has_every_function_the_seed_builds_on():
    wanted = {"affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss", "svm_loss",
              "dropout_forward", "dropout_backward", "batchnorm_forward", "batchnorm_backward",
              "conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
              "sgd", "sgd_momentum", "rmsprop", "adam"}
    assert {e.function for e in EXERCISES} == wanted
    assert len(BY_NAME) == len(EXERCISES)
    assert {e.course for e in EXERCISES} == {"cs231n"}
    for exercise in EXERCISES:
        assert exercise.signature.startswith(f"def {exercise.function}("), exercise.name
        assert exercise.task and exercise.layout
        assert len(exercise.mistakes) >= 3, exercise.name
        assert len({m.hint for m in exercise.mistakes}) == len(exercise.mistakes), exercise.name
    assert {e.function for e in BACKWARD} == {"affine_backward", "relu_backward", "softmax_loss", "svm_loss",
                                              "dropout_backward", "batchnorm_backward", "conv_backward_naive",
                                              "max_pool_backward_naive"}


# ----------------------------------------------------------------------------------------------
# The references


@pytest.mark.parametrize("exercise", EXERCISES, ids=ids(EXERCISES))
def test_reference_matches_the_expected_values_and_is_deterministic(exercise):
    cases = cases_of(exercise.name)
    assert len(cases) >= 3
    for case in cases:
        first = exercise.project(call(exercise.reference, case))
        again = exercise.project(call(exercise.reference, case))
        assert close(first, again, 0, 0), case.name
        if case.expected is not None:
            assert close(first, case.expected, exercise.rtol, exercise.atol), case.name
        # the reference never hands back a jax array: learners compare with numpy
        leaves = first if isinstance(first, tuple) else (first,)
        for leaf in leaves:
            for value in (leaf.values() if isinstance(leaf, dict) else (leaf,)):
                assert isinstance(value, (np.ndarray, float, int)), (case.name, type(value))


@pytest.mark.parametrize("exercise", BACKWARD, ids=ids(BACKWARD))
def test_backward_reference_agrees_with_finite_differences(exercise):
    checked = 0
    for case in cases_of(exercise.name):
        numeric = exercise.numeric(case)
        if numeric is None:  # a kink within the step (ReLU at 0, a tie in a pooling window)
            continue
        assert close(exercise.project(call(exercise.reference, case)), numeric, 1e-5, 1e-6), case.name
        checked += 1
    assert checked >= 2


def test_seed_printed_examples():
    svm = BY_NAME["cs231n.svm_loss"]
    loss, dx = svm.reference(np.array([[8.0, 14.0, 9.5, 10.0]]), np.array([3]))
    assert loss == pytest.approx(5.5)
    chex.assert_trees_all_close(dx, np.array([[0.0, 1.0, 1.0, -2.0]]))
    loss, dx = BY_NAME["cs231n.softmax_loss"].reference(np.array([[3.2, 0.8, 0.0]]), np.array([0]))
    chex.assert_trees_all_close(dx + np.array([[1.0, 0, 0]]), np.array([[0.88379809, 0.08017635, 0.03602556]]),
                                atol=1e-8)
    assert loss == pytest.approx(-np.log(0.88379809))


def test_softmax_reference_is_stable_for_large_scores():
    loss, dx = BY_NAME["cs231n.softmax_loss"].reference(np.array([[1000.0, 0.0, -1000.0]]), np.array([1]))
    assert loss == pytest.approx(1000.0)
    assert np.all(np.isfinite(dx))


def test_relu_backward_passes_no_gradient_at_zero():
    dx = BY_NAME["cs231n.relu_backward"].reference(np.ones(3), np.array([-1.0, 0.0, 2.0]))
    chex.assert_trees_all_close(dx, np.array([0.0, 0.0, 1.0]))


def test_max_pool_backward_sends_a_tie_to_the_first_maximum():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = BY_NAME["cs231n.max_pool_forward_naive"].reference(x, param)
    chex.assert_trees_all_close(out, np.array([[[[3.0]]]]))
    dx = BY_NAME["cs231n.max_pool_backward_naive"].reference(np.array([[[[5.0]]]]), cache)
    chex.assert_trees_all_close(dx, np.array([[[[0.0, 5.0], [0.0, 0.0]]]]))


def test_dropout_mask_is_the_seeded_numpy_draw_and_inverted():
    x = np.random.default_rng(1).standard_normal((200, 50)) + 2.0
    param = {"p": 0.3, "mode": "train", "seed": 42}
    out, (_, mask) = BY_NAME["cs231n.dropout_forward"].reference(x, param)
    saved = np.random.get_state()
    try:  # the learner's code: np.random.seed, then one np.random.rand
        np.random.seed(42)
        learner_mask = (np.random.rand(*x.shape) < 1 - 0.3) / (1 - 0.3)
    finally:
        np.random.set_state(saved)
    chex.assert_trees_all_close(mask, learner_mask)
    chex.assert_trees_all_close(out, x * learner_mask)
    assert abs(np.mean(out == 0) - 0.3) < 0.02
    assert abs(out.mean() / x.mean() - 1) < 0.05
    test_out, (_, test_mask) = BY_NAME["cs231n.dropout_forward"].reference(x, {"p": 0.3, "mode": "test"})
    chex.assert_trees_all_close(test_out, x)
    assert test_mask is None


def test_batchnorm_updates_the_running_averages_and_test_mode_uses_them():
    forward = BY_NAME["cs231n.batchnorm_forward"].reference
    rng = np.random.default_rng(2)
    gamma, beta = np.ones(3), np.zeros(3)
    bn_param = {"mode": "train", "momentum": 0.5}
    batches = [3.0 + 2.0 * rng.standard_normal((64, 3)) for _ in range(2)]
    out, _ = forward(batches[0], gamma, beta, bn_param)
    chex.assert_trees_all_close(out.mean(axis=0), np.zeros(3), atol=1e-10)
    chex.assert_trees_all_close(out.std(axis=0), np.ones(3), atol=1e-5)
    forward(batches[1], gamma, beta, bn_param)
    mean = 0.5 * (0.5 * batches[0].mean(axis=0)) + 0.5 * batches[1].mean(axis=0)
    var = 0.5 * (0.5 * batches[0].var(axis=0)) + 0.5 * batches[1].var(axis=0)
    chex.assert_trees_all_close(bn_param["running_mean"], mean)
    chex.assert_trees_all_close(bn_param["running_var"], var)
    bn_param["mode"] = "test"
    x = rng.standard_normal((4, 3))
    out, _ = forward(x, 2 * gamma, beta + 1, bn_param)
    chex.assert_trees_all_close(out, 2 * (x - mean) / np.sqrt(var + 1e-5) + 1)


def test_update_rules_are_cs231n_formulas():
    """The optax-based references against cs231n's optim.py written out in numpy, over three steps."""
    rng = np.random.default_rng(3)
    w, grads = rng.standard_normal(4), [rng.standard_normal(4) for _ in range(3)]
    rms, adam = None, None
    cache, m, v, t = np.zeros(4), np.zeros(4), np.zeros(4), 0
    w_rms = w_adam = np_rms = np_adam = w
    for dw in grads:
        w_rms, rms = BY_NAME["cs231n.rmsprop"].reference(w_rms, dw, rms)
        w_adam, adam = BY_NAME["cs231n.adam"].reference(w_adam, dw, adam)
        cache = 0.99 * cache + 0.01 * dw ** 2
        np_rms = np_rms - 1e-2 * dw / (np.sqrt(cache) + 1e-8)
        t, m, v = t + 1, 0.9 * m + 0.1 * dw, 0.999 * v + 0.001 * dw ** 2
        np_adam = np_adam - 1e-3 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    chex.assert_trees_all_close((w_rms, rms["cache"]), (np_rms, cache))
    chex.assert_trees_all_close((w_adam, adam["m"], adam["v"]), (np_adam, m, v))
    assert adam["t"] == 3
    first = BY_NAME["cs231n.adam"].reference(w, grads[0])[0]  # bias-corrected first step: -lr * sign(dw)
    chex.assert_trees_all_close(first, w - 1e-3 * np.sign(grads[0]), atol=1e-9)
    next_w, config = BY_NAME["cs231n.sgd_momentum"].reference(w, grads[0], {"velocity": np.ones(4)})
    chex.assert_trees_all_close((next_w, config["velocity"]), (w + 0.9 - 1e-2 * grads[0], 0.9 - 1e-2 * grads[0]))
    assert config["momentum"] == 0.9 and config["learning_rate"] == 1e-2


def test_conv_reference_against_a_hand_computed_window():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    out, _ = BY_NAME["cs231n.conv_forward_naive"].reference(x, w, np.array([0.5]), {"stride": 2, "pad": 1})
    assert out.shape == (1, 1, 3, 3)
    # the window at (0, 0) covers padded zeros and x[0, 0]; no flipping: -x[0, 0] at its bottom right
    assert out[0, 0, 0, 0] == pytest.approx(0.5 - 0.0)
    assert out[0, 0, 1, 1] == pytest.approx(0.5 + x[0, 0, 1, 1] - x[0, 0, 2, 2])


def test_bad_conv_param_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="conv_param"):
        BY_NAME["cs231n.conv_forward_naive"].reference(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), np.zeros(1),
                                                       {"stride": 2, "pad": 0})
    with pytest.raises(ValueError, match="mode"):
        BY_NAME["cs231n.dropout_forward"].reference(np.zeros(3), {"p": 0.5, "mode": "eval"})


# ----------------------------------------------------------------------------------------------
# The typical mistakes and their hints


@pytest.mark.parametrize("exercise, mistake", MISTAKES, ids=ids(MISTAKES))
def test_mistake_fails_with_its_hint(exercise, mistake):
    differing = []
    for case in cases_of(exercise.name):
        expected = expected_of(exercise, case)
        try:
            got = exercise.project(call(mistake.fn, case))
        except Exception:
            continue
        if not close(got, expected, exercise.rtol, exercise.atol):
            differing.append((case.name, exercise.diagnose(case, expected, got)))
    assert differing, "the wrong solution agrees with the reference on every case"
    assert mistake.hint in [hint for _, hint in differing], differing


@pytest.mark.parametrize("exercise", EXERCISES, ids=ids(EXERCISES))
def test_diagnose_stays_silent_on_unknown_mistakes_and_garbage(exercise):
    rng = np.random.default_rng(4)
    for case in cases_of(exercise.name):
        expected = expected_of(exercise, case)
        noisy = _perturb(expected, rng)
        assert exercise.diagnose(case, expected, noisy) is None, case.name
        for garbage in (None, "not an array", (1, 2, 3), {}):
            hint = exercise.diagnose(case, expected, garbage)
            assert hint is None or isinstance(hint, str)


def _perturb(value, rng):
    """``value`` with every array entry moved by a random amount: a wrong answer no known mistake explains."""
    if isinstance(value, dict):
        return {k: _perturb(v, rng) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_perturb(v, rng) for v in value)
    if isinstance(value, (int, np.integer)):
        return value + 7
    array = np.asarray(value, dtype=float)
    return array + 0.37 + rng.uniform(0.1, 1.0, array.shape)


def test_diagnose_names_a_wrong_return_structure():
    def hint(name, fn):
        exercise = BY_NAME[name]
        case = cases_of(name)[0]
        return exercise.diagnose(case, expected_of(exercise, case), exercise.project(call(fn, case)))

    forward = BY_NAME["cs231n.affine_forward"].reference
    assert "(out, cache)" in hint("cs231n.affine_forward", lambda x, w, b: forward(x, w, b)[0])
    backward = BY_NAME["cs231n.affine_backward"].reference
    assert "(dx, dw, db)" in hint("cs231n.affine_backward", lambda dout, cache: backward(dout, cache)[:2])
    relu = BY_NAME["cs231n.relu_backward"].reference
    assert "dx alone" in hint("cs231n.relu_backward", lambda dout, cache: (relu(dout, cache),))
    momentum = BY_NAME["cs231n.sgd_momentum"].reference
    assert "(next_w, config)" in hint("cs231n.sgd_momentum", lambda w, dw, config=None: momentum(w, dw, config)[0])
    assert "config['velocity']" in hint("cs231n.sgd_momentum", lambda w, dw, config=None: (momentum(w, dw)[0], {}))
    adam = BY_NAME["cs231n.adam"].reference
    assert "config['t']" in hint("cs231n.adam", lambda w, dw, config=None: (
        adam(w, dw, config)[0], {k: v for k, v in adam(w, dw, config)[1].items() if k != "t"}))


# ----------------------------------------------------------------------------------------------
# The seed's own code (the jhui article's listings, verbatim but for the return lines) against the references


def jhui_affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    cache = (x, w, b)
    return out, cache


def jhui_affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def jhui_relu_forward(x):
    out = np.maximum(0, x)
    cache = x
    return out, cache


def jhui_relu_backward(dout, cache):
    dx, x = None, cache
    dx = dout
    dx[x < 0] = 0
    return dx


def jhui_softmax_loss(x, y):
    probs = np.exp(x - np.max(x, axis=1, keepdims=True))
    probs /= np.sum(probs, axis=1, keepdims=True)
    N = x.shape[0]
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def jhui_dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    out = None
    if mode == "train":
        drop = 1 - p
        mask = (np.random.rand(*x.shape) < drop) / drop
        out = x * mask
    elif mode == "test":
        out = x
    cache = (dropout_param, mask)
    out = out.astype(x.dtype, copy=False)
    return out, cache


def jhui_dropout_backward(dout, cache):
    dropout_param, mask = cache
    mode = dropout_param["mode"]
    if mode == "train":
        dx = dout * mask
    elif mode == "test":
        dx = dout
    return dx


SEED_CODE = {"cs231n.affine_forward": jhui_affine_forward, "cs231n.affine_backward": jhui_affine_backward,
             "cs231n.relu_forward": jhui_relu_forward, "cs231n.softmax_loss": jhui_softmax_loss,
             "cs231n.dropout_forward": jhui_dropout_forward, "cs231n.dropout_backward": jhui_dropout_backward}


@pytest.mark.parametrize("name", sorted(SEED_CODE))
def test_the_seed_code_passes(name):
    exercise = BY_NAME[name]
    saved = np.random.get_state()
    try:
        for case in cases_of(name):
            got = exercise.project(call(SEED_CODE[name], case))
            assert close(got, expected_of(exercise, case), exercise.rtol, exercise.atol), case.name
    finally:
        np.random.set_state(saved)


def test_the_seed_relu_backward_fails_only_at_zero_with_the_convention_hint():
    exercise = BY_NAME["cs231n.relu_backward"]
    failing = []
    for case in cases_of(exercise.name):
        expected = expected_of(exercise, case)
        got = exercise.project(call(jhui_relu_backward, case))
        if not close(got, expected, exercise.rtol, exercise.atol):
            failing.append((case.name, exercise.diagnose(case, expected, got)))
    assert [name for name, _ in failing] == ["edge: exact zeros in x (no gradient at 0)"]
    assert "x > 0" in failing[0][1]


@pytest.mark.parametrize("name", ["cs231n.softmax_loss", "cs231n.svm_loss"])
def test_a_loss_averaged_but_dx_not_gets_the_dx_hint(name):
    exercise = BY_NAME[name]
    case = next(c for c in cases_of(name) if c.args[0].shape[0] > 1)
    loss, dx = expected_of(exercise, case)
    assert "divide dx by N" in exercise.diagnose(case, (loss, dx), (loss, dx * case.args[0].shape[0]))
