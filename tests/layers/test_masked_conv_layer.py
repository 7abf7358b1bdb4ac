"""MaskedConv2D: causal receptive field and the unmasked conditioning path."""

import keras
import numpy as np
import pytest

from keras_hvae.layers import MaskedConv2D, causal_mask, initialize_weight_norm

H = W = 5


def _raster(i, j):
    return i * W + j


def _later_neighbours(i, j):
    """Pixels after (i, j) whose 3x3 causal window contains (i, j)."""
    return [(a, b) for a, b in ((i, j + 1), (i + 1, j)) if a < H and b < W]


def _response_to_pixel(f, x, i, j, channel=None, delta=1.0):
    """|f(x + delta at pixel (i, j)) - f(x)| summed over output channels."""
    x2 = x.copy()
    if channel is None:
        x2[:, i, j, :] += delta
    else:
        x2[:, i, j, channel] += delta
    return np.abs(f(x2) - f(x)).sum(axis=(0, 3))  # (H, W)


def test_mask_patterns():
    a = causal_mask((3, 3), 2, 1, "A")
    b = causal_mask((3, 3), 2, 1, "B")
    expected_a = np.array([[1, 1, 1], [1, 0, 0], [0, 0, 0]], "float32")
    for c in range(2):
        np.testing.assert_array_equal(a[:, :, c, 0], expected_a)
        np.testing.assert_array_equal(b[:, :, c, 0], expected_a + np.eye(3)[1][:, None] * np.eye(3)[1])
    assert causal_mask((5, 3), 1, 1, "B")[:, :, 0, 0].sum() == 2 * 3 + 2


@pytest.mark.backend_suite
@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("weight_norm", [True, False])
def test_single_layer_receptive_field(mask_type, weight_norm, rng, to_numpy):
    layer = MaskedConv2D(3, 3, mask_type=mask_type, weight_norm=weight_norm)
    x = rng.normal(size=(1, H, W, 2)).astype("float32")
    layer(x)
    # Random, non-zero kernel values everywhere (masked positions included).
    kernel = layer.v if weight_norm else layer.kernel
    kernel.assign(rng.normal(size=kernel.shape).astype("float32") + 3.0)

    def f(t):
        return to_numpy(layer(t))

    for i in range(H):
        for j in range(W):
            for channel in range(2):
                response = _response_to_pixel(f, x, i, j, channel)
                p = _raster(i, j)
                order = np.arange(H * W).reshape(H, W)
                # Never seen at or before (i, j) in raster order ...
                before = order < p
                assert np.all(response[before] == 0.0), (i, j)
                # ... the pixel itself only with mask "B" ...
                if mask_type == "A":
                    assert response[i, j] == 0.0
                else:
                    assert response[i, j] > 1e-3
                # ... while its right and lower neighbours do see it.
                for ni, nj in _later_neighbours(i, j):
                    assert response[ni, nj] > 1e-3, (i, j, ni, nj)


@pytest.mark.backend_suite
def test_pixelcnn_stack_depends_only_on_previous_pixels(rng, to_numpy):
    layers = [
        MaskedConv2D(4, 3, "A", activation="elu"),
        MaskedConv2D(4, 3, "B", activation="elu"),
        MaskedConv2D(2, 3, "B"),
    ]
    x = rng.normal(size=(2, H, W, 3)).astype("float32")
    c = rng.normal(size=(2, H, W, 2)).astype("float32")

    def f(t):
        h = t
        for layer in layers:
            h = layer(h, conditioning=c)
        return to_numpy(h)

    initialize_weight_norm(f, x)
    order = np.arange(H * W).reshape(H, W)
    for i in range(H):
        for j in range(W):
            response = _response_to_pixel(f, x, i, j)
            p = _raster(i, j)
            assert np.all(response[order <= p] == 0.0), (i, j)
            for ni, nj in _later_neighbours(i, j):
                assert response[ni, nj] > 1e-4, (i, j, ni, nj)
    # The receptive field grows with depth: (0, 0) reaches (2, 1) only via 2+ layers.
    assert _response_to_pixel(f, x, 0, 0)[2, 1] > 1e-4


