"""Text models of the BIVA paper's Appendix D: BIVA+LSTM, the
non-autoregressive text BIVA and the baselines of Table 7.

>>> from keras_hvae.models.text import BIVALSTM, Vocabulary
>>> vocab = Vocabulary.build(["the cat sat .", "a dog ran ."], max_tokens=50)
>>> model = BIVALSTM(vocab, max_length=8, filters=8, latent_sizes=[4, 2], strides=[1, 2], embedding_dim=8,
...                  lstm_units=16)
>>> model.elbo(["the cat ran ."]).shape
(1,)
"""

from keras_hvae.models.text import text_presets
from keras_hvae.models.text.baselines import LSTMLanguageModel, RNNVAE
from keras_hvae.models.text.biva_lstm import BIVALSTM
from keras_hvae.models.text.callbacks import ReduceFreeBitsOnPlateau
from keras_hvae.datasets.text import fortune_text, text_dataset, text_splits
from keras_hvae.models.text.decoder import LSTMDecoder, TokenCategorical, sentence_mask
from keras_hvae.datasets.vocabulary import (
    BOS,
    EOS,
    PAD,
    UNK,
    Vocabulary,
    standardize_sentence,
)
from keras_hvae.utils.registry import register_models, register_presets, register_recipes

__all__ = [
    "BIVALSTM",
    "BOS",
    "EOS",
    "LSTMDecoder",
    "LSTMLanguageModel",
    "PAD",
    "RNNVAE",
    "ReduceFreeBitsOnPlateau",
    "TokenCategorical",
    "UNK",
    "Vocabulary",
    "fortune_text",
    "sentence_mask",
    "standardize_sentence",
    "text_dataset",
    "text_splits",
]

register_models(BIVALSTM, RNNVAE, LSTMLanguageModel)
register_presets(text_presets.PRESETS, BIVALSTM)
register_recipes(text_presets.RECIPES)
