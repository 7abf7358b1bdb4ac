"""The shipped text preset from the command (issue 13, point 6):
`keras-hvae sample --preset biva_lstm_fortunes` prints sentences of
vocabulary words, `keras-hvae evaluate --preset biva_lstm_fortunes` scores
the fortunes test split (the preset's metadata names a loadable dataset)
with the model's own bound and reports bits per word."""

import json
import math

import numpy as np
import pytest

from keras_hvae.cli import main
from keras_hvae.datasets.fortunes import FORTUNE_DIR

PRESET = "biva_lstm_fortunes"

pytestmark = pytest.mark.skipif(not FORTUNE_DIR.is_dir(),
                                reason="Debian's fortunes are not installed (apt-get install fortunes fortunes-min)")


@pytest.fixture(scope="module")
def model():
    from keras_hvae.utils.presets import load_preset

    return load_preset(PRESET)


def test_the_preset_names_a_loadable_dataset(model):
    from keras_hvae.datasets import fortune_text
    from keras_hvae.datasets.registry import test_inputs

    meta = model.preset_metadata
    assert meta["dataset"] == "fortunes"
    ids = test_inputs("fortunes", vocabulary=model.vocabulary, tokenization=meta["tokenization"])
    # the sentences of the recipe's test split (fortune_text), through the preset's own vocabulary
    np.testing.assert_array_equal(ids, fortune_text(**meta["tokenization"])["test"])
    assert len(ids) == meta["text_scores"]["num_sentences"]
    with pytest.raises(ValueError, match="vocabulary"):
        test_inputs("fortunes")


def test_sample_prints_sentences_of_vocabulary_words(model, tmp_path, capsys):
    assert main(["sample", "--preset", PRESET, "--num", "3", "--seed", "5", "--out", str(tmp_path / "s.txt")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    words = set(model.vocabulary.words)
    for line in lines:
        tokens = model.vocabulary.tokenize(line)
        assert 0 < len(tokens) <= model.sequence_length and set(tokens) <= words, line
    assert (tmp_path / "s.txt").read_text().splitlines() == lines


def test_evaluate_scores_the_test_split_with_the_models_own_bound(model, capsys):
    from keras_hvae.datasets.registry import test_inputs
    from keras_hvae.evaluation.protocol import _mc_seed, random_subset

    argv = ["evaluate", "--preset", PRESET, "--limit", "24", "--iwae-samples", "2", "--iwae-limit", "4",
            "--seed", "3", "--quiet"]
    assert main(argv + ["--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["dataset"] == "fortunes" and scores["num_test_examples"] == 24
    ids = test_inputs("fortunes", vocabulary=model.vocabulary, tokenization=model.preset_metadata["tokenization"])
    assert scores["num_split_examples"] == len(ids)
    chosen = ids[random_subset(len(ids), 24, 3)]
    own = model.elbo(chosen, seed=_mc_seed(3, 0, 0))  # the same sentences and Monte-Carlo seed
    assert np.all(np.isfinite(own)) and scores["test_elbo"] == pytest.approx(float(np.mean(own)), abs=1e-4)
    tokens = model.num_dims(chosen)
    assert scores["test_bits_per_dim"] == pytest.approx(-own.sum() / (tokens.sum() * math.log(2)), rel=1e-5)
    assert np.all(tokens <= model.max_length + 1) and np.all(tokens >= 2)
    assert math.isfinite(scores["test_iwae"]["value"]) and scores["test_iwae"]["num_examples"] == 4
    # the table: bits per word, not per padded position
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "bits/word" in out and f"{len(ids)} sentences" in out and f"{-scores['test_elbo']:.3f}" in out

