"""deeplearning.ai's "Planar data classification with one hidden layer" (seed 000, part 2), as exercises.

The layout is the assignment's: ``X`` is ``(n_x, m)`` (features x examples), ``Y`` is ``(1, m)``,
``W1`` is ``(n_h, n_x)``, ``b1`` ``(n_h, 1)``, ``W2`` ``(n_y, n_h)``, ``b2`` ``(n_y, 1)``; the forward pass
is ``Z1 = W1 X + b1, A1 = tanh(Z1), Z2 = W2 A1 + b2, A2 = sigmoid(Z2)`` with
``cache = {"Z1", "A1", "Z2", "A2"}``, the gradients ``grads = {"dW1", "db1", "dW2", "db2"}``.

References are jax: the backward pass is ``jax.grad`` of the forward pass and cost, the update
``optax.sgd``, the initialization fnnet's ``course_normal`` (``randn * 0.01``) initializer.

Random draws: ``initialize_parameters`` and ``nn_model`` draw random weights, and a learner's draw
cannot equal fnnet's (the assignment's ``np.random.seed(2)`` inside ``initialize_parameters`` is not part
of the task the seed states). So ``initialize_parameters`` is checked on what the task fixes: every
shape, zero biases, and the weights' scale (``randn * 0.01``: a root-mean-square between 0.003 and 0.03,
judged on cases with 100 weights or more so that a correct draw passes; nonzero, not all equal). And
``nn_model`` is checked on the shapes it returns and on what training must achieve: at least 80%
training accuracy on the assignment's flower data (its reference reaches about 90%).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet import initializers
from fnnet.data.synthetic import flower
from fnnet.exercises.checking import diagnose_from, numeric_gradient, numpy_reference
from fnnet.exercises.spec import Case, Exercise, Mistake

LAYOUT = ("X: (n_x, m) input data, one COLUMN per example (features x examples); Y: (1, m) labels 0/1\n"
          "parameters: {'W1': (n_h, n_x), 'b1': (n_h, 1), 'W2': (n_y, n_h), 'b2': (n_y, 1)}\n"
          "cache: {'Z1': (n_h, m), 'A1': (n_h, m), 'Z2': (n_y, m), 'A2': (n_y, m)}\n"
          "grads: {'dW1', 'db1', 'dW2', 'db2'}, each shaped like its parameter")
PARAM_KEYS = ("W1", "b1", "W2", "b2")
TRANSPOSED_W = "transposed W: W1 is (n_h, n_x) and the layer is np.dot(W1, X) + b1 with X of shape (n_x, m)"


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _random_parameters(rng: np.random.Generator, n_x: int, n_h: int, n_y: int = 1) -> dict:
    """Parameters of a partly trained net (scale 0.5, nonzero biases): tanh is then far from linear."""
    shapes = {"W1": (n_h, n_x), "b1": (n_h, 1), "W2": (n_y, n_h), "b2": (n_y, 1)}
    return {k: rng.normal(scale=0.5, size=s) for k, s in shapes.items()}


def _data(rng: np.random.Generator, n_x: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(n_x, m)), (rng.random((1, m)) < 0.5).astype(np.float64)


SIZES = ((2, 4, 5), (3, 5, 7), (2, 4, 1))  # (n_x, n_h, m); the last one a single example


def _net_cases(rng: np.random.Generator) -> list:
    """``(parameters, X, Y)`` per size: the seed's n_x = 2, n_h = 4 first."""
    cases = []
    for n_x, n_h, m in SIZES:
        X, Y = _data(rng, n_x, m)
        cases.append((f"n_x={n_x}, n_h={n_h}, m={m}", _random_parameters(rng, n_x, n_h), X, Y))
    return cases


# ----------------------------------------------------------------------------------------------
# layer_sizes


def _layer_sizes(X, Y):
    return X.shape[0], 4, Y.shape[0]


