"""The HVAE contract (forward terms, bounds, config / `.keras` / preset /
SavedModel round trips, seeded sampling) for BIVA and LVAE+, plus what is
BIVA's own: the data-dependent initialisation survives a reload, and
seeded conditional samples are reproducible."""

import keras
import numpy as np
import pytest

from keras_hvae.layers import uninitialized_weight_norm_layers

from tests.hvae_test_case import check_keras_file_round_trip, run_hvae_contract
from tests.models.biva.conftest import tiny_binary


@pytest.mark.backend_suite
def test_biva_contract(tmp_path, random_binary):
    x = random_binary
    model = tiny_binary(q_dropout=0.5, p_dropout=0.5)
    model.compile(optimizer=keras.optimizers.Adamax(1e-3))
    model.fit(x, batch_size=4, epochs=1, verbose=0)  # runs the data-dependent init
    results = run_hvae_contract(
        model, x, tmp_path, endpoints=["elbo", "sample", "encode", "anomaly_score"]
    )
    assert not uninitialized_weight_norm_layers(results["keras_file"])
    assert not uninitialized_weight_norm_layers(results["preset"])


def test_lvae_plus_contract(tmp_path, random_binary):
    model = tiny_binary("lvae+", filters=4)
    assert model.get_config()["deterministic_top_down"] is True
    model.initialize(random_binary)
    run_hvae_contract(model, random_binary[:4], tmp_path, checks=("forward_terms", "bounds", "config", "keras_file"))


def test_reload_keeps_the_weight_norm_init(tmp_path, random_binary):
    x = random_binary
    model = tiny_binary()
    model.initialize(x)
    loaded = check_keras_file_round_trip(model, x, tmp_path)
    assert not uninitialized_weight_norm_layers(loaded)
    g_before = [keras.ops.convert_to_numpy(w) for w in loaded.weights if w.name == "g"]
    assert loaded.initialize(x) == 0  # the saved `initialized` flags stop a re-init
    g_after = [keras.ops.convert_to_numpy(w) for w in loaded.weights if w.name == "g"]
    for a, b in zip(g_before, g_after):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.anomaly_score(x, 2, seed=3), model.anomaly_score(x, 2, seed=3), rtol=1e-5, atol=1e-3)


def test_seeded_conditional_sampling_is_reproducible(tiny_model, random_binary):
    c1 = tiny_model.conditional_sample(random_binary[:2], 2, num_samples=2, temperature=0.8, seed=4, mean=True)
    c2 = tiny_model.conditional_sample(random_binary[:2], 2, num_samples=2, temperature=0.8, seed=4, mean=True)
    np.testing.assert_array_equal(c1, c2)
    assert not np.array_equal(c1, tiny_model.conditional_sample(random_binary[:2], 2, num_samples=2, temperature=0.8,
                                                                 seed=5, mean=True))
