"""Named configurations of the text models (BIVA paper, Appendix D).

The paper trains on BookCorpus with 1024-unit LSTMs and 512-d embeddings
at 23.7M parameters. The CPU-scale configurations below keep everything
but the sizes (256-unit LSTMs, 128-d embeddings) and give BIVA+LSTM and the
RNN-VAE the same parameter count within 10% (`parameter_counts`).

Each entry is `(class name, constructor arguments)`; the vocabulary and
`max_length` come from the data.
"""

_BIVA_CPU = dict(
    embedding_dim=128,
    lstm_units=256,
    filters=48,
    kernel_sizes=3,
    strides=[1, 2, 2, 2],
    latent_sizes=[16, 16, 16, 16],
    layers_per_block=2,
    decoder_features=48,
)
_RNN_VAE_CPU = dict(embedding_dim=128, encoder_units=256, decoder_units=256, latent_size=32)

ARCHITECTURES = {
    # BIVA+LSTM, L=4, free bits (30 nats over the 2L - 1 latent variables) lowered on plateau
    "biva_lstm_cpu": ("BIVALSTM", dict(_BIVA_CPU, free_bits_budget=30.0)),
    # the non-autoregressive text BIVA (same hierarchy)
    "biva_text_cpu": ("BIVALSTM", dict(_BIVA_CPU, autoregressive=False, free_bits_budget=30.0)),
    # RNN-VAE with a deterministic KL warm-up
    "rnn_vae_cpu": ("RNNVAE", dict(_RNN_VAE_CPU, kl_warmup_steps=600)),
    # RNN-VAE with free bits (30 nats) lowered on plateau
    "rnn_vae_free_bits_cpu": ("RNNVAE", dict(_RNN_VAE_CPU, free_bits_budget=30.0)),
    # LSTM language model
    "lstm_lm_cpu": ("LSTMLanguageModel", dict(embedding_dim=128, lstm_units=256)),
}


def build_text_model(architecture, vocabulary, max_length=40, seed=0, **overrides):
    """The (uncompiled) model of a named configuration for `vocabulary`."""
    from keras_hvae.models import text

    cls_name, kwargs = ARCHITECTURES[architecture]
    return getattr(text, cls_name)(vocabulary, max_length=max_length, seed=seed, **dict(kwargs, **overrides))


def parameter_counts(architectures=tuple(ARCHITECTURES), vocabulary_size=10000, max_length=40):
    """`{architecture: trainable parameters}`, built on a placeholder
    vocabulary of `vocabulary_size` words (counts depend only on its size)."""
    import keras

    from keras_hvae.datasets.vocabulary import Vocabulary

    vocab = Vocabulary([f"w{i}" for i in range(int(vocabulary_size) - 4)])
    counts = {}
    for name in architectures:
        model = build_text_model(name, vocab, max_length=max_length)
        model.build()
        counts[name] = int(sum(int(keras.ops.size(v)) for v in model.trainable_variables))
    return counts
