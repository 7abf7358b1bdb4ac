"""Shared plumbing of the keras-ops distribution fallback.

Holds the :class:`Distribution` base class (shapes, dtype, ``prob`` from
``log_prob``), parameter conversion with TFP-like dtype inference, and the
seed helper that turns one user ``seed`` into several independent streams.
"""

import numbers

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
        >>> infer_float_dtype(0.0, np.zeros(3))  # "float64"
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
        >>> b = keras.random.normal((2,), seed=next_seed())  # not equal to a
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

    def prob(self, value):
        """``exp(log_prob(value))``."""
        return ops.exp(self.log_prob(value))

    def kl_divergence(self, other):
        """Analytic ``KL(self || other)`` (see ``ops_tfd.kl_divergence``)."""
        from keras_hvae.distributions.fallback_kl import kl_divergence

        return kl_divergence(self, other)

    def __repr__(self):
        return (
            f"<keras-ops {type(self).__name__} batch_shape={self.batch_shape} "
            f"event_shape={self.event_shape} dtype={self.dtype}>"
        )
