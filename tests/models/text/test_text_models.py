"""BIVA+LSTM, the non-autoregressive text BIVA and the baselines: padding,
masking, generation; round trips and export through the HVAE contract."""

import numpy as np
import pytest

from keras_hvae.models.text import BIVALSTM
from keras_hvae.datasets.vocabulary import EOS_ID, PAD_ID
from tests.hvae_test_case import run_hvae_contract
from tests.models.text.conftest import BUILDERS, tiny_biva_lstm


@pytest.mark.backend_suite
@pytest.mark.parametrize("kind", ["biva_lstm", "rnn_vae"])
def test_padded_and_unpadded_sentences_have_the_same_bound(kind, vocab, sentences):
    """Strings are padded to the batch's longest sentence; the same batch
    padded to the model's full length gives the same seeded bounds, and a
    sentence alone (its own length) the same bound as in the batch."""
    model = BUILDERS[kind](vocab)
    model.initialize(model.tokenize(sentences))
    short = model.elbo(sentences, seed=3)
    full_ids = model.tokenize(sentences, pad_to=model.sequence_length)
    assert full_ids.shape[1] == model.sequence_length > model.tokenize(sentences[:3]).shape[1]
    np.testing.assert_allclose(model.elbo(full_ids, seed=3), short, rtol=1e-4, atol=1e-3)
    # a sentence alone, at its own length: the same posterior means as in the batch
    batch_codes, alone_codes = model.encode(full_ids), model.encode([sentences[2]])
    for alone, batch in zip(alone_codes, batch_codes):
        if alone.ndim == 4:  # (1, 1, T_level, C): compare the positions the short row has
            alone, batch = alone[..., : alone.shape[2], :], batch[..., : alone.shape[2], :]
        np.testing.assert_allclose(alone[0], batch[2], atol=1e-4)


@pytest.mark.parametrize("kind", ["biva_lstm", "biva_text", "rnn_vae", "lstm_lm"])
def test_tokens_after_the_end_do_not_change_the_bound(kind, vocab, sentences):
    model = BUILDERS[kind](vocab)
    ids = model.tokenize(sentences, pad_to=model.sequence_length)
    changed = ids.copy()
    rng = np.random.default_rng(0)
    for row in changed:
        end = int(np.argmax(row == EOS_ID))
        row[end + 1 :] = rng.integers(4, vocab.size, size=len(row) - end - 1)
    assert (changed != ids).any()
    np.testing.assert_allclose(model.elbo(changed, seed=5), model.elbo(ids, seed=5), rtol=1e-5, atol=1e-4)


@pytest.mark.backend_suite
@pytest.mark.parametrize("kind", ["biva_lstm", "biva_text", "rnn_vae", "lstm_lm"])
def test_generation_returns_vocabulary_words_only(kind, vocab):
    model = BUILDERS[kind](vocab)
    samples = model.generate(4, seed=0)
    assert len(samples) == 4 and all(isinstance(s, str) for s in samples)
    words = {w for s in samples for w in s.split()}
    assert words <= set(vocab.words), words - set(vocab.words)
    assert model.generate(4, seed=0) == samples
    ids = model.sample(4, seed=1)
    assert ids.shape == (4, model.sequence_length) and not np.isin(ids, [0, 1, 2]).any()


def test_uses_of_a_latent_text_model(vocab, sentences):
    model = tiny_biva_lstm(vocab)
    rec = model.reconstruct(sentences[:2])
    path = model.interpolate(sentences[0], sentences[1], num_steps=4)
    assert len(rec) == 2 and len(path) == 4
    assert all(set(s.split()) <= set(vocab.words) for s in rec + path)
    scores = model.evaluate_text(sentences, batch_size=4)
    assert scores["nll"] > scores["kl"] > 0 and len(scores["kl_per_layer"]) == 3
    assert scores["num_words"] == sum(len(s.split()) + 1 for s in sentences)
    assert np.isclose(np.log(scores["perplexity"]), scores["nats_per_word"])
    assert model.iwae_bound(sentences[:2], num_samples=3).shape == (2,)
    with pytest.raises(ValueError, match="at most 14 words"):
        model.elbo([" ".join(["the"] * 20)])
    with pytest.raises(ValueError, match="list of sentences"):
        model.elbo("the cat")


