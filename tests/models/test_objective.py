"""The shared objective: free bits, warm-up and clipping against brute force."""

import numpy as np
import keras
from keras import ops
import pytest

from keras_hvae.models.objective import free_bits_kl, kl_warmup_weight, negative_elbo
from keras_hvae.models.safe_update import clip_by_global_norm, global_norm, update_is_finite

pytestmark = pytest.mark.backend_suite


def test_free_bits_value_is_max_of_lambda_and_batch_mean():
    kls = [np.array([0.5, 1.5], "float32"), np.array([3.0, 5.0], "float32")]
    total, means = free_bits_kl([ops.convert_to_tensor(k) for k in kls], free_bits=2.0)
    expected = sum(max(2.0, k.mean()) for k in kls)
    np.testing.assert_allclose(ops.convert_to_numpy(total), expected, rtol=1e-6)
    np.testing.assert_allclose([ops.convert_to_numpy(m) for m in means], [1.0, 4.0])


def test_free_bits_zero_is_plain_sum():
    kls = [np.array([0.5, 1.5], "float32"), np.array([0.1, 0.3], "float32")]
    total, _ = free_bits_kl([ops.convert_to_tensor(k) for k in kls], free_bits=0.0)
    np.testing.assert_allclose(ops.convert_to_numpy(total), 1.0 + 0.2, rtol=1e-6)


def test_negative_elbo_logs_ignore_free_bits_warmup_and_beta():
    log_px = ops.convert_to_tensor(np.array([-10.0, -20.0], "float32"))
    kls = [ops.convert_to_tensor(np.array([0.2, 0.4], "float32"))]
    loss, logs = negative_elbo(log_px, kls, free_bits=2.0, beta=0.5, warmup_weight=0.5)
    # loss = 15 + 0.5 * 0.5 * max(2, 0.3)
    np.testing.assert_allclose(ops.convert_to_numpy(loss), 15.0 + 0.25 * 2.0, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(logs["elbo"]), -15.3, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(logs["kl"]), 0.3, rtol=1e-6)


@pytest.mark.parametrize("step,warmup,expected", [(0, 100, 0.0), (25, 100, 0.25), (500, 100, 1.0), (3, 0, 1.0)])
def test_kl_warmup_is_linear_then_one(step, warmup, expected):
    np.testing.assert_allclose(ops.convert_to_numpy(kl_warmup_weight(step, warmup)), expected)


def test_clip_by_global_norm_matches_numpy():
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(5,)).astype("float32")]
    norm = np.sqrt(sum((g**2).sum() for g in grads))
    clipped, measured = clip_by_global_norm([ops.convert_to_tensor(g) for g in grads], norm / 2)
    np.testing.assert_allclose(ops.convert_to_numpy(measured), norm, rtol=1e-5)
    for c, g in zip(clipped, grads):
        np.testing.assert_allclose(ops.convert_to_numpy(c), g / 2, rtol=1e-5)
    unclipped, _ = clip_by_global_norm([ops.convert_to_tensor(g) for g in grads], norm * 2)
    np.testing.assert_allclose(ops.convert_to_numpy(unclipped[0]), grads[0], rtol=1e-6)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf, 3e19])
def test_update_is_finite_detects_any_bad_gradient(bad_value):
    """A NaN/inf in any gradient, or one whose square overflows float32,
    makes the global norm non-finite and the update is skipped."""
    good = [ops.ones((2,)), ops.zeros((3,))]
    bad = [ops.ones((2,)), ops.convert_to_tensor(np.array([0.0, bad_value, 1.0], "float32"))]
    one = ops.convert_to_tensor(1.0)
    assert bool(ops.convert_to_numpy(update_is_finite(one, global_norm(good))))
    assert not bool(ops.convert_to_numpy(update_is_finite(one, global_norm(bad))))
    assert not bool(ops.convert_to_numpy(update_is_finite(ops.convert_to_tensor(np.inf), global_norm(good))))
    assert not bool(ops.convert_to_numpy(update_is_finite(ops.convert_to_tensor(np.nan), global_norm(good))))


