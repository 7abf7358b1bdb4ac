"""White-space tokenisation with a capped vocabulary (BIVA paper, Appendix D).

The paper tokenises sentences of at most 40 words "using the white spaces",
keeps the 20,000 most frequent words and filters out the sentences that
contain other words. `Vocabulary` does exactly that on top of Keras' own
text preprocessing (`keras.layers.TextVectorization` with
`split="whitespace"`: `adapt` counts the words, the layer maps words to
ids); an optional standardisation runs first (lower-casing, and putting
white space around punctuation so that "Hello, world." becomes the four
words "hello , world ." as in the paper's pre-tokenised BookCorpus).

Ids: 0 is padding (`PAD`, the empty string, Keras' mask token), 1 the
out-of-vocabulary token (`UNK`, "[UNK]"), 2 the begin-of-sentence token
(`BOS`, "<s>", only ever fed to a decoder as the "previous word" of the
first position) and 3 the end-of-sentence token (`EOS`, "</s>", appended
to every encoded sentence and counted as a word in perplexities); words
start at 4, most frequent first.
"""

import re
from pathlib import Path

import keras
import numpy as np

PAD, UNK, BOS, EOS = "", "[UNK]", "<s>", "</s>"
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
RESERVED = (PAD, UNK, BOS, EOS)
STANDARDIZE = (None, "lower", "split_punctuation", "lower_and_split_punctuation")
VOCABULARY_FILE = "vocabulary.txt"

_PUNCTUATION = re.compile(r"([^\w\s'])")
_SPACE = re.compile(r"\s+")


def standardize_sentence(sentence, standardize=None):
    """One sentence as the vectoriser sees it (words separated by one space).

    Args:
        sentence: a string.
        standardize: None (white space only), "lower", "split_punctuation"
            (every character that is not a letter, digit, `_`, `'` or
            space becomes a word of its own) or
            "lower_and_split_punctuation".

    Example:
    >>> standardize_sentence('Hello, "world".', "lower_and_split_punctuation")
    'hello , " world " .'
    """
    if standardize not in STANDARDIZE:
        raise ValueError(f"standardize must be one of {STANDARDIZE}; got {standardize!r}.")
    s = str(sentence)
    if standardize and "lower" in standardize:
        s = s.lower()
    if standardize and "split_punctuation" in standardize:
        s = _PUNCTUATION.sub(r" \1 ", s)
    return _SPACE.sub(" ", s).strip()


