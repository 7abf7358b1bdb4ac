"""Recipes as data: `keras-hvae train --config FILE` and every family's `RECIPES`.

A recipe names a model, a dataset and a schedule; everything else
(progress bar, resumable checkpoints, test scores, the preset) is the same
for every recipe. The shipped presets' recipes (each family's
`<family>_presets.RECIPES`) are dicts in this format too. Example
(`my_biva.json`):

    {
      "name": "my_biva",
      "model": {"class": "BIVA", "architecture": "binary_28x28",
                "overrides": {"filters": 16, "layers_per_block": 1}},
      "dataset": "binarized_mnist",
      "batch_size": 48,
      "epochs": 4,
      "optimizer": {"class_name": "keras_hvae>Adamax", "config": {"learning_rate": 0.002}},
      "iwae_samples": 1000,
      "iwae_limit": 1000
    }

`model` takes `class` (a public name of `keras_hvae.applications`) and one
of `architecture` (+ `overrides`) for `Cls.from_architecture`, `config` (a
`get_config()` dict) for `Cls.from_config`, `arguments` for the
constructor (text models: the vocabulary and `max_length` come from the
dataset), or `preset` (a shipped name or a preset directory, for
`Cls.from_preset`: fine-tuning, which starts from the preset's weights with
a fresh optimizer). `dataset` names a data source of
`keras_hvae.training.recipe_data` (`dataset_options` are its arguments).
`optimizer` is a `keras.optimizers.get` entry whose `learning_rate` may be a
schedule object (`build_optimizer`). `time_limit_s` stops training at the end of the epoch that would overrun
it (the training time of the whole run: a resumed run counts the time of
the runs it resumes); `free_bits_plateau` lowers the free-bits budget of a text model when
the validation loss plateaus (`ReduceFreeBitsOnPlateau` arguments).
`eval_limit` (None: the whole test split) and `iwae_limit` (1,000) are
numbers of test examples drawn uniformly at random from the whole split
(seed 0) by the evaluation protocol
(`keras_hvae.evaluation.protocol.score_preset_protocol`), never the first N.
`precision` (`"float32"` or `"bfloat16"`, Keras' `mixed_bfloat16` policy;
default `keras_hvae.utils.precision.DEFAULT_TRAINING_PRECISION`) is the
precision the model trains in (`keras-hvae train --precision` overrides it).
`loss_spike_guard` (default true: `keras_hvae.models.loss_spike.DEFAULTS`;
false turns it off, an object sets `window`, `threshold`, `patience`) skips
and counts an update whose loss jumps far above the recent losses
(`model.compile(loss_spike_guard=...)`).
`rollback_on_stall` (default true: `keras_hvae.training.callbacks.RollbackOnStall`
with its defaults; false turns it off; an object sets its arguments, e.g.
`{"learning_rate_factor": 0.5, "every": 200}`) restores the last healthy
in-memory snapshot of the weights, optimizer and guard when a run's updates
stall (a learning-rate spike), before the stall stop ends the run.
`weights_dtype` (`"float32"`, the default, or `"float16"`) is the dtype of
the preset's weights file: float16 halves it (the loaded variables are
float32; the scores are measured on the weights rounded to float16).
`fine_tune` (default null) makes the recipe two stages: the config without
it trains a base model into `OUT/base` (no test scores), then a second run
starts from that preset's weights with a fresh optimizer and the keys of
`fine_tune` replacing the config's (it needs `epochs`; e.g.
`{"epochs": 11, "seed": 1}`), into `OUT` as usual. The preset's metadata
records the base stage under `base`.
"""

import copy
import json
from pathlib import Path

from keras_hvae.models.loss_spike import guard_options
from keras_hvae.training.recipe_data import SOURCES, data_source
from keras_hvae.training.recipes import Recipe
from keras_hvae.training.train_and_save import rollback_on_stall_callback
from keras_hvae.utils import registry
from keras_hvae.utils.precision import DEFAULT_TRAINING_PRECISION, canonical_precision
from keras_hvae.utils.presets import canonical_weights_dtype

REQUIRED = ("model", "dataset", "epochs")
OPTIONAL = {
    "name": None,
    "batch_size": 64,
    "steps_per_epoch": None,
    "optimizer": {"class_name": "keras_hvae>Adamax", "config": {"learning_rate": 2e-3}},
    "validation_limit": 2000,
    "iwae_samples": 1000,
    "eval_limit": None,
    "iwae_limit": 1000,  # the protocol: IWAE on 1,000 test examples drawn at random (docs/presets.md)
    "seed": 0,
    "dataset_options": {},
    "time_limit_s": None,
    "free_bits_plateau": None,
    "precision": DEFAULT_TRAINING_PRECISION,
    "loss_spike_guard": True,
    "rollback_on_stall": True,
    "weights_dtype": "float32",
    "fine_tune": None,
    "metadata": {},
}
MODEL_KEYS = ("architecture", "config", "arguments", "preset")


