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

The SavedModel's `anomaly_score(x, k)` endpoint takes k as a tensor, so the
level of every draw is not known when the graph is traced: `anomaly_pass`
runs BIVA's shared top-down step with both draws at every level and keeps,
per level, the prior one for levels <= k and the posterior one above.
"""

from keras import ops


class AnomalyScoreMixin:
    """Adds `anomaly_score(x, k, num_samples=1)` to a BIVA-like model.

    The model must provide `_forward(x, training, seed, prior_layers=k)`
    (returning `log_px`, `kl`, `log_ratio`) and `num_layers`, and, for the
    tensor-k endpoint, BIVA's top-down pieces (`bottom_up`,
    `_top_down_pass`, `_prior_level`, `_posterior_level`,
    `observation_log_prob`, `_default_labels`; see `BIVA`). A model whose
    ELBO is not `_forward`'s overrides `_anomaly_terms(x, k, gen)` and
    `anomaly_terms_tensor_k(x, k, seed)` (both return `log_px`, `kl`,
    `log_ratio`) so that k = 0 stays its ELBO: `SemiSupervisedBIVA` sums y
    out under q(y | x) there.
    """

    def _anomaly_terms(self, x, k, gen):
        return self._forward(x, training=False, seed=gen, prior_layers=k)

    def anomaly_pass(self, state, k, seed=None, training=False, y=None):
        """The top-down pass of L^{>k} for a scalar tensor k.

        Level i (0-based) uses its prior draw where `i < k` (adding no KL or
        log-ratio) and its posterior draw otherwise; both are drawn, in the
        order of the stream the Python-int path would use per mode.

        Returns:
            the dict of `BIVA._top_down_pass`.
        """
        gen = self._seed(seed)
        k = ops.cast(k, "int32")
        top = self.num_layers - 1
        batch_size = ops.shape(state["features"][-1])[0]

        def draw(i, d, p_td, p_bu):
            if i == top:
                post = self._posterior_level(i, d, p_td, p_bu, state, gen)
                prior = self._prior_level(i, p_td, p_bu, batch_size, gen)
            else:
                prior = self._prior_level(i, p_td, p_bu, batch_size, gen)
                post = self._posterior_level(i, d, p_td, p_bu, state, gen)
            use_prior = ops.less(i, k)
            zero = ops.zeros_like(post["kl_td"])
            out = {
                "z_td": ops.where(use_prior, prior["z_td"], post["z_td"]),
                "z_bu": None,
                "kl_td": ops.where(use_prior, zero, post["kl_td"]),
                "kl_bu": ops.where(use_prior, zero, post["kl_bu"]),
                "log_ratio": ops.where(use_prior, zero, post["log_ratio"]),
            }
            if post["z_bu"] is not None:
                out["z_bu"] = ops.where(use_prior, prior["z_bu"], post["z_bu"])
            return out

        return self._top_down_pass(draw, y=y, training=training, masks=state.get("masks"))

    def anomaly_terms_tensor_k(self, x, k, seed=None):
        """`_forward(x, prior_layers=k)` for a scalar tensor k (the export)."""
        gen = self._seed(seed)
        y = self._default_labels(x)
        state = self.bottom_up(x, seed=gen)
        out = self.anomaly_pass(state, k, seed=gen, y=y)
        out["log_px"] = self.observation_log_prob(out["params"], x, seed=gen)
        return out

    def export_endpoints(self):
        """The core's endpoints plus `anomaly_score(x, k)` (L^{>k}, one sample, k an int32 scalar)."""
        import tensorflow as tf

        endpoints = super().export_endpoints()
        x_spec = tf.TensorSpec((None,) + tuple(self.data_shape), tf.float32, name="x")

        def anomaly(x, k):
            t = self.anomaly_terms_tensor_k(self.prepare_inputs(x), k)
            return t["log_px"] - sum(t["kl"])

        endpoints["anomaly_score"] = (anomaly, [x_spec, tf.TensorSpec((), tf.int32, name="k")])
        return endpoints

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
            chunk_size: samples per batched pass when S > 1 (default: S, up to
                `iwae_max_rows` network rows per pass; larger batches run in
                slices of examples, so memory stays bounded for any S).

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

        def log_sum_weights(x, s):
            batch = ops.shape(x)[0]
            t = self._anomaly_terms(ops.repeat(x, s, axis=0), k, gen)
            return ops.logsumexp(ops.reshape(t["log_px"] + t["log_ratio"], (batch, s)), axis=1)

        return self.importance_sampled(x, num_samples, log_sum_weights, f"anomaly_{k}", chunk_size=chunk_size)
