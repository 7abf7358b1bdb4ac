"""MatNet+AR: a small PixelCNN on top of the final TD output (Sec. 2.3).

The paper concatenates the final TD module's output with the true image and
feeds both to a PixelCNN of about five masked-convolution layers, and feeds
the MatNet output into every internal layer through *unmasked*
connections ("connections to the MatNet output are unrestricted"). Here
every layer is a `keras_hvae.layers.MaskedConv2D` whose masked kernel sees
the image (first layer, mask "A") or the previous features (mask "B"),
plus an *unmasked* ``c x c`` convolution ``C_l`` of the MatNet output m
(``conditioning_kernel_size``, by default the masked layers' kernel size;
"same" padding); that is the concatenation of the paper with the MatNet
half of the kernel unrestricted (full ``c x c`` support, no mask).

    h_1 = lrelu(MaskedA(x) + C_1 * m)
    h_l = lrelu(h_{l-1} + MaskedB(h_{l-1}) + C_l * m),   l = 2 .. L-1
    params = MaskedB_1x1(h_{L-1}) + C_L * m

The parameters at pixel p depend on the image only through the pixels
strictly before p in raster order (all channels of a pixel form one group,
so the channels of one pixel are conditionally independent given the
earlier pixels and m), and on m in a neighbourhood of p on every side (of
radius ``L (c - 1) / 2``).

Sampling runs pixel by pixel inside ``keras.ops.fori_loop`` (compiled by
`tf.function` on TensorFlow, `jax.lax.fori_loop` on JAX).
"""

import keras
from keras import ops

from keras_hvae.layers import MaskedConv2D, WeightNormConv2D
from keras_hvae.models.matnet.modules import lrelu
from keras_hvae.models.matnet.stateless import seeded_fori_loop


@keras.saving.register_keras_serializable(package="keras_hvae")
class PixelCNNHead(keras.layers.Layer):
    """The local autoregression of MatNet+AR.

    Args:
        num_params: likelihood parameters per pixel (``likelihood.num_params(C)``).
        filters: channels of the internal layers.
        num_layers: masked layers in all (>= 2), the last one 1x1.
        kernel_size: odd kernel size of the masked layers.
        weight_norm: weight-normalised masked convolutions.
        leak: leaky-ReLU slope.
        conditioning_kernel_size: odd kernel size of the unmasked
            convolutions of the MatNet output into every layer (None: the
            masked layers' ``kernel_size``).

    Example:
    >>> head = PixelCNNHead(num_params=1, filters=16)
    >>> images, matnet_output = x_test[:2], ops.zeros((2, 28, 28, 8))
    >>> tuple(head(images, matnet_output).shape)
    (2, 28, 28, 1)
    """

    def __init__(
        self, num_params, filters=32, num_layers=5, kernel_size=3, weight_norm=True, leak=0.1,
        conditioning_kernel_size=None, **kwargs,
    ):
        super().__init__(**kwargs)
        if num_layers < 2:
            raise ValueError(f"num_layers must be >= 2, got {num_layers}.")
        self.num_params = int(num_params)
        self.filters = int(filters)
        self.num_layers = int(num_layers)
        self.kernel_size = int(kernel_size)
        self.weight_norm = bool(weight_norm)
        self.leak = float(leak)
        if conditioning_kernel_size is None:
            conditioning_kernel_size = self.kernel_size
        self.conditioning_kernel_size = int(conditioning_kernel_size)
        if self.conditioning_kernel_size < 1 or self.conditioning_kernel_size % 2 == 0:
            raise ValueError(f"conditioning_kernel_size must be odd, got {conditioning_kernel_size}.")
        self.masked = [MaskedConv2D(self.filters, self.kernel_size, mask_type="A", weight_norm=self.weight_norm, name="masked_a")]
        for i in range(self.num_layers - 2):
            self.masked.append(
                MaskedConv2D(self.filters, self.kernel_size, mask_type="B", weight_norm=self.weight_norm, name=f"masked_b{i}")
            )
        self.masked.append(MaskedConv2D(self.num_params, 1, mask_type="B", weight_norm=self.weight_norm, name="masked_out"))
        # the unrestricted (unmasked, c x c) connections of the MatNet output
        conv = WeightNormConv2D if self.weight_norm else keras.layers.Conv2D
        self.conditioning_convs = [
            conv(layer.filters, self.conditioning_kernel_size, padding="same", use_bias=False, name=f"conditioning_{i}")
            for i, layer in enumerate(self.masked)
        ]

    def condition(self, conditioning):
        """The unmasked terms ``C_l * m`` of every layer (they do not change
        while an image is sampled pixel by pixel)."""
        return [c(conditioning) for c in self.conditioning_convs]

    def call(self, image, conditioning=None, conditioning_terms=None):
        """Parameters from the image and the MatNet output ``conditioning``
        (or its precomputed `condition` terms)."""
        cond = self.condition(conditioning) if conditioning_terms is None else conditioning_terms
        h = lrelu(self.masked[0](image) + cond[0], self.leak)
        for layer, c in zip(self.masked[1:-1], cond[1:-1]):
            h = lrelu(h + layer(h) + c, self.leak)
        return self.masked[-1](h) + cond[-1]

    def compute_output_shape(self, image_shape, conditioning_shape=None):
        return tuple(image_shape[:-1]) + (self.num_params,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_params": self.num_params,
                "filters": self.filters,
                "num_layers": self.num_layers,
                "kernel_size": self.kernel_size,
                "weight_norm": self.weight_norm,
                "leak": self.leak,
                "conditioning_kernel_size": self.conditioning_kernel_size,
            }
        )
        return config


def autoregressive_sample(head, conditioning, likelihood, data_shape, seed_generator, mean=False):
    """Samples an image pixel by pixel (raster order) in ``ops.fori_loop``.

    Args:
        head: a built `PixelCNNHead`.
        conditioning: the MatNet output ``(B, H, W, F)``.
        likelihood: the likelihood head (``sample`` / ``mean``).
        data_shape: ``(H, W, C)``.
        seed_generator: a `keras.random.SeedGenerator`.
        mean: fill each pixel with its conditional mean instead of a draw.

    Returns:
        ``(x, params)``: the image and the head's output on it (whose value
        at each pixel is the conditional that pixel was drawn from).
    """
    h, w, c = data_shape
    batch = ops.shape(conditioning)[0]
    x0 = ops.zeros((batch, h, w, c), dtype=conditioning.dtype)
    position = ops.reshape(ops.arange(h * w, dtype="int32"), (1, h, w, 1))

    if not head.built:
        head(x0, conditioning)
    terms = head.condition(conditioning)

    def body(i, x):
        params = head(x, conditioning_terms=terms)
        new = likelihood.mean(params) if mean else likelihood.sample(params, seed=seed_generator)
        return ops.where(ops.equal(position, i), ops.cast(new, x.dtype), x)

    x = seeded_fori_loop(0, h * w, body, x0, seed_generator, head.variables)
    return x, head(x, conditioning)
