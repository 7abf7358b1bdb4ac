"""The baselines of the paper's Table 7 on the same core and training loop.

* `LSTMLanguageModel`: the LSTM language model (Hochreiter & Schmidhuber
  1997), a `HierarchicalVAE` with zero latent layers: its bound is its
  exact log-likelihood, its KL is 0.
* `RNNVAE`: the RNN-VAE of Bowman et al. (2015): an LSTM encoder reads
  the sentence, its last state gives q(z | x) (one diagonal Gaussian
  latent), z sets the initial state of an LSTM decoder that reads the
  previous words; trained with deterministic KL warm-up
  (`kl_warmup_steps`) or free bits like the latent models of Table 7.

Both share the word embedding, LSTM decoder, masked categorical
likelihood, inputs, objective and generation of `TextModelMixin` with
`BIVALSTM`.
"""

import keras
from keras import ops

from keras_hvae.models.hvae import HierarchicalVAE
from keras_hvae.models.gaussian import (
    posterior_terms,
    reparameterized_sample,
    softplus_scale,
    standard_normal_sample,
)
from keras_hvae.models.text.decoder import LSTMDecoder, sentence_mask, shift_right
from keras_hvae.models.text.text_model import TextModelMixin


@keras.saving.register_keras_serializable(package="keras_hvae")
class LSTMLanguageModel(TextModelMixin, HierarchicalVAE):
    """An LSTM language model on the hierarchical-VAE core (no latents).

    Args:
        vocabulary: a `Vocabulary` (or its config, or a list of words).
        max_length: longest sentence in words (EOS not counted).
        embedding_dim: word embedding size.
        lstm_units: LSTM units.
        **kwargs: core options (`seed`, `clip_norm`, `name`, ...).

    Example:
    >>> lm = LSTMLanguageModel(["the", "cat", "."], max_length=8, embedding_dim=8, lstm_units=16)
    >>> lm.elbo(["the cat ."]).shape
    (1,)
    """

    def __init__(self, vocabulary, max_length=40, embedding_dim=128, lstm_units=256, **kwargs):
        for derived in ("data_shape", "latent_layer_names", "likelihood"):
            kwargs.pop(derived, None)
        data_shape, likelihood = self._setup_text(vocabulary, max_length)
        super().__init__(data_shape=data_shape, latent_layer_names=[], likelihood=likelihood, **kwargs)
        self._setup_text_layers(embedding_dim)
        self.lstm_units = int(lstm_units)
        self.decoder = LSTMDecoder(self.vocabulary.size, self.lstm_units, name="lstm_decoder")

    def forward_terms(self, x, training=False, seed=None):
        logits = self.decoder(self._decoder_inputs(None, shift_right(x)), training=training)
        log_px = self.likelihood.log_prob(logits, x)
        return {"log_px": log_px, "kl": [], "log_ratio": ops.zeros_like(log_px), "params": logits}

    def posterior_means(self, x):
        return []

    def _sample_ids(self, num_samples, temperature, gen, greedy):
        return self._sample_sequence(None, None, num_samples, temperature, gen, greedy)

    def _reconstruct_ids(self, x, gen, sample_latents):
        raise NotImplementedError("An LSTM language model has no latent code to reconstruct from.")

    def get_config(self):
        config = super().get_config()
        config.pop("likelihood", None)
        config.update(self.text_config())
        config["lstm_units"] = self.lstm_units
        return config


