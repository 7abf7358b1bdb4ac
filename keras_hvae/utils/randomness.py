"""Seeds: every random draw goes through a `keras.random.SeedGenerator`."""

import keras

from keras_hvae.utils.validation import check_seed


def as_seed_generator(seed, default):
    """A seed generator for one call.

    Args:
        seed: None (use `default`), an int (a fresh, reproducible stream), or
            a `keras.random.SeedGenerator` (used as is).
        default: the model's own generator.

    Returns:
        A `keras.random.SeedGenerator`.

    Example:
    >>> gen = as_seed_generator(3, keras.random.SeedGenerator(0))
    """
    if seed is None:
        return default
    if isinstance(seed, keras.random.SeedGenerator):
        return seed
    return keras.random.SeedGenerator(check_seed(seed))
