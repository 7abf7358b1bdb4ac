"""Mixed labelled / unlabelled batches for semi-supervised training."""

import numpy as np


def semi_supervised_dataset(
    x_labelled,
    y_labelled,
    x_unlabelled,
    batch_size=64,
    labelled_per_batch=16,
    seed=0,
    binarize=False,
):
    """A `tf.data` stream of mixed batches for `SemiSupervisedBIVA.fit`.

    Every batch holds `labelled_per_batch` labelled examples (the labelled
    set is reshuffled and repeated, i.e. oversampled) and
    `batch_size - labelled_per_batch` unlabelled ones whose label is -1.
    The stream is infinite: pass `steps_per_epoch` to `fit`.

    Args:
        x_labelled, y_labelled: the labelled examples and int labels.
        x_unlabelled: the unlabelled examples.
        batch_size: total examples per batch.
        labelled_per_batch: labelled examples per batch.
        seed: shuffling (and binarisation) seed.
        binarize: draw a fresh Bernoulli binarisation of grey-level images
            in [0, 1] for every batch (dynamic binarisation).

    Returns:
        A `tf.data.Dataset` of `(x, y)`.
    """
    import tensorflow as tf

    n_u = int(batch_size) - int(labelled_per_batch)
    if n_u < 0 or labelled_per_batch < 0:
        raise ValueError("need 0 <= labelled_per_batch <= batch_size.")
    x_labelled = np.asarray(x_labelled, "float32")
    x_unlabelled = np.asarray(x_unlabelled, "float32")
    lab = (
        tf.data.Dataset.from_tensor_slices((x_labelled, np.asarray(y_labelled, "int32")))
        .shuffle(len(x_labelled), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(int(labelled_per_batch), drop_remainder=True)
    )
    unl = (
        tf.data.Dataset.from_tensor_slices(x_unlabelled)
        .shuffle(len(x_unlabelled), seed=seed + 1, reshuffle_each_iteration=True)
        .repeat()
        .batch(n_u, drop_remainder=True)
        .map(lambda x: (x, -tf.ones((n_u,), tf.int32)))
    )
    ds = tf.data.Dataset.zip(lab, unl).map(
        lambda a, b: (tf.concat([a[0], b[0]], 0), tf.concat([a[1], b[1]], 0))
    )
    if binarize:
        ds = ds.map(
            lambda x, y: (tf.cast(tf.random.uniform(tf.shape(x), seed=seed) < x, tf.float32), y)
        )
    return ds.prefetch(tf.data.AUTOTUNE)
