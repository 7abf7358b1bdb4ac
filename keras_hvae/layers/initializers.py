"""Initializers used by the weight-normalised layers."""

import math

import keras
from keras import ops

__all__ = ["FlatRandomNormal"]


@keras.saving.register_keras_serializable(package="keras_hvae")
class FlatRandomNormal(keras.initializers.RandomNormal):
    """``RandomNormal`` that draws a flat vector and reshapes it.

    Same distribution and arguments as ``keras.initializers.RandomNormal``
    (i.i.d. N(mean, stddev²) entries). The draw has a power-of-two length and
    is cut to size, so that on XLA (JAX / TF-XLA on CPU) the random program is
    compiled once per size bucket instead of once per kernel shape, which
    makes building models with many differently shaped kernels several times
    faster there.

    Args:
        mean: Mean of the entries.
        stddev: Standard deviation of the entries (default 0.05, as in
            Salimans & Kingma's weight-norm code).
        seed: int, ``keras.random.SeedGenerator`` or None.

    Returns:
        A tensor of the requested shape.

    Example:

    ```python
    init = FlatRandomNormal(stddev=0.05, seed=1)
    kernel = init((3, 3, 16, 32))
    ```
    """

    def __call__(self, shape, dtype=None):
        size = math.prod(int(d) for d in shape)
        bucket = 1 << max(size - 1, 0).bit_length()
        flat = keras.random.normal(
            (bucket,), mean=self.mean, stddev=self.stddev, seed=self.seed, dtype=dtype
        )
        return ops.reshape(flat[:size], shape)
