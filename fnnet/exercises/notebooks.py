"""The exercise notebooks, built from the catalogue: ``python -m fnnet.exercises.notebooks notebooks/``.

Each exercise is three cells: its task (markdown), the empty function from :func:`fnnet.exercises.template`
(cell metadata ``{"exercise": name}``) and ``exercises.check(name, function)`` (metadata ``{"check": name}``);
a last section runs the learner's code once it passes (fnnet's reference until then) and shows a plot,
written to ``$FNNET_NOTEBOOK_OUT`` (so tests/test_notebooks.py, which runs every notebook as committed,
finds its PNG).
tests/test_exercise_notebooks.py runs them with the reference solutions in the exercise cells and
asserts that every check passed, and that the committed notebooks are what this module writes.
"""
from __future__ import annotations

import sys
from pathlib import Path

from fnnet import exercises

SETUP = """import numpy as np

from fnnet import exercises


def sigmoid(z):  # the planar assignment's helper: "We can use the function sigmoid()"
    return 1 / (1 + np.exp(-z))"""

FINALE_SEED000 = [
    ("md", ("## Your net on the flower\n\nWith `nn_model` and `predict` passing their checks, this trains *your* "
           "network on the assignment's flower data and draws its decision boundary (until then, fnnet's reference "
           "does). The assignment trains 10,000 iterations; 2,000 show the petals.")),
    ("code", """import os
from pathlib import Path

from IPython.display import display

from fnnet import viz
from fnnet.exercises.planar import flower_data

OUT = Path(os.environ.get("FNNET_NOTEBOOK_OUT", "outputs/exercises_seed000"))
X, Y = flower_data()  # (2, 400), (1, 400)
mine = exercises.check("planar.nn_model", nn_model).passed and exercises.check("planar.predict", predict).passed
train, classify = (nn_model, predict) if mine else (exercises.get("planar.nn_model").reference,
                                                    exercises.get("planar.predict").reference)
parameters = train(X, Y, 4, num_iterations=2000)
accuracy = float(np.mean(np.asarray(classify(parameters, X)) == Y))
who = "your nn_model" if mine else "fnnet's reference nn_model (yours: not passing yet)"
print(f"{who}: {accuracy:.1%} training accuracy")
figure = viz.plot_decision_boundary(lambda points: np.asarray(classify(parameters, points.T)).ravel().astype(int),
                                  X.T, Y.ravel(), OUT / "nn_model_boundary.png", title=f"{who}: {accuracy:.0%}")
display(figure)  # a matplotlib Figure; the PNG is written too"""),
]

FINALE_SEED001 = [
    ("md", ("## Your gradient descent at work\n\nWith `gradient_descent` passing its check, this runs *your* loop "
           "(until then, fnnet's reference) on housing-like data and draws the MSE per iteration. On the real data "
           "(`fnnet.data.load_california_housing(data_dir, features=\"MedInc\")`, lr=0.01, 1000 iterations) the "
           "workshop prints (m, b) = (0.41893244701097204, 0.44612945637258383).")),
    ("code", """import os
from pathlib import Path

from IPython.display import display

from fnnet import viz

OUT = Path(os.environ.get("FNNET_NOTEBOOK_OUT", "outputs/exercises_seed001"))
rng = np.random.default_rng(0)
X = rng.uniform(0.5, 15.0, 500)  # incomes, as MedInc
y = 0.42 * X + 0.45 + rng.normal(scale=0.8, size=500)
mine = exercises.check("housing.gradient_descent", gradient_descent).passed
descend = gradient_descent if mine else exercises.get("housing.gradient_descent").reference
m, b, log, mse = descend(X, y, lr=0.01, iterations=100)
print(("your" if mine else "fnnet's reference") + f" gradient descent: m = {float(m):.4f}, b = {float(b):.4f}; "
      f"least squares: m, b = {np.polyfit(X, y, 1).round(4)}")
figure = viz.plot_curves({"MSE": mse}, OUT / "gradient_descent_mse.png", ylabel="mean squared error", start=1)
display(figure)  # a matplotlib Figure; the PNG is written too"""),
]

