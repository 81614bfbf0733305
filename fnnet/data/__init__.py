"""Datasets, preprocessing, batching and on-device augmentation."""
from fnnet.data.batching import epoch_batches, epoch_order, iterate_batches, num_batches, remainder_indices
