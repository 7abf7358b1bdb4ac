"""Tiny text models and sentences shared by the text tests (fast on CPU)."""

import pytest

from keras_hvae.models.text import BIVALSTM, LSTMLanguageModel, RNNVAE, Vocabulary

SENTENCES = [
    "the cat sat on the mat .",
    "a dog ran to the park .",
    "the dog sat .",
    "a cat ran on the mat and the dog sat in the park .",
    "the bird sang .",
    "a bird sat on the dog .",
]


@pytest.fixture(scope="session")
def sentences():
    return list(SENTENCES)


@pytest.fixture(scope="session")
def vocab():
    return Vocabulary.build(SENTENCES, max_tokens=40)


def tiny_biva_lstm(vocab, seed=1, **overrides):
    """BIVA+LSTM at L=3 over 16 positions (strides 1, 2, 2), 8 filters."""
    cfg = dict(
        max_length=14,
        embedding_dim=8,
        lstm_units=16,
        filters=8,
        kernel_sizes=3,
        strides=[1, 2, 2],
        latent_sizes=[4, 3, 2],
        layers_per_block=1,
        seed=seed,
    )
    cfg.update(overrides)
    return BIVALSTM(vocab, **cfg)


def tiny_rnn_vae(vocab, seed=1, **overrides):
    cfg = dict(max_length=14, embedding_dim=8, encoder_units=16, decoder_units=16, latent_size=4, seed=seed)
    cfg.update(overrides)
    return RNNVAE(vocab, **cfg)


def tiny_lm(vocab, seed=1, **overrides):
    cfg = dict(max_length=14, embedding_dim=8, lstm_units=16, seed=seed)
    cfg.update(overrides)
    return LSTMLanguageModel(vocab, **cfg)


BUILDERS = {"biva_lstm": tiny_biva_lstm, "biva_text": lambda v, **k: tiny_biva_lstm(v, autoregressive=False, **k),
            "rnn_vae": tiny_rnn_vae, "lstm_lm": tiny_lm}
