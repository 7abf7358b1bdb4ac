"""Two replicas under MirroredStrategy give the same update as one device."""

import os
import subprocess
import sys
import textwrap


from tests.conftest import require_tensorflow

SCRIPT = textwrap.dedent(
    """
    import os
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from keras_hvae.models import LinearGaussianVAE

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(128, 6)) * 3).astype("float32")

    def train(strategy):
        with strategy.scope():
            # deterministic posterior: the comparison must not depend on how
            # replicas split the random stream; free bits and clipping active.
            model = LinearGaussianVAE(6, 2, sigma=0.4, seed=1, free_bits=0.8,
                                      clip_norm=5.0, deterministic_posterior=True)
            model.build()
            model.set_weights([np.full(w.shape, 0.1, "float32") + 0.01 * np.arange(w.size, dtype="float32").reshape(w.shape)
                               for w in model.get_weights()])
            model.compile(optimizer=keras.optimizers.Adamax(1e-2))
        ds = tf.data.Dataset.from_tensor_slices(x).batch(64)
        hist = model.fit(ds, epochs=3, verbose=0)
        return [np.array(w) for w in model.get_weights()], hist.history["loss"]

    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert two.num_replicas_in_sync == 2
    w2, l2 = train(two)
    w1, l1 = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(l1, l2, rtol=1e-4)
    assert not np.allclose(w1[0], 0.1 + 0.01 * np.arange(w1[0].size).reshape(w1[0].shape))
    print("MIRRORED-OK", l1[-1], l2[-1])
    """
)


def test_mirrored_strategy_matches_one_device():
    require_tensorflow()
    env = dict(os.environ, KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    assert "MIRRORED-OK" in out.stdout
