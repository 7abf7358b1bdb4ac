"""Adamax with one fused update kernel per variable on TensorFlow.

Both papers train with Adamax. Keras' `keras.optimizers.Adamax` writes its
update as ~30 small ops per variable (casts, the bias correction's power,
three assignments); BIVA has ~400 variables (every weight-normalised layer
owns `v`, `g` and a bias), so on TensorFlow the optimizer was ~12,000 of the
train step's ~27,000 graph nodes: a third of the time to trace the first
step, as much of Grappler's, and ~4,000 small kernel launches per step.

`Adamax` here is the same algorithm (Kingma & Ba, 2015, Sec. 7.1):

    m <- beta_1 m + (1 - beta_1) g
    u <- max(beta_2 u, |g|)
    w <- w - lr / (1 - beta_1^t) * m / (u + epsilon)

On TensorFlow without a distribution strategy it applies each variable's
update with TensorFlow's fused `ResourceApplyAdaMax` kernel (one op, the
same formula) after computing the step's scalars once; everything else
`apply` does (learning-rate schedules, EMA, weight decay, gradient
accumulation, the iteration count) is Keras' own. Under a `tf.distribute`
strategy, and on JAX and PyTorch (which trace or fuse the update already),
it is `keras.optimizers.Adamax` unchanged. Optimizer variables and configs
are Keras Adamax's, so checkpoints carry over either way.

`apply_masked(grads, variables, applied)` is `apply` when `applied` is
true and leaves every weight and optimizer variable bit for bit as it was
when false, without a `tf.cond`: the train steps skip a non-finite or
spiking update with it (through `safe_update.apply_or_skip`, which asks
`skips_without_branch` first and takes the branch where it does not hold). A branch captures every variable, gradient and
slot in both of its functions (5,600 of the paper BIVA's 27,000 traced
nodes), which the first step traces and Grappler then rewrites. On the
fused path a skipped step runs the same kernels as an update that
provably changes nothing: the gradients are replaced by zeros
(`where`, so a NaN cannot leak), the learning rate is set to 0, and
`beta_1 = beta_2 = 1`, so the kernel computes

    m <- m + (0 - m) * 0 = m,   u <- max(1 * u, 0) = u,
    w <- w - 0 * m / (u + epsilon) = w

exactly in floating point (m finite, u >= 0); the moving average of the
weights (`use_ema`) gets momentum 1 (`1 * average + 0 * w`), and the
iteration count advances by 0. Configurations that path does not cover
(a distribution strategy, gradient accumulation, a loss scale, weight
decay, EMA overwrites, constraints, another backend) take the branch
(`skips_without_branch` is False there).
"""

import keras


