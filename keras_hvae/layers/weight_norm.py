"""Weight-normalised Dense / Conv2D / Conv2DTranspose layers.

Weight normalisation (Salimans & Kingma, 2016) reparameterises a kernel as
``w = g * v / ||v||`` where ``||v||`` is taken over every axis except the
output-channel axis, and ``g`` is a per-output-channel scale. Every layer here
owns four variables:

* ``v``: the kernel direction (trainable),
* ``g``: the per-output scale (trainable),
* ``bias``: the per-output bias (trainable, if ``use_bias``),
* ``initialized``: a non-trainable scalar (0./1.) that is saved with the
  weights and records whether data-dependent initialisation has happened.

Data-dependent initialisation is triggered explicitly, see
:mod:`keras_hvae.layers.weight_norm_init`.
"""

import keras
from keras import ops

from keras_hvae.layers import weight_norm_init as _ddi
from keras_hvae.layers.initializers import FlatRandomNormal
from keras_hvae.utils.arguments import as_pair

__all__ = [
    "WeightNormBase",
    "WeightNormDense",
    "WeightNormConv2D",
    "WeightNormConv2DTranspose",
]

_NORM_EPSILON = 1e-12
# Data-dependent init: a channel is degenerate when its std on the init
# batch is below the largest of these (see `guarded_init_scale`).
_STD_REL_MEDIAN = 1e-2  # fraction of the median channel std
_STD_REL_RMS = 1e-3  # fraction of the layer output's root mean square
_STD_ABS_FLOOR = 1e-3  # absolute (layer outputs are O(1) in this package)


def guarded_init_scale(std, t, init_scale):
    """Per-channel data-dependent scales ``init_scale / std``, guarded.

    Args:
        std: ``(channels,)`` standard deviations of the layer's output (with
            unit-norm directions) on the init batch.
        t: that output (any shape, channels last), for its overall scale.
        init_scale: the target std.

    Returns:
        ``(channels,)`` float32 scales, finite and at most
        ``init_scale / _STD_ABS_FLOOR``. A channel whose std is below
        ``max(1e-2 * median(std), 1e-3 * rms(t), 1e-3)`` is degenerate (a
        batch of one example, blank or identical images) and gets
        ``init_scale / median(std)`` when the median is itself above the
        last two floors, else ``init_scale``.

    Example:
    >>> import numpy as np
    >>> std = np.array([1.0, 0.5, 0.0], "float32")
    >>> [round(float(v), 3) for v in guarded_init_scale(std, np.ones((4, 3), "float32"), 1.0)]
    [1.0, 2.0, 2.0]
    """
    std = ops.cast(std, "float32")
    t = ops.cast(t, "float32")
    finite = ops.isfinite(std)
    std = ops.where(finite, std, ops.zeros_like(std))
    rms = ops.sqrt(ops.mean(ops.square(ops.where(ops.isfinite(t), t, ops.zeros_like(t)))))
    base_floor = ops.maximum(_STD_REL_RMS * rms, _STD_ABS_FLOOR)
    median = ops.median(std)
    floor = ops.maximum(_STD_REL_MEDIAN * median, base_floor)
    healthy = ops.logical_and(finite, std >= floor)
    default = ops.where(median >= base_floor, init_scale / ops.maximum(median, base_floor), init_scale)
    return ops.where(healthy, init_scale / ops.maximum(std, floor), default * ops.ones_like(std))


def _normalize_padding(padding):
    padding = str(padding).lower()
    if padding not in ("same", "valid"):
        raise ValueError(f"`padding` must be 'same' or 'valid', got {padding!r}.")
    return padding


def _is_eager(x):
    """True when `x` is a concrete tensor and variable writes persist."""
    if isinstance(x, keras.KerasTensor):
        return False
    try:
        from keras.src.backend import in_stateless_scope

        if in_stateless_scope():
            return False
    except ImportError:  # pragma: no cover - private API moved
        pass
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly()
    if backend == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    if backend == "torch":
        import torch

        return not torch.compiler.is_compiling()
    return True


