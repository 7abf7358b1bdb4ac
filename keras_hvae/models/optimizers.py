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
        if keras.backend.backend() != "tensorflow":
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        import tensorflow as tf

        if tf.distribute.has_strategy():
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        step = tf.cast(self.iterations + 1, "float32")
        scalars = {
            "beta1_power": tf.pow(tf.constant(self.beta_1, "float32"), step),
            "lr": tf.cast(learning_rate, "float32"),
            "beta1": tf.constant(self.beta_1, "float32"),
            "beta2": tf.constant(self.beta_2, "float32"),
            "epsilon": tf.constant(self.epsilon, "float32"),
        }
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
