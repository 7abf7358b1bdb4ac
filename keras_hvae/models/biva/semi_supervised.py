"""Semi-supervised BIVA (Maaløe et al. 2019, Appendix B; the M2 recipe of
Kingma et al. 2014).

* Classifier q(y | x) (Eqs. 11-13): its own deterministic hierarchy with the
  same parameterisation as the bottom-up blocks d~ (L levels of M gated
  residual layers) and a final dense softmax layer (`BIVAClassifier`).
* Generative model (Eq. 15): p(x, y, z) = p(x | z, y) p(z_L) p(y)
  prod_i p(z_i | z_{>i}, y), with p(y) uniform; the one-hot y is
  concatenated to the input of every generative block f_i (so also to the
  top-down inference path, which shares those blocks). The bottom-up path
  does not see y.
* Labelled bound (Eqs. 16-17): -F(x, y) = E_q[log p(x, y, z) - log q(z | x, y)],
  plus alpha * (-log q(y | x)).
* Unlabelled bound (Eq. 18): -U(x) = sum_y q(y | x) (-F(x, y)) + H(q(y | x)).

`compute_objective` takes mixed batches `(x, y)` where **y = -1 marks an
unlabelled example** (integer class ids otherwise), so the model trains with
plain `fit` on a `tf.data` pipeline (see `semi_supervised_dataset`). As in
Maaløe et al. (2016), the labelled and unlabelled bounds are averaged
separately and alpha (= beta N / N_l) weights the mean over the labelled
examples, so the loss of a batch with B_l labelled and B_u unlabelled
examples is

    (1/B_l) sum_labelled F(x, y) + (1/B_u) sum_unlabelled U(x) + alpha * (1/B_l) sum_labelled -log q(y | x)

(a missing group's means are 0). It goes through the core's hooks: the
per-example terms are weighted by `group_weights` (B / B_l or B / B_u), and
free bits / warm-up apply to the weighted per-level KL, i.e. to
mean_labelled KL_i + mean_unlabelled KL_i, as for the unsupervised model.
The logged `elbo` (and `reconstruction`, `kl`, `kl_<layer>`, `bits_per_dim`)
is then the bound part of the objective, mean_labelled -F + mean_unlabelled
-U: on a batch of one kind (`evaluate(x)` without labels) the per-example
mean bound; on a mixed batch the sum of the two group means.

Per example, the bottom-up pass runs once and the top-down pass runs once
per class (batched as B * K). `elbo(x)` and `anomaly_score(x, k)` (L^{>k})
sum y out the same way: sum_y q(y | x) [L^{>k}(x, y) + log p(y)] + H(q(y | x)).
"""

import math

import keras
import numpy as np
from keras import ops

from keras_hvae.layers import GatedResidualBlock, WeightNormDense
from keras_hvae.models.biva import biva_architectures as archs
from keras_hvae.models.biva.biva_model import BIVA
from keras_hvae.models.hvae import HierarchicalVAE
from keras_hvae.models.objective import with_local_gradient


def default_alpha(num_examples, num_labelled, beta=0.1):
    """alpha = beta * N / N_l, the weight of the classification term used by
    Maaløe et al. (2016) (beta = 0.1).

    Example:
    >>> default_alpha(50000, 100)
    50.0
    """
    return float(beta) * float(num_examples) / float(num_labelled)


@keras.saving.register_keras_serializable(package="keras_hvae")
class BIVAClassifier(keras.Model):
    """q(y | x): a deterministic hierarchy of gated residual blocks (the
    bottom-up parameterisation of BIVA without latents) and a dense layer.

    Returns logits (apply a softmax for q(y | x)). Usable on its own as the
    supervised baseline with the same architecture.

    Args:
        num_classes: K.
        filters, kernel_sizes, strides: per level, as for `BIVA`.
        layers_per_block: M.
        dropout: dropout of the blocks (training only).
        activation: block activation.
        seed: int seed of the dropout streams.

    Example:
    >>> clf = BIVAClassifier(10, filters=[8, 8], kernel_sizes=[5, 3], strides=[2, 2])
    >>> clf(np.zeros((2, 28, 28, 1), "float32")).shape
    TensorShape([2, 10])
    """

    def __init__(
        self,
        num_classes,
        filters,
        kernel_sizes,
        strides,
        layers_per_block=3,
        dropout=0.0,
        activation="elu",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        L = len(filters)
        self.filters = archs.broadcast_levels(filters, L, "filters")
        self.kernel_sizes = archs.broadcast_levels(kernel_sizes, L, "kernel_sizes")
        self.strides = archs.broadcast_levels(strides, L, "strides")
        self.layers_per_block = int(layers_per_block)
        self.dropout = float(dropout)
        self.activation = activation
        self.seed = seed
        M = self.layers_per_block
        self.blocks = []
        for i in range(L):
            for j in range(M):
                self.blocks.append(
                    GatedResidualBlock(
                        self.filters[i],
                        kernel_size=self.kernel_sizes[i],
                        stride=self.strides[i] if j == M - 1 else 1,
                        dropout=self.dropout,
                        activation=activation,
                        seed=None if seed is None else int(seed) * 131 + i * M + j,
                        name=f"c_block_{i + 1}_{j + 1}",
                    )
                )
        self.head = WeightNormDense(self.num_classes, init_scale=0.1, name="c_head")

    def call(self, x, training=False):
        h = x
        for block in self.blocks:
            h = block(h, training=training)
        h = ops.elu(h)
        h = ops.reshape(h, (ops.shape(h)[0], -1))
        return ops.cast(self.head(h), "float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "filters": self.filters,
                "kernel_sizes": self.kernel_sizes,
                "strides": self.strides,
                "layers_per_block": self.layers_per_block,
                "dropout": self.dropout,
                "activation": self.activation,
                "seed": self.seed,
            }
        )
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        return config


