"""fnnet: functional deep learning for teaching and training, compiled with JAX.

Models are pure ``init``/``apply`` pairs (:mod:`fnnet.models`), losses and metrics pure functions
(:mod:`fnnet.losses`, :mod:`fnnet.metrics`), optimizers optax chains (:mod:`fnnet.optim`), and training
a compiled program (:func:`fnnet.fit`)::

    import jax, fnnet
    from fnnet import models as M, optim

    model = M.mlp([128, 128, 10], dropout=0.5)
    state, history = fnnet.fit(model, "softmax_cross_entropy", optim.optimizer("adam", 1e-3),
                               (x_train, y_train), epochs=10, batch_size=128,
                               validation_data=(x_val, y_val), metrics=["accuracy"],
                               key=jax.random.key(0))
"""
import importlib.metadata as _metadata  # the version is pyproject's, read from the installed metadata

from fnnet import (
    callbacks,
    checkpoint,
    diagnostics,
    distributed,
    engine,
    ensemble,
    exercises,
    initializers,
    losses,
    metrics,
    models,
    optim,
    search,
    train,
    tree,
)
from fnnet.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    ReduceLROnPlateau,
    StepLog,
    TensorBoard,
)
from fnnet.checkpoint import CheckpointError
from fnnet.engine import Checkpointing, TrainOptions, count_compiles
from fnnet.models import Model, Sequential, summary
from fnnet.objective import Objective, make_objective
from fnnet.saving import load_model, save_model
from fnnet.state import History, NonFiniteError, NonFiniteLossError, PopulationHistory, StepStatistics, TrainState
from fnnet.train import (
    create_train_state,
    evaluate,
    fit,
    make_eval_step,
    make_train_step,
    predict,
    predict_proba,
)

try:
    __version__ = _metadata.version("fnnet")
except _metadata.PackageNotFoundError:  # a source tree on PYTHONPATH that was never installed
    __version__ = "0+unknown"
