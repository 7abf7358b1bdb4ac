"""`MatNet`: the unconditional Matryoshka Network (Bachman, 2016).

One stochastic pass (`forward_terms`), in the paper's notation:

1. BU network (Eq. 9 modules, fine -> coarse -> fc) gives the BU states
   ``h_i^b`` and, from the final one, ``q(z_0 | x)`` (module f_0^b).
2. z_0 ~ q(z_0|x); its KL is against N(0, I) (closed form) or the learned
   Gaussian mixture (the weighted Eq. 12, uniform fixed weights by
   default; ``log_ratio`` uses the exact mixture density).
3. TD network from z_0: for each TD module i the prior
   ``p(z_i | h_i^t)`` (Eq. 8), the merge module i
   ``[mu_i; log sigma_i^2; h_{i+1}^m] = f_i^m(h_i^b, h_i^t, h_i^m)``
   (Eqs. 10, 11), z_i ~ q, then ``h_{i+1}^t`` (Eq. 7, or the GRU-style
   update for fully connected modules).
4. The output layer (and, for MatNet+AR, the PixelCNN head on the image and
   the MatNet output) gives the likelihood parameters.

Generation uses the TD network only (and the PixelCNN head, pixel by
pixel, for MatNet+AR).
"""

import keras
import numpy as np
from keras import ops

from keras_hvae.models.gaussian import (
    diagonal_normal,
    kl_and_log_ratio,
    loc_scale_from_log_var,
    posterior_terms,
    reparameterized_sample,
    standard_normal_sample,
)
from keras_hvae.models.matnet import matnet_architectures as arch
from keras_hvae.models.matnet.ar_head import PixelCNNHead, autoregressive_sample
from keras_hvae.models.matnet.base import MatNetBase
from keras_hvae.models.matnet.mixture_prior import GaussianMixturePrior, entropy
from keras_hvae.models.matnet.networks import BottomUpNetwork, MergeNetwork, TopDownNetwork
from keras_hvae.models.matnet.stateless import call_with_frozen_variables


def _standard_normal_terms(q_loc, q_scale, z):
    zeros = ops.zeros_like(q_loc)
    return kl_and_log_ratio(z, q_loc, q_scale, zeros, zeros + 1.0)