class WeightNormBase(keras.layers.Layer):
    """Base class of weight-normalised layers (not meant to be used directly).

    Subclasses create the variables in ``build`` with
    ``_add_weight_norm_variables(kernel_shape)``, implement ``_project(x, v)``
    (the linear map with kernel ``v``) and set ``self._out_axis`` (the kernel
    axis of the output channels). ``_direction_source()`` may be overridden to
    transform ``v`` before normalisation (e.g. to apply a mask).

    Args:
        init_scale: Standard deviation of every output channel after
            data-dependent initialisation.
        use_bias: Whether to add a bias.
        activation: Optional activation applied to the output.
        kernel_initializer: Initializer of ``v`` (default
            ``FlatRandomNormal(stddev=0.05)``).
        g_initializer: Initializer of ``g`` (used until data-dependent init).
        bias_initializer: Initializer of ``bias``.
        **kwargs: Base ``Layer`` arguments.
    """

    def __init__(
        self,
        init_scale=1.0,
        use_bias=True,
        activation=None,
        kernel_initializer=None,
        g_initializer="ones",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.init_scale = float(init_scale)
        self.use_bias = bool(use_bias)
        self.activation = keras.activations.get(activation)
        if kernel_initializer is None:
            kernel_initializer = FlatRandomNormal(stddev=0.05)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.g_initializer = keras.initializers.get(g_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self._out_axis = -1

    # ----------------------------------------------------------------- build
    def _add_weight_norm_variables(self, kernel_shape):
        out_channels = kernel_shape[self._out_axis]
        self.v = self.add_weight(
            name="v", shape=kernel_shape, initializer=self.kernel_initializer
        )
        self.g = self.add_weight(
            name="g", shape=(out_channels,), initializer=self.g_initializer
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(out_channels,), initializer=self.bias_initializer
            )
        else:
            self.bias = None
        self.initialized = self.add_weight(
            name="initialized",
            shape=(),
            initializer="zeros",
            dtype="float32",
            trainable=False,
            autocast=False,
        )

    # --------------------------------------------------------------- helpers
    def _known_last_dim(self, input_shape, what, **spec):
        """The size of the input's last axis, which must be known; the
        ``input_spec`` (with ``spec``, e.g. ``ndim=4``) then pins it."""
        dim = input_shape[-1]
        if dim is None:
            raise ValueError(f"The {what} of the input must be known.")
        self.input_spec = keras.layers.InputSpec(axes={-1: int(dim)}, **spec)
        return int(dim)

    @property
    def _norm_axes(self):
        ndim = len(self.v.shape)
        out_axis = self._out_axis % ndim
        return tuple(a for a in range(ndim) if a != out_axis)

    def _direction_source(self):
        """The (unnormalised) kernel direction used in `call`."""
        return self.v

    def _inverse_v_norm(self, v):
        """``1 / ||v||`` per output channel, as one `rsqrt` (one op and one
        gradient op, where ``1 / sqrt`` traces seven: 206 such layers in the
        paper's BIVA)."""
        return ops.rsqrt(
            ops.maximum(ops.sum(ops.square(v), axis=self._norm_axes), _NORM_EPSILON)
        )

    def _broadcast_to_kernel(self, per_channel):
        ndim = len(self.v.shape)
        shape = [1] * ndim
        shape[self._out_axis % ndim] = -1
        return ops.reshape(per_channel, shape)

    @property
    def is_initialized(self):
        """bool: whether data-dependent initialisation has been done."""
        if not self.built:
            return False
        return bool(float(ops.convert_to_numpy(self.initialized.value)) > 0.5)

    def effective_kernel(self):
        """The kernel ``g * v / ||v||`` (same layout as the Keras layer)."""
        v = self._direction_source()
        scale = self.g * self._inverse_v_norm(v)
        return v * self._broadcast_to_kernel(scale)

    def _should_initialize(self, inputs):
        if not _ddi.data_dependent_init_active():
            return False
        claimed = _ddi.claim_traced_initialization(self)
        if claimed is not None:
            return claimed
        if not _is_eager(inputs):
            return False
        return not self.is_initialized

    # ------------------------------------------------------------------ call
    def call(self, inputs):
        return self.activation(self._weight_norm_linear(inputs))

    #: Where the scale g/||v|| is applied: to the kernel (`True`: cheaper
    #: when the output has more elements than the kernel, as convolutions'
    #: outputs do) or to the output (dense layers at small batches).
    _scale_kernel = False

    def _weight_norm_linear(self, inputs):
        """Pre-activation output (runs data-dependent init when due)."""
        v = self._direction_source()
        inv_norm = self._inverse_v_norm(v)
        if self._should_initialize(inputs):
            return self._data_dependent_init(self._project(inputs, v) * inv_norm)
        if self._scale_kernel:
            y = self._project(inputs, v * self._broadcast_to_kernel(self.g * inv_norm))
        else:
            y = self._project(inputs, v) * (self.g * inv_norm)
        if self.use_bias:
            y = y + self.bias
        return y

    def _data_dependent_init(self, t):
        """Sets ``g`` and ``bias`` so that each output channel of `t` (the
        pre-activation output with unit-norm directions) has mean 0 and std
        ``init_scale`` on this batch.

        Guarded against degenerate batches (one example, blank images,
        identical images), whose channels have (close to) zero spread and
        would get scales of 1e8 and more: a channel whose std is below the
        floor of :func:`guarded_init_scale` (1% of the median channel std,
        0.1% of the layer output's RMS, or 1e-3) keeps a default scale instead —
        ``init_scale / median std`` when the median channel is healthy,
        else ``init_scale`` (unit-norm directions: unit-scale inputs give
        outputs of std ``init_scale``) — and its bias is still ``-mean *
        scale``. The scale is therefore always finite and at most
        ``init_scale / _STD_ABS_FLOOR`` = 1000 ``init_scale``.
        """
        dtype = t.dtype
        t = ops.cast(ops.stop_gradient(t), "float32")
        axes = tuple(range(len(t.shape) - 1))
        mean = ops.mean(t, axis=axes)
        std = ops.sqrt(ops.mean(ops.square(t - mean), axis=axes))
        scale = guarded_init_scale(std, t, self.init_scale)
        self.g.assign(ops.cast(scale, self.g.dtype))
        if self.use_bias:
            self.bias.assign(ops.cast(-mean * scale, self.bias.dtype))
            out = (t - mean) * scale
        else:
            out = t * scale
        self.initialized.assign(1.0)
        _ddi._record_initialized(self)
        return ops.cast(out, dtype)

    # ---------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "init_scale": self.init_scale,
                "use_bias": self.use_bias,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "g_initializer": keras.initializers.serialize(self.g_initializer),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_hvae")
class WeightNormDense(WeightNormBase):
    """Weight-normalised fully connected layer.

    ``y = x @ (g * v / ||v||) + bias`` with ``||v||`` over the input axis.

    Args:
        units: Number of output units.
        init_scale: Output std per unit after data-dependent initialisation.
        use_bias: Whether to add a bias.
        activation: Optional activation.
        kernel_initializer: Initializer of ``v`` (default N(0, 0.05²)).
        g_initializer: Initializer of ``g``.
        bias_initializer: Initializer of ``bias``.
        **kwargs: Base ``Layer`` arguments.

    Returns:
        Tensor ``(..., units)``.

    Example:

    ```python
    layer = WeightNormDense(16)
    initialize_weight_norm(layer, x)  # g, bias from the batch statistics
    y = layer(x)
    ```
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        in_dim = self._known_last_dim(input_shape, "last dimension", min_ndim=2)
        self._add_weight_norm_variables((in_dim, self.units))

    def _project(self, x, v):
        return ops.matmul(x, v)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config


class _WeightNormConvBase(WeightNormBase):
    """Shared part of the 2-D (transposed) convolutions.

    The scale g/||v|| multiplies the kernel (`kh * kw * in * out` numbers)
    rather than the output (`batch * H * W * out`, 8x more for BIVA's 3x3,
    64-channel blocks at batch 48 and 14x14), forward and backward.

    Subclasses implement ``_kernel_shape(in_channels)``, ``_project(x, v)``
    and ``_output_size(size, kernel, stride)`` (one spatial output size).
    """

    _scale_kernel = True

    def __init__(self, filters, kernel_size, strides=1, padding="same", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.strides = as_pair(strides, "strides")
        self.padding = _normalize_padding(padding)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def _in_channels(self, input_shape):
        return self._known_last_dim(input_shape, "channel dimension", ndim=4)

    def build(self, input_shape):
        self._add_weight_norm_variables(self._kernel_shape(self._in_channels(input_shape)))

    def compute_output_shape(self, input_shape):
        spatial = []
        for size, k, s in zip(input_shape[1:3], self.kernel_size, self.strides):
            spatial.append(None if size is None else self._output_size(size, k, s))
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_hvae")
class WeightNormConv2D(_WeightNormConvBase):
    """Weight-normalised 2-D convolution (channels-last).

    Kernel ``v`` has shape ``(kh, kw, in, filters)``; ``||v||`` is taken over
    ``(kh, kw, in)``.

    Args:
        filters: Number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: ``"same"`` (default) or ``"valid"``.
        init_scale, use_bias, activation, kernel_initializer, g_initializer,
            bias_initializer, **kwargs: as :class:`WeightNormBase`.

    Returns:
        Tensor ``(batch, H', W', filters)``.

    Example:

    ```python
    conv = WeightNormConv2D(32, 3, strides=2)
    initialize_weight_norm(conv, images)
    features = conv(images)  # (batch, H/2, W/2, 32)
    ```
    """

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (in_channels, self.filters)

    def _project(self, x, v):
        return ops.conv(
            x, v, strides=self.strides, padding=self.padding, data_format="channels_last"
        )

    def _output_size(self, size, k, s):
        if self.padding == "same":
            return -(-size // s)
        return -(-(size - k + 1) // s)


@keras.saving.register_keras_serializable(package="keras_hvae")
class WeightNormConv2DTranspose(_WeightNormConvBase):
    """Weight-normalised 2-D transposed convolution (channels-last).

    Kernel ``v`` has the Keras ``Conv2DTranspose`` layout
    ``(kh, kw, filters, in)``; ``||v||`` is taken over ``(kh, kw, in)``, i.e.
    every axis except the output-channel axis (axis 2).

    Args:
        filters, kernel_size, strides, padding, ...: as
            :class:`WeightNormConv2D`; ``"same"`` padding multiplies the
            spatial size by the stride.

    Returns:
        Tensor ``(batch, H', W', filters)``.

    Example:

    ```python
    up = WeightNormConv2DTranspose(32, 3, strides=2)
    y = up(x)  # (batch, 2H, 2W, 32)
    ```
    """

    def __init__(self, filters, kernel_size, strides=1, padding="same", **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, **kwargs)
        self._out_axis = 2

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (self.filters, in_channels)

    def _project(self, x, v):
        return ops.conv_transpose(
            x, v, strides=self.strides, padding=self.padding, data_format="channels_last"
        )

    def _output_size(self, size, k, s):
        if self.padding == "same":
            return size * s
        return size * s + max(k - s, 0)
