"""The structured-prediction recipe (`matnet_mnist_inpainting`'s data,
`binarized_mnist_quadrants`): a conditional MatNet trained from a config
records the NLL of the missing quadrants for 1, 2 and 3 visible ones on the
protocol's random test digits, and `rescore_preset` measures the same
numbers again from the preset's files."""

import json

import numpy as np
import pytest

from keras_hvae.evaluation.protocol import random_subset
from keras_hvae.evaluation.structured_prediction import quadrant_nll

TINY_QUADRANTS = {
    "name": "tiny_quadrants",
    "model": {"class": "ConditionalMatNet", "architecture": "mnist_quadrants",
              "overrides": {"channels": 4, "modules": 1, "fc_units": 16, "seed": 0}},
    "dataset": "binarized_mnist_quadrants",
    "dataset_options": {"num_samples": 3, "num_examples": 30},
    "batch_size": 16,
    "epochs": 1,
    "steps_per_epoch": 3,
    "validation_limit": 32,
}


def test_the_recipe_scores_the_missing_quadrants_on_random_test_digits(tmp_path, mnist_splits, capsys):
    from keras_hvae.cli import main
    from keras_hvae.models.matnet import ConditionalMatNet
    from keras_hvae.training.recipe_data import data_source
    from keras_hvae.training.rescore import rescore_preset

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY_QUADRANTS))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 0
    preset = tmp_path / "run" / "preset"
    meta = json.loads((preset / "metadata.json").read_text())
    scores = meta["scores"]
    assert "test_elbo" not in scores  # a conditional model has no unconditional bound
    table = scores["structured_prediction"]
    assert sorted(table) == ["1", "2", "3"]
    assert all(row["num_examples"] == 30 and row["num_samples"] == 3 and row["seed"] == 0 for row in table.values())
    # more missing pixels cost more nats, even for a barely trained model (~log 2 per unknown pixel)
    assert table["1"]["nll"] > table["2"]["nll"] > table["3"]["nll"] > 0
    # the digits are the protocol's random draw from the whole split, and the numbers are quadrant_nll's
    model = ConditionalMatNet.from_preset(str(preset))
    x = data_source("binarized_mnist").test()[random_subset(10000, 30, 0)]
    nll = quadrant_nll(model, x, 2, num_samples=3, chunk_size=3, batch_size=25, seed=0)
    np.testing.assert_allclose(np.mean(nll), table["2"]["nll"], rtol=1e-5)
    np.testing.assert_allclose(np.std(nll, ddof=1) / np.sqrt(30), table["2"]["standard_error"], rtol=1e-5)
    one_sample = quadrant_nll(model, x, 2, num_samples=1, batch_size=250, seed=0)  # the recorded conditional ELBO
    np.testing.assert_allclose(np.mean(one_sample), table["2"]["elbo_nll_on_the_same_examples"], rtol=1e-5)
    # the files alone give the recorded numbers again, and a rewrite records the old ones
    again = rescore_preset(str(preset), write=True, reason="test", verbose=0)["structured_prediction"]
    for n in "123":
        np.testing.assert_allclose(again[n]["nll"], table[n]["nll"], rtol=1e-5)
    written = json.loads((preset / "metadata.json").read_text())
    assert written["corrections"][-1]["old"]["structured_prediction"] == table
    # `keras-hvae evaluate` prints the same table (same draw, same seeds), not a bound on p(x)
    capsys.readouterr()
    assert main(["evaluate", "--preset", str(preset), "--iwae-limit", "30", "--iwae-samples", "3", "--json",
                 "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)["structured_prediction"]
    for n in "123":
        np.testing.assert_allclose(printed[n]["nll"], table[n]["nll"], rtol=1e-5)
        assert printed[n]["paper"] == {"1": 57.45, "2": 36.82, "3": 17.96}[n]
    # and `keras-hvae inpaint` fills in quadrants with it and writes the before/after picture
    assert main(["inpaint", "--preset", str(preset), "--num", "6", "--out", str(tmp_path / "inpaint.png")]) == 0
    assert (tmp_path / "inpaint.png").stat().st_size > 1000


def test_evaluating_a_conditional_model_of_other_masks_says_why_not(tmp_path, capsys):
    from keras_hvae.cli import main
    from keras_hvae.models.matnet import ConditionalMatNet
    from keras_hvae.utils.presets import save_preset

    model = ConditionalMatNet.from_architecture("mnist_quadrants", channels=4, modules=1, fc_units=16,
                                                mask_generator="squares", seed=0)
    model.build()
    save_preset(model, tmp_path / "squares", metadata={"dataset": "binarized_mnist"})
    assert main(["evaluate", "--preset", str(tmp_path / "squares"), "--iwae-limit", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "'squares' masks: it has no bound on p(x) to evaluate" in err and "keras-hvae inpaint" in err, err


@pytest.mark.parametrize("option", ["num_samples", "num_examples"])
@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_non_positive_or_fractional_counts_are_refused(option, value):
    from keras_hvae.training.recipe_data import data_source

    with pytest.raises((TypeError, ValueError), match=f"{option} must be an int >= 1"):
        data_source("binarized_mnist_quadrants", **{option: value})


def test_the_shipped_recipe_is_the_papers_task():
    from keras_hvae.utils import registry

    recipe = registry.recipes()["matnet_mnist_inpainting"]
    assert recipe["model"]["class"] == "ConditionalMatNet" and recipe["model"]["architecture"] == "mnist_quadrants"
    assert recipe["dataset"] == "binarized_mnist_quadrants"
    assert "57.45 / 36.82 / 17.96" in recipe["metadata"]["paper"]
