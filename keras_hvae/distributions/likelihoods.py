"""Serializable likelihood heads: decoder output tensor → observation model.

A head is a plain object (no weights) that knows how many decoder channels it
needs, how to score data, how to sample and what image to show:

>>> lik = get_likelihood("discretized_logistic_mixture")  # K = 10
>>> lik.num_params(3)  # decoder channels for RGB images
100
>>> lik.validate(images_uint8)  # ValueError with a clear message if wrong
>>> params = keras.random.normal((2, 8, 8, 100), seed=0)  # decoder output
>>> nll = -lik.log_prob(params, images_uint8)  # (B,)
>>> bpd = bits_per_dim(nll, 8 * 8 * 3)
>>> tuple(bpd.shape)
(2,)

All heads are registered with ``keras.saving`` (package ``keras_hvae``) and
round-trip through ``get_config`` / ``from_config`` and
``keras.saving.serialize_keras_object``.
"""

import math

import keras
from keras import ops

from keras_hvae.distributions import support_checks
from keras_hvae.distributions.discretized_gaussian import DiscretizedGaussian
from keras_hvae.distributions.discretized_logistic import DiscretizedLogistic
from keras_hvae.distributions.discretized_logistic_mixture import (
    DiscretizedLogisticMixture,
)
from keras_hvae.distributions.image_densities import BernoulliImage, GaussianImage
from keras_hvae.distributions.pixel_grid import to_grid

_register = keras.saving.register_keras_serializable(package="keras_hvae")


def bits_per_dim(nats, num_dims):
    """Converts a negative log-likelihood in nats to bits per dimension.

    Args:
        nats: NLL in nats (tensor or float), e.g. ``-lik.log_prob(...)``.
        num_dims: number of data dimensions per example (``H * W * C``).

    Returns:
        ``nats / (num_dims * log 2)``, same type as ``nats``.

    Example:
        >>> round(float(bits_per_dim(2000.0, 28 * 28)), 2)
        3.68
    """
    return nats / (num_dims * math.log(2.0))