@keras.saving.register_keras_serializable(package="keras_hvae")
class RNNVAE(TextModelMixin, HierarchicalVAE):
    """The RNN-VAE of Bowman et al. (2015).

    Args:
        vocabulary: a `Vocabulary` (or its config, or a list of words).
        max_length: longest sentence in words (EOS not counted).
        embedding_dim: word embedding size (shared by encoder and decoder).
        encoder_units, decoder_units: LSTM units.
        latent_size: size of the Gaussian latent z.
        min_scale: lower bound of q's standard deviation.
        free_bits_budget: KL budget of the one latent layer (free bits).
        **kwargs: core options (`kl_warmup_steps` for Bowman's warm-up,
            `free_bits`, `beta`, `seed`, ...).

    Example:
    >>> vae = RNNVAE(["the", "cat", "."], max_length=8, embedding_dim=8, encoder_units=16,
    ...              decoder_units=16, latent_size=4, kl_warmup_steps=1000)
    >>> vae.elbo(["the cat ."]).shape
    (1,)
    """

    def __init__(
        self,
        vocabulary,
        max_length=40,
        embedding_dim=128,
        encoder_units=256,
        decoder_units=256,
        latent_size=32,
        min_scale=1e-3,
        free_bits_budget=None,
        **kwargs,
    ):
        for derived in ("data_shape", "latent_layer_names", "likelihood"):
            kwargs.pop(derived, None)
        data_shape, likelihood = self._setup_text(vocabulary, max_length)
        self._per_layer_free_bits(kwargs, free_bits_budget, 1)
        super().__init__(data_shape=data_shape, latent_layer_names=["z"], likelihood=likelihood, **kwargs)
        self._setup_text_layers(embedding_dim)
        self.encoder_units = int(encoder_units)
        self.decoder_units = int(decoder_units)
        self.latent_size = int(latent_size)
        self.min_scale = float(min_scale)
        self.encoder = keras.layers.LSTM(self.encoder_units, name="lstm_encoder")
        self.q_head = keras.layers.Dense(2 * self.latent_size, name="q_z")
        self.state_from_z = keras.layers.Dense(2 * self.decoder_units, activation="tanh", name="decoder_state")
        self.decoder = LSTMDecoder(self.vocabulary.size, self.decoder_units, name="lstm_decoder")

    def _posterior(self, x, training=False):
        mask = ops.cast(sentence_mask(x), "bool")
        h = self.encoder(self.embedding(x), mask=mask, training=training)
        loc, raw = ops.split(ops.cast(self.q_head(h), "float32"), 2, axis=-1)
        return loc, softplus_scale(raw, self.min_scale)

    def _initial_state(self, z):
        h, c = ops.split(self.state_from_z(z), 2, axis=-1)
        return [h, c]

    def _logits(self, z, x, training=False):
        inputs = self._decoder_inputs(None, shift_right(x))
        return self.decoder(inputs, initial_state=self._initial_state(z), training=training)

    def forward_terms(self, x, training=False, seed=None):
        loc, scale = self._posterior(x, training)
        t = posterior_terms(loc, scale, ops.zeros_like(loc), ops.ones_like(scale), self._seed(seed))
        logits = self._logits(t["z"], x, training)
        log_px = self.likelihood.log_prob(logits, x)
        return {"log_px": log_px, "kl": [t["kl"]], "log_ratio": t["log_ratio"], "params": logits}

    def posterior_means(self, x):
        return [self._posterior(x)[0]]

    def _decode(self, z, temperature, gen, greedy):
        return self._sample_sequence(None, self._initial_state(z), ops.shape(z)[0], temperature, gen, greedy)

    def _sample_ids(self, num_samples, temperature, gen, greedy):
        if greedy:
            z = ops.zeros((num_samples, self.latent_size), "float32")
        else:
            z = standard_normal_sample((num_samples, self.latent_size), gen, temperature)
        return self._decode(z, temperature, gen, greedy)

    def _reconstruct_ids(self, x, gen, sample_latents):
        loc, scale = self._posterior(x)
        z = reparameterized_sample(loc, scale, gen) if sample_latents else loc
        return self._decode(z, 1.0, gen, True)

    def _top_code(self, x):
        return self._posterior(x)[0]

    def _decode_top(self, z):
        return self._decode(z, 1.0, None, True)

    def get_config(self):
        config = super().get_config()
        config.pop("likelihood", None)
        config.update(self.text_config())
        config.update(
            {
                "encoder_units": self.encoder_units,
                "decoder_units": self.decoder_units,
                "latent_size": self.latent_size,
                "min_scale": self.min_scale,
            }
        )
        return config
