"""The negative ELBO with per-layer free bits, KL warm-up and an optional beta.

One backend-agnostic objective that every hierarchical VAE in the package
trains with. Inputs are per-example terms; the reductions over the batch go
through ``batch_mean`` so that a distributed step can make them global
(see :mod:`keras_hvae.models.train_steps`).
"""

from keras import ops


def kl_warmup_weight(step, warmup_steps):
    """Deterministic linear KL warm-up (Sønderby et al. 2016; Bowman et al. 2015).

    Args:
        step: the optimizer's iteration counter (scalar tensor or int).
        warmup_steps: number of steps over which the KL weight rises from
            0 to 1. `0` disables warm-up (the weight is 1 from the start).

    Returns:
        A float32 scalar in [0, 1].

    Example:
    >>> float(kl_warmup_weight(50, 100))
    0.5
    """
    if not warmup_steps:
        return ops.convert_to_tensor(1.0, "float32")
    step = ops.cast(step, "float32")
    return ops.minimum(1.0, step / float(warmup_steps))


def with_local_gradient(local_value, global_value):
    """`global_value` forward, the gradient of `local_value` backward.

    Under `tf.distribute` every replica's loss uses the global batch mean,
    while its gradient flows through the replica's own mean, so that summing
    the replicas' gradients gives exactly the gradient of the global mean.
    """
    return local_value + ops.stop_gradient(global_value - local_value)


def free_bits_kl(kl_layers, free_bits, batch_mean=ops.mean):
    """The KL part of the loss with free bits per latent layer.

    Kingma et al. (2016): for each stochastic layer i the batch-averaged
    KL_i contributes ``max(lambda, mean_batch KL_i)``, so a layer whose KL
    is under the budget gets no gradient pushing it towards the prior.

    Args:
        kl_layers: list of per-example KL tensors, each of shape `(batch,)`.
        free_bits: lambda, nats per latent layer: a Python number (`0`
            disables free bits) or a scalar tensor / variable (for example
            one a callback lowers during training; the value is read in the
            step, so changing it never retraces).
        batch_mean: reduction over the (possibly distributed) batch; the
            gate ``mean KL_i > lambda`` is decided on its global mean.

    Returns:
        `(kl_for_loss, layer_means)`: the scalar KL term of the loss and the
        list of batch-mean KL per layer (for metrics).

    Example:
    >>> import numpy as np
    >>> loss_kl, means = free_bits_kl([np.array([1.0, 3.0])], free_bits=2.5)
    >>> float(loss_kl)
    2.5
    """
    layer_means = [batch_mean(kl) for kl in kl_layers]
    if isinstance(free_bits, (int, float)) and not free_bits:
        return sum(layer_means), layer_means
    terms = []
    for kl, global_mean_kl in zip(kl_layers, layer_means):
        local_mean_kl = ops.mean(kl)
        lam = ops.cast(ops.convert_to_tensor(free_bits), local_mean_kl.dtype)
        # The gate is decided on the global batch; the gradient flows through
        # the local mean, so that summing replica gradients gives exactly the
        # gradient of max(lambda, global mean).
        active = ops.stop_gradient(global_mean_kl) > lam
        value = ops.where(
            active,
            with_local_gradient(local_mean_kl, global_mean_kl),
            ops.stop_gradient(lam),
        )
        terms.append(value)
    return sum(terms), layer_means


def negative_elbo(
    log_px,
    kl_layers,
    *,
    free_bits=0.0,
    beta=1.0,
    warmup_weight=1.0,
    batch_mean=ops.mean,
    free_bits_groups=None,
):
    """The training loss: ``-E[log p(x|z)] + beta * w_t * KL_free_bits``.

    Args:
        log_px: `(batch,)` log-likelihood of the data under p(x|z).
        kl_layers: list of `(batch,)` KL terms, one per latent layer.
        free_bits: lambda in nats per layer (per group, with
            `free_bits_groups`).
        beta: optional KL weight (1 gives the ELBO).
        warmup_weight: the warm-up factor in [0, 1].
        batch_mean: reduction over the batch.
        free_bits_groups: optional list of `(batch,)` KL terms, one per
            latent *variable*, over which free bits are applied instead of
            `kl_layers` (BIVA: z^BU_i and z^TD_i of each level separately,
            the top z_L once). Their sum must equal the sum of `kl_layers`;
            the logs stay per layer. None: free bits per layer.

    Returns:
        `(loss, logs)` where `logs` holds the batch-mean `elbo`,
        `reconstruction` (= -log p(x|z)), `kl` and the per-layer means
        `kl_layers` (always without free bits, warm-up or beta).

    Example:
    >>> import numpy as np
    >>> loss, logs = negative_elbo(np.array([-10.0]), [np.array([1.0])])
    >>> float(loss), float(logs["elbo"])
    (11.0, -11.0)
    """
    recon = -batch_mean(log_px)
    no_free_bits = isinstance(free_bits, (int, float)) and not free_bits
    if free_bits_groups is None or no_free_bits:
        kl_loss, kl_means = free_bits_kl(kl_layers, free_bits, batch_mean)
    else:
        _, kl_means = free_bits_kl(kl_layers, 0.0, batch_mean)
        kl_loss, _ = free_bits_kl(list(free_bits_groups), free_bits, batch_mean)
    loss = with_local_gradient(-ops.mean(log_px), recon) + beta * warmup_weight * kl_loss
    kl_total = sum(kl_means) if kl_means else ops.zeros((), recon.dtype)
    logs = {
        "elbo": -(recon + kl_total),
        "reconstruction": recon,
        "kl": kl_total,
        "kl_layers": kl_means,
    }
    return loss, logs
