"""The data-dependent initialisation cannot blow up (issue 14, point 1).

A degenerate first batch — one example, blank images, copies of one image —
used to give scales of 1e8 and more (a NaN or -1e21 ELBO, every later update
skipped). The guard (`keras_hvae.layers.weight_norm.guarded_init_scale`)
keeps every weight finite and bounded, and training then proceeds.
"""

import keras
import numpy as np
import pytest

from keras_hvae.layers.weight_norm import WeightNormBase, _STD_ABS_FLOOR
from tests.models.biva.conftest import tiny_binary

pytestmark = pytest.mark.backend_suite

RNG = np.random.default_rng(0)
REAL = (RNG.uniform(size=(50, 16, 28, 28, 1)) < 0.3).astype("float32")  # 50 batches of 16


def _degenerate(case):
    if case == "one_example":
        return REAL[0, :1]
    if case == "blank":
        return np.zeros((32, 28, 28, 1), "float32")
    return np.repeat(REAL[0, :1], 32, axis=0)  # 32 copies of one image


def _weight_norm_layers(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, WeightNormBase)]


@pytest.mark.parametrize("case", ["one_example", "blank", "copies"])
def test_degenerate_init_batch_gives_a_bounded_model_that_trains(case):
    model = tiny_binary(seed=2)
    model.compile(optimizer=keras.optimizers.Adamax(2e-3))
    assert model.initialize(_degenerate(case)) > 0
    layers = _weight_norm_layers(model)
    assert layers and all(layer.is_initialized for layer in layers)
    for w in model.weights:
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(w))), w.path
    for layer in layers:
        g = np.abs(keras.ops.convert_to_numpy(layer.g))
        # the stated bound: |g| <= init_scale / _STD_ABS_FLOOR (1000 init_scale)
        assert g.max() <= layer.init_scale / _STD_ABS_FLOOR * (1 + 1e-5), (layer.path, g.max())
    elbo = keras.ops.convert_to_numpy(model.elbo(REAL[0]))
    assert np.all(np.isfinite(elbo)), elbo
    losses = []
    for batch in REAL:
        logs = model.train_on_batch(batch, return_dict=True)
        losses.append(float(logs["loss"]))
        assert float(logs["skipped_updates"]) == 0, (case, len(losses), logs)
    assert np.all(np.isfinite(losses))
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 50
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(model.elbo(REAL[0]))))


def test_fit_initialises_on_up_to_256_examples():
    # what is counted is the examples `fit` hands to `initialize`: any size
    # of model shows it, so the smallest (L=2, 4 filters) keeps the compile short
    small = dict(seed=2, latent_sizes=[4, 2], filters=4)
    seen = []
    model = tiny_binary(**small)
    model.compile(optimizer=keras.optimizers.Adamax(1e-3))
    original = model.initialize
    model.initialize = lambda x: (seen.append(np.asarray(x).shape[0]), original(x))[1]
    x = REAL[:20].reshape(-1, 28, 28, 1)  # 320 examples
    model.fit(x, batch_size=16, epochs=1, steps_per_epoch=1, verbose=0)
    assert seen == [256]
    import tensorflow as tf

    model = tiny_binary(**small)
    model.compile(optimizer=keras.optimizers.Adamax(1e-3))
    seen.clear()
    model.initialize = lambda x: (seen.append(np.asarray(x).shape[0]), original.__func__(model, x))[1]
    model.fit(tf.data.Dataset.from_tensor_slices(x[:100]).batch(16), epochs=1, steps_per_epoch=1, verbose=0)
    assert seen == [100]  # all there is, below 256
