"""Small pieces of the BIVA networks: Gaussian heads and latent projections.

All weight-normalised (with data-dependent initialisation), all functions
of tensors that the model calls inside its forward pass; no distribution
objects are returned from a layer.
"""

import math

import keras
from keras import ops

from keras_hvae.distributions import tfd
from keras_hvae.layers import WeightNormConv2D, WeightNormDense
from keras_hvae.models.latents import diagonal_normal

#: softplus^{-1}(1): a raw scale of 0 gives a standard deviation of ~1.
_SOFTPLUS_INV_ONE = math.log(math.e - 1.0)


def make_gaussian_head(latent_size, latent_type, kernel_size, name):
    """The layer mapping features to `2 * latent_size` Gaussian parameters.

    Dense latents read the flattened feature map; convolutional latents use
    a `kernel_size` "same" convolution. `init_scale=0.1` keeps the initial
    means small after data-dependent initialisation.
    """
    if latent_type == "dense":
        return WeightNormDense(2 * latent_size, init_scale=0.1, name=name)
    return WeightNormConv2D(2 * latent_size, kernel_size, init_scale=0.1, name=name)


def gaussian_params(layer, features, latent_type, min_scale):
    """`(loc, scale)` in float32 from `layer(elu(features))`.

    Args:
        layer: a head from `make_gaussian_head`.
        features: `(B, H, W, C)` feature map.
        latent_type: "dense" (flatten first) or "conv".
        min_scale: lower bound of the standard deviation.
    """
    h = ops.elu(features)
    if latent_type == "dense":
        h = ops.reshape(h, (ops.shape(h)[0], -1))
    raw = ops.cast(layer(h), "float32")
    loc, raw_scale = ops.split(raw, 2, axis=-1)
    scale = ops.softplus(raw_scale + _SOFTPLUS_INV_ONE) + min_scale
    return loc, scale


def gaussian_terms(z, q_loc, q_scale, p_loc, p_scale, mask=None):
    """Analytic `KL(q || p)` and `log p(z) - log q(z)` per example, (B,).

    With `mask` (0/1, broadcastable to `z`, e.g. `(B, H, W, 1)` padding
    masks of conv latents) both are summed over the unmasked entries only.
    """
    if mask is not None:
        q, p = tfd.Normal(loc=q_loc, scale=q_scale), tfd.Normal(loc=p_loc, scale=p_scale)
        mask = ops.cast(mask, z.dtype)
        axes = list(range(1, len(z.shape)))
        kl = ops.sum(tfd.kl_divergence(q, p) * mask, axis=axes)
        return kl, ops.sum((p.log_prob(z) - q.log_prob(z)) * mask, axis=axes)
    q = diagonal_normal(q_loc, q_scale)
    p = diagonal_normal(p_loc, p_scale)
    return tfd.kl_divergence(q, p), p.log_prob(z) - q.log_prob(z)


def latent_to_map(projection, z, spatial, channels, latent_type):
    """A latent sample as a feature map for the next network.

    Dense latents go through `projection` (a weight-normalised dense layer
    with `H * W * C` units) and are reshaped to `(B, H, W, C)`;
    convolutional latents already are feature maps and are returned as is.
    """
    if latent_type != "dense":
        return z
    h = projection(z)
    return ops.reshape(h, (ops.shape(h)[0], spatial[0], spatial[1], channels))


def with_labels(h, y):
    """Concatenates a one-hot `y` (B, K) to `h` (vector or feature map)."""
    if y is None:
        return h
    y = ops.cast(y, h.dtype)
    if len(h.shape) == 4:
        shape = ops.shape(h)
        y = ops.broadcast_to(y[:, None, None, :], (shape[0], shape[1], shape[2], ops.shape(y)[-1]))
    return ops.concatenate([h, y], axis=-1)


def projection_layer(spatial, channels, name):
    """The dense projection of a dense latent to a `spatial x channels` map."""
    return WeightNormDense(int(spatial[0] * spatial[1] * channels), name=name)


def sample_normal(loc, scale, seed, temperature=1.0):
    """`loc + temperature * scale * eps` (float32)."""
    eps = keras.random.normal(ops.shape(loc), dtype="float32", seed=seed)
    return loc + (scale * temperature) * eps