class Likelihood:
    """Base class of the heads; subclasses define ``name``, ``data_range``,
    ``num_params``, ``distribution`` and ``validate``."""

    name = None
    data_range = ""

    def get_config(self):
        """Constructor arguments (JSON-serialisable)."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Rebuilds the head from ``get_config()`` output."""
        return cls(**config)

    def num_params(self, channels):
        """Decoder output channels needed for ``channels`` data channels."""
        raise NotImplementedError

    def distribution(self, params):
        """The observation model for a decoder output ``params``."""
        raise NotImplementedError

    def validate(self, x):
        """Raises ``ValueError`` unless ``x`` is valid data for this head."""
        raise NotImplementedError

    def batch_violations(self, x):
        """In-graph check of a training batch (every train step runs it).

        The default checks finiteness only; heads with a bounded support
        check it too (see `support_checks.batch_violations`).

        Returns:
            `(flags, low, high)` of `support_checks.batch_violations`.
        """
        return support_checks.batch_violations(x)

    def preprocess(self, x):
        """Data → float tensor (``floatx``) in ``data_range``, for the networks."""
        return ops.cast(ops.convert_to_tensor(x), keras.config.floatx())

    def log_prob(self, params, x, mask=None):
        """Log-likelihood of ``x`` summed over all non-batch axes.

        Args:
            params: decoder output ``(B, H, W, num_params(C))``.
            x: data ``(B, H, W, C)`` in ``data_range``.
            mask: optional 0/1 ``(B, H, W, 1)`` or ``(B, H, W, C)``; masked-out
                entries are excluded (inpainting).

        Returns:
            Tensor ``(B,)``.
        """
        return self.distribution(params).log_prob(x, mask=mask)

    def sample(self, params, seed=None):
        """A sample in the data range, shape ``(B, H, W, C)``."""
        return self.distribution(params).sample(seed=seed)

    def mean(self, params):
        """The image to look at (in the data range), shape ``(B, H, W, C)``."""
        return self.distribution(params).mean()

    #: Whether `to_uint8` maps this head's data to uint8 images.
    has_uint8_form = False

    def to_uint8(self, x):
        """Values in the data range -> the uint8 form this head takes as
        input (``preprocess(to_uint8(x))`` gives ``x`` back for values on
        the support). Heads without an image form raise ``ValueError``.

        Args:
            x: tensor or array in ``data_range`` (a sample or a mean).

        Returns:
            uint8 tensor of the same shape.
        """
        raise ValueError(f"{type(self).__name__} has no uint8 image form.")

    @staticmethod
    def _split_loc_scale(params):
        total = ops.shape(params)[-1]
        if total % 2:
            raise ValueError(f"Expected an even number of parameter channels, got {total}.")
        c = total // 2
        return params[..., :c], params[..., c:]

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@_register
class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli pixels for binary images (decoder outputs logits).

    Example:
        >>> lik = BernoulliLikelihood()
        >>> logits = ops.zeros((2, 28, 28, 1))
        >>> [round(v, 2) for v in ops.convert_to_numpy(lik.log_prob(logits, binary_images)).tolist()]  # 784 log(1/2)
        [-543.43, -543.43]
    """

    name = "bernoulli"
    data_range = "{0, 1}"

    def num_params(self, channels):
        """One logit per channel."""
        return int(channels)

    def distribution(self, params):
        """``BernoulliImage(logits=params)``."""
        return BernoulliImage(params)

    def validate(self, x):
        """Rank 4, finite, values exactly 0 or 1."""
        support_checks.check_binary(x, type(self).__name__)

    def batch_violations(self, x):
        """In-graph: finite, in [0, 1], exactly 0 or 1."""
        return support_checks.batch_violations(x, low=0.0, high=1.0, binary=True)

    has_uint8_form = True

    def to_uint8(self, x):
        """{0, 1} -> uint8 0/1 (probabilities, e.g. a mean, are rounded at 0.5).

        Example:
            >>> ops.convert_to_numpy(BernoulliLikelihood().to_uint8(np.array([0.0, 0.4, 0.6, 1.0]))).tolist()
            [0, 0, 1, 1]
        """
        return ops.cast(ops.convert_to_tensor(x) >= 0.5, "uint8")


class _EightBitLikelihood(Likelihood):
    data_range = "[-1, 1] on the num_bins-level grid, or integer levels (uint8)"

    def __init__(self, num_bins=256, log_scale_min=-7.0):
        self.num_bins = int(num_bins)
        self.log_scale_min = None if log_scale_min is None else float(log_scale_min)

    def get_config(self):
        return {"num_bins": self.num_bins, "log_scale_min": self.log_scale_min}

    def validate(self, x):
        """Rank 4, finite, uint8/int levels or floats on the grid in [-1, 1]."""
        support_checks.check_grid(x, type(self).__name__, self.num_bins)

    def batch_violations(self, x):
        """In-graph: integer levels in [0, n-1], or finite floats on the grid in [-1, 1]."""
        levels = self.num_bins - 1
        if "float" in keras.backend.standardize_dtype(ops.convert_to_tensor(x).dtype):
            return support_checks.batch_violations(x, low=-1.0 - 1e-6, high=1.0 + 1e-6, grid_levels=levels)
        return support_checks.batch_violations(x, low=0.0, high=float(levels))

    def preprocess(self, x):
        """Integer levels ``k`` → ``2k/(n-1) - 1``; floats are only cast."""
        return to_grid(x, keras.config.floatx(), self.num_bins)

    @property
    def has_uint8_form(self):
        """True for up to 256 levels (8-bit images)."""
        return self.num_bins <= 256

    def to_uint8(self, x):
        """Floats in [-1, 1] -> uint8 levels ``round((x + 1) (n - 1) / 2)``,
        the inverse of `preprocess` (values off the grid go to the nearest
        level).

        Example:
            >>> lik = DiscretizedLogisticLikelihood()
            >>> ops.convert_to_numpy(lik.to_uint8(np.array([-1.0, 0.0, 1.0]))).tolist()
            [0, 128, 255]
        """
        if not self.has_uint8_form:
            raise ValueError(f"{type(self).__name__} has {self.num_bins} levels: more than uint8 holds.")
        levels = self.num_bins - 1
        k = ops.round((ops.clip(ops.cast(ops.convert_to_tensor(x), "float32"), -1.0, 1.0) + 1.0) * (0.5 * levels))
        return ops.cast(k, "uint8")


@_register
class DiscretizedLogisticMixtureLikelihood(_EightBitLikelihood):
    """PixelCNN++ discretised logistic mixture (see
    :class:`DiscretizedLogisticMixture` for the parameter layout).

    Args:
        num_mixtures: components ``K`` per pixel.
        num_bins: grid levels (256 for 8-bit data).
        log_scale_min: lower clamp of the log-scales.

    Example:
        >>> lik = DiscretizedLogisticMixtureLikelihood(num_mixtures=5)
        >>> lik.num_params(3)
        50
    """

    name = "discretized_logistic_mixture"

    def __init__(self, num_mixtures=10, num_bins=256, log_scale_min=-7.0):
        super().__init__(num_bins=num_bins, log_scale_min=log_scale_min)
        self.num_mixtures = int(num_mixtures)

    def get_config(self):
        return {"num_mixtures": self.num_mixtures, **super().get_config()}

    def num_params(self, channels):
        """``K * (1 + 3 C)``; only ``C`` in {1, 3} is supported."""
        if int(channels) not in (1, 3):
            raise ValueError(
                f"{type(self).__name__} supports 1 or 3 channels, got {channels}."
            )
        return self.num_mixtures * (1 + 3 * int(channels))

    def distribution(self, params):
        """``DiscretizedLogisticMixture(params, num_mixtures, ...)``."""
        return DiscretizedLogisticMixture(
            params, self.num_mixtures, num_bins=self.num_bins,
            log_scale_min=self.log_scale_min,
        )


class _DiscretizedLocationScaleLikelihood(_EightBitLikelihood):
    """A single-component head: ``C`` location then ``C`` log-scale channels,
    read by ``distribution_class(loc, log_scale, num_bins, log_scale_min)``."""

    distribution_class = None

    def num_params(self, channels):
        """``2 C``: locations (means) then log-scales."""
        return 2 * int(channels)

    def distribution(self, params):
        """``distribution_class(loc, log_scale)`` from split ``params``."""
        loc, log_scale = self._split_loc_scale(params)
        return self.distribution_class(
            loc, log_scale, num_bins=self.num_bins, log_scale_min=self.log_scale_min
        )


@_register
class DiscretizedLogisticLikelihood(_DiscretizedLocationScaleLikelihood):
    """Single discretised logistic per sub-pixel (MatNet's integrated logistic).

    Decoder layout: ``C`` location channels then ``C`` log-scale channels.

    Example:
        >>> DiscretizedLogisticLikelihood().num_params(3)
        6
    """

    name = "discretized_logistic"
    distribution_class = DiscretizedLogistic


@_register
class DiscretizedGaussianLikelihood(_DiscretizedLocationScaleLikelihood):
    """Gaussian mass per bin of the 8-bit grid (edge bins take the tails).

    Decoder layout: ``C`` mean channels then ``C`` log-std channels.

    Example:
        >>> DiscretizedGaussianLikelihood().num_params(1)
        2
    """

    name = "discretized_gaussian"
    distribution_class = DiscretizedGaussian


@_register
class GaussianLikelihood(Likelihood):
    """Continuous diagonal Gaussian for uniformly dequantised 8-bit data.

    Data are ``(k + u) / 256`` with ``k`` the 8-bit level and ``u ~ U(0, 1)``,
    so in [0, 1]; ``log_prob`` is a log *density*. Adding
    ``dequantization_correction(D) = -D log 256`` turns it into a lower bound
    on the log-probability of the 8-bit data (``log P(k) >= E_u log p(y) -
    D log 256``), which is what bits/dim should be reported from.

    Args:
        log_scale_min: lower clamp of the log standard deviations.

    Example:
        >>> lik = GaussianLikelihood()
        >>> params = ops.zeros((2, 28, 28, 2))  # means and log-scales
        >>> x_dequantised = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype("float32")
        >>> ll = lik.log_prob(params, x_dequantised)
        >>> bpd = bits_per_dim(-(ll + lik.dequantization_correction(784)), 784)
        >>> tuple(bpd.shape)
        (2,)
    """

    name = "gaussian"
    data_range = "[0, 1] (uniformly dequantised 8-bit data)"

    def __init__(self, log_scale_min=-7.0):
        self.log_scale_min = None if log_scale_min is None else float(log_scale_min)

    def get_config(self):
        return {"log_scale_min": self.log_scale_min}

    @staticmethod
    def dequantization_correction(num_dims):
        """``-num_dims * log(256)``: add to the log density (nats) to get a
        bound on the discrete log-probability of 8-bit data in [0, 1]."""
        return -float(num_dims) * math.log(256.0)

    def num_params(self, channels):
        """``2 C``: means then log-scales."""
        return 2 * int(channels)

    def distribution(self, params):
        """``GaussianImage`` whose ``mean()`` is clipped to [0, 1]."""
        loc, log_scale = self._split_loc_scale(params)
        return GaussianImage(
            loc, log_scale, log_scale_min=self.log_scale_min, clip_range=(0.0, 1.0)
        )

    def validate(self, x):
        """Rank 4, finite floats in [0, 1]."""
        support_checks.check_unit_interval(x, type(self).__name__)

    def batch_violations(self, x):
        """In-graph: finite floats in [0, 1] (integer levels are off the support)."""
        is_float = "float" in keras.backend.standardize_dtype(ops.convert_to_tensor(x).dtype)
        return support_checks.batch_violations(x, low=0.0, high=1.0, off_support=not is_float)

    @staticmethod
    def dequantize(x, seed=None):
        """Uniform dequantisation of 8-bit levels: ``(k + u) / 256``, u ~ U[0, 1).

        Args:
            x: integer tensor/array of levels in [0, 255].
            seed: None, int or ``keras.random.SeedGenerator``.

        Returns:
            ``floatx`` tensor in [0, 1).
        """
        x = ops.cast(ops.convert_to_tensor(x), keras.config.floatx())
        u = keras.random.uniform(ops.shape(x), dtype=keras.config.floatx(), seed=seed)
        return (x + u) / 256.0

    has_uint8_form = True

    def to_uint8(self, x):
        """Dequantised values in [0, 1] -> uint8 levels ``floor(256 x)``
        (clipped to [0, 255]): the bin each value lies in, the inverse of
        `preprocess` and `dequantize`.

        Example:
            >>> ops.convert_to_numpy(GaussianLikelihood().to_uint8(np.array([0.0, 0.5, 1.0]))).tolist()
            [0, 128, 255]
        """
        x = ops.cast(ops.convert_to_tensor(x), "float32")
        return ops.cast(ops.clip(ops.floor(x * 256.0), 0.0, 255.0), "uint8")

    def preprocess(self, x):
        """Floats are cast; integer levels go to bin centres ``(k + 0.5)/256``
        (deterministic; use ``dequantize`` for training data)."""
        x = ops.convert_to_tensor(x)
        if "int" in keras.backend.standardize_dtype(x.dtype):
            return (ops.cast(x, keras.config.floatx()) + 0.5) / 256.0
        return ops.cast(x, keras.config.floatx())


LIKELIHOODS = {
    cls.name: cls
    for cls in (
        BernoulliLikelihood,
        DiscretizedLogisticMixtureLikelihood,
        DiscretizedLogisticLikelihood,
        GaussianLikelihood,
        DiscretizedGaussianLikelihood,
    )
}


def _lookup(name):
    key = str(name).split(">")[-1].strip().lower()
    for cls in LIKELIHOODS.values():
        if key in (cls.name, cls.__name__.lower()):
            return cls
    raise ValueError(
        f"Unknown likelihood {name!r}; expected one of {sorted(LIKELIHOODS)}."
    )


def get_likelihood(name_or_config):
    """Builds a likelihood head from a name, a config dict or an instance.

    Args:
        name_or_config: one of ``"bernoulli"``, ``"discretized_logistic_mixture"``,
            ``"discretized_logistic"``, ``"gaussian"``, ``"discretized_gaussian"``
            (or the class name); a dict ``{"name": ..., **kwargs}``; a Keras
            serialisation dict ``{"class_name": ..., "config": {...}}``; or a
            ``Likelihood`` (returned as is).

    Returns:
        A ``Likelihood`` instance.

    Raises:
        ValueError: unknown name or malformed config.

    Example:
        >>> get_likelihood({"name": "discretized_logistic_mixture", "num_mixtures": 5})
        DiscretizedLogisticMixtureLikelihood(num_mixtures=5, ...)
    """
    if isinstance(name_or_config, Likelihood):
        return name_or_config
    if isinstance(name_or_config, str):
        return _lookup(name_or_config)()
    if isinstance(name_or_config, dict):
        config = dict(name_or_config)
        if "class_name" in config:
            return _lookup(config["class_name"]).from_config(config.get("config") or {})
        if "name" in config:
            return _lookup(config.pop("name")).from_config(config)
    raise ValueError(
        "get_likelihood expects a name, a config dict with 'name' or "
        f"'class_name', or a Likelihood; got {name_or_config!r}."
    )
