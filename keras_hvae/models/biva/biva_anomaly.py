"""The anomaly-detection bound L^{>k} of BIVA (Sec. 3.3, Eq. 3).

    L^{>k} = E_{p(z_{<=k} | z_{>k}) q(z_{>k} | x)} [ log p(x | z) p(z_{>k}) / q(z_{>k} | x) ]

The lowest k levels are drawn from the conditional prior given the levels
above, which are inferred from x, so the bound only rewards what the top
L - k levels explain: with a large k it reflects high-level semantics rather
than low-level pixel statistics. L^{>0} is the ELBO.

How it is computed: one bottom-up pass (which samples z^BU from q, as for
the ELBO), then the top-down pass with posterior draws for levels > k and
prior draws for levels <= k. Levels <= k add no KL / log-ratio term. For
BIVA, q(z_{>k} | x) is used conditionally on the bottom-up samples below
level k (an auxiliary-variable bound, still a lower bound on log p(x) and
unbiased for the importance-weighted estimate below). With
`num_samples = S > 1` the per-sample log-weights
`log p(x | z_s) + sum_{i > k} [log p(z_i,s | .) - log q(z_i,s | .)]` are
combined with a log-mean-exp (the L^{>k}_{100} of Table 6).
"""

import math

import numpy as np
from keras import ops


class AnomalyScoreMixin:
    """Adds `anomaly_score(x, k, num_samples=1)` to a BIVA-like model.

    The model must provide `_forward(x, training, seed, prior_layers=k)`
    (returning `log_px`, `kl`, `log_ratio`) and `num_layers` (see `BIVA`).
    """

    def _anomaly_terms(self, x, k, gen):
        return self._forward(x, training=False, seed=gen, prior_layers=k)

    def anomaly_score(self, x, k, num_samples=1, seed=None, chunk_size=None):
        """The bound L^{>k} per example, in nats (higher = more typical).

        Args:
            x: a batch of inputs.
            k: number of bottom levels drawn from the conditional prior
                (0 <= k <= L); k = 0 gives the ELBO.
            num_samples: S; S > 1 gives the importance-weighted
                log-mean-exp over S draws (L^{>k}_S).
            seed: int seed (None: the model's stream). With the same seed,
                `anomaly_score(x, 0)` equals `elbo(x)`.
            chunk_size: samples per batched pass when S > 1 (default S).

        Returns:
            numpy array of shape `(batch,)`; divide by
            `-(num_data_dims * log 2)` (`model.bits_per_dim`) for bits/dim.

        Example:
        >>> scores = model.anomaly_score(x_test[:64], k=3)
        """
        k = int(k)
        if not 0 <= k <= self.num_layers:
            raise ValueError(f"k must be in [0, {self.num_layers}] (the number of latent layers); got {k}.")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
        x = self._eager_inputs(x)
        gen = self._call_stream(seed)
        if num_samples == 1:
            def fn(x):
                t = self._anomaly_terms(x, k, gen)
                return t["log_px"] - sum(t["kl"])

            return ops.convert_to_numpy(self._run(f"anomaly_{k}", fn, x))

        chunk = int(chunk_size or num_samples)
        partials, done = [], 0
        while done < num_samples:
            s = min(chunk, num_samples - done)

            def fn(x, s=s):
                batch = ops.shape(x)[0]
                t = self._anomaly_terms(ops.repeat(x, s, axis=0), k, gen)
                log_w = ops.reshape(t["log_px"] + t["log_ratio"], (batch, s))
                return ops.logsumexp(log_w, axis=1)

            partials.append(ops.convert_to_numpy(self._run(f"anomaly_{k}_{s}", fn, x)).astype("float64"))
            done += s
        stacked = np.stack(partials, axis=1)
        m = stacked.max(axis=1, keepdims=True)
        return m[:, 0] + np.log(np.exp(stacked - m).sum(axis=1)) - math.log(num_samples)
