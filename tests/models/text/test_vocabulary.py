"""Tokenisation: white space, capped vocabulary, reserved ids, OOV handling, persistence."""

import json

import keras
import numpy as np
import pytest

from keras_hvae.models.text import EOS, PAD, UNK, Vocabulary, standardize_sentence
from keras_hvae.datasets.vocabulary import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def test_reserved_ids_and_round_trip(vocab, sentences):
    assert vocab.tokens[:4] == [PAD, UNK, "<s>", EOS]
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    ids = vocab.encode(sentences)
    assert ids.dtype == np.int32 and ids.shape == (len(sentences), 15)
    lengths = [len(s.split()) for s in sentences]
    for row, n in zip(ids, lengths):
        assert row[n] == EOS_ID and (row[:n] >= 4).all() and (row[n + 1 :] == PAD_ID).all()
    assert vocab.decode(ids) == sentences


def test_capped_vocabulary_keeps_the_most_frequent_words():
    corpus = ["a a a b b c", "a b d"]
    vocab = Vocabulary.build(corpus, max_tokens=6)
    assert vocab.size == 6 and vocab.words == ["a", "b"]
    ids = vocab.encode(["a c d"])
    assert ids.tolist() == [[4, UNK_ID, UNK_ID, EOS_ID]]


def test_oov_sentences_are_filtered_or_mapped_to_unk():
    vocab = Vocabulary(["the", "cat", "sat", "."])
    corpus = ["the cat sat .", "the dog sat .", "the cat " * 30]
    ids, kept = vocab.encode_corpus(corpus, max_length=5, oov="filter")
    assert kept == ["the cat sat ."] and ids.shape == (1, 6)
    ids, kept = vocab.encode_corpus(corpus, max_length=5, oov="unk")
    assert kept == ["the cat sat .", "the dog sat ."]
    assert ids[1].tolist() == [4, UNK_ID, 6, 7, EOS_ID, 0]
    with pytest.raises(ValueError, match="more than the 3 positions"):
        vocab.encode(["the cat sat ."], pad_to=3)


def test_standardization():
    assert standardize_sentence('He said: "Hi!"', "lower_and_split_punctuation") == 'he said : " hi ! "'
    assert standardize_sentence("It's  fine.", "lower") == "it's fine."
    vocab = Vocabulary.build(["Hello, world."], max_tokens=10, standardize="lower_and_split_punctuation")
    assert sorted(vocab.words) == [",", ".", "hello", "world"]
    assert vocab.decode(vocab.encode(["HELLO world ,"])) == ["hello world ,"]
    with pytest.raises(ValueError, match="standardize"):
        Vocabulary(["a"], standardize="strip")


def test_reserved_text_is_not_a_special_token(vocab):
    ids = vocab.encode(["the </s> cat <s>"])
    assert ids.tolist()[0][:5] == [vocab.tokens.index("the"), UNK_ID, vocab.tokens.index("cat"), UNK_ID, EOS_ID]


def test_config_and_file_round_trips(vocab, tmp_path):
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(vocab)))
    assert keras.saving.deserialize_keras_object(config) == vocab
    path = vocab.save(tmp_path)
    assert path.name == "vocabulary.txt"
    assert Vocabulary.load(tmp_path) == vocab
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "b", "a"])
    with pytest.raises(ValueError, match="white space"):
        Vocabulary(["a b"])


def test_a_text_preset_keeps_its_words_only_in_the_asset(tmp_path):
    import json

    from keras_hvae.models.text import RNNVAE
    from keras_hvae.utils.presets import PresetError

    vocab = Vocabulary.build(["the cat sat .", "a dog ran ."], max_tokens=50)
    model = RNNVAE(vocab, max_length=6, embedding_dim=4, encoder_units=8, decoder_units=8, latent_size=2, seed=0)
    model.save_to_preset(tmp_path / "p")
    config = json.loads((tmp_path / "p" / "config.json").read_text())["config"]
    assert config["vocabulary"] == {"asset": "vocabulary.txt", "size": vocab.size, "standardize": vocab.standardize}
    loaded = RNNVAE.from_preset(str(tmp_path / "p"))
    assert loaded.vocabulary == vocab and loaded.detokenize(loaded.tokenize(["the cat"])) == ["the cat"]
    (tmp_path / "p" / "assets" / "vocabulary.txt").unlink()
    with pytest.raises(PresetError, match="vocabulary.txt is missing"):
        RNNVAE.from_preset(str(tmp_path / "p"))
