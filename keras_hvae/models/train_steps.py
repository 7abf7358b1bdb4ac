"""The custom train / test steps, one per Keras backend.

All three call the same backend-agnostic ``model.compute_objective(data,
training)`` and the same gradient post-processing (clipping, finiteness
check). What differs is only how each backend computes gradients and applies
them:

* TensorFlow: ``tf.GradientTape``; under ``tf.distribute`` the gradients are
  all-reduced first, clipped on the global gradient, and the update is
  applied (or skipped) in the cross-replica context, so two replicas give the
  same update as one device with the same global batch; without one,
  ``safe_update.apply_or_skip`` applies or skips it (keras_hvae's ``Adamax``
  skips without a ``tf.cond``).
* JAX: the stateless ``train_step(state, data)`` with ``jax.value_and_grad``
  and ``optimizer.stateless_apply`` under ``jax.lax.cond``.
* PyTorch: ``loss.backward()`` and ``optimizer.apply`` under ``torch.no_grad``.
"""

import keras
from keras import ops

from keras_hvae.models.batch_checks import batch_report
from keras_hvae.models.safe_update import apply_or_skip, clip_by_global_norm, update_is_finite

#: Trackers that count every train step, applied or skipped (sums, never masked).
UNMASKED_TRACKERS = ("skipped_updates", "bad_batches")


def masked_tracker_update(value, applied):
    """`(value, sample_weight)` for a mean tracker: the value itself with
    weight 1 when the step was applied, 0 with weight 0 when it was skipped
    (``where`` first: NaN * 0 is NaN). Works in a TF graph, under JAX
    tracing and eagerly on PyTorch."""
    value = ops.convert_to_tensor(value)
    applied = ops.convert_to_tensor(applied)
    weight = ops.cast(applied, "float32")
    return ops.where(applied, value, ops.zeros_like(value)), weight


def guarded_update(model, loss, finite):
    """Whether to apply the update: `finite` and, when the model has a
    loss-spike guard (`compile(loss_spike_guard=...)`), not a loss spike;
    records the step in the guard's state.

    Args:
        model: the model (its `loss_spike_guard` layer or None).
        loss: what the guard compares: the step's loss per data dimension
            (`compute_objective`'s `loss_per_dim`; for text, per token, so
            that batches of long sentences are not taken for spikes).
        finite: whether the loss, the gradients and the batch are fine.

    Returns:
        A boolean scalar: apply the update.
    """
    guard = getattr(model, "loss_spike_guard", None)
    if guard is None:
        return finite
    spike = ops.logical_and(finite, guard.is_spike(loss))
    applied = ops.logical_and(finite, ops.logical_not(spike))
    guard.record(loss, applied, spike)
    return applied


def _jax_guarded_update(model, non_trainable, loss, finite):
    """`guarded_update` in JAX's stateless step: returns `(applied,
    non_trainable)` with the guard's new state."""
    if getattr(model, "loss_spike_guard", None) is None:
        return finite, non_trainable
    variables = model.non_trainable_variables
    with keras.StatelessScope(state_mapping=list(zip(variables, non_trainable))) as scope:
        applied = guarded_update(model, loss, finite)
    new = [scope.get_current_value(v) for v in variables]
    return applied, [old if value is None else value for old, value in zip(non_trainable, new)]


def _objective_to_values(model, loss, logs, skipped, report=None):
    """Flattens objective logs into ``{tracker_name: value}`` (with the
    batch check's `report` for the ``bad_batches`` tracker, when given)."""
    values = {"loss": loss, "skipped_updates": skipped}
    if report is not None:
        values["bad_batches"] = report
    for name, value in logs.items():
        if name == "kl_layers":
            for layer_name, kl in zip(model.latent_layer_names, value):
                values[f"kl_{layer_name}"] = kl
        else:
            values[name] = value
    return values


# --------------------------------------------------------------- TensorFlow
def tf_train_step(model, data):
    import tensorflow as tf

    replica_ctx = tf.distribute.get_replica_context()
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    variables = model.trainable_variables
    valid, report = batch_report(model, data)
    with tf.GradientTape() as tape:
        loss, logs = model.compute_objective(data, training=True)
        scaled = loss / num_replicas if num_replicas > 1 else loss
    grads = tape.gradient(scaled, variables)
    if num_replicas > 1 and replica_ctx is not None:
        dense = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
        grads = replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, dense)
        loss = replica_ctx.all_reduce(tf.distribute.ReduceOp.MEAN, loss)
    grads, norm = clip_by_global_norm(grads, model.clip_norm)
    if num_replicas > 1 and replica_ctx is not None:
        # one replica's bad batch skips the (shared) update everywhere
        bad = replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - ops.cast(valid, "float32"))
        valid = bad < 0.5
    guard_value = logs["loss_per_dim"]
    if num_replicas > 1 and replica_ctx is not None:
        guard_value = replica_ctx.all_reduce(tf.distribute.ReduceOp.MEAN, guard_value)
    finite = guarded_update(model, guard_value, ops.logical_and(update_is_finite(loss, norm), valid))
    optimizer = model.optimizer

    if num_replicas > 1 and replica_ctx is not None:
        # Every replica holds the same reduced gradients; the optimizer sums
        # over replicas again, so hand it 1/n of them.
        shares = [g / num_replicas for g in grads]

        def cross_replica(distribution, finite_per_replica, shares):
            finite_value = distribution.experimental_local_results(finite_per_replica)[0]

            def apply():
                distribution.extended.call_for_each_replica(
                    lambda s: optimizer.apply(s, variables), args=(shares,)
                )

            ops.cond(finite_value, apply, lambda: None)

        replica_ctx.merge_call(cross_replica, args=(finite, shares))
    else:
        apply_or_skip(optimizer, grads, variables, finite)
    skipped = 1.0 - ops.cast(finite, "float32")
    return model.update_trackers(_objective_to_values(model, loss, logs, skipped, report), applied=finite)


