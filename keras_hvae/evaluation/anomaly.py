"""Anomaly detection with likelihood bounds: AUROC, AUPRC, FPR80 and score histograms.

The models score how *typical* an input is (a bound on log p(x), higher =
more typical); an anomaly detector flags low scores. `auroc` is the
probability that a random out-of-distribution example gets a lower score
than a random in-distribution one (ties count one half), computed with the
Mann-Whitney rank formula. `auprc` (average precision) and `fpr_at_tpr`
(e.g. FPR80, the false-positive rate at 80% true-positive rate) take the
out-of-distribution examples as the positive class and flag an example when
its score is at or below a threshold, as in Havtorn et al. (ICML 2021).
`detection_metrics` gives all three (`higher_is_anomalous=True` for a score
that is high on anomalies, such as the likelihood ratio); `auroc_stderr` is
the AUROC's standard error (DeLong et al., 1988).

The scores: BIVA's bound L^{>k} (`anomaly_scores`; the k bottom latent
levels drawn from the prior, L^{>0} = the ELBO), low on anomalies, and the
likelihood ratio LLR^{>k} = L - L^{>k} of Havtorn et al. (2021),
"Hierarchical VAEs Know What They Don't Know" (`likelihood_ratio_scores`):
the part of the bound that only the k bottom levels explain. In-distribution
inputs are explained by the upper levels too, so L^{>k} stays close to L;
an out-of-distribution input is explained by low-level statistics, so its
L^{>k} falls far below L: LLR^{>k} is high on anomalies.
"""

import textwrap

import numpy as np


def _average_ranks(values):
    """1-based ranks of `values`, ties sharing their average rank."""
    values = np.asarray(values, "float64")
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), "float64")
    start = 0
    n = len(values)
    while start < n:
        stop = start + 1
        while stop < n and sorted_values[stop] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop]] = 0.5 * (start + 1 + stop)
        start = stop
    return ranks


def auroc(scores_in, scores_out):
    """Area under the ROC curve of "low score = anomaly".

    Args:
        scores_in: scores of in-distribution examples (e.g. L^{>k} in nats).
        scores_out: scores of out-of-distribution examples.

    Returns:
        float in [0, 1]: P(score_out < score_in) + 0.5 P(score_out == score_in);
        1 means every anomaly scores below every normal example.

    Example:
    >>> auroc([3.0, 4.0], [1.0, 2.0])
    1.0
    """
    s_in, s_out = _checked_pair(scores_in, scores_out, "auroc")
    # Anomaly scores are the negated bounds: rank them jointly.
    ranks = _average_ranks(np.concatenate([-s_in, -s_out]))
    n_in, n_out = s_in.size, s_out.size
    rank_sum_out = ranks[n_in:].sum()
    u = rank_sum_out - n_out * (n_out + 1) / 2.0
    return float(u / (n_in * n_out))


def auroc_stderr(scores_in, scores_out):
    """Standard error of `auroc` (DeLong, DeLong and Clarke-Pearson, 1988).

    The AUROC is the mean of psi(in_i, out_j) over all pairs (1 when the
    out-of-distribution score is the lower, 1/2 on a tie). DeLong's variance
    is var(V_in) / n_in + var(V_out) / n_out, with V_in_i the mean of psi
    over the out-of-distribution examples for in-distribution example i and
    V_out_j its mean over the in-distribution examples for example j: the
    sampling error of both sets, without resampling. It agrees with the
    bootstrap standard error to within a few percent for a few hundred
    examples per set (tested).

    Args:
        scores_in: scores of in-distribution examples (at least 2).
        scores_out: scores of out-of-distribution examples (at least 2).

    Returns:
        float >= 0; 0 when the sets are perfectly separated.

    Example:
    >>> round(auroc_stderr([3.0, 4.0, 1.5], [1.0, 2.0, 0.5]), 4)
    0.1571
    """
    s_in, s_out = _checked_pair(scores_in, scores_out, "auroc_stderr")
    if s_in.size < 2 or s_out.size < 2:
        raise ValueError(f"auroc_stderr needs at least 2 scores in each set; got {s_in.size} in-distribution "
                         f"and {s_out.size} out-of-distribution.")
    sorted_in, sorted_out = np.sort(s_in), np.sort(s_out)

    def placements(values, others):
        # per value: the share of `others` strictly below it plus half of those equal to it
        below = np.searchsorted(others, values, side="left")
        at_or_below = np.searchsorted(others, values, side="right")
        return (below + 0.5 * (at_or_below - below)) / others.size

    v_in = placements(s_in, sorted_out)  # out-of-distribution scores below each in-distribution score
    v_out = 1.0 - placements(s_out, sorted_in)  # in-distribution scores above each out-of-distribution one
    variance = np.var(v_in, ddof=1) / s_in.size + np.var(v_out, ddof=1) / s_out.size
    return float(np.sqrt(max(variance, 0.0)))


