"""URL presets: atomic downloads, a clear PresetError for every failure, the sha256 opt-in.

A local HTTP server (127.0.0.1, a free port) stands in for the web; its
answers are swapped during a test to show that a retry after the server
is fixed succeeds (nothing of the failed download was cached).
"""

import io
import json
import shutil
import socket
import tarfile
import zipfile

import numpy as np
import pytest

from keras_hvae.applications import PresetError
from keras_hvae.cli import main
from keras_hvae.models import LinearGaussianVAE
from keras_hvae.utils.presets import presets_cache_dir
from tests.http_server import Answer, local_http_server

pytestmark = pytest.mark.backend_suite


# --------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    """A saved LinearGaussianVAE preset and the inputs to compare on."""
    directory = tmp_path_factory.mktemp("tiny") / "lg"
    model = LinearGaussianVAE(6, 2, sigma=0.5, seed=3)
    model.save_to_preset(directory, metadata={"dataset": "synthetic"})
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    return directory, model, x


def _tar_gz(directory, arcname="lg_preset", drop=None, metadata_update=None):
    """The bytes of a .tar.gz of `directory` (without `drop`, with
    metadata.json updated by `metadata_update`)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.iterdir()):
            if path.name == drop:
                continue
            if path.name == "metadata.json" and metadata_update is not None:
                meta = json.loads(path.read_text())
                meta.update(metadata_update)
                data = json.dumps(meta).encode()
                info = tarfile.TarInfo(f"{arcname}/metadata.json")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.add(path, arcname=f"{arcname}/{path.name}")
    return buffer.getvalue()


@pytest.fixture
def server():
    """`(base_url, routes)`: set `routes[path]` to an `Answer` to serve it."""
    routes = {}
    with local_http_server(routes) as url:
        yield url, routes


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty KERAS_HOME for this test; returns the presets cache dir."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return presets_cache_dir()


def _listing(cache):
    """Everything under the cache dir (hidden temporary dirs included)."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []


def _ok(body):
    return Answer(200, body, "application/gzip")


