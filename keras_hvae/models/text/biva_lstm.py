"""BIVA+LSTM and the non-autoregressive text BIVA (BIVA paper, Appendix D).

The model is `BIVA` itself (same blocks, same bottom-up and top-down
latents, same deterministic top-down path, same KL terms), run over the
positions of a sentence: word embeddings are laid out as a `(1, T)` grid
with `embedding_dim` channels, every kernel is `(1, k)` and every stride
`(1, s)` (the per-axis kernels and strides of `BIVA`), and the latents are
convolutional (one Gaussian vector per position of each level). This class
adds only what text needs, through BIVA's hooks:

* `embed_inputs`: ids -> embeddings, and the padding masks of every level
  (a position of a strided level is real when any position under it is);
  the blocks zero padded positions before every convolution and the KL of
  a level sums over its real positions only, so padding never changes a
  bound.
* `make_output_head` / `observation_log_prob`: the output of BIVA's
  convolutional generative path (1x1 conv of d_0) is the input sequence of
  an LSTM decoder; at position t the LSTM reads it and the previous word
  (teacher forcing in training, ancestral sampling in generation) and a
  softmax over the vocabulary gives p(x_t | x_<t, z). With
  `autoregressive=False` the 1x1 conv gives the logits of every position
  directly (the non-autoregressive text BIVA of Table 7).
* `_draw`: the noise of every latent is drawn at the full sequence length
  and cut to the batch's length, so a seeded bound does not depend on how
  far a batch is padded either.
"""

import keras
from keras import ops

from keras_hvae.layers import WeightNormConv2D
from keras_hvae.models.biva.biva_architectures import broadcast_levels
from keras_hvae.models.biva.biva_model import BIVA
from keras_hvae.models.gaussian import reparameterize
from keras_hvae.models.text.decoder import LSTMDecoder, shift_right, sentence_mask
from keras_hvae.models.text.text_model import TextModelMixin
from keras_hvae.utils.arguments import as_pair


def _sequence_pairs(values, num_layers, name):
    """Per-level ints k as `(1, k)` pairs (pairs are kept as given)."""
    return [as_pair(v, name, height=1) for v in broadcast_levels(values, num_layers, name)]


