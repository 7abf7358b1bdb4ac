"""The one evaluation protocol behind every score the package reports.

What is measured (see "Evaluation protocol" in `docs/presets.md`):

* the **ELBO** (one posterior sample per example) on the **whole** held-out
  split, as a mean with its standard error;
* the **IWAE bound** with k importance samples (k = 1,000 by default) on
  `iwae_examples` examples (1,000 by default) drawn **uniformly at random
  without replacement from the whole split** with a recorded integer seed,
  never "the first N" (the first MNIST test digits are easier than the
  rest), as a mean with its standard error, beside the ELBO on the same
  examples and the gap between the two (with its paired standard error);
* bits/dim (bits per word for text) from the same bounds where the model
  has `num_dims`.

The standard error of a mean over n examples is ``std(ddof=1) / sqrt(n)``:
the spread of the per-example bounds, i.e. the error of estimating the
split's (or the population's) mean from the examples scored. The
Monte-Carlo draws of the bounds are seeded from the same seed, so a rerun
with the same seed gives the same numbers.

`random_subset(n_total, n, seed)` is the draw: the first `n` entries of a
seeded permutation of `range(n_total)`, sorted. The draws of one seed are
nested (the 500 examples of a seed are among its 1,000), so when the ELBO
too is restricted to a random subset (`elbo_examples`), the IWAE examples
are inside it and their ELBO comes from the same pass.
"""

import math
import numbers

import numpy as np

from keras_hvae.utils.precision import precision_of
from keras_hvae.utils.progress import Progress

#: Defaults of the protocol (docs/presets.md, DESIGN.md decision 8).
DEFAULT_IWAE_SAMPLES = 1000
DEFAULT_IWAE_EXAMPLES = 1000
DEFAULT_SEED = 0
#: Examples per `model.elbo` call.
ELBO_BATCH_SIZE = 500

PROTOCOL_DESCRIPTION = ("ELBO (one posterior sample per example) on every scored example; IWAE bound on examples "
                        "drawn uniformly at random without replacement from the whole split: "
                        "keras_hvae.evaluation.protocol.random_subset(split size, num_examples, seed); "
                        "standard errors = std(ddof=1) / sqrt(n) over examples")


def _check_count(name, n):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"{name} must be a whole number of examples, got {n!r}.")
    if n <= 0:
        raise ValueError(f"{name} must be at least 1 example, got {n}.")
    return int(n)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (it is recorded with the scores), got {seed!r}.")
    return int(seed)


def random_subset(n_total, n, seed):
    """Sorted indices of `n` of `range(n_total)`, uniform without replacement.

    The first `n` entries of `np.random.default_rng(seed).permutation(n_total)`,
    sorted: every subset of size `n` is equally likely, the same seed gives
    the same subset, and the subsets of one seed are nested.

    Args:
        n_total: the size of the split.
        n: how many to draw; `n >= n_total` gives all of them.
        seed: a non-negative int (recorded with the scores).

    Returns:
        int64 numpy array of `min(n, n_total)` sorted indices.

    Raises:
        ValueError: when `n` is not a positive integer or `seed` is not a
            non-negative integer.

    Example:
    >>> random_subset(10, 3, seed=0)
    array([2, 4, 6])
    >>> random_subset(4, 10, seed=0)
    array([0, 1, 2, 3])
    """
    n = _check_count("the number of examples to draw", n)
    seed = _check_seed(seed)
    n_total = int(n_total)
    if n_total < 0:
        raise ValueError(f"n_total must be >= 0, got {n_total}.")
    if n >= n_total:
        return np.arange(n_total, dtype="int64")
    perm = np.random.default_rng(seed).permutation(n_total)
    return np.sort(perm[:n]).astype("int64")


def standard_error(values):
    """``std(values, ddof=1) / sqrt(n)``; None for fewer than two values.

    Example:
    >>> round(standard_error([1.0, 2.0, 3.0, 4.0]), 6)
    0.645497
    """
    values = np.asarray(values, dtype="float64").ravel()
    if values.size < 2:
        return None
    return float(np.std(values, ddof=1) / math.sqrt(values.size))


def _take(x, indices):
    """`x[indices]` for numpy arrays (and tensors), element by element for lists (sentences)."""
    if isinstance(x, (list, tuple)):
        return [x[int(i)] for i in indices]
    return np.asarray(x)[indices]


def _mc_seed(seed, stream, position):
    """The int seed of one model call: distinct per (protocol seed, ELBO/IWAE, first position)."""
    return (seed * 1_000_003 + stream * 7_919 + 2 * position + stream) & 0x7FFFFFFF


