"""The shared core of every hierarchical VAE in keras_hvae.

`HierarchicalVAE` owns everything the model families have in common: the
training objective (negative ELBO with free bits, KL warm-up and beta), one
custom train / test step per backend, the metrics reported by `fit` and
`evaluate`, the likelihood bounds (`elbo`, `iwae_bound`, `kl_per_layer`),
sampling, reconstruction, input validation, data-dependent initialisation
of weight-normalised layers and the model's random stream. A family
(BIVA, MatNet, ...) only describes its architecture by implementing these
methods:

* ``forward_terms(x, training=False, seed=None)`` — one stochastic pass of
  the inference and generative networks, returning a dict with
  ``"log_px"`` (batch,), ``"kl"`` (a list of (batch,) tensors, one per
  latent layer, bottom layer first), ``"log_ratio"`` (batch,) — the sum
  over layers of ``log p(z_i | .) - log q(z_i | .)`` at the sampled z, used
  by the importance-weighted bound — and ``"params"``, the output of the
  decoder that the likelihood turns into p(x|z).
* ``generate_params(num_samples, temperature=1.0, seed=None)`` — ancestral
  sampling from the prior, returning decoder output params.
* ``posterior_means(x)`` — the means of q(z_i | x), a list of tensors
  (bottom layer first); `encode(x)` and the SavedModel's `encode` use it.

and by passing ``data_shape`` and ``latent_layer_names`` to the base.

The objective is one template, `compute_objective(data, training)`, which
every backend's train / test step calls. A family changes it only through
these hooks (never by copying it, nor by touching the metric trackers):

* ``objective_terms(data, training=False)`` — the terms of one batch, a
  dict with ``"log_px"`` and ``"kl"`` as in ``forward_terms`` (the default
  prepares ``unpack_inputs(data)`` and calls ``forward_terms``), plus
  optional entries:

  - ``"extra_loss"``: a scalar added to the loss (classification loss,
    regularisers, a second stage's bound, ...);
  - ``"metrics"``: ``{name: scalar}`` extra logs, each name listed in
    ``extra_metric_names``;
  - ``"num_dims"``: ``(batch,)`` data dimensions each example's bound
    covers (missing pixels, words); ``bits_per_dim`` then divides by their
    batch mean (at least 1) instead of ``num_data_dims``;
  - ``"free_bits_groups"``: a list of ``(batch,)`` KLs, one per latent
    variable, over which free bits are applied instead of ``"kl"`` (BIVA:
    z^BU_i and z^TD_i separately); their sum is that of ``"kl"``, and the
    logs stay per layer.

* ``kl_weight(training=False)`` — the weight of the KL term in the loss:
  ``beta`` times the linear warm-up over ``kl_warmup_steps`` optimizer
  steps when training, 1 otherwise. A float or a scalar tensor.
* ``free_bits_value(training=False)`` — lambda, nats per latent layer:
  ``free_bits`` when training, 0 otherwise. A float or a scalar tensor
  (the text models return their ``free_bits_variable``).
* ``extra_metric_names`` — a tuple (class attribute or property) of the
  names of the extra metrics the family reports; the base creates one
  `keras.metrics.Mean` per name next to its own.

The loss is ``negative_elbo(log_px, kl, free_bits=free_bits_value(training),
warmup_weight=kl_weight(training)) + extra_loss``; the logs are ``elbo``,
``reconstruction``, ``kl``, ``kl_<layer>``, ``bits_per_dim`` and the
family's ``metrics``.
"""

import contextlib
import inspect
import math

import keras
import numpy as np
from keras import ops

from keras_hvae.models import train_steps
from keras_hvae.models.objective import kl_warmup_weight, negative_elbo
from keras_hvae.utils.graph_rewrites import with_lighter_graph_rewrites
from keras_hvae.utils.presets import PresetMixin
from keras_hvae.utils.progress import Progress
from keras_hvae.utils.randomness import as_seed_generator
from keras_hvae.utils.validation import ARGUMENT_CHECKS, check_images, check_seed, checked_arguments

LN2 = math.log(2.0)

#: The public methods whose arguments are checked by name (`num_samples`,
#: `temperature`, `seed`, `k`, `chunk_size`, `mean`, `as_uint8`; see
#: `keras_hvae.utils.validation.ARGUMENT_CHECKS`) wherever a family defines
#: or overrides them; a family changes a check through `argument_checks`.
CHECKED_METHODS = (
    "elbo", "iwae_bound", "encode", "reconstruct", "kl_per_layer", "anomaly_score", "sample",
    "conditional_sample", "inpaint", "conditional_elbo", "conditional_log_likelihood", "generate",
    "sample_class", "cluster", "classify", "interpolate", "evaluate_text",
)


def check_public_arguments(cls):
    """Wraps the `CHECKED_METHODS` of `cls` (its own, or a mixin's) that are
    not wrapped yet with `checked_arguments`, using `ARGUMENT_CHECKS`
    updated by `cls.argument_checks.get(method name, {})`. Called for every
    subclass of `HierarchicalVAE` when it is created."""
    overrides = getattr(cls, "argument_checks", {}) or {}
    for name in CHECKED_METHODS:
        method = getattr(cls, name, None)
        if inspect.isfunction(method) and not hasattr(method, "_checked_arguments"):
            setattr(cls, name, checked_arguments(method, {**ARGUMENT_CHECKS, **overrides.get(name, {})}))


