"""`iwae_bound(..., verbose=True)`: a labelled progress line that moves after
every pass (chunk of samples), off by default (issue 15)."""

import io
import sys

import numpy as np
import pytest

from keras_hvae.models import LinearGaussianVAE

pytestmark = pytest.mark.backend_suite


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def model_and_data():
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    return LinearGaussianVAE(data_dim=4, latent_dim=2, sigma=0.5, seed=0), x


def test_progress_moves_per_chunk_with_a_label(model_and_data, monkeypatch):
    model, x = model_and_data
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    quiet = model.iwae_bound(x, 6, chunk_size=2, seed=0)
    assert terminal.getvalue() == ""  # off by default
    loud = model.iwae_bound(x, 6, chunk_size=2, seed=0, verbose=True)
    np.testing.assert_allclose(loud, quiet)  # the same bound
    lines = terminal.getvalue().split("\r")[1:]
    assert [line.split(" [")[0] for line in lines] == [
        "IWAE k=6: 6/18 samples", "IWAE k=6: 12/18 samples", "IWAE k=6: 18/18 samples"]
    assert "ETA" in lines[0] and lines[-1].endswith("\n")


def test_progress_label_and_log_lines(model_and_data, capsys):
    model, x = model_and_data
    model.iwae_bound(x, 4, chunk_size=1, seed=0, verbose=True, label="held-out IWAE")
    err = capsys.readouterr().err  # not a terminal: whole lines, the last one always
    assert err.strip().splitlines()[-1].startswith("held-out IWAE: 12/12 samples")
