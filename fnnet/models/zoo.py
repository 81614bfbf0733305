"""Ready-made models from the course documents. All classifiers end in logits (no softmax layer).

=================================  ==============================================  ==============
builder                            architecture                                    params
=================================  ==============================================  ==============
``logistic_regression()``          Flatten -> Dense(10)                            7,850
``mlp([50, 10])``                  Flatten -> Dense(50, relu) -> Dense(10)         39,760
``mlp([500, 500, 10])``            two hidden relu layers of 500                   648,010
``cs4487_shallow_cnn()``           Conv 10 5x5 s2 same -> Dense 50 -> 10           98,820
``cs4487_deep_cnn()``              Conv 10/40/80 5x5 (s2, s2, s1) -> 50 -> 10      286,940
``workshop_mnist_dense()``         Dense(100, relu) -> Dense(10)                   79,510
``workshop_mnist_cnn()``           Conv 25 3x3 valid -> MaxPool 1 -> 100 -> 10
``workshop_cifar_cnn()``           Conv 50/75/125 with pooling+dropout -> 500 -> 250 -> 10
``workshop_imdb_net(16)``          10,000 -> 16 -> 16 -> 1, optional l2/dropout    160,305
``keras_mnist_mlp()``              3 x [Dense 128 relu, Dropout .5] -> Dense 10
``jhui_fc_net()``                  (100, 50, 25) relu, N(0, 0.05²) weights (CIFAR-10)
``jhui_mnist_mlp()``               784-256-100-10 relu, TF1 truncated-normal He init
``planar_net(n_h)``                Dense(n_h, tanh) -> Dense(1), N(0, 0.01²) weights
``quadratic_logistic_regression``  expand(x) -> Dense(1, no bias)
``polynomial_regression(order)``   [x, x², ..., x^order] -> Dense(1)
``autoencoder()``                  784 -> 128 -> 32 -> 128 -> 784 (encoder/decoder)
=================================  ==============================================  ==============
"""
from __future__ import annotations

from typing import Callable, Sequence, Union

import jax.numpy as jnp

from fnnet.models.core import Model, Sequential
from fnnet.models.layers import Conv2D, Dense, Dropout, Flatten, Lambda, MaxPool2D


def expand(x):
    """Quadratic features of 2-D points, as in the course's linear-models assignment.

    ``(N, 2) -> (N, 6)``: columns ``x0, x1, x0², x1², x0·x1, 1``.
    """
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"expand expects x of shape (N, 2), got {tuple(x.shape)}")
    x0, x1 = x[:, 0], x[:, 1]
    return jnp.stack([x0, x1, x0**2, x1**2, x0 * x1, jnp.ones_like(x0)], axis=1)


def quadratic_logistic_regression() -> Model:
    """Logistic regression on :func:`expand` features: ``(N, 2) -> (N, 1)`` logits.

    The bias is the weight of the constant feature, so the Dense layer has none (6 weights in all)."""
    return Sequential([Lambda(expand, "expand"), Dense(1, use_bias=False)], name="quadratic_logreg")


def planar_net(n_h: int = 4, *, init: Union[str, Callable] = "course_normal") -> Model:
    """The one-hidden-layer tanh net of the planar assignment: ``(N, 2) -> (N, 1)`` logits.

    Weights ~ N(0, 0.01²) (the course's ``randn * 0.01``), biases zero; the sigmoid output unit is the
    sigmoid in :func:`fnnet.losses.sigmoid_binary_cross_entropy`."""
    return Sequential(
        [Dense(n_h, "tanh", kernel_init=init), Dense(1, kernel_init=init)], name=f"planar_net_{n_h}"
    )


