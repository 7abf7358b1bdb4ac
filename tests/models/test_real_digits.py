"""The core on real MNIST digits with a minimal two-layer family defined here."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.distributions import BernoulliLikelihood
from keras_hvae.models import HierarchicalVAE, posterior_terms


class TwoLayerDenseVAE(HierarchicalVAE):
    """x -> z1 -> z2 (bottom-up q), z2 -> z1 -> x (top-down p): a test family."""

    def __init__(self, hidden=64, z1=16, z2=8, **kwargs):
        super().__init__(data_shape=(28, 28, 1), latent_layer_names=("1", "2"),
                         likelihood=BernoulliLikelihood(), **kwargs)
        self.z1, self.z2 = z1, z2
        self.q1 = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(hidden, "elu"), keras.layers.Dense(2 * z1)])
        self.q2 = keras.Sequential([keras.layers.Dense(hidden, "elu"), keras.layers.Dense(2 * z2)])
        self.p1 = keras.Sequential([keras.layers.Dense(hidden, "elu"), keras.layers.Dense(2 * z1)])
        self.px = keras.Sequential([keras.layers.Dense(hidden, "elu"), keras.layers.Dense(784), keras.layers.Reshape((28, 28, 1))])

    @staticmethod
    def _split(t):
        loc, raw = ops.split(t, 2, axis=-1)
        return loc, ops.softplus(raw) + 1e-3

    def forward_terms(self, x, training=False, seed=None):
        seed = self._seed(seed)
        q1 = self._split(self.q1(x))
        z1 = q1[0] + q1[1] * keras.random.normal(ops.shape(q1[0]), seed=seed)
        q2 = self._split(self.q2(z1))
        t2 = posterior_terms(*q2, ops.zeros_like(q2[0]), ops.ones_like(q2[1]), seed)
        p1 = self._split(self.p1(t2["z"]))
        from keras_hvae.models.gaussian import diagonal_normal
        from keras_hvae.distributions import tfd

        q1d, p1d = diagonal_normal(*q1), diagonal_normal(*p1)
        kl1 = tfd.kl_divergence(q1d, p1d)
        log_ratio = t2["log_ratio"] + p1d.log_prob(z1) - q1d.log_prob(z1)
        params = self.px(z1)
        return {"log_px": self.likelihood.log_prob(params, x), "kl": [kl1, t2["kl"]],
                "log_ratio": log_ratio, "params": params}

    def generate_params(self, num_samples, temperature=1.0, seed=None):
        seed = self._seed(seed)
        z2 = keras.random.normal((num_samples, self.z2), seed=seed) * temperature
        loc, scale = self._split(self.p1(z2))
        z1 = loc + temperature * scale * keras.random.normal(ops.shape(loc), seed=seed)
        return self.px(z1)

    def posterior_means(self, x):
        loc1, _ = self._split(self.q1(x))
        return [loc1, self._split(self.q2(loc1))[0]]


def test_two_layer_family_learns_real_digits(binary_digits):
    xtr, xte = binary_digits
    model = TwoLayerDenseVAE(seed=0, free_bits=0.5)
    model.compile(optimizer=keras.optimizers.Adamax(3e-3))
    before = model.evaluate(xte, batch_size=250, verbose=0, return_dict=True)
    hist = model.fit(xtr, batch_size=50, epochs=5, verbose=0)
    after = model.evaluate(xte, batch_size=250, verbose=0, return_dict=True)
    assert hist.history["loss"][-1] < hist.history["loss"][0] - 100, hist.history["loss"]
    assert after["elbo"] > before["elbo"] + 200 and after["elbo"] > -250, (before["elbo"], after["elbo"])
    iwae = model.iwae_bound(xte[:50], 50, chunk_size=25, seed=0)
    elbo = model.elbo(xte[:50], seed=0)
    assert iwae.mean() > elbo.mean()
    assert model.sample(4, seed=0).shape == (4, 28, 28, 1)
    assert set(np.unique(model.sample(4, seed=0))) <= {0.0, 1.0}
    assert [c.shape for c in model.encode(xte[:3])] == [(3, 16), (3, 8)]


@pytest.mark.backend_suite
@pytest.mark.parametrize(
    "bad,match",
    [
        (np.full((2, 28, 28, 1), 0.5, "float32"), "binary"),
        (np.zeros((2, 28, 28), "float32"), "rank 4"),
        (np.zeros((2, 28, 27, 1), "float32"), r"\(28, 28, 1\)"),
    ],
)
def test_bernoulli_family_rejects_bad_digits(bad, match):
    model = TwoLayerDenseVAE(seed=0)
    with pytest.raises(ValueError, match=match):
        model.elbo(bad)
