"""The data half of the jhui troubleshooting checklist: class balance, input range and scaling, "beats
chance / a trivial baseline", and the examples that most activate a unit.

Each check returns a :class:`DataCheck` (``passed``, a one-line ``message``, a ``hint`` when it fails and
the numbers behind it in ``details``); :func:`fnnet.diagnostics.diagnose` (``fnnet doctor``) runs them on
a recipe's data and reports the failures as findings.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import numpy as np

from fnnet import _checks


@dataclasses.dataclass(frozen=True)
class DataCheck:
    """One check's verdict: ``str(check)`` is its report line."""

    name: str
    passed: bool
    message: str
    hint: str = ""
    details: dict = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name}: {'ok' if self.passed else 'problem'}: {self.message}" + (
            f" ({self.hint})" if self.hint and not self.passed else "")


def _labels(y, name: str = "y") -> np.ndarray:
    """Integer labels ``(N,)`` from labels or one-hot / probability rows ``(N, C)``."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(len(y)) if y.ndim == 2 else y
    if y.ndim != 1 or (not np.issubdtype(y.dtype, np.integer) and not np.all(np.mod(y, 1) == 0)):
        raise ValueError(f"{name} must be integer class labels (N,) or one-hot rows (N, C), got shape "
                         f"{np.shape(y)} and dtype {y.dtype}")
    return y.astype(np.int64)


def class_balance(y, *, num_classes: Optional[int] = None, max_ratio: float = 3.0) -> DataCheck:
    """Examples per class. Fails when a class of ``range(num_classes)`` has none, or when the largest
    class has more than ``max_ratio`` times the examples of the smallest: accuracy then rewards
    predicting the large classes, and a trivial baseline scores high.

    ``y``: integer labels ``(N,)`` or one-hot rows ``(N, C)``; ``num_classes`` defaults to ``max + 1``
    (or ``C``)."""
    _checks.check_positive("max_ratio", max_ratio)
    labels = _labels(y)
    if len(labels) == 0:
        raise ValueError("y must hold at least one label, got none")
    classes = num_classes or (np.shape(y)[1] if np.ndim(y) == 2 and np.shape(y)[1] > 1 else int(labels.max()) + 1)
    counts = np.bincount(labels, minlength=classes)
    missing = [int(c) for c in np.flatnonzero(counts == 0)]
    ratio = counts.max() / max(counts.min(), 1)
    details = {"counts": counts.tolist(), "ratio": float(ratio), "missing": missing}
    shares = ", ".join(f"{c}: {n}" for c, n in enumerate(counts[:12])) + (", ..." if classes > 12 else "")
    if missing:
        return DataCheck("class balance", False, f"classes {missing} have no examples ({shares})",
                         "check the labels and the split", details)
    if ratio > max_ratio:
        return DataCheck("class balance", False, f"largest / smallest class = {ratio:.1f} ({shares})",
                         "rebalance (resample or weight the loss) and report per-class accuracy", details)
    return DataCheck("class balance", True, f"{classes} classes, largest / smallest = {ratio:.2f}", details=details)


def input_scaling(x, *, max_abs: float = 10.0) -> DataCheck:
    """The inputs' range and scale. Fails on non-finite values, on values beyond ``±max_abs`` (raw
    pixels 0..255, unscaled prices: the first layer's pre-activations are then huge, tanh/sigmoid
    saturate and the learning rate has to be tiny), and when every feature is constant."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1) if np.ndim(x) > 0 and len(x) else None
    if x is None:
        raise ValueError("x must hold at least one example, got none")
    finite = np.isfinite(x)
    details: dict[str, Any] = {"non_finite": int((~finite).sum())}
    if not finite.all():
        return DataCheck("input scaling", False, f"{details['non_finite']} non-finite input values",
                         "drop or impute them before training", details)
    lo, hi, mean, std = float(x.min()), float(x.max()), float(x.mean()), float(x.std())
    constant = float((x.std(axis=0) == 0).mean())
    details.update(min=lo, max=hi, mean=mean, std=std, constant_features=constant)
    summary = f"range [{lo:.3g}, {hi:.3g}], mean {mean:.3g}, std {std:.3g}"
    if constant == 1.0:
        return DataCheck("input scaling", False, f"every feature is constant ({summary})",
                         "the inputs carry no information: check the loading", details)
    if max(abs(lo), abs(hi)) > max_abs:
        return DataCheck("input scaling", False, f"inputs reach {max(abs(lo), abs(hi)):.3g} ({summary})",
                         "scale them (pixels / 255) or standardize each feature (fnnet.data.Standardizer)", details)
    return DataCheck("input scaling", True, summary + (f", {constant:.0%} constant features" if constant else ""),
                     details=details)