LAYER_SIZES_MISTAKES = (
    Mistake("examples instead of features", lambda X, Y: (X.shape[1], 4, Y.shape[1]),
            "X is (input size, number of examples): the sizes are X.shape[0] and Y.shape[0], not shape[1]"),
    Mistake("n_h not 4", lambda X, Y: (X.shape[0], X.shape[0], Y.shape[0]), "the hidden layer size is set to 4"),
    Mistake("n_y fixed to 1", lambda X, Y: (X.shape[0], 4, 1), "n_y is the size of the output layer: Y.shape[0]"),
)

layer_sizes = Exercise(
    name="planar.layer_sizes",
    task=("Define three variables: n_x, the size of the input layer; n_h, the size of the hidden layer (set "
          "this to 4); n_y, the size of the output layer. Return them."),
    signature="def layer_sizes(X, Y):",
    layout=("X -- input dataset of shape (input size, number of examples)\n"
            "Y -- labels of shape (output size, number of examples)\nreturns: (n_x, n_h, n_y)"),
    reference=_layer_sizes,
    cases=lambda rng: [Case("the assignment's test: X (5, 3), Y (2, 3)",
                            (rng.normal(size=(5, 3)), rng.normal(size=(2, 3))), expected=(5, 4, 2)),
                       Case("the flower data: X (2, 400), Y (1, 400)", (np.zeros((2, 400)), np.zeros((1, 400))))],
    diagnose=diagnose_from(LAYER_SIZES_MISTAKES),
    mistakes=LAYER_SIZES_MISTAKES,
)


# ----------------------------------------------------------------------------------------------
# initialize_parameters


def _initialize_parameters(n_x, n_h, n_y):
    key = jax.random.key(n_x * 1000 + n_h * 10 + n_y)  # the reference's own draw; only its summary is compared
    init = initializers.get("course_normal")
    k1, k2 = jax.random.split(key)
    return {"W1": np.asarray(init(k1, (n_h, n_x)), np.float64), "b1": np.zeros((n_h, 1)),
            "W2": np.asarray(init(k2, (n_y, n_h)), np.float64), "b2": np.zeros((n_y, 1))}


def _init_summary(params) -> dict:
    """What the task fixes of a random initialization: shapes, zeros, and the weights' scale (see module doc)."""
    if not isinstance(params, dict):
        return params
    summary = {}
    for key, value in params.items():
        a = np.asarray(value, dtype=float)
        entry = {"shape": str(a.shape), "all zero": bool(np.all(a == 0))}
        if key.startswith("W") and a.size >= 100:
            rms = float(np.sqrt(np.mean(a ** 2)))
            entry["scale"] = ("randn * 0.01" if 0.003 < rms < 0.03 and np.ptp(a) > 0 else
                              "too large (rms > 0.03)" if rms >= 0.03 else "too small or constant")
        summary[key] = entry
    return summary


def _init_no_scale(n_x, n_h, n_y):
    return {"W1": np.random.randn(n_h, n_x), "b1": np.zeros((n_h, 1)), "W2": np.random.randn(n_y, n_h),
            "b2": np.zeros((n_y, 1))}


def _init_zero_weights(n_x, n_h, n_y):
    return {"W1": np.zeros((n_h, n_x)), "b1": np.zeros((n_h, 1)), "W2": np.zeros((n_y, n_h)), "b2": np.zeros((n_y, 1))}


def _init_transposed(n_x, n_h, n_y):
    return {"W1": np.random.randn(n_x, n_h) * 0.01, "b1": np.zeros((n_h, 1)), "W2": np.random.randn(n_h, n_y) * 0.01,
            "b2": np.zeros((n_y, 1))}


def _init_flat_bias(n_x, n_h, n_y):
    return {"W1": np.random.randn(n_h, n_x) * 0.01, "b1": np.zeros(n_h), "W2": np.random.randn(n_y, n_h) * 0.01,
            "b2": np.zeros(n_y)}


