"""The text experiment of docs/text_experiment.md: BIVA+LSTM against the
RNN-VAE (and the other Table 7 baselines) on Debian's fortunes.

Each recipe trains into OUT/NAME (resumable: --resume continues a stopped
run from its checkpoint), writes a preset to OUT/NAME/preset and Table 7's
columns on the test split to OUT/NAME/text_scores.json.

    python applications/text_fortunes.py --out runs/text                  # full: < 1 h each
    python applications/text_fortunes.py --out runs/text --minutes 12     # shortened
    python applications/text_fortunes.py --recipe biva_lstm_fortunes --out runs/text --resume
    python applications/text_fortunes.py --out runs --table                # the docs' table from finished runs

Recipes: biva_lstm_fortunes, rnn_vae_fortunes, rnn_vae_free_bits_fortunes,
lstm_lm_fortunes, biva_text_fortunes (see keras_hvae/models/text/text_presets.py).
"""

import argparse
import json
import time
from pathlib import Path

DEFAULT = ["biva_lstm_fortunes", "rnn_vae_fortunes", "rnn_vae_free_bits_fortunes"]


def table(out, names):
    """Table 7's columns of finished runs (OUT/NAME/preset/metadata.json) as markdown."""
    lines = ["| model | parameters | steps | training time | -log p(x) <= | KL | perplexity <= |",
             "|---|---|---|---|---|---|---|"]
    for name in names:
        meta_file = Path(out) / name / "preset" / "metadata.json"
        if not meta_file.exists():
            lines.append(f"| `{name}` | (no finished run in {meta_file.parent}) | | | | | |")
            continue
        meta = json.loads(meta_file.read_text())
        t = meta["text_scores"]
        lines.append(
            f"| `{name}` | {meta['parameters'] / 1e6:.2f}M | {meta['training_steps']} | "
            f"{meta['wall_clock_seconds'] / 60:.0f} min | {t['nll']:.2f} | {t['kl']:.2f} | {t['perplexity']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", action="append", help="recipe name (repeatable; default: %s)" % ", ".join(DEFAULT))
    parser.add_argument("--out", required=True, help="run directory (one sub-directory per recipe)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock cap per run (default: the recipe's 55)")
    parser.add_argument("--epochs", type=int, default=None, help="cap on epochs of 100 steps")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="steps per epoch (default 100)")
    parser.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument("--table", action="store_true", help="print the table of finished runs under --out and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.out, args.recipe or DEFAULT))
        return

    from keras_hvae.training.recipes import get_recipe, run_recipe

    for name in args.recipe or DEFAULT:
        overrides = {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch,
                     "time_limit_s": None if args.minutes is None else args.minutes * 60}
        recipe = get_recipe(name, **{k: v for k, v in overrides.items() if v is not None})
        out = Path(args.out) / name
        started = time.time()
        preset, meta = run_recipe(recipe, out, resume=args.resume, verbose=args.verbose)
        scores = dict(meta.get("text_scores", {}))
        scores.update(
            {
                "recipe": name,
                "parameters": meta.get("parameters"),
                "training_steps": meta.get("training_steps"),
                "wall_clock_seconds_this_call": round(time.time() - started, 1),
                "wall_clock_seconds": meta.get("wall_clock_seconds"),
            }
        )
        (out / "text_scores.json").write_text(json.dumps(scores, indent=2))
        print(name, json.dumps(scores, indent=2), flush=True)


if __name__ == "__main__":
    main()
