"""Recipes of the text models: the fortunes experiment (docs/text_experiment.md).

The paper's Appendix D trains on BookCorpus (20,000 words, sentences of at
most 40 words, OOV sentences filtered) with 1024-unit LSTMs and 512-d
embeddings at 23.7M parameters, batches of 512, Adamax at 2e-3, 5 epochs,
free bits with a 30-nat budget lowered on plateau. The recipes here keep
everything but the sizes: Debian's fortunes (about 13.6k training
sentences after a 10,000-token vocabulary, lower-casing, punctuation
split off and OOV filtering), 256-unit LSTMs, 128-d embeddings, batches
of 64, and BIVA+LSTM and the RNN-VAE at the same parameter count (within
10%, `parameter_counts`), each capped at under an hour of CPU
(`TimeLimit`).

Registered recipes (`keras-hvae train --recipe NAME`, or
`applications/text_fortunes.py`):

| name | model |
|---|---|
| `biva_lstm_fortunes` | BIVA+LSTM, L=4, free bits (30 nats / L) lowered on plateau |
| `biva_text_fortunes` | the non-autoregressive text BIVA (same hierarchy) |
| `rnn_vae_fortunes` | RNN-VAE, deterministic KL warm-up |
| `rnn_vae_free_bits_fortunes` | RNN-VAE, free bits (30 nats) lowered on plateau |
| `lstm_lm_fortunes` | LSTM language model |
"""

import keras

from keras_hvae.training.recipes import Recipe, register_recipe

#: The corpus settings shared by every fortunes recipe.
FORTUNES = dict(max_tokens=10000, max_length=40, standardize="lower_and_split_punctuation", oov="filter", seed=0)

#: Optimisation shared by every recipe (Appendix D, at this machine's scale).
TRAINING = dict(
    batch_size=64,
    learning_rate=2e-3,
    epochs=300,
    steps_per_epoch=100,
    time_limit_s=3300,
    length_multiple=8,
    bucket_boundaries=(8, 16, 24, 32),
)

_BIVA = dict(
    embedding_dim=128,
    lstm_units=256,
    filters=48,
    kernel_sizes=3,
    strides=[1, 2, 2, 2],
    latent_sizes=[16, 16, 16, 16],
    layers_per_block=2,
    decoder_features=48,
)

#: `(class name, constructor arguments)` of every recipe's model.
MODELS = {
    "biva_lstm_fortunes": ("BIVALSTM", dict(_BIVA, free_bits_budget=30.0)),
    "biva_text_fortunes": ("BIVALSTM", dict(_BIVA, autoregressive=False, free_bits_budget=30.0)),
    "rnn_vae_fortunes": (
        "RNNVAE",
        dict(embedding_dim=128, encoder_units=256, decoder_units=256, latent_size=32, kl_warmup_steps=600),
    ),
    "rnn_vae_free_bits_fortunes": (
        "RNNVAE",
        dict(embedding_dim=128, encoder_units=256, decoder_units=256, latent_size=32, free_bits_budget=30.0),
    ),
    "lstm_lm_fortunes": ("LSTMLanguageModel", dict(embedding_dim=128, lstm_units=256)),
}


def model_class(name):
    from keras_hvae.models import text

    return getattr(text, name)


def build_text_model(name, vocabulary, max_length=40, learning_rate=None, seed=0, compile=True, **overrides):
    """The model of recipe `name` for `vocabulary`, compiled with Adamax."""
    cls_name, kwargs = MODELS[name]
    kwargs = dict(kwargs, **overrides)
    model = model_class(cls_name)(vocabulary, max_length=max_length, seed=seed, **kwargs)
    if compile:
        lr = TRAINING["learning_rate"] if learning_rate is None else learning_rate
        model.compile(optimizer=keras.optimizers.Adamax(learning_rate=lr))
    return model


def parameter_counts(names=tuple(MODELS), vocabulary_size=None):
    """`{name: trainable parameters}` of the recipes' models, built on a
    placeholder vocabulary of the recipes' size (counts depend only on it)."""
    from keras_hvae.models.text.vocabulary import Vocabulary

    size = int(vocabulary_size or FORTUNES["max_tokens"])
    vocab = Vocabulary([f"w{i}" for i in range(size - 4)])
    counts = {}
    for name in names:
        model = build_text_model(name, vocab, max_length=FORTUNES["max_length"], compile=False)
        model.build()
        counts[name] = int(sum(int(keras.ops.size(v)) for v in model.trainable_variables))
    return counts


def fortunes_recipe(name, epochs=None, time_limit_s=None, steps_per_epoch=None, eval_limit=200):
    """The `Recipe` of `name` (see the module docstring) with optional caps.

    An "epoch" is `steps_per_epoch` (100) steps of an endlessly repeated,
    reshuffled training split, so that the validation bound that drives the
    free-bits schedule is measured every 100 steps; training stops at
    `epochs` or at the end of the epoch that would overrun `time_limit_s`
    (3300 s: every recipe trains in under an hour).
    """
    from keras_hvae.models.text.callbacks import ReduceFreeBitsOnPlateau, TextScores, TimeLimit
    from keras_hvae.models.text.data import fortune_text, text_dataset

    cls_name, kwargs = MODELS[name]
    limit = TRAINING["time_limit_s"] if time_limit_s is None else time_limit_s
    multiple, buckets = TRAINING["length_multiple"], TRAINING["bucket_boundaries"]

    def data():
        return fortune_text(**FORTUNES)

    def build():
        return build_text_model(name, data()["vocabulary"], max_length=FORTUNES["max_length"])

    def callbacks():
        out = [TimeLimit(limit)] if limit else []
        if "free_bits_budget" in kwargs:
            out.append(ReduceFreeBitsOnPlateau(monitor="val_loss", factor=0.5, patience=2, verbose=1))
        out.append(TextScores(data()["test"]))
        return out

    return Recipe(
        name=name,
        build_model=build,
        train_data=lambda: text_dataset(
            data()["train"], TRAINING["batch_size"], length_multiple=multiple, bucket_boundaries=buckets
        ).repeat(),
        # not bucketed: batch means of equal-size batches average to the split's mean
        validation_data=lambda: text_dataset(data()["validation"], 500, shuffle=False, length_multiple=multiple),
        test_data=lambda: data()["test"][:eval_limit] if eval_limit else data()["test"],
        epochs=int(epochs or TRAINING["epochs"]),
        steps_per_epoch=int(steps_per_epoch or TRAINING["steps_per_epoch"]),
        iwae_samples=100,
        eval_limit=eval_limit,
        callbacks=callbacks,
        metadata={
            "dataset": "Debian fortunes (keras_hvae.datasets.fortune_sentences, seed 0, 80/10/10 split)",
            "split": "train: 80% of the sentences (vocabulary built on it); validation: 10%, drives the "
                     "free-bits schedule; scores: the 10% test split (test_elbo / test_iwae on its first "
                     f"{eval_limit or 'all'} sentences, text_scores on all of it)",
            "tokenization": dict(FORTUNES),
            "model": {"class": cls_name, **kwargs},
            "training": {k: v for k, v in TRAINING.items() if k != "epochs"} | {"optimizer": "Adamax"},
            "paper": "Maaloe et al. 2019, BIVA, Appendix D / Table 7",
            "notes": "test_elbo / test_iwae are nats per sentence; text_scores hold Table 7's columns "
            "(nll bound, kl, perplexity per word incl. EOS) on the whole test split.",
        },
    )


for _name in MODELS:
    register_recipe(fortunes_recipe(_name))
