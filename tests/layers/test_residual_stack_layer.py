"""ResidualStack: M gated residual blocks with one strided block."""

import keras
import numpy as np
import pytest

from keras_hvae.layers import (
    GatedResidualDenseBlock,
    ResidualStack,
    initialize_weight_norm,
    uninitialized_weight_norm_layers,
)


@pytest.mark.backend_suite
@pytest.mark.parametrize(
    "kwargs, in_shape, out_shape, strided_index",
    [
        (dict(num_layers=3, filters=8, kernel_size=5, stride=2), (2, 8, 8, 3), (2, 4, 4, 8), 2),
        (dict(num_layers=3, filters=8, stride=2, stride_position="first"), (2, 8, 8, 3), (2, 4, 4, 8), 0),
        (dict(num_layers=2, filters=4, stride=2, transpose=True), (2, 4, 4, 3), (2, 8, 8, 4), 1),
        (dict(num_layers=2, filters=3), (2, 5, 5, 3), (2, 5, 5, 3), None),
    ],
)
def test_stack_shapes_and_stride_position(kwargs, in_shape, out_shape, strided_index, rng):
    stack = ResidualStack(**kwargs)
    x = rng.normal(size=in_shape).astype("float32")
    y = stack(x)
    assert tuple(y.shape) == out_shape
    assert stack.compute_output_shape(in_shape) == out_shape
    assert len(stack.blocks) == kwargs["num_layers"]
    strides = [block.stride for block in stack.blocks]
    expected = [1] * len(strides)
    if strided_index is not None:
        expected[strided_index] = kwargs["stride"]
        assert stack.blocks[strided_index].transpose == kwargs.get("transpose", False)
    assert strides == expected


@pytest.mark.parametrize(
    "position, shapes",
    [("last", [(2, 8, 8, 4), (2, 8, 8, 4), (2, 4, 4, 4)]), ("first", [(2, 4, 4, 4)] * 3)],
)
def test_stride_position_changes_where_resampling_happens(position, shapes, rng, to_numpy):
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    stack = ResidualStack(3, 4, stride=2, stride_position=position)
    y = to_numpy(stack(x))
    h = x
    for block, shape in zip(stack.blocks, shapes):
        h = block(h)
        assert tuple(h.shape) == shape
    np.testing.assert_allclose(to_numpy(h), y, atol=1e-6)
    # Projection shortcuts only where channels or resolution change.
    has_projection = [block.shortcut is not None for block in stack.blocks]
    assert has_projection == ([True, False, True] if position == "last" else [True, False, False])


@pytest.mark.backend_suite
def test_aux_reaches_every_block(rng, to_numpy):
    x = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    aux = rng.normal(size=(2, 8, 8, 2)).astype("float32")
    stack = ResidualStack(3, 4, stride=2)
    y1 = to_numpy(stack(x, aux=aux))
    assert all(block.aux_projection is not None for block in stack.blocks)
    assert np.abs(y1 - to_numpy(stack(x, aux=-aux))).max() > 1e-3
    # Removing the aux path from only the first block still changes the output.
    first = stack.blocks[0].aux_projection
    first.g.assign(np.zeros(first.g.shape, "float32"))
    first.bias.assign(np.zeros(first.bias.shape, "float32"))
    assert np.abs(y1 - to_numpy(stack(x, aux=aux))).max() > 1e-3


def test_training_flag_reaches_dropout(rng, to_numpy):
    x = rng.normal(size=(2, 6, 6, 4)).astype("float32")
    stack = ResidualStack(2, 4, dropout=0.5, seed=11)
    a, b = to_numpy(stack(x)), to_numpy(stack(x, training=False))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - to_numpy(stack(x, training=True))).max() > 1e-3
    assert [blk.seed for blk in stack.blocks] == [11, 12]


def test_dense_stack(rng, to_numpy):
    x = rng.normal(size=(4, 10)).astype("float32")
    stack = ResidualStack(2, 6, dense=True, dropout=0.1, seed=0)
    y = stack(x, aux=rng.normal(size=(4, 3)).astype("float32"))
    assert tuple(y.shape) == (4, 6)
    assert all(isinstance(block, GatedResidualDenseBlock) for block in stack.blocks)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="stride_position"):
        ResidualStack(2, 4, stride_position="middle")
    with pytest.raises(ValueError, match="num_layers"):
        ResidualStack(0, 4)


@pytest.mark.backend_suite
def test_stack_in_a_saved_model_with_aux(tmp_path, rng, to_numpy, weights_of):
    x_in = keras.Input((8, 8, 3))
    a_in = keras.Input((4, 4, 2))
    h = ResidualStack(2, 4, stride=2, dropout=0.2, seed=2)(x_in, aux=a_in)
    out = ResidualStack(1, 3, stride=2, transpose=True, seed=9)(h, aux=a_in)
    model = keras.Model([x_in, a_in], out)
    x = rng.normal(size=(8, 8, 8, 3)).astype("float32")
    a = rng.normal(size=(8, 4, 4, 2)).astype("float32")
    n_wn = len(uninitialized_weight_norm_layers(model))
    # conv1 + aux projection + gate conv + projection shortcut in each of the 3 blocks
    assert n_wn == 3 * 4
    assert initialize_weight_norm(model, [x, a]) == n_wn
    model.save(tmp_path / "stack.keras")
    loaded = keras.saving.load_model(tmp_path / "stack.keras")
    assert uninitialized_weight_norm_layers(loaded) == []
    np.testing.assert_allclose(to_numpy(loaded([x, a])), to_numpy(model([x, a])), atol=1e-5)
    before = weights_of(loaded)
    assert initialize_weight_norm(loaded, [x * 2.0, a]) == 0
    for key, value in weights_of(loaded).items():
        np.testing.assert_array_equal(value, before[key])
    for layer in model.layers:
        assert loaded.get_layer(layer.name).get_config() == layer.get_config()
