"""AUROC, AUPRC and FPR at 80% TPR of "low bound = anomaly", each checked
against a brute-force computation over every threshold (ties included)."""

import itertools

import numpy as np
import pytest

from keras_hvae.evaluation.anomaly import auprc, auroc, detection_metrics, fpr_at_tpr


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
