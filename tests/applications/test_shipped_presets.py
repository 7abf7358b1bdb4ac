"""The presets shipped in the package load, verify and reproduce their scores."""

import json
import subprocess
import sys

import numpy as np
import pytest

from keras_hvae.applications.preset_io import SHIPPED_DIR, load_preset, sha256_of, shipped_presets

SHIPPED = shipped_presets()
IMAGE_PRESETS = [n for n, m in SHIPPED.items() if m.get("dataset") == "binarized_mnist"]


def test_the_readme_presets_are_shipped():
    assert {"matnet_binarized_mnist"} <= set(SHIPPED), sorted(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_metadata_records_recipe_data_and_scores(name):
    meta = SHIPPED[name]
    for key in ("class_name", "dataset", "split", "recipe", "training_steps", "wall_clock_seconds",
                "weights_sha256", "parameters", "scores"):
        assert key in meta, key
    assert meta["weights_sha256"] == sha256_of(SHIPPED_DIR / name / "model.weights.h5")
    scores = meta["scores"]
    assert scores["test_iwae"]["num_samples"] >= 100
    # an importance-weighted bound is tighter than the ELBO on the same digits
    assert scores["test_iwae"]["value"] >= scores["test_iwae"]["elbo_on_the_same_examples"]


@pytest.mark.parametrize("name", IMAGE_PRESETS)
def test_shipped_elbo_reproduces_on_the_test_digits(name):
    from keras_hvae.applications import mnist_data

    model = load_preset(name)
    scores = SHIPPED[name]["scores"]
    x = mnist_data.test_digits()[: scores["test_iwae"]["num_examples"]]
    recorded = scores["test_iwae"]["elbo_on_the_same_examples"]
    measured = float(np.mean(model.elbo(x, seed=0)))
    # one posterior sample per digit on the same digits: the Monte-Carlo error
    # of the mean is well under 1.5 nats
    assert abs(measured - recorded) < 1.5, (measured, recorded)
    samples = model.sample(4, seed=0, mean=True)
    assert samples.shape == (4, 28, 28, 1) and 0.0 <= samples.min() and samples.max() <= 1.0


def test_the_readme_main_job_runs(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "keras_hvae.cli", "demo", "--out", str(tmp_path / "demo"), "--limit", "100",
         "--iwae-samples", "5"],
        capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for name in IMAGE_PRESETS:
        for suffix in ("samples", "reconstructions", "kl"):
            assert (tmp_path / "demo" / f"{name}_{suffix}.png").stat().st_size > 1000
    report = json.loads((tmp_path / "demo" / "demo_scores.json").read_text())
    assert set(report) == set(IMAGE_PRESETS)
