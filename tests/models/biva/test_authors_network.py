"""BIVA as its authors built it (issue 12, items 3-5): which tensors feed
which heads, the gated residual layer, the latent kernels and the
parameter counts, each checked against the authors' TensorFlow 1 code
(`larsmaaloee/BIVA`, `models/biva.py`, `layers/_neural.py`)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.layers import BIVAResidualBlock
from keras_hvae.models.biva import BIVA
from keras_hvae.models.biva import biva_architectures as archs

from tests.models.biva.authors_parameter_count import authors_biva_parameters
from tests.models.biva.conftest import tiny_binary, tiny_natural


def _numpy(v):
    return np.array(ops.convert_to_numpy(v))


def _trainable(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


@pytest.mark.parametrize("name,dense,outputs", [("binary_28x28", True, 1), ("natural_32x32", False, 100)])
def test_parameter_count_equals_the_authors_network(name, dense, outputs):
    spec = archs.get_architecture(name)
    reference = authors_biva_parameters(
        spec["data_shape"], spec["filters"], spec["kernel_sizes"], spec["strides"], spec["latent_sizes"],
        spec["layers_per_block"], dense, outputs,
    )
    model = BIVA.from_architecture(name)
    model.build()
    assert _trainable(model) == reference
    # the PyTorch port (vlievin/biva-pytorch) counts 31,550,946 for the binary model too
    if name == "binary_28x28":
        assert reference == 31_550_946


def test_latent_kernels_span_the_feature_map():
    model = BIVA.from_architecture("natural_32x32", filters=8)
    kernels = [tuple(h.kernel_size) for h in model.q_td_heads] + [tuple(model.q_top_head.kernel_size)]
    assert kernels == [(16, 16)] * 10 + [(8, 8)] * 4 + [(4, 4)]
    assert [tuple(h.kernel_size) for h in model.p_bu_heads] == kernels[:-1]
    assert BIVA.from_architecture("natural_32x32", filters=8, latent_kernel_size=3).q_top_head.kernel_size == (3, 3)


def _perturbed(model, variable, fn):
    """fn() before and after adding 0.5 to `variable` (restored after)."""
    before = fn()
    old = _numpy(variable)
    variable.assign(old + 0.5)
    try:
        after = fn()
    finally:
        variable.assign(old)
    return before, after


def _moved(pair, atol=1e-5):
    before, after = pair
    return float(np.abs(_numpy(after) - _numpy(before)).max()) > atol


def test_which_tensors_feed_which_heads(random_binary):
    model = tiny_binary(layers_per_block=2)
    x = random_binary[:4]
    model.initialize(x)
    L, M = model.num_layers, model.layers_per_block

    def posterior():
        state = model.bottom_up(x, use_mean=True)
        out = model.posterior_pass(state, use_mean=True)
        return state, out

    def q_bu():
        return ops.concatenate([loc for loc, _ in posterior()[0]["q_bu"]], axis=-1)

    def q_bu_1():
        return posterior()[0]["q_bu"][0][0]

    def q_bu_2():
        return posterior()[0]["q_bu"][1][0]

    def q_top():
        return posterior()[0]["q_top"][0]

    def q_td_1():  # q(z^TD_1 | .): the TD half of level 1's code
        return posterior()[1]["codes"][0][:, model.latent_sizes[0]:]

    td_path = model.td_inference_blocks[0].conv1.v  # the deterministic path, level 1
    generative = model._p_block(1, 0).conv1.v  # f_2: z_2 -> d_1
    merge_1 = model.q_merge_blocks[0].conv1.v
    top_merge = model.top_merge_block.conv1.v
    # q(z^BU_1): the stochastic bottom-up path only; q(z^BU_2) also reads the
    # deterministic path of level 1 (the skip input of level 2)
    assert not _moved(_perturbed(model, td_path, q_bu_1))
    assert _moved(_perturbed(model, td_path, q_bu_2))
    assert not _moved(_perturbed(model, model.td_inference_blocks[(L - 1) * M].conv1.v, q_bu))
    assert not _moved(_perturbed(model, generative, q_bu))
    assert not _moved(_perturbed(model, merge_1, q_bu))
    # q(z_L): a merge of both paths' top features, no generative features
    assert _moved(_perturbed(model, td_path, q_top))
    assert _moved(_perturbed(model, model._bu_block(0, 0).conv1.v, q_top))
    assert _moved(_perturbed(model, top_merge, q_top))
    assert not _moved(_perturbed(model, generative, q_top))
    # q(z^TD_1): the merge of the deterministic path at level 1 with d_1
    assert _moved(_perturbed(model, merge_1, q_td_1))
    assert _moved(_perturbed(model, generative, q_td_1))
    assert _moved(_perturbed(model, td_path, q_td_1))

    # wiring, from the shapes of the built layers (dense latents: z^BU_i is
    # projected to F maps, the skip input is both paths' outputs, 2F)
    F = model.filters[0]
    bu_2 = model._bu_block(1, 0)
    assert bu_2.conv1.v.shape[2] == F and bu_2.aux_projection.v.shape[2] == 2 * F
    assert model.td_inference_blocks[M].aux_projection.v.shape[2] == F  # the bottom-up output of level 2
    assert model.top_merge_block.conv1.v.shape[2] == 2 * F
    assert model.q_merge_blocks[0].aux_projection.v.shape[2] == F  # d_1
    assert model.q_td_heads[0].v.shape[0] == int(np.prod(model.resolutions[0][1])) * F  # merge output only
    assert len(model.q_merge_blocks) == L - 1


def test_conv_latents_feed_the_next_level_alone():
    model = tiny_natural(layers_per_block=2)
    x = np.random.default_rng(0).integers(0, 256, size=(2, 16, 16, 3)).astype("uint8")
    model.initialize(x)
    # the bottom-up input of level 2 is z^BU_1 (4 maps), zero-padded to 8 in the shortcut
    assert model._bu_block(1, 0).conv1.v.shape[2] == model.latent_sizes[0]
    # at a strided level the deterministic path receives the smaller bottom-up
    # output through a k x k transposed convolution with that stride
    aux = model.td_inference_blocks[0].aux_projection
    assert type(aux).__name__ == "WeightNormConv2DTranspose" and tuple(aux.strides) == (2, 2)
    assert tuple(aux.kernel_size) == (5, 5)


def test_every_weight_normalised_layer_starts_at_scale_one_hundredth():
    model = tiny_binary()
    scales = {
        l.init_scale for l in model._flatten_layers(include_self=False, recursive=True) if hasattr(l, "init_scale")
        and type(l).__name__.startswith("WeightNorm")
    }
    assert scales == {0.01}


def _authors_gated_resnet(block, x, aux=None):
    """The authors' `gated_resnet` in numpy/keras ops on the block's own
    weight-normalised layers, without dropout."""
    act = ops.elu
    c1 = block.conv1(act(x))
    if aux is not None:
        c1 = c1 + block.aux_projection(act(aux))
    c2 = _numpy(block.conv2(act(c1)))
    f = block.filters
    out = c2[..., :f] / (1 + np.exp(-c2[..., f:]))
    x = np.asarray(x)
    s = block._pool
    if s is not None:  # average pooling with the stride
        b, h, w, c = x.shape
        x = x.reshape(b, h // s[0], s[0], w // s[1], s[1], c).mean(axis=(2, 4))
    if x.shape[-1] < f:
        x = np.concatenate([x, np.zeros(x.shape[:-1] + (f - x.shape[-1],), x.dtype)], axis=-1)
    return out + x


@pytest.mark.parametrize("stride,channels", [(1, 8), (2, 8), (2, 3), (1, 3)])
def test_gated_layer_matches_the_authors_gated_resnet(stride, channels):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 8, 8, channels)).astype("float32")
    aux = rng.normal(size=(2, 8, 8, 5)).astype("float32")
    block = BIVAResidualBlock(8, kernel_size=3, stride=stride, seed=0)
    y = _numpy(block(x, aux=aux))
    np.testing.assert_allclose(y, _authors_gated_resnet(block, x, aux), rtol=1e-4, atol=1e-5)
    assert tuple(block.conv1.strides) == (1, 1) and tuple(block.conv2.strides) == (stride, stride)
    assert not any("shortcut" in v.path for v in block.weights)  # a parameter-free shortcut


def test_gated_layer_drops_the_shortcut_where_the_authors_do():
    x = np.ones((1, 4, 4, 8), "float32")
    up = BIVAResidualBlock(8, stride=2, transpose=True, seed=0)
    assert up(x).shape == (1, 8, 8, 8) and not up._use_residual  # larger output
    assert not BIVAResidualBlock(4, seed=0)._build_shortcut((1, 4, 4, 8)) and True
    narrow = BIVAResidualBlock(4, seed=0)
    narrow(x)
    assert not narrow._use_residual  # more input than output channels
    first = BIVAResidualBlock(8, residual=False, seed=0)
    first(x)
    assert first._residual(x) is None


def test_configs_saved_before_revision_2_load_as_revision_1():
    model = tiny_binary()
    assert model.architecture_revision == 2
    config = model.get_config()
    del config["architecture_revision"]
    old = BIVA.from_config(config)
    assert old.architecture_revision == 1 and not old.td_inference_blocks
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert again.architecture_revision == 2
    with pytest.raises(ValueError, match="architecture_revision"):
        tiny_binary(architecture_revision=3)


@pytest.mark.parametrize("revision", [1, 2])
def test_importance_weights_share_the_first_level_across_samples(revision, random_binary):
    """`repeated_forward_terms` runs the first level once per example; the
    log-weights equal those of the repeated batch under the same seed."""
    model = tiny_binary(architecture_revision=revision)
    x = ops.convert_to_tensor(random_binary[:3])
    model.initialize(random_binary)
    shared = model.repeated_forward_terms(x, 4, seed=keras.random.SeedGenerator(7))
    plain = model.forward_terms(ops.repeat(x, 4, axis=0), seed=keras.random.SeedGenerator(7))
    for key in ("log_px", "log_ratio"):
        np.testing.assert_allclose(_numpy(shared[key]), _numpy(plain[key]), rtol=1e-5, atol=1e-4)
    assert _numpy(shared["log_px"]).shape == (12,)
