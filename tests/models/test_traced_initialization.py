"""The data-dependent initialisation on JAX runs as one compiled program
(`initialize_weight_norm_traced`, issue 11's first steps): it must set every
weight-normalised layer to the values of the eager pass it replaces, on every
family, and leave none uninitialised, without falling back to the eager
pass. On TensorFlow and PyTorch it is the eager pass itself (eager ops there
compile nothing), so the test runs on JAX only."""

import keras
import numpy as np
import pytest

from keras_hvae.layers import uninitialized_weight_norm_layers
from keras_hvae.models.biva import BIVA, SemiSupervisedBIVA
from tests.models.matnet.conftest import tiny_conditional, tiny_matnet
from tests.models.text.conftest import SENTENCES, tiny_biva_lstm

pytestmark = [
    pytest.mark.backend_suite,
    pytest.mark.skipif(keras.backend.backend() != "jax", reason="the traced initialisation is JAX's"),
]


def _binary(shape, seed=0):
    return (np.random.default_rng(seed).uniform(size=shape) < 0.3).astype("float32")


def _sentences():
    from keras_hvae.models.text import Vocabulary

    vocab = Vocabulary.build(SENTENCES, max_tokens=40)
    model = tiny_biva_lstm(vocab, seed=3)
    return model, model.tokenize(SENTENCES * 2)


FAMILIES = {
    "biva": lambda: (BIVA.from_architecture("binary_28x28", filters=8, latent_sizes=[6, 4, 2], layers_per_block=1,
                                            seed=1), _binary((16, 28, 28, 1))),
    "lvae_plus": lambda: (BIVA.from_architecture("binary_28x28", variant="lvae+", filters=8, latent_sizes=[6, 4, 2],
                                                 layers_per_block=1, seed=1), _binary((16, 28, 28, 1))),
    "biva_natural": lambda: (BIVA.from_architecture("natural_32x32", data_shape=(16, 16, 3), filters=8,
                                                    latent_sizes=[4, 3, 2], strides=[2, 1, 2], layers_per_block=1,
                                                    seed=1),
                             np.random.default_rng(0).integers(0, 256, size=(8, 16, 16, 3)).astype("uint8")),
    "semi_supervised_biva": lambda: (SemiSupervisedBIVA.from_architecture("binary_28x28", num_classes=3, filters=4,
                                                                          latent_sizes=[4, 2], layers_per_block=1,
                                                                          seed=0), _binary((12, 28, 28, 1))),
    "matnet": lambda: (tiny_matnet(weight_norm=True, seed=2), _binary((16, 28, 28, 1))),
    "conditional_matnet": lambda: (tiny_conditional(weight_norm=True, seed=2), _binary((16, 28, 28, 1))),
    "biva_lstm": _sentences,
}


def _initialized(make, traced, monkeypatch):
    import keras_hvae.layers as layers
    from keras_hvae.layers import weight_norm_init

    def no_fallback(*args):
        raise AssertionError("the traced initialisation fell back to the eager pass")

    keras.utils.set_random_seed(11)
    model, x = make()
    model.build()
    with monkeypatch.context() as patch:
        if traced:
            patch.setattr(weight_norm_init, "initialize_weight_norm", no_fallback)
        else:  # the initialisation as it was: the eager pass
            patch.setattr(layers, "initialize_weight_norm_traced",
                          lambda model, fn, *args: layers.initialize_weight_norm(fn, *args))
        count = model.initialize(x)
    return model, count


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_traced_initialization_sets_the_values_of_the_eager_pass(family, monkeypatch):
    eager, eager_count = _initialized(FAMILIES[family], False, monkeypatch)
    traced, traced_count = _initialized(FAMILIES[family], True, monkeypatch)
    assert eager_count > 0 and traced_count == eager_count
    assert uninitialized_weight_norm_layers(traced) == []
    paths = [w.path.split("/", 1)[1] for w in eager.weights]  # without the model's name
    assert [w.path.split("/", 1)[1] for w in traced.weights] == paths
    for path, want, got in zip(paths, eager.weights, traced.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want),
                                   rtol=2e-4, atol=2e-5, err_msg=path)
    assert sum(path.endswith("/g") for path in paths) >= eager_count  # the scales set were all compared
    assert traced.initialize(FAMILIES[family]()[1]) == 0  # nothing is initialised twice
