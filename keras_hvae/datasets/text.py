"""Sentences -> id arrays -> `tf.data` batches for the text models.

`text_splits` builds the vocabulary on the training split only and encodes
every split (`oov="filter"` drops sentences with unknown words, as the
paper does; `"unk"` keeps them). `text_dataset` batches an id array and cuts
every batch to its longest sentence rounded up to `length_multiple`, so a
batch of short sentences costs little (a few distinct lengths, so few
retraces).
"""

import functools

import numpy as np


def text_splits(splits, max_tokens=20000, max_length=40, standardize=None, oov="filter"):
    """Vocabulary and id arrays of `{"train": [str], "validation": ..., "test": ...}`.

    Returns:
        dict with `vocabulary` and, per split, `<split>` (ids `(N, max_length + 1)`)
        and `<split>_sentences` (the kept sentences).
    """
    from keras_hvae.datasets.vocabulary import Vocabulary

    vocab = Vocabulary.build(splits["train"], max_tokens=max_tokens, standardize=standardize)
    out = {"vocabulary": vocab}
    for name, sentences in splits.items():
        ids, kept = vocab.encode_corpus(sentences, max_length=max_length, oov=oov)
        out[name], out[f"{name}_sentences"] = ids, kept
    return out


@functools.lru_cache(maxsize=4)
def fortune_text(max_tokens=10000, max_length=40, standardize="lower_and_split_punctuation", oov="filter", seed=0):
    """The fortunes corpus (`keras_hvae.datasets.fortune_sentences`, its
    seeded 80/10/10 split) through `text_splits`; cached per process.

    Raises:
        FileNotFoundError: the fortune files are not installed.
    """
    from keras_hvae.datasets.fortunes import fortune_sentences

    splits = fortune_sentences(max_words=10 * max_length, seed=seed)
    return text_splits(splits, max_tokens=max_tokens, max_length=max_length, standardize=standardize, oov=oov)


def fortune_ids(vocabulary, split="test", path=None, max_length=40, seed=0, oov="filter"):
    """One split of the fortunes corpus encoded with a given vocabulary.

    The sentences of `fortune_text` (`fortune_sentences(path,
    max_words=10 * max_length, seed=seed)`, its seeded 80/10/10 split), encoded
    with `vocabulary` (e.g. a trained model's, so that a preset is scored
    on the sentences its own vocabulary covers): with the vocabulary that
    `fortune_text` builds on the training split, the ids are
    `fortune_text(...)[split]`.

    Args:
        vocabulary: a `Vocabulary` (or anything `as_vocabulary` takes).
        split: "train", "validation" or "test".
        path: a directory of fortune files or one file (default: Debian's
            `/usr/share/games/fortunes`).
        max_length, seed, oov: the corpus settings (a preset's
            `metadata["tokenization"]`).

    Returns:
        int32 ids `(N, max_length + 1)` (EOS appended, PAD after it).

    Raises:
        FileNotFoundError: the fortune files are not installed.
        ValueError: an unknown split.
    """
    from keras_hvae.datasets.fortunes import fortune_sentences
    from keras_hvae.datasets.pipeline import check_split
    from keras_hvae.datasets.vocabulary import as_vocabulary

    check_split(split)
    splits = fortune_sentences(path, max_words=10 * int(max_length), seed=int(seed))
    ids, _ = as_vocabulary(vocabulary).encode_corpus(splits[split], max_length=int(max_length), oov=oov)
    return ids


def text_dataset(
    ids, batch_size=64, shuffle=True, seed=0, length_multiple=1, drop_remainder=False, bucket_boundaries=None
):
    """A batched `tf.data.Dataset` of int32 ids, each batch cut to its longest
    sentence rounded up to `length_multiple`.

    `bucket_boundaries` (e.g. `(8, 16, 24, 32)`, sentence lengths with EOS)
    batches sentences of similar length together (`tf.data`'s
    `bucket_by_sequence_length`), which saves most of the padded positions.
    """
    import tensorflow as tf

    ids = np.asarray(ids, "int32")
    if not len(ids):
        raise ValueError("No sentences to batch.")
    m = int(length_multiple)

    def trim(x):
        longest = tf.reduce_max(tf.math.count_nonzero(x, axis=1, dtype=tf.int32))
        width = tf.maximum((longest + m - 1) // m * m, m)
        return x[:, : tf.minimum(width, tf.shape(x)[1])]

    ds = tf.data.Dataset.from_tensor_slices(ids)
    if shuffle:
        ds = ds.shuffle(len(ids), seed=seed, reshuffle_each_iteration=True)
    if bucket_boundaries:
        bounds = [int(b) + 1 for b in bucket_boundaries]
        ds = ds.bucket_by_sequence_length(
            lambda x: tf.math.count_nonzero(x, dtype=tf.int32),
            bucket_boundaries=bounds,
            bucket_batch_sizes=[batch_size] * (len(bounds) + 1),
            drop_remainder=drop_remainder,
        )
        if shuffle:
            ds = ds.shuffle(max(len(ids) // batch_size, 1), seed=seed + 1, reshuffle_each_iteration=True)
    else:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(trim)
    return ds.prefetch(tf.data.AUTOTUNE)
