"""The pieces every text model shares: the padding mask, the categorical
likelihood over the vocabulary and the LSTM decoder.

`sentence_mask(x)` marks the positions of a sentence (its words and the
first EOS); everything after the first EOS, and every PAD, is padding, so
a changed token in the padding never changes a bound.
"""

import keras
from keras import ops

from keras_hvae.distributions.likelihoods import Likelihood
from keras_hvae.datasets.vocabulary import BOS_ID, EOS_ID, PAD_ID, UNK_ID

#: Ids a model never generates (generation returns vocabulary words only).
NEVER_GENERATED = (PAD_ID, UNK_ID, BOS_ID)
_NEG = -1e9


def sentence_mask(x, dtype="float32"):
    """1 at the words and the first EOS of every row of `x` (B, T), else 0."""
    x = ops.convert_to_tensor(x)
    is_eos = ops.cast(ops.equal(x, EOS_ID), "int32")
    eos_before = ops.cumsum(is_eos, axis=1) - is_eos
    keep = ops.logical_and(ops.equal(eos_before, 0), ops.not_equal(x, PAD_ID))
    return ops.cast(keep, dtype)


def shift_right(x):
    """The previous word of every position: `[BOS, x_0, ..., x_{T-2}]`."""
    bos = ops.full_like(x[:, :1], BOS_ID)
    return ops.concatenate([bos, x[:, :-1]], axis=1)


@keras.saving.register_keras_serializable(package="keras_hvae")
class TokenCategorical(Likelihood):
    """Categorical words over a vocabulary, one per position, padding masked.

    `params` are logits `(B, T, V)` (or `(B, 1, T, V)`, the BIVA layout);
    `x` are ids `(B, T)`. `log_prob` sums the log-probabilities of the
    sentence's positions (`sentence_mask`: words and EOS).
    """

    name = "token_categorical"
    data_range = "int ids in [0, vocabulary_size)"

    def __init__(self, vocabulary_size):
        self.vocabulary_size = int(vocabulary_size)

    def get_config(self):
        return {"vocabulary_size": self.vocabulary_size}

    def num_params(self, channels=1):
        return self.vocabulary_size

    @staticmethod
    def _logits(params):
        if len(params.shape) == 4:
            params = ops.squeeze(params, axis=1)
        return ops.cast(params, "float32")

    def preprocess(self, x):
        return ops.cast(ops.convert_to_tensor(x), "int32")

    def validate(self, x):
        import numpy as np

        x = np.asarray(x)
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"{type(self).__name__} expects (batch, T) integer ids; got {x.dtype} {x.shape}.")
        if x.size and (x.min() < 0 or x.max() >= self.vocabulary_size):
            raise ValueError(
                f"Token ids must lie in [0, {self.vocabulary_size}); got [{x.min()}, {x.max()}]."
            )

    def log_prob(self, params, x, mask=None):
        logits = self._logits(params)
        x = ops.cast(x, "int32")
        if mask is None:
            mask = sentence_mask(x)
        log_p = ops.log_softmax(logits, axis=-1)
        picked = ops.take_along_axis(log_p, ops.expand_dims(x, -1), axis=-1)[..., 0]
        return ops.sum(picked * ops.cast(mask, picked.dtype), axis=1)

    def sample(self, params, seed=None, temperature=1.0):
        logits = generation_logits(self._logits(params))
        b, t = ops.shape(logits)[0], ops.shape(logits)[1]
        flat = ops.reshape(logits, (-1, self.vocabulary_size)) / temperature
        ids = keras.random.categorical(flat, 1, seed=seed, dtype="int32")
        return ops.reshape(ids, (b, t))

    def mean(self, params):
        """The most probable word at every position (greedy decoding)."""
        return ops.cast(ops.argmax(generation_logits(self._logits(params)), axis=-1), "int32")


def generation_logits(logits):
    """Logits with PAD, UNK and BOS ruled out (never generated)."""
    v = logits.shape[-1]
    banned = ops.convert_to_tensor([1.0 if i in NEVER_GENERATED else 0.0 for i in range(v)], logits.dtype)
    return logits + banned * _NEG


def choose_tokens(logits, temperature, seed, greedy):
    """One id per row from `logits` (B, V): greedy argmax or a draw at `temperature`."""
    logits = generation_logits(ops.cast(logits, "float32"))
    if greedy:
        return ops.cast(ops.argmax(logits, axis=-1), "int32")
    return keras.random.categorical(logits / temperature, 1, seed=seed, dtype="int32")[:, 0]


@keras.saving.register_keras_serializable(package="keras_hvae")
class LSTMDecoder(keras.layers.Layer):
    """An LSTM over `[features_t, embedding(previous word)]` and a softmax layer.

    Training uses teacher forcing (`call`: the whole sequence at once, the
    previous words are the data); generation calls `step` once per
    position (ancestral sampling). `initial_state` (a pair `[h, c]`) lets a
    latent code start the LSTM (RNN-VAE).

    Args:
        vocabulary_size: V, the softmax size.
        units: LSTM units.
    """

    def __init__(self, vocabulary_size, units, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.units = int(units)
        self.lstm = keras.layers.LSTM(self.units, return_sequences=True, name="lstm")
        self.output_layer = keras.layers.Dense(self.vocabulary_size, name="logits")

    def build(self, inputs_shape):
        self.lstm.build(inputs_shape)
        self.output_layer.build(tuple(inputs_shape[:-1]) + (self.units,))

    def call(self, inputs, initial_state=None, training=False):
        """Logits `(B, T, V)` from decoder inputs `(B, T, D)`."""
        h = self.lstm(inputs, initial_state=initial_state, training=training)
        return ops.cast(self.output_layer(h), "float32")

    def zero_state(self, batch_size, dtype="float32"):
        z = ops.zeros((batch_size, self.units), dtype)
        return [z, z]

    def step(self, inputs, state):
        """One position: `(logits (B, V), new_state)` from inputs `(B, D)`."""
        h, new_state = self.lstm.cell(inputs, state)
        return ops.cast(self.output_layer(h), "float32"), list(new_state)

    def compute_output_shape(self, inputs_shape, initial_state_shape=None):
        return tuple(inputs_shape[:-1]) + (self.vocabulary_size,)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_size": self.vocabulary_size, "units": self.units})
        return config