def _checked_pair(scores_in, scores_out, what):
    s_in = np.asarray(scores_in, "float64").ravel()
    s_out = np.asarray(scores_out, "float64").ravel()
    if s_in.size == 0 or s_out.size == 0:
        raise ValueError(f"{what} needs at least one in- and one out-of-distribution score.")
    if not (np.all(np.isfinite(s_in)) and np.all(np.isfinite(s_out))):
        raise ValueError(f"{what} expects finite scores.")
    return s_in, s_out


def _operating_points(s_in, s_out):
    """`(tpr, fpr, precision)` at every distinct threshold t, from the most
    anomalous (lowest) score up: an example is flagged when its score <= t;
    positive = out-of-distribution."""
    thresholds = np.unique(np.concatenate([s_in, s_out]))  # ascending: flagged sets grow
    flagged_out = np.searchsorted(np.sort(s_out), thresholds, side="right").astype("float64")
    flagged_in = np.searchsorted(np.sort(s_in), thresholds, side="right").astype("float64")
    tpr = flagged_out / s_out.size
    fpr = flagged_in / s_in.size
    precision = flagged_out / (flagged_out + flagged_in)
    return tpr, fpr, precision


def auprc(scores_in, scores_out):
    """Area under the precision-recall curve (average precision) of
    "low score = anomaly", out-of-distribution examples being the positives.

    Average precision: the sum over thresholds of (recall gained) x
    (precision there), thresholds at every distinct score (ties flagged
    together), as scikit-learn's `average_precision_score` computes it.
    A random detector scores about the fraction of positives,
    `n_out / (n_in + n_out)`; a perfect one 1.

    Example:
    >>> auprc([3.0, 4.0], [1.0, 2.0])
    1.0
    """
    s_in, s_out = _checked_pair(scores_in, scores_out, "auprc")
    tpr, _, precision = _operating_points(s_in, s_out)
    recall_gain = np.diff(np.concatenate([[0.0], tpr]))
    return float(np.sum(recall_gain * precision))


def fpr_at_tpr(scores_in, scores_out, tpr=0.8):
    """False-positive rate at a true-positive rate of (at least) `tpr`
    (FPR80 for the default), out-of-distribution examples being the
    positives and low scores flagged.

    The fraction of in-distribution examples flagged by the strictest
    threshold that flags at least `tpr` of the out-of-distribution ones
    (lower is better; 0 for a perfect detector).

    Example:
    >>> fpr_at_tpr([3.0, 4.0, 0.5], [1.0, 2.0])
    0.3333333333333333
    """
    s_in, s_out = _checked_pair(scores_in, scores_out, "fpr_at_tpr")
    if not 0.0 < float(tpr) <= 1.0:
        raise ValueError(f"tpr must be in (0, 1], got {tpr}.")
    rates, fpr, _ = _operating_points(s_in, s_out)
    reached = rates >= float(tpr) - 1e-12
    return float(fpr[np.argmax(reached)])  # the first (strictest) threshold reaching it


def detection_metrics(scores_in, scores_out, higher_is_anomalous=False):
    """`{"auroc", "auprc", "fpr80"}` of "low score = anomaly" (see `auroc`,
    `auprc`, `fpr_at_tpr`), out-of-distribution examples being the positives.

    Args:
        scores_in: scores of in-distribution examples.
        scores_out: scores of out-of-distribution examples.
        higher_is_anomalous: the score is high on anomalies (the likelihood
            ratio LLR^{>k}): the metrics of "high score = anomaly", i.e. of
            the negated scores.

    Returns:
        dict of floats: `auroc`, `auprc` (average precision) and `fpr80`
        (the false-positive rate at 80% true-positive rate).

    Example:
    >>> detection_metrics([3.0, 4.0], [1.0, 2.0])
    {'auroc': 1.0, 'auprc': 1.0, 'fpr80': 0.0}
    >>> detection_metrics([1.0, 2.0], [3.0, 4.0], higher_is_anomalous=True)
    {'auroc': 1.0, 'auprc': 1.0, 'fpr80': 0.0}
    """
    if higher_is_anomalous:
        scores_in, scores_out = -np.asarray(scores_in, "float64"), -np.asarray(scores_out, "float64")
    return {"auroc": auroc(scores_in, scores_out), "auprc": auprc(scores_in, scores_out),
            "fpr80": fpr_at_tpr(scores_in, scores_out, 0.8)}


def _batched_scores(model, x, k, num_samples, batch_size, seed, bar=None):
    scores = []
    for start in range(0, len(x), batch_size):
        chunk_seed = None if seed is None else int(seed) + start
        scores.append(model.anomaly_score(x[start:start + batch_size], k, num_samples=num_samples, seed=chunk_seed))
        if bar is not None:
            bar.update(len(scores[-1]))
    return np.concatenate(scores)