def tf_test_step(model, data):
    loss, logs = model.compute_objective(data, training=False)
    return model.update_trackers(_objective_to_values(model, loss, logs, 0.0))


# ---------------------------------------------------------------------- JAX
def _jax_objective(model, trainable, non_trainable, optimizer_variables, data, training):
    mapping = list(zip(model.trainable_variables, trainable))
    mapping += list(zip(model.non_trainable_variables, non_trainable))
    if optimizer_variables is not None:
        mapping += list(zip(model.optimizer.variables, optimizer_variables))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        loss, logs = model.compute_objective(data, training=training)
    new_non_trainable = []
    for v, old in zip(model.non_trainable_variables, non_trainable):
        new = scope.get_current_value(v)
        new_non_trainable.append(old if new is None else new)
    return loss, (logs, new_non_trainable)


def _jax_update_metrics(model, metrics_variables, values, applied=None):
    logs = {}
    new_metrics_variables = []
    start = 0
    for metric in model.metrics:
        n = len(metric.variables)
        these = metrics_variables[start : start + n]
        start += n
        if metric.name in values:
            if applied is None or metric.name in UNMASKED_TRACKERS:
                these = metric.stateless_update_state(these, values[metric.name])
            else:
                value, weight = masked_tracker_update(values[metric.name], applied)
                these = metric.stateless_update_state(these, value, sample_weight=weight)
        logs[metric.name] = metric.stateless_result(these)
        new_metrics_variables += list(these)
    return logs, new_metrics_variables


def jax_train_step(model, state, data):
    import jax

    trainable, non_trainable, optimizer_variables, metrics_variables = state

    def objective(trainable, non_trainable):
        return _jax_objective(
            model, trainable, non_trainable, optimizer_variables, data, True
        )

    valid, report = batch_report(model, data)
    (loss, (logs, non_trainable)), grads = jax.value_and_grad(
        objective, has_aux=True
    )(trainable, non_trainable)
    grads, norm = clip_by_global_norm(grads, model.clip_norm)
    finite = ops.logical_and(update_is_finite(loss, norm), valid)
    finite, non_trainable = _jax_guarded_update(model, non_trainable, logs["loss_per_dim"], finite)

    def apply(operands):
        trainable, optimizer_variables = operands
        return tuple(
            model.optimizer.stateless_apply(optimizer_variables, grads, trainable)
        )

    trainable, optimizer_variables = jax.lax.cond(
        finite, apply, lambda operands: tuple(operands),
        (list(trainable), list(optimizer_variables)),
    )
    skipped = 1.0 - ops.cast(finite, "float32")
    values = _objective_to_values(model, loss, logs, skipped, report)
    logs, metrics_variables = _jax_update_metrics(model, metrics_variables, values, applied=finite)
    return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)


def jax_test_step(model, state, data):
    trainable, non_trainable, metrics_variables = state
    loss, (logs, non_trainable) = _jax_objective(
        model, trainable, non_trainable, None, data, False
    )
    values = _objective_to_values(model, loss, logs, 0.0)
    logs, metrics_variables = _jax_update_metrics(model, metrics_variables, values)
    return logs, (trainable, non_trainable, metrics_variables)


# ------------------------------------------------------------------ PyTorch
def torch_train_step(model, data):
    import torch

    model.zero_grad()
    with torch.no_grad():
        valid, report = batch_report(model, data)
    loss, logs = model.compute_objective(data, training=True)
    loss.backward()
    variables = model.trainable_variables
    grads = [v.value.grad for v in variables]
    grads, norm = clip_by_global_norm(grads, model.clip_norm)
    with torch.no_grad():
        finite = guarded_update(model, logs["loss_per_dim"].detach(),
                                ops.logical_and(update_is_finite(loss.detach(), norm), valid))
    finite = bool(ops.convert_to_numpy(finite))
    if finite:
        with torch.no_grad():
            model.optimizer.apply(grads, variables)
    logs = {k: (v.detach() if hasattr(v, "detach") else v) if k != "kl_layers"
            else [t.detach() for t in v] for k, v in logs.items()}
    skipped = 0.0 if finite else 1.0
    return model.update_trackers(_objective_to_values(model, loss.detach(), logs, skipped, report), applied=finite)


def torch_test_step(model, data):
    import torch

    with torch.no_grad():
        loss, logs = model.compute_objective(data, training=False)
    return model.update_trackers(_objective_to_values(model, loss, logs, 0.0))