def _fail(source, message):
    raise ValueError(f"Training config {source}: {message}")


def load_config(path_or_dict):
    """The validated config dict (defaults filled in) of a file or dict."""
    if isinstance(path_or_dict, dict):
        raw, source = dict(path_or_dict), "(dict)"
    else:
        path = Path(path_or_dict)
        source = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"Training config {path} does not exist.")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            _fail(source, f"is not valid JSON ({e}).")
        if not isinstance(raw, dict):
            _fail(source, "must hold a JSON object.")
        raw.setdefault("name", path.stem)
    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        _fail(source, f"unknown keys {unknown}; allowed: {sorted(REQUIRED + tuple(OPTIONAL))}.")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        _fail(source, f"missing required keys {missing}.")
    config = {**OPTIONAL, **raw}
    model = config["model"]
    classes = registry.models()
    if not isinstance(model, dict) or model.get("class") not in classes:
        _fail(source, f"'model' needs a 'class' among {sorted(classes)}; got {model!r}.")
    if sum(key in model for key in MODEL_KEYS) != 1:
        _fail(source, "'model' needs exactly one of 'architecture' (with optional 'overrides'), 'config', "
                      "'arguments' or 'preset'.")
    if "preset" in model and (not isinstance(model["preset"], str) or not model["preset"]):
        _fail(source, f"'model.preset' must be a preset name or directory; got {model['preset']!r}.")
    if config["dataset"] not in SOURCES:
        _fail(source, f"unknown dataset {config['dataset']!r}; known: {sorted(SOURCES)}.")
    for key in ("epochs", "batch_size"):
        if not isinstance(config[key], int) or config[key] < 1:
            _fail(source, f"'{key}' must be a positive integer; got {config[key]!r}.")
    if config["steps_per_epoch"] is not None and (not isinstance(config["steps_per_epoch"], int)
                                                  or config["steps_per_epoch"] < 1):
        _fail(source, f"'steps_per_epoch' must be a positive integer or null; got {config['steps_per_epoch']!r}.")
    if not isinstance(config["dataset_options"], dict):
        _fail(source, f"'dataset_options' must be an object; got {config['dataset_options']!r}.")
    limit = config["time_limit_s"]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0):
        _fail(source, f"'time_limit_s' must be a positive number of seconds or null; got {limit!r}.")
    try:
        config["precision"] = canonical_precision(config["precision"])
    except ValueError as e:
        _fail(source, f"'precision': {e}")
    try:
        canonical_weights_dtype(config["weights_dtype"])
    except ValueError as e:
        _fail(source, f"'weights_dtype': {e}")
    try:
        guard_options(config["loss_spike_guard"])
    except ValueError as e:
        _fail(source, str(e))
    try:
        rollback_on_stall_callback(config["rollback_on_stall"])
    except (TypeError, ValueError) as e:
        _fail(source, f"'rollback_on_stall': {e}")
    try:
        build_optimizer(config["optimizer"])
    except (TypeError, ValueError) as e:
        _fail(source, f"'optimizer': {e}")
    config["name"] = config["name"] or "run"
    fine_tune = config["fine_tune"]
    if fine_tune is not None:
        if not isinstance(fine_tune, dict) or "epochs" not in fine_tune:
            _fail(source, f"'fine_tune' must be an object of keys replacing the config's for the second stage, "
                          f"with its 'epochs'; got {fine_tune!r}.")
        fixed = sorted(set(fine_tune) & {"model", "dataset", "name", "fine_tune", "metadata"})
        if fixed:
            _fail(source, f"'fine_tune' cannot change {fixed}: the second stage fine-tunes the first stage's model "
                          f"on the same dataset.")
        load_config(_fine_tune_config(config, "<the base stage's preset>"))  # the second stage's keys are valid
    return config


def _fine_tune_config(config, base_preset):
    """The second stage of a `fine_tune` config: the base stage's preset with the `fine_tune` keys."""
    return {**config, **config["fine_tune"], "fine_tune": None,
            "model": {"class": config["model"]["class"], "preset": str(base_preset)}}


