"""Conditional MatNets: masks, Eq. 6 training, inpainting, the quadrant task;
saving and the `inpaint` export through the HVAE contract."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.evaluation.structured_prediction import quadrant_nll, structured_prediction_table
from keras_hvae.models.matnet import (
    ConditionalMatNet,
    numpy_quadrant_masks,
    numpy_random_square_masks,
    quadrant_masks,
    random_square_masks,
    scaled_square_size,
)
from tests.hvae_test_case import run_hvae_contract
from tests.models.matnet.conftest import random_binary, tiny_conditional


def test_square_and_quadrant_masks():
    assert scaled_square_size(64) == 20 and scaled_square_size(28) == 9
    m = ops.convert_to_numpy(random_square_masks(32, (28, 28), seed=keras.random.SeedGenerator(0)))
    assert m.shape == (32, 28, 28, 1) and set(np.unique(m)) <= {0.0, 1.0}
    missing = (1 - m).sum(axis=(1, 2, 3))
    assert np.all(missing >= 81) and np.all(missing <= 3 * 81)
    assert len({tuple(np.argwhere(mm[..., 0] == 0)[0]) for mm in m}) > 1  # placed at random
    n = numpy_random_square_masks(8, (64, 64, 3), seed=0)
    assert n.shape == (8, 64, 64, 1) and np.all((1 - n).sum(axis=(1, 2, 3)) >= 400)
    for k, visible in ((1, 196), (2, 392), (3, 588)):
        q = numpy_quadrant_masks(2, (28, 28), k)
        assert q.shape == (2, 28, 28, 1) and q[0].sum() == visible
    assert numpy_quadrant_masks(1, (28, 28), 1)[0, 20, 3, 0] == 1  # bottom-left visible
    t = ops.convert_to_numpy(quadrant_masks(64, (28, 28), seed=keras.random.SeedGenerator(1)))
    assert set(np.unique(t.sum(axis=(1, 2, 3)))) <= {196.0, 392.0, 588.0}
    assert len(set(np.unique(t.sum(axis=(1, 2, 3))))) == 3


def test_example_masks_are_the_masks_the_model_trains_on():
    quadrants = tiny_conditional(sizes=(7,), mask_generator="quadrants").example_masks(7)
    assert quadrants.shape == (7, 28, 28, 1)
    assert list(quadrants.sum(axis=(1, 2, 3))) == [196, 392, 588, 196, 392, 588, 196]  # 1, 2, 3 quadrants
    np.testing.assert_array_equal(quadrants[1], numpy_quadrant_masks(1, (28, 28), 2)[0])
    squares = tiny_conditional(sizes=(7,), mask_generator="squares", num_squares=2, square_size=5)
    a, b, c = (squares.example_masks(6, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a, b)  # seeded
    assert not np.array_equal(a, c)
    missing = (1 - a).sum(axis=(1, 2, 3))
    assert set(np.unique(a)) == {0.0, 1.0} and np.all(missing >= 25) and np.all(missing <= 50)
    assert squares.example_masks(0).shape == (0, 28, 28, 1)


@pytest.mark.backend_suite
def test_inpainting_trains_and_keeps_the_known_pixels():
    x = random_binary((32, 28, 28, 1), seed=1)
    masks = numpy_random_square_masks(32, (28, 28), seed=0)
    model = tiny_conditional(sizes=(7,), mask_generator="squares")
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x, masks, batch_size=16, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    out = model.inpaint(x[:4], masks[:4], seed=0)
    assert out.shape == (4, 28, 28, 1)
    known = masks[:4] > 0
    np.testing.assert_array_equal(out[known], x[:4][known])
    many = model.inpaint(x[:2], masks[:2, ..., 0], num_samples=3, seed=0)
    assert many.shape == (3, 2, 28, 28, 1)
    assert np.all(many[:, masks[:2] > 0] == x[:2][masks[:2] > 0])
    assert set(np.unique(out)) <= {0.0, 1.0}
    bound = model.conditional_elbo(x[:4], masks[:4], seed=0)
    assert bound.shape == (4,) and np.all(bound < 0)


def test_quadrant_nll_drops_with_training_on_real_digits(binary_digits):
    x_train, x_test = binary_digits
    x_train, x_test = x_train[:512], x_test[:48]
    model = ConditionalMatNet.from_architecture(
        "mnist_quadrants", channels=8, modules=1, z_channels=2, fc_units=16, z0_dim=4, weight_norm=True, seed=0
    )
    before = quadrant_nll(model, x_test, num_visible=2, num_samples=4, seed=0)
    assert before.shape == (48,) and np.all(before > 0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x_train, batch_size=64, epochs=3, verbose=0)  # quadrant masks drawn in the step
    after = quadrant_nll(model, x_test, num_visible=2, num_samples=4, seed=0)
    assert after.mean() < before.mean() - 20.0, (before.mean(), after.mean())
    table = structured_prediction_table(model, x_test[:8], num_samples=2, batch_size=8)
    assert sorted(table) == [1, 2, 3] and all(np.isfinite(v) for v in table.values())
    # fewer visible quadrants -> more missing pixels -> larger NLL
    assert table[1] > table[3]


def test_two_stage_model_with_uint8_images_and_the_integrated_logistic():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8, 8, 8, 3)).astype("uint8")
    masks = numpy_random_square_masks(8, (8, 8), num_squares=2, square_size=3, seed=1)
    model = ConditionalMatNet(
        data_shape=(8, 8, 3), likelihood="discretized_logistic", fc_units=16, z0_dim=4,
        conv_meta_modules=[{"size": 4, "modules": 1, "channels": 8, "z_channels": 2}],
        stages=2, weight_norm=False, seed=0,
    )
    model.compile(optimizer="adam")
    history = model.fit(images, masks, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["stage1_elbo"][-1])
    out = model.inpaint(images[:3], masks[:3], seed=0)
    assert out.dtype == np.uint8
    known = np.broadcast_to(masks[:3] > 0, out.shape)
    np.testing.assert_array_equal(out[known], images[:3][known])
    ll = model.conditional_log_likelihood(images[:3], masks[:3], num_samples=3, chunk_size=2, seed=0)
    assert ll.shape == (3,) and np.all(np.isfinite(ll))


def test_mask_validation():
    model = tiny_conditional(sizes=(7,))
    x = random_binary((2, 28, 28, 1))
    with pytest.raises(ValueError, match="0 \\(missing\\) and 1"):
        model.inpaint(x, np.full((2, 28, 28, 1), 0.5, "float32"))
    with pytest.raises(ValueError, match="masks must have shape"):
        model.inpaint(x, np.ones((2, 14, 14, 1), "float32"))


def test_hvae_contract(tmp_path):
    x = random_binary((8, 28, 28, 1))
    masks = numpy_quadrant_masks(8, (28, 28), 2)
    model = tiny_conditional(sizes=(7,), mask_generator="quadrants", stages=2, weight_norm=True)
    model.compile(optimizer="adam")
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices({"x": x, "mask": masks}).batch(4)  # (x, mask) as a dict
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    results = run_hvae_contract(model, x, tmp_path, masks=masks, endpoints=["elbo", "sample", "encode", "inpaint"])
    loaded = results["keras_file"]
    assert loaded.stages == 2
    np.testing.assert_allclose(
        loaded.conditional_elbo(x, masks, seed=3), model.conditional_elbo(x, masks, seed=3), rtol=1e-5, atol=1e-4
    )
