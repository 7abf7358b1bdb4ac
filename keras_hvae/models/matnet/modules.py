"""The three kinds of MatNet modules (Bachman, 2016, Sec. 2.2).

Convolutional modules (shape-preserving 'same' convolutions):

* `TDModule` — top-down (generator) module ``f_i^t``:
  Eq. 7  ``h_{i+1}^t = lrelu(h_i^t + conv(lrelu(conv([h_i^t; z_i], v)), w))``
  Eq. 8  ``[mu_bar_i; log sigma_bar_i^2] = conv(lrelu(conv(h_i^t, v')), w')``
  (the prior's kernels ``v', w'`` are separate from the update's ``v, w``;
  the paper reuses the letters, the shapes differ).
* `BUModule` — bottom-up module ``f_i^b``, Eq. 9:
  ``h_i^b = lrelu(h_{i+1}^b + conv(lrelu(conv(h_{i+1}^b, v)), w))``.
* `MergeModule` — inference module ``f_i^m``, Eqs. 10, 11:
  ``h_{i+1}^m = lrelu(h_i^m + conv(lrelu(conv([h_i^m; h_i^b; h_i^t], u)), v))``
  ``[mu_i; log sigma_i^2] = conv(h_{i+1}^m, w)``.

Fully-connected modules use dense layers in place of the convolutions
(``spatial=False``). The fully-connected top-down module is the paper's
"stochastic GRU-style state update" (`GRUTDModule`), exactly:

    a = [h; z]
    u = sigmoid(W_u a + b_u)                  (update gate)
    r = sigmoid(W_r a + b_r)                  (reset gate)
    c = tanh(W_c [r * h; z] + b_c)            (candidate state)
    h' = (1 - u) * h + u * c

with its prior (Eq. 8) ``[mu; log sigma^2] = W'(lrelu(V' h))``. The
fully-connected BU and merge modules keep the residual forms of Eqs. 9-11
with dense layers.

Layers are weight-normalised (`keras_hvae.layers`, data-dependent init in
`fit`) when ``weight_norm=True`` and plain Keras layers otherwise. The last
layer of every residual branch and every layer that outputs Gaussian
parameters starts small (``init_scale=0.1``), so a fresh network is close to
the identity and its KL terms start small.
"""

import keras
from keras import ops

from keras_hvae.layers import WeightNormConv2D, WeightNormConv2DTranspose, WeightNormDense

SMALL_INIT = 0.1


def lrelu(x, leak=0.1):
    """Leaky ReLU ``max(x, leak * x)``."""
    return ops.leaky_relu(x, negative_slope=leak)


def _plain_initializer(init_scale):
    return keras.initializers.VarianceScaling(scale=float(init_scale) ** 2 if init_scale < 1 else 1.0)


def make_dense(units, weight_norm=True, init_scale=1.0, name=None):
    """A (weight-normalised) dense layer."""
    if weight_norm:
        return WeightNormDense(units, init_scale=init_scale, name=name)
    return keras.layers.Dense(units, kernel_initializer=_plain_initializer(init_scale), name=name)


def make_conv(filters, kernel_size=3, strides=1, weight_norm=True, init_scale=1.0, name=None):
    """A (weight-normalised) 'same' 2-D convolution."""
    if weight_norm:
        return WeightNormConv2D(filters, kernel_size, strides=strides, init_scale=init_scale, name=name)
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same",
        kernel_initializer=_plain_initializer(init_scale), name=name,
    )


def make_conv_transpose(filters, kernel_size=3, strides=2, weight_norm=True, init_scale=1.0, name=None):
    """A (weight-normalised) 'same' transposed convolution (upsamples by `strides`)."""
    if weight_norm:
        return WeightNormConv2DTranspose(filters, kernel_size, strides=strides, init_scale=init_scale, name=name)
    return keras.layers.Conv2DTranspose(
        filters, kernel_size, strides=strides, padding="same",
        kernel_initializer=_plain_initializer(init_scale), name=name,
    )


def split_gaussian(params):
    """``[mu; log sigma^2]`` on the last axis -> ``(mu, log_var)``."""
    n = params.shape[-1] // 2
    return params[..., :n], params[..., n:]


class _Module(keras.layers.Layer):
    """A container of sub-layers; its methods call them directly."""

    def __init__(self, width, spatial=True, kernel_size=3, weight_norm=True, leak=0.1, **kwargs):
        super().__init__(**kwargs)
        self.width = int(width)
        self.spatial = bool(spatial)
        self.kernel_size = int(kernel_size)
        self.weight_norm = bool(weight_norm)
        self.leak = float(leak)
        self.built = True  # sub-layers build themselves on first use

    def _linear(self, units, init_scale=1.0, name=None):
        if self.spatial:
            return make_conv(units, self.kernel_size, weight_norm=self.weight_norm, init_scale=init_scale, name=name)
        return make_dense(units, weight_norm=self.weight_norm, init_scale=init_scale, name=name)

    def _act(self, x):
        return lrelu(x, self.leak)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "width": self.width,
                "spatial": self.spatial,
                "kernel_size": self.kernel_size,
                "weight_norm": self.weight_norm,
                "leak": self.leak,
            }
        )
        return config


