"""Scoring a trained preset again under the evaluation protocol.

`rescore_preset` reloads a preset in the precision it records, rebuilds the
test split of the dataset its `training_config` names (or, for a preset
that records none, the registered recipe of its name), and measures the
scores the recipe measures at the end of training
(`keras_hvae.evaluation.protocol.score_preset_protocol` plus the dataset's
extra scores, e.g. a classifier's test error). Use it after the weights
file of a preset changes form (say float16 weights, `convert_weights_file`)
or after the protocol changes.
"""

import json
from pathlib import Path

from keras_hvae.training.train_and_save import evaluate_bounds, strict_json
from keras_hvae.utils.atomic_files import write_text_atomic
from keras_hvae.utils.presets import METADATA_FILE, PresetError, load_preset, resolve_preset


def rescore_preset(preset, precision=None, iwae_samples=None, eval_limit=None, iwae_limit=None, write=False,
                   reason=None, verbose=1):
    """Measures a preset's test scores again, as its recipe does.

    Args:
        preset: a preset name, directory or URL (`load_preset`).
        precision: `"float32"` or `"bfloat16"`; None: the precision the
            preset's metadata records (its training precision).
        iwae_samples, eval_limit, iwae_limit: None: the preset's
            `training_config` values (k; ELBO examples, None meaning the
            whole split; IWAE examples drawn at random, seed 0).
        write: replace `scores` in the preset's `metadata.json` (atomically;
            the weights are not touched), recording the old headline
            scores and `reason` in its `corrections` list. Only for a local
            directory.
        reason: why the scores were measured again (for `corrections`).
        verbose: progress lines on stderr when positive.

    Returns:
        The scores dict (the form of `metadata["scores"]`).

    Raises:
        PresetError: the preset records no `training_config` and no recipe
            of its name is registered (nothing says which data it was
            scored on), or `write=True` for a preset that is not a local
            directory.
    """
    from keras_hvae.training.config_recipes import load_config
    from keras_hvae.training.recipe_data import data_source
    from keras_hvae.utils import registry

    directory = resolve_preset(preset)
    metadata = json.loads((Path(directory) / METADATA_FILE).read_text(encoding="utf-8"))
    config = metadata.get("training_config")
    if not isinstance(config, dict) and metadata.get("name") in registry.recipes():
        config = load_config(registry.recipes()[metadata["name"]])  # presets trained before it was recorded
    if not isinstance(config, dict) or "dataset" not in config:
        raise PresetError(f"preset {preset!r} records no training_config with a dataset and no recipe of its name "
                          "is registered, so its test split is unknown; score it with "
                          "keras_hvae.evaluation.protocol.score_preset_protocol.")
    if write and not Path(str(preset)).is_dir():
        raise PresetError(f"write=True rewrites a local preset directory's metadata.json; {preset!r} is not one.")
    iwae_samples = int(iwae_samples or config.get("iwae_samples", 1000))
    eval_limit = eval_limit if eval_limit is not None else config.get("eval_limit")
    iwae_limit = iwae_limit if iwae_limit is not None else config.get("iwae_limit")
    data = data_source(config["dataset"], validation_limit=config.get("validation_limit", 2000),
                       eval_limit=eval_limit, **config.get("dataset_options", {}))
    model = load_preset(preset, precision=precision or metadata.get("precision") or "float32")
    x_test = data.test()  # None where the dataset's scores are its own (structured prediction)
    scores = {} if x_test is None else evaluate_bounds(model, x_test, iwae_samples=iwae_samples, limit=eval_limit,
                                                       iwae_limit=iwae_limit, seed=0, progress=verbose > 0)
    scores.update(data.extra_scores(model))
    scores = strict_json(scores)
    if write:
        old = metadata.get("scores") or {}
        metadata.setdefault("corrections", []).append({
            "field": "scores",
            "old": {key: old.get(key) for key in ("test_elbo", "test_iwae", "num_test_examples", "structured_prediction") if key in old},
            "new": {key: scores[key] for key in ("test_elbo", "structured_prediction") if key in scores}
                   | ({"test_iwae": scores["test_iwae"]["value"]} if "test_iwae" in scores else {}),
            "why": reason or "re-measured under the evaluation protocol (keras_hvae.training.rescore.rescore_preset)",
        })
        metadata["scores"] = scores
        write_text_atomic(Path(directory) / METADATA_FILE, json.dumps(metadata, indent=2, sort_keys=True))
    return scores
