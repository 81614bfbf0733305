"""fnnet.exercises: the references pass, every typical wrong solution fails with its hint, and check /
the CLI / numpy_layer report what a learner's code does (never a traceback)."""
import os
import textwrap
from pathlib import Path

import chex
import jax
import numpy as np
import pytest

import fnnet
from fnnet import exercises
from fnnet.cli import main as fnnet_main
from fnnet.diagnostics import check_grads, model_objective
from fnnet.exercises import checking
from fnnet.models import Dense, Sequential

MY_COURSES = ("hse", "planar", "housing")
NAMES = [n for c in MY_COURSES for n in exercises.names(c)]
MISTAKES = [(n, m) for n in NAMES for m in exercises.get(n).mistakes]


def test_catalogue_has_every_function_the_seeds_ask_for():
    assert set(NAMES) >= {
        "hse.expand", "hse.probability", "hse.compute_loss", "hse.compute_grad", "hse.sgd_step",
        "hse.momentum_step", "hse.rmsprop_step", "planar.layer_sizes", "planar.initialize_parameters",
        "planar.forward_propagation", "planar.compute_cost", "planar.backward_propagation",
        "planar.update_parameters", "planar.predict", "planar.nn_model", "housing.mse_gradient",
        "housing.gradient_descent_step", "housing.gradient_descent"}
    for name in NAMES:
        assert len(exercises.get(name).mistakes) >= 3, name


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name):
    result = exercises.check(name, exercises.get(name).reference)
    assert result.passed, result.report
    assert result.cases_failed == 0 and result.cases_run >= 2
    assert str(result) == result.report


@pytest.mark.parametrize("name,mistake", MISTAKES, ids=[f"{n}-{m.name}" for n, m in MISTAKES])
def test_mistake_fails_with_its_hint(name, mistake):
    result = exercises.check(name, mistake.fn)
    assert not result.passed
    assert result.cases_failed >= 1
    assert f"Hint: {mistake.hint}" in result.report, result.report


CS231N = exercises.names("cs231n") if "cs231n" in exercises.courses() else []


@pytest.mark.parametrize("name", CS231N)
def test_cs231n_through_check(name):
    """The other course's references pass check() and its mistakes fail with their hints in the report."""
    exercise = exercises.get(name)
    assert exercises.check(name, exercise.reference).passed
    with np.errstate(all="ignore"):  # wrong solutions overflow on purpose
        for mistake in exercise.mistakes:
            result = exercises.check(name, mistake.fn)
            assert not result.passed and f"Hint: {mistake.hint}" in result.report, (mistake.name, result.report)


def test_the_seeds_printed_expand_test_is_the_first_case():
    case = exercises.get("hse.expand").cases(np.random.default_rng(0))[0]
    np.testing.assert_array_equal(case.args[0], [[0, 0], [1, 0], [2.61, -1.28], [-0.59, 2.1]])
    assert case.expected[2].tolist() == [2.61, -1.28, 6.8121, 1.6384, -3.3408, 1.0]


def test_report_names_the_case_and_first_differing_element():
    wrong = lambda X: np.asarray(exercises.get("hse.expand").reference(X)) * np.array([1, 1, 1, 1, 2, 1])
    report = exercises.check("hse.expand", wrong).report
    assert "FAILED 3 of 3 cases" in report
    assert "case \"the notebook's dummy test (dummy_X)\": output[2, 4] is -6.6816, expected -3.3408" in report


def test_backward_report_says_the_gradient_matches_neither():
    no_m = exercises.get("planar.backward_propagation").mistakes[1].fn
    report = exercises.check("planar.backward_propagation", no_m).report
    assert "matches neither the reference nor central finite differences" in report


def test_describe_and_template():
    text = exercises.describe("planar.backward_propagation")
    assert "def backward_propagation(parameters, cache, X, Y):" in text and "(n_h, n_x)" in text
    source = exercises.template("hse.compute_grad")
    assert source.startswith("def compute_grad(X, y, w):\n")
    namespace = {}
    exec(source, namespace)
    with pytest.raises(NotImplementedError):
        namespace["compute_grad"](None, None, None)
    report = exercises.check("hse.compute_grad", namespace["compute_grad"]).report
    assert "not written yet" in report


def test_unknown_name_lists_close_names():
    with pytest.raises(ValueError, match="'hse.compute_grad'"):
        exercises.get("hse.compute_gard")
    with pytest.raises(ValueError, match="'hse.expand'"):
        exercises.get("expand")
    with pytest.raises(ValueError, match="course must be one of"):
        exercises.names("nope")
    with pytest.raises(TypeError, match="name must be"):
        exercises.get(3)


