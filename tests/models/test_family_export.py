"""Family SavedModel endpoints (BIVA's `anomaly_score`, the conditional
MatNet's `inpaint`) reload in a process that never imports keras_hvae and
agree with the Keras model."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from tests.conftest import require_tensorflow

#: Runs in a fresh interpreter: only TensorFlow and numpy.
RELOAD = textwrap.dedent(
    """
    import json, sys, numpy as np, tensorflow as tf
    saved, inputs, calls, out = sys.argv[1:5]
    m = tf.saved_model.load(saved)
    arrays = dict(np.load(inputs))
    results = {}
    for key, name, args in json.loads(calls):
        fn = getattr(m, name)
        vals = [tf.constant(arrays[a]) if isinstance(a, str) else tf.constant(a[0], dtype=a[1]) for a in args]
        results[key] = fn(*vals).numpy()
    assert not any(mod.startswith("keras_hvae") for mod in sys.modules), "keras_hvae was imported"
    np.savez(out, **results)
    print("RELOAD-OK")
    """
)


def reload_and_call(tmp_path, saved, arrays, calls):
    """Calls `[(key, endpoint, args)]` on the SavedModel in a clean process;
    an arg is an array name or `[value, dtype]`. Returns `{key: array}`."""
    np.savez(tmp_path / "inputs.npz", **arrays)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH="")
    out = subprocess.run(
        [sys.executable, "-c", RELOAD, str(saved), str(tmp_path / "inputs.npz"), json.dumps(calls),
         str(tmp_path / "out.npz")],
        env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
    )
    assert out.returncode == 0 and "RELOAD-OK" in out.stdout, out.stderr[-4000:]
    return dict(np.load(tmp_path / "out.npz"))


def _within_monte_carlo_error(a, b, sigmas=4.0):
    se = np.sqrt(np.var(a) / len(a) + np.var(b) / len(b))
    return abs(float(np.mean(a) - np.mean(b))) <= sigmas * se + 1e-3


def test_biva_anomaly_score_endpoint_matches_the_keras_model(tmp_path):
    require_tensorflow()
    import keras

    from tests.models.biva.conftest import tiny_binary

    rng = np.random.default_rng(0)
    x = (rng.uniform(size=(96, 28, 28, 1)) < 0.25).astype("float32")
    model = tiny_binary("biva", latent_sizes=[4, 2], filters=4)  # L=2: k = 0, 1, L are all distinct
    model.compile(optimizer=keras.optimizers.Adamax(1e-2))
    model.fit(x, batch_size=32, epochs=2, verbose=0)
    names = model.export(tmp_path / "sm", verbose=False)
    assert set(names) >= {"elbo", "sample", "encode", "anomaly_score"}
    L = model.num_layers
    calls = [[f"k{k}", "anomaly_score", ["x", [k, "int32"]]] for k in (0, 1, L)] + [["elbo", "elbo", ["x"]]]
    got = reload_and_call(tmp_path, tmp_path / "sm", {"x": x}, calls)
    for k in (0, 1, L):
        ref = model.anomaly_score(x, k, seed=5)
        assert got[f"k{k}"].shape == ref.shape and got[f"k{k}"].dtype == ref.dtype
        assert _within_monte_carlo_error(got[f"k{k}"], ref), (k, got[f"k{k}"].mean(), ref.mean())
    # L^{>0} is the ELBO, also through the SavedModel
    assert _within_monte_carlo_error(got["k0"], got["elbo"])
    # (that L^{>k} falls with k on real digits is checked in test_biva_training.py)
    assert all(np.all(np.isfinite(v)) for v in got.values())


def test_conditional_matnet_inpaint_endpoint_matches_the_keras_model(tmp_path):
    require_tensorflow()
    from keras_hvae.models.matnet import numpy_quadrant_masks
    from tests.models.matnet.conftest import random_binary, tiny_conditional

    x = random_binary((6, 28, 28, 1), seed=2)
    masks = numpy_quadrant_masks(6, (28, 28), 2)
    model = tiny_conditional(sizes=(7,))
    assert "inpaint" in model.export(tmp_path / "sm", verbose=False)
    got = reload_and_call(tmp_path, tmp_path / "sm", {"x": x, "mask": masks},
                          [["inpaint", "inpaint", ["x", "mask"]], ["elbo", "elbo", ["x"]]])
    ref = model.inpaint(x, masks, seed=0)
    out = got["inpaint"]
    assert out.shape == ref.shape == x.shape and out.dtype == ref.dtype
    known = np.broadcast_to(masks > 0, out.shape)
    np.testing.assert_array_equal(out[known], x[known])
    assert set(np.unique(out)) <= {0.0, 1.0}
    # the unknown pixels are drawn from the same p(x^u | x^k): their means agree
    unknown = ~known
    assert abs(out[unknown].mean() - ref[unknown].mean()) < 0.1
    assert got["elbo"].shape == (6,) and np.all(np.isfinite(got["elbo"]))
