"""Preset directories: round trips, verification, sources, clear errors.

The tests that load weights into a model and score with it run in the
backend suite; the file and config checks (sha256, JSON, class name,
unknown names) are plain Python and run on TensorFlow only."""

import tarfile

import numpy as np
import pytest

from keras_hvae.applications import PresetError
from keras_hvae.models import LinearGaussianVAE
from tests.http_server import local_http_server


@pytest.fixture
def preset_dir(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    model = LinearGaussianVAE(6, 2, sigma=0.5, seed=3)
    model.compile(optimizer="adam")
    model.fit(x, batch_size=32, epochs=1, verbose=0)
    meta = model.save_to_preset(tmp_path / "lg", metadata={"dataset": "synthetic", "scores": {"test_elbo": -1.0}})
    return tmp_path / "lg", model, x, meta


@pytest.mark.backend_suite
def test_round_trip_keeps_weights_config_and_metadata(preset_dir):
    directory, model, x, meta = preset_dir
    assert {p.name for p in directory.iterdir()} >= {"config.json", "metadata.json", "model.weights.h5"}
    loaded = LinearGaussianVAE.from_preset(str(directory))
    np.testing.assert_allclose(loaded.elbo(x, seed=1), model.elbo(x, seed=1), rtol=1e-5, atol=1e-5)
    assert loaded.preset_metadata["scores"] == {"test_elbo": -1.0}
    assert meta["parameters"] == model.count_params()
    assert len(meta["weights_sha256"]) == 64 and meta["class_name"] == "LinearGaussianVAE"
    unweighted = LinearGaussianVAE.from_preset(str(directory), load_weights=False)
    assert unweighted.get_config() == model.get_config()


def test_corrupt_weights_fail_the_sha256_check(preset_dir):
    directory = preset_dir[0]
    weights = directory / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(PresetError, match="sha256"):
        LinearGaussianVAE.from_preset(str(directory))


def test_corrupt_config_and_missing_files_are_named(preset_dir):
    directory = preset_dir[0]
    (directory / "config.json").write_text("{not json")
    with pytest.raises(PresetError, match="not valid JSON"):
        LinearGaussianVAE.from_preset(str(directory))
    (directory / "config.json").unlink()
    with pytest.raises(PresetError, match="config.json is missing"):
        LinearGaussianVAE.from_preset(str(directory))


def test_unknown_name_lists_the_known_presets():
    with pytest.raises(PresetError, match="Shipped presets"):
        LinearGaussianVAE.from_preset("no_such_preset")


def test_wrong_class_is_refused(preset_dir):
    from keras_hvae.models.hvae import HierarchicalVAE

    class Other(HierarchicalVAE):
        pass

    with pytest.raises(PresetError, match="holds a LinearGaussianVAE"):
        Other.from_preset(str(preset_dir[0]))


@pytest.mark.backend_suite
def test_http_url_of_an_archive(preset_dir, tmp_path, monkeypatch):
    directory, model, x, _ = preset_dir
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "lg_preset.tar.gz", "w:gz") as tar:
        tar.add(directory, arcname="lg_preset")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with local_http_server(directory=served) as base:
        loaded = LinearGaussianVAE.from_preset(f"{base}/lg_preset.tar.gz")
    # the archive was cached under this test's KERAS_HOME (read at download
    # time): a stale archive of an earlier run under the same URL can not win
    assert list((tmp_path / "keras_home" / "keras_hvae_presets").iterdir())
    np.testing.assert_allclose(loaded.elbo(x, seed=2), model.elbo(x, seed=2), rtol=1e-5, atol=1e-5)


@pytest.mark.backend_suite
def test_hf_handle_goes_through_snapshot_download(preset_dir, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    seen = {}

    def fake_snapshot_download(repo_id, **kwargs):
        seen["repo_id"] = repo_id
        return str(preset_dir[0])

    monkeypatch.setattr(hub, "snapshot_download", fake_snapshot_download)
    loaded = LinearGaussianVAE.from_preset("hf://someone/lg-preset")
    assert seen["repo_id"] == "someone/lg-preset"
    assert loaded.latent_dim == 2