def iwae_batching(model, num_samples, chunk_size=None, batch_size=None):
    """`(chunk_size, batch_size)` for `model.iwae_bound` calls.

    Defaults fill one pass of `model.iwae_max_rows` network rows per call
    (k = 1,000: all samples in one chunk, 10 examples per call), so that a
    progress report follows every pass rather than every 100 examples.
    """
    rows = int(getattr(model, "iwae_max_rows", 10000) or 10000)
    per_example = max(1, int(getattr(model, "rows_per_example", 1) or 1))
    chunk = int(chunk_size or min(int(num_samples), max(1, rows // per_example)))
    batch = int(batch_size or max(1, rows // (chunk * per_example)))
    return chunk, batch


def _bits(model, x, bounds):
    """(bits/dim, its standard error) of the mean bound, or (None, None)."""
    if not hasattr(model, "num_dims"):
        return None, None
    dims = np.asarray(model.num_dims(x), dtype="float64")
    bounds = np.asarray(bounds, dtype="float64")
    value = float(-bounds.sum() / (dims.sum() * math.log(2)))
    se = standard_error(bounds)
    if se is None or not np.all(dims == dims[0]):
        return value, None  # bits per word of sentences of different lengths: a ratio, no simple error
    return value, float(se / (dims[0] * math.log(2)))


def _batch_starts(n, batch_size, shard):
    """The first positions of the batches of `n` examples this process
    scores: all of them, or with `shard = (index, count, gather)` the
    `index`-th of `count` contiguous blocks of the batches (sizes differ
    by at most one batch; a block may be empty)."""
    starts = list(range(0, n, batch_size))
    if shard is None:
        return starts
    index, count = int(shard[0]), int(shard[1])
    if not 0 <= index < count:
        raise ValueError(f"shard index must be in 0..{count - 1}, got {index}.")
    return starts[len(starts) * index // count: len(starts) * (index + 1) // count]


def _gathered(values, shard):
    """This process's per-example bounds (a list of batch arrays), with
    `shard` those of every process in order (its `gather`)."""
    local = np.concatenate(values) if values else np.zeros(0, dtype="float64")
    return local if shard is None else np.asarray(shard[2](local), dtype="float64")


def score_preset_protocol(model, x_test, iwae_samples=DEFAULT_IWAE_SAMPLES, iwae_examples=DEFAULT_IWAE_EXAMPLES,
                          elbo_examples=None, seed=DEFAULT_SEED, batch_size=None, chunk_size=None,
                          elbo_batch_size=ELBO_BATCH_SIZE, progress=False, label="", shard=None):
    """Scores a model on a held-out split under the package's protocol.

    Args:
        model: a model with per-example `elbo(x, seed=)` and
            `iwae_bound(x, num_samples, chunk_size=, seed=)` in nats (every
            `HierarchicalVAE`, text models included).
        x_test: the **whole** held-out split (numpy array, or a list of
            sentences for text models).
        iwae_samples: k of the IWAE bound.
        iwae_examples: examples scored with the IWAE bound, drawn with
            `random_subset(len(x_test), iwae_examples, seed)`; None: all.
        elbo_examples: None (the default): the ELBO on the whole split;
            an int: on `random_subset(len(x_test), elbo_examples, seed)`
            (the IWAE examples are then drawn among them).
        seed: non-negative int; draws the subsets and seeds the Monte-Carlo
            samples of the bounds (recorded).
        batch_size: examples per `iwae_bound` call (default: one pass of
            `model.iwae_max_rows` rows, see `iwae_batching`).
        chunk_size: importance samples per pass (default: all k when they fit
            in one pass).
        elbo_batch_size: examples per `elbo` call.
        progress: write labelled progress lines on stderr (`Progress`).
        label: prefix of the progress labels (e.g. the preset's name).
        shard: None (score every example here), or `(index, count,
            gather)` to split the work across `count` processes: this
            process scores the `index`-th of `count` contiguous blocks of
            the batches above (the same batches and Monte-Carlo seeds as
            one process), and `gather(values)` must return every process's
            1-D per-example values concatenated in process order
            (`keras_hvae.training.distributed.score_protocol` passes it).
            The result is then one process's, in every process.

    Returns:
        dict (JSON-ready), nats per example:
        `test_elbo`, `test_elbo_stderr`, `num_test_examples` (examples the
        ELBO covers), `num_split_examples`, `test_bits_per_dim` (and its
        `_stderr`) where the model has `num_dims` (text models: bits per
        word, and `num_test_tokens`, the words plus EOS tokens of the
        ELBO's sentences), `test_iwae` =
        `{num_samples, value, stderr, num_examples, seed, bits_per_dim,
        elbo_on_the_same_examples, elbo_on_the_same_examples_stderr, gap,
        gap_stderr}`, `protocol` (what was measured, in words and
        numbers) and, for a Keras model, `precision` (`"float32"` or
        `"bfloat16"`: the precision the bounds were computed in).

    Raises:
        ValueError: for an empty split, a non-positive number of examples
            or samples, or a bad seed.

    Example:
    >>> scores = score_preset_protocol(model, x_test, iwae_samples=10, iwae_examples=4, seed=0)
    >>> scores["num_test_examples"], scores["test_iwae"]["num_examples"], scores["test_iwae"]["seed"]
    (8, 4, 0)
    """
    seed = _check_seed(seed)
    iwae_samples = _check_count("iwae_samples (k)", iwae_samples)
    n_total = len(x_test)
    if n_total == 0:
        raise ValueError("the held-out split is empty: nothing to score.")
    elbo_idx = (np.arange(n_total, dtype="int64") if elbo_examples is None
                else random_subset(n_total, _check_count("elbo_examples (--limit)", elbo_examples), seed))
    n_iwae = len(elbo_idx) if iwae_examples is None else _check_count("iwae_examples (--iwae-limit)", iwae_examples)
    # nested draws: the IWAE examples are among the ELBO's
    iwae_idx = random_subset(n_total, min(n_iwae, len(elbo_idx)), seed)
    prefix = f"{label} " if label else ""

    x_elbo = x_test if elbo_examples is None and not isinstance(x_test, (list, tuple)) else _take(x_test, elbo_idx)
    x_elbo = x_elbo if isinstance(x_elbo, (list, tuple)) else np.asarray(x_elbo)
    n = len(elbo_idx)
    elbo_batch_size = max(1, int(elbo_batch_size))
    elbos = []
    starts = _batch_starts(n, elbo_batch_size, shard)
    mine = sum(min(elbo_batch_size, n - start) for start in starts)  # this process's examples
    with Progress(mine, f"{prefix}ELBO", unit="examples", enabled=progress) as bar:
        for start in starts:
            xb = x_elbo[start:start + elbo_batch_size]
            elbos.append(np.asarray(model.elbo(xb, seed=_mc_seed(seed, 0, start)), dtype="float64"))
            bar.update(len(xb))
    elbo_all = _gathered(elbos, shard)

    chunk, per_call = iwae_batching(model, iwae_samples, chunk_size, batch_size)
    x_iwae = _take(x_test, iwae_idx)
    m = len(iwae_idx)
    iwaes = []
    starts = _batch_starts(m, per_call, shard)
    mine = sum(min(per_call, m - start) for start in starts)
    with Progress(mine, f"{prefix}IWAE k={iwae_samples}", unit="examples", enabled=progress) as bar:
        for start in starts:
            xb = x_iwae[start:start + per_call]
            iwaes.append(np.asarray(model.iwae_bound(xb, iwae_samples, chunk_size=chunk,
                                                     seed=_mc_seed(seed, 1, start)), dtype="float64"))
            bar.update(len(xb))
    iwae_all = _gathered(iwaes, shard)
    if len(elbo_all) != n or len(iwae_all) != m:  # a gather that lost or repeated examples
        raise RuntimeError(f"the gathered bounds cover {len(elbo_all)} of {n} ELBO and {len(iwae_all)} of {m} "
                           f"IWAE examples (shard {shard[:2] if shard else None}).")
    elbo_same = elbo_all[np.searchsorted(elbo_idx, iwae_idx)]

    bpd, bpd_se = _bits(model, x_elbo, elbo_all)
    iwae_bpd, iwae_bpd_se = _bits(model, x_iwae, iwae_all)
    scores = {
        "test_elbo": float(elbo_all.mean()),
        "test_elbo_stderr": standard_error(elbo_all),
        "num_test_examples": int(n),
        "num_split_examples": int(n_total),
        "test_iwae": {
            "num_samples": iwae_samples,
            "value": float(iwae_all.mean()),
            "stderr": standard_error(iwae_all),
            "num_examples": int(m),
            "seed": seed,
            "elbo_on_the_same_examples": float(elbo_same.mean()),
            "elbo_on_the_same_examples_stderr": standard_error(elbo_same),
            "gap": float((iwae_all - elbo_same).mean()),
            "gap_stderr": standard_error(iwae_all - elbo_same),
        },
        "protocol": {
            "seed": seed,
            "elbo_examples": int(n),
            "elbo_on": "whole split" if n == n_total else f"{n} examples drawn at random (random_subset, seed {seed})",
            "iwae_samples": iwae_samples,
            "iwae_examples": int(m),
            "iwae_on": ("whole split" if m == n_total
                        else f"{m} examples drawn at random (random_subset, seed {seed})"),
            "split_examples": int(n_total),
            "description": PROTOCOL_DESCRIPTION,
        },
    }
    dims_key = getattr(model, "scored_dims_key", None)  # text: the tokens the ELBO covers (words + EOS)
    if dims_key:
        scores[dims_key] = int(np.asarray(model.num_dims(x_elbo), dtype="int64").sum())
    if hasattr(model, "dtype_policy"):
        scores["precision"] = precision_of(model)  # the precision the bounds were computed in
    if bpd is not None:
        scores["test_bits_per_dim"] = bpd
        scores["test_bits_per_dim_stderr"] = bpd_se
        scores["test_iwae"]["bits_per_dim"] = iwae_bpd
        scores["test_iwae"]["bits_per_dim_stderr"] = iwae_bpd_se
    return scores


def format_duration(seconds):
    """A rough duration in words: ``"40 s"``, ``"12 min"``, ``"3.5 h"``.

    Example:
    >>> format_duration(42.4), format_duration(720), format_duration(12600)
    ('42 s', '12 min', '3.5 h')
    """
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_protocol_seconds(model, x_test, iwae_samples=DEFAULT_IWAE_SAMPLES, iwae_examples=DEFAULT_IWAE_EXAMPLES,
                              elbo_examples=None, probe_examples=256, seed=DEFAULT_SEED):
    """A rough forecast of `score_preset_protocol`'s wall time, measured here.

    Times one `model.elbo` call on `probe_examples` examples (after a
    warm-up call, which also compiles what the ELBO pass needs), takes the
    time per network row (example x `rows_per_example`), and scales it by
    the rows of the protocol: the ELBO's examples plus the IWAE's examples
    x k. The IWAE passes are larger batches than the probe, so the forecast
    errs on the long side.

    Args:
        model, x_test, iwae_samples, iwae_examples, elbo_examples, seed: as
            for `score_preset_protocol`.
        probe_examples: examples of the timed call.

    Returns:
        dict: `seconds_per_row`, `elbo_seconds`, `iwae_seconds`, `seconds`
        (their sum), `elbo_examples`, `iwae_examples` (the counts used).

    Example:
    >>> plan = estimate_protocol_seconds(model, x_test, iwae_samples=10, iwae_examples=4, probe_examples=4)
    >>> plan["iwae_examples"], plan["seconds"] > 0
    (4, True)
    """
    import time

    n_total = len(x_test)
    if n_total == 0:
        raise ValueError("the held-out split is empty: nothing to score.")
    iwae_samples = _check_count("iwae_samples (k)", iwae_samples)
    n = n_total if elbo_examples is None else min(_check_count("elbo_examples", elbo_examples), n_total)
    m = n if iwae_examples is None else min(_check_count("iwae_examples", iwae_examples), n)
    probe = _take(x_test, random_subset(n_total, max(1, min(int(probe_examples), n_total)), _check_seed(seed)))
    model.elbo(probe, seed=0)  # warm-up: compiles
    start = time.perf_counter()
    model.elbo(probe, seed=1)
    rows_per_example = max(1, int(getattr(model, "rows_per_example", 1) or 1))
    per_row = (time.perf_counter() - start) / (len(probe) * rows_per_example)
    elbo_seconds = per_row * n * rows_per_example
    iwae_seconds = per_row * m * iwae_samples * rows_per_example
    return {"seconds_per_row": per_row, "elbo_seconds": elbo_seconds, "iwae_seconds": iwae_seconds,
            "seconds": elbo_seconds + iwae_seconds, "elbo_examples": int(n), "iwae_examples": int(m)}


def protocol_indices(n_total, iwae_examples=DEFAULT_IWAE_EXAMPLES, elbo_examples=None, seed=DEFAULT_SEED):
    """`(elbo_indices, iwae_indices)` that `score_preset_protocol` scores.

    Reproduces recorded scores: e.g. the IWAE examples of a preset are
    `protocol_indices(10000, scores["test_iwae"]["num_examples"],
    seed=scores["test_iwae"]["seed"])[1]`.
    """
    elbo_idx = (np.arange(int(n_total), dtype="int64") if elbo_examples is None
                else random_subset(n_total, elbo_examples, seed))
    n_iwae = len(elbo_idx) if iwae_examples is None else _check_count("iwae_examples", iwae_examples)
    return elbo_idx, random_subset(n_total, min(n_iwae, len(elbo_idx)), seed)
