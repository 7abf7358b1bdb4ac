"""The gated residual block (PixelCNN++ gated_resnet)."""

import keras
import numpy as np
import pytest

from keras_hvae.layers import (
    GatedResidualBlock,
    WeightNormConv2D,
    WeightNormConv2DTranspose,
    initialize_weight_norm,
    uninitialized_weight_norm_layers,
)


def _images(rng, shape=(4, 8, 8, 6)):
    return rng.normal(size=shape).astype("float32")


def _zero_gate(gate_layer):
    """Zero the gate conv's scale and bias so that c2 == 0."""
    gate_layer.g.assign(np.zeros(gate_layer.g.shape, "float32"))
    gate_layer.bias.assign(np.zeros(gate_layer.bias.shape, "float32"))


@pytest.mark.backend_suite
@pytest.mark.parametrize(
    "kwargs, in_shape, out_shape, shortcut",
    [
        (dict(filters=6), (4, 8, 8, 6), (4, 8, 8, 6), None),
        (dict(filters=5), (4, 8, 8, 6), (4, 8, 8, 5), WeightNormConv2D),
        (dict(filters=6, stride=2), (4, 8, 8, 6), (4, 4, 4, 6), WeightNormConv2D),
        (dict(filters=3, stride=2), (4, 7, 7, 6), (4, 4, 4, 3), WeightNormConv2D),
        (dict(filters=6, stride=2, transpose=True), (4, 4, 4, 6), (4, 8, 8, 6), WeightNormConv2DTranspose),
        (dict(filters=6, transpose=True), (4, 5, 5, 6), (4, 5, 5, 6), None),
        (dict(filters=6, kernel_size=5, activation="concat_elu"), (4, 8, 8, 6), (4, 8, 8, 6), None),
    ],
)
def test_conv_block_output_shapes(kwargs, in_shape, out_shape, shortcut, rng, to_numpy):
    block = GatedResidualBlock(**kwargs)
    y = block(_images(rng, in_shape))
    assert tuple(y.shape) == out_shape
    assert block.compute_output_shape(in_shape) == out_shape
    if shortcut is None:
        assert block.shortcut is None
    else:
        assert type(block.shortcut) is shortcut
    assert np.all(np.isfinite(to_numpy(y)))
    symbolic = block(keras.Input(in_shape[1:]))
    assert tuple(symbolic.shape) == (None,) + out_shape[1:]


@pytest.mark.backend_suite
def test_zero_gate_makes_block_the_identity(rng, to_numpy):
    x = _images(rng)
    block = GatedResidualBlock(6, dropout=0.3)
    initialize_weight_norm(block, x)
    y = to_numpy(block(x))
    assert np.abs(y - x).max() > 1e-3  # non-trivial before zeroing
    _zero_gate(block.conv2)
    np.testing.assert_array_equal(to_numpy(block(x)), x)
    # Also with dropout active and an auxiliary path it stays the identity.
    block_aux = GatedResidualBlock(6, dropout=0.3)
    block_aux(x, aux=x)
    _zero_gate(block_aux.conv2)
    np.testing.assert_array_equal(to_numpy(block_aux(x, aux=x, training=True)), x)


def test_zero_gate_leaves_the_projection_shortcut(rng, to_numpy):
    x = _images(rng)
    block = GatedResidualBlock(4, stride=2)
    block(x)
    _zero_gate(block.conv2)
    np.testing.assert_allclose(to_numpy(block(x)), to_numpy(block.shortcut(x)), atol=1e-6)


@pytest.mark.backend_suite
@pytest.mark.parametrize(
    "aux_shape, stride, transpose",
    [
        ((4, 8, 8, 2), 1, False),  # same size
        ((4, 8, 8, 2), 2, False),  # downsampled block, aux at input size
        ((4, 4, 4, 2), 1, False),  # aux at half size -> upsampled
        ((4, 8, 8, 2), 2, True),   # upsampled block (16x16), aux at 8x8
    ],
)
def test_aux_input_changes_the_output(aux_shape, stride, transpose, rng, to_numpy):
    x = _images(rng)
    block = GatedResidualBlock(6, stride=stride, transpose=transpose)
    a1 = rng.normal(size=aux_shape).astype("float32")
    a2 = rng.normal(size=aux_shape).astype("float32")
    y1 = to_numpy(block(x, aux=a1))
    y2 = to_numpy(block(x, aux=a2))
    y0 = to_numpy(block(x))  # built with aux, called without: term skipped
    assert y1.shape == y0.shape
    assert np.abs(y1 - y2).max() > 1e-3
    assert np.abs(y1 - y0).max() > 1e-3
    # With a zeroed aux projection the aux input has no effect.
    block.aux_projection.g.assign(np.zeros(block.aux_projection.g.shape, "float32"))
    block.aux_projection.bias.assign(np.zeros(block.aux_projection.bias.shape, "float32"))
    np.testing.assert_allclose(to_numpy(block(x, aux=a1)), y0, atol=1e-6)


