"""A stack of M gated residual blocks (one BIVA / LVAE "ResNet block")."""

import random

import keras

from keras_hvae.layers.gated_residual import (
    GatedResidualBlock,
    GatedResidualDenseBlock,
    _serialize_activation,
)

__all__ = ["ResidualStack"]


@keras.saving.register_keras_serializable(package="keras_hvae")
class ResidualStack(keras.layers.Layer):
    """``num_layers`` gated residual blocks applied in sequence.

    BIVA's deterministic networks are "M = 3 convolutional layers … and an
    overall stride of 2": ``ResidualStack(3, 64, 5, stride=2)``. The stride
    (and ``transpose``) is applied to a single block, the first or the last
    one (``stride_position``); all other blocks have stride 1. An optional
    auxiliary input is passed to every block (each block resizes it to its own
    resolution when the sizes differ by an integer factor).

    Args:
        num_layers: Number of blocks M (≥ 1).
        filters: Channels (or units when ``dense=True``) of every block.
        kernel_size: Kernel size of the conv blocks.
        stride: Stride of the strided block (1 = no resampling).
        stride_position: ``"last"`` (default) or ``"first"``: which block
            carries the stride.
        transpose: Upsample instead of downsample in the strided block.
        dropout: Dropout rate of every block (training only).
        activation: Activation of every block (``"elu"``, ``"concat_elu"``…).
        dense: Use :class:`GatedResidualDenseBlock` (fully connected
            hierarchies); ``kernel_size``/``stride``/``transpose`` are ignored.
        seed: Int seed; block ``i`` uses ``seed + i`` (random if None).
        **kwargs: Base ``Layer`` arguments.

    Returns:
        Tensor ``(batch, H', W', filters)`` (or ``(batch, filters)``).

    Example:

    ```python
    stack = ResidualStack(3, 64, kernel_size=5, stride=2, dropout=0.5)
    d = stack(x, training=True)   # (batch, H/2, W/2, 64)
    d = stack(x, aux=top_down)    # auxiliary input into every block
    ```
    """

    def __init__(
        self,
        num_layers,
        filters,
        kernel_size=3,
        stride=1,
        stride_position="last",
        transpose=False,
        dropout=0.0,
        activation="elu",
        dense=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_layers = int(num_layers)
        if self.num_layers < 1:
            raise ValueError(f"`num_layers` must be >= 1, got {num_layers}.")
        if stride_position not in ("first", "last"):
            raise ValueError(
                f"`stride_position` must be 'first' or 'last', got {stride_position!r}."
            )
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.stride = int(stride)
        self.stride_position = stride_position
        self.transpose = bool(transpose)
        self.dropout = float(dropout)
        self.activation = activation
        self.dense = bool(dense)
        if seed is None:
            seed = random.randint(0, 2**31 - 1 - self.num_layers)
        self.seed = int(seed)

        strided_index = 0 if stride_position == "first" else self.num_layers - 1
        self.blocks = []
        for i in range(self.num_layers):
            common = dict(
                dropout=self.dropout,
                activation=self.activation,
                seed=self.seed + i,
                name=f"block_{i}",
            )
            if self.dense:
                block = GatedResidualDenseBlock(self.filters, **common)
            else:
                strided = i == strided_index
                block = GatedResidualBlock(
                    self.filters,
                    kernel_size=self.kernel_size,
                    stride=self.stride if strided else 1,
                    transpose=self.transpose and strided,
                    **common,
                )
            self.blocks.append(block)

    def build(self, inputs_shape, aux_shape=None):
        shape = tuple(inputs_shape)
        for block in self.blocks:
            block.build(shape, aux_shape=aux_shape)
            shape = block.compute_output_shape(shape, aux_shape=aux_shape)

    def call(self, inputs, aux=None, training=None):
        x = inputs
        for block in self.blocks:
            x = block(x, aux=aux, training=training)
        return x

    def compute_output_shape(self, inputs_shape, aux_shape=None):
        shape = tuple(inputs_shape)
        for block in self.blocks:
            shape = block.compute_output_shape(shape, aux_shape=aux_shape)
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "stride": self.stride,
                "stride_position": self.stride_position,
                "transpose": self.transpose,
                "dropout": self.dropout,
                "activation": _serialize_activation(self.activation),
                "dense": self.dense,
                "seed": self.seed,
            }
        )
        return config
