"""MatNet+AR: the PixelCNN head is causal, and pixel-by-pixel sampling runs."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.models.matnet import MatNet, PixelCNNHead, autoregressive_sample
from keras_hvae.distributions import get_likelihood
from tests.models.matnet.conftest import random_binary

H = W = 6


def _np(x):
    return ops.convert_to_numpy(x)


@pytest.mark.parametrize("weight_norm", [False, True])
def test_head_output_at_pixel_i_depends_only_on_pixels_before_i(weight_norm):
    rng = np.random.default_rng(0)
    head = PixelCNNHead(num_params=2, filters=8, num_layers=5, weight_norm=weight_norm)
    x = rng.normal(size=(2, H, W, 2)).astype("float32")
    cond = rng.normal(size=(2, H, W, 4)).astype("float32")
    base = _np(head(x, cond)).reshape(2, H * W, 2)
    for p in (0, 7, 20, H * W - 1):
        changed = x.reshape(2, H * W, 2).copy()
        changed[:, p:] += rng.normal(size=changed[:, p:].shape)  # pixel p and everything after it
        out = _np(head(changed.reshape(x.shape), cond)).reshape(2, H * W, 2)
        np.testing.assert_allclose(out[:, : p + 1], base[:, : p + 1], atol=1e-5)
        if p + 1 < H * W:
            assert not np.allclose(out[:, p + 1], base[:, p + 1])  # the next pixel sees pixel p
    # the MatNet output is seen without a mask: changing it anywhere changes the output there
    cond2 = cond.copy()
    cond2[:, -1, -1] += 1.0
    assert not np.allclose(_np(head(x, cond2))[:, -1, -1], _np(head(x, cond))[:, -1, -1])


def _ar_model(**kwargs):
    return MatNet(
        data_shape=(H, W, 1), fc_units=16, z0_dim=4,
        conv_meta_modules=[{"size": 3, "modules": 1, "channels": 8, "z_channels": 2}],
        autoregressive=True, ar_layers=5, ar_filters=8, weight_norm=False, seed=0, **kwargs,
    )


def test_autoregressive_sampling_runs_and_is_self_consistent():
    model = _ar_model()
    model.build()
    gen = keras.random.SeedGenerator(3)
    cond = model._generate_td_output(3, 1.0, gen)
    x, params = autoregressive_sample(model.ar_head, cond, model.likelihood, model.data_shape, gen)
    x = _np(x)
    assert x.shape == (3, H, W, 1) and set(np.unique(x)) <= {0.0, 1.0}
    # the returned parameters are the head's output on the final image, and
    # by causality the conditional each pixel was drawn from
    np.testing.assert_allclose(_np(params), _np(model.ar_head(ops.convert_to_tensor(x), cond)), atol=1e-5)
    means, _ = autoregressive_sample(model.ar_head, cond, model.likelihood, model.data_shape, gen, mean=True)
    assert 0.0 <= float(_np(means).min()) and float(_np(means).max()) <= 1.0
    samples = model.sample(2, seed=1)
    assert samples.shape == (2, H, W, 1)
    np.testing.assert_array_equal(samples, model.sample(2, seed=1))


def test_matnet_ar_trains_and_scores():
    x = random_binary((16, H, W, 1))
    model = _ar_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x, batch_size=8, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.all(np.isfinite(model.elbo(x, seed=0)))
    assert model.generate_params(2, seed=0).shape == (2, H, W, 1)


def test_ar_head_with_the_integrated_logistic():
    lik = get_likelihood("discretized_logistic")
    head = PixelCNNHead(num_params=lik.num_params(3), filters=8, num_layers=3, weight_norm=False)
    cond = ops.convert_to_tensor(np.random.default_rng(1).normal(size=(2, 4, 4, 5)).astype("float32"))
    head(ops.zeros((2, 4, 4, 3)), cond)
    x, _ = autoregressive_sample(head, cond, lik, (4, 4, 3), keras.random.SeedGenerator(0))
    x = _np(x)
    assert x.min() >= -1 - 1e-6 and x.max() <= 1 + 1e-6  # float32 grid points (k * 2/255 - 1)
    np.testing.assert_allclose(np.round((x + 1) * 127.5), (x + 1) * 127.5, atol=1e-3)  # on the 8-bit grid


def test_ar_sampling_in_the_saved_model(tmp_path):
    from tests.conftest import require_tensorflow

    require_tensorflow()
    import tensorflow as tf

    model = _ar_model()
    model.export(tmp_path / "sm", verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "sm"))  # keep a reference: it owns the variables
    samples = reloaded.sample(tf.constant(2), tf.constant(1.0)).numpy()
    assert samples.shape == (2, H, W, 1) and set(np.unique(samples)) <= {0.0, 1.0}
