"""Paper fidelity (issue 12, items 8-10): Fig. 3 conditional samples, the
uniform fixed mixture weights of Eq. 12, and the unrestricted connections
of the MatNet output into the PixelCNN head of MatNet+AR (Sec. 2.3)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.models.matnet import MatNet, PixelCNNHead
from tests.models.matnet.conftest import random_binary, tiny_matnet


def _np(x):
    return ops.convert_to_numpy(x)


# ------------------------------------------------- item 8: Fig. 3 samples
@pytest.mark.backend_suite
def test_keeping_every_layer_is_the_reconstruction_path(tiny_binary):
    model = tiny_matnet(sizes=(7,))
    x = tiny_binary[:4]
    every = len(model.latent_layer_names)
    # the same seed gives the same posterior draws as `reconstruct`
    kept = model.conditional_sample(x, keep_layers=every, seed=5, mean=True)
    np.testing.assert_allclose(kept, model.reconstruct(x, seed=5), atol=1e-5)


@pytest.mark.backend_suite
@pytest.mark.parametrize("prior", ["normal", "mixture"])
def test_keeping_no_layer_is_a_prior_sample(tiny_binary, prior):
    model = tiny_matnet(sizes=(7,), prior=prior, num_components=3)
    x = tiny_binary
    # the same draws, in the same order, as `sample`: exactly p(x)'s samples
    for mean in (False, True):
        got = model.conditional_sample(x[:1], keep_layers=0, num_samples=5, seed=3, mean=mean)
        assert got.shape == (5, 1, 28, 28, 1)
        np.testing.assert_allclose(got[:, 0], model.sample(5, seed=3, mean=mean), atol=1e-5)
        # and independent of the image
        other = model.conditional_sample(x[7:8], keep_layers=0, num_samples=5, seed=3, mean=mean)
        np.testing.assert_allclose(other, got, atol=1e-5)


def test_conditional_sample_shapes_seeding_and_arguments(tiny_binary):
    model = tiny_matnet(sizes=(7, 14))
    x = tiny_binary[:3]
    assert len(model.latent_layer_names) == 3
    one = model.conditional_sample(x, keep_layers=1, seed=0)
    assert one.shape == (3, 28, 28, 1) and set(np.unique(one)) <= {0.0, 1.0}
    several = model.conditional_sample(x, keep_layers=2, num_samples=4, seed=0)
    assert several.shape == (4, 3, 28, 28, 1)
    np.testing.assert_array_equal(several, model.conditional_sample(x, keep_layers=2, num_samples=4, seed=0))
    means = model.conditional_sample(x, keep_layers=2, num_samples=4, seed=0, mean=True)
    np.testing.assert_array_equal(means, model.conditional_sample(x, keep_layers=2, num_samples=4, seed=0, mean=True))
    assert not np.allclose(means, model.conditional_sample(x, keep_layers=2, num_samples=4, seed=1, mean=True))
    # the samples of one image differ (the lower layers are resampled)
    assert not np.allclose(means[0], means[1])
    for bad in (-1, 4):
        with pytest.raises(ValueError, match="keep_layers"):
            model.conditional_sample(x, keep_layers=bad)


def test_conditional_sample_with_the_autoregressive_head():
    model = MatNet(
        data_shape=(6, 6, 1), fc_units=16, z0_dim=4,
        conv_meta_modules=[{"size": 3, "modules": 1, "channels": 8, "z_channels": 2}],
        autoregressive=True, ar_layers=3, ar_filters=8, weight_norm=False, seed=0,
    )
    x = random_binary((2, 6, 6, 1))
    out = model.conditional_sample(x, keep_layers=1, num_samples=2, seed=0)
    assert out.shape == (2, 2, 6, 6, 1) and set(np.unique(out)) <= {0.0, 1.0}


def test_more_kept_layers_stay_closer_to_the_image_after_training(binary_digits):
    x_train, x_test = binary_digits
    model = tiny_matnet(sizes=(7, 14), seed=1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x_train[:512], batch_size=64, epochs=2, verbose=0, shuffle=False)
    x = x_test[:16]
    every = len(model.latent_layer_names)

    def distance(k):
        samples = model.conditional_sample(x, keep_layers=k, num_samples=4, seed=0, mean=True)
        return float(np.mean((samples - x[None]) ** 2))

    far, near = distance(0), distance(every)
    assert near < far, (near, far)
    assert distance(1) <= far + 1e-3


# ------------------------------------------- item 9: Eq. 12 mixture weights
def _mixture_model(**kwargs):
    return tiny_matnet(sizes=(7,), prior="mixture", num_components=4, cluster_entropy_weight=0.5, **kwargs)


@pytest.mark.backend_suite
def test_mixture_weights_are_uniform_and_fixed_by_default(tiny_binary):
    model = _mixture_model()
    model.build()
    prior = model.mixture_prior
    assert model.learn_mixture_weights is False and prior.learn_weights is False
    assert not prior.logits.trainable
    assert all(v is not prior.logits for v in model.trainable_variables)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(tiny_binary, batch_size=8, epochs=1, verbose=0)
    weights = _np(ops.softmax(prior.parameters()[0]))
    np.testing.assert_array_equal(weights, np.full(4, 0.25, "float32"))  # exactly 1/K
    np.testing.assert_array_equal(_np(prior.logits), np.zeros(4, "float32"))
    assert model.get_config()["learn_mixture_weights"] is False


@pytest.mark.backend_suite
def test_learned_mixture_weights_are_an_option(tiny_binary):
    model = _mixture_model(learn_mixture_weights=True)
    model.build()
    prior = model.mixture_prior
    assert prior.logits.trainable
    assert any(v is prior.logits for v in model.trainable_variables)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(tiny_binary, batch_size=8, epochs=1, verbose=0)
    assert not np.allclose(_np(prior.logits), 0.0)
    config = model.get_config()
    assert config["learn_mixture_weights"] is True
    assert MatNet.from_config(config).learn_mixture_weights is True


def test_configs_without_the_option_still_load():
    config = _mixture_model().get_config()
    del config["learn_mixture_weights"]
    # saved before the option existed: trained with learned weights
    assert MatNet.from_config(config).mixture_prior.logits.trainable
    from keras_hvae.applications import MatNet as AppMatNet

    preset = AppMatNet.from_preset("matnet_binarized_mnist")
    assert preset.prior_type == "normal" and preset.mixture_prior is None


# ------------------------------------------- item 10: MatNet+AR connections
H = W = 6


@pytest.mark.backend_suite
@pytest.mark.parametrize("weight_norm", [False, True])
def test_head_sees_the_matnet_output_beyond_the_pixel_but_the_image_only_before_it(weight_norm):
    rng = np.random.default_rng(0)
    head = PixelCNNHead(num_params=2, filters=8, num_layers=3, weight_norm=weight_norm)
    x = rng.normal(size=(2, H, W, 1)).astype("float32")
    cond = rng.normal(size=(2, H, W, 4)).astype("float32")
    base = _np(head(x, cond))
    r, c = 2, 2
    p = r * W + c
    # (a) autoregressive on the image: pixels >= p do not move the output at p
    changed = x.reshape(2, H * W, 1).copy()
    changed[:, p:] += rng.normal(size=changed[:, p:].shape)
    out = _np(head(changed.reshape(x.shape), cond))
    np.testing.assert_allclose(out[:, r, c], base[:, r, c], atol=1e-5)
    # (b) unrestricted on the MatNet output: neighbours beyond the 1x1
    # neighbourhood, before and after p in raster order, move the output at p
    for dr, dc in ((0, 1), (1, 0), (1, 1), (-1, -1), (0, -1)):
        moved = cond.copy()
        moved[:, r + dr, c + dc] += 1.0
        assert not np.allclose(_np(head(x, moved))[:, r, c], base[:, r, c], atol=1e-4), (dr, dc)
    # ... within the receptive field of the unmasked convolutions only
    far = cond.copy()
    far[:, -1, -1] += 1.0
    np.testing.assert_allclose(_np(head(x, far))[:, 0, 0], base[:, 0, 0], atol=1e-5)


def test_head_conditioning_kernel_size_is_configurable_and_saved():
    head = PixelCNNHead(num_params=1, filters=4, num_layers=2, conditioning_kernel_size=5, weight_norm=False)
    x, cond = ops.zeros((1, H, W, 1)), ops.convert_to_tensor(np.ones((1, H, W, 3), "float32"))
    head(x, cond)
    assert head.get_config()["conditioning_kernel_size"] == 5
    assert PixelCNNHead.from_config(head.get_config()).conditioning_kernel_size == 5
    assert tuple(head.conditioning_convs[0].kernel.shape[:2]) == (5, 5)
    # the precomputed terms give the same output (the sampler uses them)
    np.testing.assert_allclose(
        _np(head(x, conditioning_terms=head.condition(cond))), _np(head(x, cond)), atol=1e-6
    )
    with pytest.raises(ValueError, match="odd"):
        PixelCNNHead(num_params=1, conditioning_kernel_size=2)
