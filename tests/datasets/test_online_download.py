"""The online path (`download=True`), exercised with a stand-in for `keras.utils.get_file`.

No test goes online: the stand-in records the request and copies a local
file where Keras would have saved the download.
"""

import shutil

import keras
import numpy as np
import pytest

from keras_hvae.datasets import load_cifar10
from keras_hvae.datasets import load_omniglot
from keras_hvae.datasets import load_svhn
from keras_hvae.datasets.cifar10 import URL as CIFAR_URL
from keras_hvae.datasets.omniglot import URL as OMNIGLOT_URL
from keras_hvae.datasets.svhn import BASE_URL as SVHN_URL


@pytest.fixture
def fake_get_file(monkeypatch):
    """Replaces keras.utils.get_file; `sources[url]` is the local file it 'downloads'."""
    calls, sources = [], {}

    def get_file(fname, origin, file_hash=None, cache_dir=None, cache_subdir="datasets", **kwargs):
        calls.append((fname, origin))
        if origin not in sources:
            raise OSError(f"URL fetch failure on {origin}: offline")
        target = f"{cache_dir}/{cache_subdir}/{fname}"
        shutil.copy(sources[origin], target)
        return target

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    return calls, sources


def test_download_fetches_the_official_files_into_the_cache(empty_cache, fake_get_file, fake_cifar):
    calls, sources = fake_get_file
    sources[CIFAR_URL] = fake_cifar[1]
    with pytest.raises(FileNotFoundError):
        load_cifar10(validation_size=0)  # download=False: nothing fetched
    assert calls == []
    data = load_cifar10(validation_size=0, download=True)
    assert calls == [("cifar-10-python.tar.gz", CIFAR_URL)]
    assert (empty_cache / "cifar-10-python.tar.gz").is_file() and data["train"][0].shape == (40, 32, 32, 3)
    load_cifar10(validation_size=0, download=True)  # now cached: no second fetch
    assert len(calls) == 1


def test_download_of_mat_files(empty_cache, fake_get_file, fake_omniglot, fake_svhn):
    pytest.importorskip("scipy.io")
    calls, sources = fake_get_file
    sources[OMNIGLOT_URL] = fake_omniglot[0]
    sources[SVHN_URL + "train_32x32.mat"] = fake_svhn[0] / "train_32x32.mat"
    sources[SVHN_URL + "test_32x32.mat"] = fake_svhn[0] / "test_32x32.mat"
    assert load_omniglot(download=True, validation_size=0)["test"][0].shape == (20, 28, 28, 1)
    assert load_svhn(download=True, validation_size=5)["test"][0].shape == (12, 32, 32, 3)
    assert [c[1] for c in calls] == [OMNIGLOT_URL, SVHN_URL + "train_32x32.mat", SVHN_URL + "test_32x32.mat"]


def test_failed_download_says_how_to_get_the_file(empty_cache, fake_get_file):
    with pytest.raises(FileNotFoundError) as e:
        load_omniglot(download=True)
    assert OMNIGLOT_URL in str(e.value) and str(empty_cache / "chardata.mat") in str(e.value)
    assert np.all([c[1] == OMNIGLOT_URL for c in fake_get_file[0]])
