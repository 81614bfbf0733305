"""Bad inputs found by the second probe round (issue 18), one row each, checked as in
``tests/test_bad_inputs.py``: the call raises from fnnet's own code with every word in the message."""
import jax
import numpy as np
import optax
import pytest
from test_bad_inputs import check_probe

import fnnet
from fnnet import ensemble, losses, metrics, optim, tree
from fnnet import models as M
from fnnet.callbacks import CSVLogger, EarlyStopping, LambdaCallback, ReduceLROnPlateau, TensorBoard
from fnnet.engine.options import Checkpointing

KEY = jax.random.key(0)
X = np.random.RandomState(0).randn(16, 3).astype(np.float32)
Y = np.arange(16) % 2
MLP = M.Sequential([M.Dense(4, "relu"), M.Dense(2)])
PARAMS, _ = MLP.init_with_state(KEY, X[:1])
STACKED = tree.stack([PARAMS, PARAMS])
PROBS = np.full((2, 4, 2), 0.5)
ONE_OF = optim.one_of({"sgd": optim.optimizer("sgd", 0.1), "rmsprop": optim.optimizer("rmsprop", 0.01)})


def fit(**changes):
    """A one-epoch fit of a tiny MLP with ``changes`` to its arguments (every probe fails before compiling)."""
    data = changes.pop("train_data", (X, Y))
    args = dict(epochs=1, batch_size=8, key=KEY, verbose=0) | changes
    return fnnet.fit(MLP, "softmax_cross_entropy", optim.optimizer("sgd", 0.1), data, **args)


def fit_ensemble(**changes):
    """A two-member version of :func:`fit` (every probe fails before compiling)."""
    args = dict(epochs=1, batch_size=8, n_members=2, key=KEY, verbose=0) | changes
    return ensemble.fit_ensemble(MLP, "softmax_cross_entropy", optim.optimizer("sgd", 0.1), (X, Y), **args)