def test_wrong_signature_raising_and_none_are_reported():
    report = exercises.check("hse.compute_grad", lambda X, w: X @ w).report
    assert "wrong parameters" in report and "def compute_grad(X, y, w)" not in report.split("calls it as")[0]

    def raises(X, y, w):
        return X @ y  # (n, 6) @ (n,): shapes that do not multiply

    report = exercises.check("hse.compute_grad", raises).report
    assert "raised ValueError" in report and "return X @ y" in report

    def forgets_return(X, y, w):
        _ = X.T @ (y - X @ w)

    report = exercises.check("hse.compute_grad", forgets_return).report
    assert "returned None" in report and "return" in report
    assert "expected a function" in exercises.check("hse.expand", 42).report


def test_a_function_mutating_its_inputs_does_not_change_the_next_case():
    def in_place(w, dw, eta=0.05):
        w -= eta * dw
        dw[:] = 0
        return w

    assert exercises.check("hse.sgd_step", in_place).passed


def test_compare_outputs_messages():
    assert checking.compare_outputs({"a": 1}, {"b": 1}) .startswith("output is missing the key(s) ['a']")
    assert "transpose" in checking.compare_outputs(np.zeros((2, 3)), np.zeros((3, 2)))
    assert checking.compare_outputs((1.0, 2.0), (1.0,)) == "output should have 2 values, got 1"
    assert "dtype" in checking.compare_outputs(np.zeros(2), np.zeros(2, bool))
    assert checking.compare_outputs(np.arange(3), np.arange(3, dtype=np.uint8)) is None
    assert checking.first_difference(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 3.5]))[0] == (1,)


def test_numeric_gradient_central_differences():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2))
    np.testing.assert_allclose(checking.numeric_gradient(lambda v: np.sum(v ** 3), x), 3 * x ** 2, rtol=1e-6)
    w, df = rng.normal(size=(2, 4)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(checking.numeric_gradient(lambda v: v @ w, x, df=df), df @ w.T, rtol=1e-6)


def test_planar_references_agree_with_fnnets_planar_net():
    """The course layout (W1 (n_h, n_x), X (n_x, m)) is fnnet's planar_net transposed: the reference backward
    pass is the gradient of fnnet's model and loss."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 2)).astype(np.float32), (rng.random((6, 1)) < 0.5).astype(np.float32)
    model = fnnet.models.planar_net(4, init="glorot_uniform")
    params = model.init(jax.random.key(0), x[:1])
    grads = jax.grad(lambda p: fnnet.losses.sigmoid_binary_cross_entropy(model.apply(p, x), y))(params)
    layers = [params["dense_0"], params["dense_1"]]
    course = {f"{w}{i + 1}": np.asarray(a, np.float64) for i, layer in enumerate(layers)
              for w, a in (("W", layer["kernel"].T), ("b", layer["bias"][:, None]))}
    _, cache = exercises.get("planar.forward_propagation").reference(x.T, course)
    mine = exercises.get("planar.backward_propagation").reference(course, cache, x.T, y.T)
    for i, name in enumerate(("dense_0", "dense_1")):
        np.testing.assert_allclose(mine[f"dW{i + 1}"], grads[name]["kernel"].T, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(mine[f"db{i + 1}"][:, 0], grads[name]["bias"], rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# command line


def _write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def test_cli_grades_a_folder(tmp_path, capsys):
    _write(tmp_path, "good.py", """
        import numpy as np
        def compute_grad(X, y, w):
            return np.dot(1 / (1 + np.exp(-np.dot(X, w))) - y, X) / X.shape[0]
        """)
    bad = _write(tmp_path, "bad.py", """
        import numpy as np
        def compute_grad(X, y, w):
            return np.dot(1 / (1 + np.exp(-np.dot(X, w))) - y, X)
        def my_grad(X, y, w):
            return np.dot(1 / (1 + np.exp(-np.dot(X, w))) - y, X) / len(X)
        """)
    assert fnnet_main(["check", "hse.compute_grad", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  bad.py" in out and "PASS  good.py" in out and "1 of 2 submissions pass" in out
    assert fnnet_main(["check", "hse.compute_grad", str(tmp_path / "good.py")]) == 0
    assert fnnet_main(["check", "hse.compute_grad", f"{bad}:my_grad"]) == 0
    assert fnnet_main(["check", "hse.compute_grad", str(bad)]) == 1
    assert "Hint: forgot to divide" in capsys.readouterr().out
    assert fnnet_main(["check", "hse.compute_grad", f"{bad}:nothing"]) == 1
    assert "defines no function 'nothing'" in capsys.readouterr().out
    assert fnnet_main(["check", "hse.compute_gard", str(bad)]) == 2
    assert "did you mean 'hse.compute_grad'" in capsys.readouterr().err


def test_cli_lists_exercises(capsys):
    assert fnnet_main(["exercises", "--course", "housing"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == exercises.names("housing")


# ----------------------------------------------------------------------------------------------
# numpy_layer


def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, _ = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def affine_backward_wrong(dout, cache):
    x, w, _ = cache
    return dout @ w.T, x.T @ dout, dout.mean(axis=0)  # db averaged instead of summed


DENSE = Dense(3)


def _dense_init(key, x):
    params, _ = DENSE.layer_init(key, x)
    return {"w": params["kernel"], "b": params["bias"]}


def test_numpy_layer_trains_like_dense_and_check_grads_catches_a_wrong_backward():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32)
    mine = Sequential([exercises.numpy_layer(affine_forward, affine_backward, init=_dense_init, name="affine")])
    theirs = Sequential([DENSE])
    key = jax.random.key(0)
    state, _ = fnnet.fit(mine, "mse", "sgd", (x, y), epochs=2, batch_size=8, key=key, verbose=0)
    reference, _ = fnnet.fit(theirs, "mse", "sgd", (x, y), epochs=2, batch_size=8, key=key, verbose=0)
    assert state.step == 4
    dense = reference.params["dense_0"]
    chex.assert_trees_all_close(state.params["numpy_0"], {"w": dense["kernel"], "b": dense["bias"]}, rtol=1e-5,
                                atol=1e-6)
    assert not np.allclose(state.params["numpy_0"]["w"], mine.init(key, x[:1])["numpy_0"]["w"])  # it did train

    params = mine.init(key, x[:1])
    assert check_grads(model_objective(mine, "mse"), params, (x, y)).passed
    wrong = Sequential([exercises.numpy_layer(affine_forward, affine_backward_wrong, init=_dense_init)])
    result = check_grads(model_objective(wrong, "mse"), params, (x, y))
    assert result.failed == ["numpy_0/b"]


@pytest.mark.skipif(not CS231N, reason="the cs231n course is not installed")
def test_numpy_layer_takes_functions_written_with_jax():
    """cs231n's references are jax inside (jitted, float64): the layer still finds their output shape
    while fit's program is traced, and their backward passes check out."""
    forward, backward = (exercises.get(f"cs231n.affine_{way}").reference for way in ("forward", "backward"))
    net = Sequential([exercises.numpy_layer(forward, backward, init=_dense_init)])
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32)
    params = net.init(jax.random.key(0), x[:1])
    assert check_grads(model_objective(net, "mse"), params, (x, y)).passed
    state, _ = fnnet.fit(net, "mse", "sgd", (x, y), epochs=1, batch_size=4, key=jax.random.key(0), verbose=0)
    assert state.params["numpy_0"]["w"].dtype == np.float32


