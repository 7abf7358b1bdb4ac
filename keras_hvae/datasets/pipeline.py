"""The one `tf.data` recipe every array-backed loader shares.

Examples live in memory as numpy arrays; the pipeline shuffles *indices*
(a full-size, seeded shuffle, reshuffled every epoch), batches them,
gathers the batch, applies an optional per-batch random transform, and
prefetches. Randomness is reproducible: the same `seed` gives the same
sequence of epochs from a freshly built dataset, and each epoch differs.
"""

import numpy as np

SPLITS = ("train", "validation", "test")


def check_split(split, available=SPLITS):
    if split not in available:
        raise ValueError(f"split must be one of {list(available)}; got {split!r}.")


def holdout(n, validation_size, split_seed=None):
    """Indices of a train / validation hold-out of `n` training examples.

    `split_seed=None` holds out the last `validation_size` examples;
    an int holds out the last `validation_size` of a seeded permutation
    (and keeps the rest in that order, as the IWAE code does). With
    `validation_size=0` train is all `n` in file order.
    """
    if not 0 <= validation_size < n:
        raise ValueError(f"validation_size must be in [0, {n}); got {validation_size}.")
    if validation_size == 0:
        return np.arange(n), np.arange(0)
    order = np.arange(n) if split_seed is None else np.random.RandomState(split_seed).permutation(n)
    return order[: n - validation_size], order[n - validation_size :]


def array_pipeline(arrays, batch_size, shuffle, seed, transform=None, drop_remainder=False):
    """A batched, prefetched `tf.data.Dataset` over equal-length numpy arrays.

    Args:
        arrays: a tuple of numpy arrays sharing their first dimension.
        batch_size: examples per batch.
        shuffle: shuffle the examples (seeded, a new order each epoch).
        seed: seed of the shuffling and of `transform`'s randomness.
        transform: optional `f(batch_tuple, seed_pair) -> batch_tuple`; the
            `seed_pair` is a fresh int64 (2,) tensor per batch and epoch, for
            `tf.random.stateless_*` ops.
        drop_remainder: drop the last incomplete batch.

    Returns:
        A dataset of tuples of batched tensors.
    """
    import tensorflow as tf

    n = len(arrays[0])
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}.")
    tensors = tuple(tf.convert_to_tensor(a) for a in arrays)  # captured by handle, not as graph constants
    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda i: tuple(tf.gather(t, i) for t in tensors), num_parallel_calls=tf.data.AUTOTUNE)
    if transform is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return ds


def finish(ds, with_labels):
    """Drops the labels unless asked for, and prefetches."""
    import tensorflow as tf

    if not with_labels:
        ds = ds.map(lambda x, y: x)
    return ds.prefetch(tf.data.AUTOTUNE)


def labelled_pipeline(x, y, split, batch_size, seed=0, shuffle=None, with_labels=False, drop_remainder=False):
    """`array_pipeline` for `(x, y)` with the loaders' usual defaults."""
    if shuffle is None:
        shuffle = split == "train"
    ds = array_pipeline((x, y), batch_size, shuffle, seed, drop_remainder=drop_remainder)
    return finish(ds, with_labels)


def binarized_pipeline(
    x, y, split, batch_size, binarization="dynamic", seed=0, shuffle=None, with_labels=False, drop_remainder=False
):
    """Binarised grey images in [0, 1] as a float32 `tf.data.Dataset`.

    "dynamic": a fresh Bernoulli draw of every pixel in every epoch (seeded:
    a rebuilt dataset repeats the same draws). "static": one draw with
    `numpy.random.default_rng(seed)`, fixed for ever.
    """
    import tensorflow as tf

    if binarization not in ("dynamic", "static"):
        raise ValueError(f"binarization must be 'dynamic' or 'static'; got {binarization!r}.")
    if shuffle is None:
        shuffle = split == "train"
    transform = None
    if binarization == "static":
        x = (np.random.default_rng(seed).uniform(size=x.shape) < x).astype("float32")
    else:
        x = np.asarray(x, "float32")

        def transform(batch, pair):
            xb, yb = batch
            u = tf.random.stateless_uniform(tf.shape(xb), seed=pair)
            return tf.cast(u < xb, tf.float32), yb

    ds = array_pipeline((x, y), batch_size, shuffle, seed, transform=transform, drop_remainder=drop_remainder)
    return finish(ds, with_labels)


def split_pipeline(load, split, limit, pipeline, **options):
    """One split of an in-memory `(x, y)` dataset through `pipeline`.

    The body every array-backed public loader shares: check `split`, load,
    keep the first `limit` examples, and build the dataset.

    Args:
        load: `f() -> {"train": (x, y), "validation": (x, y), "test": (x, y)}`;
            called only once `split` is known to be valid.
        split: "train", "validation" or "test".
        limit: keep only the first `limit` examples (None: all).
        pipeline: `labelled_pipeline` or `binarized_pipeline`.
        **options: the rest of `pipeline`'s arguments (`batch_size`,
            `seed`, `shuffle`, ...).

    Returns:
        `pipeline`'s batched, prefetched `tf.data.Dataset`.
    """
    check_split(split)
    x, y = load()[split]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return pipeline(x, y, split, **options)
