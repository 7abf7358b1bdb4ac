"""Independent and MixtureSameFamily meta-distributions of the fallback,
and the Independent-Independent KL."""

from keras import ops

from keras_hvae.distributions.fallback_base import (
    Distribution,
    RegisterKL,
    dynamic_shape,
    kl_divergence,
    no_analytic_kl,
    read_only,
    seed_stream,
)
from keras_hvae.distributions.fallback_discrete import Categorical


def _sum_last(x, n):
    if n == 0:
        return x
    return ops.sum(x, axis=tuple(range(-n, 0)))


class Independent(Distribution):
    """Reinterprets the last ``n`` batch dims of a distribution as event dims.

    Args:
        distribution: a fallback distribution.
        reinterpreted_batch_ndims: int ``n``; ``None`` means all batch dims.

    Example:
        >>> from keras_hvae.distributions.fallback_continuous import Normal
        >>> base = Normal(loc=ops.zeros((8, 28, 28, 1)), scale=1.0)
        >>> d = Independent(base, reinterpreted_batch_ndims=3)
        >>> tuple(d.log_prob(ops.zeros((8, 28, 28, 1))).shape)
        (8,)
    """

    def __init__(self, distribution, reinterpreted_batch_ndims=None,
                 validate_args=False, name=None):
        del validate_args
        self._distribution = distribution
        base_batch = distribution.batch_shape
        if reinterpreted_batch_ndims is None:
            reinterpreted_batch_ndims = len(base_batch)
        n = int(reinterpreted_batch_ndims)
        if n < 0 or n > len(base_batch):
            raise ValueError(
                f"reinterpreted_batch_ndims={n} must be in [0, {len(base_batch)}] "
                f"for a distribution with batch_shape {base_batch}."
            )
        self._ndims = n
        self._dtype = distribution.dtype
        self.name = name or f"Independent{type(distribution).__name__}"

    distribution = read_only("_distribution", "The wrapped distribution.")
    reinterpreted_batch_ndims = read_only("_ndims", "Number of batch dims moved into the event.")

    def _batch_shape(self):
        base = self._distribution.batch_shape
        return base[: len(base) - self._ndims]

    def _event_shape(self):
        base = self._distribution.batch_shape
        return base[len(base) - self._ndims:] + self._distribution.event_shape

    def log_prob(self, value):
        """Sum of the base ``log_prob`` over the reinterpreted dims."""
        return _sum_last(self._distribution.log_prob(value), self._ndims)

    def mean(self):
        """Base mean."""
        return self._distribution.mean()

    def sample(self, sample_shape=(), seed=None):
        """Base sample (same shape)."""
        return self._distribution.sample(sample_shape, seed=seed)


@RegisterKL(Independent, Independent)
def _kl_independent_independent(a, b):
    """KL of the wrapped pair summed over the reinterpreted dims (equal ndims)."""
    n = a.reinterpreted_batch_ndims
    if n != b.reinterpreted_batch_ndims:
        raise no_analytic_kl(a, b)
    return _sum_last(kl_divergence(a.distribution, b.distribution), n)


class MixtureSameFamily(Distribution):
    """Mixture whose components share a family (last batch dim = component).

    Args:
        mixture_distribution: fallback ``Categorical`` with batch shape ``B``
            and ``K`` categories.
        components_distribution: fallback distribution with batch shape
            ``B + (K,)`` and any event shape ``E``.

    Example:
        >>> from keras_hvae.distributions.fallback_continuous import Normal
        >>> d = MixtureSameFamily(Categorical(logits=[0.0, 1.0]),
        ...                       Normal(loc=[-1.0, 1.0], scale=[0.5, 0.5]))
        >>> round(float(d.log_prob(0.3)), 3)  # logsumexp_k(log w_k + log N(0.3; mu_k, s_k))
        -1.486
    """

    def __init__(self, mixture_distribution, components_distribution,
                 reparameterize=False, validate_args=False, allow_nan_stats=True,
                 name=None):
        del validate_args, allow_nan_stats
        if reparameterize:
            raise NotImplementedError(
                "The keras-ops MixtureSameFamily does not reparameterise samples."
            )
        self._mixture = mixture_distribution
        self._components = components_distribution
        self._dtype = components_distribution.dtype
        self.name = name or "MixtureSameFamily"

    mixture_distribution = read_only("_mixture", "The ``Categorical`` over components.")
    components_distribution = read_only("_components", "The batched component distribution.")

    def _batch_shape(self):
        return self._components.batch_shape[:-1]

    def _event_shape(self):
        return self._components.event_shape

    def _event_ndims(self):
        return len(self._components.event_shape)

    def _pad_to_event(self, x):
        for _ in range(self._event_ndims()):
            x = ops.expand_dims(x, -1)
        return x

    def log_prob(self, value):
        """``logsumexp_k(log w_k + log p_k(value))``."""
        value = ops.expand_dims(
            ops.convert_to_tensor(value), -1 - self._event_ndims()
        )
        component_log_probs = self._components.log_prob(value)
        log_weights = ops.log_softmax(self._mixture.logits_parameter(), axis=-1)
        return ops.logsumexp(component_log_probs + log_weights, axis=-1)

    def mean(self):
        """``sum_k w_k mean_k``."""
        probs = self._pad_to_event(self._mixture.probs_parameter())
        return ops.sum(probs * self._components.mean(), axis=-1 - self._event_ndims())

    def sample(self, sample_shape=(), seed=None):
        """Draws a component per element, then that component's sample.

        Not reparameterised (no gradient flows through the component choice).
        """
        next_seed = seed_stream(seed)
        draws = self._components.sample(sample_shape, seed=next_seed())
        num_components = self._components.batch_shape[-1]
        # Broadcast the mixture weights to the components' batch shape first.
        draws_shape = dynamic_shape(draws)
        logits = ops.broadcast_to(
            ops.log_softmax(self._mixture.logits_parameter(), axis=-1),
            draws_shape[len(draws_shape) - len(self._batch_shape()) - 1 - self._event_ndims():
                        len(draws_shape) - self._event_ndims()],
        )
        index = Categorical(logits=logits).sample(sample_shape, seed=next_seed())
        one_hot = self._pad_to_event(ops.one_hot(index, num_components, dtype=draws.dtype))
        selected = ops.where(one_hot > 0, draws, ops.zeros_like(draws))
        return ops.sum(selected, axis=-1 - self._event_ndims())