INIT_MISTAKES = (
    Mistake("no * 0.01", _init_no_scale, "scale the random weights down: np.random.randn(a, b) * 0.01"),
    Mistake("zero weights", _init_zero_weights,
            "weights must be random (np.random.randn(a, b) * 0.01): with zeros every hidden unit stays the same; "
            "only the biases are zeros"),
    Mistake("transposed W", _init_transposed, "transposed W: W1 is (n_h, n_x) and W2 is (n_y, n_h)"),
    Mistake("flat biases", _init_flat_bias, "the biases are column vectors: np.zeros((n_h, 1)) and np.zeros((n_y, 1))"),
)

initialize_parameters = Exercise(
    name="planar.initialize_parameters",
    task=("Initialize the weights matrices with random values, np.random.randn(a,b) * 0.01 for a matrix of "
          "shape (a,b), and the bias vectors as zeros, np.zeros((a,b)). Make sure the parameters' sizes are right. "
          "(Checked: shapes, zero biases and the weights' scale; the draw itself is yours.)"),
    signature="def initialize_parameters(n_x, n_h, n_y):",
    layout=("n_x -- size of the input layer; n_h -- size of the hidden layer; n_y -- size of the output layer\n"
            "returns: params -- {'W1': (n_h, n_x), 'b1': (n_h, 1), 'W2': (n_y, n_h), 'b2': (n_y, 1)}"),
    reference=_initialize_parameters,
    cases=lambda rng: [Case("the assignment's sizes (2, 4, 1)", (2, 4, 1)), Case("a wider net (3, 50, 2)", (3, 50, 2)),
                       Case("many inputs (200, 4, 1)", (200, 4, 1))],
    project=_init_summary,
    diagnose=diagnose_from(INIT_MISTAKES, project=_init_summary),
    mistakes=INIT_MISTAKES,
)


# ----------------------------------------------------------------------------------------------
# forward_propagation and compute_cost


def _forward_jax(X, parameters):
    Z1 = jnp.dot(parameters["W1"], X) + parameters["b1"]
    A1 = jnp.tanh(Z1)
    Z2 = jnp.dot(parameters["W2"], A1) + parameters["b2"]
    A2 = jax.nn.sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def _forward_sigmoid_hidden(X, parameters):
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = _sigmoid(Z1)
    Z2 = np.dot(parameters["W2"], A1) + parameters["b2"]
    A2 = _sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def _forward_missing_cache(X, parameters):
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = np.tanh(Z1)
    Z2 = np.dot(parameters["W2"], A1) + parameters["b2"]
    A2 = _sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "A2": A2}


def _forward_transposed(X, parameters):
    Z1 = np.dot(X.T, parameters["W1"].T) + parameters["b1"].T
    A1 = np.tanh(Z1)
    Z2 = np.dot(A1, parameters["W2"].T) + parameters["b2"].T
    A2 = _sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def _forward_no_bias(X, parameters):
    Z1 = np.dot(parameters["W1"], X)
    A1 = np.tanh(Z1)
    Z2 = np.dot(parameters["W2"], A1)
    A2 = _sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def _missing_key_rule(what: str, keys: tuple, where=lambda got: got):
    def rule(case, expected, got):
        try:
            present = where(got)
        except Exception:
            return None
        if isinstance(present, dict):
            missing = [k for k in keys if k not in present]
            if missing:
                return f"missing {what} key {missing[0]!r}: {what} must hold {', '.join(keys)}"
        return None
    return rule


def _transposed_rule(hint: str):
    def rule(case, expected, got):
        leaves_e, leaves_g = jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(got)
        for e, g in zip(leaves_e, leaves_g):
            e, g = np.shape(e), np.shape(g)
            if len(e) == 2 and e != g and g == e[::-1]:
                return hint
        return None
    return rule


