"""The data and model shared by the jhui seed's MNIST MLP recipes (``ensemble``, ``grid_search``)."""
from __future__ import annotations

import numpy as np

from fnnet import models as M
from fnnet.data import scale_pixels

from . import _support as S


def mlp(hidden: tuple):
    """The seed's MLP with hidden sizes ``hidden`` (256, 100 in the seed) and 10 outputs: relu, TF1
    truncated-normal He init (``models.jhui_mnist_mlp`` is the 256-100 one)."""
    return M.mlp([*hidden, 10], kernel_init="tf_truncated_normal", name="jhui_mlp")


def splits(dataset: str, validation_size: int, data_dir) -> tuple[tuple, tuple, tuple, str]:
    """``(train, validation, test, description)``: ``(x, y)`` pairs of flattened pixels in [0, 1]
    ``(N, 784)`` float32 and integer labels ``(N,)``. The validation split is the first
    ``validation_size`` training images, as the seed's ``input_data.read_data_sets`` keeps them; the
    description is the line naming that data for ``results["data"]``.

    Raises :class:`fnnet.data.DatasetNotFoundError` when the data is absent (the recipe then reports
    "not run" rows, see :func:`recipes._support.not_available`)."""
    data = S.load_dataset(dataset, data_dir)
    if not 0 < validation_size < len(data.x_train):
        raise ValueError(f"validation_size must be in (0, {len(data.x_train)}), got {validation_size}")

    def flat(images) -> np.ndarray:
        return scale_pixels(images).reshape(len(images), -1)

    x = flat(data.x_train)
    description = (f"{S.describe(data)}; trained on the {len(x) - validation_size:,} images after the first "
                   f"{validation_size:,} (validation), tested on {len(data.x_test):,}")
    train = (x[validation_size:], data.y_train[validation_size:])
    return (train, (x[:validation_size], data.y_train[:validation_size]),
            (flat(data.x_test), data.y_test), description)