FINALE_SEED003 = [
    ("md", ("## Your layers inside fnnet\n\nWith the affine and ReLU pairs passing their checks, "
            "`exercises.numpy_layer` turns *your* numpy functions into fnnet layers: the forward pass calls your "
            "`*_forward` (`jax.pure_callback`), the gradient is your `*_backward` (`jax.custom_vjp`). "
            "`check_grads` compares your backward passes with finite differences of your forward passes, and "
            "`fnnet.fit` trains an affine-ReLU-affine net on the flower data with your backpropagation (until "
            "your functions pass, the references stand in).")),
    ("code", """import os
from pathlib import Path

import jax
import jax.numpy as jnp
from IPython.display import display

import fnnet
from fnnet import viz
from fnnet.data import flower
from fnnet.diagnostics import check_grads, model_objective
from fnnet.models import Sequential

OUT = Path(os.environ.get("FNNET_NOTEBOOK_OUT", "outputs/exercises_seed003"))
yours = {"affine": (affine_forward, affine_backward), "relu": (relu_forward, relu_backward)}
mine = all(exercises.check(f"cs231n.{kind}_{way}", fn).passed
           for kind, pair in yours.items() for way, fn in zip(("forward", "backward"), pair))
pairs = yours if mine else {kind: (exercises.get(f"cs231n.{kind}_forward").reference,
                                   exercises.get(f"cs231n.{kind}_backward").reference) for kind in yours}


def affine_init(units):  # He-normal weights (D, units), zero biases, as cs231n's layout has them
    return lambda key, x: {"w": jax.random.normal(key, (x.shape[-1], units)) * (2 / x.shape[-1]) ** 0.5,
                           "b": jnp.zeros(units)}


net = Sequential([exercises.numpy_layer(*pairs["affine"], init=affine_init(16), name="affine"),
                  exercises.numpy_layer(*pairs["relu"], name="relu"),
                  exercises.numpy_layer(*pairs["affine"], init=affine_init(1), name="affine")])
x, y = flower()
x, y = x.astype(np.float32), y.astype(np.float32)[:, None]
key = jax.random.key(0)
grads = check_grads(model_objective(net, "sigmoid_binary_cross_entropy"), net.init(key, x[:1]), (x, y))
state, _ = fnnet.fit(net, "sigmoid_binary_cross_entropy", fnnet.optim.optimizer("adam", 0.01), (x, y),
                     epochs=40, batch_size=50, key=key, verbose=0)
predict = lambda points: np.asarray(net.apply(state.params, points.astype(np.float32)) > 0).ravel().astype(int)
accuracy = float(np.mean(predict(x) == y.ravel()))
who = "your layers" if mine else "fnnet's reference layers (yours: not passing yet)"
print(f"{who}: gradient check {grads.verdict()}; {accuracy:.1%} training accuracy after fit")
figure = viz.plot_decision_boundary(predict, x, y.ravel(), OUT / "numpy_layers_boundary.png",
                                  title=f"{who}: {accuracy:.0%}")
display(figure)  # a matplotlib Figure; the PNG is written too"""),
]

NOTEBOOKS = {
    "exercises_seed000.ipynb": (
        ("# Learn by writing it: seed 000 (HSE linear models, deeplearning.ai planar data)\n\n"
        "The from-scratch functions of seed 000's two assignments, in their own layout: the HSE linear classifier "
        "(rows are samples, `X` is `[n_samples, 6]`) and the deeplearning.ai one-hidden-layer net (columns are "
        "examples, `X` is `(n_x, m)`, `W1` is `(n_h, n_x)`). Replace each `raise NotImplementedError` by your "
        "code, then run the check cell below it: `fnnet.exercises.check` runs your function on the seed's printed "
        "example and on random and edge cases, compares it with fnnet's reference and explains what differs."),
        [*exercises.names("hse"), *exercises.names("planar")],
        FINALE_SEED000,
    ),
    "exercises_seed001.ipynb": (
        ("# Learn by writing it: seed 001 (the workshop's gradient descent for y = m*x + b)\n\n"
        "The workshop derives the gradient of the mean squared error by hand and fits `y = m*x + b` on one "
        "feature of California housing. Write each function, then run the check cell below it."),
        exercises.names("housing"),
        FINALE_SEED001,
    ),
    "exercises_seed003.ipynb": (
        ("# Learn by writing it: seed 003 (the jhui article's cs231n layers)\n\n"
         "The jhui article builds its networks on cs231n's from-scratch layers: `affine_forward/backward`, "
         "`relu_forward/backward`, the softmax and SVM losses, dropout, batch normalization, naive convolution "
         "and max pooling, and the SGD-momentum / RMSprop / Adam rules, in cs231n's layout (`x` is `(N, D)` "
         "or `(N, C, H, W)`, forward passes return `(out, cache)`). Write each function, then run the check "
         "cell below it."),
        exercises.names("cs231n") if "cs231n" in exercises.courses() else [],
        FINALE_SEED003,
    ),
}


def build(title: str, names: list[str], finale: list = ()):
    """The notebook (an ``nbformat`` node) of the exercises ``names``, then the ``finale`` cells
    (``("md" | "code", source)``: what the learner's code does once it passes), with stable cell ids."""
    import nbformat

    cells = [nbformat.v4.new_markdown_cell(title), nbformat.v4.new_code_cell(SETUP)]
    for name in names:
        exercise = exercises.get(name)
        cells.append(nbformat.v4.new_markdown_cell(f"## `{name}`\n\n{exercise.task}\n\n```\n{exercise.layout}\n```"))
        cells.append(nbformat.v4.new_code_cell(exercises.template(name).rstrip(), metadata={"exercise": name}))
        cells.append(nbformat.v4.new_code_cell(f'exercises.check("{name}", {exercise.function})',
                                               metadata={"check": name}))
    for kind, source in finale:
        cells.append(nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source))
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i:03d}"
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}}
    return notebook


def write_all(folder: str | Path) -> list[Path]:
    """Writes every notebook of :data:`NOTEBOOKS` into ``folder``; returns their paths."""
    import nbformat

    paths = []
    for filename, spec in NOTEBOOKS.items():
        path = Path(folder) / filename
        nbformat.write(build(*spec), path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all(sys.argv[1] if len(sys.argv) > 1 else "notebooks"):
        print(written)