def anomaly_scores(model, x, ks, num_samples=1, batch_size=64, seed=None, progress=False, label=""):
    """`{k: model.anomaly_score(x, k, num_samples)}` computed in batches.

    Args:
        model: a model with `anomaly_score(x, k, num_samples, seed)` (BIVA).
        x: the examples.
        ks: the values of k.
        num_samples: importance samples per example (L^{>k}_S).
        batch_size: examples per call.
        seed: int seed (batch starting at example i uses `seed + i`).
        progress: write a labelled progress line per k on stderr
            (``L^{>2} (S=1): 128/500 examples [...]``;
            `keras_hvae.evaluation.progress.Progress`).
        label: prefix of the progress labels (e.g. "in-distribution").

    Returns:
        dict from k to a numpy array `(len(x),)` of bounds in nats.
    """
    from keras_hvae.utils.progress import Progress

    x = np.asarray(x)
    prefix = f"{label} " if label else ""
    out = {}
    for k in ks:
        with Progress(len(x), f"{prefix}L^{{>{int(k)}}} (S={num_samples})", unit="examples",
                      enabled=progress) as bar:
            out[int(k)] = _batched_scores(model, x, int(k), num_samples, int(batch_size), seed, bar)
    return out


def check_likelihood_ratio_levels(ks):
    """The levels k of LLR^{>k} as ints, each >= 1.

    Raises:
        ValueError: for k = 0 (LLR^{>0} = L - L^{>0} is 0 for every example).
    """
    ks = [int(k) for k in ks]
    if any(k < 1 for k in ks):
        raise ValueError(f"the likelihood ratio LLR^{{>k}} = L - L^{{>k}} needs k >= 1 (LLR^{{>0}} is 0 for every "
                         f"example); got k = {min(ks)}.")
    return ks


def likelihood_ratios(bounds, ks):
    """`{k: LLR^{>k}}` = `bounds[0] - bounds[k]` per example.

    Args:
        bounds: dict `{k: L^{>k}}` of per-example bounds (e.g. from
            `anomaly_scores`), holding 0 (the ELBO, L) and every k.
        ks: the levels k >= 1.

    Returns:
        dict from k to a float64 numpy array of likelihood ratios in nats
        (high = anomalous).

    Example:
    >>> likelihood_ratios({0: np.array([-90.0, -80.0]), 2: np.array([-100.0, -85.0])}, [2])[2]
    array([10.,  5.])
    """
    ks = check_likelihood_ratio_levels(ks)
    missing = [k for k in [0] + ks if k not in bounds]
    if missing:
        raise ValueError(f"LLR^{{>k}} = L^{{>0}} - L^{{>k}} needs the bounds of k = 0 and every k; missing {missing}.")
    total = np.asarray(bounds[0], "float64")
    return {k: total - np.asarray(bounds[k], "float64") for k in ks}


def likelihood_ratio_scores(model, x, ks, num_samples=1, batch_size=64, seed=None, progress=False, label="",
                            return_bounds=False):
    """The likelihood ratio LLR^{>k} = L - L^{>k} (Havtorn et al., 2021) per example.

    Computed through the model's public API: `L^{>k}` is
    `model.anomaly_score(x, k, num_samples, seed)` and L is the same with
    k = 0 (with one sample, `model.elbo(x, seed)`), both under the same
    seed per batch, so that the two bounds share their Monte-Carlo draws
    where they can (the bottom-up pass): with `seed`, the ratio of a batch
    starting at example i is `model.elbo(xb, seed + i) -
    model.anomaly_score(xb, k, seed=seed + i)`.

    Args:
        model: a model with `anomaly_score(x, k, num_samples, seed)` (BIVA).
        x: the examples.
        ks: the levels, each 1 <= k < the number of latent layers.
        num_samples: importance samples per example of both bounds (S).
        batch_size: examples per call.
        seed: int seed (batch starting at example i uses `seed + i`).
        progress: labelled progress lines on stderr (see `anomaly_scores`).
        label: prefix of the progress labels.
        return_bounds: also return the bounds `{k: L^{>k}}` (0 included).

    Returns:
        dict from k to a numpy array `(len(x),)` of ratios in nats (high =
        anomalous); with `return_bounds`, `(ratios, bounds)`.

    Raises:
        ValueError: for k = 0.

    Example:
    >>> llr = likelihood_ratio_scores(model, x_test[:64], ks=[1, 2], seed=0)  # doctest: +SKIP
    >>> detection_metrics(llr[1], llr_out[1], higher_is_anomalous=True)  # doctest: +SKIP
    """
    ks = check_likelihood_ratio_levels(ks)
    bounds = anomaly_scores(model, x, [0] + [k for k in ks if k != 0], num_samples=num_samples,
                            batch_size=batch_size, seed=seed, progress=progress, label=label)
    ratios = likelihood_ratios(bounds, ks)
    return (ratios, bounds) if return_bounds else ratios