# ------------------------------------------------- one free-bits function
def _value_and_grad(fn, x):
    """`fn(x)` and its gradient with respect to the array `x` (numpy)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.Variable(x)
        with tf.GradientTape() as tape:
            y = fn(x)
        return np.asarray(y), np.asarray(tape.gradient(y, x))
    if backend == "jax":
        import jax

        y, g = jax.value_and_grad(fn)(jax.numpy.asarray(x))
        return np.asarray(y), np.asarray(g)
    import torch

    x = torch.tensor(x, requires_grad=True)
    y = fn(x)
    y.backward()
    return y.detach().cpu().numpy(), x.grad.cpu().numpy()


def test_free_bits_accepts_a_tensor_lambda_with_the_same_loss_and_gradient():
    # layer 0 is under lambda = 2 (no gradient), layer 1 over it
    kls = np.array([[0.5, 1.5], [3.0, 5.0]], "float32")
    log_px = ops.convert_to_tensor(np.array([-10.0, -20.0], "float32"))

    def loss_with(lam):
        def fn(k):
            loss, _ = negative_elbo(log_px, [k[0], k[1]], free_bits=lam, beta=0.5, warmup_weight=0.5)
            return loss

        return _value_and_grad(fn, kls)

    value, grad = loss_with(2.0)
    np.testing.assert_allclose(value, 15.0 + 0.25 * (2.0 + 4.0), rtol=1e-6)
    np.testing.assert_allclose(grad, [[0.0, 0.0], [0.125, 0.125]], rtol=1e-6)
    for lam in (ops.convert_to_tensor(2.0), keras.Variable(2.0, trainable=False)):
        v, g = loss_with(lam)
        np.testing.assert_array_equal(v, value)
        np.testing.assert_array_equal(g, grad)
    # a tensor lambda of 0 is the plain sum, like the float 0
    v0, g0 = loss_with(0.0)
    vt, gt = loss_with(ops.convert_to_tensor(0.0))
    np.testing.assert_allclose(vt, v0, rtol=1e-6)
    np.testing.assert_allclose(gt, g0, rtol=1e-6)


def test_free_bits_groups_apply_lambda_per_variable_and_log_per_layer():
    # one layer = two variables (BIVA's z^BU and z^TD): each under lambda = 2,
    # their sum (3) over it; per layer the KL term would be 3, per variable 4
    bu = np.array([1.0, 2.0], "float32")
    td = np.array([1.4, 1.6], "float32")
    log_px = ops.convert_to_tensor(np.array([-10.0, -20.0], "float32"))

    def fn(k):
        loss, _ = negative_elbo(log_px, [k[0] + k[1]], free_bits=2.0, free_bits_groups=[k[0], k[1]])
        return loss

    value, grad = _value_and_grad(fn, np.stack([bu, td]))
    np.testing.assert_allclose(value, 15.0 + 2.0 + 2.0, rtol=1e-6)
    np.testing.assert_array_equal(grad, np.zeros((2, 2)))  # both under lambda
    per_layer, _ = negative_elbo(log_px, [ops.convert_to_tensor(bu + td)], free_bits=2.0)
    np.testing.assert_allclose(ops.convert_to_numpy(per_layer), 15.0 + 3.0, rtol=1e-6)
    _, logs = negative_elbo(
        log_px, [ops.convert_to_tensor(bu + td)], free_bits=2.0,
        free_bits_groups=[ops.convert_to_tensor(bu), ops.convert_to_tensor(td)],
    )
    np.testing.assert_allclose(ops.convert_to_numpy(logs["kl"]), 3.0, rtol=1e-6)
    np.testing.assert_allclose([ops.convert_to_numpy(m) for m in logs["kl_layers"]], [3.0], rtol=1e-6)
    # lambda 0 (a float or a tensor): the plain sum, groups or not
    for lam in (0.0, ops.convert_to_tensor(0.0)):
        plain, _ = negative_elbo(
            log_px, [ops.convert_to_tensor(bu + td)], free_bits=lam,
            free_bits_groups=[ops.convert_to_tensor(bu), ops.convert_to_tensor(td)],
        )
        np.testing.assert_allclose(ops.convert_to_numpy(plain), 18.0, rtol=1e-6)


def test_free_bits_groups_gate_on_the_global_batch_mean():
    # a distributed batch_mean (here: the other replicas' examples double
    # every mean): a group under lambda locally (1.5) but over it globally
    # (3) is active, its value the global mean, its gradient the local one
    kls = np.array([[1.0, 2.0], [0.2, 0.4]], "float32")
    log_px = ops.convert_to_tensor(np.array([-10.0, -20.0], "float32"))
    doubled = lambda t: 2.0 * ops.mean(t)  # noqa: E731

    def fn(k):
        loss, _ = negative_elbo(
            log_px, [k[0] + k[1]], free_bits=2.0, batch_mean=doubled, free_bits_groups=[k[0], k[1]]
        )
        return loss

    value, grad = _value_and_grad(fn, kls)
    # recon: the global mean 30, through the local one; groups: max(2, 3) + max(2, 0.6)
    np.testing.assert_allclose(value, 30.0 + 3.0 + 2.0, rtol=1e-6)
    np.testing.assert_allclose(grad, [[0.5, 0.5], [0.0, 0.0]], rtol=1e-6)


# ------------------------------------------------------- the template hooks
from keras_hvae.models import LinearGaussianVAE  # noqa: E402


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 2)) @ rng.normal(size=(2, 6)) + 0.3 * rng.normal(size=(n, 6))).astype("float32")


class HookedVAE(LinearGaussianVAE):
    """A family that weighs the KL by 1/4 when training, adds 3 * penalty
    to the loss and reports the penalty, through the hooks only."""

    extra_metric_names = ("penalty",)

    def kl_weight(self, training=False):
        return 0.25 if training else 1.0

    def objective_terms(self, data, training=False):
        terms = super().objective_terms(data, training=training)
        x = self.prepare_inputs(self.unpack_inputs(data))
        penalty = self.batch_mean(ops.sum(ops.square(x), axis=1))
        terms["extra_loss"] = 3.0 * penalty
        terms["metrics"] = {"penalty": penalty}
        return terms


def test_hooks_set_the_loss_and_the_extra_metric():
    x = _data()
    penalty = float(np.mean(np.sum(x**2, axis=1)))
    model = HookedVAE(6, 2, sigma=0.3, seed=0, deterministic_posterior=True)
    model.build()
    loss, logs = model.compute_objective(ops.convert_to_tensor(x), training=True)
    expected = float(logs["reconstruction"]) + 0.25 * float(logs["kl"]) + 3.0 * penalty
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(logs["penalty"]) == pytest.approx(penalty, rel=1e-5)
    loss, logs = model.compute_objective(ops.convert_to_tensor(x), training=False)
    assert float(loss) == pytest.approx(-float(logs["elbo"]) + 3.0 * penalty, rel=1e-5)

    names = [m.name for m in model.metrics]
    assert names[-3:] == ["penalty", "skipped_updates", "bad_batches"], names
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(x, batch_size=64, epochs=2, verbose=0, shuffle=False)
    assert "penalty" in history.history
    assert history.history["penalty"][0] == pytest.approx(penalty, rel=1e-5)
    result = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    assert result["penalty"] == pytest.approx(penalty, rel=1e-5)
    assert result["loss"] == pytest.approx(-result["elbo"] + 3.0 * penalty, rel=1e-4)


class TensorLambdaVAE(LinearGaussianVAE):
    """lambda from a non-trainable variable, as the text models do."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lam = self.add_weight(shape=(), initializer=keras.initializers.Constant(100.0), trainable=False)

    def free_bits_value(self, training=False):
        return self.lam if training else 0.0


