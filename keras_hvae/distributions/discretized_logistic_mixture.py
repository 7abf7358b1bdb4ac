"""PixelCNN++ discretised logistic mixture over 8-bit (or n-level) pixels."""

from keras import ops

from keras_hvae.distributions import special_math

from keras_hvae.distributions.discretized_logistic import logistic_bin_log_prob
from keras_hvae.distributions.fallback_base import seed_stream, uniform_open
from keras_hvae.distributions.pixel_grid import (
    float_params,
    half_bin_width,
    masked_sum,
    round_to_grid,
    to_grid,
)


def num_params(num_mixtures, channels):
    """Decoder channels needed: ``K * (1 + 3 C)``."""
    return int(num_mixtures) * (1 + 3 * int(channels))


class DiscretizedLogisticMixture:
    """Mixture of discretised logistics per pixel, as in PixelCNN++.

    Layout of ``params`` (channels last, ``P = K (1 + 3C)``): the first ``K``
    entries are the mixture logits; the remaining ``3CK`` are read as
    ``(C, 3K)``: for colour channel ``c`` come ``K`` means, ``K`` log-scales
    and ``K`` raw coupling coefficients (``tanh`` is applied). For ``C = 3``
    the channel means are coupled autoregressively like PixelCNN++:
    ``mean_g += c0 * x_r``, ``mean_b += c1 * x_r + c2 * x_g`` where
    ``c0, c1, c2`` are the coefficient slots of channels 0, 1, 2. For
    ``C = 1`` the coefficient slot exists (so ``P = 4K``) but is unused.

    Bin masses are exact: middle bins use
    ``log(sigmoid(a) - sigmoid(b)) = -softplus(-a) - softplus(b) +
    log(1 - exp(b - a))`` for every ``a > b`` (no PixelCNN++ ``1e-5`` pdf
    approximation), edge bins 0 and ``n-1`` take the tail mass, and the
    mixture is combined with ``logsumexp`` over ``log_softmax(logits)``.

    Args:
        params: float tensor ``(B, H, W, K (1 + 3C))`` (raw network output).
        num_mixtures: ``K``.
        num_bins: grid levels (256 for 8-bit images).
        log_scale_min: lower clamp of the log-scales.

    Example:
        >>> params = keras.random.normal((2, 8, 8, 100), seed=0)  # decoder output: K=10, C=3
        >>> d = DiscretizedLogisticMixture(params, num_mixtures=10)
        >>> tuple((-d.log_prob(images_uint8)).shape)  # the NLL per image
        (2,)
        >>> tuple(d.sample(seed=0).shape)  # on the grid in [-1, 1]
        (2, 8, 8, 3)
    """

    def __init__(self, params, num_mixtures, num_bins=256, log_scale_min=-7.0):
        self.num_mixtures = k = int(num_mixtures)
        self.num_bins = int(num_bins)
        half_bin_width(self.num_bins)
        self.log_scale_min = log_scale_min
        self.dtype, (params,) = float_params(params)
        total = ops.shape(params)[-1]
        channels, remainder = divmod(total // k - 1, 3) if total % k == 0 else (0, 1)
        if remainder or channels not in (1, 3):
            raise ValueError(
                f"DiscretizedLogisticMixture with num_mixtures={k} expects "
                f"{num_params(k, 1)} (C=1) or {num_params(k, 3)} (C=3) parameter "
                f"channels; got {total}."
            )
        self.num_channels = channels
        self.logits = params[..., :k]
        means, log_scales, coeffs = [], [], []
        for c in range(channels):
            base = k + 3 * k * c
            means.append(params[..., base:base + k])
            log_scales.append(params[..., base + k:base + 2 * k])
            coeffs.append(params[..., base + 2 * k:base + 3 * k])
        self.means = ops.stack(means, axis=-2)  # (B, H, W, C, K)
        log_scales = ops.stack(log_scales, axis=-2)
        if log_scale_min is not None:
            log_scales = special_math.maximum(log_scales, float(log_scale_min))
        self.log_scales = log_scales
        self.coefficients = ops.tanh(ops.stack(coeffs, axis=-2))

    def _coupled(self, x_r, x_g, means, coeffs, clip=False):
        """Applies the r→g→b coupling given (per-component) r and g values."""
        def c(v):
            return ops.clip(v, -1.0, 1.0) if clip else v

        m_r = c(means[..., 0, :])
        if x_r is None:
            x_r = m_r
        m_g = c(means[..., 1, :] + coeffs[..., 0, :] * x_r)
        if x_g is None:
            x_g = m_g
        m_b = c(means[..., 2, :] + coeffs[..., 1, :] * x_r + coeffs[..., 2, :] * x_g)
        return ops.stack([m_r, m_g, m_b], axis=-2)

    def log_prob(self, x, mask=None):
        """Per-example log-probability of 8-bit images.

        Args:
            x: ``(B, H, W, C)`` uint8/int levels, or floats on the grid in
                [-1, 1].
            mask: optional 0/1 ``(B, H, W, 1)`` or ``(B, H, W, C)``; masked-out
                entries contribute nothing (a fully masked pixel adds 0). With a
                per-channel mask the remaining channels are still coupled to the
                masked ones' values.

        Returns:
            Tensor ``(B,)``: log-probabilities summed over H, W, C.
        """
        x = to_grid(x, self.dtype, self.num_bins)
        if x.shape[-1] is not None and x.shape[-1] != self.num_channels:
            raise ValueError(
                f"DiscretizedLogisticMixture parameters describe {self.num_channels} "
                f"channel(s); got data of shape {tuple(x.shape)}."
            )
        x = ops.expand_dims(x, -1)  # (..., C, 1)
        means = self.means
        if self.num_channels == 3:
            means = self._coupled(x[..., 0, :], x[..., 1, :], means, self.coefficients)
        log_probs = logistic_bin_log_prob(x, means, self.log_scales, self.num_bins)
        pixel_mask = None
        if mask is not None:
            mask = ops.convert_to_tensor(mask)
            log_probs = ops.where(
                ops.expand_dims(mask, -1) > 0, log_probs, ops.zeros_like(log_probs)
            )
            # Fully masked pixels contribute exactly 0 (not logsumexp(log w) ~ 0).
            pixel_mask = ops.any(mask > 0, axis=-1)
        log_probs = ops.sum(log_probs, axis=-2) + ops.log_softmax(self.logits, axis=-1)
        return masked_sum(ops.logsumexp(log_probs, axis=-1), pixel_mask)

    def sample(self, seed=None):
        """Draws one image from the mixture.

        Per pixel a component is chosen by Gumbel-max, then channels are drawn
        in the order r, g, b from the logistic with the coupled mean, clipped to
        [-1, 1] and rounded to the grid; the *rounded* r (and g) enter the
        coupling, so samples follow the modelled pmf exactly.

        Args:
            seed: None, int or ``keras.random.SeedGenerator``.

        Returns:
            Float tensor ``(B, H, W, C)`` on the grid in [-1, 1].
        """
        next_seed = seed_stream(seed)
        u = uniform_open(tuple(ops.shape(self.logits)), self.dtype, next_seed())
        choice = ops.argmax(self.logits - ops.log(-ops.log(u)), axis=-1)
        one_hot = ops.expand_dims(
            ops.one_hot(choice, self.num_mixtures, dtype=self.dtype), -2
        )

        def pick(v):
            return ops.sum(ops.where(one_hot > 0, v, ops.zeros_like(v)), axis=-1)

        means, log_scales, coeffs = (
            pick(self.means), pick(self.log_scales), pick(self.coefficients)
        )
        u = uniform_open(tuple(ops.shape(means)), self.dtype, next_seed())
        noise = ops.exp(log_scales) * (ops.log(u) - ops.log1p(-u))
        x_r = round_to_grid(means[..., 0] + noise[..., 0], self.num_bins)
        if self.num_channels == 1:
            return ops.expand_dims(x_r, -1)
        x_g = round_to_grid(
            means[..., 1] + coeffs[..., 0] * x_r + noise[..., 1], self.num_bins
        )
        x_b = round_to_grid(
            means[..., 2] + coeffs[..., 1] * x_r + coeffs[..., 2] * x_g + noise[..., 2],
            self.num_bins,
        )
        return ops.stack([x_r, x_g, x_b], axis=-1)

    def mean(self):
        """Mixture-weighted component means with the coupling, for display.

        For each component the r mean is clipped to [-1, 1], then used in the
        coupling of g (clipped), then both in b; the result is averaged with the
        mixture weights. An approximation of the exact mean (it ignores the
        discretisation and the spread of r, g inside a component).

        Returns:
            Float tensor ``(B, H, W, C)`` in [-1, 1].
        """
        if self.num_channels == 3:
            means = self._coupled(None, None, self.means, self.coefficients, clip=True)
        else:
            means = ops.clip(self.means, -1.0, 1.0)
        weights = ops.expand_dims(ops.softmax(self.logits, axis=-1), -2)
        # the weights sum to 1 only up to rounding: clip again so the promise [-1, 1] holds exactly
        return ops.clip(ops.sum(weights * means, axis=-1), -1.0, 1.0)
