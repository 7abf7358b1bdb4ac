"""Conditional MatNets for inpainting and structured prediction (Eqs. 3, 4, 6).

With known pixels ``x^k`` (mask 1) and missing pixels ``x^u`` (mask 0):

* the generator has its own BU network and merge modules, which see
  ``[x^k; mask]`` (missing pixels zeroed), and give the conditional prior
  ``p(z_0 | x^k)`` (from the final generator BU state) and
  ``p(z_i | z_<i, x^k)`` (from the generator's merge modules, which see the
  generator BU state, the TD state and their own merge state, Eqs. 10-11);
* the inference network has a parallel BU network and merge modules that
  see ``[x; mask]`` (known and missing pixels) and give
  ``q(z_i | z_<i, x^k, x^u)`` (Eq. 4);
* one TD network (Eq. 7 updates, no Eq. 8 priors) turns the z's into the
  likelihood parameters.

The bound (Eq. 6) is ``E_q[log p(x^u | z, x^k)] - KL(q || p(.|x^k))`` with
the log-likelihood summed over the missing pixels only
(``likelihood.log_prob(params, x, mask=1 - mask)``).

Two-stage models (``stages=2``, Sec. 3): stage two is a second conditional
MatNet whose BU networks also see stage one's guess (known pixels plus the
mean of stage one's prediction, drawn from stage one's *generator*, so it
never sees x^u; gradients do not flow through the guess). The model's
bound is stage two's bound (stage one's latents act as draws from their
prior); training adds stage one's negative bound as an auxiliary loss.

Data for `fit`: ``fit(x, masks)`` (masks as the `y` argument) or a
``tf.data.Dataset`` of ``(x, mask)`` pairs or ``{"x": ..., "mask": ...}``
dicts; with ``x`` alone, masks are drawn inside the step from the model's
``mask_generator`` ("squares" or "quadrants") with its seed generator.
Masks are ``(B, H, W)`` or ``(B, H, W, 1)``, 1 = known.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_hvae.models.gaussian import loc_scale_from_log_var, posterior_terms, reparameterized_sample
from keras_hvae.models.matnet import matnet_architectures as arch
from keras_hvae.models.matnet.base import MatNetBase
from keras_hvae.models.matnet.masks import make_mask_generator, numpy_quadrant_masks, numpy_random_square_masks
from keras_hvae.models.matnet.networks import BottomUpNetwork, MergeNetwork, TopDownNetwork


@keras.saving.register_keras_serializable(package="keras_hvae")
class ConditionalStage(keras.layers.Layer):
    """One conditional MatNet: generator BU + merge, inference BU + merge, TD.

    ``terms(x, mask, guess, gen)`` is the training pass (z ~ q);
    ``generate(x, mask, guess, gen, temperature)`` the predictive pass
    (z ~ p(.|x^k)); both return likelihood parameters.
    """

    def __init__(self, plan, num_params, uses_guess=False, kernel_size=3, weight_norm=True, leak=0.1, **kwargs):
        super().__init__(**kwargs)
        self.plan = plan
        self.num_params = int(num_params)
        self.uses_guess = bool(uses_guess)
        nk = dict(kernel_size=kernel_size, weight_norm=weight_norm, leak=leak)
        self.gen_bu = BottomUpNetwork(plan, name="gen_bottom_up", **nk)
        self.inf_bu = BottomUpNetwork(plan, name="inf_bottom_up", **nk)
        self.gen_merge = MergeNetwork(plan, name="gen_merge", **nk)
        self.inf_merge = MergeNetwork(plan, name="inf_merge", **nk)
        self.td = TopDownNetwork(plan, num_params, with_prior=False, name="top_down", **nk)
        self.built = True

    def _inputs(self, x, mask, guess):
        known = x * mask
        extra = [guess] if self.uses_guess else []
        return ops.concatenate([known, mask] + extra, axis=-1), ops.concatenate([x, mask] + extra, axis=-1)

    def terms(self, x, mask, guess, gen, use_mean=False):
        """Per-layer KL and log p - log q (TD order) and the parameters
        (``use_mean``: the z's are the q-means, returned as a 4th value)."""
        gen_in, inf_in = self._inputs(x, mask, guess)
        g_top, g_states = self.gen_bu(gen_in)
        i_top, i_states = self.inf_bu(inf_in)
        p_loc, p_scale = loc_scale_from_log_var(*self.gen_bu.z0_params(g_top))
        q_loc, q_scale = loc_scale_from_log_var(*self.inf_bu.z0_params(i_top))
        t = self._latent(q_loc, q_scale, p_loc, p_scale, gen, use_mean)
        kls, ratios, zs = [t["kl"]], [t["log_ratio"]], [t["z"]]
        h_t = self.td.start(t["z"])
        h_g, h_i = self.gen_merge.start(g_top), self.inf_merge.start(i_top)
        k = 0
        for i, meta in enumerate(self.plan.meta):
            if i > 0:
                h_t = self.td.enter(i, h_t)
                h_g, h_i = self.gen_merge.enter(i, h_g), self.inf_merge.enter(i, h_i)
            for _ in range(meta.modules):
                h_g, p_mu, p_lv = self.gen_merge.merge_modules[k](h_g, g_states[k], h_t)
                h_i, q_mu, q_lv = self.inf_merge.merge_modules[k](h_i, i_states[k], h_t)
                t = self._latent(*loc_scale_from_log_var(q_mu, q_lv), *loc_scale_from_log_var(p_mu, p_lv), gen, use_mean)
                kls.append(t["kl"])
                ratios.append(t["log_ratio"])
                zs.append(t["z"])
                h_t = self.td.td_modules[k](h_t, t["z"])
                k += 1
        if use_mean:
            return kls, ratios, self.td.output(h_t), zs
        return kls, ratios, self.td.output(h_t)

    @staticmethod
    def _latent(q_loc, q_scale, p_loc, p_scale, gen, use_mean):
        return posterior_terms(q_loc, q_scale, p_loc, p_scale, gen, z=q_loc if use_mean else None)

    def generate(self, x, mask, guess, gen, temperature=1.0, use_mean=False):
        """Parameters of p(x | z, x^k) with every z drawn from p(. | x^k)
        (``use_mean``: every z at its prior mean)."""
        gen_in, _ = self._inputs(x, mask, guess)
        g_top, g_states = self.gen_bu(gen_in)
        p_loc, p_scale = loc_scale_from_log_var(*self.gen_bu.z0_params(g_top))
        draw = (lambda loc, scale: loc) if use_mean else (
            lambda loc, scale: reparameterized_sample(loc, scale, gen, temperature)
        )
        h_t = self.td.start(draw(p_loc, p_scale))
        h_g = self.gen_merge.start(g_top)
        k = 0
        for i, meta in enumerate(self.plan.meta):
            if i > 0:
                h_t = self.td.enter(i, h_t)
                h_g = self.gen_merge.enter(i, h_g)
            for _ in range(meta.modules):
                h_g, p_mu, p_lv = self.gen_merge.merge_modules[k](h_g, g_states[k], h_t)
                z = draw(*loc_scale_from_log_var(p_mu, p_lv))
                h_t = self.td.td_modules[k](h_t, z)
                k += 1
        return self.td.output(h_t)

    @property
    def generator_layers(self):
        return [self.gen_bu, self.gen_merge, self.td]

    @property
    def inference_layers(self):
        return [self.inf_bu, self.inf_merge]


def _check_masks(mask, data_shape):
    m = np.asarray(mask)
    h, w, c = data_shape
    if m.ndim == 3:
        m = m[..., None]
    if m.ndim != 4 or m.shape[1:3] != (h, w) or m.shape[-1] not in (1, c):
        raise ValueError(
            f"masks must have shape (batch, {h}, {w}) or (batch, {h}, {w}, 1); got {np.asarray(mask).shape}."
        )
    if not np.all((m == 0) | (m == 1)):
        raise ValueError("masks must hold 0 (missing) and 1 (known) only.")
    return m.min(axis=-1, keepdims=True).astype("float32")


@keras.saving.register_keras_serializable(package="keras_hvae")
class ConditionalMatNet(MatNetBase):
    """A conditional MatNet p(x^u | x^k) (one or two stages).

    Args:
        data_shape, fc_units, z0_dim, fc_modules, fc_z_dim,
        conv_meta_modules, kernel_size, weight_norm, leak: the architecture
            of each stage (see `MatNetBase`).
        likelihood: the likelihood head (``"bernoulli"``, ...).
        mask_generator: ``"squares"``, ``"quadrants"`` or None: how masks
            are drawn when the data come without them.
        num_squares, square_size: the ``"squares"`` occluders (default
            size: the paper's 20/64 of the image side).
        stages: 1, or 2 for the two-stage model (stage two refines stage
            one's guess).
        **kwargs: core arguments.

    Example:
    >>> from keras_hvae.models.matnet import numpy_quadrant_masks
    >>> x = x_train[:4]
    >>> masks = numpy_quadrant_masks(4, (28, 28), 2)  # two of four quadrants known
    >>> model = ConditionalMatNet.from_architecture("mnist_quadrants", channels=8, modules=1, fc_units=32)
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(x, masks, batch_size=32, epochs=1, verbose=0)
    >>> model.inpaint(x[:4], masks[:4]).shape
    (4, 28, 28, 1)
    """

    architectures = arch.CONDITIONAL_ARCHITECTURES

    def __init__(
        self,
        likelihood="bernoulli",
        mask_generator="squares",
        num_squares=3,
        square_size=None,
        stages=1,
        **kwargs,
    ):
        super().__init__(likelihood=likelihood, **kwargs)
        if self.likelihood is None:
            raise ValueError("ConditionalMatNet needs a likelihood.")
        if int(stages) not in (1, 2):
            raise ValueError(f"stages must be 1 or 2, got {stages}.")
        self.mask_generator = mask_generator
        self.num_squares = int(num_squares)
        self.square_size = None if square_size is None else int(square_size)
        self.stages = int(stages)
        self._draw_masks = (
            None if mask_generator is None
            else make_mask_generator(mask_generator, num_squares=self.num_squares, square_size=self.square_size)
        )
        num_params = self.likelihood.num_params(self.data_shape[-1])
        self.stage_networks = [
            ConditionalStage(self.plan, num_params, uses_guess=(s > 0), name=f"stage_{s + 1}", **self._net_kwargs())
            for s in range(self.stages)
        ]

    @classmethod
    def from_architecture(cls, name, **overrides):
        """A conditional MatNet with a named setup (``"mnist_quadrants"``,
        ``"inpainting_64"``); overrides as for `MatNet.from_architecture`."""
        return cls(**arch.architecture_config(cls.architectures, name, overrides))

    @property
    def generator_layers(self):
        return [l for s in self.stage_networks for l in s.generator_layers]

    @property
    def inference_layers(self):
        return [l for s in self.stage_networks for l in s.inference_layers]

    # -------------------------------------------------------------- masks
    def _resolve_mask(self, x, mask, gen):
        if mask is None:
            batch = ops.shape(x)[0]
            if self._draw_masks is None:
                return ops.zeros((batch,) + self.data_shape[:2] + (1,), dtype=x.dtype)
            return ops.cast(self._draw_masks(batch, self.data_shape, gen), x.dtype)
        mask = ops.cast(ops.convert_to_tensor(mask), x.dtype)
        if len(mask.shape) == 3:
            mask = ops.expand_dims(mask, -1)
        if mask.shape[-1] != 1:
            mask = ops.min(mask, axis=-1, keepdims=True)
        return mask

    def example_masks(self, num, seed=None):
        """Masks (numpy, 1 = known) of `num` images as the model was trained
        on them: ``"quadrants"`` cycles through 1, 2 and 3 visible quadrants
        (the structured-prediction task), ``"squares"`` (and None) places the
        model's occluders at random.

        Args:
            num: number of masks, >= 0.
            seed: int seed of the occluders' positions (None: fresh).

        Returns:
            float32 ``(num, H, W, 1)``.

        Example:
        >>> model = ConditionalMatNet.from_architecture("mnist_quadrants", channels=8, modules=1, fc_units=32)
        >>> [float(m.mean()) for m in model.example_masks(3)]
        [0.25, 0.5, 0.75]
        """
        if self.mask_generator == "quadrants":
            table = np.concatenate([numpy_quadrant_masks(1, self.data_shape, n) for n in (1, 2, 3)])
            return table[np.arange(num) % 3]
        return numpy_random_square_masks(num, self.data_shape, num_squares=self.num_squares,
                                         square_size=self.square_size, seed=seed)

    def unpack_with_mask(self, data):
        """``(x, mask or None)`` from what `fit` / `evaluate` yield."""
        if isinstance(data, dict):
            return data["x"], data.get("mask")
        if isinstance(data, (tuple, list)):
            if len(data) == 1:
                return self.unpack_with_mask(data[0])
            return data[0], data[1]
        return data, None

    # ------------------------------------------------------------- passes
    def _guess(self, stage_index, x, mask, guess, gen):
        params = self.stage_networks[stage_index].generate(x, mask, guess, gen)
        return ops.stop_gradient(mask * x + (1.0 - mask) * self.likelihood.mean(params))

    def stage_terms(self, x, mask, gen):
        """The terms of every stage: list of ``{"kl", "log_ratio", "log_px", "params"}``."""
        out = []
        guess = None
        for s, stage in enumerate(self.stage_networks):
            if s > 0:
                guess = self._guess(s - 1, x, mask, guess, gen)
            kls, ratios, params = stage.terms(x, mask, guess, gen)
            out.append(
                {
                    "kl": self._to_core_order(kls),
                    "log_ratio": sum(ratios),
                    "log_px": self.likelihood.log_prob(params, x, mask=1.0 - mask),
                    "params": params,
                }
            )
        return out

    def forward_terms(self, x, training=False, seed=None, mask=None):
        """Eq. 6 terms of the final stage; ``mask`` None draws masks from
        the mask generator (with the model's random stream)."""
        gen = self._seed(seed)
        mask = self._resolve_mask(x, mask, gen)
        stages = self.stage_terms(x, mask, gen)
        final = dict(stages[-1])
        final["mask"] = mask
        final["stages"] = stages
        return final

    def generate_params(self, num_samples, temperature=1.0, seed=None):
        """Unconditional use: every pixel missing (x^k empty)."""
        gen = self._seed(seed)
        x = ops.zeros((num_samples,) + self.data_shape)
        mask = ops.zeros((num_samples,) + self.data_shape[:2] + (1,))
        return self._predict_params(x, mask, gen, temperature)

    def _predict_params(self, x, mask, gen, temperature=1.0):
        guess = None
        for s, stage in enumerate(self.stage_networks):
            if s > 0:
                guess = self._guess(s - 1, x, mask, guess, gen)
            params = stage.generate(x, mask, guess, gen, temperature)
        return params

    def posterior_means(self, x, mask=None):
        """Means of q for every latent layer of the final stage (z_i set to
        its q-mean on the way down), bottom layer first. ``mask`` None:
        nothing known (all pixels missing), so q sees x and the prior sees
        nothing; the two-stage guess uses the mean of stage one as well."""
        mask = self._resolve_mask(x, mask, None) if mask is not None else ops.zeros(
            (ops.shape(x)[0],) + self.data_shape[:2] + (1,), dtype=x.dtype
        )
        guess = None
        for s, stage in enumerate(self.stage_networks):
            if s > 0:
                params = self.stage_networks[s - 1].generate(x, mask, guess, None, use_mean=True)
                guess = ops.stop_gradient(mask * x + (1.0 - mask) * self.likelihood.mean(params))
        zs = self.stage_networks[-1].terms(x, mask, guess, None, use_mean=True)[3]
        return self._to_core_order(zs)

    # ---------------------------------------------------------- objective
    @property
    def extra_metric_names(self):
        """``stage1_elbo`` for the two-stage model."""
        return ("stage1_elbo",) if self.stages == 2 else ()

    def objective_terms(self, data, training=False):
        """Eq. 6 terms of the final stage (masks from `data` or drawn);
        ``bits_per_dim`` counts the missing dimensions only; two stages add
        stage one's negative bound as ``extra_loss`` (``stage1_elbo``)."""
        x, mask = self.unpack_with_mask(data)
        x = self.prepare_inputs(x)
        terms = self.forward_terms(x, training=training, mask=mask)
        terms["num_dims"] = ops.sum(1.0 - terms["mask"], axis=(1, 2, 3)) * float(self.data_shape[-1])
        if self.stages == 2:
            first = terms["stages"][0]
            elbo1 = self.batch_mean(first["log_px"] - sum(first["kl"]))
            terms["metrics"] = {"stage1_elbo": elbo1}
            terms["extra_loss"] = -elbo1
        return terms

    # -------------------------------------------------------- public API
    def _eager_masked(self, x, mask):
        raw = np.asarray(x)
        xt = self._eager_inputs(x)
        m = _check_masks(mask, self.data_shape)
        if m.shape[0] != raw.shape[0]:
            raise ValueError(f"x has {raw.shape[0]} examples but mask has {m.shape[0]}.")
        return raw, xt, ops.convert_to_tensor(m)

    def conditional_elbo(self, x, mask, seed=None):
        """The Eq. 6 bound on log p(x^u | x^k) per example, in nats, ``(B,)``."""
        _, xt, m = self._eager_masked(x, mask)
        gen = self._call_stream(seed)

        def fn(x, m):
            terms = self.forward_terms(x, seed=gen, mask=m)
            return terms["log_px"] - sum(terms["kl"])

        return ops.convert_to_numpy(self._run("cmatnet_elbo", fn, xt, m))

    def conditional_log_likelihood(self, x, mask, num_samples=100, chunk_size=None, seed=None):
        """Importance-weighted bound on log p(x^u | x^k) (nats, ``(B,)``).

        ``log mean_s exp(log p(x^u|z_s,x^k) + log p(z_s|x^k) - log q(z_s|x))``
        with ``num_samples`` samples, ``chunk_size`` of them per pass.
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
        _, xt, m = self._eager_masked(x, mask)
        gen = self._call_stream(seed)
        batch = int(xt.shape[0])
        chunk = int(chunk_size or num_samples)
        partials = []
        done = 0
        while done < num_samples:
            k = min(chunk, num_samples - done)

            def fn(x, m, k=k):
                x_rep, m_rep = ops.repeat(x, k, axis=0), ops.repeat(m, k, axis=0)
                terms = self.forward_terms(x_rep, seed=gen, mask=m_rep)
                log_w = ops.reshape(terms["log_px"] + terms["log_ratio"], (batch, k))
                return ops.logsumexp(log_w, axis=1)

            partials.append(ops.convert_to_numpy(self._run(f"cmatnet_iwae_{batch}_{k}", fn, xt, m)).astype("float64"))
            done += k
        stacked = np.stack(partials, axis=1)
        top = stacked.max(axis=1, keepdims=True)
        return top[:, 0] + np.log(np.exp(stacked - top).sum(axis=1)) - math.log(num_samples)

    def inpaint(self, x, mask, num_samples=1, temperature=1.0, seed=None, mean=False):
        """Fills the missing pixels (mask 0) with draws from p(x^u | x^k).

        Args:
            x: images ``(B, H, W, C)`` (missing pixels may hold anything valid).
            mask: ``(B, H, W)`` or ``(B, H, W, 1)``, 1 = known.
            num_samples: completions per image.
            temperature: scales the standard deviations of the priors.
            seed: int seed (None: the model's stream).
            mean: fill with the mean of p(x^u | z, x^k) instead of a draw.

        Returns:
            numpy, ``(B, H, W, C)`` for ``num_samples=1``, else
            ``(num_samples, B, H, W, C)``; known pixels are returned
            unchanged (same values and dtype as ``x``).
        """
        raw, xt, m = self._eager_masked(x, mask)
        gen = self._call_stream(seed)

        def fn(x, m):
            return self.inpaint_tensor(x, m, temperature, gen, mean)

        outs = []
        for _ in range(num_samples):
            pred = ops.convert_to_numpy(self._run(f"cmatnet_inpaint_{temperature}_{mean}", fn, xt, m))
            if raw.dtype.kind in "uib":  # integer input: the likelihood's own integer form
                pred = ops.convert_to_numpy(self.likelihood.to_uint8(pred)).astype(raw.dtype)
            else:
                pred = pred.astype(raw.dtype)
            known = np.broadcast_to(np.asarray(m) > 0.5, raw.shape)
            outs.append(np.where(known, raw, pred))
        return outs[0] if num_samples == 1 else np.stack(outs)

    def inpaint_tensor(self, x, mask, temperature=1.0, seed=None, mean=False):
        """`inpaint` as a traceable tensor function (prepared inputs, one
        completion per image; used by the SavedModel's ``inpaint``)."""
        gen = self._seed(seed)
        m = self._resolve_mask(x, mask, gen)
        params = self._predict_params(x, m, gen, temperature)
        pred = self.likelihood.mean(params) if mean else self.likelihood.sample(params, seed=gen)
        return ops.where(m > 0.5, x, ops.cast(pred, x.dtype))

    def export_endpoints(self):
        """The core's endpoints plus ``inpaint(x, mask)`` (mask 1 = known)."""
        import tensorflow as tf

        endpoints = super().export_endpoints()
        x_spec = tf.TensorSpec((None,) + tuple(self.data_shape), tf.float32, name="x")
        m_spec = tf.TensorSpec((None,) + tuple(self.data_shape[:2]) + (1,), tf.float32, name="mask")
        endpoints["inpaint"] = (lambda x, mask: self.inpaint_tensor(self.prepare_inputs(x), mask), [x_spec, m_spec])
        return endpoints

    # ------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mask_generator": self.mask_generator,
                "num_squares": self.num_squares,
                "square_size": self.square_size,
                "stages": self.stages,
            }
        )
        return config