def mlp(
    sizes: Sequence[int],
    *,
    activation: Union[str, Callable] = "relu",
    dropout: float = 0.0,
    l2: float = 0.0,
    kernel_init: Union[str, Callable] = "glorot_uniform",
    flatten: bool = True,
    name: str = "mlp",
) -> Model:
    """Multi-layer perceptron. ``sizes`` lists the hidden widths then the output width:
    ``mlp([128, 128, 128, 10], dropout=0.5)`` is the course's Keras MLP.

    Inputs are flattened first (``flatten=True``) so images can be fed directly. ``dropout`` follows
    every hidden layer; ``l2`` puts a Keras ``l2(l2)`` kernel penalty on every layer."""
    sizes = list(sizes)
    if not sizes or any((not isinstance(s, int)) or s <= 0 for s in sizes):
        raise ValueError(f"sizes must be a non-empty list of positive ints, got {sizes!r}")
    layers = [Flatten()] if flatten else []
    for width in sizes[:-1]:
        layers.append(Dense(width, activation, kernel_init=kernel_init, l2=l2))
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(sizes[-1], kernel_init=kernel_init, l2=l2))
    return Sequential(layers, name=name)


def logistic_regression(n_classes: int = 10) -> Model:
    """Multinomial logistic regression (a single Dense layer on flattened inputs)."""
    return mlp([n_classes], name="logistic_regression")


def keras_mnist_mlp() -> Model:
    """Seed 000's Keras model: Flatten -> 3 x [Dense(128, relu), Dropout(0.5)] -> Dense(10)."""
    return mlp([128, 128, 128, 10], dropout=0.5, name="keras_mnist_mlp")


def _cs4487_convs(l2_last: float) -> list:
    return [
        Conv2D(10, 5, strides=2, padding="same", activation="relu"),
        Conv2D(40, 5, strides=2, padding="same", activation="relu"),
        Conv2D(80, 5, strides=1, padding="same", activation="relu", l2=l2_last),
    ]


def cs4487_shallow_cnn() -> Model:
    """CS4487 shallow CNN: Conv(10, 5x5, stride 2, same, relu) -> Dense(50, relu) -> Dense(10).
    Input ``(N, 28, 28, 1)``."""
    return Sequential(
        [Conv2D(10, 5, strides=2, padding="same", activation="relu"), Flatten(), Dense(50, "relu"), Dense(10)],
        name="cs4487_shallow_cnn",
    )


def cs4487_deep_cnn(*, dropout: float = 0.0, l2: float = 0.0) -> Model:
    """CS4487 deep CNN: Conv 10/40/80 (5x5; strides 2, 2, 1; same; relu) -> Dense(50, relu) -> Dense(10).

    ``dropout`` (the lecture uses 0.5) goes after the last conv and after Dense(50); ``l2`` (the
    lecture uses 1e-4) is a kernel penalty on the last conv and on Dense(50). Input ``(N, 28, 28, 1)``."""
    layers = _cs4487_convs(l2)
    if dropout:
        layers.append(Dropout(dropout))
    layers += [Flatten(), Dense(50, "relu", l2=l2)]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(10))
    return Sequential(layers, name="cs4487_deep_cnn")


def workshop_imdb_net(units: int = 16, *, l2: float = 0.0, dropout: float = 0.0) -> Model:
    """Workshop 3 / Deep Learning with Python ch. 4 on IMDB multi-hot vectors ``(N, num_words)``:
    2 x [Dense(units, relu) with Keras ``l2(l2)`` on the kernel, Dropout(dropout)] -> Dense(1) logit (the
    sigmoid is in the loss). The output layer is not penalized, as in the book. 16 units: 160,305 params
    for 10,000 words."""
    if not isinstance(units, int) or units <= 0:
        raise ValueError(f"units must be a positive int, got {units!r}")
    layers = []
    for _ in range(2):
        layers.append(Dense(units, "relu", l2=l2))
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(1))
    return Sequential(layers, name=f"workshop_imdb_{units}")


def workshop_mnist_dense() -> Model:
    """Workshop 3's MNIST net: Dense(100, relu) -> Dense(10) on flattened images (79,510 params)."""
    return mlp([100, 10], name="workshop_mnist_dense")


def workshop_mnist_cnn() -> Model:
    """Workshop 3's MNIST CNN: Conv(25, 3x3, valid, relu) -> MaxPool(1x1) -> Flatten -> Dense(100, relu)
    -> Dense(10). Input ``(N, 28, 28, 1)``."""
    return Sequential(
        [Conv2D(25, 3, padding="valid", activation="relu"), MaxPool2D(1), Flatten(), Dense(100, "relu"), Dense(10)],
        name="workshop_mnist_cnn",
    )


