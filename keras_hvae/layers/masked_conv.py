"""Masked 2-D convolution for a small PixelCNN (MatNet + local autoregression).

Masking uses a *single channel group*: all input channels of a pixel are
treated as one unit. With raster order (row by row, left to right), the
output at pixel ``p`` may see

* mask ``"A"``: every channel of the pixels strictly before ``p`` and
  **none** of pixel ``p`` itself (use it for the first layer, on the image);
* mask ``"B"``: every channel of the pixels before ``p`` **and** of ``p``
  itself (use it for the following layers, whose features at ``p`` already
  depend only on pixels strictly before ``p``).

So the colour channels of one pixel are modelled jointly (no R→G→B ordering
inside a pixel); a PixelCNN of one "A" layer followed by "B" layers outputs
at ``p`` a function of the pixels strictly before ``p`` only.

MatNet (Bachman, 2016, §2) feeds the MatNet output into every internal
PixelCNN layer through *unmasked* connections; pass it as
``conditioning=...``: it is added through a 1×1 (weight-normalised) conv.
"""

import numpy as np

import keras
from keras import ops

from keras_hvae.layers.weight_norm import WeightNormConv2D

__all__ = ["MaskedConv2D", "causal_mask"]


def causal_mask(kernel_size, in_channels, out_channels, mask_type):
    """The ``(kh, kw, in, out)`` 0/1 mask of a single-group masked conv.

    Args:
        kernel_size: (kh, kw), both odd.
        in_channels: Input channels.
        out_channels: Output channels.
        mask_type: ``"A"`` (centre excluded) or ``"B"`` (centre included).

    Returns:
        float32 numpy array.

    Example:

    ```python
    causal_mask((3, 3), 1, 1, "A")[..., 0, 0]
    # [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    ```
    """
    kh, kw = kernel_size
    ch, cw = kh // 2, kw // 2
    mask = np.zeros((kh, kw, in_channels, out_channels), dtype="float32")
    mask[:ch] = 1.0
    mask[ch, :cw] = 1.0
    if mask_type == "B":
        mask[ch, cw] = 1.0
    return mask


