"""Datasets, preprocessing, batching and on-device augmentation.

* ``load(name, data_dir=None, ...)`` and ``load_<name>``: real datasets as :class:`Dataset` (numpy; images
  NHWC uint8, labels int32), found in ``data_dir`` / ``$FNNET_DATA_DIR`` / ``~/.fnnet/data``, then
  tensorflow-datasets; ``load("mnist_small")`` is embedded in the package and works offline. Counts (and
  checksums of canonical files) are checked: a partial copy is an ``IncompleteDatasetError`` unless
  ``allow_partial=True`` (then a ``PartialDatasetWarning``).
* ``flower``, ``circles``, ``noisy_line``: the course's synthetic sets; ``template_images``: a tiny
  labelled stand-in image set for smoke runs (not a real dataset).
* ``train_test_split`` (keyed, or scikit-learn-identical with ``seed=``), ``cs4487_split``.
* ``scale_pixels``, ``Standardizer``, ``Whitener`` (PCA/ZCA), ``one_hot``.
* ``iterate_batches`` / ``epoch_batches``: key-driven mini-batches.
* ``Augment``: keyed on-device augmentation ``augment(key, images)``; ``plot_augmentations`` (a Figure) /
  ``save_augmentation_grid`` (a PNG).
"""
from fnnet.data.augment import FILL_MODES, Augment, affine_transform, plot_augmentations, save_augmentation_grid
from fnnet.data.batching import epoch_batches, epoch_order, iterate_batches, num_batches, remainder_indices
from fnnet.data.dataset import Dataset
from fnnet.data.imdb import load_imdb, tokenize
from fnnet.data.integrity import IncompleteDatasetError, PartialDatasetWarning
from fnnet.data.loaders import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    LOADERS,
    MNIST_CLASSES,
    load,
    load_california_housing,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    load_mnist_small,
)
from fnnet.data.preprocessing import Standardizer, Whitener, one_hot, scale_pixels
from fnnet.data.sources import DatasetNotFoundError, cache_root, data_root
from fnnet.data.splits import cs4487_split, train_test_indices, train_test_split
from fnnet.data.synthetic import circles, flower, noisy_line, template_images

__all__ = [
    "CIFAR10_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FILL_MODES",
    "LOADERS",
    "MNIST_CLASSES",
    "Augment",
    "Dataset",
    "DatasetNotFoundError",
    "IncompleteDatasetError",
    "PartialDatasetWarning",
    "Standardizer",
    "Whitener",
    "affine_transform",
    "cache_root",
    "circles",
    "cs4487_split",
    "data_root",
    "epoch_batches",
    "epoch_order",
    "flower",
    "iterate_batches",
    "load",
    "load_california_housing",
    "load_cifar10",
    "load_fashion_mnist",
    "load_imdb",
    "load_mnist",
    "load_mnist_small",
    "noisy_line",
    "num_batches",
    "one_hot",
    "plot_augmentations",
    "remainder_indices",
    "save_augmentation_grid",
    "scale_pixels",
    "template_images",
    "tokenize",
    "train_test_indices",
    "train_test_split",
]