def test_numpy_layer_bad_input():
    with pytest.raises(ValueError, match=r"forward has parameters \['w', 'b'\]: pass init="):
        exercises.numpy_layer(affine_forward, affine_backward)
    with pytest.raises(TypeError, match="backward must be a function"):
        exercises.numpy_layer(affine_forward, None, init=_dense_init)
    layer = exercises.numpy_layer(affine_forward, affine_backward, init=lambda key, x: {"w": np.zeros((4, 3))})
    with pytest.raises(ValueError, match=r"must return a dict with the keys \['w', 'b'\]"):
        Sequential([layer]).init(jax.random.key(0), np.zeros((1, 4), np.float32))


# ----------------------------------------------------------------------------------------------
# the seed's own numbers

SHARED = Path(os.environ.get("FNNET_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED} (set FNNET_SHARED_DATA)")
def test_housing_reference_reproduces_the_workshops_printed_m_and_b():
    from fnnet.data import load_california_housing

    data = load_california_housing(SHARED, features="MedInc")
    m, b, log, mse = exercises.get("housing.gradient_descent").reference(data.x_train[:, 0], data.y_train, lr=0.01,
                                                                        iterations=1000)
    np.testing.assert_allclose([m, b], [0.41893244701097204, 0.44612945637258383], rtol=1e-10)
    assert log.shape == (1000, 2) and mse[-1] < mse[0]


def _numpy_cost(A2, Y, parameters):
    return float(-np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / Y.shape[1])


def test_learners_planar_backpropagation_trains_like_autodiff_and_check_grads_judges_it():
    from fnnet.exercises import planar

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(2, 8)).astype(np.float32), (rng.random((1, 8)) < 0.5).astype(np.float32)
    params = {k: rng.normal(scale=0.5, size=s).astype(np.float32)
              for k, s in (("W1", (4, 2)), ("b1", (4, 1)), ("W2", (1, 4)), ("b2", (1, 1)))}
    correct = planar.learner_objective(planar.forward_numpy, _numpy_cost, planar.BACKWARD_MISTAKES[0].fn.func)
    wrong = planar.learner_objective(planar.forward_numpy, _numpy_cost, planar.BACKWARD_MISTAKES[0].fn)  # 1 - Z1**2
    assert check_grads(correct, params, (X, Y)).passed
    assert set(check_grads(wrong, params, (X, Y)).failed) == {"W1", "b1"}
    path, values = fnnet.optim.trajectory(lambda p: correct(p, (X, Y)), params, "sgd", 3)
    reference, reference_values = fnnet.optim.trajectory(lambda p: planar.reference_objective(p, (X, Y)), params,
                                                         "sgd", 3)
    chex.assert_trees_all_close(path, reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values, reference_values, rtol=1e-5)