@keras.saving.register_keras_serializable(package="keras_hvae")
class MaskedConv2D(WeightNormConv2D):
    """Masked (causal) 2-D convolution with an unmasked conditioning input.

    Stride 1 and ``"same"`` padding (the output has the input's size); odd
    kernel sizes only. See the module docstring for the single-channel-group
    masking convention of mask types ``"A"`` and ``"B"``.

    With ``weight_norm=True`` (default) the kernel is ``g * (m⊙v) / ||m⊙v||``
    (``m`` the mask) with the same variables and data-dependent
    initialisation as :class:`WeightNormConv2D`; with ``weight_norm=False`` it
    is a plain masked kernel ``kernel`` plus ``bias``.

    If ``conditioning`` is given (same batch and spatial size as the input,
    any channels), ``conv1x1(conditioning)`` is added before the activation.
    The conditioning path is created when the layer is built, so the first
    call must include ``conditioning`` if later calls use it.

    Args:
        filters: Output channels.
        kernel_size: Odd int or (kh, kw).
        mask_type: ``"A"`` or ``"B"``.
        weight_norm: Use weight normalisation (default True).
        init_scale: Output std after data-dependent init (weight norm only).
        use_bias: Whether to add a bias.
        activation: Optional activation (applied after the conditioning).
        kernel_initializer: Initializer of the kernel direction.
        g_initializer: Initializer of ``g``.
        bias_initializer: Initializer of ``bias``.
        **kwargs: Base ``Layer`` arguments.

    Returns:
        Tensor ``(batch, H, W, filters)``.

    Example:

    ```python
    first = MaskedConv2D(32, 5, mask_type="A")
    rest = MaskedConv2D(32, 3, mask_type="B", activation="elu")
    h = first(x_image, conditioning=matnet_out)
    h = rest(h, conditioning=matnet_out)
    ```
    """

    def __init__(
        self, filters, kernel_size, mask_type="B", weight_norm=True, **kwargs
    ):
        for key in ("strides", "padding"):
            value = kwargs.pop(key, None)
            if value not in (None, 1, (1, 1), [1, 1], "same"):
                raise ValueError(
                    f"MaskedConv2D only supports strides=1 and padding='same'; got {key}={value!r}."
                )
        super().__init__(filters, kernel_size, strides=1, padding="same", **kwargs)
        mask_type = str(mask_type).upper()
        if mask_type not in ("A", "B"):
            raise ValueError(f"`mask_type` must be 'A' or 'B', got {mask_type!r}.")
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"`kernel_size` must be odd, got {self.kernel_size}.")
        if mask_type == "A" and self.kernel_size == (1, 1):
            raise ValueError("A 1x1 kernel with mask 'A' sees nothing.")
        self.mask_type = mask_type
        self.weight_norm = bool(weight_norm)
        self.conditioning_projection = None
        self._mask = None

    def build(self, inputs_shape, conditioning_shape=None):
        in_channels = self._in_channels(inputs_shape)
        kernel_shape = self.kernel_size + (in_channels, self.filters)
        self._mask = causal_mask(self.kernel_size, in_channels, self.filters, self.mask_type)
        if self.weight_norm:
            self._add_weight_norm_variables(kernel_shape)
        else:
            self.kernel = self.add_weight(
                name="kernel", shape=kernel_shape, initializer=self.kernel_initializer
            )
            self.bias = (
                self.add_weight(
                    name="bias", shape=(self.filters,), initializer=self.bias_initializer
                )
                if self.use_bias
                else None
            )
        if conditioning_shape is not None:
            if len(conditioning_shape) != 4:
                raise ValueError(
                    f"`conditioning` must be (batch, H, W, C), got {conditioning_shape}."
                )
            for a, b in zip(conditioning_shape[1:3], inputs_shape[1:3]):
                if a is not None and b is not None and a != b:
                    raise ValueError(
                        "`conditioning` must have the input's spatial size: "
                        f"got {tuple(conditioning_shape[1:3])} vs {tuple(inputs_shape[1:3])}."
                    )
            if self.weight_norm:
                proj = WeightNormConv2D(
                    self.filters, 1, use_bias=False, name="conditioning_projection"
                )
            else:
                proj = keras.layers.Conv2D(
                    self.filters, 1, use_bias=False, name="conditioning_projection"
                )
            proj.build(conditioning_shape)
            self.conditioning_projection = proj

    def _mask_tensor(self, dtype):
        return ops.convert_to_tensor(self._mask, dtype=dtype)

    def _direction_source(self):
        return self.v * self._mask_tensor(self.v.dtype)

    @property
    def is_initialized(self):
        if not self.weight_norm:
            return True
        return super().is_initialized

    def effective_kernel(self):
        if not self.weight_norm:
            return self.kernel * self._mask_tensor(self.kernel.dtype)
        return super().effective_kernel()

    def call(self, inputs, conditioning=None):
        if self.weight_norm:
            y = self._weight_norm_linear(inputs)
        else:
            kernel = self.kernel * self._mask_tensor(self.kernel.dtype)
            y = self._project(inputs, kernel)
            if self.use_bias:
                y = y + self.bias
        if conditioning is not None:
            if self.conditioning_projection is None:
                raise ValueError(
                    f"Layer '{self.name}' was built without a conditioning input; "
                    "pass `conditioning` on the first call."
                )
            y = y + self.conditioning_projection(conditioning)
        return self.activation(y)

    def compute_output_shape(self, inputs_shape, conditioning_shape=None):
        return tuple(inputs_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.pop("strides", None)
        config.pop("padding", None)
        config.update({"mask_type": self.mask_type, "weight_norm": self.weight_norm})
        return config
