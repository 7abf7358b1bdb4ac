"""Shared plumbing of the keras-ops distribution fallback.

Holds the :class:`Distribution` base class (shapes, dtype), the KL registry
(:class:`RegisterKL`, :func:`kl_divergence`; each analytic KL is registered
beside its class, as in TFP), parameter conversion with TFP-like dtype
inference, and the seed helper that turns one user ``seed`` into several
independent streams.
"""

import numbers
import operator

import keras
from keras import ops

_SEED_STRIDE = 0x9E3779B1  # golden-ratio increment for derived integer seeds


def infer_float_dtype(*params):
    """Float dtype of a set of parameters, the way TFP infers it.

    Tensors and arrays decide the dtype (numpy float64 stays float64); Python
    scalars are weakly typed; if no parameter is typed, ``keras.config.floatx()``.

    Args:
        *params: tensors, arrays, Python numbers or ``None`` (ignored).

    Returns:
        A dtype string such as ``"float32"``.

    Example:
        >>> infer_float_dtype(0.0, np.zeros(3))
        'float64'
    """
    dtypes = []
    for p in params:
        if p is None or isinstance(p, numbers.Number):
            continue
        if hasattr(p, "dtype"):
            dtype = keras.backend.standardize_dtype(p.dtype)
            if "float" in dtype:
                dtypes.append(dtype)
    if not dtypes:
        return keras.config.floatx()
    # Not keras.backend.result_type: outside TensorFlow it maps float64 to
    # float32 (JAX's default), and the fallback must honour float64 tensors
    # wherever the backend has them.
    if "float64" in dtypes:
        return "float64" if float64_available() else "float32"
    if len(set(dtypes)) == 1:
        return dtypes[0]
    return "float32"


def float64_available():
    """False only on JAX without ``jax_enable_x64`` (float64 is truncated)."""
    if keras.backend.backend() != "jax":
        return True
    import jax

    return bool(jax.config.read("jax_enable_x64"))


def as_tensor(x, dtype):
    """Converts ``x`` to a backend tensor of ``dtype`` (no copy if it is one)."""
    x = ops.convert_to_tensor(x)
    if keras.backend.standardize_dtype(x.dtype) != dtype:
        x = ops.cast(x, dtype)
    return x