# ------------------------------------------------------------------ tests
def _bad_answers(directory):
    good = _tar_gz(directory)
    wrong_sha = _tar_gz(directory, metadata_update={"weights_sha256": "0" * 64})
    return {
        "404": (Answer(404, b"no such file", "text/plain"), r"HTTP 404"),
        "html": (Answer(200, b"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html"), r"HTML page"),
        "truncated": (_ok(good[: len(good) // 2]), r"truncated"),
        "cut_short": (Answer(200, good[: len(good) // 2], "application/gzip", len(good)), r"cut short \(truncated"),
        "not_gzip": (_ok(b"PK\x03\x04 certainly not a gzip stream" * 10), r"not a gzip-tar archive"),
        "missing_weights": (_ok(_tar_gz(directory, drop="model.weights.h5")), r"model\.weights\.h5 is missing"),
        "wrong_sha256": (_ok(wrong_sha), r"sha256 mismatch for model\.weights\.h5, expected 0{64} \(metadata\.json\), got [0-9a-f]{64}"),
    }


@pytest.mark.parametrize("case", ["404", "html", "truncated", "cut_short", "not_gzip", "missing_weights", "wrong_sha256"])
def test_a_failed_download_names_url_and_cause_leaves_nothing_and_a_retry_succeeds(
        case, tiny_preset, server, cache):
    directory, model, x = tiny_preset
    base, routes = server
    answer, cause = _bad_answers(directory)[case]
    url = f"{base}/lg_preset.tar.gz"
    routes["/lg_preset.tar.gz"] = answer
    for _ in range(2):  # the second call fails the same way: nothing was cached
        with pytest.raises(PresetError, match=cause) as e:
            LinearGaussianVAE.from_preset(url)
        assert url in str(e.value) and "\n" not in str(e.value)
        assert _listing(cache) == [], f"{case}: the failed download left {_listing(cache)}"
    routes["/lg_preset.tar.gz"] = _ok(_tar_gz(directory))  # the server is fixed
    loaded = LinearGaussianVAE.from_preset(url)
    np.testing.assert_allclose(loaded.elbo(x, seed=1), model.elbo(x, seed=1), rtol=1e-5, atol=1e-5)
    (entry,) = [p for p in cache.iterdir()]  # one cache entry, no temporary dir left
    assert {p.name for p in entry.iterdir()} >= {"config.json", "metadata.json", "model.weights.h5"}


def test_the_cached_preset_is_used_without_the_server(tiny_preset, server, cache):
    directory, _, _ = tiny_preset
    base, routes = server
    routes["/p.tar.gz"] = _ok(_tar_gz(directory))
    LinearGaussianVAE.from_preset(f"{base}/p.tar.gz")
    routes.clear()  # now a 404: the verified cache entry answers
    assert LinearGaussianVAE.from_preset(f"{base}/p.tar.gz").latent_dim == 2


def test_a_zip_archive_and_a_truncated_zip(tiny_preset, server, cache):
    directory, _, _ = tiny_preset
    base, routes = server
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in directory.iterdir():
            zf.write(path, f"lg/{path.name}")
    data = buffer.getvalue()
    routes["/lg.zip"] = Answer(200, data[: len(data) - 200], "application/zip")
    with pytest.raises(PresetError, match=r"lg\.zip.*(not a zip archive, or is truncated|truncated or corrupt)"):
        LinearGaussianVAE.from_preset(f"{base}/lg.zip")
    assert _listing(cache) == []
    routes["/lg.zip"] = Answer(200, data, "application/zip")
    assert LinearGaussianVAE.from_preset(f"{base}/lg.zip").latent_dim == 2


def test_an_unreachable_host_is_a_preset_error(cache):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/lg_preset.tar.gz"
    with pytest.raises(PresetError, match=r"host is unreachable .*(refused|Errno)") as e:
        LinearGaussianVAE.from_preset(url)
    assert url in str(e.value)
    assert _listing(cache) == []


def test_what_keras_get_file_left_by_an_older_version_is_replaced(tiny_preset, server, cache):
    """keras.utils.get_file(extract=True) keeps a downloaded HTML page or a
    truncated archive under `<key>/`: such a cache entry is not a preset,
    so it is removed and the preset downloaded again."""
    import hashlib

    directory, _, _ = tiny_preset
    base, routes = server
    url = f"{base}/lg_preset.tar.gz"
    stale = cache / hashlib.sha256(url.encode()).hexdigest()[:16]
    stale.mkdir(parents=True)
    (stale / "lg_preset.tar.gz").write_text("<html>an error page</html>")
    routes["/lg_preset.tar.gz"] = _ok(_tar_gz(directory))
    assert LinearGaussianVAE.from_preset(url).latent_dim == 2
    assert not (stale / "lg_preset.tar.gz").exists() and (stale / "config.json").is_file()


def test_a_url_that_is_not_an_archive_is_refused_before_any_download(cache):
    with pytest.raises(PresetError, match=r"must point to a \.tar\.gz.*http://127\.0\.0\.1:9/preset\.html"):
        LinearGaussianVAE.from_preset("http://127.0.0.1:9/preset.html")
    assert _listing(cache) == []


# ------------------------------------------------ presets without a sha256
@pytest.mark.parametrize("recorded", ["missing", "empty"])
def test_a_preset_without_a_sha256_loads_only_with_verify_false(tiny_preset, tmp_path, recorded):
    directory, model, x = tiny_preset
    hand_made = tmp_path / "hand_made"
    shutil.copytree(directory, hand_made)
    meta = json.loads((hand_made / "metadata.json").read_text())
    if recorded == "missing":
        del meta["weights_sha256"]
    else:
        meta["weights_sha256"] = ""
    (hand_made / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(PresetError, match=r"records no weights_sha256.*verify=False"):
        LinearGaussianVAE.from_preset(str(hand_made))
    loaded = LinearGaussianVAE.from_preset(str(hand_made), verify=False)
    np.testing.assert_allclose(loaded.elbo(x, seed=1), model.elbo(x, seed=1), rtol=1e-5, atol=1e-5)
    # without weights there is nothing to verify
    assert LinearGaussianVAE.from_preset(str(hand_made), load_weights=False).latent_dim == 2


def test_verify_false_also_skips_a_mismatch_but_the_default_refuses_it(tiny_preset, tmp_path):
    directory = tiny_preset[0]
    other = tmp_path / "other"
    shutil.copytree(directory, other)
    meta = json.loads((other / "metadata.json").read_text())
    meta["weights_sha256"] = "f" * 64
    (other / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(PresetError, match="sha256 mismatch"):
        LinearGaussianVAE.from_preset(str(other))
    assert LinearGaussianVAE.from_preset(str(other), verify=False).latent_dim == 2


def test_a_downloaded_preset_without_a_sha256_is_cached_but_needs_verify_false(tiny_preset, server, cache):
    directory, _, _ = tiny_preset
    base, routes = server
    url = f"{base}/nosha.tar.gz"
    routes["/nosha.tar.gz"] = _ok(_tar_gz(directory, metadata_update={"weights_sha256": None}))
    with pytest.raises(PresetError, match="records no weights_sha256"):
        LinearGaussianVAE.from_preset(url)
    routes.clear()  # the archive itself was sound: it stays cached
    assert LinearGaussianVAE.from_preset(url, verify=False).latent_dim == 2


def test_presets_saved_by_save_to_preset_record_and_pass_the_sha256(tiny_preset):
    directory = tiny_preset[0]
    meta = json.loads((directory / "metadata.json").read_text())
    assert len(meta["weights_sha256"]) == 64
    assert LinearGaussianVAE.from_preset(str(directory)).latent_dim == 2


# ---------------------------------------------------------------- command
def test_the_command_prints_one_line_and_exits_2_for_a_bad_preset_url(server, cache, tmp_path, capsys):
    base, routes = server
    routes["/broken.tar.gz"] = Answer(200, b"<html>maintenance</html>", "text/html")
    url = f"{base}/broken.tar.gz"
    status = main(["sample", "--preset", url, "--out", str(tmp_path / "s.png"), "--num", "1"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("keras-hvae sample: error: ") and url in lines[0], err
    assert "HTML page" in lines[0] and "Traceback" not in err
    assert _listing(cache) == []


def test_the_command_prints_a_dataset_error_on_one_line(monkeypatch, capsys, tmp_path):
    from keras_hvae import cli
    from keras_hvae.datasets.files import DatasetError

    def failing_load(*args, **kwargs):
        raise DatasetError("MNIST was not found.\nDownload attempts failed: web: HTTP 404")

    monkeypatch.setattr(cli, "_load", failing_load)
    status = main(["sample", "--preset", "whatever", "--out", str(tmp_path / "s.png")])
    err = capsys.readouterr().err
    assert status == 2
    one_line = "keras-hvae sample: error: MNIST was not found. | Download attempts failed: web: HTTP 404"
    assert err.strip().splitlines() == [one_line]
