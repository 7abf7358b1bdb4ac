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


def quadrant_nll(model, x, num_visible, num_samples=100, chunk_size=None, batch_size=100, seed=0, visible=None):
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
    return np.concatenate(out) if out else np.zeros((0,))


def structured_prediction_table(model, x, quadrants=(1, 2, 3), **kwargs):
    """Mean NLL (nats) of the missing quadrants for each number of visible ones.

    Returns:
        ``{num_visible: mean NLL}``; kwargs go to `quadrant_nll`.
    """
    return {int(n): float(np.mean(quadrant_nll(model, x, n, **kwargs))) for n in quadrants}
