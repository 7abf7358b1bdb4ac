"""Small pieces of the BIVA networks: Gaussian heads and latent projections.

All weight-normalised (with data-dependent initialisation), all functions
of tensors that the model calls inside its forward pass; no distribution
objects are returned from a layer.
"""

import keras
from keras import ops

from keras_hvae.layers import WeightNormConv2D, WeightNormDense
from keras_hvae.models.gaussian import softplus_scale


def make_gaussian_head(latent_size, latent_type, kernel_size, name, init_scale=None):
    """The layer mapping features to `2 * latent_size` Gaussian parameters.

    Dense latents read the flattened feature map; convolutional latents use
    a `kernel_size` "same" convolution. The data-dependent initialisation
    scale (`init_scale`, default 0.1; the authors' code uses 0.01) keeps the
    initial means small.
    """
    init_scale = 0.1 if init_scale is None else init_scale
    if latent_type == "dense":
        return WeightNormDense(2 * latent_size, init_scale=init_scale, name=name)
    return WeightNormConv2D(2 * latent_size, kernel_size, init_scale=init_scale, name=name)


def gaussian_params(layer, features, latent_type, min_scale):
    """`(loc, scale)` in float32 from `layer(elu(features))`.

    The scale is `gaussian.softplus_scale(raw, min_scale)`.

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
    scale = softplus_scale(raw_scale, min_scale)
    return loc, scale


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


def projection_layer(spatial, channels, name, init_scale=None):
    """The dense projection of a dense latent to a `spatial x channels` map
    (data-dependent init scale `init_scale`, default 1)."""
    return WeightNormDense(int(spatial[0] * spatial[1] * channels), init_scale=1.0 if init_scale is None else init_scale,
                           name=name)


def repeat_rows(structure, times):
    """Every tensor of a nested structure with each row repeated `times`
    times (rows `b * times ... (b + 1) * times - 1` come from row b; None
    entries stay None): how BIVA shares a pass that depends on x alone
    between the importance samples (`bottom_up(repeats=)`) or the classes
    (`repeat_state`)."""
    return keras.tree.map_structure(lambda t: None if t is None else ops.repeat(t, times, axis=0), structure)