def test_free_bits_value_hook_takes_a_variable():
    x = ops.convert_to_tensor(_data())
    model = TensorLambdaVAE(6, 2, sigma=0.3, seed=0, deterministic_posterior=True)
    model.build()
    loss, logs = model.compute_objective(x, training=True)
    assert float(loss) == pytest.approx(float(logs["reconstruction"]) + 100.0, rel=1e-5)
    model.lam.assign(0.0)
    loss, logs = model.compute_objective(x, training=True)
    assert float(loss) == pytest.approx(-float(logs["elbo"]), rel=1e-5)


def test_default_kl_weight_is_warmup_times_beta_when_training():
    model = LinearGaussianVAE(6, 2, sigma=0.3, seed=0, kl_warmup_steps=10, beta=0.5)
    assert float(model.kl_weight(training=False)) == 1.0
    assert float(model.kl_weight(training=True)) == 0.5  # not compiled: no warm-up yet
    model.compile(optimizer=keras.optimizers.SGD(1e-3))
    model.build()
    model.optimizer.iterations.assign(4)
    assert float(ops.convert_to_numpy(model.kl_weight(training=True))) == pytest.approx(0.2)
    assert model.free_bits_value(training=False) == 0.0


def test_num_dims_term_sets_bits_per_dim():
    class HalfDims(LinearGaussianVAE):
        def objective_terms(self, data, training=False):
            terms = super().objective_terms(data, training=training)
            terms["num_dims"] = ops.full((ops.shape(terms["log_px"])[0],), 3.0)
            return terms

    model = HalfDims(6, 2, sigma=0.3, seed=0)
    model.build()
    _, logs = model.compute_objective(ops.convert_to_tensor(_data()), training=False)
    np.testing.assert_allclose(
        float(logs["bits_per_dim"]), -float(logs["elbo"]) / (3 * np.log(2)), rtol=1e-5
    )


def test_an_undeclared_extra_metric_is_an_error():
    class Undeclared(LinearGaussianVAE):
        def objective_terms(self, data, training=False):
            terms = super().objective_terms(data, training=training)
            terms["metrics"] = {"penalty": ops.mean(terms["log_px"])}
            return terms

    model = Undeclared(6, 2, sigma=0.3, seed=0)
    model.build()
    with pytest.raises(ValueError, match="extra_metric_names"):
        model.compute_objective(ops.convert_to_tensor(_data()), training=False)
