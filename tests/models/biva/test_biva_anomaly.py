"""The L^{>k} bound (Eq. 3) and the AUROC / histogram helpers."""

import keras
import numpy as np
import pytest

from keras_hvae.evaluation import anomaly_auroc, auroc, plot_anomaly_histograms


def brute_force_auroc(scores_in, scores_out):
    total = 0.0
    for a in scores_in:
        for b in scores_out:
            total += 1.0 if b < a else 0.5 if b == a else 0.0
    return total / (len(scores_in) * len(scores_out))


def test_auroc_rank_formula_matches_pairwise_count():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n, m = rng.integers(1, 30, size=2)
        s_in = rng.normal(size=n).round(trial % 3)  # rounding makes ties
        s_out = (rng.normal(size=m) - 0.5).round(trial % 3)
        assert auroc(s_in, s_out) == pytest.approx(brute_force_auroc(s_in, s_out), abs=1e-12)
    assert auroc([5.0, 6.0], [1.0, 2.0]) == 1.0
    assert auroc([1.0, 2.0], [5.0, 6.0]) == 0.0
    assert auroc([1.0, 1.0], [1.0]) == 0.5
    with pytest.raises(ValueError):
        auroc([], [1.0])


def test_lower_bound_zero_is_the_elbo(tiny_model, random_binary):
    x = random_binary
    np.testing.assert_allclose(tiny_model.anomaly_score(x, 0, seed=9), tiny_model.elbo(x, seed=9), rtol=1e-6, atol=1e-4)
    k_all = tiny_model.num_layers
    scores = tiny_model.anomaly_score(x, k_all, num_samples=3, seed=1)
    assert scores.shape == (len(x),) and np.all(np.isfinite(scores))
    with pytest.raises(ValueError, match="k must be in"):
        tiny_model.anomaly_score(x, k_all + 1)


def test_importance_weighted_bound_is_tighter_on_average(tiny_model, random_binary):
    # A posterior far from the prior (the posterior heads' gains x 20) makes
    # the log-weights vary, so the importance-weighted gain is well above the
    # Monte-Carlo error of the single-sample mean.
    x = np.repeat(random_binary[:4], 32, axis=0)
    heads = [tiny_model.q_top_head] + list(tiny_model.q_td_heads) + list(tiny_model.q_bu_heads)
    saved = [keras.ops.convert_to_numpy(h.g) for h in heads]
    try:
        for h, g in zip(heads, saved):
            h.g.assign(g * 20.0)
        one = tiny_model.anomaly_score(x, 1, seed=0)
        many = tiny_model.anomaly_score(x, 1, num_samples=32, chunk_size=8, seed=0)
    finally:
        for h, g in zip(heads, saved):
            h.g.assign(g)
    assert many.mean() - one.mean() > 4 * one.std() / np.sqrt(len(one))


def test_anomaly_auroc_and_histograms(tiny_model, random_binary, tmp_path):
    rng = np.random.default_rng(3)
    x_out = (rng.uniform(size=(6, 28, 28, 1)) < 0.7).astype("float32")
    result, scores = anomaly_auroc(tiny_model, random_binary, x_out, ks=[0, 2], batch_size=4, seed=0, return_scores=True)
    assert set(result) == {0, 2} and all(0.0 <= v <= 1.0 for v in result.values())
    assert scores[0][0].shape == (8,) and scores[0][1].shape == (6,)
    path = plot_anomaly_histograms({k: s[0] for k, s in scores.items()}, {k: s[1] for k, s in scores.items()}, tmp_path / "h.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    single = plot_anomaly_histograms(scores[0][0], scores[0][1], tmp_path / "single.png", title="k = 0")
    assert single.stat().st_size > 1000


def test_importance_weighted_scores_keep_every_pass_within_iwae_max_rows(tiny_model, random_binary, monkeypatch):
    """S far above `iwae_max_rows` / batch (the 21 GB that `keras-hvae anomaly --num-samples 1000` took on
    64-example batches): the samples run in chunks and the examples in slices, each pass within the cap."""
    rows = []
    original = tiny_model._anomaly_terms

    def recording(x, k, gen):
        rows.append(int(x.shape[0]))
        return original(x, k, gen)

    monkeypatch.setattr(tiny_model, "iwae_max_rows", 12)
    monkeypatch.setattr(tiny_model, "_anomaly_terms", recording)
    scores = tiny_model.anomaly_score(random_binary, 1, num_samples=30, seed=0)
    assert scores.shape == (len(random_binary),) and np.all(np.isfinite(scores))
    assert rows and max(rows) <= 12, rows


def test_importance_sampled_chunks_and_slices_combine_to_the_log_mean_exp(tiny_model, monkeypatch):
    """The chunked, sliced log-mean-exp against its closed form: with log-weights log w = c(x) + j for
    sample j of every chunk, each chunk's logsumexp is known, and so is the whole."""
    x = keras.ops.convert_to_tensor(np.arange(5, dtype="float32").reshape(5, 1) / 2)
    for cap, chunk in [(10000, None), (7, None), (12, 4), (3, 1)]:
        monkeypatch.setattr(tiny_model, "iwae_max_rows", cap)
        got = tiny_model.importance_sampled(
            x, 10, lambda x, s: x[:, 0] + keras.ops.log(keras.ops.sum(keras.ops.exp(keras.ops.arange(s, dtype="float32")))),
            f"closed_form_{cap}", chunk_size=chunk)
        width = chunk or min(10, cap)
        chunks = [min(width, 10 - d) for d in range(0, 10, width)]
        expected = np.arange(5) / 2 + np.log(sum(np.exp(np.arange(s)).sum() for s in chunks) / 10)
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=str((cap, chunk)))


def test_a_long_histogram_title_wraps_onto_a_taller_figure_instead_of_running_off_it(tmp_path):
    import struct

    a, b = np.random.default_rng(0).normal(size=(2, 50))

    def size(path):
        return struct.unpack(">II", open(path, "rb").read(24)[16:24])  # the PNG's IHDR width, height

    short = size(plot_anomaly_histograms(a, b, tmp_path / "short.png", title="k = 0"))
    long = size(plot_anomaly_histograms(a, b, tmp_path / "long.png", title="preset: " + "a long dataset name " * 6))
    assert long[0] == short[0] and long[1] >= short[1] + 3 * 20, (short, long)  # three more lines, 0.25 in each
