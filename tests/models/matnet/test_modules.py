"""Eqs. 7-11: module shapes, residual behaviour, the GRU update, alignment, architectures."""

import numpy as np
import pytest
from keras import ops

from keras_hvae.models.matnet import MatNet, ConditionalMatNet
from keras_hvae.models.matnet.modules import BUModule, GRUTDModule, MergeModule, TDModule, lrelu
from keras_hvae.models.matnet.networks import BottomUpNetwork, make_plan

RNG = np.random.default_rng(0)


def _np(x):
    return ops.convert_to_numpy(x)


def _zero(layer):
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


def _h(shape):
    return ops.convert_to_tensor(RNG.normal(size=shape).astype("float32"))


@pytest.mark.parametrize("weight_norm", [False, True])
def test_td_module_shapes_and_zeroed_output_is_identity_up_to_lrelu(weight_norm):
    m = TDModule(8, 3, weight_norm=weight_norm)
    h, z = _h((2, 7, 7, 8)), _h((2, 7, 7, 3))
    mu, log_var = m.prior(h)  # Eq. 8
    assert mu.shape == (2, 7, 7, 3) and log_var.shape == (2, 7, 7, 3)
    out = m.update(h, z)  # Eq. 7
    assert out.shape == (2, 7, 7, 8)
    assert not np.allclose(_np(out), _np(m.update(h, z + 1.0)))  # z enters the update
    _zero(m.update_out)  # w_i^t = 0 (and its bias)
    np.testing.assert_allclose(_np(m.update(h, z)), _np(lrelu(h)), atol=1e-6)


@pytest.mark.parametrize("weight_norm", [False, True])
def test_bu_module_is_residual(weight_norm):
    m = BUModule(8, weight_norm=weight_norm)
    h = _h((2, 14, 14, 8))
    assert m(h).shape == h.shape
    _zero(m.conv_out)
    np.testing.assert_allclose(_np(m(h)), _np(lrelu(h)), atol=1e-6)  # Eq. 9 with w = 0


def test_merge_module_eqs_10_11():
    m = MergeModule(8, 2, weight_norm=False)
    h_m, h_b, h_t = _h((2, 7, 7, 8)), _h((2, 7, 7, 8)), _h((2, 7, 7, 8))
    new, mu, log_var = m(h_m, h_b, h_t)
    assert new.shape == (2, 7, 7, 8) and mu.shape == (2, 7, 7, 2) and log_var.shape == (2, 7, 7, 2)
    # Eq. 11: the Gaussian parameters are a linear function of the *updated* merge state
    both = _np(m.conv_w(new))
    np.testing.assert_allclose(np.concatenate([_np(mu), _np(log_var)], -1), both, atol=1e-5)
    # Eq. 10 is residual in h^m: zero v and the new state is lrelu(h^m)
    _zero(m.conv_v)
    new, _, _ = m(h_m, h_b, h_t)
    np.testing.assert_allclose(_np(new), _np(lrelu(h_m)), atol=1e-6)


def test_dense_merge_and_bu_modules():
    merge = MergeModule(16, 4, spatial=False, weight_norm=False)
    new, mu, _ = merge(_h((3, 16)), _h((3, 16)), _h((3, 16)))
    assert new.shape == (3, 16) and mu.shape == (3, 4)
    assert BUModule(16, spatial=False, weight_norm=False)(_h((3, 16))).shape == (3, 16)


def test_gru_td_module_update_is_the_documented_gru():
    m = GRUTDModule(6, 2, weight_norm=False)
    h, z = ops.tanh(_h((4, 6))), _h((4, 2))
    out = _np(m.update(h, z))
    h, z = _np(h), _np(z)
    wg, bg = m.gates.get_weights()
    wc, bc = m.candidate.get_weights()
    sig = lambda a: 1 / (1 + np.exp(-a))
    g = sig(np.concatenate([h, z], -1) @ wg + bg)
    u, r = g[:, :6], g[:, 6:]
    c = np.tanh(np.concatenate([r * h, z], -1) @ wc + bc)
    np.testing.assert_allclose(out, (1 - u) * h + u * c, atol=1e-5)
    mu, log_var = m.prior(ops.convert_to_tensor(h))
    assert mu.shape == (4, 2) and log_var.shape == (4, 2)


