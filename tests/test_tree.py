"""fnnet.tree: naming, selecting and counting the leaves of a params tree."""
import jax
import jax.numpy as jnp
import pytest

from fnnet import tree


def _params():
    return {
        "dense_0": {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros(4)},
        "batchnorm_0": {"scale": jnp.ones(4), "bias": jnp.zeros(4)},
        "dense_1": {"kernel": jnp.ones((4, 2)), "bias": jnp.zeros(2)},
    }


def test_flatten_with_names_gives_slash_paths_in_tree_order():
    params = _params()
    names = [name for name, _ in tree.flatten_with_names(params)]
    # jax.tree_util sorts dict keys.
    assert names == [
        "batchnorm_0/bias", "batchnorm_0/scale", "dense_0/bias", "dense_0/kernel", "dense_1/bias", "dense_1/kernel",
    ]
    leaves = [leaf for _, leaf in tree.flatten_with_names(params)]
    assert all(a is b for a, b in zip(leaves, jax.tree_util.tree_leaves(params)))


def test_param_mask_default_selects_every_kernel():
    mask = tree.param_mask(_params())
    assert mask == {
        "dense_0": {"kernel": True, "bias": False},
        "batchnorm_0": {"scale": False, "bias": False},
        "dense_1": {"kernel": True, "bias": False},
    }


@pytest.mark.parametrize(
    "layers, leaves, expected",
    [
        (["dense_1"], ("kernel",), {"dense_1/kernel"}),
        ("dense_0", None, {"dense_0/kernel", "dense_0/bias"}),
        (lambda name: name.startswith("batchnorm"), ("scale", "bias"), {"batchnorm_0/scale", "batchnorm_0/bias"}),
        (None, "bias", {"dense_0/bias", "batchnorm_0/bias", "dense_1/bias"}),
    ],
)
def test_select_by_layer_names_predicate_and_leaf_names(layers, leaves, expected):
    assert set(tree.select(_params(), layers=layers, leaves=leaves)) == expected


def test_param_mask_works_as_an_optax_mask_under_jit():
    params = _params()
    # Only the structure is used, so tracing the params does not matter.
    mask = jax.jit(lambda p: jax.tree.map(lambda m, w: jnp.where(m, w, 0.0), tree.param_mask(p), p))(params)
    assert float(mask["dense_0"]["kernel"].sum()) == 12.0
    assert float(mask["batchnorm_0"]["scale"].sum()) == 0.0


def test_unknown_layer_name_raises_listing_the_layers():
    with pytest.raises(ValueError, match=r"layers names \['dense_7'\] not found.*dense_0"):
        tree.param_mask(_params(), layers=["dense_7"])


def test_empty_selection_raises():
    with pytest.raises(ValueError, match="selects no parameter"):
        tree.param_mask(_params(), layers=["batchnorm_0"])  # BatchNorm has no kernel
    with pytest.raises(ValueError, match="selects no parameter"):
        tree.param_mask(_params(), leaves="kernal")


def test_count_params():
    # 3*4 + 4 + 4 + 4 + 4*2 + 2
    assert tree.count_params(_params()) == 34
    assert isinstance(tree.count_params(_params()), int)