@keras.saving.register_keras_serializable(package="keras_hvae")
class HierarchicalVAE(PresetMixin, keras.Model):
    """Base class for hierarchical VAEs trained by maximising the ELBO.

    Args:
        likelihood: a likelihood object from `keras_hvae.distributions`
            (for example `BernoulliLikelihood()`), its name, or its config.
        free_bits: lambda, nats per latent layer below which the KL of a
            layer gets no gradient (Kingma et al. 2016). BIVA uses 2.
        kl_warmup_steps: number of optimizer steps of linear KL warm-up
            (0 disables it).
        beta: weight of the KL term (1 gives the ELBO).
        clip_norm: global gradient-norm clipping threshold (None disables).
        seed: int seed of the model's random stream (None: random).
        **kwargs: passed to `keras.Model`.

    Subclasses implement `forward_terms`, `generate_params` and `encode`,
    and pass `data_shape` (the shape of one example) and
    `latent_layer_names` (bottom layer first) to `super().__init__`; both
    follow from the subclass's own config and are not part of the base
    config (see the module docstring).

    Objective hooks (see the module docstring): a family that trains on
    more than the plain negative ELBO overrides

    * `objective_terms(data, training=False)` → ``{"log_px", "kl"}`` plus
      optional ``"extra_loss"`` (scalar), ``"metrics"`` (``{name:
      scalar}``) and ``"num_dims"`` (``(batch,)``, for ``bits_per_dim``);
    * `kl_weight(training=False)` → warm-up × beta (float or tensor);
    * `free_bits_value(training=False)` → lambda (float or tensor);
    * `extra_metric_names` → the names of its ``"metrics"`` entries;

    and never `compute_objective` itself.
    """

    #: Names of the extra scalar logs a family reports through
    #: ``objective_terms(...)["metrics"]``; one `keras.metrics.Mean` each.
    extra_metric_names = ()

    #: `{method name: {argument name: check(value, name)}}`: where a family's
    #: public method needs another check than `ARGUMENT_CHECKS`.
    argument_checks = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        check_public_arguments(cls)

    def __init__(
        self,
        data_shape,
        latent_layer_names,
        likelihood=None,
        free_bits=0.0,
        kl_warmup_steps=0,
        beta=1.0,
        clip_norm=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        from keras_hvae.distributions import get_likelihood

        self.data_shape = tuple(int(d) for d in data_shape)
        self.latent_layer_names = tuple(str(n) for n in latent_layer_names)
        self.likelihood = get_likelihood(likelihood) if likelihood is not None else None
        self.free_bits = float(free_bits)
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.beta = float(beta)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # The stream of one public call (elbo, sample, ...): re-seeded before
        # every call so that compiled functions can keep using one object.
        self.call_seed_generator = keras.random.SeedGenerator(0, name="call_seed_generator")
        # Created on first use (`metrics` or `build`), once the family's own
        # attributes, on which `extra_metric_names` may depend, are set.
        self._trackers = None
        self._compiled_cache = {}
        self.bad_batch_mode = "raise"
        self.loss_spike_guard = None

    # ------------------------------------------------------------ subclass API
    def forward_terms(self, x, training=False, seed=None):
        raise TypeError(f"{type(self).__name__} must implement forward_terms().")

    def generate_params(self, num_samples, temperature=1.0, seed=None):
        raise TypeError(f"{type(self).__name__} must implement generate_params().")

    def posterior_means(self, x):
        """The means of q(z_i | x) for every latent layer (a list of tensors,
        bottom layer first); traceable, used by `encode` and the export."""
        raise TypeError(f"{type(self).__name__} must implement posterior_means().")

    def encode(self, x):
        """Posterior means of the latent layers for a batch.

        Returns:
            A list of numpy arrays, one per latent layer (bottom first).
        """
        x = self._eager_inputs(x)
        out = self._run("encode", lambda x: list(self.posterior_means(x)), x)
        return [ops.convert_to_numpy(t) for t in out]

    @property
    def num_data_dims(self):
        """Number of dimensions of one example (h*w*c for images)."""
        return int(np.prod(self.data_shape))

    # ---------------------------------------------------------------- metrics
    def _tracker_names(self):
        """Names of every metric `fit` / `evaluate` report, in order: the
        core's, one ``kl_<layer>`` per latent layer, the family's
        `extra_metric_names`, then ``skipped_updates`` and ``bad_batches``
        (sums over the epoch; see `keras_hvae.models.batch_checks`)."""
        names = ["loss", "elbo", "reconstruction", "kl", "bits_per_dim"]
        names += [f"kl_{n}" for n in self.latent_layer_names]
        names += [str(n) for n in self.extra_metric_names]
        return names + list(train_steps.UNMASKED_TRACKERS)

    def _metric_trackers(self):
        if getattr(self, "_trackers", None) is None:
            from keras_hvae.models.batch_checks import BadBatchTracker

            names = self._tracker_names()
            if len(set(names)) != len(names):
                raise ValueError(f"{type(self).__name__} reports duplicate metric names: {names}.")
            trackers = [keras.metrics.Mean(name=n) for n in names[:-2]]
            self._trackers = trackers + [keras.metrics.Sum(name="skipped_updates"), BadBatchTracker()]
        return self._trackers

    @property
    def metrics(self):
        return list(self._metric_trackers())

    def update_trackers(self, values, applied=None):
        """Updates the metric trackers from `{name: value}`; returns the logs.

        `applied`: None, or a boolean scalar (tensor or Python bool) telling
        whether this step's update was applied. A skipped step (False)
        leaves every mean tracker untouched (its value is masked to 0 and
        enters with weight 0, so a NaN cannot leak in); only
        ``skipped_updates`` and ``bad_batches`` count it."""
        from keras_hvae.models.train_steps import (
            UNMASKED_TRACKERS,
            masked_tracker_update,
        )

        trackers = self._metric_trackers()
        for tracker in trackers:
            if tracker.name in values:
                value = values[tracker.name]
                if applied is None or tracker.name in UNMASKED_TRACKERS:
                    tracker.update_state(value)
                else:
                    tracker.update_state(*masked_tracker_update(value, applied))
        return {t.name: t.result() for t in trackers}

    # --------------------------------------------------------------- objective
    def unpack_inputs(self, data):
        """The model input `x` from what `fit`/`evaluate` yield."""
        if isinstance(data, (tuple, list)):
            return data[0]
        if isinstance(data, dict):
            return data["x"]
        return data

    def batch_mean(self, values):
        """Mean over the global batch (all replicas under `tf.distribute`)."""
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            ctx = tf.distribute.get_replica_context()
            if ctx is not None and ctx.num_replicas_in_sync > 1:
                values = ops.stop_gradient(values)
                total = ctx.all_reduce("sum", ops.sum(values))
                count = ctx.all_reduce("sum", ops.cast(ops.shape(values)[0], values.dtype))
                return total / count
        return ops.mean(values)

    def objective_terms(self, data, training=False):
        """Hook: the terms of the objective for one batch.

        The default prepares `unpack_inputs(data)` and returns
        `forward_terms(x, training=training)`. A family overrides it to
        read more from `data` (labels, masks) or to add optional entries:
        ``"extra_loss"`` (a scalar added to the loss), ``"metrics"``
        (``{name: scalar}``, names from `extra_metric_names`) and
        ``"num_dims"`` (``(batch,)`` dimensions covered by each example's
        bound, for ``bits_per_dim``).

        Returns:
            dict with at least ``"log_px"`` (batch,) and ``"kl"`` (list of
            (batch,), one per latent layer).
        """
        x = self.prepare_inputs(self.unpack_inputs(data))
        return self.forward_terms(x, training=training)

    def kl_weight(self, training=False):
        """Hook: the weight of the (free-bits) KL term in the loss.

        `beta` times the linear warm-up over `kl_warmup_steps` optimizer
        steps when training; 1 otherwise. A float or a scalar tensor.
        """
        if not training:
            return 1.0
        optimizer = getattr(self, "optimizer", None)  # None before compile()
        if self.kl_warmup_steps and optimizer is not None:
            return kl_warmup_weight(optimizer.iterations, self.kl_warmup_steps) * self.beta
        return self.beta

    def free_bits_value(self, training=False):
        """Hook: lambda, nats per latent layer (`free_bits` when training,
        0 otherwise); a float or a scalar tensor / variable."""
        return self.free_bits if training else 0.0

    def compute_objective(self, data, training=False):
        """The loss and logs for one batch; shared by all backends' steps.

        A template: families change it through the hooks
        `objective_terms`, `kl_weight`, `free_bits_value` and
        `extra_metric_names` (see the module docstring).

        Args:
            data: what the dataset yields (`x`, `(x,)`, `(x, y)` or a dict).
            training: whether dropout is active and warm-up applies.

        Returns:
            `(loss, logs)`: the scalar loss and a dict of scalar logs
            (`elbo`, `reconstruction`, `kl`, `bits_per_dim`, `kl_layers`
            and the family's extra metrics), and `loss_per_dim` (the loss
            over the batch-mean number of data dimensions: what the
            loss-spike guard compares).
        """
        terms = self.objective_terms(data, training=training)
        loss, logs = negative_elbo(
            terms["log_px"],
            terms["kl"],
            free_bits=self.free_bits_value(training),
            warmup_weight=self.kl_weight(training),
            batch_mean=self.batch_mean,
            free_bits_groups=terms.get("free_bits_groups"),
        )
        num_dims = self.num_data_dims
        if terms.get("num_dims") is not None:
            num_dims = ops.maximum(self.batch_mean(ops.cast(terms["num_dims"], logs["elbo"].dtype)), 1.0)
        logs["bits_per_dim"] = -logs["elbo"] / (num_dims * LN2)
        if terms.get("extra_loss") is not None:
            loss = loss + terms["extra_loss"]
        # What the loss-spike guard compares (not a metric): the loss per data dimension, so that
        # batches of different sizes per example (text buckets of short or long sentences) are alike.
        logs["loss_per_dim"] = loss / num_dims
        for name, value in (terms.get("metrics") or {}).items():
            if name in logs or name not in self.extra_metric_names:
                raise ValueError(
                    f"{type(self).__name__}.objective_terms() reports the metric {name!r}: list it in "
                    f"extra_metric_names (now {tuple(self.extra_metric_names)}), and do not reuse a core "
                    "log's name."
                )
            logs[name] = value
        return loss, logs

    # -------------------------------------------------------------- the steps
    def _backend_step(self, kind, *args):
        """This backend's `train` or `test` step from `train_steps`."""
        prefix = {"jax": "jax", "torch": "torch"}.get(keras.backend.backend(), "tf")
        return getattr(train_steps, f"{prefix}_{kind}_step")(self, *args)

    def train_step(self, *args):
        return self._backend_step("train", *args)

    def make_train_function(self, force=False):
        self._build_optimizer()
        super().make_train_function(force)
        self.train_function = with_lighter_graph_rewrites(self.train_function)
        return self.train_function

    def make_test_function(self, force=False):
        super().make_test_function(force)
        self.test_function = with_lighter_graph_rewrites(self.test_function)
        return self.test_function

    def make_predict_function(self, force=False):
        super().make_predict_function(force)
        self.predict_function = with_lighter_graph_rewrites(self.predict_function)
        return self.predict_function

    def _build_optimizer(self):
        """Creates the optimizer's slot variables before the step is traced.

        Without a distribution strategy, Keras' TensorFlow trainer leaves
        them to the first trace: every slot is then created inside the
        `tf.function` (with a lifted initialiser, a `tf.cond`, each) and the
        step is traced twice, which took the paper BIVA's first step from
        ~25 s to ~40 s. JAX and PyTorch build it before tracing already.
        """
        optimizer = getattr(self, "optimizer", None)
        if optimizer is None or optimizer.built or not self.built:
            return
        strategy = getattr(self, "distribute_strategy", None)  # TensorFlow's trainer only
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            optimizer.build(self.trainable_variables)

    def test_step(self, *args):
        return self._backend_step("test", *args)

    # ---------------------------------------------------------- build and call
    def build(self, input_shape=None):
        if self.built:
            return
        shape = (1,) + tuple(self.data_shape)
        if not (keras.backend.backend() == "jax" and self._build_symbolically(shape)):
            self.forward_terms(ops.zeros(shape, self.input_dtype_for_build), training=False)
        self._metric_trackers()  # before Keras locks the model's state
        self.built = True

    input_dtype_for_build = "float32"

    def _build_symbolically(self, shape):
        """Builds every layer by shape inference (a forward pass on a
        `keras.KerasTensor`: no op runs); whether it got through. On JAX an
        eager pass compiles each op on first use, hundreds of programs (11 s
        for a small BIVA, 0.1 s this way); a forward pass that mixes concrete
        arrays into symbolic ones fails here, and the eager pass then builds
        what is left, with the same variables."""
        try:
            self.forward_terms(keras.KerasTensor(shape, self.input_dtype_for_build), training=False)
        except (ValueError, TypeError):
            return False
        return True

    def call(self, inputs, training=False):
        """Per-example one-sample ELBO in nats, shape `(batch,)`."""
        terms = self.forward_terms(inputs, training=training)
        return terms["log_px"] - sum(terms["kl"])

    def get_build_config(self):
        return {"data_shape": list(self.data_shape)}

    def build_from_config(self, config):
        self.build()

    # ---------------------------------------------------- inputs and numerics
    def prepare_inputs(self, x):
        """Maps raw inputs to what the networks see: the likelihood's
        `preprocess` (uint8 -> float in its data range), or a float32 cast
        for a model without a likelihood head."""
        if self.likelihood is not None:
            return self.likelihood.preprocess(x)
        x = ops.convert_to_tensor(x)
        if keras.backend.standardize_dtype(x.dtype) != "float32":
            x = ops.cast(x, "float32")
        return x

    def validate_inputs(self, x):
        """Checks a concrete batch: rank, shape, dtype, finiteness, support.

        Raises:
            ValueError: naming what was expected and what was found.
        """
        x = check_images(x, self.data_shape, type(self).__name__)
        if self.likelihood is not None:
            self.likelihood.validate(x)
        return x

    def _eager_inputs(self, x):
        x = self.validate_inputs(x)
        self.build()
        return self.prepare_inputs(ops.convert_to_tensor(x))

    def _seed(self, seed):
        """The generator to draw from inside a (possibly traced) pass."""
        return as_seed_generator(seed, self.seed_generator)

    def _call_stream(self, seed):
        """Eagerly re-seeds `call_seed_generator` for one public call.

        `seed=None` draws the start from the model's stream (fresh numbers
        each call, reproducible given the model seed); an int gives the same
        numbers every time; a SeedGenerator is advanced once.
        """
        seed = check_seed(seed)
        if seed is None or isinstance(seed, keras.random.SeedGenerator):
            source = self.seed_generator if seed is None else seed
            a, b = (int(v) & 0xFFFFFFFF for v in ops.convert_to_numpy(source.next()))
            start = (a * 2654435761 + b * 40503 + 12345) & 0x7FFFFFFF
        else:
            start = seed & 0x7FFFFFFF
        state = self.call_seed_generator.state
        state.assign(ops.convert_to_tensor(np.array([start, 0]), dtype=state.dtype))
        return self.call_seed_generator

    def _run(self, name, fn, *args):
        """Runs `fn` compiled on TensorFlow, eagerly elsewhere.

        Compiled functions are cached by `name` and the shapes of the
        arguments past the batch axis (so only the batch size is ever
        relaxed to unknown: text models of sentences of different padded
        lengths get one function per length). A function whose first call
        fails is not cached, so a bad call cannot leave a broken function
        behind."""
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            # a string key: the model tracks this dict (SavedModel export)
            key = "|".join([name] + [str(tuple(getattr(a, "shape", ())[1:])) for a in args])
            compiled = self._compiled_cache.get(key)
            if compiled is not None:
                return compiled(*args)
            compiled = with_lighter_graph_rewrites(tf.function(fn, reduce_retracing=True))
            out = compiled(*args)
            self._compiled_cache[key] = compiled
            return out
        if backend == "torch":
            import torch

            with torch.no_grad():
                return fn(*args)
        return fn(*args)

    # ------------------------------------------------------------ the bounds
    def elbo(self, x, seed=None):
        """One-sample ELBO per example, in nats.

        Args:
            x: a batch of inputs of shape `(batch,) + data_shape`.
            seed: int seed for the posterior sample (None: model stream).

        Returns:
            numpy array of shape `(batch,)`.
        """
        x = self._eager_inputs(x)
        gen = self._call_stream(seed)
        out = self._run("elbo", lambda x: self._elbo_tensor(x, gen), x)
        return ops.convert_to_numpy(out)

    def _elbo_tensor(self, x, seed=None):
        terms = self.forward_terms(x, training=False, seed=seed)
        return terms["log_px"] - sum(terms["kl"])

    def kl_per_layer(self, x, seed=None):
        """Per-example KL of each latent layer, shape `(batch, num_layers)`.

        Columns follow `latent_layer_names` (bottom layer first).
        """
        x = self._eager_inputs(x)
        gen = self._call_stream(seed)

        def fn(x):
            terms = self.forward_terms(x, training=False, seed=gen)
            return ops.stack(terms["kl"], axis=1)

        return ops.convert_to_numpy(self._run("kl_per_layer", fn, x))

    def log_importance_weights(self, x, num_samples, seed=None):
        """`log p(x, z_s) - log q(z_s | x)` for `num_samples` samples.

        Returns:
            tensor of shape `(batch, num_samples)`.
        """
        batch = ops.shape(x)[0]
        terms = self.repeated_forward_terms(x, num_samples, seed=seed)
        log_w = terms["log_px"] + terms["log_ratio"]
        return ops.reshape(log_w, (batch, num_samples))

    def repeated_forward_terms(self, x, num_samples, seed=None):
        """`forward_terms` (not training) of every example of `x` repeated
        `num_samples` times, rows `b * num_samples ... (b + 1) * num_samples - 1`
        for example b. A family may override it to compute what does not
        depend on the latent samples once per example (BIVA: its first
        level's deterministic blocks)."""
        return self.forward_terms(ops.repeat(x, num_samples, axis=0), training=False, seed=seed)

    #: Most network rows (examples x samples x `rows_per_example`) that one
    #: `iwae_bound` pass sends through the model; larger batches are split.
    #: Bounds memory, and keeps every activation well under 2**31 elements
    #: (TensorFlow's CPU kernels index some tensors with int32).
    iwae_max_rows = 10000

    @property
    def rows_per_example(self):
        """Network rows one example occupies in a forward pass (a
        semi-supervised model runs every class: `num_classes`)."""
        return 1

    def iwae_bound(self, x, num_samples, chunk_size=None, seed=None, verbose=False, label=None):
        """The importance-weighted bound L_k of Burda et al. (2015), in nats.

        The samples of one chunk run in one batched pass; chunks are combined
        with a stable log-mean-exp, so memory is bounded by the chunk. A
        batch whose passes would exceed `iwae_max_rows` network rows is
        scored in slices of examples.

        Args:
            x: a batch of inputs.
            num_samples: k, the number of importance samples (k=1 is the
                ELBO with a Monte-Carlo KL).
            chunk_size: samples per pass (default: all k at once, up to
                `iwae_max_rows` network rows per example).
            seed: int seed (None: model stream).
            verbose: write a labelled progress line on stderr
                (`keras_hvae.utils.progress.Progress`) that moves after
                every pass (every chunk of samples), with the time left.
                Off by default; `keras-hvae evaluate` turns it on.
            label: the progress line's label (default ``"IWAE k=<k>"``).

        Returns:
            numpy array of shape `(batch,)`.

        Example:
        >>> bound = model.iwae_bound(x_test[:16], num_samples=100, chunk_size=25)
        >>> bound = model.iwae_bound(x_test[:4], num_samples=100, verbose=True)  # progress on stderr
        """
        x = self._eager_inputs(x)
        gen = self._call_stream(seed)
        label = f"IWAE k={num_samples}" if label is None else str(label)
        with Progress(int(x.shape[0]) * num_samples, label, unit="samples", enabled=bool(verbose),
                      min_interval=5.0) as bar:
            return self.importance_sampled(
                x, num_samples, lambda x, k: ops.logsumexp(self.log_importance_weights(x, k, gen), axis=1),
                "iwae", chunk_size=chunk_size, bar=bar)

    def importance_sampled(self, x, num_samples, log_sum_weights, name, chunk_size=None, bar=None):
        """``log (1/S) sum_s w_s`` per example, from passes of at most
        `iwae_max_rows` network rows: the S samples run in chunks (one
        example's chunk never exceeds the cap, so memory stays bounded for
        any S), a batch in slices of examples, and the chunks combine by a
        float64 log-mean-exp. `iwae_bound` and `anomaly_score` use it.

        Args:
            x: a batch of inputs (eager tensor).
            num_samples: S.
            log_sum_weights: `f(x, s)` -> `(batch,)`, the logsumexp of s
                fresh log-weights per example (traced once per chunk size).
            name: the name of the compiled pass (with the chunk size).
            chunk_size: samples per pass (default: all S, up to the cap).
            bar: a `Progress` to move by the samples of every pass.

        Returns:
            numpy float64 array `(batch,)`.
        """
        rows = max(1, int(self.rows_per_example))
        chunk = int(chunk_size or min(num_samples, max(1, int(self.iwae_max_rows) // rows)))
        per_pass = max(1, int(self.iwae_max_rows) // (chunk * rows))
        out = []
        for start in range(0, int(x.shape[0]), per_pass):
            part = x[start:start + per_pass]
            partials, done = [], 0
            while done < num_samples:
                s = min(chunk, num_samples - done)
                partials.append(ops.convert_to_numpy(
                    self._run(f"{name}_{s}", lambda x, s=s: log_sum_weights(x, s), part)).astype("float64"))
                done += s
                if bar is not None:
                    bar.update(s * int(part.shape[0]))
            stacked = np.stack(partials, axis=1)
            m = stacked.max(axis=1, keepdims=True)
            out.append(m[:, 0] + np.log(np.exp(stacked - m).sum(axis=1)) - math.log(num_samples))
        return np.concatenate(out)

    #: Where examples differ in `num_dims` (text: tokens), the key under
    #: which the evaluation protocol records their sum over the scored test
    #: examples (`"num_test_tokens"`); None where every example has
    #: `num_data_dims`.
    scored_dims_key = None

    def num_dims(self, x):
        """Data dimensions each example's bound covers, `(N,)`: `num_data_dims`
        for every example of an image model (text models count tokens)."""
        return np.full((len(x),), self.num_data_dims, dtype="int64")

    def bits_per_dim(self, nats, x=None):
        """Converts per-example bounds in nats to bits per dimension.

        Args:
            nats: per-example bounds, `(N,)`.
            x: the examples (needed where dimensions differ per example, as
                for text; ignored by image models).
        """
        return -np.asarray(nats) / (self.num_data_dims * LN2)

    # ---------------------------------------------------- sampling and codes
    def sample(self, num_samples, temperature=1.0, seed=None, *, mean=False, as_uint8=False):
        """Ancestral samples from the prior.

        Args:
            num_samples: how many samples (an int >= 1).
            temperature: scales the standard deviation of every prior layer
                (a finite number >= 0; 0 gives the prior means).
            seed: int seed for reproducible samples (None: model stream).
            mean: return the mean of p(x|z) instead of a draw from it
                (the usual picture for binary images).
            as_uint8: return uint8 images in the likelihood's own integer
                form (`likelihood.to_uint8`, the inverse of the mapping its
                inputs go through): levels 0..255 for the 8-bit
                (discretized) likelihoods and the Gaussian on dequantised
                data, 0/1 for Bernoulli (a mean is rounded at 0.5). Such
                images can be saved as pictures; those of Bernoulli and
                8-bit models are valid input to the same model's `elbo`.

        Returns:
            numpy array of shape `(num_samples,) + data_shape`: floats in
            the likelihood's data range ([-1, 1] for 8-bit likelihoods,
            {0, 1} or probabilities for Bernoulli), uint8 with `as_uint8`.

        Example:
        >>> images = model.sample(4, seed=0, as_uint8=True)
        >>> images.dtype, images.shape
        (dtype('uint8'), (4, 28, 28, 1))
        """
        self.build()
        if as_uint8 and (self.likelihood is None or not self.likelihood.has_uint8_form):
            raise ValueError(f"{type(self).__name__} with {self.likelihood!r} has no uint8 image form; "
                             "sample(..., as_uint8=True) is for image likelihoods.")
        gen = self._call_stream(seed)
        fn = lambda: self.sample_tensor(num_samples, temperature, seed=gen, mean=mean)
        out = self._run(f"sample_{num_samples}_{temperature}_{mean}", fn)
        if as_uint8:
            out = self.likelihood.to_uint8(out)
        return ops.convert_to_numpy(out)

    def sample_tensor(self, num_samples, temperature=1.0, seed=None, mean=False):
        """`sample` as a backend tensor (traceable; used by the export)."""
        params = self.generate_params(num_samples, temperature, seed=self._seed(seed))
        if mean:
            return self.likelihood.mean(params)
        return self.likelihood.sample(params, seed=self._seed(seed))

    def reconstruct(self, x, seed=None):
        """The mean of p(x|z) with z drawn from q(z|x); same shape as `x`."""
        x = self._eager_inputs(x)
        gen = self._call_stream(seed)

        def fn(x):
            terms = self.forward_terms(x, training=False, seed=gen)
            return self.likelihood.mean(terms["params"])

        return ops.convert_to_numpy(self._run("reconstruct", fn, x))

    # ------------------------------------------------------------------ export
    def export_endpoints(self):
        """`{name: (fn, input_signature)}` of the SavedModel endpoints.

        Families add theirs (e.g. `anomaly_score`, `inpaint`) by extending
        this dict. Signatures are lists of `keras.InputSpec`-like
        `tf.TensorSpec`s.
        """
        import tensorflow as tf

        x_spec = tf.TensorSpec((None,) + tuple(self.data_shape), tf.float32, name="x")
        endpoints = {
            "elbo": (lambda x: self._elbo_tensor(self.prepare_inputs(x)), [x_spec]),
            "sample": (
                lambda num_samples, temperature: self.sample_tensor(num_samples, temperature),
                [tf.TensorSpec((), tf.int32, name="num_samples"), tf.TensorSpec((), tf.float32, name="temperature")],
            ),
        }
        if type(self).posterior_means is not HierarchicalVAE.posterior_means:
            endpoints["encode"] = (
                lambda x: {
                    f"z_{n}": t
                    for n, t in zip(self.latent_layer_names, self.posterior_means(self.prepare_inputs(x)))
                },
                [x_spec],
            )
        return endpoints

    def export(self, filepath, format="tf_saved_model", verbose=False, **kwargs):
        """Writes a SavedModel with the endpoints of `export_endpoints()`.

        The SavedModel reloads with `tf.saved_model.load(filepath)` in a
        process that never imports keras_hvae; its `elbo(x)`, `sample(n, t)`
        and `encode(x)` (plus family endpoints) match the Keras model.

        Args:
            filepath: output directory.
            format: only "tf_saved_model" (needs the TensorFlow backend).
            verbose: print Keras' listing of every endpoint and captured
                resource (hundreds of lines for a large model); quiet by
                default.

        Returns:
            The list of endpoint names written.
        """
        if format != "tf_saved_model":
            raise ValueError(f"keras_hvae exports format='tf_saved_model' only; got {format!r}.")
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError("SavedModel export needs the TensorFlow backend (KERAS_BACKEND=tensorflow).")
        self.build()
        archive = keras.export.ExportArchive()
        archive.track(self)
        names = []
        for name, (fn, signature) in self.export_endpoints().items():
            archive.add_endpoint(name=name, fn=fn, input_signature=signature)
            names.append(name)
        archive.write_out(str(filepath), verbose=verbose)
        return names

    # ------------------------------------------------ data-dependent init, fit
    def initialize(self, x):
        """Data-dependent initialisation of all weight-normalised layers.

        Runs one forward pass on the batch `x` (eagerly; on JAX compiled as
        one program, see `initialize_weight_norm_traced`); layers that were
        initialised already (for example after loading) are left alone.

        Returns:
            The number of layers initialised.
        """
        from keras_hvae.layers import initialize_weight_norm_traced

        x = self._eager_inputs(x)
        return initialize_weight_norm_traced(self, lambda x: self.forward_terms(x, training=False), x)

    @staticmethod
    def _is_tf_dataset(x):
        try:
            import tensorflow as tf
        except ImportError:
            return False
        return isinstance(x, tf.data.Dataset)

    # `fit` initialises the weight-normalised layers on at least this many
    # examples where the data has them (several batches of a dataset): a
    # small first batch gives noisy, possibly degenerate statistics.
    INIT_EXAMPLES = 256

    def _first_batch(self, x, batch_size):
        """The examples `fit` initialises on (and checks): the first
        `max(batch_size, INIT_EXAMPLES)` of an array; the first batches of a
        `tf.data.Dataset` or a `keras.utils.PyDataset` up to
        `INIT_EXAMPLES` examples (at least one whole batch; batches of
        another shape, e.g. padded sentences, end it). With
        `compile(bad_batches="skip")`, batches that fail `validate_inputs`
        are left out."""
        if self._is_tf_dataset(x):
            return self._gather_first(iter(x))
        if isinstance(x, keras.utils.PyDataset):
            count = x.num_batches
            return self._gather_first(x[i] for i in range(count if count is not None else 1 << 30))
        if isinstance(x, (np.ndarray,)) or hasattr(x, "__array__"):
            return np.asarray(x)[: max(int(batch_size or 32), self.INIT_EXAMPLES)]
        return None

    def _gather_first(self, batches):
        """Concatenates the inputs of `batches` up to `INIT_EXAMPLES`
        examples (see `_first_batch`); None when there are none."""
        parts, count = [], 0
        for batch in batches:
            part = ops.convert_to_numpy(self.unpack_inputs(batch))
            if parts and part.shape[1:] != parts[0].shape[1:]:
                break
            if self.bad_batch_mode == "skip" and not self._is_valid(part):
                continue
            parts.append(part)
            count += part.shape[0]
            if count >= self.INIT_EXAMPLES:
                break
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts)[: max(self.INIT_EXAMPLES, parts[0].shape[0])]

    def _is_valid(self, x):
        try:
            self.validate_inputs(x)
        except ValueError:
            return False
        return True

    def _needs_initialization(self):
        from keras_hvae.layers import uninitialized_weight_norm_layers

        self.build()
        return bool(uninitialized_weight_norm_layers(self))

    def initialize_from(self, data, batch_size=None):
        """Data-dependent initialisation from the first examples of `data`
        (an array, a `tf.data.Dataset` or a `keras.utils.PyDataset`; see
        `_first_batch`), when a weight-normalised layer still needs it.

        Returns:
            The number of layers initialised.
        """
        if not self._needs_initialization():
            return 0
        first = self._first_batch(data, batch_size)
        return 0 if first is None else self.initialize(first)

    def _peek_generator(self, x):
        """`(first examples, generator)`: a Python generator's first batches
        up to `INIT_EXAMPLES` examples, and a generator that yields them
        again and then the rest, each batch as a tuple (what Keras needs)."""
        import itertools

        pulled = []

        def counted():
            count = 0
            for batch in x:
                pulled.append(batch)
                count += int(np.shape(self.unpack_inputs(batch))[0])
                yield batch
                if count >= self.INIT_EXAMPLES:
                    return

        first = self._gather_first(counted()) if self._needs_initialization() else None

        def replay():
            for batch in itertools.chain(pulled, x):
                yield batch if isinstance(batch, (tuple, dict)) else (batch,)

        return first, replay()

    def fit(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """`keras.Model.fit` that first runs the data-dependent
        initialisation of weight-normalised layers (once, on the first
        examples, checked eagerly) and checks every batch it trains on.

        Every train step checks its batch in the graph (NaN/Inf, values
        outside the likelihood's support); a bad batch is never trained on.
        By default `fit` then stops with a `BadBatchError` that says what was
        wrong; after `compile(..., bad_batches="skip")` it skips and counts
        such batches (the `bad_batches` log; see
        `keras_hvae.models.batch_checks`).

        `x` may be an array, a `tf.data.Dataset`, a `keras.utils.PyDataset`
        or a Python generator (of batches, or of tuples of them). A
        `tf.data.Dataset` shuffles itself: Keras ignores `shuffle` for one
        (and warns about its default `True` on every call), so it is passed
        as False unless given."""
        import inspect

        from keras_hvae.models.batch_checks import BadBatchGuard

        if inspect.isgenerator(x):
            first, x = self._peek_generator(x)
        else:
            first = self._first_batch(x, batch_size) if self._needs_initialization() else None
        if first is not None:
            self.initialize(first)  # checks the examples eagerly
        elif isinstance(x, np.ndarray) and self.bad_batch_mode == "raise":
            # no initialisation to run: still check an array's rank, shape and
            # first examples eagerly, for a clear error before tracing (the
            # train step checks every batch's values in the graph)
            self.validate_inputs(x[: max(int(batch_size or 32), self.INIT_EXAMPLES)])
        if not args and "shuffle" not in kwargs and (self._is_tf_dataset(x) or inspect.isgenerator(x)):
            kwargs["shuffle"] = False
        guard = BadBatchGuard(self.bad_batch_mode)
        if len(args) > 2:  # callbacks given by position (after epochs, verbose)
            args = args[:2] + (list(args[2] or []) + [guard],) + args[3:]
        else:
            kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [guard]
        return super().fit(x, y, batch_size, *args, **kwargs)

    def compile(self, *args, bad_batches="raise", loss_spike_guard=None, **kwargs):
        """`keras.Model.compile`, plus what a train step does with a bad
        batch (NaN/Inf, values outside the likelihood's support) and with a
        loss spike.

        Args:
            *args: `keras.Model.compile`'s arguments (the optimizer).
            bad_batches: "raise" (default): `fit` stops with a
                `BadBatchError` saying what was wrong; "skip": the batch is
                skipped (no update, no metric) and counted in the
                `bad_batches` log and `skipped_updates`.
            loss_spike_guard: None or False (default: no guard), True (the
                defaults of `keras_hvae.models.loss_spike.DEFAULTS`) or a
                dict of `window`, `threshold`, `patience`: an update whose
                loss jumps far above the recent losses is skipped and
                counted in `skipped_updates` (see
                `keras_hvae.models.loss_spike`). The recipes turn it on.
            **kwargs: `keras.Model.compile`'s keyword arguments.
        """
        from keras_hvae.models.batch_checks import check_mode
        from keras_hvae.models.loss_spike import guard_options

        self.bad_batch_mode = check_mode(bad_batches)
        self._set_loss_spike_guard(guard_options(loss_spike_guard))
        return super().compile(*args, **kwargs)

    def _set_loss_spike_guard(self, options):
        """Creates (or drops) the `LossSpikeGuard` layer for `options`."""
        from keras_hvae.models.loss_spike import LossSpikeGuard

        current = getattr(self, "loss_spike_guard", None)
        if current is not None and options is not None and current.get_config() | options == current.get_config():
            return
        locked = self._tracker.locked
        self._tracker.unlock()  # a built model takes the guard's state too
        try:
            if current is not None and any(layer is current for layer in self._layers):
                self._layers.remove(current)
            self.loss_spike_guard = None if options is None else LossSpikeGuard(**options)
        finally:
            if locked:
                self._tracker.lock()

    def train_on_batch(self, *args, return_dict=False, **kwargs):
        """`keras.Model.train_on_batch` that raises a `BadBatchError` for a
        bad batch unless compiled with `bad_batches="skip"` (the batch is
        never trained on either way)."""
        from keras_hvae.models.batch_checks import (
            BadBatchError,
            describe_model,
            tracker_description,
        )

        self.build()
        tracker = self._metric_trackers()[-1]
        before = float(ops.convert_to_numpy(tracker.result()))
        logs = super().train_on_batch(*args, return_dict=True, **kwargs)
        if self.bad_batch_mode == "raise" and float(logs["bad_batches"]) > before:
            raise BadBatchError(f"This batch is not valid data for {describe_model(self)}: "
                                f"{tracker_description(self)}. It was not trained on.")
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "likelihood": None if self.likelihood is None else keras.saving.serialize_keras_object(self.likelihood),
                "free_bits": self.free_bits,
                "kl_warmup_steps": self.kl_warmup_steps,
                "beta": self.beta,
                "clip_norm": self.clip_norm,
                "seed": self.seed,
            }
        )
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("likelihood"), dict):
            config["likelihood"] = keras.saving.deserialize_keras_object(config["likelihood"])
        return cls(**config)


check_public_arguments(HierarchicalVAE)
