"""The structured-prediction task of the MatNet paper's Fig. 2 (Sohn et al., 2015).

1, 2 or 3 quadrants of an MNIST digit are visible; the score is the
negative log-likelihood of the missing quadrants given the visible ones,
per example, in nats: ``-log p(x^u | x^k)``, estimated from above by the
importance-weighted bound of a `ConditionalMatNet`
(``conditional_log_likelihood``). Visible quadrants, by default: 1 — the
bottom-left one; 2 — the left half; 3 — all but the bottom-right one
(`keras_hvae.models.matnet.masks.DEFAULT_VISIBLE`).

Example:
```python
nll = quadrant_nll(model, x_test[:100], num_visible=2, num_samples=50)  # (100,)
table = structured_prediction_table(model, x_test[:100], num_samples=50)
# {1: ..., 2: ..., 3: ...}  mean NLL in nats, as in Fig. 2's table
```
"""

import numpy as np


#: The MatNet paper's Fig. 2 (conditional MatNet): mean NLL of the missing quadrants, by number visible.
PAPER_NLL = {1: 57.45, 2: 36.82, 3: 17.96}


def quadrant_nll(model, x, num_visible, num_samples=100, chunk_size=None, batch_size=100, seed=0, visible=None,
                 bar=None):
    """Per-example NLL (nats) of the missing quadrants, shape ``(B,)``.

    Args:
        model: a `ConditionalMatNet` (anything with
            ``conditional_log_likelihood(x, mask, num_samples, chunk_size, seed)``).
        x: images ``(B, H, W, C)``.
        num_visible: 1, 2 or 3 visible quadrants.
        num_samples: importance samples per example.
        chunk_size: samples per pass.
        batch_size: examples per call.
        seed: int seed (each batch gets ``seed + batch index``).
        visible: explicit visible quadrant names (overrides `num_visible`).
        bar: an optional `keras_hvae.utils.progress.Progress` advanced by
            the examples of each batch.

    Returns:
        numpy float64 ``(B,)``: ``-log p(x^u | x^k)`` upper-bounded by the
        importance-weighted estimate (lower with more samples).
    """
    from keras_hvae.models.matnet.masks import numpy_quadrant_masks

    x = np.asarray(x)
    out = []
    for i, start in enumerate(range(0, len(x), batch_size)):
        xb = x[start : start + batch_size]
        masks = numpy_quadrant_masks(len(xb), xb.shape[1:3], num_visible, visible)
        ll = model.conditional_log_likelihood(
            xb, masks, num_samples=num_samples, chunk_size=chunk_size, seed=None if seed is None else seed + i
        )
        out.append(-np.asarray(ll, dtype="float64"))
        if bar is not None:
            bar.update(len(xb))
    return np.concatenate(out) if out else np.zeros((0,))


def structured_prediction_table(model, x, quadrants=(1, 2, 3), **kwargs):
    """Mean NLL (nats) of the missing quadrants for each number of visible ones.

    Returns:
        ``{num_visible: mean NLL}``; kwargs go to `quadrant_nll`.
    """
    return {int(n): float(np.mean(quadrant_nll(model, x, n, **kwargs))) for n in quadrants}


def structured_prediction_scores(model, x, num_samples=1000, num_examples=1000, seed=0, progress=False):
    """The task's scores under the package's protocol: for 1, 2 and 3
    visible quadrants, the mean NLL of the missing ones over `num_examples`
    examples drawn uniformly at random from the whole split
    (`keras_hvae.evaluation.protocol.random_subset`), with its standard
    error.

    Args:
        model: a `ConditionalMatNet` trained on quadrant masks.
        x: the whole test split ``(N, H, W, C)``.
        num_samples: importance samples per example and task (100 per pass).
        num_examples: examples scored (all of them when it is N or more).
        seed: the draw of the examples and of the samples (recorded).
        progress: report progress on stderr.

    Returns:
        ``{"1": {"nll", "standard_error", "num_examples", "num_samples",
        "seed", "elbo_nll_on_the_same_examples", "paper"}, "2": ..., "3":
        ...}`` (nats; `elbo_nll_on_the_same_examples`: the one-sample bound,
        minus the conditional ELBO, on the same examples and seed, never
        below `nll` in expectation; `paper`: Fig. 2's number).
    """
    from keras_hvae.evaluation.protocol import random_subset, standard_error
    from keras_hvae.utils.progress import Progress

    x = np.asarray(x)
    subset = x[random_subset(len(x), num_examples, seed)]
    table = {}
    for n in (1, 2, 3):
        with Progress(len(subset), f"NLL of the missing quadrants, {n} visible (k={num_samples})",
                      enabled=progress) as bar:
            nll = quadrant_nll(model, subset, n, num_samples=num_samples, chunk_size=min(num_samples, 100),
                               batch_size=25, seed=seed, bar=bar)
        # the one-sample bound (the conditional ELBO) on the same examples: cheap to re-measure, so a
        # test can check that a loaded model reproduces what was scored
        elbo_nll = quadrant_nll(model, subset, n, num_samples=1, batch_size=250, seed=seed)
        table[str(n)] = {"nll": float(np.mean(nll)), "standard_error": standard_error(nll),
                         "num_examples": int(len(nll)), "num_samples": int(num_samples), "seed": int(seed),
                         "elbo_nll_on_the_same_examples": float(np.mean(elbo_nll)), "paper": PAPER_NLL[n]}
    return table
