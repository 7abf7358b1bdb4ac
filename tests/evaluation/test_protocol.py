"""The evaluation protocol: uniform seeded subsets (never the first N),
standard errors, `keras-hvae evaluate` / `demo` scoring exactly the drawn
examples, clear errors for impossible counts, labelled progress on stderr."""

import io
import json
import math

import numpy as np
import pytest

from keras_hvae.cli import main
from keras_hvae.evaluation.anomaly import anomaly_scores
from keras_hvae.evaluation.progress import Progress
from keras_hvae.evaluation.protocol import (protocol_indices, random_subset, score_preset_protocol,
                                            standard_error)


# ----------------------------------------------------------- random_subset
def test_subset_is_sorted_distinct_in_range_and_reproducible():
    idx = random_subset(10000, 1000, seed=0)
    assert idx.shape == (1000,) and idx.dtype == np.int64
    assert np.all(np.diff(idx) > 0) and idx[0] >= 0 and idx[-1] < 10000
    np.testing.assert_array_equal(idx, random_subset(10000, 1000, seed=0))
    assert not np.array_equal(idx, random_subset(10000, 1000, seed=1))
    assert len(set(idx) & set(random_subset(10000, 1000, seed=1))) < 250  # ~100 expected by chance


def test_subset_is_not_the_first_n_and_spans_the_split():
    idx = random_subset(10000, 1000, seed=0)
    assert not np.array_equal(idx, np.arange(1000))
    assert np.sum(idx < 1000) < 200  # ~100 of them in the first tenth
    assert idx[-1] > 9000


def test_subset_is_uniform_over_many_seeds():
    n_total, n, seeds = 1000, 100, 2000
    counts = np.zeros(n_total)
    means = []
    for seed in range(seeds):
        idx = random_subset(n_total, n, seed)
        counts[idx] += 1
        means.append(idx.mean())
    # the mean index is near the middle: sd of one index ~ 288.7, of the grand mean over 200,000 draws ~ 0.65
    assert abs(np.mean(means) - (n_total - 1) / 2) < 4.0, np.mean(means)
    # every index is drawn with probability n / n_total: 200 times expected, binomial sd ~ 13.4
    expected = seeds * n / n_total
    assert np.all(np.abs(counts - expected) < 6 * math.sqrt(expected * (1 - n / n_total))), (counts.min(), counts.max())
    # the first and the last tenth are drawn equally often
    assert abs(counts[:100].sum() - counts[-100:].sum()) < 0.05 * counts[:100].sum()


def test_subsets_of_one_seed_are_nested():
    assert set(random_subset(5000, 100, 7)) <= set(random_subset(5000, 1000, 7))


def test_asking_for_at_least_the_whole_split_gives_all_of_it():
    np.testing.assert_array_equal(random_subset(30, 30, seed=3), np.arange(30))
    np.testing.assert_array_equal(random_subset(30, 1000, seed=3), np.arange(30))


@pytest.mark.parametrize("n", [0, -5])
def test_a_non_positive_count_is_a_clear_error(n):
    with pytest.raises(ValueError, match=f"at least 1 example, got {n}"):
        random_subset(100, n, seed=0)


@pytest.mark.parametrize("seed", [None, -1, 1.5, "0"])
def test_the_seed_must_be_a_recordable_integer(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        random_subset(100, 10, seed=seed)


def test_standard_error_matches_a_brute_force_computation():
    values = np.random.default_rng(3).normal(loc=-90.0, scale=7.0, size=37)
    mean = sum(values) / len(values)
    brute = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) / math.sqrt(len(values))
    assert standard_error(values) == pytest.approx(brute, rel=1e-12)
    assert standard_error([4.0]) is None


