"""Sentences from Debian's fortunes: file format, filters, missing package message."""

import pytest

from keras_hvae.datasets import fortune_sentences
from keras_hvae.datasets import read_fortunes
from keras_hvae.datasets.fortunes import FORTUNE_DIR
from keras_hvae.datasets.fortunes import fortune_files


def test_reads_entries_skips_index_files_and_attributions(fake_fortunes):
    assert [f.name for f in fortune_files(fake_fortunes)] == ["cookie", "wisdom"]  # no .dat, .u8, ascii-art
    entries = read_fortunes(fake_fortunes)
    assert len(entries) == 5
    assert entries[1] == "You will be surprised by a loud noise.  The noise will\ncontinue for some time."
    assert not any("--" in e for e in entries)


def test_sentences_are_filtered_and_split(fake_fortunes):
    out = fortune_sentences(fake_fortunes, validation_fraction=0, test_fraction=0)
    assert sorted(out["train"]) == [
        "A day for firm decisions!!!!!",
        "Never trust a computer you can't throw out a window.",
        "Or is it?",
        "The noise will continue for some time.",
        "Today is the first day of the rest of your life.",
        "You will be surprised by a loud noise.",
    ]  # the drawing fails the letter filter; no attribution
    short = fortune_sentences(fake_fortunes, max_words=4, lowercase=True, validation_fraction=0, test_fraction=0)
    assert short["train"] == ["or is it?"]  # lower-cased; five words and more dropped
    three = fortune_sentences(fake_fortunes, validation_fraction=1 / 6, test_fraction=1 / 6, seed=0)
    assert [len(three[s]) for s in ("train", "validation", "test")] == [4, 1, 1]
    assert three == fortune_sentences(fake_fortunes, validation_fraction=1 / 6, test_fraction=1 / 6, seed=0)
    art = fortune_sentences(fake_fortunes, exclude=(), validation_fraction=0, test_fraction=0)["train"]
    assert "Art is here." in art


def test_missing_fortunes_name_the_path_and_the_package(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        fortune_sentences(tmp_path / "fortunes")
    assert str(tmp_path / "fortunes") in str(e.value) and "apt-get install fortunes fortunes-min" in str(e.value)
    (tmp_path / "only-index").mkdir()
    (tmp_path / "only-index" / "x.dat").write_bytes(b"\x00")
    with pytest.raises(FileNotFoundError, match="holds no fortune files"):
        fortune_sentences(tmp_path / "only-index")


@pytest.mark.skipif(not FORTUNE_DIR.is_dir(), reason="Debian's fortunes package is not installed")
def test_installed_fortunes_give_thousands_of_short_sentences():
    out = fortune_sentences()
    total = sum(len(v) for v in out.values())
    assert total > 1000
    assert all(1 <= len(s.split()) <= 40 for v in out.values() for s in v)
    assert not set(out["train"]) & set(out["test"])
