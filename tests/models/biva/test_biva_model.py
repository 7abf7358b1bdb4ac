"""BIVA / LVAE / LVAE+: architectures, shapes through every path, weight
sharing of the top-down inference path, configs."""

import keras
import numpy as np
import pytest

from keras_hvae.layers import GatedResidualBlock
from keras_hvae.models.biva import BIVA, LVAE, resample_levels
from keras_hvae.models.biva.biva_architectures import ARCHITECTURES

from tests.models.biva.conftest import tiny_binary, tiny_natural


def test_named_architectures_follow_appendix_c():
    assert set(BIVA.architectures) == {"binary_28x28", "natural_32x32", "natural_64x64"}
    b = ARCHITECTURES["binary_28x28"]
    assert b["latent_sizes"] == [48, 40, 32, 24, 16, 8] and b["strides"] == [2, 1, 1, 1, 1, 2]
    assert b["kernel_sizes"][0] == 5 and b["latent_type"] == "dense" and b["p_dropout"] == 0.5
    n = ARCHITECTURES["natural_32x32"]
    assert len(n["latent_sizes"]) == 15 and n["latent_sizes"][0] == 38 and n["latent_sizes"][-1] == 10
    assert [i + 1 for i, s in enumerate(n["strides"]) if s > 1] == [1, 11, 15]
    assert n["q_dropout"] == 0.2 and n["p_dropout"] == 0.0 and n["likelihood"]["num_mixtures"] == 10
    c = ARCHITECTURES["natural_64x64"]
    assert len(c["latent_sizes"]) == 20 and c["latent_sizes"][-1] == 1
    assert [i + 1 for i, s in enumerate(c["strides"]) if s > 1] == [1, 2, 11, 20]
    assert c["filters"][10] == 64 and c["filters"][11] == 128
    deep = resample_levels(n, 29)
    assert deep["latent_sizes"] == list(range(38, 9, -1))
    assert [i + 1 for i, s in enumerate(deep["strides"]) if s > 1] == [1, 21, 29]
    with pytest.raises(ValueError, match="natural_32x32"):
        BIVA.from_architecture("cifar")


def test_paper_configuration_is_built_lazily():
    model = BIVA.from_architecture("binary_28x28")
    assert model.num_layers == 6 and model.layers_per_block == 3
    assert model.resolutions[0] == ((28, 28), (14, 14)) and model.resolutions[-1] == ((14, 14), (7, 7))
    assert LVAE.from_architecture("natural_32x32").variant == "lvae"
    assert BIVA.from_architecture("natural_32x32", variant="lvae+").variant == "lvae+"
    assert LVAE(deterministic_top_down=True).variant == "lvae+"
    two = BIVA.from_architecture("binary_28x28", latent_sizes=4, num_layers=2, filters=8)
    assert two.latent_sizes == [4, 4] and two.strides == [2, 2] and two.filters == [8, 8]


@pytest.mark.parametrize("variant", ["biva", "lvae", "lvae+"])
def test_shapes_through_every_path(variant, random_binary):
    x = random_binary[:4]
    model = tiny_binary(variant)
    assert model.initialize(x) > 0
    L = model.num_layers
    assert model.elbo(x, seed=0).shape == (4,)
    kl = model.kl_per_layer(x, seed=0)
    assert kl.shape == (4, L) and np.all(np.isfinite(kl))
    split = model.kl_per_layer(x, seed=0, split=True)
    np.testing.assert_allclose(split["bottom_up"] + split["top_down"], kl, rtol=1e-4, atol=1e-3)
    assert np.all(split["top_down"] >= -1e-4)  # closed form; bottom-up terms are one-sample estimates
    assert np.all(split["bottom_up"][:, -1] == 0)
    if variant != "biva":
        assert np.all(split["bottom_up"] == 0)
    else:
        assert np.all(split["bottom_up"][:, :-1] != 0)
    codes = model.encode(x)
    halves = 2 if variant == "biva" else 1
    assert [c.shape for c in codes] == [(4, 6 * halves), (4, 4 * halves), (4, 2)]
    assert model.sample(3, seed=1).shape == (3, 28, 28, 1)
    assert model.reconstruct(x, seed=1).shape == x.shape
    assert model.conditional_sample(x[:2], num_top_layers=1, num_samples=3, seed=1).shape == (6, 28, 28, 1)
    assert model.iwae_bound(x, 3, seed=0).shape == (4,)
    assert np.all(np.isfinite(model.anomaly_score(x, 1, seed=0)))


