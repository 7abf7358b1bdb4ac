"""English sentence corpora from local text files (for the text BIVA+LSTM).

`sentence_corpus` reads UTF-8 text files and returns sentences as plain
strings, split into train / validation / test by sentence:

* `unit="line"`: every non-empty line is one sentence.
* `unit="paragraph"`: paragraphs (blocks separated by blank lines) are
  joined into one line each and split into sentences by `split_sentences`'
  rule: a sentence ends at a run of `.`, `!` or `?` (plus any closing
  quotes or brackets) that is followed by white space and then an
  upper-case letter, a digit or an opening quote / bracket. Abbreviations
  such as "Mr. Smith" are split too; the rule is simple on purpose.

Every sentence is cleaned the same way: overstrikes (`x<backspace>`) and
other control characters are removed, runs of white space become one
space; optionally it is lower-cased. Words are white-space separated
tokens; sentences with fewer than `min_words` or more than `max_words`
(default 40) words are dropped, as are sentences whose non-space
characters are less than `min_letter_fraction` letters (drawings, tables).
Duplicates are dropped (first occurrence kept), so no sentence sits in two
splits. The split is a seeded permutation of the distinct sentences: the
first `test_fraction` of it is test, the next `validation_fraction`
validation, the rest train.
"""

import re
import unicodedata
from pathlib import Path

import numpy as np

_SENTENCE_END = re.compile(r"[.!?]+[\"'\u2019\u201d)\]]*\s+(?=[\"'\u2018\u201c(\[]?[A-Z0-9])")
_OVERSTRIKE = re.compile(r".\x08")
_SPACE = re.compile(r"\s+")


def split_sentences(text):
    """Splits running text into sentences (see the module docstring for the rule).

    Example:
    >>> split_sentences('It rains. "Really?" she asked. 3 cats sat.')
    ['It rains.', '"Really?" she asked.', '3 cats sat.']
    """
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        out.append(text[start : m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def clean(sentence, lowercase=False):
    """Removes overstrikes and control characters, collapses white space."""
    s = _OVERSTRIKE.sub("", sentence)
    s = "".join(c if c in "\t\n" or unicodedata.category(c)[0] != "C" else " " for c in s)
    s = _SPACE.sub(" ", s).strip()
    return s.lower() if lowercase else s


def letter_fraction(sentence):
    chars = [c for c in sentence if not c.isspace()]
    return sum(c.isalpha() for c in chars) / len(chars) if chars else 0.0


def paragraphs(text):
    """Blocks of text separated by blank lines, each joined into one line."""
    return [" ".join(b.split()) for b in re.split(r"\n\s*\n", text) if b.strip()]


def read_text(file, encoding="utf-8"):
    """The text of `file`; ValueError for a binary or undecodable file."""
    data = Path(file).read_bytes()
    if b"\x00" in data:
        raise ValueError(f"{file} looks binary (it holds NUL bytes); pass text files only.")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ValueError(f"{file} is not {encoding} text ({e}); pass encoding=...") from e


def text_files(paths_or_dir, pattern="*.txt"):
    """The files named by a path, a directory (its files matching `pattern`) or a list of either."""
    items = [paths_or_dir] if isinstance(paths_or_dir, (str, Path)) else list(paths_or_dir)
    files = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.glob(pattern) if f.is_file())
            if not found:
                raise FileNotFoundError(f"{p} holds no files matching {pattern!r}.")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"No such text file or directory: {p}")
    if not files:
        raise FileNotFoundError("No text files given.")
    return files


def filter_sentences(sentences, max_words=40, min_words=1, lowercase=False, min_letter_fraction=0.0, deduplicate=True):
    """Cleans, filters by length and letter fraction, and deduplicates."""
    out, seen = [], set()
    for s in sentences:
        s = clean(s, lowercase)
        if not min_words <= len(s.split()) <= max_words:
            continue
        if letter_fraction(s) < min_letter_fraction:
            continue
        if deduplicate:
            if s in seen:
                continue
            seen.add(s)
        out.append(s)
    return out


def split_corpus(sentences, validation_fraction=0.1, test_fraction=0.1, seed=0):
    """A seeded split by sentence: dict of lists "train", "validation", "test"."""
    if not (0 <= validation_fraction and 0 <= test_fraction and validation_fraction + test_fraction < 1):
        raise ValueError("validation_fraction and test_fraction must be >= 0 and sum to less than 1.")
    n = len(sentences)
    order = np.random.RandomState(seed).permutation(n)
    n_test, n_val = int(round(test_fraction * n)), int(round(validation_fraction * n))
    pick = lambda idx: [sentences[i] for i in idx]  # noqa: E731
    return {
        "train": pick(order[n_test + n_val :]),
        "validation": pick(order[n_test : n_test + n_val]),
        "test": pick(order[:n_test]),
    }


def sentence_corpus(
    paths_or_dir, unit="line", max_words=40, min_words=1, lowercase=False, validation_fraction=0.1,
    test_fraction=0.1, seed=0, pattern="*.txt", min_letter_fraction=0.0, deduplicate=True, encoding="utf-8",
):
    """Sentences from text files, split by sentence into train / validation / test.

    Args:
        paths_or_dir: a text file, a directory (its files matching
            `pattern`, sorted), or a list of either.
        unit: "line" (one sentence per line) or "paragraph" (split
            paragraphs into sentences; see `split_sentences`).
        max_words, min_words: keep sentences with this many words.
        lowercase: lower-case every sentence.
        validation_fraction, test_fraction: the shares of the held-out splits.
        seed: seed of the split.
        pattern: the glob for files inside a directory.
        min_letter_fraction: drop sentences with fewer letters than this
            among their non-space characters.
        deduplicate: drop repeated sentences.
        encoding: of the files.

    Returns:
        dict `{"train": [str], "validation": [str], "test": [str]}`.

    Raises:
        FileNotFoundError: a path does not exist or a directory holds no files.
        ValueError: a file is binary or not in `encoding`.
    """
    if unit not in ("line", "paragraph"):
        raise ValueError(f"unit must be 'line' or 'paragraph'; got {unit!r}.")
    raw = []
    for f in text_files(paths_or_dir, pattern):
        text = read_text(f, encoding)
        if unit == "line":
            raw += text.splitlines()
        else:
            raw += [s for p in paragraphs(text) for s in split_sentences(p)]
    kept = filter_sentences(raw, max_words, min_words, lowercase, min_letter_fraction, deduplicate)
    return split_corpus(kept, validation_fraction, test_fraction, seed)


def sentence_dataset(sentences, batch_size=64, shuffle=True, seed=0, drop_remainder=False):
    """A list of strings as a batched, prefetched `tf.data.Dataset` of `tf.string`.

    Shuffling is seeded and changes every epoch.
    """
    import tensorflow as tf

    if not sentences:
        raise ValueError("No sentences to batch.")
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(sentences), tf.string))
    if shuffle:
        ds = ds.shuffle(len(sentences), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
