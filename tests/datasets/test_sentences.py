"""Sentence corpora from text files: reading rules, filters, seeded split by sentence."""

import numpy as np
import pytest

from keras_hvae.datasets import sentence_corpus
from keras_hvae.datasets import sentence_dataset
from keras_hvae.datasets import split_sentences


def test_split_sentences_rule():
    text = 'It rains. "Really?!" she asked. 3 cats sat (on a mat.) Then e.g. this stays whole. Mr. Smith left... (Yes.) end'
    assert split_sentences(text) == [
        "It rains.",
        '"Really?!" she asked.',
        "3 cats sat (on a mat.)",
        "Then e.g. this stays whole.",
        "Mr.",  # the documented limitation: abbreviations before a capital split
        "Smith left...",
        "(Yes.) end",
    ]


def write(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def test_line_mode_filters_cleans_and_deduplicates(tmp_path):
    long = " ".join(["word"] * 41)
    f = write(tmp_path, "a.txt", f"The Cat  sat.\n\n{long}\nA dog\tbarked.\nThe Cat sat.\nb\x08bold move.\n")
    out = sentence_corpus(f, validation_fraction=0, test_fraction=0)
    assert sorted(out["train"]) == ["A dog barked.", "The Cat sat.", "bold move."]
    assert out["validation"] == [] and out["test"] == []
    low = sentence_corpus(f, lowercase=True, max_words=3, validation_fraction=0, test_fraction=0)
    assert sorted(low["train"]) == ["a dog barked.", "bold move.", "the cat sat."]
    assert sentence_corpus(f, max_words=2, validation_fraction=0, test_fraction=0)["train"] == ["bold move."]
    kept = sentence_corpus(f, max_words=41, validation_fraction=0, test_fraction=0)["train"]
    assert long in kept and all(len(s.split()) <= 41 for s in kept)


def test_paragraph_mode_joins_lines_and_splits_sentences(tmp_path):
    write(tmp_path, "p.txt", "First line of a\nsentence. Second one!\n\nNew paragraph here")
    write(tmp_path, "ignored.md", "Not read.\n")
    out = sentence_corpus(tmp_path, unit="paragraph", validation_fraction=0, test_fraction=0)
    assert sorted(out["train"]) == ["First line of a sentence.", "New paragraph here", "Second one!"]


def test_split_by_sentence_is_seeded_and_disjoint(tmp_path):
    f = write(tmp_path, "many.txt", "\n".join(f"Sentence number {i}." for i in range(200)))
    a = sentence_corpus(f, seed=1)
    assert [len(a[s]) for s in ("train", "validation", "test")] == [160, 20, 20]
    assert len(set(a["train"]) | set(a["validation"]) | set(a["test"])) == 200
    assert a == sentence_corpus(f, seed=1)
    assert a["test"] != sentence_corpus(f, seed=2)["test"]
    b = sentence_corpus([f], validation_fraction=0.05, test_fraction=0.25)
    assert [len(b[s]) for s in ("train", "validation", "test")] == [140, 10, 50]
    with pytest.raises(ValueError, match="fraction"):
        sentence_corpus(f, validation_fraction=0.5, test_fraction=0.5)


def test_sentence_dataset_batches_strings(tmp_path):
    sentences = [f"s {i}" for i in range(10)]
    ds = sentence_dataset(sentences, batch_size=4, seed=3)
    batches = list(ds)
    assert [b.shape[0] for b in batches] == [4, 4, 2] and batches[0].dtype.name == "string"
    e1 = [s.decode() for b in batches for s in b.numpy()]
    e2 = [s.decode() for b in ds for s in b.numpy()]
    assert sorted(e1) == sorted(sentences) and e1 != e2
    assert e1 == [s.decode() for b in sentence_dataset(sentences, 4, seed=3) for s in b.numpy()]
    assert [s.decode() for b in sentence_dataset(sentences, 4, shuffle=False) for s in b.numpy()] == sentences


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        sentence_corpus(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match=r"\*\.txt"):
        sentence_corpus(tmp_path)  # a directory without text files
    (tmp_path / "bin.txt").write_bytes(np.arange(256, dtype="uint8").tobytes())
    with pytest.raises(ValueError, match="binary"):
        sentence_corpus(tmp_path / "bin.txt")
    (tmp_path / "latin.txt").write_bytes("caf\xe9 au lait.".encode("latin-1"))
    with pytest.raises(ValueError, match="utf-8"):
        sentence_corpus(tmp_path / "latin.txt")
    out = sentence_corpus(tmp_path / "latin.txt", encoding="latin-1", validation_fraction=0, test_fraction=0)
    assert out["train"] == ["café au lait."]
    with pytest.raises(ValueError, match="unit"):
        sentence_corpus(tmp_path / "latin.txt", unit="word")