@keras.saving.register_keras_serializable(package="keras_hvae")
class SemiSupervisedBIVA(BIVA):
    """BIVA with a class variable y for semi-supervised classification.

    Args:
        num_classes: K.
        alpha: weight of the classification term, the mean over the
            labelled examples of -log q(y | x) (`default_alpha(N, N_l)` = 0.1 N / N_l is the usual choice; the
            default 50 is that value for MNIST with 100 labels).
        **kwargs: `BIVA` arguments (see `BIVA.from_architecture`).

    Data: `(x, y)` batches with `y = -1` for unlabelled examples; `x`
    alone means every example is unlabelled.

    `model(x)` / `model.predict(x)` return q(y | x) (class probabilities),
    `classify(x)` the most probable class; `elbo(x)` is the unlabelled bound
    -U(x) on log p(x) (y summed out exactly), and `anomaly_score(x, k)`
    sums y out of L^{>k} the same way (k = 0 is `elbo`, draw for draw).
    `iwae_bound(x, 1)` is not the ELBO here: its weight sums y out inside
    the log, so it is never below it.

    Example:
    >>> model = SemiSupervisedBIVA.from_architecture("binary_28x28", num_classes=10, filters=8,
    ...                                              latent_sizes=[8, 4], layers_per_block=1, alpha=50.0)
    >>> from keras_hvae.models.biva import semi_supervised_dataset
    >>> x_l, y_l, x_u = x_train[:4], np.array([0, 1, 2, 3]), x_test  # a few labels, more unlabelled
    >>> model.compile(optimizer="adamax")
    >>> stream = semi_supervised_dataset(x_l, y_l, x_u, batch_size=8, labelled_per_batch=2)  # infinite
    >>> history = model.fit(stream, epochs=1, steps_per_epoch=1, verbose=0)
    >>> model.predict(x_test[:2], verbose=0).shape  # q(y | x)
    (2, 10)
    """

    #: logged for the labelled examples of each batch
    extra_metric_names = ("classification_loss", "accuracy")

    def __init__(self, num_classes=10, alpha=50.0, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        self.alpha = float(alpha)
        self.classifier = BIVAClassifier(
            self.num_classes,
            filters=self.filters,
            kernel_sizes=self.kernel_sizes,
            strides=self.strides,
            layers_per_block=self.layers_per_block,
            dropout=self.q_dropout,
            activation=self.activation,
            seed=None if self.seed is None else int(self.seed) + 1,
            name="classifier",
        )

    # -------------------------------------------------------------- terms
    def class_terms(self, x, training=False, seed=None, prior_layers=0):
        """Per-class terms of the bound for every example and class.

        Args:
            x: a prepared batch.
            training: dropout on/off.
            seed: random stream.
            prior_layers: k of the anomaly bound L^{>k} (Eq. 3): levels
                1..k are drawn from the conditional prior p(z_{<=k} | z_{>k}, y)
                and add no KL. A Python int, or a scalar int tensor (the
                SavedModel's `anomaly_score`, through `anomaly_pass`). 0
                gives the terms of the ELBO.

        Returns:
            dict with `logits` (B, K) of q(y|x), `log_px` (B, K),
            `kl` (list over levels of (B, K)), `kl_variables` (the same KL
            per latent variable, z^BU_i and z^TD_i apart: what free bits
            act on), `log_ratio` (B, K) and `params` (B, K, ...) of
            p(x | z, y = k).
        """
        gen = self._seed(seed)
        K = self.num_classes
        batch = ops.shape(x)[0]
        logits = self.classifier(x, training=training)
        state = self.repeat_state(self.bottom_up(x, training=training, seed=gen), K)
        rep = lambda t: ops.repeat(t, K, axis=0)  # noqa: E731
        y = ops.tile(ops.eye(K, dtype="float32"), (batch, 1))  # row b*K + k is e_k
        if isinstance(prior_layers, (int, np.integer)):
            out = self.top_down(state, prior_layers=int(prior_layers), seed=gen, training=training, y=y)
        else:
            out = self.anomaly_pass(state, prior_layers, seed=gen, training=training, y=y)
        log_px = self.likelihood.log_prob(out["params"], rep(x))
        to_bk = lambda t: ops.reshape(t, (batch, K))  # noqa: E731
        params = out["params"]
        return {
            "logits": logits,
            "log_px": to_bk(log_px),
            "kl": [to_bk(t) for t in out["kl"]],
            "kl_variables": [to_bk(t) for t in out.get("kl_variables", out["kl"])],
            "log_ratio": to_bk(out["log_ratio"]),
            "params": ops.reshape(params, (batch, K) + tuple(params.shape[1:])),
        }

    def _mixed_terms(self, t, labelled, onehot, key="kl"):
        """Effective (B,) log-likelihood and KL terms (`t[key]`: per level,
        or per variable with "kl_variables") of the mixed bound."""
        log_q = ops.log_softmax(t["logits"], axis=-1)
        q = ops.exp(log_q)
        entropy = -ops.sum(q * log_q, axis=-1)
        m = labelled[:, None]
        w = m * onehot + (1.0 - m) * q
        log_py = -math.log(self.num_classes)
        log_px = ops.sum(w * t["log_px"], axis=-1) + log_py + (1.0 - labelled) * entropy
        kl = [ops.sum(w * k, axis=-1) for k in t.get(key, t["kl"])]
        return log_px, kl, log_q

    @property
    def rows_per_example(self):
        """Every example runs through the model once per class."""
        return int(self.num_classes)

    def forward_terms(self, x, training=False, seed=None):
        """The unlabelled bound -U(x) (y summed out), in the core's format
        (see `_summed_terms`)."""
        return self._summed_terms(self.class_terms(x, training=training, seed=seed))

    # Every importance sample runs its own bottom-up pass, as the core does
    # (BIVA's shared first level is for its own `forward_terms`).
    repeated_forward_terms = HierarchicalVAE.repeated_forward_terms

    def _anomaly_terms(self, x, k, gen):
        # L^{>k} with y summed out as in the ELBO (k = 0 is -U(x), draw for draw)
        return self._summed_terms(self.class_terms(x, seed=gen, prior_layers=k))

    def anomaly_terms_tensor_k(self, x, k, seed=None):
        """`_anomaly_terms` for a scalar tensor k (the SavedModel endpoint)."""
        return self._summed_terms(self.class_terms(x, seed=seed, prior_layers=k))

    def _summed_terms(self, t):
        """y summed out of `class_terms` (of the ELBO or of L^{>k}).

        `log_px - sum(kl)` is sum_y q(y|x) [L(x, y) + log p(y)] + H(q(y|x)),
        i.e. -U(x) (Eq. 18) for k = 0; `log_px + log_ratio` is the exact
        importance weight log sum_y p(x, y, z_y) / q(z_y | x, y), so that
        `iwae_bound` (and `anomaly_score(..., num_samples=S)`) is a bound on
        log p(x) too. With y summed out the one-sample importance weight is
        not the ELBO: it is never below it (Jensen over q(y|x)).
        `params` are those of the most probable class.
        """
        K = self.num_classes
        batch = ops.shape(t["logits"])[0]
        labelled = ops.zeros((batch,), "float32")
        log_px, kl, log_q = self._mixed_terms(t, labelled, ops.zeros((batch, K), "float32"))
        log_w = ops.logsumexp(t["log_px"] - math.log(K) + t["log_ratio"], axis=-1)
        best = ops.one_hot(ops.argmax(t["logits"], axis=-1), K)
        extra = (1,) * (len(t["params"].shape) - 2)
        params = ops.sum(t["params"] * ops.reshape(best, (batch, K) + extra), axis=1)
        return {"log_px": log_px, "kl": kl, "log_ratio": log_w - log_px, "params": params}

    def generate_params(self, num_samples, temperature=1.0, seed=None, labels=None):
        """Decoder output of ancestral samples; y uniform unless `labels`
        (an int array of class ids) is given."""
        gen = self._seed(seed)
        if labels is None:
            labels = keras.random.randint((num_samples,), 0, self.num_classes, seed=gen)
        y = ops.one_hot(ops.convert_to_tensor(labels), self.num_classes)
        out = self.top_down(None, batch_size=num_samples, temperature=temperature, seed=gen, y=y)
        return out["params"]

    def sample_class(self, labels, temperature=1.0, seed=None, *, mean=False):
        """Samples of p(x | y) for the given class ids (numpy)."""
        self.build()
        labels = np.asarray(labels, "int32")
        gen = self._call_stream(seed)
        params = self.generate_params(len(labels), temperature, gen, labels=labels)
        out = self.likelihood.mean(params) if mean else self.likelihood.sample(params, seed=gen)
        return ops.convert_to_numpy(out)

    def _default_labels(self, x):
        # The BIVA helpers (encode, anomaly scores, conditional samples) run
        # the class-conditional model with the classifier's most probable y.
        return ops.one_hot(ops.argmax(self.classifier(x, training=False), axis=-1), self.num_classes)

    # ----------------------------------------------------------- training
    def unpack_labels(self, data):
        if isinstance(data, (tuple, list)) and len(data) > 1:
            return data[1]
        if isinstance(data, dict) and "y" in data:
            return data["y"]
        return None

    def group_weights(self, labelled):
        """Per-example weights that turn batch means into the sum of the
        labelled and the unlabelled group means (Maaløe et al. 2016).

        An example of a group that makes up a share s of the (global) batch
        gets weight 1 / s, so ``batch_mean(w * v) = mean_labelled(v) +
        mean_unlabelled(v)``; a group absent from the batch contributes 0.
        One labelled example in four: weights (4, 4/3, 4/3, 4/3).
        """
        share = self.batch_mean(labelled)
        return labelled / ops.maximum(share, 1e-12) + (1.0 - labelled) / ops.maximum(1.0 - share, 1e-12)

    def objective_terms(self, data, training=False):
        """Terms of a mixed batch `(x, y)`, y = -1 for unlabelled, weighted
        as in Maaløe et al. (2016), so that (without free bits or warm-up)

            loss = mean_labelled F(x, y) + mean_unlabelled U(x)
                   + alpha * mean_labelled -log q(y | x).

        ``log_px`` and ``kl`` are the mixed bound's per-example terms times
        `group_weights` (the core's batch means of them are the sums of the
        two group means, and free bits and warm-up act on those KL terms);
        ``extra_loss`` is the alpha term; ``metrics`` the labelled
        examples' ``classification_loss`` and ``accuracy``. A batch without
        labelled (or unlabelled) examples has 0 for that group's means.
        """
        x = self.prepare_inputs(self.unpack_inputs(data))
        batch = ops.shape(x)[0]
        y = self.unpack_labels(data)
        if y is None:
            y = -ops.ones((batch,), "int32")
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        labelled = ops.cast(y >= 0, "float32")
        onehot = ops.one_hot(ops.maximum(y, 0), self.num_classes) * labelled[:, None]
        t = self.class_terms(x, training=training)
        log_px, kl, log_q = self._mixed_terms(t, labelled, onehot)
        kl_variables = self._mixed_terms(t, labelled, onehot, key="kl_variables")[1]
        cross_entropy = -ops.sum(onehot * log_q, axis=-1)
        weight = self.group_weights(labelled)
        weighted_ce = weight * cross_entropy  # 0 for unlabelled examples
        class_loss = with_local_gradient(ops.mean(weighted_ce), self.batch_mean(weighted_ce))
        num_labelled = ops.maximum(ops.sum(labelled), 1.0)
        predicted = ops.cast(ops.argmax(log_q, axis=-1), "int32")
        correct = ops.cast(ops.equal(predicted, ops.maximum(y, 0)), "float32") * labelled
        return {
            "log_px": weight * log_px,
            "kl": [weight * k for k in kl],
            "free_bits_groups": [weight * k for k in kl_variables],
            "extra_loss": self.alpha * class_loss,
            "metrics": {
                "classification_loss": ops.sum(cross_entropy) / num_labelled,
                "accuracy": ops.sum(correct) / num_labelled,
            },
        }

    # --------------------------------------------------------- prediction
    def call(self, inputs, training=False):
        """q(y | x), shape `(batch, num_classes)`."""
        return ops.softmax(self.classifier(self.prepare_inputs(inputs), training=training), axis=-1)

    def classify(self, x):
        """The most probable class of each example (numpy int array)."""
        x = self._eager_inputs(x)
        probs = self._run("classify", lambda x: self.classifier(x, training=False), x)
        return np.argmax(ops.convert_to_numpy(probs), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "alpha": self.alpha})
        return config
