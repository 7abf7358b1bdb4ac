"""Training: the free-bits objective with a variable lambda, the plateau
callback, warm-up, and a short run on real sentences (fortunes)."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.models.text import ReduceFreeBitsOnPlateau, text_dataset
from keras_hvae.models.objective import free_bits_kl
from tests.models.text.conftest import tiny_biva_lstm, tiny_rnn_vae


def test_free_bits_with_a_variable_lambda_gives_max_of_lambda_and_kl():
    kl = [np.array([1.0, 3.0], "float32"), np.array([5.0, 7.0], "float32")]
    lam = keras.Variable(4.0, trainable=False)
    total, _ = free_bits_kl([ops.convert_to_tensor(k) for k in kl], lam)
    assert float(total) == pytest.approx(4.0 + 6.0)  # max(4, 2) + max(4, 6)


class _FakeModel:
    def __init__(self, lam):
        self.free_bits_variable = keras.Variable(lam, trainable=False)


def test_plateau_callback_lowers_lambda():
    cb = ReduceFreeBitsOnPlateau(monitor="val_loss", factor=0.5, patience=2, zero_below=0.5)
    cb.set_model(_FakeModel(2.0))
    lams = []
    for value in [10.0, 9.0, 9.5, 9.2, 8.0, 8.5, 8.1, 8.2, 8.3, 8.4]:
        cb.on_epoch_end(len(lams), {"val_loss": value})
        lams.append(float(ops.convert_to_numpy(cb.model.free_bits_variable)))
    # two epochs without improvement halve lambda (epochs 3, 6, 8); a value
    # below zero_below becomes the floor 0, where it stays.
    assert lams == [2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.0, 0.0]
    assert [h[0] for h in cb.history] == [3, 6, 8]
    elbo_cb = ReduceFreeBitsOnPlateau(monitor="val_elbo", patience=1)
    assert elbo_cb._maximize


@pytest.mark.backend_suite
def test_lambda_is_lowered_during_fit_without_retracing(vocab, sentences):
    """The compiled train step reads lambda from the variable: the
    `free_bits` logged by the train step is the value the callback set at
    the end of the previous epoch."""
    model = tiny_biva_lstm(vocab, free_bits_budget=20.0)  # 4 nats per latent variable (2L - 1 = 5)
    model.compile(optimizer=keras.optimizers.Adamax(1e-3))
    ids = model.tokenize(sentences * 4)
    cb = ReduceFreeBitsOnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9)
    history = model.fit(text_dataset(ids, batch_size=8, shuffle=False), epochs=3, callbacks=[cb], verbose=0)
    assert history.history["free_bits"] == pytest.approx([4.0, 4.0, 2.0])
    assert model.current_free_bits == pytest.approx(1.0)
    # with lambda above every variable's KL the loss is recon + (2L - 1) * lambda
    model.free_bits_variable.assign(100.0)
    loss, logs = model.compute_objective(ops.convert_to_tensor(ids[:8]), training=True)
    assert float(loss) == pytest.approx(float(logs["reconstruction"]) + 5 * 100.0, rel=1e-5)


def test_rnn_vae_kl_warmup(vocab, sentences):
    model = tiny_rnn_vae(vocab, kl_warmup_steps=100)
    model.compile(optimizer=keras.optimizers.Adamax(1e-3))
    ids = ops.convert_to_tensor(model.tokenize(sentences))
    loss, logs = model.compute_objective(ids, training=True)  # step 0: no KL in the loss
    assert float(loss) == pytest.approx(float(logs["reconstruction"]), rel=1e-6)
    loss, logs = model.compute_objective(ids, training=False)
    assert float(loss) == pytest.approx(-float(logs["elbo"]), rel=1e-6)


def _fortunes_or_skip():
    from keras_hvae.datasets.fortunes import FORTUNE_DIR

    if not FORTUNE_DIR.is_dir() and not os.environ.get("CI"):
        pytest.skip(f"fortunes not installed ({FORTUNE_DIR} missing; apt-get install fortunes fortunes-min)")
    from keras_hvae.datasets.fortunes import fortune_sentences

    return fortune_sentences(max_words=12, seed=0)


def test_loss_decreases_on_real_sentences():
    from keras_hvae.models.text import text_splits

    splits = _fortunes_or_skip()
    splits = {"train": splits["train"][:1500], "validation": splits["validation"][:200], "test": []}
    data = text_splits(splits, max_tokens=600, max_length=14, standardize="lower_and_split_punctuation", oov="unk")
    model = tiny_biva_lstm(data["vocabulary"], filters=16, lstm_units=32, embedding_dim=16, free_bits_budget=3.0)
    model.compile(optimizer=keras.optimizers.Adamax(3e-3))
    before = model.evaluate_text(data["validation"])
    model.fit(text_dataset(data["train"], batch_size=32, length_multiple=4), epochs=2, verbose=0)
    after = model.evaluate_text(data["validation"])
    assert after["nll"] < before["nll"] - 5.0, (before, after)
    assert after["perplexity"] < before["perplexity"]
