"""Gated residual blocks in the style of PixelCNN++'s ``gated_resnet``.

BIVA (Maaløe et al., 2019, Appendix A) builds its deterministic paths from
ResNet blocks "set up similarly to (Salimans et al., 2017)", i.e. PixelCNN++:

```
c1  = conv(act(x))
c1 += nin(act(a))            # only if an auxiliary input `a` is given
c1  = act(c1)
c1  = dropout(c1)            # training only
c2  = conv(c1, 2 * filters)  # init_scale 0.1 (as in PixelCNN++)
out = c2[..., :F] * sigmoid(c2[..., F:])
return shortcut(x) + out
```

All inner layers are weight-normalised (see ``weight_norm.py``).
"""

import random

import keras
from keras import ops

from keras_hvae.layers.weight_norm import WeightNormConv2D, WeightNormConv2DTranspose
from keras_hvae.utils.arguments import as_pair, int_or_pair

__all__ = ["BIVAResidualBlock", "GatedResidualBlock", "concat_elu"]


def concat_elu(x):
    """Concatenated ELU of PixelCNN++: ``concat([elu(x), elu(-x)], -1)``.

    Args:
        x: Tensor ``(..., C)``.

    Returns:
        Tensor ``(..., 2C)``.

    Example:

    ```python
    GatedResidualBlock(64, activation="concat_elu")
    ```
    """
    return ops.concatenate([ops.elu(x), ops.elu(-x)], axis=-1)


def _get_activation(activation):
    if activation == "concat_elu":
        return concat_elu, 2
    return keras.activations.get(activation), 1


def _serialize_activation(activation):
    if isinstance(activation, str):
        return activation
    return keras.activations.serialize(activation)