FORWARD_MISTAKES = (
    Mistake("sigmoid in the hidden layer", _forward_sigmoid_hidden,
            "the hidden layer is A1 = np.tanh(Z1); only the output A2 = sigmoid(Z2)"),
    Mistake("cache without Z2", _forward_missing_cache,
            "missing cache key 'Z2': cache must hold Z1, A1, Z2, A2"),
    Mistake("examples as rows", _forward_transposed, TRANSPOSED_W),
    Mistake("no biases", _forward_no_bias, "add the biases: Z1 = np.dot(W1, X) + b1, Z2 = np.dot(W2, A1) + b2"),
)

forward_propagation = Exercise(
    name="planar.forward_propagation",
    task=("Implement Forward Propagation: retrieve each parameter from the dictionary 'parameters', compute "
          "Z1 = W1 X + b1, A1 = tanh(Z1), Z2 = W2 A1 + b2 and A2 = sigmoid(Z2) (the vector of all the "
          "predictions), and store the values needed in the backpropagation in 'cache'."),
    signature="def forward_propagation(X, parameters):",
    layout=("X -- input data of size (n_x, m)\nparameters -- {'W1': (n_h, n_x), 'b1': (n_h, 1), 'W2': (n_y, n_h), "
            "'b2': (n_y, 1)}\nreturns: A2 -- the sigmoid output, (1, m); cache -- {'Z1', 'A1', 'Z2', 'A2'}"),
    reference=numpy_reference(_forward_jax),
    cases=lambda rng: [Case(name, (X, params)) for name, params, X, _ in _net_cases(rng)],
    diagnose=diagnose_from(FORWARD_MISTAKES[:1] + FORWARD_MISTAKES[3:],
                           _missing_key_rule("cache", ("Z1", "A1", "Z2", "A2"), lambda got: got[1]),
                           _transposed_rule(TRANSPOSED_W)),
    mistakes=FORWARD_MISTAKES,
)


def _cost_jax(A2, Y):
    m = Y.shape[1]
    logprobs = Y * jnp.log(A2) + (1 - Y) * jnp.log(1 - A2)
    return -jnp.sum(logprobs) / m


def _as_cost(out):
    """The assignment's ``float(np.squeeze(cost))``: a number, whatever array it came in."""
    a = np.asarray(out) if not isinstance(out, (dict, tuple, list)) else None
    return np.asarray(float(np.squeeze(a)), np.float64) if a is not None and a.size == 1 else out


def _cost_cases(rng):
    cases = []
    for name, params, X, Y in _net_cases(rng):
        A2 = numpy_reference(_forward_jax)(X, params)[0]
        cases.append(Case(name, (A2, Y, params)))
    return cases


COST_MISTAKES = (
    Mistake("no division by m", lambda A2, Y, p: -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)),
            "forgot to divide by m (the number of examples, Y.shape[1]): J is the mean over the examples"),
    Mistake("no minus sign", lambda A2, Y, p: np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / Y.shape[1],
            "J = -1/m sum(...): the cross-entropy has a minus sign"),
    Mistake("sum over the wrong axis", lambda A2, Y, p: -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2), axis=0)
            / Y.shape[1], "wrong axis of sum: sum over the examples (axis=1, or all of np.sum) to get one number"),
)

compute_cost = Exercise(
    name="planar.compute_cost",
    task=("Computes the cross-entropy cost J = -1/m sum_i (y_i log(a2_i) + (1 - y_i) log(1 - a2_i)), "
          "returned as a float."),
    signature="def compute_cost(A2, Y, parameters):",
    layout=("A2 -- The sigmoid output of the second activation, of shape (1, number of examples)\n"
            "Y -- \"true\" labels vector of shape (1, number of examples)\n"
            "parameters -- python dictionary containing the parameters W1, b1, W2 and b2\nreturns: cost (a float)"),
    reference=numpy_reference(lambda A2, Y, parameters: _cost_jax(A2, Y)),
    cases=_cost_cases,
    project=_as_cost,
    diagnose=diagnose_from(COST_MISTAKES, project=_as_cost),
    mistakes=COST_MISTAKES,
)


# ----------------------------------------------------------------------------------------------
# backward_propagation