def test_free_bits_budget_is_spread_over_the_latent_variables(vocab):
    model = tiny_biva_lstm(vocab, free_bits_budget=30.0)  # L = 3: z^BU_1, z^TD_1, z^BU_2, z^TD_2, z_3
    assert model.free_bits == 6.0 and model.current_free_bits == 6.0
    assert tiny_biva_lstm(vocab, free_bits_budget=30.0, bottom_up_latents=False).free_bits == 10.0
    assert BUILDERS["rnn_vae"](vocab, free_bits_budget=30.0).free_bits == 30.0


def test_text_biva_free_bits_act_per_latent_variable(vocab, sentences):
    """lambda above every variable's KL: per variable the loss pays
    (2L - 1) lambda, per level it would pay L lambda."""
    import numpy as np
    from keras import ops

    from tests.hvae_test_case import record_objective

    model = tiny_biva_lstm(vocab, free_bits_budget=30.0)
    x = ops.convert_to_tensor(model.tokenize(sentences))
    model.initialize(x)

    def means(terms, key):
        return [float(np.mean(ops.convert_to_numpy(k))) for k in terms[key]]

    def above_all(terms):
        return 1.0 + max(means(terms, "free_bits_groups"))

    loss, _, terms = record_objective(model, x, above_all)
    L = model.num_layers
    assert len(terms["free_bits_groups"]) == 2 * L - 1 and len(terms["kl"]) == L
    recon = -float(np.mean(ops.convert_to_numpy(terms["log_px"])))
    lam = above_all(terms)
    assert loss == pytest.approx(recon + (2 * L - 1) * lam, rel=1e-5, abs=1e-3)
    assert abs(loss - (recon + L * lam)) > 1.0  # tells per variable from per level


@pytest.mark.parametrize(
    "kind",
    [pytest.param("biva_lstm", marks=pytest.mark.backend_suite), "biva_text",
     pytest.param("rnn_vae", marks=pytest.mark.backend_suite), "lstm_lm"],
)
def test_hvae_contract(kind, vocab, sentences, tmp_path):
    """Sentences in, ids out: the HVAE contract (forward terms, bounds,
    config / `.keras` / preset / SavedModel round trips, seeded sampling)."""
    model = BUILDERS[kind](vocab, free_bits=1.5)
    model.initialize(model.tokenize(sentences))
    model.free_bits_variable.assign(0.75)  # a weight: the round trips keep it
    endpoints = ["elbo", "sample"] + (["encode"] if model.latent_layer_names else [])
    results = run_hvae_contract(model, sentences, tmp_path, endpoints=endpoints)
    for loaded in (results["config"], results["keras_file"], results["preset"]):
        assert loaded.vocabulary == vocab and loaded.free_bits == 1.5 and loaded.current_free_bits == 0.75
    assert (tmp_path / "{}_preset".format(type(model).__name__.lower()) / "assets" / "vocabulary.txt").read_text().split() == vocab.words


def test_preset_asset_is_checked(vocab, tmp_path):
    from keras_hvae.utils.presets import PresetError

    model = tiny_biva_lstm(vocab)
    model.save_to_preset(tmp_path)
    (tmp_path / "assets" / "vocabulary.txt").write_text("just\nthree\nwords\n")
    with pytest.raises(PresetError, match="tokens"):
        BIVALSTM.from_preset(tmp_path)


def test_biva_lstm_is_biva_over_positions(vocab):
    model = tiny_biva_lstm(vocab)
    assert model.sequence_length == 16 and model.length_multiple == 4
    assert model.resolutions == [((1, 16), (1, 16)), ((1, 16), (1, 8)), ((1, 8), (1, 4))]
    assert model.kernel_sizes == [(1, 3)] * 3 and model.latent_shape(2) == (1, 4, 2)
    assert model.variant == "biva"
    lvae = tiny_biva_lstm(vocab, bottom_up_latents=False, deterministic_top_down=False)
    assert lvae.variant == "lvae"
    assert lvae.elbo(["the cat sat ."]).shape == (1,)
    with pytest.raises(ValueError, match="along the sequence"):
        tiny_biva_lstm(vocab, strides=[(2, 1), 1, 1])


def test_ids_are_validated(vocab):
    model = tiny_biva_lstm(vocab)
    with pytest.raises(ValueError, match=r"\[0, "):
        model.elbo(np.array([[vocab.size, EOS_ID]]))
    with pytest.raises(ValueError, match="shape"):
        model.elbo(np.array([4, 5, EOS_ID]))
    ids = np.array([[4, 5, EOS_ID] + [PAD_ID] * 30])  # longer than T, only padding beyond
    assert model.elbo(ids).shape == (1,)
