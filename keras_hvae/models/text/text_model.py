"""What every text model shares: ids in, sentences out, and the objective.

`TextModelMixin` sits in front of a `HierarchicalVAE` family (`BIVALSTM`
in front of `BIVA`, the baselines in front of the core itself) and adds

* inputs: `elbo`, `iwae_bound`, `encode`, ... take a list of sentences
  (strings) or an int id array `(batch, T)` (`PAD`=0 after the first
  `EOS`); strings go through the model's `Vocabulary`. Rows are padded up
  to a multiple of `length_multiple` (the BIVA hierarchy's total stride);
  the padding never changes a bound (see `decoder.sentence_mask`).
* the objective: the core's template through its hooks —
  `free_bits_value` returns lambda from a non-trainable variable
  (`free_bits_variable`) so that a callback (`ReduceFreeBitsOnPlateau`)
  can lower it during training without retracing, and `objective_terms`
  reports `bits_per_dim` per word (EOS included), so `2 ** bits_per_dim`
  is the batch's perplexity, and logs lambda as `free_bits`.
* bits per word: `num_dims(x)` counts each sentence's tokens (words plus
  EOS), `bits_per_word(nats, x)` (= `bits_per_dim(nats, x)`, which needs
  x) divides by them; `evaluate_bounds` records the same through `num_dims`.
* use: `generate`, `reconstruct`, `interpolate`, `evaluate_text` (the
  columns of the paper's Table 7: -log p(x) bound, KL, perplexity).
* the vocabulary in the config (`.keras` round trips); a preset keeps it
  only as the asset `assets/vocabulary.txt` (its config refers to it).

A family implements `forward_terms`, `_sample_ids(num_samples,
temperature, gen, greedy)`, `_reconstruct_ids(x, gen, sample_latents)`
and, if it has latents, `_top_code(x)` / `_decode_top(z)`.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_hvae.models.text.decoder import TokenCategorical, choose_tokens, sentence_mask
from keras_hvae.datasets.vocabulary import BOS_ID, Vocabulary, as_vocabulary
from keras_hvae.utils.validation import check_not_empty


def round_up(n, multiple):
    return int(math.ceil(int(n) / int(multiple)) * int(multiple))


class TextModelMixin:
    """Shared inputs, objective, generation and persistence of text models
    (see the module docstring)."""

    input_dtype_for_build = "int32"


    # ----------------------------------------------------------------- setup
    def _setup_text(self, vocabulary, max_length, length_multiple=1):
        """Before the base constructor: vocabulary and sequence length."""
        self.vocabulary = as_vocabulary(vocabulary)
        self.max_length = int(max_length)
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1; got {max_length}.")
        self.length_multiple = int(length_multiple)
        #: T, the padded length of a full sentence (max_length words + EOS).
        self.sequence_length = round_up(self.max_length + 1, self.length_multiple)
        return (self.sequence_length,), TokenCategorical(self.vocabulary.size)

    def _setup_text_layers(self, embedding_dim):
        """After the base constructor: the word embedding and lambda."""
        self.embedding_dim = int(embedding_dim)
        self.embedding = keras.layers.Embedding(self.vocabulary.size, self.embedding_dim, name="embedding")
        self.free_bits_variable = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.free_bits),
            trainable=False,
            name="free_bits",
        )

    @staticmethod
    def _per_layer_free_bits(kwargs, free_bits_budget, num_variables):
        """The paper's initial KL budget spread equally over the latent
        variables free bits act on (2L - 1 in BIVA+LSTM: z^BU_i, z^TD_i, z_L)."""
        if free_bits_budget is not None:
            if not num_variables:
                raise ValueError("free_bits_budget needs at least one latent layer.")
            kwargs["free_bits"] = float(free_bits_budget) / num_variables
        return kwargs

    @property
    def vocabulary_size(self):
        return self.vocabulary.size

    @property
    def current_free_bits(self):
        """lambda now (nats per latent variable)."""
        return float(ops.convert_to_numpy(self.free_bits_variable))

    # ---------------------------------------------------------------- inputs
    def tokenize(self, sentences, pad_to=None):
        """Sentences as ids `(B, T)`: EOS appended, T a multiple of `length_multiple`."""
        ids = self.vocabulary.encode(list(sentences), pad_to=pad_to)
        return self._pad_ids(ids)

    def detokenize(self, ids):
        """Id rows as sentences (up to the first EOS)."""
        return self.vocabulary.decode(ids)

    def _pad_ids(self, ids):
        width = max(round_up(max(ids.shape[1], 1), self.length_multiple), self.length_multiple)
        if width > ids.shape[1]:
            ids = np.pad(ids, [(0, 0), (0, width - ids.shape[1])])
        return ids

    def validate_inputs(self, x):
        """Sentences or ids -> checked int32 ids `(B, T)`, `T <= sequence_length`."""
        if isinstance(x, str):
            raise ValueError(f"{type(self).__name__} expects a list of sentences, not one string.")
        if isinstance(x, (list, tuple)):
            check_not_empty(x, type(self).__name__, "sentences")
        if isinstance(x, (list, tuple)) and x and all(isinstance(s, str) for s in x):
            ids = self.vocabulary.encode(list(x))
        else:
            ids = np.asarray(ops.convert_to_numpy(x) if not isinstance(x, (list, tuple)) else x)
            if ids.dtype.kind in "US":
                ids = self.vocabulary.encode([str(s) for s in ids.ravel()])
            elif ids.dtype.kind == "f" and ids.size and np.all(np.isfinite(ids)) and np.all(ids == np.round(ids)):
                ids = ids.astype("int64")
            if ids.ndim != 2:
                raise ValueError(
                    f"{type(self).__name__} expects a list of sentences or int ids of shape (batch, T); "
                    f"got shape {ids.shape}."
                )
            self.likelihood.validate(ids)
        check_not_empty(ids, type(self).__name__, "sentences")
        if ids.shape[1] > self.sequence_length:
            lengths = ops.convert_to_numpy(ops.sum(sentence_mask(ids), axis=1))
            if ids.shape[1] > self.sequence_length and lengths.max() > self.max_length + 1:
                raise ValueError(
                    f"A sentence has {int(lengths.max())} tokens (words + EOS); this model takes at most "
                    f"{self.max_length} words plus EOS (max_length={self.max_length})."
                )
            ids = ids[:, : self.sequence_length]
        return self._pad_ids(ids.astype("int32"))

    def prepare_inputs(self, x):
        x = ops.cast(x, "int32")
        if self.length_multiple > 1:
            t = ops.shape(x)[1]
            if isinstance(t, int):
                pad = (-t) % self.length_multiple
                if pad:
                    x = ops.pad(x, [[0, 0], [0, pad]])
            else:
                x = ops.pad(x, [[0, 0], [0, (-t) % self.length_multiple]])
        return x

    @property
    def num_data_dims(self):
        """T, the padded row length; not what a sentence's bound covers
        (that is `num_dims(x)`)."""
        return int(self.sequence_length)

    @property
    def rows_per_example(self):
        """Network rows a sentence occupies in a pass: one per position
        (`sequence_length`), each with its LSTM step and its softmax over
        the vocabulary. `iwae_bound` and `keras-hvae evaluate` size their
        passes by it (at most `iwae_max_rows` rows), so the IWAE bound with
        k = 1,000 runs in passes of a few hundred samples of one sentence
        instead of 10 sentences x 1,000 samples (a 10,000 x T x vocabulary
        logit tensor, about 19 GB for the shipped preset)."""
        return int(self.sequence_length)

    scored_dims_key = "num_test_tokens"

    def num_dims(self, x):
        """Tokens each sentence's bound covers: its words plus the EOS token
        (`decoder.sentence_mask`; the perplexity of `evaluate_text` and the
        `bits_per_dim` metric count the same tokens).

        Args:
            x: sentences (strings) or ids `(N, T)`.

        Returns:
            numpy int64 array `(N,)`.
        """
        ids = self.validate_inputs(x)
        return ops.convert_to_numpy(ops.sum(sentence_mask(ids, "int32"), axis=1)).astype("int64")

    def bits_per_word(self, nats, x):
        """Per-sentence bounds in nats -> bits per word (EOS included):
        ``-nats / (num_dims(x) * ln 2)``, `(N,)`. `x`: the sentences (or
        ids) the bounds were computed on. For a set of sentences, weight by
        the token counts: ``-sum(nats) / (sum(num_dims(x)) * ln 2)``."""
        nats = np.asarray(nats, dtype="float64")
        tokens = self.num_dims(x)
        if nats.shape != tokens.shape:
            raise ValueError(f"{nats.shape[0] if nats.ndim else 'a scalar'} bounds for {tokens.shape[0]} "
                             "sentences: pass one bound per sentence of x.")
        return -nats / (tokens * math.log(2.0))

    def bits_per_dim(self, nats, x=None):
        """For text models, bits per word: `bits_per_word(nats, x)`. The
        sentences `x` are required (their lengths set the token counts)."""
        if x is None:
            raise TypeError(
                f"{type(self).__name__}.bits_per_dim(nats, x) needs the sentences (or ids) x the bounds were "
                "computed on: bits per word divide by each sentence's tokens (words + EOS), not by the padded "
                f"length {self.sequence_length}."
            )
        return self.bits_per_word(nats, x)

    # ------------------------------------------------------------- objective
    #: lambda now (the value of `free_bits_variable`), logged every step
    extra_metric_names = ("free_bits",)

    def free_bits_value(self, training=False):
        """lambda from `free_bits_variable` when training (a callback may
        lower it between steps without retracing), 0 otherwise."""
        return self.free_bits_variable if training else 0.0

    def objective_terms(self, data, training=False):
        """The core's terms; `bits_per_dim` is bits per word (EOS
        included), and the current lambda is logged as ``free_bits``.
        Where the forward pass reports the KL per latent variable
        (``kl_variables``: z^BU_i and z^TD_i apart in BIVA+LSTM), free bits
        act on each variable, as in BIVA."""
        x = self.prepare_inputs(self.unpack_inputs(data))
        terms = dict(self.forward_terms(x, training=training))
        if "kl_variables" in terms:
            terms["free_bits_groups"] = terms["kl_variables"]
        terms["num_dims"] = ops.sum(sentence_mask(x), axis=1)
        terms["metrics"] = {"free_bits": ops.convert_to_tensor(self.free_bits_variable)}
        return terms

    # -------------------------------------------------------------- sampling
    def _decoder_inputs(self, features, previous):
        """LSTM inputs: `[features, embedding(previous words)]` on the last axis."""
        e = self.embedding(previous)
        if features is None:
            return e
        return ops.concatenate([ops.cast(features, e.dtype), e], axis=-1)

    def _sample_sequence(self, features, initial_state, batch_size, temperature, gen, greedy, length=None):
        """Ancestral (or greedy) sampling from the LSTM decoder, `(B, T)` ids.

        `features` `(B, T, F)` are the per-position conditioning inputs (or
        None); `initial_state` the LSTM's start (or None: zeros).
        """
        length = int(features.shape[1]) if features is not None else int(length or self.sequence_length)
        state = initial_state if initial_state is not None else self.decoder.zero_state(batch_size)
        prev = ops.full((batch_size,), BOS_ID, dtype="int32")
        out = []
        for t in range(length):
            inputs = self._decoder_inputs(None if features is None else features[:, t], prev)
            logits, state = self.decoder.step(inputs, state)
            prev = choose_tokens(logits, temperature, gen, greedy)
            out.append(prev)
        return ops.stack(out, axis=1)

    def sample_tensor(self, num_samples, temperature=1.0, seed=None, mean=False):
        """Token ids `(num_samples, sequence_length)` sampled from the model
        (`mean=True`: greedy words and, for latent models, prior means)."""
        return self._sample_ids(num_samples, temperature, self._seed(seed), bool(mean))

    def generate(self, num_samples, temperature=1.0, seed=None):
        """Sentences sampled from the model (strings of vocabulary words).

        Args:
            num_samples: how many sentences.
            temperature: scales the prior standard deviations of latent
                models and divides the word logits; 0 gives greedy words
                from the prior means.
            seed: int seed (None: the model's stream).
        """
        if temperature == 0:
            ids = self.sample(num_samples, 1.0, seed=seed, mean=True)
        else:
            ids = self.sample(num_samples, float(temperature), seed=seed)
        return self.detokenize(ids)

    def reconstruct(self, sentences, seed=None, sample_latents=False):
        """Sentences decoded (greedily) from their posterior codes.

        `sample_latents=False` uses posterior means; True draws z ~ q(z|x).
        """
        x = self._eager_inputs(sentences)
        gen = self._call_stream(seed)
        ids = self._run(
            f"reconstruct_{bool(sample_latents)}", lambda x: self._reconstruct_ids(x, gen, bool(sample_latents)), x
        )
        return self.detokenize(ids)

    def interpolate(self, sentence_a, sentence_b, num_steps=5):
        """Greedy decodings along the line between the top-layer posterior
        means of two sentences (the endpoints included); a list of strings."""
        if int(num_steps) < 2:
            raise ValueError(f"num_steps must be >= 2; got {num_steps}.")
        x = self._eager_inputs(self.tokenize([sentence_a, sentence_b], pad_to=self.sequence_length))
        steps = int(num_steps)

        def fn(x):
            z = self._top_code(x)
            w = ops.reshape(ops.linspace(0.0, 1.0, steps), (steps,) + (1,) * (len(z.shape) - 1))
            return self._decode_top((1.0 - w) * z[:1] + w * z[1:2])

        return self.detokenize(self._run(f"interpolate_{steps}", fn, x))

    def _top_code(self, x):
        raise NotImplementedError(f"{type(self).__name__} has no latent code to interpolate.")

    def _decode_top(self, z):
        raise NotImplementedError(f"{type(self).__name__} has no latent code to decode.")

    # ------------------------------------------------------------ evaluation
    def evaluate_text(self, sentences, batch_size=100, seed=0):
        """Table 7's columns on a set of sentences (one posterior sample).

        Args:
            sentences: list of strings or an id array `(N, T)`.
            batch_size: sentences per pass.
            seed: int seed (batch k uses `seed + k`).

        Returns:
            dict: `nll` (mean per-sentence -ELBO, an upper bound on -log
            p(x), nats), `kl` (mean total KL), `kl_per_layer`,
            `reconstruction` (mean -log p(x|z)), `perplexity` =
            exp(sum of -ELBO / number of words incl. EOS), `nats_per_word`,
            `num_sentences`, `num_words`.
        """
        n = len(sentences)
        if n == 0:
            raise ValueError("evaluate_text needs at least one sentence.")

        def fn(x, gen):
            terms = self.forward_terms(x, training=False, seed=gen)
            kl = ops.stack(terms["kl"], axis=1) if terms["kl"] else ops.zeros((ops.shape(x)[0], 0))
            return terms["log_px"], kl, ops.sum(sentence_mask(x), axis=1)

        log_px, kls, words = [], [], []
        for k, start in enumerate(range(0, n, batch_size)):
            x = self._eager_inputs(sentences[start : start + batch_size])
            gen = self._call_stream(int(seed) + k)
            a, b, c = self._run("text_terms", lambda x: fn(x, gen), x)
            log_px.append(ops.convert_to_numpy(a))
            kls.append(ops.convert_to_numpy(b))
            words.append(ops.convert_to_numpy(c))
        log_px = np.concatenate(log_px).astype("float64")
        kl = np.concatenate(kls).astype("float64")
        words = np.concatenate(words).astype("float64")
        nll = -log_px + kl.sum(axis=1)
        return {
            "nll": float(nll.mean()),
            "kl": float(kl.sum(axis=1).mean()),
            "kl_per_layer": [float(v) for v in kl.mean(axis=0)],
            "reconstruction": float(-log_px.mean()),
            "perplexity": float(np.exp(nll.sum() / words.sum())),
            "nats_per_word": float(nll.sum() / words.sum()),
            "num_sentences": int(n),
            "num_words": int(words.sum()),
        }

    # ---------------------------------------------------------- persistence
    def save_preset_assets(self, directory):
        """Writes `assets/vocabulary.txt`."""
        self.vocabulary.save(directory)

    def preset_config(self, config):
        """The preset's `config.json`: the vocabulary's words live only in
        `assets/vocabulary.txt`; the config keeps a reference to it."""
        from keras_hvae.datasets.vocabulary import asset_reference

        config["config"]["vocabulary"] = asset_reference(self.vocabulary)
        return config

    def load_preset_assets(self, directory):
        """Reads `assets/vocabulary.txt` as the vocabulary.

        Raises:
            PresetError: the file is missing while the config refers to it,
                or it holds another number of words than the model's.
        """
        from pathlib import Path

        from keras_hvae.utils.presets import PresetError
        from keras_hvae.datasets.vocabulary import VOCABULARY_FILE, PendingVocabulary

        path = Path(directory) / VOCABULARY_FILE
        if not path.is_file():
            if isinstance(self.vocabulary, PendingVocabulary):
                raise PresetError(f"{path} is missing: the preset's config.json refers to it for the vocabulary.")
            return
        vocab = Vocabulary.load(path, standardize=self.vocabulary.standardize)
        if vocab.size != self.vocabulary.size:
            raise PresetError(
                f"{path} holds {vocab.size} tokens but the model was built for {self.vocabulary.size}."
            )
        self.vocabulary = vocab

    def text_config(self):
        return {
            "vocabulary": self.vocabulary.get_config(),
            "max_length": self.max_length,
            "embedding_dim": self.embedding_dim,
        }

    def export_endpoints(self):
        """`elbo(x)`, `sample(num_samples, temperature)` (ids) and, for
        latent models, `encode(x)`, all on int32 ids."""
        import tensorflow as tf

        x_spec = tf.TensorSpec((None, None), tf.int32, name="x")
        endpoints = {
            "elbo": (lambda x: self._elbo_tensor(self.prepare_inputs(x)), [x_spec]),
            "sample": (
                lambda num_samples, temperature: self.sample_tensor(num_samples, temperature),
                [tf.TensorSpec((), tf.int32, name="num_samples"), tf.TensorSpec((), tf.float32, name="temperature")],
            ),
        }
        if self.latent_layer_names:
            endpoints["encode"] = (
                lambda x: {
                    f"z_{n}": t for n, t in zip(self.latent_layer_names, self.posterior_means(self.prepare_inputs(x)))
                },
                [x_spec],
            )
        return endpoints
