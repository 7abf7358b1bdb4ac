"""Anomaly detection with likelihood bounds: AUROC and score histograms.

The models score how *typical* an input is (a bound on log p(x), higher =
more typical); an anomaly detector flags low scores. `auroc` is the
probability that a random out-of-distribution example gets a lower score
than a random in-distribution one (ties count one half), computed with the
Mann-Whitney rank formula.
"""

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
    s_in = np.asarray(scores_in, "float64").ravel()
    s_out = np.asarray(scores_out, "float64").ravel()
    if s_in.size == 0 or s_out.size == 0:
        raise ValueError("auroc needs at least one in- and one out-of-distribution score.")
    if not (np.all(np.isfinite(s_in)) and np.all(np.isfinite(s_out))):
        raise ValueError("auroc expects finite scores.")
    # Anomaly scores are the negated bounds: rank them jointly.
    ranks = _average_ranks(np.concatenate([-s_in, -s_out]))
    n_in, n_out = s_in.size, s_out.size
    rank_sum_out = ranks[n_in:].sum()
    u = rank_sum_out - n_out * (n_out + 1) / 2.0
    return float(u / (n_in * n_out))


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
    from keras_hvae.evaluation.progress import Progress

    x = np.asarray(x)
    prefix = f"{label} " if label else ""
    out = {}
    for k in ks:
        with Progress(len(x), f"{prefix}L^{{>{int(k)}}} (S={num_samples})", unit="examples",
                      enabled=progress) as bar:
            out[int(k)] = _batched_scores(model, x, int(k), num_samples, int(batch_size), seed, bar)
    return out


def anomaly_auroc(model, x_in, x_out, ks, num_samples=1, batch_size=64, seed=None, return_scores=False,
                  progress=False):
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

    Returns:
        `{k: auroc}` (and the scores when `return_scores`).

    Example:
    >>> result = anomaly_auroc(model, x_test_mnist, x_test_noise, ks=[0, 2, 4])  # a BIVA with >= 4 layers
    >>> sorted(result)
    [0, 2, 4]
    """
    s_in = anomaly_scores(model, x_in, ks, num_samples, batch_size, seed, progress=progress, label="in-distribution")
    s_out = anomaly_scores(model, x_out, ks, num_samples, batch_size, None if seed is None else int(seed) + 10**6,
                           progress=progress, label="out-of-distribution")
    result = {k: auroc(s_in[k], s_out[k]) for k in s_in}
    if return_scores:
        return result, {k: (s_in[k], s_out[k]) for k in s_in}
    return result


def plot_anomaly_histograms(scores_in, scores_out, path, bins=40, labels=("in-distribution", "out-of-distribution"), title=None):
    """Writes a PNG with the histograms of in- and out-of-distribution scores.

    Args:
        scores_in, scores_out: 1-d arrays of scores, or dicts `{k: scores}`
            (one panel per k, e.g. from `anomaly_auroc(..., return_scores=True)`).
        path: output file (PNG).
        bins: histogram bins.
        labels: legend entries.
        title: optional figure title.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(scores_in, dict):
        scores_in, scores_out = {None: scores_in}, {None: scores_out}
    keys = list(scores_in)
    fig = Figure(figsize=(4 * len(keys), 3))
    FigureCanvasAgg(fig)  # the Agg canvas, independent of pyplot's backend
    axes = fig.subplots(1, len(keys), squeeze=False)
    for ax, k in zip(axes[0], keys):
        a = np.asarray(scores_in[k], "float64")
        b = np.asarray(scores_out[k], "float64")
        lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        ax.hist(a, bins=edges, alpha=0.6, density=True, label=labels[0])
        ax.hist(b, bins=edges, alpha=0.6, density=True, label=labels[1])
        ax.set_xlabel("bound (nats)" if k is None else f"L^{{>{k}}} (nats), AUROC {auroc(a, b):.3f}")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(str(path), format="png", dpi=80)
    return path
