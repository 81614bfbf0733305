"""The one objective every part of fnnet trains and evaluates with: loss + weight penalties + metrics.

::

    objective = make_objective(model, "softmax_cross_entropy", metrics=["accuracy"])
    loss, aux = objective(params, model_state, x, y, key=key, train=True)
    aux["outputs"], aux["model_state"], aux["metrics"]["accuracy"]

``loss = loss_fn(model(x), y) + model.penalty(params)`` (the data loss plus the layers' ``l1=``/``l2=``
penalties, as Keras reports it); the metrics are computed on the same outputs. The train step
differentiates it, evaluation calls it in evaluation mode over a whole data set, ensembles vmap it and
the diagnostics check its gradient. An :class:`Objective` is an immutable, hashable value: equal pieces
give equal objectives, which is what lets compiled programs be reused across calls.

Target checks belong to the losses and metrics themselves (they validate concrete label values before
anything else): :meth:`Objective.check_data` traces them once against abstract outputs and the whole,
concrete target array, so a user's ``lambda o, y: losses.softmax_cross_entropy(o, y)`` gets exactly the
checks of the name.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import losses as losses_lib
from fnnet import metrics as metrics_lib

PyTree = Any

# Losses that take logits, and the squashing a model's last layer must not apply before them.
_LOGIT_LOSSES = {
    losses_lib.softmax_cross_entropy: "softmax",
    losses_lib.categorical_crossentropy: "softmax",
    losses_lib.sigmoid_binary_cross_entropy: "sigmoid",
    losses_lib.binary_crossentropy: "sigmoid",
}


@dataclasses.dataclass(frozen=True)
class Objective:
    """``objective(params, model_state, x, y, *, key, train) -> (loss, aux)`` for one model.

    ``aux``: ``{"outputs": model outputs, "model_state": the model state after the forward pass,
    "metrics": {name: scalar}, "activations": {layer: output} (only with ``activations=True``)}``.
    ``loss`` is a float scalar: the mean data loss over the batch plus the model's weight penalties.
    """

    model: Any
    loss: Callable
    metrics: tuple = ()  # ((name, fn), ...)

    @property
    def metric_names(self) -> list[str]:
        return [name for name, _ in self.metrics]

    @property
    def log_names(self) -> list[str]:
        """The names of the logged quantities: ``["loss", *metric names]``."""
        return ["loss", *self.metric_names]

    def __call__(self, params, model_state, x, y, *, key=None, train: bool = False, activations: bool = False):
        if activations and hasattr(self.model, "apply_with_activations"):
            outputs, new_state, acts = self.model.apply_with_activations(params, x, key=key, train=train,
                                                                         state=model_state)
        else:
            outputs, new_state = self.model.apply(params, x, key=key, train=train, state=model_state)
            acts = {}
        loss, metrics = self.on_outputs(params, outputs, y)
        aux = {"outputs": outputs, "model_state": new_state, "metrics": metrics}
        if activations:
            aux["activations"] = acts
        return loss, aux

    def on_outputs(self, params, outputs, y) -> tuple[jax.Array, dict]:
        """``(loss, metrics)`` of outputs already computed (e.g. a whole data set evaluated in batches)."""
        loss = self.loss(outputs, y) + self.model.penalty(params)
        return loss, {name: fn(outputs, y) for name, fn in self.metrics}

    def logs(self, params, outputs, y) -> dict:
        """``{"loss": ..., <metric>: ...}`` of outputs already computed."""
        loss, metrics = self.on_outputs(params, outputs, y)
        return {"loss": loss, **metrics}

    # -- host-side checks, before anything is traced ---------------------------------------------
    def check_data(self, x, y, *, x_name: str = "x", y_name: str = "y") -> None:
        """Runs the loss's and the metrics' own target checks on the concrete targets ``y`` (all of
        them), against outputs shaped like the model's for ``x``; raises their ``ValueError`` with the
        argument named ``y_name``. Also refuses a model whose last layer squashes before a logit loss."""
        self.check_logits()
        shape = output_shape(self.model, tuple(np.shape(x)[1:]), np.result_type(np.asarray(x[:1]).dtype))
        targets = np.asarray(y)
        outputs = jax.ShapeDtypeStruct((targets.shape[0], *shape[1:]), jnp.float32)

        def loss_and_metrics(outputs):
            return self.loss(outputs, targets), [fn(outputs, targets) for _, fn in self.metrics]

        try:
            # Traced, not run: the outputs are abstract, the targets concrete, so the checks on the target
            # values fire on the host and no program is compiled (running them on zeros compiled one
            # small program per operation of every loss and metric, each first fit).
            jax.eval_shape(loss_and_metrics, outputs)
        except ValueError as err:
            message = str(err).replace("labels", y_name, 1).replace("targets", y_name, 1)
            raise ValueError(f"{message} (checked by the loss/metrics against the model's outputs "
                             f"{(None, *shape[1:])})") from None

    def check_logits(self) -> None:
        """Raises when the model's last layer applies softmax/sigmoid and the loss expects logits (a
        silent double squashing: ``Dense(10, "softmax")`` with ``"sparse_categorical_crossentropy"``)."""
        squash = _LOGIT_LOSSES.get(self.loss)
        last = final_activation(self.model)
        if squash is not None and last == squash:
            name = getattr(self.loss, "__name__", "the loss")
            probability_loss = name if name.endswith("crossentropy") else _PROB_NAME[squash]
            raise ValueError(
                f"model '{getattr(self.model, 'name', 'model')}' ends in a {last} and the loss {name} expects "
                f"logits, so the {last} would be applied twice. Either remove the final activation (fnnet "
                f"models end in logits; predict_proba applies the {last}), or keep it and pass a loss on "
                f"probabilities: loss=lambda p, y: fnnet.losses.{probability_loss}(p, y, from_logits=False)")


_PROB_NAME = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy"}


def final_activation(model) -> Optional[str]:
    """The name of the activation the model's last layer applies (``"softmax"``, ``"sigmoid"``...), or None."""
    layers = getattr(model, "layers", None)
    if not layers:
        return None
    last = layers[-1]
    if getattr(last, "layers", None) is not None:
        return final_activation(last)
    activation = getattr(last, "activation", None)
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", None) if callable(activation) else None


