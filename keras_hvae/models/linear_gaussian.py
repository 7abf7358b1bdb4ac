"""A linear-Gaussian VAE whose marginal likelihood is known in closed form.

p(z) = N(0, I), p(x|z) = N(Wz + b, sigma^2 I) and an amortised diagonal
Gaussian encoder q(z|x) = N(Ax + c, diag(s^2)). log p(x) = log N(x; b,
W W^T + sigma^2 I) exactly, so this model checks the core's bounds against
a closed form (see tests/models/test_linear_gaussian.py).
"""

import keras
import numpy as np
from keras import ops

from keras_hvae.models.hvae import HierarchicalVAE
from keras_hvae.models.gaussian import diagonal_normal, posterior_terms


@keras.saving.register_keras_serializable(package="keras_hvae")
class LinearGaussianVAE(HierarchicalVAE):
    """One linear-Gaussian latent layer on the hierarchical-VAE core.

    Args:
        data_dim: dimension of x.
        latent_dim: dimension of z.
        sigma: observation noise standard deviation.
        deterministic_posterior: use the posterior mean instead of a sample
            (for tests of the training step that must not depend on noise).
        **kwargs: core options (`free_bits`, `seed`, ...).

    Example:
    >>> model = LinearGaussianVAE(data_dim=4, latent_dim=2, sigma=0.5)
    >>> model.elbo(np.zeros((3, 4), "float32")).shape
    (3,)
    """

    def __init__(self, data_dim, latent_dim, sigma=1.0, deterministic_posterior=False, **kwargs):
        kwargs.pop("data_shape", None)
        kwargs.pop("latent_layer_names", None)
        super().__init__(data_shape=(data_dim,), latent_layer_names=("z",), **kwargs)
        self.data_dim = int(data_dim)
        self.latent_dim = int(latent_dim)
        self.sigma = float(sigma)
        self.deterministic_posterior = bool(deterministic_posterior)
        self.decoder = keras.layers.Dense(data_dim, name="decoder")
        self.encoder = keras.layers.Dense(latent_dim, name="encoder")
        self.encoder_log_scale = self.add_weight(
            shape=(latent_dim,), initializer="zeros", name="encoder_log_scale"
        )

    def forward_terms(self, x, training=False, seed=None):
        seed = self._seed(seed)
        # densities in float32 under a mixed policy (as every family does)
        q_loc = ops.cast(self.encoder(x), "float32")
        q_scale = ops.exp(self.encoder_log_scale) * ops.ones_like(q_loc)
        zeros = ops.zeros_like(q_loc)
        if self.deterministic_posterior:
            terms = posterior_terms(q_loc, q_scale, zeros, zeros + 1.0, seed, z=q_loc)
        else:
            terms = posterior_terms(q_loc, q_scale, zeros, zeros + 1.0, seed)
        params = ops.cast(self.decoder(terms["z"]), "float32")
        log_px = diagonal_normal(params, ops.ones_like(params) * self.sigma).log_prob(x)
        return {"log_px": log_px, "kl": [terms["kl"]], "log_ratio": terms["log_ratio"], "params": params}

    def generate_params(self, num_samples, temperature=1.0, seed=None):
        z = keras.random.normal((num_samples, self.latent_dim), seed=self._seed(seed)) * temperature
        return ops.cast(self.decoder(z), "float32")

    def posterior_means(self, x):
        return [ops.cast(self.encoder(x), "float32")]

    def sample_tensor(self, num_samples, temperature=1.0, seed=None, mean=False):
        gen = self._seed(seed)
        loc = self.generate_params(num_samples, temperature, gen)
        if mean:
            return loc
        return loc + keras.random.normal(ops.shape(loc), seed=gen) * self.sigma

    def reconstruct(self, x, seed=None):
        x = self._eager_inputs(x)
        return ops.convert_to_numpy(self.forward_terms(x, seed=self._seed(seed))["params"])

    # ---- closed forms, numpy float64 -------------------------------------
    def decoder_weights(self):
        w, b = (np.asarray(ops.convert_to_numpy(v), "float64") for v in self.decoder.weights)
        return w.T, b  # W: (data_dim, latent_dim)

    def exact_log_marginal(self, x):
        """log p(x) = log N(x; b, W W^T + sigma^2 I), shape (batch,)."""
        W, b = self.decoder_weights()
        cov = W @ W.T + self.sigma**2 * np.eye(self.data_dim)
        diff = np.asarray(x, "float64") - b
        _, logdet = np.linalg.slogdet(cov)
        maha = np.einsum("bi,ij,bj->b", diff, np.linalg.inv(cov), diff)
        return -0.5 * (maha + logdet + self.data_dim * np.log(2 * np.pi))

    def exact_posterior(self):
        """(A, c, cov) with p(z|x) = N(A x + c, cov)."""
        W, b = self.decoder_weights()
        cov = np.linalg.inv(np.eye(self.latent_dim) + W.T @ W / self.sigma**2)
        A = cov @ W.T / self.sigma**2
        return A, -A @ b, cov

    def set_encoder_to_exact_posterior(self):
        """Sets the encoder to p(z|x); exact when W^T W is diagonal."""
        A, c, cov = self.exact_posterior()
        if not np.allclose(cov, np.diag(np.diag(cov)), atol=1e-5):
            raise ValueError("the exact posterior is not diagonal: W must have orthogonal columns.")
        self.encoder.set_weights([A.T.astype("float32"), c.astype("float32")])
        self.encoder_log_scale.assign(0.5 * np.log(np.diag(cov)).astype("float32"))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "data_dim": self.data_dim,
                "latent_dim": self.latent_dim,
                "sigma": self.sigma,
                "deterministic_posterior": self.deterministic_posterior,
            }
        )
        return config
