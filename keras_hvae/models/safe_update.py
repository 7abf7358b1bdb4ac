"""Gradient post-processing shared by every backend's train step.

Global-norm clipping and the finiteness check live here so that the three
backend train steps (TensorFlow, JAX, PyTorch) behave the same: an update
whose loss or gradients are not finite is skipped (weights and optimizer
state untouched) and counted.
"""

import keras
from keras import ops


def update_is_finite(loss, norm):
    """True when the loss and the gradients' global norm are finite.

    The float32 global norm is finite exactly when every gradient is finite
    and their squares do not overflow float32 (a norm above ~1.8e19): such an
    update is skipped too, where the per-tensor check would apply it
    unclipped. Two scalar checks instead of one per variable keep the traced
    step small (BIVA has ~400 variables: ~800 ops fewer to trace and
    optimise, and as many fewer kernel launches per step).

    Example:
    >>> import numpy as np
    >>> bool(update_is_finite(np.float32(1.0), np.float32(np.inf)))
    False
    """
    return ops.logical_and(ops.all(ops.isfinite(loss)), ops.isfinite(norm))


def global_norm(grads):
    """The global L2 norm of a list of gradients (None entries ignored).

    On TensorFlow, `tf.linalg.global_norm` (one `L2Loss` op per gradient
    where square, sum and its axes are three: BIVA's ~600 gradients make
    the difference in the traced step)."""
    grads = [g for g in grads if g is not None]
    if grads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        dense = [tf.convert_to_tensor(g) for g in grads]  # IndexedSlices: the norm of the dense gradient
        return tf.linalg.global_norm([g if g.dtype == tf.float32 else tf.cast(g, "float32") for g in dense])
    squares = [ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads]
    if not squares:
        return ops.zeros((), "float32")
    return ops.sqrt(ops.sum(ops.stack(squares)))


def clip_by_global_norm(grads, clip_norm):
    """Rescales `grads` so their global norm is at most `clip_norm`.

    Args:
        grads: list of gradient tensors (None allowed).
        clip_norm: the maximum global norm; `None` or `0` disables clipping.

    Returns:
        `(clipped_grads, norm)` with the norm measured before clipping.

    Example:
    >>> import numpy as np
    >>> g, n = clip_by_global_norm([np.array([3.0, 4.0])], 1.0)
    >>> [round(float(v), 3) for v in g[0]], float(n)
    ([0.6, 0.8], 5.0)
    """
    norm = global_norm(grads)
    if not clip_norm:
        return list(grads), norm
    # A non-finite norm leaves the gradients as they are: the update is then
    # skipped by the finiteness check anyway.
    scale = ops.where(
        ops.isfinite(norm),
        ops.minimum(1.0, clip_norm / ops.maximum(norm, 1e-12)),
        1.0,
    )
    clipped = [
        None if g is None else g * ops.cast(scale, g.dtype) for g in grads
    ]
    return clipped, norm


def apply_or_skip(optimizer, grads, variables, applied):
    """Applies `grads` with `optimizer` when `applied` is true, else nothing.

    An optimizer that can skip without a branch (keras_hvae's `Adamax` on
    TensorFlow: `skips_without_branch`, then `apply_masked`; see
    `keras_hvae.models.optimizers`) does so; every other optimizer and
    configuration takes `ops.cond(applied, apply, no-op)`. The TensorFlow
    train step updates through it; JAX's stateless step puts
    `stateless_apply` under `jax.lax.cond` and PyTorch's decides in Python
    (`keras_hvae.models.train_steps`), so eager JAX cannot call it.

    Args:
        optimizer: a built Keras optimizer.
        grads: one gradient per variable.
        variables: the trainable variables.
        applied: a boolean scalar tensor.

    Example:
    >>> import numpy as np, keras
    >>> w = keras.Variable(np.ones(2, "float32"))
    >>> opt = keras.optimizers.SGD(0.5)
    >>> opt.build([w])
    >>> apply_or_skip(opt, [np.ones(2, "float32")], [w], np.bool_(True))
    >>> keras.ops.convert_to_numpy(w).tolist()
    [0.5, 0.5]
    """
    variables = list(variables)
    skips_without_branch = getattr(optimizer, "skips_without_branch", None)
    if skips_without_branch is not None and skips_without_branch(variables):
        return optimizer.apply_masked(grads, variables, applied)
    ops.cond(applied, lambda: optimizer.apply(grads, variables), lambda: None)
