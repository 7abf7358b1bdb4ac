"""Text models of the BIVA paper's Appendix D: BIVA+LSTM, the
non-autoregressive text BIVA and the baselines of Table 7.

>>> from keras_hvae.models.text import BIVALSTM, Vocabulary
>>> vocab = Vocabulary.build(["the cat sat .", "a dog ran ."], max_tokens=50)
>>> model = BIVALSTM(vocab, max_length=8, filters=8, latent_sizes=[4, 2], embedding_dim=8, lstm_units=16)
"""

from keras_hvae.models.text.baselines import LSTMLanguageModel, RNNVAE
from keras_hvae.models.text.biva_lstm import BIVALSTM
from keras_hvae.models.text.callbacks import ReduceFreeBitsOnPlateau, TextScores, TimeLimit
from keras_hvae.models.text.data import fortune_text, text_dataset, text_splits
from keras_hvae.models.text.decoder import LSTMDecoder, TokenCategorical, sentence_mask
from keras_hvae.models.text.vocabulary import (
    BOS,
    EOS,
    PAD,
    UNK,
    Vocabulary,
    standardize_sentence,
)

__all__ = [
    "BIVALSTM",
    "BOS",
    "EOS",
    "LSTMDecoder",
    "LSTMLanguageModel",
    "PAD",
    "RNNVAE",
    "ReduceFreeBitsOnPlateau",
    "TextScores",
    "TimeLimit",
    "TokenCategorical",
    "UNK",
    "Vocabulary",
    "fortune_text",
    "sentence_mask",
    "standardize_sentence",
    "text_dataset",
    "text_splits",
]
