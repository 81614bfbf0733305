"""Seed 000, part 2 (deeplearning.ai "Planar data classification with one hidden layer") in the course's
numpy: ``load_planar_dataset`` (the flower, ``np.random.seed(1)``), ``initialize_parameters``
(``np.random.seed(2)``, ``randn * 0.01``, zero biases), tanh hidden layer, sigmoid output, cross-entropy
cost, the six backpropagation equations, gradient descent with learning rate 1.2, ``nn_model(X, Y, n_h=4,
num_iterations=10000)``: the cost after iteration 9000 (the seed prints 0.218607) and the training
accuracy; then the course's hidden-size sweep n_h in (1, 2, 3, 4, 5, 20, 50), ``num_iterations=5000``.
The seed's text gives the function signatures and results; the bodies are the course's.

``--quick``: the settings of ``fnnet run planar --quick`` (1,000 iterations; sweep (1, 4), 500 iterations).

Usage: python tools/seed_planar.py [--quick]
"""
import time

import numpy as np
from seed_common import parser, report


def load_planar_dataset():
    np.random.seed(1)
    m = 400
    N = int(m / 2)
    D = 2
    X = np.zeros((m, D))
    Y = np.zeros((m, 1), dtype='uint8')
    a = 4
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + np.random.randn(N) * 0.2
        r = a * np.sin(4 * t) + np.random.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def layer_sizes(X, Y):
    return X.shape[0], 4, Y.shape[0]


def initialize_parameters(n_x, n_h, n_y):
    np.random.seed(2)
    W1 = np.random.randn(n_h, n_x) * 0.01
    b1 = np.zeros((n_h, 1))
    W2 = np.random.randn(n_y, n_h) * 0.01
    b2 = np.zeros((n_y, 1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def forward_propagation(X, parameters):
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = np.tanh(Z1)
    Z2 = np.dot(parameters["W2"], A1) + parameters["b2"]
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def compute_cost(A2, Y, parameters):
    m = Y.shape[1]
    logprobs = np.multiply(np.log(A2), Y) + np.multiply((1 - Y), np.log(1 - A2))
    return float(np.squeeze(- np.sum(logprobs) / m))


def backward_propagation(parameters, cache, X, Y):
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(parameters["W2"].T, dZ2) * (1 - np.power(A1, 2))
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def update_parameters(parameters, grads, learning_rate=1.2):
    return {name: parameters[name] - learning_rate * grads["d" + name] for name in ("W1", "b1", "W2", "b2")}


def nn_model(X, Y, n_h, num_iterations=10000, print_cost=False):
    np.random.seed(3)
    n_x, n_y = layer_sizes(X, Y)[0], layer_sizes(X, Y)[2]
    parameters = initialize_parameters(n_x, n_h, n_y)
    costs = {}
    for i in range(0, num_iterations):
        A2, cache = forward_propagation(X, parameters)
        cost = compute_cost(A2, Y, parameters)
        grads = backward_propagation(parameters, cache, X, Y)
        parameters = update_parameters(parameters, grads)
        if i % 1000 == 0 or i == num_iterations - 1:  # the course prints every 1000; the last one too
            costs[i] = cost
    return parameters, costs


def predict(parameters, X):
    A2, cache = forward_propagation(X, parameters)
    return A2 > 0.5


def accuracy(parameters, X, Y):
    predictions = predict(parameters, X)
    return ((np.dot(Y, predictions.T) + np.dot(1 - Y, 1 - predictions.T)) / float(Y.size) * 100).item()


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    start = time.perf_counter()
    iterations, sizes, sweep_iterations = (1000, (1, 4), 500) if args.quick else (10000, (1, 2, 3, 4, 5, 20, 50), 5000)
    X, Y = load_planar_dataset()
    parameters, costs = nn_model(X, Y, n_h=4, num_iterations=iterations)
    sweep = {}
    for n_h in sizes:
        p, _ = nn_model(X, Y, n_h, num_iterations=sweep_iterations)
        sweep[n_h] = round(accuracy(p, X, Y), 2)
    at = max(i for i in costs if i % 1000 == 0)
    result = {f"cost_after_iteration_{at}": round(costs[at], 6), "final_cost": round(costs[iterations - 1], 6), "accuracy_n_h_4": round(accuracy(parameters, X, Y), 2),
              "sweep_train_accuracy": sweep}
    report("seed_planar", start, f"n_h 4, {iterations} iterations; sweep {list(sizes)}, {sweep_iterations} iterations",
           result)


if __name__ == "__main__":
    main()