# ------------------------------------------------ score_preset_protocol
class FakeModel:
    """Deterministic per-example bounds that identify the example: example i
    holds the value i in every entry, ELBO = -i - 10, IWAE = ELBO + 1 + i / 100.
    Records which examples each method saw."""

    num_data_dims = 4
    iwae_max_rows = 40

    def __init__(self):
        self.elbo_seen, self.iwae_seen, self.iwae_calls = [], [], []

    def elbo(self, x, seed=None):
        ids = np.asarray(x)[:, 0]
        self.elbo_seen.extend(int(i) for i in ids)
        return -ids - 10.0

    def iwae_bound(self, x, num_samples, chunk_size=None, seed=None):
        ids = np.asarray(x)[:, 0]
        self.iwae_seen.extend(int(i) for i in ids)
        self.iwae_calls.append((len(ids), num_samples, chunk_size, seed))
        return -ids - 10.0 + 1.0 + ids / 100.0

    def num_dims(self, x):
        return np.full((len(x),), self.num_data_dims)


def _split(n):
    return np.repeat(np.arange(n, dtype="float64")[:, None], 4, axis=1)


def test_protocol_scores_the_whole_split_and_the_drawn_subset_with_brute_force_errors():
    model = FakeModel()
    scores = score_preset_protocol(model, _split(300), iwae_samples=8, iwae_examples=50, seed=4)
    drawn = random_subset(300, 50, 4)
    assert sorted(model.elbo_seen) == list(range(300))
    assert model.iwae_seen == list(drawn)
    elbo = -np.arange(300) - 10.0
    iwae = -drawn - 9.0 + drawn / 100.0
    assert scores["test_elbo"] == pytest.approx(elbo.mean())
    assert scores["test_elbo_stderr"] == pytest.approx(np.std(elbo, ddof=1) / math.sqrt(300))
    t = scores["test_iwae"]
    assert (t["num_samples"], t["num_examples"], t["seed"]) == (8, 50, 4)
    assert t["value"] == pytest.approx(iwae.mean())
    assert t["stderr"] == pytest.approx(np.std(iwae, ddof=1) / math.sqrt(50))
    assert t["elbo_on_the_same_examples"] == pytest.approx((-drawn - 10.0).mean())
    assert t["gap"] == pytest.approx((1.0 + drawn / 100.0).mean())
    assert t["gap_stderr"] == pytest.approx(np.std(drawn / 100.0, ddof=1) / math.sqrt(50))
    assert scores["test_bits_per_dim"] == pytest.approx(-elbo.mean() / (4 * math.log(2)))
    assert scores["test_bits_per_dim_stderr"] == pytest.approx(scores["test_elbo_stderr"] / (4 * math.log(2)))
    p = scores["protocol"]
    assert (p["seed"], p["elbo_examples"], p["iwae_examples"], p["split_examples"]) == (4, 300, 50, 300)
    assert p["elbo_on"] == "whole split" and "random" in p["iwae_on"]
    assert "num_test_tokens" not in scores  # every example has num_data_dims
    json.dumps(scores)  # JSON-ready


def test_a_model_whose_examples_differ_in_dimensions_records_their_sum_under_its_key():
    """`scored_dims_key`: the protocol records the sum of `num_dims` over
    the examples its ELBO scored (all 300: text records its tokens so)."""
    class Varying(FakeModel):
        scored_dims_key = "num_test_tokens"

        def num_dims(self, x):
            return np.asarray(x)[:, 0].astype("int64") % 7 + 1

    scores = score_preset_protocol(Varying(), _split(300), iwae_samples=2, iwae_examples=10, seed=4)
    assert scores["num_test_tokens"] == int(sum(i % 7 + 1 for i in range(300)))


def test_protocol_with_an_elbo_limit_draws_at_random_and_nests_the_iwae_examples():
    model = FakeModel()
    scores = score_preset_protocol(model, _split(300), iwae_samples=3, iwae_examples=20, elbo_examples=60, seed=9)
    elbo_idx, iwae_idx = protocol_indices(300, 20, elbo_examples=60, seed=9)
    assert model.elbo_seen == list(random_subset(300, 60, 9)) == list(elbo_idx)
    assert model.elbo_seen != list(range(60))
    assert model.iwae_seen == list(iwae_idx) and set(iwae_idx) <= set(elbo_idx)
    assert scores["num_test_examples"] == 60 and scores["num_split_examples"] == 300