def build_optimizer(spec):
    """The optimizer of a config's `optimizer` entry.

    A name (`"adam"`) or a `{"class_name", "config"}` object as
    `keras.optimizers.get` takes it, where `config.learning_rate` may be a
    number or a schedule object (`{"class_name": "CosineDecay", "config":
    {...}}`, a `keras.optimizers.schedules` class), which Keras alone does not
    resolve inside a registered optimizer such as `keras_hvae>Adamax`.

    Args:
        spec: the `optimizer` entry of a training config.

    Returns:
        A new `keras.optimizers.Optimizer`.

    Example:
    >>> opt = build_optimizer({"class_name": "keras_hvae>Adamax", "config": {"learning_rate": {
    ...     "class_name": "CosineDecay", "config": {"initial_learning_rate": 2e-3, "decay_steps": 100}}}})
    >>> type(opt.get_config()["learning_rate"]).__name__
    'dict'
    """
    import keras

    schedule = None
    spec = copy.deepcopy(spec)  # keras.optimizers.get edits the dict it is given
    if isinstance(spec, dict) and isinstance(spec.get("config"), dict) \
            and isinstance(spec["config"].get("learning_rate"), dict):
        entry = spec["config"].pop("learning_rate")
        try:
            schedule = keras.optimizers.schedules.deserialize(copy.deepcopy(entry))
        except (TypeError, ValueError):
            schedule = None
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError(f"learning_rate {entry!r} is not a keras.optimizers.schedules object "
                             f"(for example {{'class_name': 'CosineDecay', 'config': {{...}}}}).")
    try:
        optimizer = keras.optimizers.get(spec)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{spec!r} is not an optimizer keras.optimizers.get can build ({e}).") from None
    if schedule is not None:
        optimizer = type(optimizer).from_config({**optimizer.get_config(), "learning_rate": schedule})
    return optimizer


def build_model(config, data=None):
    """The compiled model of a validated config (`data`: its `DataSource`).

    The model takes the Keras dtype policy active now; `run_recipe` calls
    it inside `precision_scope(precision)` and builds the model there. To
    build one yourself in the config's precision:

        with precision_scope(config["precision"]):
            model = build_model(config)
            model.build()
    """
    spec = config["model"]
    cls = registry.models()[spec["class"]]
    if "architecture" in spec:
        model = cls.from_architecture(spec["architecture"], **dict(spec.get("overrides", {})))
    elif "config" in spec:
        model = cls.from_config(spec["config"])
    elif "preset" in spec:
        model = cls.from_preset(spec["preset"])
    else:
        model = cls(**(data.model_arguments() if data is not None else {}), **dict(spec["arguments"]))
    model.compile(optimizer=build_optimizer(config["optimizer"]),
                  loss_spike_guard=config.get("loss_spike_guard", True))
    return model


def _schedule_callbacks(config):
    out = []
    if config["time_limit_s"]:
        from keras_hvae.training.callbacks import TimeLimit

        out.append(TimeLimit(float(config["time_limit_s"])))
    if config["free_bits_plateau"]:
        from keras_hvae.models.text import ReduceFreeBitsOnPlateau

        out.append(ReduceFreeBitsOnPlateau(verbose=1, **config["free_bits_plateau"]))
    return out


def recipe_from_config(path_or_dict, **overrides):
    """A `Recipe` (for `run_recipe`) from a config file or dict.

    Args:
        path_or_dict: a JSON file or a recipe dict.
        **overrides: top-level keys replaced before validation (e.g.
            `epochs`, `time_limit_s`, `eval_limit`).
    """
    config = load_config(path_or_dict)
    if overrides:
        config = load_config(dict(config, **overrides))
    if config["fine_tune"] is not None:
        base = recipe_from_config(dict(config, fine_tune=None, name=f"{config['name']}_base"))
        base.test_data, base.extra_scores = None, None  # scores are the fine-tuned model's
        recipe = recipe_from_config(_fine_tune_config(config, "<the base stage's preset>"))
        recipe.base = base
        recipe.build_model = None  # the base stage's preset exists only once the base has run: build_fine_tuned
        recipe.build_fine_tuned = lambda preset: build_model(load_config(_fine_tune_config(config, preset)))
        recipe.metadata["training_config"] = {k: v for k, v in config.items() if k != "metadata"}
        recipe.metadata.update(config["metadata"])
        if not isinstance(path_or_dict, dict):
            recipe.metadata["recipe"] = f"keras-hvae train --config {path_or_dict}"
        return recipe
    data = data_source(config["dataset"], validation_limit=config["validation_limit"],
                       eval_limit=config["eval_limit"], **config["dataset_options"])
    seed, batch = int(config["seed"]), int(config["batch_size"])
    source = {} if isinstance(path_or_dict, dict) else {"recipe": f"keras-hvae train --config {path_or_dict}"}
    return Recipe(
        name=config["name"],
        build_model=lambda: build_model(config, data),
        train_data=lambda: data.train(batch, seed=seed),
        validation_data=data.validation,
        test_data=data.test,
        epochs=int(config["epochs"]),
        steps_per_epoch=config["steps_per_epoch"],
        iwae_samples=int(config["iwae_samples"]),
        eval_limit=config["eval_limit"],
        iwae_limit=config["iwae_limit"],
        callbacks=lambda: _schedule_callbacks(config) + data.callbacks(),
        extra_scores=data.extra_scores,
        precision=config["precision"],
        weights_dtype=config["weights_dtype"],
        rollback_on_stall=config["rollback_on_stall"],
        seed=seed,
        metadata={
            **data.describe(),
            "description": f"trained from a recipe config ({config['model']['class']})",
            "training_config": {k: v for k, v in config.items() if k != "metadata"},
            **source,
            **config["metadata"],
        },
    )
