"""Per-module KL over training (Fig. 4): the callback and the stacked-area plot."""

import keras
import numpy as np

from keras_hvae.evaluation.kl_tracking import KLTracker, plot_kl_stack
from tests.models.matnet.conftest import random_binary, tiny_matnet


def test_kl_tracker_records_every_module_and_plots_a_png(tmp_path):
    x = random_binary((16, 28, 28, 1))
    model = tiny_matnet(conv_meta_modules=[
        {"size": 7, "modules": 2, "channels": 8, "z_channels": 2},
        {"size": 14, "modules": 1, "channels": 8, "z_channels": 2},
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    tracker = KLTracker(x[:8], at_start=True)
    model.fit(x, batch_size=8, epochs=2, verbose=0, callbacks=[tracker])
    records = tracker.as_array()
    assert tracker.epochs == [0, 1, 2]
    assert records.shape == (3, 4) and np.all(np.isfinite(records)) and np.all(records >= -1e-4)
    assert tracker.layer_names == list(model.latent_layer_names)
    assert tracker.layer_groups == ["14x14", "7x7", "7x7", "fc"]
    # the records are model.kl_per_layer on the fixed batch and seed
    np.testing.assert_allclose(records[-1], model.kl_per_layer(x[:8], seed=0).mean(0), rtol=1e-4, atol=1e-4)
    path = tmp_path / "kl.png"
    fig = plot_kl_stack(tracker, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.layer_order == ["z0_fc", "z1_7x7", "z2_7x7", "z3_14x14"]  # stacked from z_0 up


def test_plot_from_a_bare_array(tmp_path):
    data = np.abs(np.random.default_rng(0).normal(size=(5, 3)))
    fig = plot_kl_stack(data, tmp_path / "a.png", layer_names=["a", "b", "c"], layer_groups=["g2", "g1", "g1"])
    assert (tmp_path / "a.png").exists() and fig.layer_order == ["c", "b", "a"]