def anomaly_auroc(model, x_in, x_out, ks, num_samples=1, batch_size=64, seed=None, return_scores=False,
                  progress=False, metrics=False, score="bound"):
    """AUROC of detecting `x_out` against `x_in` with the bound L^{>k}.

    Args:
        model: a model with `anomaly_score(x, k, num_samples, seed)` (BIVA).
        x_in: in-distribution examples (e.g. the test set of the training data).
        x_out: out-of-distribution examples.
        ks: the values of k to evaluate (0 = the ELBO).
        num_samples: importance samples per example (L^{>k}_S).
        batch_size: examples per call.
        seed: int seed for reproducible scores (None: the model's stream).
        return_scores: also return `{k: (scores_in, scores_out)}`.
        progress: labelled progress lines on stderr (see `anomaly_scores`).
        metrics: give `{k: detection_metrics(...)}` (AUROC, AUPRC, FPR80)
            instead of `{k: auroc}`.
        score: "bound" (L^{>k}, low = anomalous) or "llr" (the likelihood
            ratio LLR^{>k} = L - L^{>k}, high = anomalous; k >= 1).

    Returns:
        `{k: auroc}` (`{k: {"auroc", "auprc", "fpr80"}}` with `metrics`),
        and the scores when `return_scores`.

    Example:
    >>> result = anomaly_auroc(model, x_test_mnist, x_test_noise, ks=[0, 2, 4])  # a BIVA with >= 4 layers
    >>> sorted(result)
    [0, 2, 4]
    """
    if score not in ("bound", "llr"):
        raise ValueError(f"score must be 'bound' (L^{{>k}}) or 'llr' (LLR^{{>k}}); got {score!r}.")
    scorer = anomaly_scores if score == "bound" else likelihood_ratio_scores
    s_in = scorer(model, x_in, ks, num_samples, batch_size, seed, progress=progress, label="in-distribution")
    s_out = scorer(model, x_out, ks, num_samples, batch_size, None if seed is None else int(seed) + 10**6,
                   progress=progress, label="out-of-distribution")
    result = {k: detection_metrics(s_in[k], s_out[k], higher_is_anomalous=score == "llr") for k in s_in}
    if not metrics:
        result = {k: m["auroc"] for k, m in result.items()}
    if return_scores:
        return result, {k: (s_in[k], s_out[k]) for k in s_in}
    return result


def plot_anomaly_histograms(scores_in, scores_out, path, bins=40, labels=("in-distribution", "out-of-distribution"),
                            title=None, higher_is_anomalous=False):
    """Writes a PNG with the histograms of in- and out-of-distribution scores.

    Args:
        scores_in, scores_out: 1-d arrays of scores, or dicts `{key: scores}`
            (one panel per key, e.g. from `anomaly_auroc(...,
            return_scores=True)`); an int key k is labelled L^{>k}, a string
            key is the panel's label (e.g. "LLR^{>1}").
        path: output file (PNG).
        bins: histogram bins.
        labels: legend entries.
        title: optional figure title (wrapped to the figure's width).
        higher_is_anomalous: the scores are high on anomalies (for the
            AUROC in the labels): a bool, or a dict `{key: bool}`.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(scores_in, dict):
        scores_in, scores_out = {None: scores_in}, {None: scores_out}
    keys = list(scores_in)
    # the title wraps to the figure's width (about 40 characters per 4-inch panel) instead of running off it
    title = textwrap.fill(str(title), 40 * len(keys)) if title else None
    lines = title.count("\n") + 1 if title else 0
    fig = Figure(figsize=(4 * len(keys), 3 + 0.25 * lines))
    FigureCanvasAgg(fig)  # the Agg canvas, independent of pyplot's backend
    axes = fig.subplots(1, len(keys), squeeze=False)
    for ax, k in zip(axes[0], keys):
        a = np.asarray(scores_in[k], "float64")
        b = np.asarray(scores_out[k], "float64")
        lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        ax.hist(a, bins=edges, alpha=0.6, density=True, label=labels[0])
        ax.hist(b, bins=edges, alpha=0.6, density=True, label=labels[1])
        high = higher_is_anomalous.get(k, False) if isinstance(higher_is_anomalous, dict) else higher_is_anomalous
        area = detection_metrics(a, b, high)["auroc"]
        name = "bound" if k is None else (k if isinstance(k, str) else f"L^{{>{k}}}")
        ax.set_xlabel(f"{name} (nats)" + ("" if k is None else f", AUROC {area:.3f}"))
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(str(path), format="png", dpi=80)
    return path
