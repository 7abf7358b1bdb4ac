"""AUROC, AUPRC and FPR at 80% TPR of "low bound = anomaly", each checked
against a brute-force computation over every threshold (ties included)."""

import itertools

import numpy as np
import pytest

from keras_hvae.evaluation.anomaly import auprc, auroc, auroc_stderr, detection_metrics, fpr_at_tpr


def _brute_points(s_in, s_out):
    """(threshold, tp, fp) for every threshold t among the scores: flagged = score <= t."""
    points = []
    for t in sorted(set(s_in) | set(s_out)):
        tp = sum(1 for s in s_out if s <= t)
        fp = sum(1 for s in s_in if s <= t)
        points.append((t, tp, fp))
    return points


def brute_auroc(s_in, s_out):
    pairs = [(1.0 if o < i else 0.5 if o == i else 0.0) for i, o in itertools.product(s_in, s_out)]
    return sum(pairs) / len(pairs)


def brute_auprc(s_in, s_out):
    """Average precision: sum over thresholds of (recall - previous recall) * precision."""
    total, previous_recall = 0.0, 0.0
    for _, tp, fp in _brute_points(s_in, s_out):
        recall = tp / len(s_out)
        if tp + fp:
            total += (recall - previous_recall) * tp / (tp + fp)
        previous_recall = recall
    return total


def brute_fpr_at_tpr(s_in, s_out, rate):
    """The smallest false-positive rate among the thresholds whose TPR reaches `rate`."""
    return min(fp / len(s_in) for _, tp, fp in _brute_points(s_in, s_out) if tp / len(s_out) >= rate)


def _cases():
    rng = np.random.default_rng(0)
    cases = [
        (rng.normal(0.0, 1.0, 40), rng.normal(-1.0, 1.0, 30)),           # overlapping
        (rng.normal(5.0, 1.0, 25), rng.normal(-5.0, 1.0, 35)),           # separated
        (rng.normal(-1.0, 1.0, 30), rng.normal(0.5, 1.0, 20)),           # inverted (worse than chance)
        (rng.integers(0, 4, 50).astype(float), rng.integers(0, 3, 45).astype(float)),  # many ties
        (np.array([1.0, 2.0, 3.0]), np.array([2.0])),                    # tiny, a tie
        (np.full(7, 3.0), np.full(5, 3.0)),                               # all tied
    ]
    return cases


@pytest.mark.parametrize("case", range(len(_cases())))
def test_metrics_match_brute_force(case):
    s_in, s_out = _cases()[case]
    assert auroc(s_in, s_out) == pytest.approx(brute_auroc(list(s_in), list(s_out)), abs=1e-12)
    assert auprc(s_in, s_out) == pytest.approx(brute_auprc(list(s_in), list(s_out)), abs=1e-12)
    for rate in (0.8, 0.5, 0.95, 1.0):
        assert fpr_at_tpr(s_in, s_out, rate) == pytest.approx(brute_fpr_at_tpr(list(s_in), list(s_out), rate),
                                                             abs=1e-12)
    assert detection_metrics(s_in, s_out) == pytest.approx(
        {"auroc": auroc(s_in, s_out), "auprc": auprc(s_in, s_out), "fpr80": fpr_at_tpr(s_in, s_out, 0.8)})