def test_protocol_batches_fill_one_pass_of_iwae_max_rows():
    model = FakeModel()  # iwae_max_rows = 40
    score_preset_protocol(model, _split(100), iwae_samples=8, iwae_examples=30, seed=0)
    assert [c[0] for c in model.iwae_calls] == [5] * 6  # 40 rows / 8 samples = 5 examples per call
    assert all(c[2] == 8 for c in model.iwae_calls)  # all k in one chunk
    assert len({c[3] for c in model.iwae_calls}) == 6  # a distinct Monte-Carlo seed per call


def test_protocol_takes_sentences_as_a_list():
    class ListModel(FakeModel):
        def elbo(self, x, seed=None):
            return super().elbo(np.array([[len(s)] for s in x], "float64"), seed)

        def iwae_bound(self, x, num_samples, chunk_size=None, seed=None):
            return super().iwae_bound(np.array([[len(s)] for s in x], "float64"), num_samples, chunk_size, seed)

    sentences = ["a" * i for i in range(40)]
    model = ListModel()
    score_preset_protocol(model, sentences, iwae_samples=2, iwae_examples=7, seed=1)
    assert model.iwae_seen == list(random_subset(40, 7, 1))


@pytest.mark.parametrize("kwargs, message", [({"iwae_examples": 0}, "iwae_examples"),
                                             ({"elbo_examples": -1}, "elbo_examples"),
                                             ({"iwae_samples": 0}, "iwae_samples"),
                                             ({"seed": -2}, "seed")])
def test_protocol_rejects_impossible_counts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        score_preset_protocol(FakeModel(), _split(10), **kwargs)


def test_protocol_on_a_real_model_is_reproducible_with_its_seed():
    from keras_hvae.models import LinearGaussianVAE

    model = LinearGaussianVAE(6, 2, seed=0)
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    a = score_preset_protocol(model, x, iwae_samples=20, iwae_examples=16, seed=3)
    b = score_preset_protocol(model, x, iwae_samples=20, iwae_examples=16, seed=3)
    assert a == b
    idx = random_subset(64, 16, 3)
    # the IWAE bound of the drawn examples, recomputed on them directly, agrees to Monte-Carlo error
    direct = np.mean(model.iwae_bound(x[idx], 20, seed=11))
    assert abs(direct - a["test_iwae"]["value"]) < 5 * a["test_iwae"]["stderr"] + 0.5


# ------------------------------------------------------------- progress
def test_progress_writes_labelled_lines_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(100, "IWAE k=1000", unit="examples", stream=stream, min_interval=3600)
    for _ in range(10):
        bar.update(10)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("IWAE k=1000: 10/100 examples [") and "ETA" in lines[0]
    assert lines[-1].startswith("IWAE k=1000: 100/100 examples [") and "ETA" not in lines[-1]
    assert len(lines) == 2  # rate-limited: the first and the last


def test_disabled_progress_writes_nothing():
    stream = io.StringIO()
    with Progress(5, "ELBO", stream=stream, enabled=False) as bar:
        bar.update(5)
    assert stream.getvalue() == ""


def test_anomaly_scores_report_progress_per_k(capsys):
    class Scorer:
        def anomaly_score(self, x, k, num_samples=1, seed=None):
            return np.full(len(x), -float(k))

    x = np.zeros((10, 3))
    out = anomaly_scores(Scorer(), x, ks=[0, 2], batch_size=4, progress=True, label="in-distribution")
    assert set(out) == {0, 2} and out[2].shape == (10,)
    err = capsys.readouterr().err
    assert "in-distribution L^{>0} (S=1): 10/10 examples" in err and "in-distribution L^{>2} (S=1): 10/10" in err
    anomaly_scores(Scorer(), x, ks=[1])
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------- the command
N_SPLIT = 48


def _digits(n, seed=0):
    return (np.random.default_rng(seed).uniform(size=(n, 28, 28, 1)) < 0.3).astype("float32")


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    from keras_hvae.models.biva import BIVA

    model = BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[4, 2], layers_per_block=1,
                                   q_dropout=0.0, p_dropout=0.0, seed=0)
    model.build()
    model.initialize(_digits(32, seed=1))
    directory = tmp_path_factory.mktemp("protocol") / "tiny_biva"
    model.save_to_preset(directory, metadata={"dataset": "binarized_mnist"})
    return directory


