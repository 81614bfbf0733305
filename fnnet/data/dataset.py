"""The container every loader returns."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Dataset:
    """Arrays of one dataset, as numpy arrays on the host.

    Every loader documents its shapes and dtypes; the common conventions are:

    * images are NHWC ``uint8`` in ``[0, 255]`` (scale with :func:`fnnet.data.scale_pixels`);
    * class labels are ``(N,)`` ``int32``;
    * ``x_test``/``y_test`` are ``None`` for datasets without an official test split (California
      housing: split it with :func:`fnnet.data.train_test_split`), and ``x_val``/``y_val`` are ``None``
      unless a protocol such as :func:`fnnet.data.cs4487_split` made a validation set.

    ``source`` says where the arrays came from (a file path, ``"tfds:<name>"`` or ``"embedded"``), so a
    result can always be traced back to its data.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    name: str = ""
    class_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    source: str = ""

    @property
    def num_classes(self) -> int | None:
        """Number of classes (``len(class_names)``), or None for regression data."""
        return None if self.class_names is None else len(self.class_names)

    def replace(self, **changes) -> Dataset:
        """A copy with some fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        # The default dataclass repr would print every array in full.
        parts = []
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x is not None:
                parts.append(f"x_{split}={x.shape} {x.dtype}, y_{split}={y.shape} {y.dtype}")
        return f"Dataset({self.name!r}: {'; '.join(parts)}; source={self.source!r})"