@pytest.mark.backend_suite
@pytest.mark.parametrize("weight_norm", [True, False])
def test_conditioning_changes_output_everywhere_and_is_unmasked(weight_norm, rng, to_numpy):
    layer = MaskedConv2D(3, 3, mask_type="A", weight_norm=weight_norm)
    x = rng.normal(size=(2, H, W, 1)).astype("float32")
    c1 = rng.normal(size=(2, H, W, 4)).astype("float32")
    c2 = rng.normal(size=(2, H, W, 4)).astype("float32")
    y1, y2 = to_numpy(layer(x, conditioning=c1)), to_numpy(layer(x, conditioning=c2))
    assert np.all(np.abs(y1 - y2).max(axis=-1) > 1e-4)  # every pixel changes
    y0 = to_numpy(layer(x))  # conditioning term skipped
    assert np.all(np.abs(y1 - y0).max(axis=-1) > 1e-4)
    # 1x1 and unmasked: conditioning at (i, j) affects exactly pixel (i, j).
    response = _response_to_pixel(lambda t: to_numpy(layer(x, conditioning=t)), c1, 2, 2)
    assert response[2, 2] > 1e-4
    response[2, 2] = 0.0
    np.testing.assert_array_equal(response, 0.0)


def test_data_dependent_init_of_masked_conv(rng, channel_stats, to_numpy):
    x = rng.normal(size=(8, H, W, 3)).astype("float32")
    c = rng.normal(size=(8, H, W, 2)).astype("float32")
    layer = MaskedConv2D(4, 3, "B")
    assert initialize_weight_norm(layer, x) == 1
    mean, std = channel_stats(layer(x))
    np.testing.assert_allclose(mean, 0.0, atol=1e-4)
    np.testing.assert_allclose(std, 1.0, rtol=1e-3)
    # The effective kernel is masked and has per-channel norm g.
    kernel = to_numpy(layer.effective_kernel())
    mask = causal_mask((3, 3), 3, 4, "B")
    np.testing.assert_array_equal(kernel[mask == 0], 0.0)
    np.testing.assert_allclose(np.sqrt((kernel**2).sum(axis=(0, 1, 2))), to_numpy(layer.g), rtol=1e-5)
    # With conditioning both the masked conv and the 1x1 projection initialise.
    conditioned = MaskedConv2D(4, 3, "A")
    assert initialize_weight_norm(conditioned, x, conditioning=c) == 2
    plain = MaskedConv2D(4, 3, "A", weight_norm=False)
    plain(x)
    assert plain.is_initialized and len(plain.trainable_variables) == 2


def test_config_round_trip_and_saving(tmp_path, rng, to_numpy):
    x_in, c_in = keras.Input((H, W, 1)), keras.Input((H, W, 2))
    h = MaskedConv2D(4, 5, "A", activation="elu")(x_in, conditioning=c_in)
    out = MaskedConv2D(2, 3, "B", weight_norm=False)(h, conditioning=c_in)
    model = keras.Model([x_in, c_in], out)
    x = rng.normal(size=(4, H, W, 1)).astype("float32")
    c = rng.normal(size=(4, H, W, 2)).astype("float32")
    assert initialize_weight_norm(model, [x, c]) == 2
    config = model.layers[2].get_config()
    assert config["mask_type"] == "A" and "strides" not in config
    assert MaskedConv2D.from_config(config).get_config() == config
    model.save(tmp_path / "pixelcnn.keras")
    loaded = keras.saving.load_model(tmp_path / "pixelcnn.keras")
    np.testing.assert_allclose(to_numpy(loaded([x, c])), to_numpy(model([x, c])), atol=1e-5)
    assert initialize_weight_norm(loaded, [x, c]) == 0


def test_invalid_arguments_raise(rng):
    with pytest.raises(ValueError, match="odd"):
        MaskedConv2D(2, 4)
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2D(2, 3, mask_type="C")
    with pytest.raises(ValueError, match="strides=1"):
        MaskedConv2D(2, 3, strides=2)
    x = rng.normal(size=(1, H, W, 1)).astype("float32")
    with pytest.raises(ValueError, match="spatial size"):
        MaskedConv2D(2, 3)(x, conditioning=rng.normal(size=(1, 3, 3, 1)).astype("float32"))
    layer = MaskedConv2D(2, 3)
    layer(x)
    with pytest.raises(ValueError, match="built without a conditioning"):
        layer(x, conditioning=x)