def test_conv_latents_with_discretized_logistic_mixture():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(3, 16, 16, 3)).astype("uint8")
    for variant in ("biva", "lvae"):
        model = tiny_natural(variant)
        model.initialize(x)
        assert model.likelihood.num_mixtures == 10
        assert model.output_head.filters == 100
        bound = model.elbo(x, seed=0)
        bpd = model.bits_per_dim(bound)
        assert bound.shape == (3,) and np.all(np.isfinite(bpd)) and np.all(bpd > 0)
        codes = model.encode(x)
        assert codes[0].shape == (3, 8, 8, 4 * (2 if variant == "biva" else 1))
        assert codes[-1].shape == (3, 4, 4, 2)
        s = model.sample(2, seed=0)
        assert s.shape == (2, 16, 16, 3) and s.min() >= -1.0 and s.max() <= 1.0


def _blocks(model):
    return [l for l in model._flatten_layers(include_self=False, recursive=True) if isinstance(l, GatedResidualBlock)]


def test_top_down_inference_shares_the_generative_weights(tiny_model, random_binary):
    model = tiny_model
    L, M = model.num_layers, model.layers_per_block
    # The authors' network: the two inference paths (bottom-up g_i and the
    # uninterrupted deterministic path), the generative blocks f_i, one merge
    # for q(z_L) and one per level below it for q(z^TD_i); the top-down
    # inference pass has no blocks of its own beyond the merges.
    assert len(_blocks(model)) == 3 * L * M + 1 + (L - 1)
    block_vars = {id(v) for b in _blocks(model) for v in b.trainable_variables}
    head_vars = [v for v in model.trainable_variables if id(v) not in block_vars]
    # heads: q(z_L), q_TD, p_TD, q_BU, p_BU per level below L (v, g, bias each),
    # dense projections (BU levels < L, generative all levels), output conv.
    n_heads = 1 + 4 * (L - 1) + (L - 1) + L + 1
    assert len(head_vars) == 3 * n_heads

    x = random_binary[:4]
    before_q = model.encode(x)[0]
    before_p = model.sample(2, seed=5, mean=True)
    shared = model._p_block(1, 0).conv1.v  # f_1: z_2 -> d_1, used by p(z_1|z_2) and q(z_1^TD|...)
    old = shared.numpy() if hasattr(shared, "numpy") else keras.ops.convert_to_numpy(shared)
    try:
        shared.assign(old + 0.5)
        after_q = model.encode(x)[0]
        after_p = model.sample(2, seed=5, mean=True)
    finally:
        shared.assign(old)
    half = after_q.shape[-1] // 2
    # the posterior q(z_1^TD | ...) and the generative model both moved,
    assert np.abs(after_q[:, half:] - before_q[:, half:]).max() > 1e-4
    assert np.abs(after_p - before_p).max() > 1e-4
    # while q(z_1^BU | x) (bottom-up only) did not.
    np.testing.assert_allclose(after_q[:, :half], before_q[:, :half], atol=1e-6)


def test_lvae_config_round_trip():
    # BIVA's and LVAE+'s round trips are in the contract (test_biva_saving.py)
    model = LVAE.from_architecture("binary_28x28", filters=4, latent_sizes=[3, 2])
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert type(again) is LVAE and again.get_config() == model.get_config() and again.variant == "lvae"


def test_invalid_configurations_are_rejected():
    with pytest.raises(ValueError, match="stride"):
        BIVA(data_shape=(28, 28, 1), strides=[2, 2, 2], kernel_sizes=3, latent_sizes=[2, 2, 2], filters=4)
    with pytest.raises(ValueError, match="latent_type"):
        BIVA(latent_type="flow")
    with pytest.raises(ValueError, match="one per level"):
        BIVA(filters=[4, 4], latent_sizes=[2, 2, 2], strides=1, kernel_sizes=3)
