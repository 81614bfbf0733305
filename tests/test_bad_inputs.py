"""Bad inputs across the public API, one row each: (id, call, expected error or warning type, words).

Adding a probe is one line in ``PROBES``::

    ("dense units 0", lambda: M.Dense(0), ValueError, ("Dense", "units", "got 0")),

* ``call`` takes no argument, or one (``tmp``: a fresh temporary folder, for probes that write files);
* an exception type means the call must raise it, with every word of ``words`` in the message
  (case-insensitive), raised from fnnet's (or the recipes') own code, not from deep inside jax/flax;
* a ``Warning`` subclass means the call must succeed and warn so, the words in the warning.

Helpers at the top build the small inputs (models, params, damaged files) the rows share.
"""
import gzip
import inspect
import io
import os
import tarfile
import traceback
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest
from test_data_loaders import HOUSING_HEADER, HOUSING_ROWS, mnist_like_arrays, write_acl_imdb, write_idx_set

from fnnet import losses
from fnnet import models as M
from fnnet.data import IncompleteDatasetError, PartialDatasetWarning, load_california_housing, load_imdb, load_mnist

import recipes

KEY = jax.random.key(0)
FNNET_DIRS = tuple(str(Path(__file__).resolve().parents[1] / d) + os.sep for d in ("fnnet", "recipes"))


def init(layers, shape):
    """``Sequential(layers).init_with_state`` on zeros of ``shape``."""
    return M.Sequential(layers).init_with_state(KEY, np.zeros(shape, np.float32))


def apply_with(params_of, layers, shape, *, train=False, batch=None, state="init"):
    """Applies ``Sequential(layers)`` to zeros of ``batch or shape`` with ``params_of(params)`` and its state
    (``state=None``/``{}`` to leave it out)."""
    model = M.Sequential(layers)
    params, model_state = model.init_with_state(KEY, np.zeros(shape, np.float32))
    given_state = model_state if state == "init" else state
    return model.apply(params_of(params), np.ones(batch or shape, np.float32), train=train, state=given_state,
                       key=KEY)


MLP = [M.Dense(4), M.Dense(2)]
BN_NET = [M.Dense(4), M.BatchNorm(), M.Dense(2)]


def other_params(layers, shape):
    """Params of a different model (same layer names, other sizes)."""
    return M.Sequential(layers).init(KEY, np.zeros(shape, np.float32))


def recipe_settings(name, **settings):
    """``recipes.make_config`` with command-line-style string settings (what ``fnnet run --set`` does)."""
    return recipes.make_config(recipes.load(name), quick=True, overrides={k: str(v) for k, v in settings.items()})


def mnist_cut(tmp):
    """A 5 + 3 image IDX set: an incomplete MNIST."""
    write_idx_set(tmp, mnist_like_arrays())
    return tmp


def housing_cut(tmp):
    (tmp / "housing.csv").write_text("\n".join([HOUSING_HEADER, *HOUSING_ROWS]) + "\n")
    return tmp


def imdb_tarball_cut(tmp):
    """An aclImdb tarball whose tar stream ends at a member boundary (the last review is gone)."""
    write_acl_imdb(tmp / "src")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(tmp / "src" / "aclImdb", arcname="aclImdb")
    with tarfile.open(fileobj=io.BytesIO(raw.getvalue())) as tar:
        last = max(tar.getmembers(), key=lambda m: m.offset)
    (tmp / "aclImdb_v1.tar.gz").write_bytes(gzip.compress(raw.getvalue()[: last.offset]))
    return tmp


NCHW_CNN = [M.Conv2D(4, 3, padding="same"), M.Flatten(), M.Dense(2)]