def test_bu_states_are_numbered_in_reverse_order_of_evaluation():
    plan = make_plan((28, 28, 1), 16, 4, 1, 3, [
        {"size": 7, "modules": 2, "channels": 8, "z_channels": 2},
        {"size": 14, "modules": 3, "channels": 8, "z_channels": 2},
    ])
    bu = BottomUpNetwork(plan, weight_norm=False)
    x = _h((2, 28, 28, 1))
    top, aligned = bu(x)
    assert [tuple(s.shape[1:]) for s in aligned] == [(16,)] + [(7, 7, 8)] * 2 + [(14, 14, 8)] * 3
    # evaluate by hand: 14x14 modules first (bu_modules 0..2), then 7x7 (3, 4), then fc (5)
    h = lrelu(bu.entries[0](x))
    evaluated = []
    for k in range(3):
        h = bu.bu_modules[k](h)
        evaluated.append(_np(h))
    # TD module order within 14x14 meets the BU states from the last evaluated one back
    for j in range(3):
        np.testing.assert_allclose(_np(aligned[3 + j]), evaluated[2 - j], atol=1e-5)
    np.testing.assert_allclose(_np(aligned[0]), _np(top), atol=1e-6)  # the final BU state (z_0's too)
    mu, log_var = bu.z0_params(top)
    assert mu.shape == (2, 4)


def test_plan_rejects_sizes_that_do_not_chain():
    with pytest.raises(ValueError, match="integer factors"):
        make_plan((28, 28, 1), 16, 4, 0, 4, [{"size": 5, "modules": 1, "channels": 4, "z_channels": 1}])
    with pytest.raises(ValueError, match="square"):
        make_plan((28, 14, 1), 16, 4, 0, 4, [{"size": 7, "modules": 1, "channels": 4, "z_channels": 1}])


def test_paper_architectures():
    conv = MatNet.from_architecture("mnist_conv")
    assert len(conv.latent_layer_names) == 11
    assert conv.meta_module_names == ["fc", "7x7", "14x14"]
    assert conv.latent_layer_groups[::-1] == ["fc"] + ["7x7"] * 5 + ["14x14"] * 5
    assert MatNet.from_architecture("omniglot_conv").meta_module_names == ["fc", "7x7", "14x14"]
    gmm = MatNet.from_architecture("omniglot_conv_gmm")
    assert gmm.prior_type == "mixture" and gmm.num_components == 50
    cifar = MatNet.from_architecture("cifar10")
    assert cifar.meta_module_names == ["fc", "8x8", "16x16", "32x32"]
    assert [m.modules for m in cifar.plan.meta] == [0, 2, 4, 4]
    assert type(cifar.likelihood).__name__ == "GaussianLikelihood"
    ar = MatNet.from_architecture("cifar10_ar")
    assert ar.autoregressive and type(ar.likelihood).__name__ == "DiscretizedLogisticLikelihood"
    fc = MatNet.from_architecture("mnist_fc")
    assert fc.meta_module_names == ["fc"] and len(fc.latent_layer_names) == 11
    small = MatNet.from_architecture("mnist_conv", channels=8, modules=2, z_channels=1, fc_units=32)
    assert [(m.width, m.modules, m.z_dim) for m in small.plan.conv_meta] == [(8, 2, 1), (8, 2, 1)]
    assert small.fc_units == 32
    assert set(MatNet.architectures) >= {"mnist_conv", "omniglot_conv", "mnist_fc", "cifar10"}
    two = ConditionalMatNet.from_architecture("inpainting_64", channels=8)
    assert two.stages == 2 and two.meta_module_names == ["fc", "8x8", "16x16", "32x32"]
    with pytest.raises(ValueError, match="Unknown MatNet architecture"):
        MatNet.from_architecture("imagenet")