@keras.saving.register_keras_serializable(package="keras_hvae")
class MatNet(MatNetBase):
    """Matryoshka Network: convolutional or fully connected, optional
    mixture prior, inference regulariser and local autoregression.

    Args:
        data_shape, fc_units, z0_dim, fc_modules, fc_z_dim,
        conv_meta_modules, kernel_size, weight_norm, leak: the architecture
            (see `MatNetBase` and `MatNet.architectures`).
        likelihood: ``"bernoulli"``, ``"gaussian"`` (uniformly dequantised
            data in [0, 1]), ``"discretized_logistic"`` (the integrated
            logistic; uint8 or [-1, 1]) or any `keras_hvae.distributions`
            head.
        prior: ``"normal"`` (N(0, I) over z_0) or ``"mixture"`` (learned
            Gaussian mixture, Eq. 12 KL).
        num_components: mixture components.
        learn_mixture_weights: False (the paper's Eq. 12): uniform, fixed
            mixture weights ``1/num_components``; True: trainable mixture
            logits. Configs saved before this option existed load with
            True (what they were trained with).
        cluster_entropy_weight: weight of the penalty on the entropy of the
            component posterior (Sec. 3); 0 disables it.
        autoregressive: MatNet+AR (PixelCNN head on the image and the MatNet
            output).
        ar_layers, ar_filters, ar_kernel_size: the PixelCNN head.
        inference_regularizer_weight: weight of Eq. 13 — the negative ELBO
            of the model's own samples, with gradients reaching only the
            inference networks (BU, f_0^b, merge); 0 disables it.
        **kwargs: core arguments (`free_bits`, `kl_warmup_steps`, `beta`,
            `clip_norm`, `seed`, `name`).

    Example:
    >>> model = MatNet.from_architecture("mnist_conv", channels=8, modules=1, fc_units=32)
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(x_train, batch_size=32, epochs=1, verbose=0)
    >>> model.elbo(x_test[:8]).shape
    (8,)
    """

    #: the paper's setups by name (see `architectures.py`)
    architectures = arch.ARCHITECTURES

    def __init__(
        self,
        likelihood="bernoulli",
        prior="normal",
        num_components=10,
        learn_mixture_weights=False,
        cluster_entropy_weight=0.0,
        autoregressive=False,
        ar_layers=5,
        ar_filters=32,
        ar_kernel_size=3,
        inference_regularizer_weight=0.0,
        **kwargs,
    ):
        super().__init__(likelihood=likelihood, **kwargs)
        if self.likelihood is None:
            raise ValueError("MatNet needs a likelihood.")
        if prior not in ("normal", "mixture"):
            raise ValueError(f"prior must be 'normal' or 'mixture', got {prior!r}.")
        self.prior_type = prior
        self.num_components = int(num_components)
        self.learn_mixture_weights = bool(learn_mixture_weights)
        self.cluster_entropy_weight = float(cluster_entropy_weight)
        self.autoregressive = bool(autoregressive)
        self.ar_layers = int(ar_layers)
        self.ar_filters = int(ar_filters)
        self.ar_kernel_size = int(ar_kernel_size)
        self.inference_regularizer_weight = float(inference_regularizer_weight)

        num_params = self.likelihood.num_params(self.data_shape[-1])
        nk = self._net_kwargs()
        self.bu = BottomUpNetwork(self.plan, name="bottom_up", **nk)
        self.merge = MergeNetwork(self.plan, name="merge", **nk)
        out_channels = self.ar_filters if self.autoregressive else num_params
        self.td = TopDownNetwork(self.plan, out_channels, name="top_down", **nk)
        self.mixture_prior = None
        if prior == "mixture":
            self.mixture_prior = GaussianMixturePrior(
                self.num_components, self.z0_dim, seed=self.seed if isinstance(self.seed, int) else None,
                learn_weights=self.learn_mixture_weights, name="mixture_prior",
            )
        self.ar_head = None
        if self.autoregressive:
            self.ar_head = PixelCNNHead(
                num_params, self.ar_filters, self.ar_layers, self.ar_kernel_size,
                weight_norm=self.weight_norm, leak=self.leak, name="pixelcnn",
            )

    # ------------------------------------------------------- architectures
    @classmethod
    def from_architecture(cls, name, **overrides):
        """A MatNet with one of the paper's setups (`MatNet.architectures`).

        Args:
            name: ``"mnist_conv"``, ``"omniglot_conv"``,
                ``"omniglot_conv_gmm"``, ``"mnist_fc"``, ``"cifar10"`` or
                ``"cifar10_ar"``.
            **overrides: constructor arguments, plus the shortcuts
                ``channels``, ``z_channels`` and ``modules`` applied to every
                convolutional meta module (e.g. small widths for tests).

        Example:
        >>> MatNet.from_architecture("cifar10", channels=16, fc_units=64).data_shape
        (32, 32, 3)
        """
        return cls(**arch.architecture_config(cls.architectures, name, overrides))

    # ------------------------------------------------------------- variables
    @property
    def inference_layers(self):
        """The layers of q only: BU network (with f_0^b) and merge network."""
        return [self.bu, self.merge]

    @property
    def generator_layers(self):
        """The layers of p: TD network, mixture prior, PixelCNN head."""
        return [l for l in (self.td, self.mixture_prior, self.ar_head) if l is not None]

    @property
    def inference_variables(self):
        return [v for l in self.inference_layers for v in l.trainable_variables]

    @property
    def generator_variables(self):
        return [v for l in self.generator_layers for v in l.trainable_variables]

    # --------------------------------------------------------------- passes
    def _z0_terms(self, q_loc, q_scale, z0):
        """KL and log-ratio of z_0, and (mixture prior) the per-example
        entropy of the component posterior, else None."""
        if self.mixture_prior is None:
            kl, log_ratio = _standard_normal_terms(q_loc, q_scale, z0)
            return kl, log_ratio, None
        log_q = diagonal_normal(q_loc, q_scale).log_prob(z0)
        log_ratio = self.mixture_prior.log_prob(z0) - log_q
        kl = self.mixture_prior.kl(q_loc, q_scale)
        component_entropy = entropy(self.mixture_prior.responsibilities(q_loc, q_scale))
        return kl, log_ratio, component_entropy

    def _prior_z0(self, num_samples, gen, temperature=1.0):
        """A draw of z_0 from p(z_0) (N(0, I) or the mixture)."""
        if self.mixture_prior is None:
            return standard_normal_sample((num_samples, self.z0_dim), gen, temperature)
        return self.mixture_prior.sample(num_samples, gen, temperature)

    def _inference_pass(self, x, gen, use_mean=False, keep_layers=None, temperature=1.0):
        """q's pass; returns per-layer z, KL and log-ratio in TD order, the
        TD output and the component-posterior entropy of z_0 (None without
        a mixture prior).

        ``keep_layers=k`` (Fig. 3) takes only the top k latent layers
        ``z_0 .. z_{k-1}`` (TD order) from q and draws the rest from the
        prior given the layers above (std times ``temperature``); their KL
        and log-ratio entries are None. None keeps every layer.
        """
        keep = len(self.latent_layer_names) if keep_layers is None else int(keep_layers)
        top, aligned = self.bu(x)
        if keep > 0:
            q_loc, q_scale = loc_scale_from_log_var(*self.bu.z0_params(top))
            z0 = q_loc if use_mean else reparameterized_sample(q_loc, q_scale, gen)
            kl0, lr0, component_entropy = self._z0_terms(q_loc, q_scale, z0)
        else:
            z0 = self._prior_z0(ops.shape(x)[0], gen, temperature)
            kl0 = lr0 = component_entropy = None
        zs, kls, ratios = [z0], [kl0], [lr0]
        h_t = self.td.start(z0)
        h_m = self.merge.start(top)
        k = 0
        for i, meta in enumerate(self.plan.meta):
            if i > 0:
                h_t = self.td.enter(i, h_t)
                if k + 1 < keep:
                    h_m = self.merge.enter(i, h_m)
            for _ in range(meta.modules):
                td_module = self.td.td_modules[k]
                p_loc, p_scale = loc_scale_from_log_var(*td_module.prior(h_t))
                if k + 1 < keep:  # latent layer k + 1 (z_0 is layer 0) from q
                    h_m, mu, log_var = self.merge.merge_modules[k](h_m, aligned[k], h_t)
                    q_loc, q_scale = loc_scale_from_log_var(mu, log_var)
                    z = q_loc if use_mean else None
                    terms = posterior_terms(q_loc, q_scale, p_loc, p_scale, gen, z=z)
                else:  # from the prior p(z | h^t)
                    z = reparameterized_sample(p_loc, p_scale, gen, temperature)
                    terms = {"z": z, "kl": None, "log_ratio": None}
                zs.append(terms["z"])
                kls.append(terms["kl"])
                ratios.append(terms["log_ratio"])
                h_t = td_module(h_t, terms["z"])
                k += 1
        return zs, kls, ratios, self.td.output(h_t), component_entropy

    def _params(self, x, td_output):
        if self.ar_head is None:
            return td_output
        return self.ar_head(x, td_output)

    def forward_terms(self, x, training=False, seed=None):
        gen = self._seed(seed)
        _, kls, ratios, out, component_entropy = self._inference_pass(x, gen)
        params = self._params(x, out)
        terms = {
            "log_px": self.likelihood.log_prob(params, x),
            "kl": self._to_core_order(kls),
            "log_ratio": sum(ratios),
            "params": params,
        }
        if component_entropy is not None:
            # (batch,) entropy of q's component posterior (mixture prior)
            terms["component_entropy"] = component_entropy
        return terms

    def _generate_td_output(self, num_samples, temperature, gen):
        z0 = self._prior_z0(num_samples, gen, temperature)
        h_t = self.td.start(z0)
        k = 0
        for i, meta in enumerate(self.plan.meta):
            if i > 0:
                h_t = self.td.enter(i, h_t)
            for _ in range(meta.modules):
                td_module = self.td.td_modules[k]
                p_loc, p_scale = loc_scale_from_log_var(*td_module.prior(h_t))
                z = reparameterized_sample(p_loc, p_scale, gen, temperature)
                h_t = td_module(h_t, z)
                k += 1
        return self.td.output(h_t)

    def generate_params(self, num_samples, temperature=1.0, seed=None):
        """Ancestral pass through the TD network; for MatNet+AR the head's
        parameters after pixel-by-pixel sampling."""
        gen = self._seed(seed)
        out = self._generate_td_output(num_samples, temperature, gen)
        if self.ar_head is None:
            return out
        _, params = autoregressive_sample(self.ar_head, out, self.likelihood, self.data_shape, gen)
        return params

    def sample_tensor(self, num_samples, temperature=1.0, seed=None, mean=False):
        """Samples as a tensor (traceable; `sample` and the export use it):
        TD pass, then p(x|z) — pixel by pixel inside ``ops.fori_loop`` for
        MatNet+AR, where ``mean=True`` sets each pixel to its conditional
        mean before moving on."""
        gen = self._seed(seed)
        out = self._generate_td_output(num_samples, temperature, gen)
        return self._decode(out, gen, mean)

    def _decode(self, td_output, gen, mean=False):
        """p(x | z) from the TD output: a draw (or the mean); pixel by pixel
        for MatNet+AR."""
        if self.ar_head is not None:
            x, _ = autoregressive_sample(self.ar_head, td_output, self.likelihood, self.data_shape, gen, mean=mean)
            return x
        if mean:
            return self.likelihood.mean(td_output)
        return self.likelihood.sample(td_output, seed=gen)

    # ------------------------------------------------- conditional samples
    def conditional_sample(self, x, keep_layers, num_samples=1, temperature=1.0, seed=None, mean=False):
        """Fig. 3: samples that keep the top ``keep_layers`` latent layers
        of each image and resample the rest from the prior.

        ``z_0 .. z_{k-1}`` (TD order, z_0 first; ``k = keep_layers``) are
        drawn from q(z | x) by the inference pass, the lower layers from
        the TD priors ``p(z_i | h_i^t)`` given them, then x from p(x | z)
        (pixel by pixel for MatNet+AR). ``k = 0`` is an ordinary prior
        sample; ``k = len(latent_layer_names)`` is the reconstruction path.

        Args:
            x: images ``(B,) + data_shape``.
            keep_layers: k, from 0 to ``len(model.latent_layer_names)``.
            num_samples: samples per image.
            temperature: scales the std of the resampled (prior) layers.
            seed: int seed (None: the model's stream).
            mean: the mean of p(x | z) instead of a draw.

        Returns:
            numpy, ``(B,) + data_shape`` for ``num_samples=1``, else
            ``(num_samples, B) + data_shape``.

        Example:
        >>> m = MatNet(conv_meta_modules=[{"size": 7, "modules": 1, "channels": 4, "z_channels": 2}],
        ...            fc_units=16, z0_dim=4, weight_norm=False, seed=0)
        >>> m.conditional_sample(x_test[:2], keep_layers=1, num_samples=3, seed=0).shape
        (3, 2, 28, 28, 1)
        """
        num_layers = len(self.latent_layer_names)
        keep = int(keep_layers)
        if not 0 <= keep <= num_layers:
            raise ValueError(f"keep_layers must be in [0, {num_layers}], got {keep_layers!r}.")
        n = int(num_samples)
        if n < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples!r}.")
        x = self._eager_inputs(x)
        gen = self._call_stream(seed)

        def fn(x):
            return self.conditional_sample_tensor(x, keep, n, temperature, gen, mean)

        out = ops.convert_to_numpy(self._run(f"matnet_conditional_sample_{keep}_{n}_{temperature}_{mean}", fn, x))
        if n == 1:
            return out
        return out.reshape((n, -1) + tuple(out.shape[1:]))

    def conditional_sample_tensor(self, x, keep_layers, num_samples=1, temperature=1.0, seed=None, mean=False):
        """`conditional_sample` as a traceable tensor function: prepared
        inputs in, ``(num_samples * B,) + data_shape`` out (sample-major)."""
        gen = self._seed(seed)
        if num_samples > 1:
            x = ops.concatenate([x] * int(num_samples), axis=0)
        out = self._inference_pass(x, gen, keep_layers=keep_layers, temperature=temperature)[3]
        return self._decode(out, gen, mean)

    def posterior_means(self, x):
        """Posterior means of every latent layer (z_i set to its q-mean on
        the way down), in `latent_layer_names` order (bottom first)."""
        return self._to_core_order(self._inference_pass(x, None, use_mean=True)[0])

    # ----------------------------------------------------------- clustering
    def cluster(self, x):
        """Each input's posterior over the mixture components, ``(B, k)``.

        ``r_i ∝ pi_i exp(-KL(q(z_0|x) || p_i))`` — the weights inside the
        weighted Eq. 12; rows sum to one. Needs ``prior="mixture"``.
        """
        if self.mixture_prior is None:
            raise ValueError("cluster() needs a MatNet with prior='mixture'.")
        x = self._eager_inputs(x)

        def fn(x):
            top, _ = self.bu(x)
            q_loc, q_scale = loc_scale_from_log_var(*self.bu.z0_params(top))
            return self.mixture_prior.responsibilities(q_loc, q_scale)

        return ops.convert_to_numpy(self._run("matnet_cluster", fn, x))

    # ------------------------------------------------------------ objective
    def inference_regularizer_loss(self, batch_size, seed=None):
        """Eq. 13 as a loss: ``-mean ELBO(x~)`` for ``x~ ~ p(x)``.

        The samples are stop-gradient and the generator's variables are read
        through ``stop_gradient`` while the ELBO is computed, so the gradient
        of this loss reaches only the inference networks (BU, f_0^b, merge).
        """
        gen = self._seed(seed)
        x_tilde = ops.stop_gradient(self.sample_tensor(batch_size, 1.0, gen))

        def elbo():
            terms = self.forward_terms(x_tilde, training=True, seed=gen)
            return terms["log_px"] - sum(terms["kl"])

        extra = [] if gen is self.seed_generator else [gen.state]
        value = call_with_frozen_variables(self.variables, self.generator_variables, elbo, extra)
        return -self.batch_mean(value)

    @property
    def extra_metric_names(self):
        """``component_entropy`` (mixture prior) and ``sample_elbo`` (Eq. 13
        regulariser on)."""
        names = []
        if self.prior_type == "mixture":
            names.append("component_entropy")
        if self.inference_regularizer_weight > 0:
            names.append("sample_elbo")
        return tuple(names)

    def objective_terms(self, data, training=False):
        """The core's terms, plus (when training) the entropy penalty of the
        mixture's component posterior and the Eq. 13 regulariser as
        ``extra_loss``; ``component_entropy`` and ``sample_elbo`` as metrics."""
        terms = super().objective_terms(data, training=training)
        extra_loss, metrics = [], {}
        if terms.get("component_entropy") is not None:
            ent = self.batch_mean(terms["component_entropy"])
            metrics["component_entropy"] = ent
            if training and self.cluster_entropy_weight > 0:
                extra_loss.append(self.cluster_entropy_weight * ent)
        if training and self.inference_regularizer_weight > 0:
            x = self.unpack_inputs(data)
            reg = self.inference_regularizer_loss(ops.shape(x)[0])
            extra_loss.append(self.inference_regularizer_weight * reg)
            metrics["sample_elbo"] = -reg
        if extra_loss:
            terms["extra_loss"] = sum(extra_loss)
        terms["metrics"] = metrics
        return terms

    # --------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "prior": self.prior_type,
                "num_components": self.num_components,
                "learn_mixture_weights": self.learn_mixture_weights,
                "cluster_entropy_weight": self.cluster_entropy_weight,
                "autoregressive": self.autoregressive,
                "ar_layers": self.ar_layers,
                "ar_filters": self.ar_filters,
                "ar_kernel_size": self.ar_kernel_size,
                "inference_regularizer_weight": self.inference_regularizer_weight,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # configs saved before `learn_mixture_weights` existed had trainable
        # mixture logits (and weights files with them in that place)
        config.setdefault("learn_mixture_weights", True)
        return super().from_config(config)


def dequantize(x_uint8, seed=None):
    """Uniform dequantisation of 8-bit images: ``(k + u) / 256`` in [0, 1).

    For the ``"gaussian"`` likelihood; numpy in, numpy out (data
    preparation, outside the model). Add
    ``GaussianLikelihood.dequantization_correction(D)`` (``-D log 256``) to
    a bound in nats to bound the discrete 8-bit log-likelihood.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(x_uint8, dtype="float32")
    return ((x + rng.uniform(size=x.shape)) / 256.0).astype("float32")