@keras.saving.register_keras_serializable(package="keras_hvae")
class Vocabulary:
    """A capped word vocabulary with the reserved ids PAD=0, UNK=1, BOS=2, EOS=3.

    Args:
        words: the vocabulary words (without the reserved tokens), most
            frequent first; no white space inside a word.
        standardize: see `standardize_sentence`.

    Build one from sentences with `Vocabulary.build`; `encode` turns
    sentences into padded id arrays (EOS appended), `decode` turns ids back
    into sentences. `get_config` / `from_config` round-trip it (the models
    keep it in their config), `save` / `load` write and read
    `vocabulary.txt` (one word per line; the preset asset).

    Example:
    >>> vocab = Vocabulary.build(["the cat sat .", "the dog ran ."], max_tokens=20)
    >>> vocab.tokens
    ['', '[UNK]', '<s>', '</s>', 'the', '.', 'sat', 'ran', 'dog', 'cat']
    >>> vocab.encode(["the cat ran ."])
    array([[4, 9, 7, 5, 3]], dtype=int32)
    >>> vocab.decode([[4, 9, 7, 5, 3, 0]])
    ['the cat ran .']
    """

    def __init__(self, words, standardize=None):
        words = [str(w) for w in words]
        if standardize not in STANDARDIZE:
            raise ValueError(f"standardize must be one of {STANDARDIZE}; got {standardize!r}.")
        bad = [w for w in words if not w or _SPACE.search(w) or w in RESERVED]
        if bad:
            raise ValueError(
                f"Vocabulary words must be non-empty, hold no white space and not be a reserved token "
                f"{RESERVED}; got {bad[:5]}."
            )
        if len(set(words)) != len(words):
            seen, dup = set(), []
            for w in words:
                if w in seen:
                    dup.append(w)
                seen.add(w)
            raise ValueError(f"Vocabulary words must be unique; repeated: {dup[:5]}.")
        self.words = words
        self.standardize = standardize
        self._vectorizer = None
        self._index = None

    # -------------------------------------------------------------- building
    @classmethod
    def build(cls, sentences, max_tokens=20000, standardize=None):
        """The `max_tokens - 4` most frequent words of `sentences` (plus the 4
        reserved tokens: `size == max_tokens` when the corpus has enough words).

        Counting is Keras' `TextVectorization.adapt` (ties broken by the
        word, so the result is deterministic).
        """
        if int(max_tokens) <= len(RESERVED):
            raise ValueError(f"max_tokens must exceed the {len(RESERVED)} reserved tokens; got {max_tokens}.")
        texts = [standardize_sentence(s, standardize) for s in sentences]
        if not texts:
            raise ValueError("Vocabulary.build needs at least one sentence.")
        counter = keras.layers.TextVectorization(
            max_tokens=int(max_tokens) - 2, standardize=None, split="whitespace"
        )
        counter.adapt(np.array(texts, dtype=object))
        words = [str(w) for w in counter.get_vocabulary()[2:]]
        return cls([w for w in words if w not in RESERVED], standardize=standardize)

    # ------------------------------------------------------------ properties
    @property
    def size(self):
        """Number of ids (reserved tokens included)."""
        return len(self.words) + len(RESERVED)

    def __len__(self):
        return self.size

    @property
    def tokens(self):
        """All tokens by id: `["", "[UNK]", "<s>", "</s>", word_4, ...]`."""
        return list(RESERVED) + self.words

    def __contains__(self, word):
        return self._lookup_index().get(word, UNK_ID) >= len(RESERVED)

    def _lookup_index(self):
        if self._index is None:
            self._index = {w: i for i, w in enumerate(self.tokens)}
        return self._index

    def _vectorize(self, texts):
        if self._vectorizer is None:
            self._vectorizer = keras.layers.TextVectorization(
                standardize=None, split="whitespace", vocabulary=[BOS, EOS] + self.words
            )
        out = self._vectorizer(np.array(texts, dtype=object))
        return np.asarray(keras.ops.convert_to_numpy(out), dtype="int32").reshape(len(texts), -1)

    # ------------------------------------------------------------ conversion
    def tokenize(self, sentence):
        """The words of one sentence (standardised, split on white space)."""
        return standardize_sentence(sentence, self.standardize).split()

    def encode(self, sentences, add_eos=True, pad_to=None):
        """Sentences as a zero-padded `(N, T)` int32 id array.

        Unknown words become `UNK` (1), as do literal reserved tokens in the
        text; `EOS` is appended (`add_eos`). `T` is the longest sentence
        (plus EOS) or `pad_to`.

        Raises:
            ValueError: a sentence is longer than `pad_to`.
        """
        if isinstance(sentences, str):
            raise TypeError("encode expects a list of sentences, not one string.")
        texts = [standardize_sentence(s, self.standardize) for s in sentences]
        n = len(texts)
        if n == 0:
            return np.zeros((0, int(pad_to or 1)), "int32")
        ids = self._vectorize(texts) if any(texts) else np.zeros((n, 0), "int32")
        ids = np.where((ids == BOS_ID) | (ids == EOS_ID), UNK_ID, ids)
        lengths = (ids != PAD_ID).sum(axis=1)
        longest = int(lengths.max()) + int(bool(add_eos))
        width = longest if pad_to is None else int(pad_to)
        if longest > width:
            i = int(np.argmax(lengths))
            raise ValueError(
                f"Sentence {i} has {int(lengths[i])} words{' plus EOS' if add_eos else ''}, more than the "
                f"{width} positions available (pad_to={pad_to}): {sentences[i]!r}."
            )
        out = np.zeros((n, width), "int32")
        out[:, : ids.shape[1]] = ids[:, :width]
        if add_eos:
            out[np.arange(n), lengths] = EOS_ID
        return out

    def decode(self, ids, stop_at_eos=True):
        """Id rows back to sentences (words joined by spaces).

        Reading stops at the first `EOS` (`stop_at_eos`); `PAD` and `BOS`
        are skipped and `UNK` reads "[UNK]".
        """
        tokens = self.tokens
        out = []
        for row in np.asarray(keras.ops.convert_to_numpy(ids)).reshape(len(ids), -1):
            words = []
            for i in row:
                i = int(i)
                if i == EOS_ID and stop_at_eos:
                    break
                if i in (PAD_ID, BOS_ID, EOS_ID):
                    continue
                words.append(tokens[i] if 0 <= i < len(tokens) else UNK)
            out.append(" ".join(words))
        return out

    def encode_corpus(self, sentences, max_length=40, oov="filter"):
        """Encodes a corpus for training: `(ids, kept)`.

        Args:
            sentences: list of strings.
            max_length: sentences with more words are dropped (EOS not
                counted); ids are padded to `max_length + 1`.
            oov: "filter" drops sentences holding an out-of-vocabulary word
                (the paper), "unk" keeps them with `UNK` ids.

        Returns:
            `(ids, kept)`: the `(N, max_length + 1)` int32 array and the
            list of kept sentences.
        """
        if oov not in ("filter", "unk"):
            raise ValueError(f"oov must be 'filter' or 'unk'; got {oov!r}.")
        keep = [s for s in sentences if 0 < len(self.tokenize(s)) <= int(max_length)]
        if not keep:
            return np.zeros((0, int(max_length) + 1), "int32"), []
        ids = self.encode(keep, pad_to=int(max_length) + 1)
        if oov == "filter":
            ok = ~(ids == UNK_ID).any(axis=1)
            ids, keep = ids[ok], [s for s, k in zip(keep, ok) if k]
        return ids, keep

    # ----------------------------------------------------------- persistence
    def save(self, directory):
        """Writes `directory/vocabulary.txt` (one word per line, ids 4...)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / VOCABULARY_FILE
        path.write_text("\n".join(self.words) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory, standardize=None):
        """Reads `directory/vocabulary.txt` (or that file itself)."""
        path = Path(directory)
        if path.is_dir():
            path = path / VOCABULARY_FILE
        words = [w for w in path.read_text(encoding="utf-8").split("\n") if w]
        return cls(words, standardize=standardize)

    def get_config(self):
        return {"words": list(self.words), "standardize": self.standardize}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"Vocabulary(size={self.size}, standardize={self.standardize!r})"


def asset_reference(vocabulary):
    """What a preset's `config.json` holds in place of the words: the asset
    file, the size and the standardisation (the words are only in
    `assets/vocabulary.txt`)."""
    return {"asset": VOCABULARY_FILE, "size": int(vocabulary.size), "standardize": vocabulary.standardize}


class PendingVocabulary(Vocabulary):
    """A placeholder of the right size until a preset's asset is read
    (`asset_reference`); encoding or decoding with it is an error."""

    def __init__(self, size, standardize=None):
        super().__init__([f"pending_{i}" for i in range(int(size) - 4)], standardize=standardize)

    def encode(self, *args, **kwargs):
        raise ValueError("This vocabulary was not loaded: the preset's assets/vocabulary.txt was never read.")

    decode = encode


def as_vocabulary(value):
    """A `Vocabulary` from an instance, its config dict, a Keras
    serialisation dict, a list of words, or a preset's `asset_reference`
    (a `PendingVocabulary` until the asset is read)."""
    if isinstance(value, Vocabulary):
        return value
    if isinstance(value, dict):
        if "asset" in value:
            return PendingVocabulary(value["size"], standardize=value.get("standardize"))
        if "class_name" in value:
            return keras.saving.deserialize_keras_object(value)
        return Vocabulary.from_config(value)
    if isinstance(value, (list, tuple)):
        return Vocabulary(value)
    raise TypeError(f"Expected a Vocabulary, its config or a list of words; got {type(value).__name__}.")