def workshop_cifar_cnn() -> Model:
    """Workshop 3's CIFAR-10 CNN (input ``(N, 32, 32, 3)``)."""
    return Sequential(
        [
            Conv2D(50, 3, padding="same", activation="relu"),
            Conv2D(75, 3, padding="same", activation="relu"),
            MaxPool2D(2),
            Dropout(0.25),
            Conv2D(125, 3, padding="same", activation="relu"),
            MaxPool2D(2),
            Dropout(0.25),
            Flatten(),
            Dense(500, "relu"),
            Dropout(0.4),
            Dense(250, "relu"),
            Dropout(0.3),
            Dense(10),
        ],
        name="workshop_cifar_cnn",
    )


def jhui_fc_net(
    hidden: Sequence[int] = (100, 50, 25), *, n_classes: int = 10, weight_scale: float = 5e-2, reg: float = 0.0
) -> Model:
    """The jhui seed's ``FullyConnectedNet``: relu hidden layers, weights ``randn * weight_scale``,
    zero biases. ``reg`` is the seed's (cs231n's) L2 strength: its loss adds ``0.5 * reg * sum(W**2)`` for
    every layer's ``W``, i.e. a Keras ``l2(reg / 2)`` kernel penalty on each Dense layer."""
    from fnnet.initializers import normal

    if reg < 0:
        raise ValueError(f"reg must be >= 0, got {reg!r}")
    return mlp(list(hidden) + [n_classes], kernel_init=normal(weight_scale), l2=reg / 2, name="jhui_fc_net")


def jhui_mnist_mlp(*, reg: float = 0.0) -> Model:
    """The jhui seed's TensorFlow MNIST MLP: 784-256-100-10 relu with TF1 truncated-normal He init.

    ``reg`` is the seed's ``lmbda``: its loss adds ``lmbda * tf.nn.l2_loss(W) = lmbda * sum(W**2) / 2``
    for every ``W`` (biases excluded), i.e. a Keras ``l2(reg / 2)`` kernel penalty on each Dense layer
    (the seed trains with ``lmbda = 5e-5``)."""
    if reg < 0:
        raise ValueError(f"reg must be >= 0, got {reg!r}")
    return mlp([256, 100, 10], kernel_init="tf_truncated_normal", l2=reg / 2, name="jhui_mnist_mlp")


def polynomial_regression(order: int, *, x_scale: float = 1.0, l2: float = 0.0) -> Model:
    """``y = c0 + c1 (x/s) + ... + c_k (x/s)^k`` for inputs ``(N, 1)``; ``x_scale`` = s keeps the
    powers in a trainable range (the jhui seed notes high orders are hard to train unscaled).

    ``l2`` = λ adds the seed's penalty ``λ (c1² + ... + c_k²)`` to the training loss (the kernel's; the
    intercept c0 is the bias, not penalized). Its effect depends on the units of x/s and y."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be a positive int, got {order!r}")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2!r}")
    powers = jnp.arange(1, order + 1, dtype=jnp.float32)

    def features(x):
        return (x / x_scale) ** powers  # (N, 1) ** (order,) -> (N, order)

    return Sequential(
        [Lambda(features, f"powers 1..{order}"), Dense(1, kernel_init="zeros", l2=l2)], name=f"polynomial_{order}"
    )


def autoencoder(
    input_dim: int = 784, hidden: Sequence[int] = (128,), code: int = 32, *, activation: str = "relu"
) -> Model:
    """Dense autoencoder ``input_dim -> hidden... -> code -> reversed(hidden)... -> input_dim``.

    Params are ``{"encoder": ..., "decoder": ...}``; apply ``model.layers[0]`` (the encoder) alone to
    get codes. Outputs are logits: train with sigmoid cross-entropy against pixels in [0, 1]."""
    encoder = Sequential([Flatten()] + [Dense(w, activation) for w in (*hidden, code)], name="encoder")
    decoder = mlp(list(reversed(hidden)) + [input_dim], activation=activation, flatten=False, name="decoder")
    return Sequential([encoder, decoder], name="autoencoder")
