"""`HierarchicalVAE.build` on JAX infers shapes instead of running ops
(issue 11, the first steps): a forward pass on a `keras.KerasTensor`
creates the same variables, with the same values, as the eager pass on
zeros it replaces; a family whose forward pass mixes concrete arrays into
symbolic ones (the linear-Gaussian VAE, MatNet's mixture prior) falls back
to the eager pass and builds the same way. On TensorFlow and PyTorch the
build is the eager pass, as before (eager ops there compile nothing)."""

import keras
import numpy as np
import pytest

from keras_hvae.models import LinearGaussianVAE
from keras_hvae.models.biva import BIVA
from keras_hvae.models.matnet import MatNet

pytestmark = pytest.mark.backend_suite

FAMILIES = {
    "biva": (lambda: BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[4, 2], layers_per_block=1,
                                            seed=0), True),
    "matnet_mixture_prior": (lambda: MatNet.from_architecture("omniglot_conv_gmm", channels=4, modules=1,
                                                              z_channels=2, fc_units=8, z0_dim=4,
                                                              num_components=3, seed=0), False),
    "linear_gaussian": (lambda: LinearGaussianVAE(6, 2, seed=1), False),
}


def _values(model):
    return {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_build_creates_the_variables_of_an_eager_forward_pass(family, monkeypatch):
    from keras_hvae.models.hvae import HierarchicalVAE

    make, symbolic = FAMILIES[family]
    keras.utils.set_random_seed(5)
    built = make()
    built.build()
    keras.utils.set_random_seed(5)
    eager = make()
    with monkeypatch.context() as patch:  # the build as it was: the eager pass on zeros
        patch.setattr(HierarchicalVAE, "_build_symbolically", lambda self, shape: False)
        eager.build()
    expected = {path.split("/", 1)[1]: value for path, value in _values(eager).items()}  # without the model's name
    got = {path.split("/", 1)[1]: value for path, value in _values(built).items()}
    assert sorted(got) == sorted(expected) and got
    for path, value in expected.items():
        np.testing.assert_array_equal(got[path], value, err_msg=path)
    if keras.backend.backend() == "jax":
        fresh = make()
        assert fresh._build_symbolically((1,) + tuple(fresh.data_shape)) is symbolic
