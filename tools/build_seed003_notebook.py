"""Writes notebooks/seed003_jhui.ipynb (unexecuted) from the cells below.

    python tools/build_seed003_notebook.py

Edit the cells here and rebuild, so the notebook stays free of outputs and its cell ids stay stable.
"""
from __future__ import annotations

import nbformat
from notebook_cells import ROOT, build_notebook, write  # tools/ is on sys.path when this runs as a script

PATH = ROOT / "notebooks" / "seed003_jhui.ipynb"

CELLS = [
    ("md", """\
# Seed 003 with fnnet: deep learning without going down the rabbit holes (part 2)

This notebook retells seed 003, Jonathan Hui's *Deep learning without going down the rabbit holes, part 2*,
with the fnnet library and in the article's order:

1. **overfitting and regularization**: polynomials fitted to a noisy line, more data, L2;
2. **classification and its costs**: the softmax, SVM and entropy examples worked out, cross-entropy vs MSE;
3. **the fully connected net on CIFAR-10** and **the TensorFlow MLP on MNIST**;
4. **weight initialization**: why the weights' scale must shrink with the number of inputs;
5. **training parameters**: weight decay, learning-rate decay, momentum, Nesterov, Adagrad, RMSprop, Adam;
6. **feature scaling and whitening**, **batch normalization**, **gradient clipping**, **dropout**;
7. **troubleshooting**, the article's checklist as tools: a gradient check that catches a wrong backward pass,
   per-layer gradient norms and update/weight ratios during training, dead and saturated units, histograms,
   overfitting a tiny set, a learning-rate range test, the confusion matrix and the misclassified digits;
8. **grid search**, **data augmentation**, **model ensembles**, **reproducible results**, and the
   **maximum-likelihood** view of the cross-entropy.

It needs no files and runs in about a minute on a CPU: with `DATA_DIR = None` MNIST is `mnist_small` (5,000
real digits embedded in fnnet), every training run is short, and the CIFAR-10 network, whose data is not
among the offline sets, is shown but not trained. Point `DATA_DIR` at a folder holding `mnist/` (and
`cifar10/`) to run the recipes at the article's settings on the real data; the full experiments are also
recipes: `fnnet run polynomial_overfit`, `jhui_mlp`, `cifar10_fc`, `init_scale`, `optimizers`,
`grid_search`, `ensemble` (numbers in `RESULTS.md`)."""),
    ("code", """\
import functools
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from IPython.display import Image, Markdown, display

import fnnet
from fnnet import diagnostics as D, initializers, losses, metrics, models as M, optim, viz
from fnnet.data import Augment, Standardizer, Whitener, load_mnist, load_mnist_small, save_augmentation_grid, scale_pixels
from fnnet.ensemble import Snapshots, evaluate_ensemble, fit_ensemble
from fnnet.report import markdown_table
from fnnet.search import grid_search, log_axis
from recipes import cifar10_fc, init_scale, jhui_mlp, polynomial_overfit
from recipes import optimizers as optimizer_recipe

DATA_DIR = None  # a folder with the real data ("/path/to/data"); None: mnist_small and synthetic stand-ins
QUICK = DATA_DIR is None  # the recipes' quick settings; with DATA_DIR, the article's settings
OUT = Path(os.environ.get("FNNET_NOTEBOOK_OUT", "outputs/seed003_notebook"))
KEY = jax.random.key(3)
key = lambda i: jax.random.fold_in(KEY, i)  # one independent key per experiment
show = lambda shown: display(shown if isinstance(shown, viz.Figure) else Image(filename=str(shown)))
quick = lambda recipe: recipe.QUICK if QUICK else {}  # a recipe's quick settings, or none"""),
    ("md", """\
## 1. Overfitting and regularization

The article fits a few points of a noisy line. `y = x` misses some of them; the android Pieter's 9th-order
polynomial goes through all of them. Which is right? Only new data can tell: a model that memorizes its
training data but predicts badly has **overfitted**. So the data is split: a training set to fit, a
**validation** set to choose hyper-parameters and models, and a **test** set used only as a final check.

The article then observes that an order-5 polynomial is less accurate than order 3 and needs more iterations,
that doubling the data brings the fit closer to a line, and that adding an **L2 penalty** `λ‖W‖` to the MSE
(with λ = 1, "after many repetitions of trial") gives better predictions without more data.

The recipe `polynomial_overfit` does exactly this with `fnnet.data.noisy_line` (points `y = x + N(0, 1)` on
[0, 20]) and `fnnet.models.polynomial_regression(order, l2=λ)`, trained full-batch with Adam through `fit`.
It fits each order without L2, with the article's λ = 1 and with a λ chosen on a separate validation draw,
and measures the MSE on fresh test points and how far the curve strays from the true line `y = x`."""),
    ("code", """\
poly = polynomial_overfit.run(polynomial_overfit.Config(**quick(polynomial_overfit)), key=key(1), out_dir=OUT / "polynomial")
show(poly["plots"][0])
show(poly["plots"][1])
display(Markdown(markdown_table(poly["rows"])))"""),
    ("md", """\
**λ depends on the units.** The polynomial is written in powers of `x / 20` (so gradient descent can train
it at all) and `y` runs up to about 20; in these units the article's λ = 1 outweighs the data and flattens
even the straight line (right panel), while the λ picked on validation data keeps the line and tames the
high orders. The article's remark applies: λ is found by trial and error, on validation data, never on
the test set.

## 2. Classification: scores, softmax, SVM, entropy

A network computes one **score** (logit) per class; a classifier turns scores into a decision. The article's
school bus has scores (3.2, 0.8, 0) for (bus, truck, airplane). The **softmax** `exp(s_i) / Σ exp(s_c)` gives
probabilities; subtracting the largest score first changes nothing but avoids overflow (`fnnet.losses.softmax`
is `jax.nn.softmax`, which does that). The logarithm of a softmax probability is the score minus a
constant, which is why scores are called logits. The binary case is the **sigmoid** of one score."""),
    ("code", """\
scores = jnp.array([3.2, 0.8, 0.0])  # bus, truck, airplane
p = losses.softmax(scores)
print("softmax(3.2, 0.8, 0)         =", np.asarray(p).round(8), "(the article: 0.88379809 0.08017635 0.03602556)")
print("softmax(scores - max score)  =", np.asarray(losses.softmax(scores - scores.max())).round(8))
print("log p - score, per class     =", np.asarray(jnp.log(p) - scores).round(6), "(one constant: scores are logits)")
print("sigmoid(score) for scores -5, 0, 5:", np.asarray(jax.nn.sigmoid(jnp.array([-5.0, 0.0, 5.0]))).round(4))"""),
    ("md", """\
The **SVM (hinge) loss** adds `max(0, s_j - s_y + 1)` over the wrong classes `j`: only predictions that are
wrong or within the margin of 1 cost anything. The article's example: scores (8, 14, 9.5, 10), true class 4.
`fnnet.losses.multiclass_hinge` is this (Weston–Watkins) form; optax's `multiclass_hinge_loss` is the
Crammer–Singer form, which charges only the worst wrong class, and gives a different number here."""),
    ("code", """\
svm_scores, true_class = jnp.array([[8.0, 14.0, 9.5, 10.0]]), jnp.array([3])  # class 4 is index 3
print("multiclass_hinge                 =", float(losses.multiclass_hinge(svm_scores, true_class)), "(the article: 5.5)")
print("optax.multiclass_hinge_loss (C&S) =", float(optax.losses.multiclass_hinge_loss(svm_scores, true_class)[0]))"""),
    ("md", """\
**Entropy** `H(y) = -Σ y_i log y_i` is the fewest bits per symbol a code can use: for "a", "b", "c" with
probabilities (.25, .25, .5), the code c → 0, a → 10, b → 11 achieves it. **Cross-entropy** `H(y, ŷ)` is the
bits needed when the code is built for the wrong distribution `ŷ`; it is never below the entropy, and the
**KL divergence** `H(y, ŷ) - H(y)` is the extra. For a one-hot label the cross-entropy is `-log ŷ_true`: the
bus's (1, 0, 0) against the prediction (0.88, 0.08, 0.04). `fnnet.losses.entropy`, `cross_entropy` and
`kl_divergence` work on probability vectors in bits; the training loss `softmax_cross_entropy` takes
logits and works in nats."""),
    ("code", """\
abc = jnp.array([0.25, 0.25, 0.5])
code_lengths = np.array([2, 2, 1])  # a -> 10, b -> 11, c -> 0
print(f"H(.25, .25, .5) = {float(losses.entropy(abc)):.4f} bits; the code's mean length = {float(abc @ code_lengths):.4f} bits")
uniform = jnp.full(3, 1 / 3)
print(f"coding it with the code for (1/3, 1/3, 1/3): cross-entropy {float(losses.cross_entropy(abc, uniform)):.4f} bits, "
      f"KL {float(losses.kl_divergence(abc, uniform)):.4f} bits")
bus, predicted = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.88, 0.08, 0.04])
print(f"H(bus, prediction) = {float(losses.cross_entropy(bus, predicted)):.4f} bits = -log2(0.88) = {-np.log2(0.88):.4f}; "
      f"KL = {float(losses.kl_divergence(bus, predicted)):.4f} (the entropy of a one-hot label is 0)")
print(f"softmax_cross_entropy(scores, bus) = {float(losses.softmax_cross_entropy(scores[None], jnp.array([0]))):.4f} nats "
      f"= -ln p_bus = {-np.log(float(p[0])):.4f}")"""),
    ("md", """\
**Choice of cost function.** A sigmoid output that is confidently wrong sits where the sigmoid is flat. With
the MSE the gradient that reaches the score carries the sigmoid's small slope, so the node learns slowly;
the cross-entropy's gradient with respect to the score is `σ(s) - y`, as large as the error. Here is the
gradient of both losses with respect to the score when the true label is 1:"""),
    ("code", """\
def gradient_at(loss, s):
    return float(jax.grad(lambda z: loss(z))(s))

rows = [{"score s": s, "σ(s)": f"{float(jax.nn.sigmoid(s)):.4f}",
         "d MSE / ds": f"{gradient_at(lambda z: losses.mse(jax.nn.sigmoid(z)[None], jnp.ones(1)), s):.5f}",
         "d cross-entropy / ds": f"{gradient_at(lambda z: losses.sigmoid_binary_cross_entropy(z[None], jnp.ones(1)), s):.5f}"}
        for s in (-6.0, -2.0, 0.0, 2.0)]
display(Markdown(markdown_table(rows)))"""),
    ("md", """\
## 3. The fully connected network on CIFAR-10

The article's `FullyConnectedNet([100, 50, 25], weight_scale=5e-2)` (from the cs231n assignment): relu
hidden layers of 100, 50 and 25 units, weights `randn * 5e-2`, softmax cross-entropy, Adam, batch 200,
10 epochs; "50+% accuracy, far better than a random guess (10%)". `fnnet.models.jhui_fc_net` builds it; the
recipe `cifar10_fc` follows the cs231n data protocol (mean image subtracted, 1,000 validation images, the
parameters of the best validation epoch kept).

CIFAR-10 is not among the offline data here: the cell shows the model and trains it only when the data is
found; otherwise it says what is missing. (`fnnet run cifar10_fc --quick --set synthetic=true` runs the
pipeline on a labelled synthetic stand-in, whose accuracy says nothing about CIFAR-10.)"""),
    ("code", """\
M.summary(M.jhui_fc_net((100, 50, 25), weight_scale=5e-2), np.zeros((1, 32, 32, 3), np.float32))
fc = cifar10_fc.run(cifar10_fc.Config(**quick(cifar10_fc)), key=key(2), data_dir=DATA_DIR, out_dir=OUT / "cifar10_fc",
                    verbose=False)
print(f"{fc['rows'][0]['experiment']}: {fc['rows'][0]['fnnet']} (the article: {fc['rows'][0]['seed']})")
for plot in fc["plots"]:
    show(plot)"""),
    ("md", """\
## 4. The TensorFlow MLP on MNIST

The article's TensorFlow script: 784 → 256 → 100 → 10 with relu, weights from `tf.truncated_normal` with
standard deviation `sqrt(2 / fan_in)`, the loss `mean(softmax cross-entropy + λ (l2_loss(W1) + l2_loss(W2) +
l2_loss(W3)))` with λ = 5e-5, Adam 1e-3, 10,000 iterations of batches of 100; it prints 0.9816.
`fnnet.models.jhui_mnist_mlp(reg=5e-5)` is that model (the `tf_truncated_normal` initializer is TF1's, cut
at 2σ and not rescaled; `tf.nn.l2_loss` is `Σw²/2`). The recipe `jhui_mlp` trains it like
`input_data.read_data_sets` (the first training images are the validation set); its quick settings train
a few passes over `mnist_small`."""),
    ("code", """\
mnist_run = jhui_mlp.run(jhui_mlp.Config(**quick(jhui_mlp)), key=key(3), data_dir=DATA_DIR, out_dir=OUT / "jhui_mlp")
show(mnist_run["plots"][0])
show(mnist_run["plots"][1])"""),
    ("md", """\
The first layer's weight images: each hidden unit's 784 weights, shown as a 28x28 picture of what it looks
for.

## 5. Weight initialization

All-zero weights make every unit compute the same thing and learn the same thing; the weights must be
random. But how large? The article draws 20,000 weights from N(0, 1), then feeds one unit with 1000 inputs,
half of them 1, and finds the output's variance jumps to about 500 (it printed 497.6): the variance of
`Σ w_i x_i` is `Σ x_i² · Var(w)`, so it grows with the number of inputs and pushes the activations into their
flat, saturated regions. Scaling the weights by `sqrt(1/n)` (LeCun) keeps it at the scale of the inputs;
`sqrt(2/n)` (He, the article's `randn(n) * sqrt(2.0/n)`) makes up for relu zeroing half of its inputs. The recipe `init_scale`'s `unit_outputs` repeats the demo: the unit's
output for many independent draws of its weights."""),
    ("code", """\
init_config = init_scale.Config(**quick(init_scale))
outputs = {name: init_scale.unit_outputs(init, jax.random.fold_in(key(4), i), init_config)
           for i, (name, init) in enumerate(init_scale.UNIT_INITS.items())}
for name, z in outputs.items():
    print(f"weights {name:18s}: var(w·x) over {len(z):,} draws = {z.var():8.4f}")
print("(the article, N(0, 1) weights: 497.6)")
show(viz.plot_histograms({f"{name}: var {z.var():.4g}": z for name, z in outputs.items()}, OUT / "unit_outputs.png",
                         ncols=3, xlabel="z = w·x", title=f"one unit, {init_config.n_inputs} inputs, half of them 1"))"""),
    ("md", """\
The same through a deep net: `layer_activations` sends a batch of N(0, 1) inputs through layers of relu or
tanh units (zero biases), under four initializations, and the plots show the standard deviation of each
layer's outputs. A flat line keeps the signal's scale; a falling one loses it layer after layer (and the
gradients with it), a rising one explodes. For tanh a standard deviation near 1 means most units sit in the
flat, saturated ends."""),
    ("code", """\
for activation in ("relu", "tanh"):
    stds = {name: [float(a.std()) for a in init_scale.layer_activations(activation, init, jax.random.fold_in(key(5), j),
                                                                         init_config)]
            for j, (name, init) in enumerate(init_scale.DEEP_INITS.items())}
    show(viz.plot_curves(stds, OUT / f"activation_std_{activation}.png", x=np.arange(1, init_config.depth + 1), logy=True,
                         xlabel="layer", ylabel="std of the layer's outputs",
                         title=f"{init_config.depth} x Dense({init_config.width}, {activation})"))"""),
    ("md", """\
`fnnet.initializers` names the usual choices. The variance each one gives a 784x256 kernel, times the fan-in
(He: 2, LeCun: 1; TF1's truncated normal, which the article's script uses, is cut at ±2σ without
rescaling and so gives less than 2):"""),
    ("code", """\
fan_in, fan_out = 784, 256
rows = []
for name in ("lecun_normal", "he_normal", "he_truncated_normal", "tf_truncated_normal", "glorot_normal"):
    w = initializers.get(name)(key(21), (fan_in, fan_out), jnp.float32)
    rows.append({"initializer": name, "Var(W) · fan_in": f"{float(w.var()) * fan_in:.3f}"})
display(Markdown(markdown_table(rows)))"""),
    ("md", """\
## 6. Training parameters

**Weight decay.** Adding `λ/2 ‖W‖²` to the cost adds `λW` to the gradient, so every step also shrinks the
weights: `w ← w - α ∂J/∂w - αλw`. `fnnet.optim.optimizer(..., l2=λ)` puts exactly this coupled term in front of
the optimizer (on the kernels only); one SGD step on a made-up gradient shows it:"""),
    ("code", """\
w = {"dense_0": {"kernel": jnp.array([1.0, -2.0]), "bias": jnp.array([0.5])}}
g = {"dense_0": {"kernel": jnp.array([0.1, 0.1]), "bias": jnp.array([0.1])}}
alpha, lam = 0.1, 0.5
sgd_l2 = optim.optimizer("sgd", alpha, l2=lam)
decayed, _ = sgd_l2.update(g, sgd_l2.init(w), w)
print("the optimizer's step, kernel:", np.asarray(decayed["dense_0"]["kernel"]), " bias:", np.asarray(decayed["dense_0"]["bias"]))
print("-alpha * (g + lam * w):      ", np.asarray(-alpha * (g["dense_0"]["kernel"] + lam * w["dense_0"]["kernel"])),
      " -alpha * g for the bias (not decayed):", np.asarray(-alpha * g["dense_0"]["bias"]))"""),
    ("md", """\
**Learning-rate decay.** The article keeps the rate for 10,000 iterations, then multiplies it by 0.95 every
20,000: `fnnet.optim.step_decay` is that optax schedule (pass it as the learning rate of any optimizer)."""),
    ("code", """\
schedule = optim.step_decay(1e-3, factor=0.95, every=20_000, start=10_000)
for step in (0, 29_999, 30_000, 49_999, 50_000, 70_000):
    print(f"step {step:6,d}: learning rate {float(schedule(step)):.6g}")
steps = np.arange(0, 200_001, 500)
show(viz.plot_curves({"step_decay(1e-3)": np.asarray(jax.vmap(schedule)(steps))}, OUT / "step_decay.png",
                     x=steps / 1000, xlabel="iteration (thousands)", ylabel="learning rate",
                     title="x0.95 every 20,000 iterations after 10,000"))"""),
    ("md", """\
**Momentum, Nesterov, Adagrad, RMSprop, Adam.** The article's update rules are optax chains in
`fnnet.optim.optimizer(name, lr)`: momentum keeps a velocity `v = μv - α dw`; Nesterov evaluates the gradient
at the look-ahead point; Adagrad divides by the root of all past squared gradients, RMSprop by a decaying
average of them; Adam combines a momentum average with RMSprop's. The article shows Alec Radford's
animations; `fnnet.optim.trajectory` computes the same kind of paths with the exact gradient. A fair race
gives each optimizer its own learning rate: the `optimizers` recipe runs every optimizer at every rate of a
log grid at once (`jax.vmap` over the rate) and keeps the rate with the lowest mean log-loss. The surfaces:
a long narrow valley (curvatures 0.1 and 10, from (-9, 1)) and Beale's function (from (1, 1.5), minimum at
(3, 0.5))."""),
    ("code", """\
rates = np.geomspace(1e-3, 1.0, 7 if QUICK else 19)
race = []
for name in ("valley", "beale"):
    surface = optimizer_recipe.SURFACES[name]
    found = optimizer_recipe.best_paths(surface, optimizer_recipe.OPTIMIZERS, rates)
    show(viz.plot_trajectories(jax.vmap(surface.fn), {f"{n} (lr {r['rate']:.2g})": r["path"] for n, r in found.items()},
                               OUT / f"paths_{name}.png", xlim=surface.xlim, ylim=surface.ylim, minimum=surface.minimum,
                               title=f"{name}: each optimizer at its best of {len(rates)} rates"))
    race += [{"surface": name, "optimizer": n, "learning rate": f"{r['rate']:.2g}",
              f"steps to loss <= {surface.threshold:g}": r["steps_to_threshold"] or f"> {surface.steps}",
              "final loss": f"{r['values'][-1]:.2g}"} for n, r in found.items()]
display(Markdown(markdown_table(race)))"""),
    ("md", """\
How the optimizers behave on these two surfaces is in the table: plain gradient descent's rate is capped
by the valley's steep direction, so it crawls along the shallow one; momentum overshoots and swings back;
the adaptive methods rescale each coordinate. (`fnnet run optimizers` also trains the MNIST MLP with each
optimizer.)

## 7. Feature scaling, whitening and batch normalization

Gradient descent works best when the features have similar scales: the cost's contours are then round
instead of long ellipses. **Standardizing** (`fnnet.data.Standardizer`) gives each feature mean 0 and
variance 1, with statistics from the training data only. But standardized features can still be
**correlated**, like height and weight. The article's covariance example first: the samples (10, 20) and
(32, 52)."""),
    ("code", """\
samples = np.array([[10.0, 20.0], [32.0, 52.0]])
print("mean:", samples.mean(0), " covariance E[(x - mu)(x - mu)^T]:\\n", np.cov(samples.T, bias=True))"""),
    ("md", """\
**Whitening** removes the correlations: with the SVD of the covariance `U S Uᵀ`, PCA whitening is `x U /
sqrt(S + ε)` (decorrelated, unit variance, rotated to the principal axes) and ZCA rotates back, `x U diag(1 /
sqrt(S + ε)) Uᵀ`, staying as close as possible to the input. `fnnet.data.Whitener` is the article's numpy
recipe, fitted on training data. Here on made-up heights and weights:"""),
    ("code", """\
k_height, k_weight = jax.random.split(key(6))
height = 170 + 10 * np.asarray(jax.random.normal(k_height, (500,)))
weight = 70 + 0.9 * (height - 170) + 5 * np.asarray(jax.random.normal(k_weight, (500,)))
people = np.stack([height, weight], axis=1)
views = {"raw (cm, kg)": people, "standardized": Standardizer.fit(people)(people),
         "PCA-whitened": Whitener.fit(people, method="pca")(people), "ZCA-whitened": Whitener.fit(people, method="zca")(people)}
fig, axes = viz.figure_grid(4, ncols=4, panel_size=(3.6, 3.4))
for ax, (name, v) in zip(axes, views.items()):
    cov = np.cov(v.T, bias=True)
    print(f"{name:14s} covariance [[{cov[0, 0]:8.3f} {cov[0, 1]:8.3f}] [{cov[1, 0]:8.3f} {cov[1, 1]:8.3f}]]")
    viz.plot_fits(v[:, 0], v[:, 1], {}, None, ax=ax, title=name, xlabel="feature 1", ylabel="feature 2")
show(viz.save_figure(fig, OUT / "whitening_2d.png"))"""),
    ("md", """\
On images, ZCA whitening flattens the smooth, correlated parts of a digit and keeps its edges. (`ε` keeps the
directions of almost no variance, such as MNIST's always-black border pixels, from being blown up.) With
PCA whitening on the leading 50 components the covariance of the whitened training images is the identity:"""),
    ("code", """\
mnist = load_mnist_small() if QUICK else load_mnist(DATA_DIR)
pixels = scale_pixels(mnist.x_train[:2000]).reshape(2000, -1)
zca = Whitener.fit(pixels, method="zca", eps=0.1)
pca50 = Whitener.fit(pixels, method="pca", n_components=50)
whitened = pca50(pixels)
print(f"PCA-whitened (50 components): max |cov - I| = {np.abs(np.cov(whitened.T, bias=True) - np.eye(50)).max():.2e}")
show(viz.plot_image_grid(np.concatenate([pixels[:8], zca(pixels[:8])]).reshape(-1, 28, 28), OUT / "zca_digits.png",
                         ncols=8, title="top: digits; bottom: ZCA-whitened (eps 0.1)"))"""),
    ("md", """\
The article's conclusion: images usually need centering, not whitening.

**Batch normalization** normalizes a layer's outputs again, per feature, over the batch: `z = (x - μ_B) /
σ_B`, then `γz + β` with trainable `γ` (starting at 1) and `β` (at 0). In training it uses the batch's
statistics and updates running averages `running = momentum · running + (1 - momentum) · batch`; in
evaluation it uses those running averages, never the test batch's. `fnnet.models.BatchNorm` keeps them in
the model state (`init_with_state`, `apply(..., state=...)`). Below: one batch of digits through
`Dense(100) → BatchNorm → relu → Dense(10)` in training mode, the running averages it leaves, and the
difference between the modes: in training a digit's output depends on the other digits of its batch, in
evaluation it does not."""),
    ("code", """\
digits = scale_pixels(mnist.x_train[:256]).reshape(256, -1)
bn_net = M.Sequential([M.Dense(100), M.BatchNorm(momentum=0.9), M.Activation("relu"), M.Dense(10)])
bn_params, bn_state = bn_net.init_with_state(key(22), digits[:1])
_, bn_state_after, acts = bn_net.apply_with_activations(bn_params, digits, train=True, state=bn_state)
pre, normed = np.asarray(acts["dense_0"]), np.asarray(acts["batchnorm_0"])
print(f"affine outputs, per unit over the batch: means in [{pre.mean(0).min():.2f}, {pre.mean(0).max():.2f}], "
      f"stds in [{pre.std(0).min():.2f}, {pre.std(0).max():.2f}]")
print(f"after BatchNorm (training mode):         means in [{normed.mean(0).min():.2f}, {normed.mean(0).max():.2f}], "
      f"stds in [{normed.std(0).min():.2f}, {normed.std(0).max():.2f}]")
stats = bn_state_after["batchnorm_0"]["batch_stats"]
print(f"running mean after one batch = 0.1 x batch mean: {np.allclose(stats['mean'], 0.1 * pre.mean(0), atol=1e-5)}")
# A batch of one has no batch statistics (BatchNorm refuses it in training): compare the first two digits.
alone = lambda **mode: np.asarray(bn_net.apply(bn_params, digits[:2], state=bn_state_after, **mode)[0])
in_batch = lambda **mode: np.asarray(bn_net.apply(bn_params, digits, state=bn_state_after, **mode)[0][:2])
print("the first two digits alone vs in the batch of 256, largest difference of the net's outputs:")
print(f"  training mode (the batch's statistics): {np.abs(alone(train=True) - in_batch(train=True)).max():.3f}")
print(f"  evaluation mode (running averages):     {np.abs(alone() - in_batch()).max():.3f}")"""),
    ("md", """\
**Gradient clipping.** `tf.clip_by_global_norm(gradients, 5.0)` rescales all gradients together by
`5 / max(global norm, 5)`; `fnnet.optim.optimizer(..., clip_norm=5.0)` puts `optax.clip_by_global_norm` in
front of the optimizer. Gradients with a global norm of 13 come out with norm 5, their directions kept:"""),
    ("code", """\
grads = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([12.0])}
clipped_sgd = optim.optimizer("sgd", 1.0, clip_norm=5.0)
clipped, _ = clipped_sgd.update(grads, clipped_sgd.init(grads))
print(f"global norm {float(optax.global_norm(grads)):g} -> step of norm {float(optax.global_norm(clipped)):g}")
print("gradients x 5/13:", np.asarray(grads["a"]) * 5 / 13, np.asarray(grads["b"]) * 5 / 13)
print("clipped step:    ", -np.asarray(clipped["a"]), -np.asarray(clipped["b"]))"""),
    ("md", """\
**Dropout** zeroes each unit with probability p in training and scales the kept ones by `1 / (1 - p)`
("inverted" dropout), so evaluation needs no change. The mask comes from an explicit key: the same key gives
the same mask."""),
    ("code", """\
dropout = M.Sequential([M.Dropout(0.5)])
ones = jnp.ones((1, 12))
print("training, key A:", np.asarray(dropout.apply({}, ones, train=True, key=key(8)))[0])
print("training, key A:", np.asarray(dropout.apply({}, ones, train=True, key=key(8)))[0])
print("training, key B:", np.asarray(dropout.apply({}, ones, train=True, key=key(9)))[0])
print("evaluation:     ", np.asarray(dropout.apply({}, ones))[0])
many = dropout.apply({}, jnp.ones((1, 100_000)), train=True, key=key(10))
print(f"mean over 100,000 units in training: {float(many.mean()):.4f} (the expected activation is kept)")"""),
    ("md", """\
## 8. Troubleshooting

The article ends with a checklist. `fnnet.diagnostics` turns it into tools.

### "Compare the backpropagation result with the naive gradient check"

The article's cs231n network computes its gradients by hand: `softmax_loss` gives `dscores = (probs -
onehot) / N`, and `affine_relu_backward` passes them back through each layer, zeroing them where the relu
was off (`dx[x < 0] = 0`). Here is that backward pass for a small `jhui_fc_net`, checked by
`check_grads` against central finite differences, in float64 as the article's cs231n code does; then the
same backward pass with the relu mask forgotten, a typical bug. The check names the leaves whose gradient
is wrong."""),
    ("code", """\
fc_net = M.jhui_fc_net((20, 10), weight_scale=5e-2)
x_check, y_check = digits[:64], mnist.y_train[:64]
fc_params = fc_net.init(key(11), x_check[:1])
names = fc_net.names[1:]  # dense_0, dense_1, dense_2 (the first layer is Flatten)

@functools.partial(jax.jit, static_argnames="relu_mask")  # one compiled program instead of op by op
def hand_written_backprop(params, batch, relu_mask=True):
    x, y = batch
    inputs = [x]  # the input of every affine layer
    for name in names[:-1]:
        inputs.append(jnp.maximum(0, inputs[-1] @ params[name]["kernel"] + params[name]["bias"]))
    scores = inputs[-1] @ params[names[-1]]["kernel"] + params[names[-1]]["bias"]
    upstream = (jax.nn.softmax(scores) - jax.nn.one_hot(y, 10)) / len(x)  # softmax_loss's dx
    grads = {}
    for i in reversed(range(len(names))):
        grads[names[i]] = {"kernel": inputs[i].T @ upstream, "bias": upstream.sum(0)}
        if i > 0:
            upstream = upstream @ params[names[i]]["kernel"].T
            upstream = upstream * (inputs[i] > 0) if relu_mask else upstream
    return grads

objective = D.model_objective(fc_net, "softmax_cross_entropy")
print(D.check_grads(objective, fc_params, (x_check, y_check), grad_fn=hand_written_backprop, float64=True))
print()
bug = D.check_grads(objective, fc_params, (x_check, y_check), float64=True,
                    grad_fn=lambda p, b: hand_written_backprop(p, b, relu_mask=False))
print("without the relu mask:", bug.verdict())"""),
    ("md", """\
The output layer's gradient does not pass through a relu, so only the hidden layers' leaves fail.

### "Monitor gradients and ΔW closely"

The article shows a log of per-layer gradients in which the gradient shrinks layer by layer towards the
input: the sigmoid's derivative is at most 1/4, and the chain rule multiplies one such factor per layer.
`TrainingMonitor` computes those statistics inside the compiled training step every few steps: each layer's
gradient norm, the update-to-weight ratio `‖α·dW‖ / ‖W‖` (the article: about 1e-3; higher, lower the
rate; lower, raise it), the fraction of dead relu units and of saturated sigmoid/tanh units. Its `report()`
turns them into findings. The data from here on, as the article's protocol wants it: 3,000 training
digits, 1,000 other training digits for validation (watching training, choosing hyper-parameters), and the
test digits only for final numbers. First a deep sigmoid net (six hidden layers of 100, Glorot init, SGD
0.1):"""),
    ("code", """\
flat = lambda images: scale_pixels(images).reshape(len(images), -1)
x_train, y_train = flat(mnist.x_train[:3000]), mnist.y_train[:3000]
x_val, y_val = flat(mnist.x_train[4000:5000]), mnist.y_train[4000:5000]
x_test, y_test = flat(mnist.x_test), mnist.y_test
deep = M.mlp([100] * 6 + [10], activation="sigmoid", kernel_init="glorot_normal", flatten=False, name="deep_sigmoid")
deep_monitor = D.TrainingMonitor(every=10)
_, deep_history = fnnet.fit(deep, "softmax_cross_entropy", optim.optimizer("sgd", 0.1), (x_train, y_train), epochs=2,
                            batch_size=100, validation_data=(x_val, y_val), metrics=["accuracy"], key=key(12),
                            callbacks=[deep_monitor], verbose=0)
print(deep_monitor.report())
print(f"validation accuracy after 2 epochs: {deep_history['val_accuracy'][-1]:.3f}")
show(viz.plot_layer_statistics(deep_monitor.history, OUT / "deep_sigmoid_layers.png", statistics=["grad_norm", "update_ratio"],
                               title="six sigmoid layers: the gradient fades towards the input"))"""),
    ("md", """\
The article's remedies: relu instead of sigmoid, the right initialization, batch normalization, bypass
connections. The article's MNIST MLP (relu, He-scaled truncated normal), monitored the same way, also with
plain SGD 0.1 so that the update ratio shows the gradients:"""),
    ("code", """\
mlp = M.jhui_mnist_mlp(reg=5e-5)
monitor = D.TrainingMonitor(every=10)
mlp_state, mlp_history = fnnet.fit(mlp, "softmax_cross_entropy", optim.optimizer("sgd", 0.1), (x_train, y_train), epochs=3,
                                   batch_size=100, validation_data=(x_val, y_val), metrics=["accuracy"], key=key(13),
                                   callbacks=[monitor], verbose=0)
print(monitor.report())
print(f"validation accuracy after 3 epochs: {mlp_history['val_accuracy'][-1]:.3f}")
show(viz.plot_layer_statistics(monitor.history, OUT / "mlp_layers.png", title="relu MLP, He init"))
show(viz.plot_history(mlp_history, OUT / "mlp_history.png", metrics=["loss", "accuracy"],
                      title="train vs validation: the gap is the overfitting"))"""),
    ("md", """\
### "Plot weight, activation and gradient histograms for all layers"

Healthy: weights and gradients centered and not too wide, gradients not all of one sign, activations not
piled up at 0 (dead) or at the ends (saturated). `layer_snapshot` collects them on one batch:"""),
    ("code", """\
snapshot = D.layer_snapshot(mlp, "softmax_cross_entropy", mlp_state.params, x_val[:500], y_val[:500])
show(viz.plot_layer_histograms(snapshot, OUT / "mlp_histograms.png", title="the trained MLP on 500 validation digits"))"""),
    ("md", """\
### "Overfit with a tiny dataset" and "experiment different learning rates"

A model that cannot drive the loss towards 0 on a few examples, with regularization off, has a bug (labels,
loss, learning rate, initialization). `overfit_small_batch` checks that. `lr_range_test` raises the learning
rate exponentially over one short run and records the loss: it falls, flattens, and blows up past the
largest usable rate."""),
    ("code", """\
print(D.overfit_small_batch(mlp, "softmax_cross_entropy", optim.optimizer("adam", 1e-3), x_train, y_train, key=key(14),
                            examples=32))
lr_test = D.lr_range_test(mlp, "softmax_cross_entropy", x_train, y_train, key=key(15), min_lr=1e-4, max_lr=10.0,
                          steps=100, batch_size=100)
print(lr_test)
show(viz.plot_lr_vs_loss(lr_test.learning_rates, lr_test.losses, OUT / "lr_range_test.png", smoothed=lr_test.smoothed,
                         suggested=lr_test.suggested, title="LR range test, SGD, the MNIST MLP"))"""),
    ("md", """\
### "Display and analyse samples that have wrong predictions"

The confusion matrix (rows: true digit, columns: predicted) shows which digits the trained MLP mixes up, and
the misclassified images show why."""),
    ("code", """\
predicted = np.asarray(fnnet.predict(mlp, mlp_state, x_test)).argmax(-1)
print(f"test accuracy {np.mean(predicted == y_test):.3f} on {len(y_test):,} test digits")
confusion = np.asarray(metrics.confusion_matrix(predicted, y_test, 10))
show(viz.plot_confusion_matrix(confusion, OUT / "confusion_matrix.png", title="the MLP on the test digits"))
show(viz.plot_misclassified(x_test.reshape(-1, 28, 28), y_test, predicted, OUT / "misclassified.png", max_images=20))"""),
    ("md", """\
## 9. Grid search for hyper-parameters

Related hyper-parameters are tuned together on a logarithmic mesh; the article shifts each point at random
("this randomness may lead us to some surprises"), tunes coarse with few iterations, then fine around the
best point with more iterations and a 3x finer mesh. `fnnet.search.grid_search` does that; every mesh trains
as one vmapped program (the learning rate and the L2 strength are arrays in the optimizer state). Tiny here:
a 784-32-10 net, 3x3 points, one epoch coarse and two fine, scored on validation accuracy."""),
    ("code", """\
search = grid_search({"learning_rate": log_axis(1e-4, 1e-1, 3), "l2": log_axis(1e-6, 1e-2, 3)},
                     model=M.mlp([32, 10], flatten=False), loss="softmax_cross_entropy", optimizer="adam",
                     train_data=(x_train, y_train), validation_data=(x_val, y_val), key=key(16), epochs=1,
                     fine_epochs=2, batch_size=100, jitter=0.5, zoom=3.0)
display(Markdown(search.table(limit=10)))
show(search.plot(OUT / "grid_search.png"))"""),
    ("md", """\
## 10. Data augmentation

More data is the surest cure for overfitting; flipped, slightly rotated, shifted or zoomed copies of the
images are cheap extra data. `fnnet.data.Augment` draws such transforms from a key and applies them inside the
compiled training step (`fit(..., augment=...)`); here are the originals (left) and augmented copies:"""),
    ("code", """\
augment = Augment(rotation=15.0, width_shift=0.1, height_shift=0.1, zoom=0.1)
show(save_augmentation_grid(OUT / "augmentation.png", scale_pixels(mnist.x_train[:4]), augment, key(17), n_augmented=6))"""),
    ("md", """\
## 11. Model ensembles

The article: mistakes are often localized, and models trained from different random starts rarely make the
same ones, so let several models vote: one vote per model, or votes weighted by each model's confidence; or,
cheaper, use the checkpoints of ONE run. `fit_ensemble` trains all members as one vmapped program (each with its own
initialization and data order); `evaluate_ensemble` scores each member and the vote, the confidence-weighted
vote and the average of the probabilities (on the test digits). Four small MLPs, two epochs:"""),
    ("code", """\
small_mlp = M.mlp([64, 10], flatten=False)
ensemble_state, _ = fit_ensemble(small_mlp, "softmax_cross_entropy", optim.optimizer("adam", 1e-3), (x_train, y_train),
                                 n_members=4, key=key(18), epochs=2, batch_size=100, verbose=0)
scores = evaluate_ensemble(small_mlp, ensemble_state, x_test, y_test)
print("members:", ", ".join(f"{a:.3f}" for a in scores["members"]))
print(f"vote {scores['vote']:.3f}, weighted vote {scores['weighted_vote']:.3f}, average {scores['average']:.3f} "
      f"(best member {scores['best_member']:.3f})")"""),
    ("md", """\
And a snapshot ensemble: one run, its weights kept after every epoch by the `Snapshots` callback, combined the
same way."""),
    ("code", """\
snapshots = Snapshots(every=1)
fnnet.fit(small_mlp, "softmax_cross_entropy", optim.optimizer("adam", 1e-3), (x_train, y_train), epochs=4,
          batch_size=100, key=key(19), callbacks=[snapshots], verbose=0)
snapshot_params, _ = snapshots.stacked()
snapshot_scores = evaluate_ensemble(small_mlp, snapshot_params, x_test, y_test)
print("snapshots after epochs", [e + 1 for e in snapshots.epochs], ":", ", ".join(f"{a:.3f}" for a in snapshot_scores["members"]))
print(f"vote {snapshot_scores['vote']:.3f}, weighted vote {snapshot_scores['weighted_vote']:.3f}, "
      f"average {snapshot_scores['average']:.3f}")"""),
    ("md", """\
## 12. Reproducible results

The article sets the seeds of `random`, numpy and TensorFlow. fnnet has no global random state at all:
initialization, data order and dropout all come from the `key` passed in, so the same key gives bitwise the
same model, and different keys give the different members an ensemble needs."""),
    ("code", """\
again, _ = fit_ensemble(small_mlp, "softmax_cross_entropy", optim.optimizer("adam", 1e-3), (x_train, y_train),
                        n_members=4, key=key(18), epochs=2, batch_size=100, verbose=0)
same = all(bool(jnp.array_equal(a, b)) for a, b in zip(jax.tree.leaves(ensemble_state.params), jax.tree.leaves(again.params)))
print("same key, trained again: bitwise identical parameters:", same)"""),
    ("md", """\
## 13. Maximum likelihood: why the cross-entropy

Training looks for the weights under which the observed labels are most probable: maximize `Π p(y_i | x_i,
W)`, or equivalently minimize the **negative log-likelihood** `-Σ log p(y_i | x_i, W)`. With a softmax output,
`p(y_i | x_i, W)` is the predicted probability of the true class, so the NLL is the cross-entropy; with a
sigmoid output it is the logistic loss `log(1 + e^{-z})` (for label 1). Both, on the trained MLP and on a few
scores:"""),
    ("code", """\
logits = fnnet.predict(mlp, mlp_state, x_test)
nll = -jnp.mean(jnp.log(jax.nn.softmax(logits)[jnp.arange(len(y_test)), y_test]))
print(f"mean NLL of the test labels {float(nll):.6f} = softmax_cross_entropy {float(losses.softmax_cross_entropy(logits, y_test)):.6f}")
z = jnp.array([-2.0, 0.0, 3.0])
print("log(1 + e^-z):                        ", np.asarray(jnp.log1p(jnp.exp(-z))).round(6))
print("sigmoid_binary_cross_entropy per score:", np.asarray([losses.sigmoid_binary_cross_entropy(s[None], jnp.ones(1)) for s in z]).round(6))"""),
]


def build() -> nbformat.NotebookNode:
    return build_notebook(CELLS, "seed003")


if __name__ == "__main__":
    write(build(), PATH)