@keras.saving.register_keras_serializable(package="keras_hvae")
class BIVALSTM(TextModelMixin, BIVA):
    """BIVA over sentence positions with an LSTM decoder (Appendix D).

    Args:
        vocabulary: a `Vocabulary` (or its config, or a list of words).
        max_length: the longest sentence in words (EOS not counted); the
            model's sequence length T is `max_length + 1` rounded up to the
            product of the strides.
        embedding_dim: word embedding size (the paper: 512).
        lstm_units: units of the LSTM decoder (the paper: 1024).
        decoder_features: channels of the per-position features the
            convolutional generative path hands the LSTM (default: the
            first level's filters).
        autoregressive: True for BIVA+LSTM; False for the non-autoregressive
            text BIVA (a categorical per position from the conv output).
        filters, kernel_sizes, strides, latent_sizes, layers_per_block,
            latent_kernel_size, bottom_up_latents, deterministic_top_down,
            q_dropout, p_dropout, activation, min_scale: as for `BIVA`;
            kernel sizes and strides are along the sequence (an int k
            means `(1, k)`). The paper uses few levels and 128 kernels.
        free_bits_budget: the paper's initial KL budget (30 nats) spread
            equally over the latent variables free bits act on: z^BU_i and
            z^TD_i of every level below the top and z_L, 2L - 1 of them
            (`free_bits = budget / (2L - 1)`; L without bottom-up latents);
            or pass `free_bits` per variable directly.
        **kwargs: core options (`free_bits`, `kl_warmup_steps`, `beta`,
            `clip_norm`, `seed`, `name`).

    Example:
    >>> from keras_hvae.models.text import Vocabulary
    >>> vocab = Vocabulary.build(["the cat sat .", "a dog ran ."], max_tokens=50)
    >>> model = BIVALSTM(vocab, max_length=8, filters=8, latent_sizes=[4, 2], strides=[1, 2], embedding_dim=8,
    ...                  lstm_units=16)
    >>> model.elbo(["the cat ran ."]).shape
    (1,)
    """

    def __init__(
        self,
        vocabulary,
        max_length=40,
        embedding_dim=128,
        lstm_units=256,
        decoder_features=None,
        autoregressive=True,
        filters=64,
        kernel_sizes=3,
        strides=(1, 2, 2),
        latent_sizes=(32, 16, 8),
        layers_per_block=2,
        latent_kernel_size=3,
        bottom_up_latents=True,
        deterministic_top_down=True,
        q_dropout=0.0,
        p_dropout=0.0,
        activation="elu",
        min_scale=1e-3,
        free_bits_budget=None,
        **kwargs,
    ):
        for derived in ("data_shape", "likelihood", "latent_type"):
            kwargs.pop(derived, None)
        L = len(latent_sizes)
        if L < 1:
            raise ValueError("BIVALSTM needs at least one latent layer (latent_sizes is empty).")
        strides = _sequence_pairs(strides, L, "strides")
        kernel_sizes = _sequence_pairs(kernel_sizes, L, "kernel_sizes")
        latent_kernel_size = as_pair(latent_kernel_size, "latent_kernel_size", height=1)
        total = 1
        for s in strides:
            if as_pair(s)[0] != 1:
                raise ValueError(f"BIVALSTM strides run along the sequence: (1, s) or s; got {s}.")
            total *= as_pair(s)[1]
        self.autoregressive = bool(autoregressive)
        self.lstm_units = int(lstm_units)
        filters_list = broadcast_levels(filters, L, "filters")
        self.decoder_features = int(decoder_features or filters_list[0])
        data_shape, likelihood = self._setup_text(vocabulary, max_length, length_multiple=total)
        self._per_layer_free_bits(kwargs, free_bits_budget, 2 * L - 1 if bottom_up_latents else L)
        super().__init__(
            data_shape=data_shape,
            filters=filters,
            kernel_sizes=kernel_sizes,
            strides=strides,
            latent_sizes=latent_sizes,
            layers_per_block=layers_per_block,
            latent_type="conv",
            latent_kernel_size=latent_kernel_size,
            bottom_up_latents=bottom_up_latents,
            deterministic_top_down=deterministic_top_down,
            q_dropout=q_dropout,
            p_dropout=p_dropout,
            activation=activation,
            min_scale=min_scale,
            likelihood=likelihood,
            **kwargs,
        )
        self._setup_text_layers(embedding_dim)
        if self.autoregressive:
            self.decoder = LSTMDecoder(self.vocabulary.size, self.lstm_units, name="lstm_decoder")

    # ------------------------------------------------------------ BIVA hooks
    def hierarchy_input_shape(self, data_shape):
        return (1, int(data_shape[0]))

    def make_output_head(self):
        channels = self.decoder_features if self.autoregressive else self.vocabulary.size
        return WeightNormConv2D(channels, 1, name="output_head")

    def embed_inputs(self, x, training=False):
        mask = sentence_mask(x)
        h = self.embedding(x) * ops.expand_dims(ops.cast(mask, self.embedding.compute_dtype), -1)
        h = ops.expand_dims(h, 1)
        m = mask[:, None, :, None]
        masks = [m]
        for s in self.strides:
            if as_pair(s) != (1, 1):
                m = ops.max_pool(m, as_pair(s), strides=as_pair(s), padding="valid")
            masks.append(m)
        return h, masks

    def observation_log_prob(self, params, x, training=False, seed=None):
        if not self.autoregressive:
            return self.likelihood.log_prob(params, x)
        return self.likelihood.log_prob(self.decoder_logits(params, x, training), x)

    def decoder_logits(self, params, x, training=False):
        """Teacher forcing: logits `(B, T, V)` of every position given the
        conv features `params` `(B, 1, T, F)` and the previous words."""
        features = ops.squeeze(params, axis=1)
        return self.decoder(self._decoder_inputs(features, shift_right(x)), training=training)

    def _draw(self, loc, scale, gen, use_mean, temperature=1.0):
        if use_mean:
            return loc
        b, h, t, c = ops.shape(loc)
        eps = keras.random.normal((b, h, self.sequence_length, c), dtype="float32", seed=gen)[:, :, :t, :]
        return reparameterize(loc, scale, eps, temperature)

    # -------------------------------------------------------- text families
    def _ids_from_params(self, params, temperature, gen, greedy):
        if not self.autoregressive:
            if greedy:
                return self.likelihood.mean(params)
            return self.likelihood.sample(params, seed=gen, temperature=temperature)
        features = ops.squeeze(params, axis=1)
        return self._sample_sequence(features, None, ops.shape(features)[0], temperature, gen, greedy)

    def _sample_ids(self, num_samples, temperature, gen, greedy):
        out = self.top_down(None, batch_size=num_samples, temperature=temperature, seed=gen, use_mean=greedy)
        return self._ids_from_params(out["params"], temperature, gen, greedy)

    def _reconstruct_ids(self, x, gen, sample_latents):
        state = self.bottom_up(x, seed=gen, use_mean=not sample_latents)
        out = self.top_down(state, seed=gen, use_mean=not sample_latents)
        return self._ids_from_params(out["params"], 1.0, gen, True)

    def _top_code(self, x):
        state = self.bottom_up(x, use_mean=True)
        return state["q_top"][0] * ops.cast(state["masks"][-1], "float32")

    def _decode_top(self, z):
        L = self.num_layers
        state = {"features": [z], "q_top": (z, ops.ones_like(z)), "masks": None}
        out = self.top_down(state, prior_layers=L - 1, use_mean=True)
        return self._ids_from_params(out["params"], 1.0, None, True)

    def posterior_means(self, x):
        """Posterior means of z_1..z_L (bottom first), zero at padded positions."""
        state_masks = self.embed_inputs(x)[1]
        codes = super().posterior_means(x)
        return [c * ops.cast(state_masks[i + 1], c.dtype) for i, c in enumerate(codes)]

    # ---------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        for derived in ("data_shape", "likelihood", "latent_type"):
            config.pop(derived, None)
        config.update(self.text_config())
        config.update(
            {
                "lstm_units": self.lstm_units,
                "decoder_features": self.decoder_features,
                "autoregressive": self.autoregressive,
            }
        )
        return config