def test_aux_with_incompatible_shape_raises(rng):
    x = _images(rng)
    with pytest.raises(ValueError, match="cannot be resized"):
        GatedResidualBlock(6)(x, aux=rng.normal(size=(4, 5, 5, 2)).astype("float32"))
    with pytest.raises(ValueError, match=r"\(batch, H, W, C\) feature map"):
        GatedResidualBlock(6)(x, aux=rng.normal(size=(4, 10)).astype("float32"))
    block = GatedResidualBlock(6)
    block(x)
    with pytest.raises(ValueError, match="built without an auxiliary input"):
        block(x, aux=x)


@pytest.mark.backend_suite
def test_dropout_only_in_training(rng, to_numpy):
    x = _images(rng)
    block = GatedResidualBlock(6, dropout=0.5, seed=3)
    initialize_weight_norm(block, x)
    eval1, eval2 = to_numpy(block(x, training=False)), to_numpy(block(x))
    np.testing.assert_array_equal(eval1, eval2)
    train1, train2 = to_numpy(block(x, training=True)), to_numpy(block(x, training=True))
    assert np.abs(train1 - eval1).max() > 1e-3
    assert np.abs(train1 - train2).max() > 1e-3  # the seed generator advances
    # Without dropout, training makes no difference.
    plain = GatedResidualBlock(6, seed=3)
    plain(x)
    np.testing.assert_array_equal(to_numpy(plain(x, training=True)), to_numpy(plain(x, training=False)))
    assert plain.seed_generator is None


@pytest.mark.backend_suite
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_keeps_one_minus_rate_and_scales_by_its_inverse(rate, to_numpy):
    block = GatedResidualBlock(6, dropout=rate, seed=11)
    out = to_numpy(block._dropout(keras.ops.ones((64, 8, 8, 16)), training=True))
    dropped = np.mean(out == 0.0)
    # 65,536 Bernoulli draws: the standard error of the fraction is < 0.002
    assert abs(dropped - rate) < 0.01, dropped
    np.testing.assert_allclose(out[out != 0.0], 1.0 / (1.0 - rate), rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.03  # inverted dropout keeps the mean
    np.testing.assert_array_equal(to_numpy(block._dropout(keras.ops.ones((2, 3)), training=False)), 1.0)


def test_block_data_dependent_init_reaches_all_inner_layers(rng, channel_stats):
    x = _images(rng)
    a = rng.normal(size=(4, 4, 4, 3)).astype("float32")
    block = GatedResidualBlock(5, stride=2)
    block(x, aux=a)
    assert len(uninitialized_weight_norm_layers(block)) == 4  # conv1, aux, conv2, shortcut
    assert initialize_weight_norm(block, x, aux=a) == 4
    assert uninitialized_weight_norm_layers(block) == []
    # The gate conv is initialised with init_scale 0.1 (PixelCNN++).
    c1 = block.activation(block.conv1(block.activation(x)) + block.aux_projection(block.activation(a)))
    _, std = channel_stats(block.conv2(c1))
    np.testing.assert_allclose(std, 0.1, rtol=1e-3)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(filters=4, kernel_size=5, stride=2, transpose=True, dropout=0.2, seed=7),
        dict(filters=6, activation="concat_elu", gate_init_scale=0.3, seed=1),
    ],
)
def test_conv_block_config_round_trip(kwargs, rng, to_numpy):
    x = _images(rng)
    block = GatedResidualBlock(**kwargs)
    initialize_weight_norm(block, x, aux=x)
    config = block.get_config()
    assert config["seed"] == kwargs["seed"]
    clone = GatedResidualBlock.from_config(config)
    assert clone.get_config() == config
    clone.build(x.shape, aux_shape=x.shape)
    clone.set_weights(block.get_weights())
    np.testing.assert_allclose(to_numpy(clone(x, aux=x)), to_numpy(block(x, aux=x)), atol=1e-5)


def test_seed_is_an_int_in_config_even_if_not_given():
    config = GatedResidualBlock(4, dropout=0.1).get_config()
    assert isinstance(config["seed"], int)