PROBES = [
    # fit's arguments
    ("fit verbose 5", lambda: fit(verbose=5), ValueError, ("verbose", "0 (silent)", "got 5")),
    ("fit verbose as text", lambda: fit(verbose="yes"), ValueError, ("verbose", "'yes'")),
    ("fit x of text", lambda: fit(train_data=(np.array([["a"] * 3] * 16), Y)), ValueError,
     ("train_data[0] (x)", "numeric", "<U1")),
    ("fit key a batch of keys", lambda: fit(key=jax.random.split(KEY, 2)), ValueError,
     ("key", "one PRNG key", "batch of keys")),
    ("fit metrics a dict", lambda: fit(metrics={"accuracy": 1}), ValueError, ("metrics must be a list",)),
    ("fit callbacks a dict", lambda: fit(callbacks={"stop": fnnet.EarlyStopping()}), ValueError,
     ("callbacks must be a list", "dict")),
    ("fit augment not callable", lambda: fit(augment=3), ValueError, ("augment", "function", "int")),
    ("fit devices as text", lambda: fit(devices="gpu"), ValueError, ("devices", "jax devices", "'gpu'")),
    ("fit devices an int", lambda: fit(devices=0), ValueError, ("devices", "got int 0")),
    ("Checkpointing resume as text", lambda: Checkpointing("/tmp/ck", resume="yes"), ValueError,
     ("Checkpointing.resume", "True or False", "'yes'")),
    ("Checkpointing allow_changes 1", lambda: Checkpointing("/tmp/ck", allow_changes=1), ValueError,
     ("Checkpointing.allow_changes", "got 1")),
    ("Checkpointing keep_best empty", lambda: Checkpointing("/tmp/ck", keep_best=""), ValueError,
     ("keep_best", "log name")),
    # predict, create_train_state
    ("predict model None", lambda: fnnet.predict(None, PARAMS, X), ValueError, ("model must be an fnnet Model",)),
    ("predict x of text", lambda: fnnet.predict(MLP, PARAMS, np.array([["a"] * 3])), ValueError,
     ("x must be a numeric array", "<U1")),
    ("create_train_state sample None", lambda: fnnet.create_train_state(MLP, "sgd", KEY, None), ValueError,
     ("x_sample", "numeric")),
    # optimizers
    ("optimizer learning rate a list", lambda: optim.optimizer("adam", [0.1]), ValueError,
     ("learning_rate must be one number", "fit_sweep")),
    ("optimizer nesterov as text", lambda: optim.optimizer("sgd", 0.1, momentum=0.9, nesterov="yes"), ValueError,
     ("nesterov", "True or False")),
    ("optimizer inject as text", lambda: optim.optimizer("sgd", 0.1, inject="no"), ValueError, ("inject", "'no'")),
    ("optimizer decay_mask an int", lambda: optim.optimizer("sgd", 0.1, l2=0.1, decay_mask=3), ValueError,
     ("decay_mask", "pytree of bools", "int 3")),
    ("step_decay every 0", lambda: optim.step_decay(0.1, every=0), ValueError, ("step_decay every", "got 0")),
    ("trajectory fn not scalar", lambda: optim.trajectory(lambda p: p * 2, np.zeros(2, np.float32), "sgd", 3),
     ValueError, ("fn must return one float", "shape (2,)")),
    # losses and metrics
    ("categorical_crossentropy from_logits as text",
     lambda: losses.categorical_crossentropy(np.zeros((2, 2)), np.array([0, 1]), from_logits="no"), ValueError,
     ("from_logits", "True or False", "'no'")),
    ("binary_crossentropy from_logits as text",
     lambda: losses.binary_crossentropy(np.zeros((2, 1)), np.array([0, 1]), from_logits="False"), ValueError,
     ("from_logits", "'False'")),
    ("mse of text", lambda: losses.mse(np.array(["a"]), np.array(["b"])), ValueError, ("predictions", "numeric")),
    ("binary_accuracy threshold as text",
     lambda: metrics.binary_accuracy(np.zeros((3, 1)), np.array([0, 1, 0]), threshold="0.5"), ValueError,
     ("threshold must be a number", "'0.5'")),
    # callbacks
    ("EarlyStopping patience 1.5", lambda: EarlyStopping(patience=1.5), ValueError,
     ("EarlyStopping(patience=...)", "int >= 0", "1.5")),
    ("EarlyStopping monitor an int", lambda: EarlyStopping(monitor=3), ValueError,
     ("EarlyStopping(monitor=...)", "name a log", "int 3")),
    ("EarlyStopping min_delta as text", lambda: EarlyStopping(min_delta="0.1"), ValueError,
     ("EarlyStopping(min_delta=...)", "number", "'0.1'")),
    ("EarlyStopping restore_best_weights as text", lambda: EarlyStopping(restore_best_weights="yes"), ValueError,
     ("restore_best_weights", "True or False")),
    ("ReduceLROnPlateau factor as text", lambda: ReduceLROnPlateau(factor="0.5"), ValueError,
     ("ReduceLROnPlateau(factor=...)", "number")),
    ("ReduceLROnPlateau cooldown 0.5", lambda: ReduceLROnPlateau(cooldown=0.5), ValueError,
     ("ReduceLROnPlateau(cooldown=...)", "int >= 0")),
    ("CSVLogger empty separator", lambda: CSVLogger("log.csv", separator=""), ValueError,
     ("CSVLogger(separator=...)", "one character", "''")),
    ("CSVLogger append as text", lambda: CSVLogger("log.csv", append="no"), ValueError, ("append", "'no'")),
    ("LambdaCallback hook not callable", lambda: LambdaCallback(on_epoch_end=3), ValueError,
     ("LambdaCallback(on_epoch_end=...)", "function", "int 3")),
    ("TensorBoard log_dir None", lambda: TensorBoard(None), ValueError,
     ("TensorBoard(log_dir=...)", "path", "None")),
    ("fit_ensemble per-member callback lists", lambda: fit_ensemble(callbacks=[[EarlyStopping()], [EarlyStopping()]]),
     ValueError, ("one flat list", "callbacks[0] is a list", "its own copy")),
    # ensembles and sweeps
    ("fit_ensemble shared_order as text", lambda: fit_ensemble(shared_order="yes"), ValueError,
     ("shared_order", "True or False", "'yes'")),
    ("combine negative probabilities", lambda: ensemble.combine(PROBS - 1.0), ValueError,
     ("probabilities must lie in [0.0, 1.0]", "class_probabilities")),
    ("combine rows not summing to 1", lambda: ensemble.combine(np.full((2, 4, 2), 0.9)), ValueError,
     ("probabilities rows", "summing to 1")),
    ("accuracies labels out of range", lambda: ensemble.accuracies(PROBS, np.array([0, 1, 2, 5])), ValueError,
     ("labels", "[0, 2)", "[0, 5]")),
    ("evaluate_ensemble labels out of range", lambda: ensemble.evaluate_ensemble(MLP, STACKED, X, Y + 3), ValueError,
     ("labels", "[0, 2)")),
    ("predict_members one model's params", lambda: ensemble.predict_members(MLP, PARAMS, X), ValueError,
     ("must be stacked", "fnnet.predict")),
    ("ensemble_predict one model's params", lambda: ensemble.ensemble_predict(MLP, PARAMS, X), ValueError,
     ("must be stacked", "dense_0/bias", "(4,)")),
    ("ensemble_predict params of another model",
     lambda: ensemble.ensemble_predict(MLP, tree.stack([M.Sequential([M.Dense(5), M.Dense(2)]).init_with_state(
         KEY, X[:1])[0]] * 2), X), ValueError, ("dense_0/bias", "(2, 5)", "expects (members, 4)")),
    ("fit_sweep hyperparams a list", lambda: fnnet.search.fit_sweep(
        MLP, "softmax_cross_entropy", "sgd", (X, Y), hyperparams=[0.1, 0.01], key=KEY, epochs=1), ValueError,
     ("hyperparams must be a dict", "list")),
    ("fit_sweep same_init as text", lambda: fnnet.search.fit_sweep(
        MLP, "softmax_cross_entropy", "sgd", (X, Y), hyperparams={"learning_rate": [0.1]}, key=KEY, epochs=1,
        same_init="no"), ValueError, ("same_init", "True or False")),
    # stacked trees
    ("tree.member past the end", lambda: tree.member(STACKED, 2), ValueError, ("member index", "[-2, 2)", "got 2")),
    ("tree.member before the start", lambda: tree.member(STACKED, -3), ValueError, ("[-2, 2)", "got -3")),
    ("tree.member index array out of range", lambda: tree.member(STACKED, np.array([0, 4])), ValueError,
     ("[-2, 2)", "[0, 4]")),
    ("tree.member float index", lambda: tree.member(STACKED, 1.0), ValueError, ("member index", "float 1.0")),
    ("tree.num_members leaves of different lengths",
     lambda: tree.num_members({"a": np.zeros((3, 2)), "b": np.zeros(2)}), ValueError,
     ("one member axis", "'a' has 3", "'b' has 2")),
    ("tree.stack different structures", lambda: tree.stack([{"a": 1}, {"b": 1}]), ValueError,
     ("one structure", "trees[1]", "['b']")),
    ("tree.stack different shapes", lambda: tree.stack([{"a": np.zeros(2)}, {"a": np.zeros(3)}]), ValueError,
     ("one shape", "'a'", "(3,)", "(2,)")),
    ("tree.stack one dict", lambda: tree.stack(PARAMS), ValueError, ("list of trees", "dict")),
    ("tree.param_mask leaves an int", lambda: tree.param_mask(PARAMS, leaves=3), ValueError,
     ("leaves must be a name or a list of names", "int 3")),
    # several optimizers in one population
    ("optim.one_of empty", lambda: optim.one_of({}), ValueError, ("non-empty dict", "{}")),
    ("optim.one_of a list", lambda: optim.one_of([optax.sgd(0.1)]), ValueError, ("non-empty dict", "name: optimizer")),
    ("optim.one_of a number as option", lambda: optim.one_of({"sgd": 0.1}), ValueError,
     ("options['sgd']", "optax transformation", "float")),
    ("optim.one_of unknown optimizer name", lambda: optim.one_of({"a": "sgdd"}), ValueError, ("optimizer", "'sgdd'")),
    ("OneOf.select unknown name", lambda: ONE_OF.select(ONE_OF.init(PARAMS), "adam"), ValueError,
     ("choice", "'adam'", "sgd")),
    ("OneOf.select index out of range", lambda: ONE_OF.select(ONE_OF.init(PARAMS), 2), ValueError,
     ("choice", "[0, 2)", "got 2")),
    ("OneOf.select one per member on one state", lambda: ONE_OF.select(ONE_OF.init(PARAMS), ["sgd", "rmsprop"]),
     ValueError, ("one per member", "shape ()", "(2,)")),
    ("OneOf.select another optimizer's state", lambda: ONE_OF.select(optax.sgd(0.1).init(PARAMS), 0), ValueError,
     ("OneOfState", "got")),
]


@pytest.mark.parametrize("probe_id, call, expected, words", PROBES, ids=[p[0] for p in PROBES])
def test_bad_input_gets_a_clear_message(probe_id, call, expected, words, tmp_path):
    check_probe(probe_id, call, expected, words, tmp_path)


def test_valid_by_design_inputs_still_work():
    # a raw uint32 key and verbose=True (Keras-style) are accepted; probabilities are renormalized as Keras
    state, _ = fit(key=jax.random.PRNGKey(0), verbose=False)
    assert fnnet.predict(MLP, state, X.tolist()).shape == (16, 2)
    loss = losses.categorical_crossentropy(np.full((1, 2), 0.9), np.array([[1.0, 0.0]]), from_logits=False)
    np.testing.assert_allclose(float(loss), -np.log(0.5), rtol=1e-6)
    assert isinstance(optim.optimizer("adam", 1e-3, eps=0.0), optax.GradientTransformation)