PROBES = [
    # --- layers: geometry and sizes (issue 18 item 8) ---
    ("conv kernel larger than a valid input", lambda: init([M.Conv2D(2, 7)], (2, 6, 6, 1)), ValueError,
     ("conv2d_0", "kernel_size (7, 7)", "(6, 6)", "padding='valid'")),
    ("conv stride 0", lambda: M.Conv2D(2, 3, strides=0), ValueError, ("Conv2D", "strides", "positive", "got 0")),
    ("conv stride negative", lambda: M.Conv2D(2, 3, strides=-1), ValueError, ("Conv2D", "strides", "got -1")),
    ("conv strides of 3 entries", lambda: M.Conv2D(2, 3, strides=(1, 1, 1)), ValueError, ("strides", "(1, 1, 1)")),
    ("conv kernel 0", lambda: M.Conv2D(2, 0), ValueError, ("Conv2D", "kernel_size", "got 0")),
    ("conv kernel 2.5", lambda: M.Conv2D(2, 2.5), ValueError, ("Conv2D", "kernel_size", "got 2.5")),
    ("conv filters 0", lambda: M.Conv2D(0), ValueError, ("Conv2D", "filters", "got 0")),
    ("conv padding unknown", lambda: M.Conv2D(2, padding="full"), ValueError, ("padding", "'same' or 'valid'", "full")),
    ("pool size 0", lambda: M.MaxPool2D(0), ValueError, ("MaxPool2D", "pool_size", "got 0")),
    ("pool stride 0", lambda: M.MaxPool2D(2, strides=0), ValueError, ("MaxPool2D", "strides", "got 0")),
    ("pool larger than the input", lambda: init([M.MaxPool2D(7)], (2, 6, 6, 1)), ValueError,
     ("maxpool2d_0", "pool_size (7, 7)", "(6, 6)")),
    ("pool padding unknown", lambda: M.MaxPool2D(2, padding="foo"), ValueError, ("padding", "foo")),
    ("maxout pieces 0", lambda: M.Maxout(3, pieces=0), ValueError, ("Maxout", "pieces", "got 0")),
    ("maxout units 0", lambda: M.Maxout(0), ValueError, ("Maxout", "units", "got 0")),
    ("maxout pieces 2.5", lambda: M.Maxout(3, pieces=2.5), ValueError, ("Maxout", "pieces", "2.5")),
    ("dense units 0", lambda: M.Dense(0), ValueError, ("Dense", "units", "positive int", "got 0")),
    ("dense units True", lambda: M.Dense(True), ValueError, ("Dense", "units", "got True")),
    ("dropout rate 1", lambda: M.Dropout(1.0), ValueError, ("Dropout", "rate", "[0, 1)", "1.0")),
    ("dropout rate negative", lambda: M.Dropout(-0.1), ValueError, ("Dropout", "rate", "-0.1")),
    ("dropout rate as text", lambda: M.Dropout("0.5"), ValueError, ("Dropout", "rate", "'0.5'")),
    ("reshape to another size", lambda: init([M.Reshape((7,))], (2, 5)), ValueError,
     ("reshape_0", "target_shape (7,)", "5 values")),
    # --- BatchNorm (item 6) ---
    ("batchnorm momentum 1.5", lambda: M.BatchNorm(momentum=1.5), ValueError, ("BatchNorm", "momentum", "[0, 1)", "1.5")),
    ("batchnorm momentum 1", lambda: M.BatchNorm(momentum=1.0), ValueError, ("BatchNorm", "momentum", "1.0")),
    ("batchnorm momentum negative", lambda: M.BatchNorm(momentum=-0.1), ValueError, ("momentum", "-0.1")),
    ("batchnorm epsilon 0", lambda: M.BatchNorm(epsilon=0.0), ValueError, ("BatchNorm", "epsilon", "> 0", "0.0")),
    ("batchnorm epsilon negative", lambda: M.BatchNorm(epsilon=-1.0), ValueError, ("epsilon", "-1.0")),
    ("batchnorm epsilon nan", lambda: M.BatchNorm(epsilon=float("nan")), ValueError, ("epsilon", "nan")),
    ("batchnorm training batch of 1", lambda: apply_with(lambda p: p, BN_NET, (4, 3), train=True, batch=(1, 3)),
     ValueError, ("batchnorm_0", "more than one value per feature", "(1, 4)")),
    # --- params and state that do not match the model (item 9) ---
    ("another model's params", lambda: apply_with(lambda p: other_params([M.Dense(3), M.Dense(2)], (2, 5)), MLP,
                                                  (2, 5)),
     ValueError, ("dense_0", "shape (3,)", "expected (4,)")),
    ("a missing layer", lambda: apply_with(lambda p: {"dense_0": p["dense_0"]}, MLP, (2, 5)), ValueError,
     ("params['dense_1'] is missing", "'kernel': (4, 2)")),
    ("a missing leaf", lambda: apply_with(lambda p: {**p, "dense_0": {"kernel": p["dense_0"]["kernel"]}}, MLP, (2, 5)),
     ValueError, ("params['dense_0']", "['kernel']", "expected ['bias', 'kernel']")),
    ("a transposed kernel", lambda: apply_with(
        lambda p: {**p, "dense_1": {**p["dense_1"], "kernel": p["dense_1"]["kernel"].T}}, MLP, (2, 5)),
     ValueError, ("dense_1", "shape (2, 4)", "expected (4, 2)")),
    ("params of an extra layer", lambda: apply_with(lambda p: {**p, "dense_7": p["dense_0"]}, MLP, (2, 5)),
     ValueError, ("['dense_7']", "not layers of model")),
    ("params None", lambda: apply_with(lambda p: None, MLP, (2, 5)), ValueError, ("params must be a dict", "NoneType")),
    ("a batchnorm model without its state", lambda: apply_with(lambda p: p, BN_NET, (2, 3), state={}), ValueError,
     ("state['batchnorm_0'] is missing", "batch_stats", "init_with_state")),
    ("a batchnorm model with no state at all", lambda: apply_with(lambda p: p, BN_NET, (2, 3), state=None), ValueError,
     ("non-trainable state", "state=")),
    ("conv params of another kernel size", lambda: apply_with(
        lambda p: other_params([M.Conv2D(2, 5)], (2, 6, 6, 1)), [M.Conv2D(2, 3)], (2, 6, 6, 1)),
     ValueError, ("conv2d_0", "(5, 5, 1, 2)", "expected (3, 3, 1, 2)")),
    # --- channels-first images (item 10, model part): a warning with the fix ---
    ("NCHW MNIST-like sample", lambda: init(NCHW_CNN, (2, 1, 28, 28)), UserWarning,
     ("channels-first", "NHWC", "transpose(0, 2, 3, 1)")),
    ("NCHW CIFAR-like sample", lambda: init(NCHW_CNN, (2, 3, 32, 32)), UserWarning, ("channels-first", "(2, 32, 32, 3)")),
    # --- losses (item 13) ---
    ("kl_divergence rows that do not sum to 1", lambda: losses.kl_divergence(np.array([[0.5, 0.9]]),
                                                                              np.array([[0.5, 0.5]])),
     ValueError, ("row sums of p",)),
    # --- data loaders: partial copies (item 2) ---
    ("an incomplete MNIST", lambda tmp: load_mnist(mnist_cut(tmp)), IncompleteDatasetError,
     ("train-images-idx3-ubyte.gz", "5 images", "expected 60,000", "allow_partial=True")),
    ("an incomplete MNIST, opted in", lambda tmp: load_mnist(mnist_cut(tmp), allow_partial=True), PartialDatasetWarning,
     ("5 images", "allow_partial=True")),
    ("housing.csv cut at a row boundary", lambda tmp: load_california_housing(housing_cut(tmp), features="MedInc"),
     IncompleteDatasetError, ("housing.csv", "3 data rows", "expected 20,640")),
    ("a partly extracted aclImdb/", lambda tmp: write_acl_imdb(tmp) or load_imdb(tmp, cache=False),
     IncompleteDatasetError, ("aclImdb/train/pos/", "2 reviews", "expected 12,500")),
    ("an IMDB tarball cut at a member boundary", lambda tmp: load_imdb(imdb_tarball_cut(tmp), cache=False),
     IncompleteDatasetError, ("aclImdb_v1.tar.gz", "aclImdb/train/pos/: 1 reviews")),
    ("allow_partial as text", lambda tmp: load_mnist(mnist_cut(tmp), allow_partial="yes"), TypeError,
     ("allow_partial", "True or False", "'yes'")),
    # --- recipe settings, validated before the run (item 11) ---
    ("planar iterations=0", lambda: recipe_settings("planar", iterations=0), ValueError,
     ("setting iterations", "an int >= 1", "got 0")),
    ("planar n_h=0", lambda: recipe_settings("planar", n_h=0), ValueError, ("setting n_h", ">= 1", "got 0")),
    ("planar learning_rate=-1", lambda: recipe_settings("planar", learning_rate=-1), ValueError,
     ("setting learning_rate", "> 0", "-1.0")),
    ("planar learning_rate=nan", lambda: recipe_settings("planar", learning_rate="nan"), ValueError,
     ("learning_rate", "finite")),
    ("planar n_h=2.5", lambda: recipe_settings("planar", n_h=2.5), ValueError, ("setting n_h", "an int", "'2.5'")),
    ("planar log_every=0", lambda: recipe_settings("planar", log_every=0), ValueError, ("log_every", "got 0")),
    ("planar log_every not dividing iterations", lambda: recipe_settings("planar", log_every=300), ValueError,
     ("iterations=1000", "not a multiple of log_every=300")),
    ("planar sweep_sizes=0", lambda: recipe_settings("planar", sweep_sizes=0), ValueError, ("sweep_sizes", "(0,)")),
    ("planar float64=maybe", lambda: recipe_settings("planar", float64="maybe"), ValueError,
     ("setting float64", "true or false", "'maybe'")),
    ("mnist_mlp batch_size=100000", lambda: recipe_settings("mnist_mlp", batch_size=100_000), ValueError,
     ("batch_size=100,000", "larger than the 5,000 training examples", "mnist_small")),
    ("mnist_mlp batch_size above train_limit", lambda: recipe_settings("mnist_mlp", batch_size=300, train_limit=200),
     ValueError, ("batch_size=300", "200 training examples")),
    ("mnist_mlp dataset=foo", lambda: recipe_settings("mnist_mlp", dataset="foo"), ValueError,
     ("setting dataset", "mnist_small", "'foo'")),
    ("mnist_mlp epochs=0", lambda: recipe_settings("mnist_mlp", epochs=0), ValueError, ("setting epochs", "got 0")),
    ("linear_quadratic batch larger than n_points", lambda: recipe_settings("linear_quadratic", batch_size=500),
     ValueError, ("batch_size=500", "400 training examples", "n_points=400")),
    ("linear_quadratic momentum=1.5", lambda: recipe_settings("linear_quadratic", momentum=1.5), ValueError,
     ("setting momentum", "< 1", "1.5")),
    ("cs4487_table val_size=1.5", lambda: recipe_settings("cs4487_table", val_size=1.5), ValueError,
     ("setting val_size", "< 1", "1.5")),
    ("cs4487_table rows=nope", lambda: recipe_settings("cs4487_table", rows="lr,nope"), ValueError,
     ("setting rows", "distinct", "'nope'")),
    ("optimizers rates per optimizer", lambda: recipe_settings("optimizers", mnist_learning_rates="0.1,0.01"),
     ValueError, ("mnist_learning_rates has 2 items", "optimizers has 4")),
    ("grid_search learning_rates axis", lambda: recipe_settings("grid_search", learning_rates="0.1,0.001,3"),
     ValueError, ("learning_rates", "0 < low < high")),
    ("housing_gd sgd_batch_size=0", lambda: recipe_settings("housing_gd", sgd_batch_size=0), ValueError,
     ("setting sgd_batch_size", "got 0")),
    ("imdb dropout=1", lambda: recipe_settings("imdb_regularization", dropout=1), ValueError,
     ("setting dropout", "< 1", "1.0")),
    ("unknown setting", lambda: recipe_settings("planar", n_hidden=3), ValueError, ("no setting 'n_hidden'", "n_h")),
]


