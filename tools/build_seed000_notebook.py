"""Writes notebooks/seed000_assignments.ipynb (unexecuted) from the cells below.

    python tools/build_seed000_notebook.py

Edit the cells here and rebuild, so the notebook stays free of outputs and its cell ids stay stable.
"""
from __future__ import annotations

import nbformat
from notebook_cells import ROOT, build_notebook, write  # tools/ is on sys.path when this runs as a script

PATH = ROOT / "notebooks" / "seed000_assignments.ipynb"

CELLS = [
    ("md", """\
# Seed 000 with fnnet: linear models and optimizers, a one-hidden-layer net, a Keras-style MLP

This notebook retells seed 000, three assignments of the Coursera courses *Introduction to Deep Learning*
(Higher School of Economics) and *Neural Networks and Deep Learning* (deeplearning.ai), with the fnnet
library:

1. a linear classifier on quadratic features of 2-D points, trained by mini-batch SGD, SGD + momentum and
   RMSprop;
2. the planar "flower": logistic regression against a one-hidden-layer tanh network, and the hidden-layer
   size;
3. "Getting deeper with Keras": an MLP of three Dense(128, relu) + Dropout(0.5) layers on MNIST.

It runs in well under a minute on a CPU with its quick settings: generated 2-D data, fewer gradient-descent
iterations for the flower, and 2 epochs on `mnist_small` (5,000 real MNIST digits embedded in fnnet). The
full experiments are recipes: `fnnet run linear_quadratic`, `fnnet run planar` and
`fnnet run mnist_mlp --data-dir <folder with MNIST>`; set the constants below to the seed's values to run
them here."""),
    ("code", """\
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from IPython.display import Image, Markdown, display

import fnnet
from fnnet import models as M, optim, viz
from fnnet.data import circles, flower, load, scale_pixels
from fnnet.report import markdown_table
from recipes.linear_quadratic import DUMMY_EXPANDED, DUMMY_X
from recipes.planar import course_initial_params

FLOWER_ITERATIONS, SWEEP_ITERATIONS = 2_000, 1_000  # the course: 10,000 and 5,000
SWEEP_SIZES = (1, 3, 5, 20)                         # the course: 1, 2, 3, 4, 5, 20, 50
MNIST_EPOCHS = 2                                    # the course: 13, on the full MNIST
OUT = Path(os.environ.get("FNNET_NOTEBOOK_OUT", "outputs/seed000_notebook"))
KEY = jax.random.key(0)
show = lambda shown: display(shown if isinstance(shown, viz.Figure) else Image(filename=str(shown)))"""),
    ("md", """\
## 1. Linear models and optimization

### Data and quadratic features

Two classes of 2-D points split by a circle: no straight line separates them. In the features
`expand(x) = (x0, x1, x0², x1², x0·x1, 1)` the circle `x0² + x1² = r²` is a hyperplane, so a linear model
on them can. `fnnet.models.expand` passes the assignment's own test:"""),
    ("code", """\
x, y = circles(jax.random.fold_in(KEY, 1), 400, noise=0.1)
show(viz.plot_embedding(x, y, OUT / "circles.png", class_names=["outside", "inside"], title="two classes"))
with jax.enable_x64(True):
    expanded = np.asarray(M.expand(DUMMY_X))
print(expanded)
print("max |expand(dummy_X) - dummy_expanded_ans| =", np.abs(expanded - DUMMY_EXPANDED).max())"""),
    ("md", """\
### Logistic regression on the features

`quadratic_logistic_regression()` is `expand` followed by one Dense unit without bias (the constant feature's
weight is the bias): six weights, a sigmoid on the logit inside the loss. The assignment starts from
`w = [0, 0, 0, 0, 0, 1]`."""),
    ("code", """\
model = M.quadratic_logistic_regression()
M.summary(model, x[:1])
w0 = {"dense_0": {"kernel": jnp.array([0, 0, 0, 0, 0, 1.0])[:, None]}}
print(fnnet.evaluate(model, w0, x, y, loss="sigmoid_binary_cross_entropy", metrics=["accuracy"]))"""),
    ("md", """\
### Mini-batch SGD, momentum and RMSprop

The assignment takes 100 steps on random batches of 4 with `eta = 0.05` and records the loss on the *whole*
data before every step. Its three update rules are optax chains (checked step for step against the
assignment's numpy in `tests/test_optim.py`):

* SGD: `w -= eta * dw`
* momentum: `nu = alpha * nu + eta * dw; w -= nu` with `alpha = 0.9`
* RMSprop: `G = a * G + (1 - a) * dw**2; w -= eta * dw / sqrt(G + eps)` with `a = 0.9`, `eps = 1e-8`
  (eps inside the root, as `optax.scale_by_rms` puts it by default).

`fnnet.StepLog(x, y)` logs the full-data loss before the first step and after every step, inside the
compiled loop; 100 steps of batch 4 are one pass over the 400 points (`TrainOptions(max_steps=100)`). The
same `key` gives all three the same batches."""),
    ("code", """\
optimizers = {
    "SGD": optim.optimizer("sgd", 0.05),
    "momentum": optim.optimizer("momentum", 0.05, momentum=0.9),
    "RMSprop": optim.optimizer("rmsprop", 0.05, decay=0.9, eps=1e-8),
}
curves, states = {}, {}
for name, tx in optimizers.items():
    initial = fnnet.create_train_state(model, tx, KEY, x[:1], params=w0)
    log = fnnet.StepLog(x, y)
    states[name], _ = fnnet.fit(
        model, "sigmoid_binary_cross_entropy", tx, (x, y), batch_size=4, epochs=1, callbacks=[log],
        initial_state=initial, key=KEY, verbose=0, options=fnnet.TrainOptions(max_steps=100),
    )
    curves[name] = log.values["loss"]
    print(f"{name}: full-data loss {curves[name][0]:.4f} -> {curves[name][-1]:.4f} after 100 steps")
show(viz.plot_curves(curves, OUT / "optimizers.png", xlabel="iteration", ylabel="full-data cross-entropy"))"""),
    ("md", """\
Momentum and RMSprop fall faster than plain SGD, as the assignment says. The decision surfaces after the
100 steps (`fnnet run linear_quadratic` repeats the comparison over 20 data orders):"""),
    ("code", """\
fig, axes = viz.figure_grid(3, ncols=3)
for ax, (name, state) in zip(axes, states.items()):
    predict = lambda points, p=state.params: np.asarray(model.apply(p, points) > 0).astype(int).ravel()
    viz.plot_decision_boundary(predict, x, y, None, ax=ax, title=f"{name}: loss {curves[name][-1]:.3f}")
show(viz.save_figure(fig, OUT / "decision_surfaces.png"))"""),
    ("md", """\
## 2. Planar data classification with one hidden layer

The "flower": 400 points in two classes (`flower(seed=1)` draws exactly the course's data). A linear
classifier cannot separate the petals; the course's `LogisticRegressionCV` gets 47% training accuracy."""),
    ("code", """\
fx, fy = flower(seed=1)
fx = fx.astype(np.float32)
logreg = M.mlp([1], flatten=False, name="logistic_regression")
lr_state, _ = fnnet.fit(logreg, "sigmoid_binary_cross_entropy", optim.optimizer("adam", 0.05), (fx, fy),
                        batch_size=len(fx), epochs=1, key=KEY, verbose=0,
                        options=fnnet.TrainOptions(steps_per_epoch=300))
lr_accuracy = fnnet.evaluate(logreg, lr_state, fx, fy, loss="sigmoid_binary_cross_entropy", metrics=["accuracy"])
print(f"logistic regression, training accuracy {lr_accuracy['accuracy']:.1%} (course: 47%)")
labels = lambda m, params: (lambda points: np.asarray(m.apply(params, points) > 0).astype(int).ravel())
show(viz.plot_decision_boundary(labels(logreg, lr_state.params), fx, fy, OUT / "flower_logreg.png",
                                title="logistic regression"))"""),
    ("md", """\
### The network

`planar_net(4)`: Dense(4, tanh) then one output unit (its sigmoid is in the loss), weights `randn * 0.01`
(here the course's own draws, `np.random.seed(2)`), zero biases, full-batch gradient descent with learning
rate 1.2. `fit` runs the iterations as one compiled epoch of full-batch steps, and `StepLog` records the cost
and accuracy on all 400 points every 1,000 iterations, from iteration 0.
(The recipe `planar` computes in float64 like the course's numpy, from the course's own seeded data and
weights: its cost matches the course code's printed digits up to 7,000 iterations. After 9,000 it measures
0.218551 where the seed printed 0.218607: past 7,000 iterations the learning rate 1.2 makes the cost
oscillate, and rounding differences of 1e-16 grow into the 4th digit (numpy transcriptions of the course's
code run on the same machine give 0.218554 to 0.218560). Nothing random differs; the seed's number is its
own machine's arithmetic.)"""),
    ("code", """\
def train_planar(n_h, iterations):
    net, tx = M.planar_net(n_h), optim.optimizer("sgd", 1.2)
    initial = fnnet.create_train_state(net, tx, KEY, fx[:1], params=course_initial_params(n_h))
    log = fnnet.StepLog(fx, fy, every=1000)
    state, _ = fnnet.fit(net, "sigmoid_binary_cross_entropy", tx, (fx, fy), batch_size=len(fx), epochs=1,
                         metrics=["accuracy"], initial_state=initial, key=KEY, verbose=0, callbacks=[log],
                         options=fnnet.TrainOptions(steps_per_epoch=iterations))
    return net, state, log

net, state, log = train_planar(4, FLOWER_ITERATIONS)
for step, cost in zip(log.steps, log.values["loss"]):
    print(f"Cost after iteration {step}: {cost:.6f}")
print(f"training accuracy {log.values['accuracy'][-1]:.1%} (course: about 90%)")
show(viz.plot_decision_boundary(labels(net, state.params), fx, fy, OUT / "flower_net.png",
                                title="hidden layer of size 4"))"""),
    ("md", """\
### Hidden-layer size

Larger hidden layers fit the training set better; the course finds n_h = 5 about right and the largest
ones starting to overfit. The table below is training accuracy, which cannot show overfitting: the recipe
`planar` also trains each size on 300 of the points and scores the 100 held out, where n_h = 20 and 50
fit their training points best (92%) and score lowest on the held-out ones (83-84%, against 88-90% for
n_h = 3 to 5; one point is 1%)."""),
    ("code", """\
fig, axes = viz.figure_grid(len(SWEEP_SIZES))
sweep = {}
for ax, n_h in zip(axes, SWEEP_SIZES):
    net_h, state_h, log_h = train_planar(n_h, SWEEP_ITERATIONS)
    sweep[n_h] = log_h.values["accuracy"][-1]
    viz.plot_decision_boundary(labels(net_h, state_h.params), fx, fy, None, ax=ax, title=f"n_h = {n_h}: {sweep[n_h]:.1%}")
show(viz.save_figure(fig, OUT / "hidden_sizes.png"))
display(Markdown(markdown_table([{"hidden units": n, "training accuracy": f"{a:.1%}"} for n, a in sweep.items()])))"""),
    ("md", """\
## 3. Getting deeper with Keras (here: with fnnet)

The assignment's Keras model: 28x28 -> Flatten -> 3 x [Dense(128), relu, Dropout(0.5)] -> Dense(10), Adam,
categorical cross-entropy, validated on the last images of the training set. fnnet's builder ends in logits
(the softmax is in the loss) and `summary` prints the Keras-style table. With 13 epochs on the full MNIST the
course gets more than 97.5% validation accuracy (`fnnet run mnist_mlp --data-dir ...`, see `RESULTS.md`);
here 2 epochs on `mnist_small`."""),
    ("code", """\
data = load("mnist_small")
images, labels_all = scale_pixels(data.x_train), data.y_train
train, validation = (images[:-1000], labels_all[:-1000]), (images[-1000:], labels_all[-1000:])
mlp = M.keras_mnist_mlp()
M.summary(mlp, train[0][:1])
mlp_state, mlp_history = fnnet.fit(mlp, "softmax_cross_entropy", optim.optimizer("adam", 1e-3), train,
                                   epochs=MNIST_EPOCHS, batch_size=32, validation_data=validation,
                                   metrics=["accuracy"], key=KEY, verbose=1)
test = fnnet.evaluate(mlp, mlp_state, scale_pixels(data.x_test), data.y_test, loss="softmax_cross_entropy",
                      metrics=["accuracy"])
print(f"test accuracy {test['accuracy']:.2%} on {len(data.x_test):,} test images")
show(viz.plot_history(mlp_history, OUT / "mnist_mlp_history.png", metrics=["loss", "accuracy"]))"""),
    ("md", """\
The first hidden layer's weights, one 28x28 image per unit: dropout spreads what each unit looks for."""),
    ("code", """\
kernel = np.asarray(mlp_state.params["dense_0"]["kernel"])
show(viz.plot_image_grid(kernel.T.reshape(-1, 28, 28)[:30], OUT / "mnist_first_layer.png", ncols=10))"""),
]


def build() -> nbformat.NotebookNode:
    return build_notebook(CELLS, "seed000")


if __name__ == "__main__":
    write(build(), PATH)