@pytest.fixture
def split(monkeypatch):
    """`test_inputs` gives a fixed split of 48 random digits; returns it."""
    import keras_hvae.datasets.registry as registry

    x = _digits(N_SPLIT, seed=2)
    calls = []

    def test_inputs(dataset, path=None, split="test", limit=None, seed=123):
        calls.append(limit)
        return x if limit is None else x[:limit]

    monkeypatch.setattr(registry, "test_inputs", test_inputs)
    return x, calls


@pytest.fixture
def recorded(monkeypatch):
    """Records the examples (as split indices) that each bound is computed on."""
    from keras_hvae.models.hvae import HierarchicalVAE

    seen = {"elbo": [], "iwae": [], "iwae_values": []}
    elbo, iwae = HierarchicalVAE.elbo, HierarchicalVAE.iwae_bound

    def rows(x):
        return [np.asarray(r).tobytes() for r in np.asarray(x)]

    def rec_elbo(self, x, seed=None):
        seen["elbo"].extend(rows(x))
        return elbo(self, x, seed=seed)

    def rec_iwae(self, x, num_samples, chunk_size=None, seed=None):
        seen["iwae"].extend(rows(x))
        values = iwae(self, x, num_samples, chunk_size=chunk_size, seed=seed)
        seen["iwae_values"].extend(values.tolist())
        return values

    monkeypatch.setattr(HierarchicalVAE, "elbo", rec_elbo)
    monkeypatch.setattr(HierarchicalVAE, "iwae_bound", rec_iwae)
    return seen


def _indices(x, seen_rows):
    where = {r.tobytes(): i for i, r in enumerate(x)}
    return [where[r] for r in seen_rows]