def _run(call, tmp_path):
    return call(tmp_path) if inspect.signature(call).parameters else call()


def _raised_by_fnnet(error: BaseException) -> bool:
    """The innermost frame that raised is fnnet's or the recipes' own code (a checked error), not jax/flax."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(FNNET_DIRS)


def check_probe(probe_id, call, expected, words, tmp_path):
    """One row of a probe table: ``call`` raises ``expected`` from fnnet's own code (or warns so), with every
    word of ``words`` in the message. Other probe tables (``tests/test_probes_*.py``) use it too."""
    if issubclass(expected, Warning):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _run(call, tmp_path)
        messages = [str(w.message) for w in caught if issubclass(w.category, expected)]
        assert messages, f"{probe_id}: no {expected.__name__} (got {[str(w.message) for w in caught]})"
        message = " ".join(messages)
    else:
        with pytest.raises(expected) as info:
            _run(call, tmp_path)
        message = str(info.value)
        assert _raised_by_fnnet(info.value), f"{probe_id}: raised outside fnnet: {info.value!r}"
    missing = [w for w in words if w.lower() not in message.lower()]
    assert not missing, f"{probe_id}: message lacks {missing}: {message}"


@pytest.mark.parametrize("probe_id, call, expected, words", PROBES, ids=[p[0] for p in PROBES])
def test_bad_input_gets_a_clear_message(probe_id, call, expected, words, tmp_path):
    check_probe(probe_id, call, expected, words, tmp_path)


def test_probe_ids_are_unique():
    ids = [p[0] for p in PROBES]
    assert len(ids) == len(set(ids))