def broadcast_shapes(*shapes):
    """Numpy-style broadcast of static shape tuples (``None`` dims allowed)."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(ndim):
        dims = [s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"Incompatible batch shapes {shapes}.")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def static_shape(x):
    """Static shape of a tensor as a tuple (``None`` for unknown dims)."""
    return tuple(None if d is None else int(d) for d in x.shape)


def dynamic_shape(x):
    """Shape usable to build tensors: ints, or scalar tensors for dims that are
    unknown while tracing (``keras.ops.shape``)."""
    return tuple(ops.shape(x))


def as_sample_shape(sample_shape):
    """Normalises an int / list / tuple ``sample_shape`` to a tuple."""
    if isinstance(sample_shape, numbers.Integral):
        return (int(sample_shape),)
    return tuple(int(d) for d in sample_shape)


def seed_stream(seed):
    """Returns ``next_seed()`` giving independent seeds derived from ``seed``.

    ``keras.random`` reuses the same random numbers for the same integer seed,
    so a distribution that needs several draws (a mixture, a Gumbel choice plus
    noise) must not pass one integer twice. A ``SeedGenerator`` or ``None``
    already advances by itself and is passed through.

    Args:
        seed: ``None``, a Python int, or a ``keras.random.SeedGenerator``.

    Returns:
        A zero-argument callable.

    Example:
        >>> next_seed = seed_stream(42)
        >>> a = keras.random.normal((2,), seed=next_seed())
        >>> b = keras.random.normal((2,), seed=next_seed())
        >>> bool(ops.all(a == b))
        False
    """
    if seed is None or isinstance(seed, keras.random.SeedGenerator):
        return lambda: seed
    if not isinstance(seed, numbers.Integral):
        raise ValueError(
            "`seed` must be None, an int or a keras.random.SeedGenerator; "
            f"got {seed!r} of type {type(seed).__name__}."
        )
    counter = [0]

    def next_seed():
        derived = (int(seed) + counter[0] * _SEED_STRIDE) % (2**31 - 1)
        counter[0] += 1
        return derived

    return next_seed


def read_only(attribute, doc):
    """A read-only property returning ``self.<attribute>`` (a parameter given
    at construction), documented by ``doc``."""
    return property(operator.attrgetter(attribute), doc=doc)


def uniform_open(shape, dtype, seed):
    """Uniform samples in the open interval ``(0, 1)`` (never exactly 0)."""
    tiny = 1.1754944e-38 if dtype != "float64" else 2.2250738585072014e-308
    return keras.random.uniform(shape, minval=tiny, maxval=1.0, dtype=dtype, seed=seed)


class Distribution:
    """Minimal base class mirroring the parts of ``tfd.Distribution`` we use.

    Subclasses set ``self._dtype`` and implement ``_batch_shape()``,
    ``_event_shape()`` and whichever statistics they support.
    """

    _dtype = None

    @property
    def dtype(self):
        """dtype of samples (float string, or int dtype for discrete ones)."""
        return self._dtype

    @property
    def batch_shape(self):
        """Static batch shape as a tuple."""
        return self._batch_shape()

    @property
    def event_shape(self):
        """Static event shape as a tuple."""
        return self._event_shape()

    def _event_shape(self):
        return ()

    def kl_divergence(self, other):
        """Analytic ``KL(self || other)`` (see :func:`kl_divergence`)."""
        return kl_divergence(self, other)

    def __repr__(self):
        return (
            f"<keras-ops {type(self).__name__} batch_shape={self.batch_shape} "
            f"event_shape={self.event_shape} dtype={self.dtype}>"
        )


_KL_REGISTRY = {}


class RegisterKL:
    """Decorator registering the analytic KL of a pair of classes (as TFP's).

    Args:
        dist_cls_a: class of the first argument of ``kl_divergence``.
        dist_cls_b: class of the second argument.

    Example:
        >>> from keras_hvae.distributions.fallback_continuous import Normal
        >>> class PointMass(Normal):  # a new class, so the real Normal-Normal KL stays
        ...     pass
        >>> @RegisterKL(PointMass, PointMass)
        ... def _kl_point_masses(a, b):
        ...     return ops.zeros_like(a.loc)
        >>> float(kl_divergence(PointMass(0.0, 1.0), PointMass(1.0, 1.0)))
        0.0
    """

    def __init__(self, dist_cls_a, dist_cls_b):
        self._key = (dist_cls_a, dist_cls_b)

    def __call__(self, kl_fn):
        if self._key in _KL_REGISTRY:
            raise ValueError(f"KL{self._key} is already registered.")
        _KL_REGISTRY[self._key] = kl_fn
        return kl_fn


def kl_divergence(distribution_a, distribution_b, allow_nan_stats=True, name=None):
    """Analytic ``KL(a || b)`` for a registered pair of classes.

    Registered: ``Normal``-``Normal`` and ``Independent``-``Independent``
    (equal ``reinterpreted_batch_ndims``, a registered wrapped pair), summed
    over the event dims. The lookup walks both classes' MROs, as TFP does.

    Args:
        distribution_a: fallback distribution ``a``.
        distribution_b: fallback distribution ``b``.

    Returns:
        Tensor of shape ``broadcast(a.batch_shape, b.batch_shape)``.

    Raises:
        TypeError: for any pair without an analytic form (TFP objects included).

    Example:
        >>> from keras_hvae.distributions.fallback_continuous import Normal
        >>> round(float(kl_divergence(Normal(0.0, 1.0), Normal(1.0, 2.0))), 4)
        0.4431
    """
    del allow_nan_stats, name
    for cls_a in type(distribution_a).__mro__:
        for cls_b in type(distribution_b).__mro__:
            kl_fn = _KL_REGISTRY.get((cls_a, cls_b))
            if kl_fn is not None:
                return kl_fn(distribution_a, distribution_b)
    raise no_analytic_kl(distribution_a, distribution_b)


def no_analytic_kl(a, b):
    """The ``TypeError`` of a pair without an analytic KL."""
    return TypeError(
        "keras-ops kl_divergence has no analytic form for "
        f"({_describe(a)}, {_describe(b)}); supported pairs are Normal-Normal "
        "and Independent(Normal)-Independent(Normal) with equal "
        "reinterpreted_batch_ndims."
    )


def _describe(d):
    inner = getattr(d, "distribution", None)
    if isinstance(d, Distribution) and inner is not None:
        return f"{type(d).__name__}({_describe(inner)}, ndims={d.reinterpreted_batch_ndims})"
    return f"{type(d).__module__}.{type(d).__name__}"