@keras.saving.register_keras_serializable(package="keras_hvae")
class Adamax(keras.optimizers.Adamax):
    """`keras.optimizers.Adamax` with a fused per-variable update on TensorFlow.

    Args:
        learning_rate, beta_1, beta_2, epsilon, **kwargs: as
            `keras.optimizers.Adamax`.

    Returns:
        An optimizer for `model.compile`; in a JSON training config,
        `{"class_name": "keras_hvae>Adamax", "config": {...}}`.

    Example:
    >>> optimizer = Adamax(learning_rate=2e-3)
    >>> round(optimizer.get_config()["learning_rate"], 6)
    0.002
    """

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not self._fused():
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        self._fused_update(grads, trainable_variables, learning_rate)

    def _fused(self):
        """Whether updates go through TensorFlow's fused kernel."""
        if keras.backend.backend() != "tensorflow":
            return False
        import tensorflow as tf

        return not tf.distribute.has_strategy()

    def skips_without_branch(self, trainable_variables):
        """Whether `apply_masked` can skip an update of these variables
        without a branch: TensorFlow's fused path, a built optimizer, and
        none of the options it does not cover (see the module).

        Example:
        >>> import numpy as np
        >>> w = keras.Variable(np.ones(3, "float32"))
        >>> opt = Adamax(learning_rate=0.1)
        >>> opt.build([w])
        >>> opt.skips_without_branch([w]) == (keras.backend.backend() == "tensorflow")
        True
        """
        return (self._fused() and self.built and not self.gradient_accumulation_steps
                and self.loss_scale_factor is None and self.weight_decay is None
                and not self.ema_overwrite_frequency
                and not any(getattr(v, "overwrite_with_gradient", False) or v.constraint is not None
                            for v in trainable_variables))

    def apply_masked(self, grads, trainable_variables, applied):
        """`apply(grads, trainable_variables)` if `applied`, else nothing,
        without a branch (`keras_hvae.models.safe_update.apply_or_skip`
        calls it where `skips_without_branch` holds and takes `ops.cond`
        elsewhere).

        Args:
            grads: one gradient per variable (None: the variable is left
                out, as `apply` does).
            trainable_variables: the variables, as for `apply`.
            applied: a boolean scalar (tensor); when false, the variables,
                the optimizer's slots, its moving averages and its iteration
                count are left exactly as they were, and non-finite
                gradients are harmless.

        Raises:
            ValueError: where `skips_without_branch` does not hold.

        Example:
        >>> import numpy as np
        >>> w = keras.Variable(np.ones(3, "float32"))
        >>> opt = Adamax(learning_rate=0.1)
        >>> opt.build([w])
        >>> if opt.skips_without_branch([w]):  # TensorFlow
        ...     opt.apply_masked([np.full(3, np.nan, "float32")], [w], False)
        >>> keras.ops.convert_to_numpy(w).tolist(), int(keras.ops.convert_to_numpy(opt.iterations))
        ([1.0, 1.0, 1.0], 0)
        """
        variables = list(trainable_variables)
        if not self.skips_without_branch(variables):
            raise ValueError("apply_masked needs the fused TensorFlow path without gradient accumulation, loss "
                             "scale, weight decay, EMA overwrites or constraints (skips_without_branch); use "
                             "keras_hvae.models.safe_update.apply_or_skip, which takes a branch otherwise.")
        import tensorflow as tf

        applied = tf.cast(applied, "bool")
        with keras.name_scope(self.name, caller=self):
            grads, variables = self._filter_empty_gradients(grads, variables)
            grads = [tf.convert_to_tensor(g) for g in grads]
            zeros = {dtype: tf.zeros((), dtype) for dtype in {g.dtype for g in grads}}  # one per dtype
            grads = [tf.where(applied, g, zeros[g.dtype]) for g in grads]
            grads = self._clip_gradients(grads)
            self._fused_update(grads, variables, self.learning_rate, applied)
            if self.use_ema:
                not_first_step = tf.cast(tf.not_equal(self.iterations, 0), "float32")
                momentum = tf.where(applied, not_first_step * self.ema_momentum, 1.0)
                for var in self._trainable_variables:
                    average = self._model_variables_moving_average[self._get_variable_index(var)]
                    if average is not None:
                        m = tf.cast(momentum, var.dtype)
                        average.assign(m * average + (1.0 - m) * var)
        self._iterations.assign_add(tf.cast(applied, self._iterations.dtype))

    def _fused_update(self, grads, trainable_variables, learning_rate, applied=None):
        """One `ResourceApplyAdaMax` per variable; with `applied` false, the
        kernel's no-op form (learning rate 0, `beta_1 = beta_2 = 1`)."""
        import tensorflow as tf

        step = tf.cast(self.iterations + 1, "float32")
        scalars = {
            "beta1_power": tf.pow(tf.constant(self.beta_1, "float32"), step),
            "lr": tf.cast(learning_rate, "float32"),
            "beta1": tf.constant(self.beta_1, "float32"),
            "beta2": tf.constant(self.beta_2, "float32"),
            "epsilon": tf.constant(self.epsilon, "float32"),
        }
        if applied is not None:
            scalars["lr"] = tf.where(applied, scalars["lr"], 0.0)
            scalars["beta1"] = tf.where(applied, scalars["beta1"], 1.0)
            scalars["beta2"] = tf.where(applied, scalars["beta2"], 1.0)
        by_dtype = {"float32": scalars}
        for grad, variable in zip(grads, trainable_variables):
            dtype = keras.backend.standardize_dtype(variable.dtype)
            if dtype not in by_dtype:
                by_dtype[dtype] = {k: tf.cast(v, dtype) for k, v in scalars.items()}
            index = self._get_variable_index(variable)
            tf.raw_ops.ResourceApplyAdaMax(
                var=_handle(variable),
                m=_handle(self._m[index]),
                v=_handle(self._u[index]),
                grad=tf.cast(grad, dtype),
                **by_dtype[dtype],
            )


def _handle(variable):
    """The resource handle of a Keras (or tf) variable."""
    value = getattr(variable, "value", variable)
    return value.handle