def _objective(parameters, X, Y):
    return _cost_jax(_forward_jax(X, parameters)[0], Y)


def _backward_reference(parameters, cache, X, Y):
    grads = jax.grad(_objective)({k: jnp.asarray(parameters[k]) for k in PARAM_KEYS}, X, Y)
    return {f"d{k}": grads[k] for k in ("W1", "b1", "W2", "b2")}


def _backward_numeric(case: Case) -> dict:
    parameters, _, X, Y = case.args
    cost = numpy_reference(jax.jit(_objective))
    out = {}
    for k in PARAM_KEYS:
        out[f"d{k}"] = numeric_gradient(lambda v, k=k: cost({**parameters, k: v}, X, Y), parameters[k], 1e-6)
    return out


def _backward_numpy(parameters, cache, X, Y, *, tanh_of_z=False, divide=True, keepdims=True, drop=None):
    m = X.shape[1]
    scale = 1 / m if divide else 1.0
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = scale * np.dot(dZ2, A1.T)
    db2 = scale * np.sum(dZ2, axis=1, keepdims=keepdims)
    dZ1 = np.dot(parameters["W2"].T, dZ2) * (1 - (cache["Z1"] if tanh_of_z else A1) ** 2)
    dW1 = scale * np.dot(dZ1, X.T)
    db1 = scale * np.sum(dZ1, axis=1, keepdims=keepdims)
    grads = {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
    return {k: v for k, v in grads.items() if k != drop}


def _backward_cases(rng):
    cases = []
    for name, params, X, Y in _net_cases(rng):
        cache = numpy_reference(_forward_jax)(X, params)[1]
        cases.append(Case(name, (params, cache, X, Y)))
    return cases


BACKWARD_MISTAKES = (
    Mistake("tanh' of Z1", functools.partial(_backward_numpy, tanh_of_z=True),
            "tanh'(Z1) is 1 - A1**2 (with A1 = tanh(Z1)), not 1 - Z1**2 with the pre-activation"),
    Mistake("no 1/m", functools.partial(_backward_numpy, divide=False),
            "forgot to divide by m: dW1 = 1/m dZ1 X^T, db1 = 1/m sum(dZ1, axis=1), and so for layer 2"),
    Mistake("flat db", functools.partial(_backward_numpy, keepdims=False),
            "wrong axis or shape of the bias gradients: db1 = 1/m * np.sum(dZ1, axis=1, keepdims=True), "
            "shaped (n_h, 1)"),
    Mistake("no db2", functools.partial(_backward_numpy, drop="db2"),
            "missing grads key 'db2': grads must hold dW1, db1, dW2, db2"),
)


def _bias_shape_rule(hint: str):
    def rule(case, expected, got):
        if isinstance(got, dict) and any(np.shape(got.get(k)) != np.shape(expected[k]) for k in ("db1", "db2")
                                         if k in got):
            return hint
        return None
    return rule


backward_propagation = Exercise(
    name="planar.backward_propagation",
    task=("Implement the backward propagation with the six vectorized equations: dZ2 = A2 - Y, "
          "dW2 = 1/m dZ2 A1^T, db2 = 1/m sum(dZ2, axis=1, keepdims=True), dZ1 = W2^T dZ2 * (1 - A1^2), "
          "dW1 = 1/m dZ1 X^T, db1 = 1/m sum(dZ1, axis=1, keepdims=True)."),
    signature="def backward_propagation(parameters, cache, X, Y):",
    layout=("parameters -- {'W1', 'b1', 'W2', 'b2'}; cache -- {'Z1', 'A1', 'Z2', 'A2'}\n"
            "X -- input data of shape (2, number of examples); Y -- labels of shape (1, number of examples)\n"
            "returns: grads -- {'dW1': (n_h, n_x), 'db1': (n_h, 1), 'dW2': (n_y, n_h), 'db2': (n_y, 1)}"),
    reference=numpy_reference(_backward_reference),
    cases=_backward_cases,
    diagnose=diagnose_from(BACKWARD_MISTAKES[:2], _missing_key_rule("grads", ("dW1", "db1", "dW2", "db2")),
                           _bias_shape_rule(BACKWARD_MISTAKES[2].hint), _transposed_rule(
                               "transposed dW: dW1 is shaped like W1, (n_h, n_x): dW1 = 1/m np.dot(dZ1, X.T)")),
    mistakes=BACKWARD_MISTAKES,
    numeric=_backward_numeric,
)


# ----------------------------------------------------------------------------------------------
# update_parameters, predict, nn_model


def _update_reference(parameters, grads, learning_rate=1.2):
    params = {k: jnp.asarray(parameters[k]) for k in PARAM_KEYS}
    tx = optax.sgd(learning_rate)
    updates, _ = tx.update({k: grads[f"d{k}"] for k in PARAM_KEYS}, tx.init(params))
    return optax.apply_updates(params, updates)


def _update_cases(rng):
    cases = []
    for (name, params, X, Y), lr in zip(_net_cases(rng), (1.2, 0.5, 0.01)):
        grads = _backward_numpy(params, numpy_reference(_forward_jax)(X, params)[1], X, Y)
        cases.append(Case(f"{name}, learning_rate={lr}", (params, grads), {"learning_rate": lr}))
    return cases


UPDATE_MISTAKES = (
    Mistake("plus sign", lambda p, g, learning_rate=1.2: {k: p[k] + learning_rate * g["d" + k] for k in PARAM_KEYS},
            "gradient DESCENT: theta = theta - alpha * dJ/dtheta (minus)"),
    Mistake("fixed rate", lambda p, g, learning_rate=1.2: {k: p[k] - 1.2 * g["d" + k] for k in PARAM_KEYS},
            "use the learning_rate argument, not a fixed 1.2"),
    Mistake("weights only",
            lambda p, g, learning_rate=1.2: {k: p[k] - learning_rate * g["d" + k] for k in ("W1", "W2")},
            "missing parameters key 'b1': parameters must hold W1, b1, W2, b2"),
)

update_parameters = Exercise(
    name="planar.update_parameters",
    task=("Updates parameters using the gradient descent update rule theta = theta - alpha * dJ/dtheta: use "
          "(dW1, db1, dW2, db2) in order to update (W1, b1, W2, b2)."),
    signature="def update_parameters(parameters, grads, learning_rate = 1.2):",
    layout=("parameters -- {'W1', 'b1', 'W2', 'b2'}; grads -- {'dW1', 'db1', 'dW2', 'db2'}\n"
            "returns: parameters -- python dictionary containing the updated W1, b1, W2, b2"),
    reference=numpy_reference(_update_reference),
    cases=_update_cases,
    diagnose=diagnose_from(UPDATE_MISTAKES[:2], _missing_key_rule("parameters", PARAM_KEYS)),
    mistakes=UPDATE_MISTAKES,
)


def _predict_reference(parameters, X):
    return _forward_jax(X, parameters)[0] > 0.5


def _as_predictions(out):
    """Predictions as 0./1. floats: the assignment accepts booleans (A2 > 0.5) and rounded floats alike."""
    if isinstance(out, (dict, tuple, list)):
        return out
    a = np.asarray(out)
    return a.astype(np.float64) if a.dtype.kind in "biuf" else out


PREDICT_MISTAKES = (
    Mistake("probabilities", lambda p, X: forward_numpy(X, p)[0],
            "predictions are classes 0/1: threshold the probabilities, predictions = (A2 > 0.5)"),
    Mistake("threshold at 0", lambda p, X: forward_numpy(X, p)[0] > 0,
            "A2 is a probability: threshold it at 0.5, not 0"),
    Mistake("rounded Z2", lambda p, X: np.round(forward_numpy(X, p)[1]["Z2"]),
            "threshold the output A2 = sigmoid(Z2) at 0.5, not the pre-activation Z2"),
)

predict = Exercise(
    name="planar.predict",
    task="Using the learned parameters, predicts a class for each example in X: forward propagation, then A2 > 0.5.",
    signature="def predict(parameters, X):",
    layout=("parameters -- {'W1', 'b1', 'W2', 'b2'}; X -- input data of size (n_x, m)\n"
            "returns: predictions -- (1, m) vector of predictions of our model (red: 0 / blue: 1)"),
    reference=numpy_reference(_predict_reference),
    cases=lambda rng: [Case(name, (params, X)) for name, params, X, _ in _net_cases(rng)],
    project=_as_predictions,
    diagnose=diagnose_from(PREDICT_MISTAKES, project=_as_predictions),
    mistakes=PREDICT_MISTAKES,
)


def forward_numpy(X, parameters):
    """The forward pass in numpy (what the wrong solutions build on)."""
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = np.tanh(Z1)
    Z2 = np.dot(parameters["W2"], A1) + parameters["b2"]
    A2 = _sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


@functools.lru_cache(maxsize=1)
def flower_data() -> tuple[np.ndarray, np.ndarray]:
    """The assignment's flower data in its layout: ``X (2, 400)``, ``Y (1, 400)``."""
    x, y = flower()
    return x.T, y[None, :].astype(np.float64)


NN_ITERATIONS = 1000


@functools.partial(jax.jit, static_argnames=("n_h", "num_iterations"))
def _train(X, Y, key, n_h, num_iterations):
    init = initializers.get("course_normal")
    k1, k2 = jax.random.split(key)
    params = {"W1": init(k1, (n_h, X.shape[0]), X.dtype), "b1": jnp.zeros((n_h, 1), X.dtype),
              "W2": init(k2, (Y.shape[0], n_h), X.dtype), "b2": jnp.zeros((Y.shape[0], 1), X.dtype)}
    step = lambda _, p: jax.tree_util.tree_map(lambda w, g: w - 1.2 * g, p, jax.grad(_objective)(p, X, Y))
    return jax.lax.fori_loop(0, num_iterations, step, params)


@numpy_reference
def _nn_model_reference(X, Y, n_h, num_iterations=10000, print_cost=False):
    return _train(jnp.asarray(X), jnp.asarray(Y), jax.random.key(3), n_h, num_iterations)


def _nn_summary(params):
    """Shapes, and what training must achieve whatever the learner's random draw: biases moved from zero,
    hidden units that differ (random, not zero, initial weights), >= 80% training accuracy on the flower data."""
    if not isinstance(params, dict) or not all(k in params for k in PARAM_KEYS):
        return params
    X, Y = flower_data()
    try:
        A2 = forward_numpy(X, {k: np.asarray(params[k], float) for k in PARAM_KEYS})[0]
        accuracy = float(np.mean((A2 > 0.5) == Y))
    except Exception:
        accuracy = 0.0
    summary = {k: str(np.shape(params[k])) for k in PARAM_KEYS}
    summary["the biases moved from zero"] = bool(np.any(np.asarray(params["b1"]) != 0))
    W1 = np.asarray(params["W1"], float)
    summary["the hidden units differ"] = bool(W1.ndim == 2 and np.ptp(W1, axis=0).max(initial=0) > 1e-12)
    summary["trained: >= 80% accuracy on the flower data"] = bool(accuracy >= 0.8)
    return summary


def _nn_model_numpy(X, Y, n_h, num_iterations=10000, print_cost=False, *, init_scale=0.01, update=True, lr=1.2):
    rng = np.random.default_rng(3)
    params = {"W1": rng.normal(size=(n_h, X.shape[0])) * init_scale, "b1": np.zeros((n_h, 1)),
              "W2": rng.normal(size=(Y.shape[0], n_h)) * init_scale, "b2": np.zeros((Y.shape[0], 1))}
    for _ in range(num_iterations):
        _, cache = forward_numpy(X, params)
        grads = _backward_numpy(params, cache, X, Y)
        if update:
            params = {k: params[k] - lr * grads["d" + k] for k in PARAM_KEYS}
    return params


NN_MISTAKES = (
    Mistake("never updates", functools.partial(_nn_model_numpy, update=False),
            "the loop must update the parameters every iteration: parameters = update_parameters(parameters, grads)"),
    Mistake("zero init", functools.partial(_nn_model_numpy, init_scale=0.0),
            "with zero weights every hidden unit learns the same thing: initialize with initialize_parameters "
            "(randn * 0.01)"),
    Mistake("n_h ignored", lambda X, Y, n_h, num_iterations=10000, print_cost=False: _nn_model_numpy(
        X, Y, 4, num_iterations), "use the n_h argument for the hidden layer size (not a fixed 4)"),
)


def _nn_rule(case, expected, got):
    if not isinstance(got, dict) or set(expected) - set(got):
        return None
    n_h = case.args[2]
    if got["W1"] != f"({n_h}, 2)":
        return NN_MISTAKES[2].hint
    return None


nn_model = Exercise(
    name="planar.nn_model",
    task=("Build the neural network model: layer_sizes, initialize_parameters, then a loop of "
          "forward_propagation, compute_cost, backward_propagation and update_parameters (learning rate 1.2), "
          "in the right order; return the learnt parameters. (Checked: the shapes, and at least 80% training "
          f"accuracy on the flower data after num_iterations={NN_ITERATIONS}.)"),
    signature="def nn_model(X, Y, n_h, num_iterations = 10000, print_cost=False):",
    layout=("X -- dataset of shape (2, number of examples); Y -- labels of shape (1, number of examples)\n"
            "n_h -- size of the hidden layer; num_iterations -- number of iterations in gradient descent loop\n"
            "print_cost -- if True, print the cost every 1000 iterations\n"
            "returns: parameters -- {'W1', 'b1', 'W2', 'b2'} learnt by the model"),
    reference=_nn_model_reference,
    cases=lambda rng: [Case(f"the flower data, n_h={n_h}", flower_data() + (n_h,),
                            {"num_iterations": NN_ITERATIONS, "print_cost": False}) for n_h in (4, 5)],
    project=_nn_summary,
    diagnose=diagnose_from(NN_MISTAKES[:2], _nn_rule, project=_nn_summary),
    mistakes=NN_MISTAKES,
)

def learner_objective(forward_propagation, compute_cost, backward_propagation):
    """The learner's planar functions as ``loss_fn(parameters, (X, Y)) -> J``, differentiable in jax with
    the learner's ``backward_propagation`` as its gradient (:func:`fnnet.exercises.numpy_objective`).

    ``fnnet.diagnostics.check_grads(loss_fn, parameters, (X, Y))`` then compares the learner's
    backpropagation with finite differences of the learner's own forward pass and cost, and
    ``fnnet.optim.trajectory(lambda p: loss_fn(p, (X, Y)), parameters, optax.sgd(1.2), steps)`` trains the
    net with it (compare with :func:`reference_objective`, autodiff of fnnet's forward pass).
    """
    from fnnet.exercises.layers import numpy_objective

    def cost(parameters, batch):
        X, Y = batch
        return compute_cost(forward_propagation(X, parameters)[0], Y, parameters)

    def gradient(parameters, batch):
        X, Y = batch
        grads = backward_propagation(parameters, forward_propagation(X, parameters)[1], X, Y)
        return {k: grads["d" + k] for k in parameters}

    return numpy_objective(cost, gradient)


def reference_objective(parameters, batch):
    """fnnet's ``J(parameters, (X, Y))`` in the assignment's layout (jax; differentiate it with ``jax.grad``)."""
    X, Y = batch
    return _objective(parameters, X, Y)


EXERCISES = (layer_sizes, initialize_parameters, forward_propagation, compute_cost, backward_propagation,
             update_parameters, predict, nn_model)