def is_classification(y) -> bool:
    """Whether targets are class labels: integers, one-hot / probability rows ``(N, C)``, or binary 0/1
    floats (``(N,)`` or ``(N, 1)``, a sigmoid classifier's targets)."""
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        return True
    if y.ndim == 2 and y.shape[1] > 1:
        return bool(np.allclose(y.sum(axis=1), 1))
    return bool(np.isin(y, (0.0, 1.0)).all())


def trivial_baseline(y_train, y_eval) -> dict:
    """What a model that ignores its input scores on ``y_eval``: for classes, chance ``1/C`` and the
    accuracy of always predicting the most frequent training class; for real targets ``(N,)`` or
    ``(N, k)`` floats, the MSE of predicting the training mean."""
    y_train, y_eval = np.asarray(y_train), np.asarray(y_eval)
    if not is_classification(y_train):
        mean = y_train.mean(axis=0)
        return {"task": "regression", "mean_mse": float(np.mean((y_eval - mean) ** 2))}
    train, evaluate = _labels(y_train, "y_train"), _labels(y_eval, "y_eval")
    classes = max(int(train.max()), int(evaluate.max())) + 1
    if np.ndim(y_train) == 2 and np.shape(y_train)[1] > 1:
        classes = np.shape(y_train)[1]
    majority = int(np.bincount(train).argmax())
    return {"task": "classification", "classes": classes, "chance": 1.0 / classes, "majority_class": majority,
            "majority_accuracy": float(np.mean(evaluate == majority))}


def beats_baseline(model, state, x, y, *, y_train=None, margin: float = 0.02) -> DataCheck:
    """The checklist's "does the model beat chance / a trivial baseline?": the model's accuracy on
    ``(x, y)`` against the majority-class accuracy (classes; ``y_train`` gives the majority, default
    ``y``), or its MSE against predicting the mean (real targets). Fails unless the model is better by
    ``margin`` (accuracy points, or a fraction of the baseline's MSE)."""
    from fnnet.train import predict  # the compiled forward pass, cached

    outputs = np.asarray(predict(model, state, x))
    baseline = trivial_baseline(y if y_train is None else y_train, y)
    if baseline["task"] == "regression":
        mse = float(np.mean((outputs.reshape(np.shape(y)) - np.asarray(y)) ** 2))
        passed = mse < (1 - margin) * baseline["mean_mse"]
        message = f"MSE {mse:.4g} vs {baseline['mean_mse']:.4g} for predicting the mean"
        return DataCheck("beats a trivial baseline", passed, message, "the model has learned nothing from x: "
                         "check the inputs' alignment with the targets, then the learning rate",
                         {**baseline, "mse": mse})
    labels = _labels(y)
    predicted = (outputs.reshape(len(outputs)) > 0).astype(int) if outputs.ndim == 1 or outputs.shape[1] == 1 \
        else outputs.argmax(axis=1)
    accuracy = float(np.mean(predicted == labels))
    passed = accuracy > baseline["majority_accuracy"] + margin
    message = (f"accuracy {accuracy:.4f} vs {baseline['majority_accuracy']:.4f} for always class "
               f"{baseline['majority_class']} (chance {baseline['chance']:.4f})")
    return DataCheck("beats a trivial baseline", passed, message, "no better than ignoring the input: check the "
                     "labels and the input pipeline, then train longer or raise the learning rate",
                     {**baseline, "accuracy": accuracy})


def top_activating(model, params, x, *, layer: str, unit: int, k: int = 9, model_state=None) -> tuple:
    """The ``k`` examples of ``x`` that activate ``unit`` of ``layer`` most (the checklist's "images that
    most activate a unit"): ``(indices, activations)``, strongest first. For a convolutional layer the
    unit is a channel and its activation the maximum over positions. Show them with
    ``fnnet.viz.plot_image_grid(x[indices])``."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int (examples to return), got {k!r}")
    state = model_state if model_state is not None else {}
    _, _, activations = jax.jit(lambda p, s, xb: model.apply_with_activations(p, xb, state=s))(params, state, x)
    if layer not in activations:
        raise ValueError(f"layer must be one of {sorted(activations)}, got {layer!r}")
    act = np.asarray(activations[layer])
    units = act.shape[-1]
    if not isinstance(unit, (int, np.integer)) or not 0 <= unit < units:
        raise ValueError(f"unit must be an int in [0, {units}) for layer {layer!r} (shape {act.shape}), got {unit!r}")
    strength = act[..., unit].reshape(len(act), -1).max(axis=1)
    order = np.argsort(-strength, kind="stable")[:k]
    return order, strength[order]


__all__ = ["DataCheck", "beats_baseline", "class_balance", "input_scaling", "is_classification", "top_activating",
           "trivial_baseline"]
