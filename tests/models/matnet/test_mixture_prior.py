"""The mixture prior over z_0: Eq. 12 against Monte Carlo, exact log p, cluster()."""

import numpy as np
import pytest
from keras import ops

from keras_hvae.models.matnet import GaussianMixturePrior, eq12_kl, printed_eq12_kl
from tests.models.matnet.conftest import tiny_matnet


def _log_normal(z, loc, scale):
    return np.sum(-0.5 * ((z - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi), axis=-1)


def _mc_kl(q_loc, q_scale, weights, locs, scales, n=200_000, seed=0):
    """Monte-Carlo KL(q || sum_i w_i N(locs_i, scales_i^2)) for one q, float64."""
    rng = np.random.default_rng(seed)
    z = q_loc + q_scale * rng.normal(size=(n, q_loc.shape[-1]))
    log_q = _log_normal(z, q_loc, q_scale)
    comp = np.stack([_log_normal(z, m, s) for m, s in zip(locs, scales)], axis=1) + np.log(weights)
    top = comp.max(axis=1, keepdims=True)
    log_p = top[:, 0] + np.log(np.exp(comp - top).sum(axis=1))
    values = log_q - log_p
    return values.mean(), values.std() / np.sqrt(n)


def _eq12(q_loc, q_scale, logits, locs, scales):
    f = lambda a: ops.convert_to_tensor(np.asarray(a, "float32"))
    out = eq12_kl(f(q_loc[None]), f(q_scale[None]), f(logits), f(locs), f(scales))
    return float(ops.convert_to_numpy(out)[0])


def test_eq12_is_exact_for_one_component():
    q_loc, q_scale = np.array([0.3, -1.0, 0.5]), np.array([0.5, 1.2, 0.8])
    locs, scales = np.array([[0.0, 0.5, -0.2]]), np.array([[1.0, 0.7, 1.5]])
    approx = _eq12(q_loc, q_scale, np.zeros(1), locs, scales)
    mc, err = _mc_kl(q_loc, q_scale, np.ones(1), locs, scales)
    assert abs(approx - mc) < 4 * err + 1e-3, (approx, mc, err)


@pytest.mark.parametrize(
    "q_loc,q_scale",
    [
        (np.array([0.0, 0.0]), np.array([1.0, 1.0])),  # q straddles two components
        (np.array([1.5, -0.5]), np.array([0.4, 0.6])),  # q near one component
        (np.array([-3.0, 2.0]), np.array([2.0, 0.3])),  # q far from all
    ],
)
def test_weighted_eq12_upper_bounds_the_true_kl_for_several_components(q_loc, q_scale):
    weights = np.array([0.5, 0.3, 0.2])
    locs = np.array([[-1.5, 0.0], [1.5, 0.0], [0.0, 2.0]])
    scales = np.array([[0.7, 0.7], [0.5, 0.9], [1.0, 1.0]])
    approx = _eq12(q_loc, q_scale, np.log(weights), locs, scales)
    mc, err = _mc_kl(q_loc, q_scale, weights, locs, scales)
    assert approx >= mc - 4 * err - 1e-3, (approx, mc, err)  # Jensen: never below the true KL


def test_printed_eq12_is_the_uniform_weighted_form_minus_log_k():
    rng = np.random.default_rng(1)
    q_loc, q_scale = rng.normal(size=(4, 3)), np.exp(rng.normal(size=(4, 3)) * 0.3)
    locs, scales = rng.normal(size=(5, 3)), np.exp(rng.normal(size=(5, 3)) * 0.3)
    f = lambda a: ops.convert_to_tensor(np.asarray(a, "float32"))
    weighted = ops.convert_to_numpy(eq12_kl(f(q_loc), f(q_scale), f(np.zeros(5)), f(locs), f(scales)))
    printed = ops.convert_to_numpy(printed_eq12_kl(f(q_loc), f(q_scale), f(locs), f(scales)))
    np.testing.assert_allclose(weighted - printed, np.log(5.0), rtol=1e-5)


def test_mixture_log_prob_is_exact_and_samples_have_the_right_shape():
    prior = GaussianMixturePrior(3, 2, seed=0)
    prior.log_scales.assign(np.log(np.array([[0.5, 1.0], [1.0, 2.0], [0.3, 0.3]], "float32")))
    prior.logits.assign(np.log(np.array([0.2, 0.3, 0.5], "float32")))
    z = np.random.default_rng(0).normal(size=(6, 2)).astype("float32")
    got = ops.convert_to_numpy(prior.log_prob(ops.convert_to_tensor(z)))
    locs = ops.convert_to_numpy(prior.locs)
    scales = np.array([[0.5, 1.0], [1.0, 2.0], [0.3, 0.3]])
    comp = np.stack([_log_normal(z, m, s) for m, s in zip(locs, scales)], 1) + np.log([0.2, 0.3, 0.5])
    np.testing.assert_allclose(got, np.log(np.exp(comp).sum(1)), rtol=1e-4, atol=1e-4)
    import keras

    draws = prior.sample(5, keras.random.SeedGenerator(1))
    assert tuple(draws.shape) == (5, 2)


def test_cluster_gives_probabilities_that_sum_to_one(tiny_binary):
    model = tiny_matnet(sizes=(7,), prior="mixture", num_components=6, cluster_entropy_weight=0.1)
    probs = model.cluster(tiny_binary[:5])
    assert probs.shape == (5, 6)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # the z_0 KL of the model is the weighted Eq. 12 (exact for one component:
    # then the IWAE log-ratio and the KL agree in expectation; here just finite)
    kl = model.kl_per_layer(tiny_binary[:5], seed=0)
    assert kl.shape == (5, 2) and np.all(np.isfinite(kl)) and np.all(kl[:, -1] >= -1e-4)
    with pytest.raises(ValueError, match="mixture"):
        tiny_matnet(sizes=(7,)).cluster(tiny_binary[:2])


def test_entropy_penalty_adds_weight_times_entropy_to_the_loss(tiny_binary):
    model = tiny_matnet(sizes=(7,), prior="mixture", num_components=4, cluster_entropy_weight=2.0)
    model.build()
    state = ops.convert_to_numpy(model.seed_generator.state.value).copy()
    loss_on, logs = model.compute_objective(tiny_binary[:8], training=True)
    model.cluster_entropy_weight = 0.0
    model.seed_generator.state.assign(state)  # the same posterior samples
    loss_off, _ = model.compute_objective(tiny_binary[:8], training=True)
    ent = float(ops.convert_to_numpy(logs["component_entropy"]))
    assert 0.0 <= ent <= np.log(4) + 1e-5
    diff = float(ops.convert_to_numpy(loss_on)) - float(ops.convert_to_numpy(loss_off))
    np.testing.assert_allclose(diff, 2.0 * ent, rtol=1e-3, atol=1e-3)
