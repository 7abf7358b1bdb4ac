"""English sentences from Debian's `fortunes` package.

`apt-get install fortunes fortunes-min` puts the fortune files in
`/usr/share/games/fortunes/`: plain text, entries separated by lines
holding only `%`, beside binary index files (`*.dat`) and `*.u8`
links, which are skipped. `ascii-art` (drawings) is skipped by default,
and the offensive fortunes (`off/`, package `fortunes-off`) are never read.

Each entry loses its attribution lines (lines starting with `--`), is
split into paragraphs and sentences as `sentence_corpus(unit="paragraph")`
does, and the sentences are cleaned, filtered (at most `max_words` words,
at least `min_letter_fraction` letters among non-space characters),
deduplicated and split by sentence into train / validation / test (a
seeded permutation: 10% test, 10% validation by default).
"""

from pathlib import Path

from keras_hvae.datasets.sentences import filter_sentences
from keras_hvae.datasets.sentences import paragraphs
from keras_hvae.datasets.sentences import read_text
from keras_hvae.datasets.sentences import split_corpus
from keras_hvae.datasets.sentences import split_sentences

FORTUNE_DIR = Path("/usr/share/games/fortunes")
EXCLUDE = ("ascii-art",)
_SKIP_SUFFIXES = {".dat", ".u8"}

_HOW = """Install Debian's fortune files (`apt-get install fortunes fortunes-min`; the
`fortunes-min` package alone gives a small set), or pass path= to a directory of
fortune files (text, entries separated by lines holding only `%`)."""


def fortune_files(path=None, exclude=EXCLUDE):
    """The fortune text files in `path` (default `/usr/share/games/fortunes`), sorted.

    `path` may also be one fortune file.

    Raises:
        FileNotFoundError: naming the missing path and the package to install.
    """
    p = Path(path).expanduser() if path is not None else FORTUNE_DIR
    if p.is_file():
        return [p]
    files = []
    if p.is_dir():
        files = sorted(
            f
            for f in p.iterdir()
            if f.is_file() and f.suffix not in _SKIP_SUFFIXES
            and not f.name.startswith(".") and f.name not in exclude
        )
    if not files:
        state = "holds no fortune files" if p.is_dir() else "does not exist"
        raise FileNotFoundError(f"No fortunes found: {p} {state}.\n{_HOW}")
    return files


def read_fortunes(path=None, exclude=EXCLUDE):
    """All fortune entries (strings, attribution lines removed) of the files."""
    entries = []
    for f in fortune_files(path, exclude):
        text = read_text(f).replace("\r\n", "\n")
        block = []
        for line in text.split("\n") + ["%"]:
            if line.strip() == "%":
                entry = "\n".join(block).strip()
                if entry:
                    entries.append(entry)
                block = []
            elif not line.strip().startswith("--"):
                block.append(line)
    return entries


def fortune_sentences(
    path=None, max_words=40, min_words=1, lowercase=False, validation_fraction=0.1, test_fraction=0.1, seed=0,
    exclude=EXCLUDE, min_letter_fraction=0.6,
):
    """Sentences from the fortune files, split by sentence.

    Args:
        path: a directory of fortune files or one file; default
            `/usr/share/games/fortunes`.
        max_words, min_words, lowercase, validation_fraction, test_fraction,
            seed, min_letter_fraction: as for `sentence_corpus`.
        exclude: file names to skip.

    Returns:
        dict `{"train": [str], "validation": [str], "test": [str]}`.

    Raises:
        FileNotFoundError: naming the path and `apt-get install fortunes fortunes-min`.
    """
    raw = [s for e in read_fortunes(path, exclude) for p in paragraphs(e) for s in split_sentences(p)]
    kept = filter_sentences(raw, max_words, min_words, lowercase, min_letter_fraction)
    return split_corpus(kept, validation_fraction, test_fraction, seed)