@keras.saving.register_keras_serializable(package="keras_hvae")
class GatedResidualBlock(keras.layers.Layer):
    """Convolutional gated residual block (PixelCNN++ ``gated_resnet``).

    ``stride > 1`` downsamples (the first conv is strided) or, with
    ``transpose=True``, upsamples (the first conv is a transposed conv). The
    shortcut is the identity when the input and output shapes agree, otherwise
    a weight-normalised projection: a 1×1 conv when only the channels change,
    a ``stride``×``stride`` conv with stride ``stride`` when downsampling, and
    a ``stride``×``stride`` transposed conv with stride ``stride`` when
    upsampling (so every output pixel receives a contribution).

    The optional auxiliary input ``aux`` (e.g. the BIVA top-down feature map)
    is added after the first conv through a weight-normalised 1×1 conv of
    ``act(aux)``. Its spatial size must equal that of the first conv's output
    or differ from it by an integer factor, in which case it is resized
    (average pooling to downsample, nearest-neighbour repetition to upsample);
    other sizes raise a ``ValueError``. A block built with ``aux`` may be
    called without it (the term is skipped); the reverse raises.

    Args:
        filters: Output channels.
        kernel_size: Kernel size of both convs.
        stride: Stride of the first conv (and of the shortcut).
        transpose: Use a transposed first conv (upsampling for stride > 1).
        dropout: Dropout rate between the two convs, applied only when
            ``training=True``.
        activation: Activation name, or ``"concat_elu"`` (PixelCNN++).
        gate_init_scale: ``init_scale`` of the gate conv (0.1 in PixelCNN++).
        seed: Int seed of the dropout ``SeedGenerator`` (random if None).
        **kwargs: Base ``Layer`` arguments.

    Returns:
        Tensor ``(batch, H', W', filters)``.

    Example:

    ```python
    block = GatedResidualBlock(64, kernel_size=3, stride=2, dropout=0.2)
    y = block(x, training=True)          # (batch, H/2, W/2, 64)
    y = block(x, aux=a, training=False)  # with an auxiliary input
    ```
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        stride=1,
        transpose=False,
        dropout=0.0,
        activation="elu",
        gate_init_scale=0.1,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout}.")
        self.dropout = float(dropout)
        self._activation_config = _serialize_activation(activation)
        self.activation, self._channel_factor = _get_activation(activation)
        self.gate_init_scale = float(gate_init_scale)
        if seed is None:
            seed = random.randint(0, 2**31 - 1)
        self.seed = int(seed)
        if self.dropout > 0.0:
            self.seed_generator = keras.random.SeedGenerator(self.seed)
        else:
            self.seed_generator = None
        self.supports_masking = False
        self.filters = int(filters)
        self.kernel_size = int_or_pair(kernel_size, "kernel_size")
        self.stride = int_or_pair(stride, "stride")
        if min(as_pair(self.stride)) < 1:
            raise ValueError(f"`stride` must be >= 1, got {stride}.")
        self._strided = as_pair(self.stride) != (1, 1)
        self.transpose = bool(transpose)
        self.conv1, self.conv2 = self._make_convs()
        self.shortcut = None
        self.aux_projection = None
        self._aux_resize = None

    def _make_convs(self):
        """`(conv1, conv2)`: here the first conv carries the stride."""
        conv1_cls = WeightNormConv2DTranspose if self.transpose else WeightNormConv2D
        conv1 = conv1_cls(self.filters, self.kernel_size, strides=self.stride, name="conv1")
        conv2 = WeightNormConv2D(2 * self.filters, self.kernel_size, init_scale=self.gate_init_scale, name="conv2")
        return conv1, conv2

    def _activated_shape(self, shape):
        channels = shape[-1]
        if channels is not None:
            channels = channels * self._channel_factor
        return tuple(shape[:-1]) + (channels,)

    def _dropout(self, x, training):
        """Inverted dropout: keep with probability 1 - rate, scale by 1 / (1 - rate).

        Written as a uniform draw, a comparison and one multiply rather than
        `keras.random.dropout`, whose seeded PyTorch version draws with
        `torch.bernoulli` (4x slower than `torch.rand` on CPU) and selects
        with `torch.where`: 20% of the paper BIVA's bfloat16 training step
        on PyTorch. The same distribution on every backend.
        """
        if training and self.dropout > 0.0:
            keep = keras.random.uniform(ops.shape(x), seed=self.seed_generator) >= self.dropout
            return x * ops.cast(keep, x.dtype) * ops.cast(1.0 / (1.0 - self.dropout), x.dtype)
        return x

    def _gate(self, c2):
        a, b = ops.split(c2, 2, axis=-1)
        return a * ops.sigmoid(b)

    def build(self, inputs_shape, aux_shape=None):
        if len(inputs_shape) != 4:
            raise ValueError(
                f"{type(self).__name__} expects (batch, H, W, C) inputs, got {inputs_shape}."
            )
        act_shape = self._activated_shape(inputs_shape)
        self.conv1.build(act_shape)
        c1_shape = self.conv1.compute_output_shape(act_shape)
        if aux_shape is not None:
            if len(aux_shape) != 4:
                raise ValueError(
                    f"The auxiliary input of {type(self).__name__} must be a "
                    f"(batch, H, W, C) feature map, got shape {aux_shape}."
                )
            self._aux_resize = self._resize_plan(aux_shape[1:3], c1_shape[1:3])
            self.aux_projection = self._make_aux_projection()
            self.aux_projection.build(self._activated_shape(aux_shape))
        self.conv2.build(self._activated_shape(c1_shape))
        self._build_shortcut(inputs_shape)

    def _make_aux_projection(self):
        """The 1x1 conv of the auxiliary input (resized afterwards)."""
        return WeightNormConv2D(self.filters, 1, name="aux_projection")

    def _build_shortcut(self, inputs_shape):
        """A learned projection where the input and output shapes differ."""
        if not self._strided and inputs_shape[-1] == self.filters:
            self.shortcut = None
            return
        if not self._strided:
            self.shortcut = WeightNormConv2D(self.filters, 1, name="shortcut")
        else:
            cls = WeightNormConv2DTranspose if self.transpose else WeightNormConv2D
            self.shortcut = cls(self.filters, self.stride, strides=self.stride, name="shortcut")
        self.shortcut.build(inputs_shape)

    @staticmethod
    def _resize_plan(aux_hw, target_hw):
        """('none'|'down'|'up', factors) mapping aux spatial dims to target."""
        if None in tuple(aux_hw) or None in tuple(target_hw):
            return ("none", (1, 1))
        aux_hw, target_hw = tuple(aux_hw), tuple(target_hw)
        if aux_hw == target_hw:
            return ("none", (1, 1))
        if all(a % t == 0 for a, t in zip(aux_hw, target_hw)):
            return ("down", tuple(a // t for a, t in zip(aux_hw, target_hw)))
        if all(t % a == 0 for a, t in zip(aux_hw, target_hw)):
            return ("up", tuple(t // a for a, t in zip(aux_hw, target_hw)))
        raise ValueError(
            "GatedResidualBlock: the auxiliary input has spatial shape "
            f"{aux_hw}, which cannot be resized to the block's feature map "
            f"{target_hw} (the sizes must be equal or differ by an integer "
            "factor in both dimensions)."
        )

    def _resize_aux(self, a):
        mode, (fh, fw) = self._aux_resize
        if mode == "down":
            return ops.average_pool(a, (fh, fw), strides=(fh, fw), padding="valid")
        if mode == "up":
            return ops.repeat(ops.repeat(a, fh, axis=1), fw, axis=2)
        return a

    def _output_mask(self, input_mask, output_mask):
        if output_mask is None and input_mask is not None and not self._strided:
            return input_mask
        return output_mask

    def _aux_term(self, aux):
        """The auxiliary input's contribution to the first conv's output."""
        return self._resize_aux(self.aux_projection(self.activation(aux)))

    def _hidden_mask(self, input_mask, output_mask):
        """The mask at the resolution of the first conv's output."""
        return output_mask

    def _residual(self, inputs):
        return inputs if self.shortcut is None else self.shortcut(inputs)

    def call(self, inputs, aux=None, training=None, input_mask=None, output_mask=None):
        output_mask = self._output_mask(input_mask, output_mask)
        if input_mask is not None:
            inputs = inputs * ops.cast(input_mask, inputs.dtype)
        c1 = self.conv1(self.activation(inputs))
        if aux is not None:
            if self.aux_projection is None:
                raise ValueError(
                    f"Layer '{self.name}' was built without an auxiliary input; "
                    "call it with `aux` the first time if you need one."
                )
            c1 = c1 + self._aux_term(aux)
        c1 = self._dropout(self.activation(c1), training)
        hidden_mask = self._hidden_mask(input_mask, output_mask)
        if hidden_mask is not None:
            c1 = c1 * ops.cast(hidden_mask, c1.dtype)
        out = self._gate(self.conv2(c1))
        residual = self._residual(inputs)
        if residual is not None:
            out = residual + out
        if output_mask is not None:
            out = out * ops.cast(output_mask, out.dtype)
        return out

    def compute_output_shape(self, inputs_shape, aux_shape=None):
        shape = self.conv1.compute_output_shape(self._activated_shape(inputs_shape))
        return tuple(shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dropout": self.dropout,
                "activation": self._activation_config,
                "gate_init_scale": self.gate_init_scale,
                "seed": self.seed,
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "stride": self.stride,
                "transpose": self.transpose,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_hvae")
class BIVAResidualBlock(GatedResidualBlock):
    """The gated residual layer of the BIVA authors' code (`gated_resnet` and
    `transposed_gated_resnet` in `larsmaaloee/BIVA`, `layers/_neural.py`).

    It differs from the PixelCNN++ block (`GatedResidualBlock`) in where the
    stride sits and in what carries the shortcut and the auxiliary input:

    ```
    c1  = conv_kxk(act(x))                      # stride 1, at the input size
    c1 += aux_conv(act(a))                      # 1x1 at equal size; a kxk conv with
                                                # stride H_a / H to shrink a larger a,
                                                # a kxk transposed conv to enlarge a smaller one
    c1  = dropout(act(c1))
    c2  = conv_kxk(c1, 2F, stride)              # transposed when `transpose`
    out = c2[..., :F] * sigmoid(c2[..., F:])
    out += x  pooled (average, `stride`) and zero-padded to F channels
    ```

    No shortcut is added when `residual=False`, when the output is larger
    than the input (an upsampling block) or when the input has more
    channels than the output. Every weight-normalised layer is initialised
    to an output scale of `init_scale` (0.01 in the authors' code).

    Args:
        filters: output channels F.
        kernel_size: kernel of both convolutions (and of a resized aux).
        stride: stride of the gated (second) convolution.
        transpose: the gated convolution is transposed (upsampling).
        dropout: dropout rate between the two convolutions (training only).
        activation: activation name, or "concat_elu".
        residual: add the parameter-free shortcut.
        init_scale: data-dependent initialisation scale of every layer.
        seed: int seed of the dropout stream.
        **kwargs: base `Layer` arguments.

    Returns:
        Tensor `(batch, H', W', filters)`.

    Example:
    >>> block = BIVAResidualBlock(8, kernel_size=3, stride=2)
    >>> tuple(block(np.ones((2, 8, 8, 4), "float32")).shape)
    (2, 4, 4, 8)
    >>> sum(int(np.prod(w.shape)) for w in block.trainable_weights)  # 3x3x4x8 + 3x3x8x16, gains, biases
    1488
    """

    def __init__(self, filters, kernel_size=3, stride=1, transpose=False, dropout=0.0, activation="elu",
                 residual=True, init_scale=0.01, seed=None, **kwargs):
        self.residual = bool(residual)
        self.init_scale = float(init_scale)
        self._upsamples = bool(transpose) and as_pair(int_or_pair(stride, "stride")) != (1, 1)
        kwargs.pop("gate_init_scale", None)
        super().__init__(filters, kernel_size=kernel_size, stride=stride, transpose=transpose, dropout=dropout,
                         activation=activation, gate_init_scale=init_scale, seed=seed, **kwargs)
        self._pool = None
        self._pad = 0

    def _make_convs(self):
        conv1 = WeightNormConv2D(self.filters, self.kernel_size, init_scale=self.init_scale, name="conv1")
        conv2_cls = WeightNormConv2DTranspose if self._upsamples else WeightNormConv2D
        conv2 = conv2_cls(2 * self.filters, self.kernel_size, strides=self.stride, init_scale=self.init_scale,
                          name="conv2")
        return conv1, conv2

    def _make_aux_projection(self):
        mode, factors = self._aux_resize
        if mode == "none":
            return WeightNormConv2D(self.filters, 1, init_scale=self.init_scale, name="aux_projection")
        cls = WeightNormConv2D if mode == "down" else WeightNormConv2DTranspose
        return cls(self.filters, self.kernel_size, strides=factors, init_scale=self.init_scale,
                   name="aux_projection")

    def _aux_term(self, aux):
        return self.aux_projection(self.activation(aux))

    def _hidden_mask(self, input_mask, output_mask):
        return input_mask if self._strided else output_mask

    def _build_shortcut(self, inputs_shape):
        channels = inputs_shape[-1]
        self.shortcut = None
        self._use_residual = self.residual and not self._upsamples and channels <= self.filters
        self._pool = as_pair(self.stride) if (self._strided and not self._upsamples) else None
        self._pad = self.filters - channels if self._use_residual else 0

    def _residual(self, inputs):
        if not self._use_residual:
            return None
        x = inputs
        if self._pool is not None:
            x = ops.average_pool(x, self._pool, strides=self._pool, padding="same")
        if self._pad:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, self._pad]])
        return x

    def compute_output_shape(self, inputs_shape, aux_shape=None):
        shape = self.conv2.compute_output_shape(self._activated_shape(tuple(inputs_shape[:-1]) + (self.filters,)))
        return tuple(shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.pop("gate_init_scale", None)
        config.update({"residual": self.residual, "init_scale": self.init_scale})
        return config
