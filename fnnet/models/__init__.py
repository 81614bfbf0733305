"""Models as pure ``init(key, x_sample) -> params`` / ``apply(params, x, *, key, train)`` pairs."""
from fnnet.models.config import CustomLayerError, model_config, model_from_config
from fnnet.models.core import Model, ModelSummary, Sequential, summary
from fnnet.models.layers import (
    ACTIVATIONS,
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    FlaxLayer,
    Lambda,
    Layer,
    Maxout,
    MaxPool2D,
    Reshape,
    get_activation,
)
from fnnet.models.zoo import (
    autoencoder,
    cs4487_deep_cnn,
    cs4487_shallow_cnn,
    expand,
    jhui_fc_net,
    jhui_mnist_mlp,
    keras_mnist_mlp,
    logistic_regression,
    mlp,
    planar_net,
    polynomial_regression,
    quadratic_logistic_regression,
    workshop_cifar_cnn,
    workshop_imdb_net,
    workshop_mnist_cnn,
    workshop_mnist_dense,
)