def test_evaluate_scores_the_iwae_on_exactly_the_drawn_examples(tiny_preset, split, recorded, capsys):
    x, calls = split
    assert main(["evaluate", "--preset", str(tiny_preset), "--iwae-samples", "4", "--iwae-limit", "12",
                 "--seed", "3", "--json", "--quiet"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert calls == [None]  # the whole split is loaded, never its first N
    assert _indices(x, recorded["iwae"]) == list(random_subset(N_SPLIT, 12, 3))
    assert _indices(x, recorded["iwae"]) != list(range(12))
    assert sorted(_indices(x, recorded["elbo"])) == list(range(N_SPLIT))  # ELBO: the whole split
    t = scores["test_iwae"]
    assert t["value"] == pytest.approx(np.mean(recorded["iwae_values"]), rel=1e-6)
    assert t["stderr"] == pytest.approx(np.std(recorded["iwae_values"], ddof=1) / math.sqrt(12), rel=1e-6)
    assert (t["num_samples"], t["num_examples"], t["seed"]) == (4, 12, 3)
    assert scores["num_test_examples"] == N_SPLIT and scores["test_elbo_stderr"] > 0
    assert scores["protocol"]["seed"] == 3 and scores["protocol"]["iwae_examples"] == 12


def test_evaluate_limit_draws_the_elbo_examples_at_random(tiny_preset, split, recorded, capsys):
    x, _ = split
    assert main(["evaluate", "--preset", str(tiny_preset), "--iwae-samples", "2", "--iwae-limit", "5",
                 "--limit", "20", "--json", "--quiet"]) == 0
    scores = json.loads(capsys.readouterr().out)
    elbo_idx = _indices(x, recorded["elbo"])
    assert elbo_idx == list(random_subset(N_SPLIT, 20, 0)) and elbo_idx != list(range(20))
    assert set(_indices(x, recorded["iwae"])) <= set(elbo_idx)
    assert scores["num_test_examples"] == 20 and scores["test_iwae"]["num_examples"] == 5


def test_evaluate_prints_the_protocol_with_standard_errors(tiny_preset, split, capsys):
    assert main(["evaluate", "--preset", str(tiny_preset), "--iwae-samples", "3", "--iwae-limit", "10",
                 "--seed", "5"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert f"ELBO (1 posterior sample) on the whole split ({N_SPLIT} examples)" in out
    assert f"IWAE k=3 on 10 of {N_SPLIT} examples drawn uniformly at random (seed 5)" in out
    assert "± s.e." in out and "ELBO on the IWAE examples" in out and "IWAE - ELBO (same examples)" in out
    # progress on stderr, labelled
    err = captured.err
    assert f"ELBO: {N_SPLIT}/{N_SPLIT} examples" in err and "IWAE k=3: 10/10 examples" in err
    assert "Evaluating" in err and "seed 5" in err
    # the plan comes with a forecast of the time, before the work starts
    assert "Expected time: about" in err and err.index("Expected time") < err.index("ELBO: ")


def test_evaluate_quiet_prints_no_progress(tiny_preset, split, capsys):
    assert main(["evaluate", "--preset", str(tiny_preset), "--iwae-samples", "2", "--iwae-limit", "4",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "IWAE k=" not in err and "ELBO:" not in err and "Evaluating" not in err


@pytest.mark.parametrize("option, value", [("--limit", "0"), ("--limit", "-3"), ("--iwae-limit", "0"),
                                           ("--iwae-samples", "0"), ("--seed", "-1")])
def test_evaluate_rejects_impossible_counts_with_one_line(tiny_preset, split, option, value, capsys):
    assert main(["evaluate", "--preset", str(tiny_preset), option, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-hvae evaluate: error:") and option in err[0], err


def test_demo_uses_the_protocol(tiny_preset, split, recorded, tmp_path, capsys):
    x, _ = split
    out = tmp_path / "demo"
    assert main(["demo", "--preset", str(tiny_preset), "--data", str(tmp_path), "--out", str(out), "--limit", "20",
                 "--iwae-limit", "6", "--iwae-samples", "2", "--seed", "1"]) == 0
    measured = json.loads((out / "demo_scores.json").read_text())[str(tiny_preset)]["measured_now"]
    assert measured["test_iwae"]["seed"] == 1 and measured["test_iwae"]["num_examples"] == 6
    assert measured["num_test_examples"] == 20
    _, iwae_idx = protocol_indices(N_SPLIT, 6, elbo_examples=20, seed=1)
    assert _indices(x, recorded["iwae"]) == list(iwae_idx)
    captured = capsys.readouterr()
    assert "IWAE k=2: 6/6 examples" in captured.err and "seed 1" in captured.out


def test_a_recipe_records_the_protocol_in_its_metadata(tmp_path):
    import dataclasses

    from keras_hvae.training.recipes import run_recipe
    from tests.applications.test_training_recipes import tiny_recipe

    recipe = dataclasses.replace(tiny_recipe(), iwae_limit=10, eval_seed=5, epochs=1)
    preset_dir, _ = run_recipe(recipe, tmp_path / "run", verbose=0)
    scores = json.loads((preset_dir / "metadata.json").read_text())["scores"]
    t = scores["test_iwae"]
    assert (t["num_examples"], t["seed"], t["num_samples"]) == (10, 5, 20)
    assert t["stderr"] > 0 and scores["test_elbo_stderr"] > 0 and t["elbo_on_the_same_examples_stderr"] > 0
    assert scores["num_test_examples"] == 64 and scores["protocol"]["seed"] == 5


def test_the_time_forecast_scales_with_the_work(tiny_preset, split):
    from keras_hvae.evaluation.protocol import estimate_protocol_seconds, format_duration
    from keras_hvae.utils.presets import load_preset

    x, _ = split
    model = load_preset(str(tiny_preset))
    plan = estimate_protocol_seconds(model, x, iwae_samples=10, iwae_examples=5, probe_examples=8)
    assert plan["elbo_examples"] == N_SPLIT and plan["iwae_examples"] == 5
    assert plan["seconds_per_row"] > 0
    assert plan["iwae_seconds"] == pytest.approx(plan["seconds_per_row"] * 5 * 10)
    assert plan["seconds"] == pytest.approx(plan["elbo_seconds"] + plan["iwae_seconds"])
    assert [format_duration(s) for s in (3, 600, 7200)] == ["3 s", "10 min", "2.0 h"]
