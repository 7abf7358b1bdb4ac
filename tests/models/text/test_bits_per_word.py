"""Bits per word: -bound / (tokens * ln 2), tokens = words + EOS of each
sentence (not the padded length), for `model.bits_per_dim`, `evaluate_bounds`
and the shipped preset's recorded score."""

import math

import keras
import numpy as np
import pytest

from keras_hvae.datasets.vocabulary import EOS_ID
from keras_hvae.training.train_and_save import evaluate_bounds
from tests.models.text.conftest import tiny_biva_lstm, tiny_lm


def _ids_with_lengths(vocab, words_per_row, width):
    """Rows of `n` word ids, then EOS, then padding: n + 1 tokens each."""
    ids = np.zeros((len(words_per_row), width), "int32")
    for row, n in enumerate(words_per_row):
        ids[row, :n] = 4 + (np.arange(n) % (vocab.size - 4))
        ids[row, n] = EOS_ID
    return ids


def test_bits_per_word_divides_by_the_tokens_of_each_sentence(vocab):
    model = tiny_biva_lstm(vocab)
    ids = _ids_with_lengths(vocab, [1, 3, 7, 13], model.sequence_length)
    tokens = np.array([2, 4, 8, 14])
    np.testing.assert_array_equal(model.num_dims(ids), tokens)
    nats = np.array([-10.0, -20.0, -30.0, -40.0])
    expected = -nats / (tokens * math.log(2))
    np.testing.assert_allclose(model.bits_per_word(nats, ids), expected, rtol=1e-12)
    np.testing.assert_allclose(model.bits_per_dim(nats, ids), expected, rtol=1e-12)
    # strings count the same: words + EOS
    np.testing.assert_array_equal(model.num_dims(["the cat sat .", "the dog"]), [5, 3])


def test_bits_per_dim_of_a_text_model_needs_the_sentences(vocab):
    model = tiny_lm(vocab)
    with pytest.raises(TypeError, match="needs the sentences"):
        model.bits_per_dim(np.array([-10.0]))
    with pytest.raises(ValueError, match="one bound per sentence"):
        model.bits_per_word(np.array([-10.0, -3.0]), ["the cat sat ."])


def test_evaluate_bounds_records_bits_per_word(vocab):
    model = tiny_lm(vocab)
    ids = _ids_with_lengths(vocab, [2, 5, 9], model.sequence_length)
    scores = evaluate_bounds(model, ids, iwae_samples=2, progress=False)
    expected = -scores["test_elbo"] * 3 / ((3 + 6 + 10) * math.log(2))
    assert scores["test_bits_per_dim"] == pytest.approx(expected, rel=1e-6)
    assert scores["test_bits_per_dim"] != pytest.approx(-scores["test_elbo"] / (model.num_data_dims * math.log(2)))


def test_shipped_preset_records_bits_per_word_of_its_elbo():
    from keras_hvae.utils.presets import shipped_presets

    meta = shipped_presets()["biva_lstm_fortunes"]
    scores = meta["scores"]
    expected = -scores["test_elbo"] * scores["num_test_examples"] / (scores["num_test_tokens"] * math.log(2))
    assert scores["test_bits_per_dim"] == pytest.approx(expected, rel=1e-9)
    # between the per-sentence ELBO over the longest row and over one token
    assert scores["test_bits_per_dim"] > -scores["test_elbo"] / (41 * math.log(2))
    # the whole split's nats per word (text_scores) is close to the 200 random sentences'
    assert scores["test_bits_per_dim"] == pytest.approx(meta["text_scores"]["nats_per_word"] / math.log(2), rel=0.05)


def test_shipped_preset_token_count_is_that_of_its_test_sentences():
    from keras_hvae.datasets.fortunes import FORTUNE_DIR
    from keras_hvae.models.text.decoder import sentence_mask
    from keras_hvae.training.recipes import get_recipe
    from keras_hvae.utils.presets import shipped_presets

    if not FORTUNE_DIR.is_dir():
        pytest.skip("fortunes not installed (apt-get install fortunes fortunes-min)")
    from keras_hvae.evaluation.protocol import random_subset

    scores = shipped_presets()["biva_lstm_fortunes"]["scores"]
    ids = get_recipe("biva_lstm_fortunes").test_data()
    # the sentences the protocol scored: drawn at random from the whole split (seed recorded)
    ids = ids[random_subset(len(ids), scores["num_test_examples"], scores["protocol"]["seed"])]
    mask = keras.ops.convert_to_numpy(sentence_mask(ids))
    assert int(mask.sum()) == scores["num_test_tokens"]