def test_perfect_chance_and_reversed_detectors():
    s_in, s_out = np.arange(10.0, 20.0), np.arange(0.0, 5.0)
    assert detection_metrics(s_in, s_out) == {"auroc": 1.0, "auprc": 1.0, "fpr80": 0.0}
    reversed_ = detection_metrics(s_out, s_in)
    assert reversed_["auroc"] == 0.0 and reversed_["fpr80"] == 1.0
    tied = detection_metrics(np.zeros(30), np.zeros(10))  # no information: precision = share of positives
    assert tied["auroc"] == 0.5 and tied["auprc"] == pytest.approx(10 / 40) and tied["fpr80"] == 1.0


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="at least one in- and one out-of-distribution"):
        auprc([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        fpr_at_tpr([1.0, np.nan], [0.0])
    with pytest.raises(ValueError, match="tpr must be in"):
        fpr_at_tpr([1.0], [0.0], tpr=0.0)


def test_higher_is_anomalous_is_the_metrics_of_the_negated_scores():
    s_in, s_out = _cases()[0]
    assert detection_metrics(s_in, s_out, higher_is_anomalous=True) == detection_metrics(-s_in, -s_out)
    assert detection_metrics(-s_in, -s_out, higher_is_anomalous=True)["auroc"] == pytest.approx(
        brute_auroc(list(s_in), list(s_out)), abs=1e-12)


def test_likelihood_ratio_is_elbo_minus_the_bound_under_one_seed_and_its_metrics_match_brute_force():
    """LLR^{>k} = L - L^{>k} through the public API: per example, the model's
    own `elbo(x, seed)` minus `anomaly_score(x, k, seed=seed)` of each batch,
    and AUROC / AUPRC / FPR80 of "high ratio = anomalous" by brute force."""
    from keras_hvae.evaluation.anomaly import (
        anomaly_auroc,
        likelihood_ratio_scores,
        likelihood_ratios,
    )
    from keras_hvae.models.biva import BIVA

    model = BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[4, 2, 2], layers_per_block=1,
                                   q_dropout=0.0, p_dropout=0.0, seed=0)
    model.build()
    rng = np.random.default_rng(1)
    model.initialize((rng.uniform(size=(16, 28, 28, 1)) < 0.2).astype("float32"))
    x_in = (rng.uniform(size=(12, 28, 28, 1)) < 0.15).astype("float32")
    x_out = (rng.uniform(size=(10, 28, 28, 1)) < 0.6).astype("float32")
    llr, bounds = likelihood_ratio_scores(model, x_in, [1, 2], batch_size=5, seed=7, return_bounds=True)
    assert sorted(llr) == [1, 2] and sorted(bounds) == [0, 1, 2]
    for k in (1, 2):
        want = np.concatenate([model.elbo(x_in[i:i + 5], seed=7 + i) - model.anomaly_score(x_in[i:i + 5], k, seed=7 + i)
                               for i in range(0, 12, 5)])
        np.testing.assert_allclose(llr[k], want, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(llr[k], likelihood_ratios(bounds, [k])[k])
    metrics, scores = anomaly_auroc(model, x_in, x_out, [1, 2], batch_size=5, seed=7, metrics=True,
                                    return_scores=True, score="llr")
    for k in (1, 2):
        a, b = scores[k]
        np.testing.assert_allclose(a, llr[k])  # the same seed, the same ratios
        brute = {"auroc": brute_auroc(list(-a), list(-b)), "auprc": brute_auprc(list(-a), list(-b)),
                 "fpr80": brute_fpr_at_tpr(list(-a), list(-b), 0.8)}
        assert metrics[k] == pytest.approx(brute, abs=1e-12)
    with pytest.raises(ValueError, match="needs k >= 1"):
        likelihood_ratio_scores(model, x_in, [0])
    with pytest.raises(ValueError, match="'bound'"):
        anomaly_auroc(model, x_in, x_out, [1], score="ratio")


def _delong_brute(s_in, s_out):
    """DeLong's standard error from the full matrix of pair kernels psi(in_i, out_j)."""
    psi = (s_out[None, :] < s_in[:, None]) + 0.5 * (s_out[None, :] == s_in[:, None])
    v_in, v_out = psi.mean(axis=1), psi.mean(axis=0)
    return np.sqrt(v_in.var(ddof=1) / len(s_in) + v_out.var(ddof=1) / len(s_out))


@pytest.mark.parametrize("n_in, n_out, shift, rounding", [(7, 5, 0.5, None), (40, 90, 1.0, 0), (200, 150, 0.3, 1)])
def test_auroc_stderr_is_delongs_pairwise_formula(n_in, n_out, shift, rounding):
    rng = np.random.default_rng(n_in)
    s_in, s_out = rng.normal(shift, 1.0, n_in), rng.normal(0.0, 1.0, n_out)
    if rounding is not None:  # ties within and across the sets
        s_in, s_out = np.round(s_in, rounding), np.round(s_out, rounding)
    assert auroc_stderr(s_in, s_out) == pytest.approx(_delong_brute(s_in, s_out), rel=1e-12, abs=1e-15)


def test_auroc_stderr_matches_the_bootstrap_and_the_spread_over_draws():
    rng = np.random.default_rng(0)
    s_in, s_out = rng.normal(1.2, 1.0, 400), rng.normal(0.0, 1.3, 300)
    se = auroc_stderr(s_in, s_out)
    boot = [auroc(rng.choice(s_in, s_in.size), rng.choice(s_out, s_out.size)) for _ in range(2000)]
    assert se == pytest.approx(np.std(boot), rel=0.08)
    # the spread of the AUROC over fresh samples from the same two distributions
    fresh = [auroc(rng.normal(1.2, 1.0, 400), rng.normal(0.0, 1.3, 300)) for _ in range(2000)]
    assert se == pytest.approx(np.std(fresh), rel=0.1)


def test_auroc_stderr_edge_cases():
    assert auroc_stderr([3.0, 4.0], [1.0, 2.0]) == 0.0  # perfectly separated
    with pytest.raises(ValueError, match="at least 2 scores in each set; got 1 in-distribution"):
        auroc_stderr([1.0], [0.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        auroc_stderr([1.0, np.nan], [0.0, 2.0])