class _TopDown(_Module):
    """What every top-down module has: ``z_dim``, the prior of Eq. 8 (two
    layers, built by `_build_prior` after the update's own layers) and
    ``call = update``."""

    def __init__(self, width, z_dim, with_prior=True, **kwargs):
        super().__init__(width, **kwargs)
        self.z_dim = int(z_dim)
        self.with_prior = bool(with_prior)

    def _build_prior(self):
        if self.with_prior:
            self.prior_in = self._linear(self.width, name="prior_in")
            self.prior_out = self._linear(2 * self.z_dim, SMALL_INIT, name="prior_out")

    def prior(self, h):
        """Eq. 8: ``(mu_bar, log_var_bar)`` of ``p(z_i | h_i^t)``."""
        return split_gaussian(self.prior_out(self._act(self.prior_in(h))))

    def call(self, h, z):
        return self.update(h, z)

    def get_config(self):
        config = super().get_config()
        config.update({"z_dim": self.z_dim, "with_prior": self.with_prior})
        return config


@keras.saving.register_keras_serializable(package="keras_hvae")
class TDModule(_TopDown):
    """Top-down module: the residual update of Eq. 7 and the prior of Eq. 8.

    Args:
        width: channels (units when ``spatial=False``) of the TD state.
        z_dim: channels (units) of the latent variables ``z_i``.
        spatial: convolutional (True) or dense (False) layers.
        with_prior: build the Eq. 8 prior (conditional MatNets take their
            prior from the generator's merge modules instead).
        kernel_size, weight_norm, leak: see the module docstring.

    Example:
    >>> m = TDModule(16, 4)
    >>> h, z = ops.zeros((2, 7, 7, 16)), ops.zeros((2, 7, 7, 4))
    >>> mu, log_var = m.prior(h)          # Eq. 8
    >>> h_next = m.update(h, z)           # Eq. 7
    >>> tuple(mu.shape), tuple(h_next.shape)
    ((2, 7, 7, 4), (2, 7, 7, 16))
    """

    def __init__(self, width, z_dim, with_prior=True, **kwargs):
        super().__init__(width, z_dim, with_prior, **kwargs)
        self.update_in = self._linear(self.width, name="update_in")  # v_i^t
        self.update_out = self._linear(self.width, SMALL_INIT, name="update_out")  # w_i^t
        self._build_prior()

    def update(self, h, z):
        """Eq. 7: the next TD state."""
        r = self.update_out(self._act(self.update_in(ops.concatenate([h, z], axis=-1))))
        return self._act(h + r)


@keras.saving.register_keras_serializable(package="keras_hvae")
class GRUTDModule(_TopDown):
    """Fully-connected top-down module with a stochastic GRU-style update.

    ``h' = (1 - u) * h + u * tanh(W_c [r * h; z] + b_c)`` with
    ``[u; r] = sigmoid(W_g [h; z] + b_g)``; prior as Eq. 8 with dense layers.

    Example:
    >>> m = GRUTDModule(64, 8)
    >>> h, z = ops.zeros((2, 64)), ops.zeros((2, 8))
    >>> tuple(m.update(h, z).shape)
    (2, 64)
    """

    def __init__(self, width, z_dim, with_prior=True, **kwargs):
        kwargs["spatial"] = False
        super().__init__(width, z_dim, with_prior, **kwargs)
        self.gates = self._linear(2 * self.width, name="gates")
        self.candidate = self._linear(self.width, name="candidate")
        self._build_prior()

    def update(self, h, z):
        g = ops.sigmoid(self.gates(ops.concatenate([h, z], axis=-1)))
        u, r = g[..., : self.width], g[..., self.width :]
        c = ops.tanh(self.candidate(ops.concatenate([r * h, z], axis=-1)))
        return (1.0 - u) * h + u * c

    def get_config(self):
        config = super().get_config()
        config.pop("spatial", None)
        return config


@keras.saving.register_keras_serializable(package="keras_hvae")
class BUModule(_Module):
    """Bottom-up module, Eq. 9: ``lrelu(h + conv(lrelu(conv(h, v)), w))``."""

    def __init__(self, width, **kwargs):
        super().__init__(width, **kwargs)
        self.conv_in = self._linear(self.width, name="conv_in")  # v_i^b
        self.conv_out = self._linear(self.width, SMALL_INIT, name="conv_out")  # w_i^b

    def call(self, h):
        return self._act(h + self.conv_out(self._act(self.conv_in(h))))


@keras.saving.register_keras_serializable(package="keras_hvae")
class MergeModule(_Module):
    """Merge module, Eqs. 10 and 11.

    ``call(h_m, h_b, h_t)`` returns ``(h_m_next, mu, log_var)``.
    """

    def __init__(self, width, z_dim, **kwargs):
        super().__init__(width, **kwargs)
        self.z_dim = int(z_dim)
        self.conv_u = self._linear(self.width, name="conv_u")
        self.conv_v = self._linear(self.width, SMALL_INIT, name="conv_v")
        self.conv_w = self._linear(2 * self.z_dim, SMALL_INIT, name="conv_w")

    def call(self, h_m, h_b, h_t):
        stacked = ops.concatenate([h_m, h_b, h_t], axis=-1)
        h_m = self._act(h_m + self.conv_v(self._act(self.conv_u(stacked))))  # Eq. 10
        mu, log_var = split_gaussian(self.conv_w(h_m))  # Eq. 11
        return h_m, mu, log_var

    def get_config(self):
        config = super().get_config()
        config["z_dim"] = self.z_dim
        return config