@functools.lru_cache(maxsize=256)
def output_shape(model, example_shape: tuple, dtype) -> tuple:
    """The model's output shape for a batch of one example of ``example_shape`` (abstract: nothing runs)."""
    sample = jax.ShapeDtypeStruct((1, *example_shape), jnp.float32 if not np.issubdtype(dtype, np.floating) else dtype)

    def forward(s):
        params, state = model.init_with_state(jax.random.key(0), s)
        return model.apply(params, s, state=state)[0]

    return tuple(jax.eval_shape(forward, sample).shape)


def resolve_metrics(metrics: Sequence) -> tuple:
    """Metric names or functions as ``((name, fn), ...)``; names are matched as :func:`fnnet.metrics.get`."""
    if isinstance(metrics, (str, dict)) or callable(metrics):
        raise ValueError(f"metrics must be a list of metric names or functions, e.g. metrics=['accuracy'], "
                         f"got {metrics!r}")
    resolved = []
    for m in metrics or ():
        fn = metrics_lib.get(m)
        if isinstance(m, str):
            name = metrics_lib.canonical_name(m)
        else:
            name = getattr(fn, "__name__", f"metric_{len(resolved)}")
        if name == "<lambda>":
            name = f"metric_{len(resolved)}"
        resolved.append((name, fn))
    names = [n for n, _ in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"metrics must have distinct names, got {names}")
    return tuple(resolved)


def resolve_loss(loss) -> Callable:
    """A loss name (see :func:`fnnet.losses.get`) or a function ``loss(outputs, y) -> scalar``."""
    if isinstance(loss, Objective) or (not callable(loss) and not isinstance(loss, str)):
        raise ValueError(f"loss must be a loss name such as 'softmax_cross_entropy' or a function "
                         f"loss(outputs, y) -> scalar, got {type(loss).__name__}")
    return losses_lib.get(loss)


def make_objective(model, loss, metrics: Sequence = ()) -> Objective:
    """The :class:`Objective` of ``model`` trained with ``loss`` (a name or a function) and reporting
    ``metrics`` (names or functions)."""
    check_model(model)
    return Objective(model, resolve_loss(loss), resolve_metrics(metrics))


def check_model(model) -> None:
    """Raises unless ``model`` is an fnnet model (a common slip: the arguments in another order)."""
    if not hasattr(model, "apply") or not hasattr(model, "init_with_state"):
        hint = " (the arguments are fit(model, loss, optimizer, (x, y), ...))" if isinstance(model, str) else ""
        raise ValueError(f"model must be an fnnet Model (e.g. fnnet.Sequential([...])), got "
                         f"{type(model).__name__}{hint}")


__all__ = ["Objective", "check_model", "final_activation", "make_objective", "output_shape", "resolve_loss",
           "resolve_metrics"]
