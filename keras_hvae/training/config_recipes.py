"""Recipes from a JSON file: `keras-hvae train --config FILE`.

A config file names an image model, a dataset and a schedule; everything
else (progress bar, resumable checkpoints, test scores, the preset) is what
the registered recipes get. Example (`my_biva.json`):

    {
      "name": "my_biva",
      "model": {"class": "BIVA", "architecture": "binary_28x28",
                "overrides": {"filters": 16, "layers_per_block": 1}},
      "dataset": "binarized_mnist",
      "batch_size": 48,
      "epochs": 4,
      "optimizer": {"class_name": "Adamax", "config": {"learning_rate": 0.002}},
      "iwae_samples": 1000,
      "iwae_limit": 100
    }

`model` takes either `architecture` (+ `overrides`) for
`Cls.from_architecture`, or `config` (a `get_config()` dict) for
`Cls.from_config`.
"""

import json
from pathlib import Path

from keras_hvae.training.recipes import Recipe

#: Image classes a config file can train (text and semi-supervised models
#: need a vocabulary or labels: use their registered recipes).
MODEL_CLASSES = ("BIVA", "LVAE", "MatNet")

#: dataset name -> loader function in `keras_hvae.datasets`.
DATASETS = {
    "binarized_mnist": "binarized_mnist",
    "mnist_uint8": "mnist_uint8",
    "binarized_omniglot": "binarized_omniglot",
    "cifar10": "cifar10",
    "svhn": "svhn",
}

REQUIRED = ("model", "dataset", "epochs")
OPTIONAL = {
    "name": None,
    "batch_size": 64,
    "steps_per_epoch": None,
    "optimizer": {"class_name": "Adamax", "config": {"learning_rate": 2e-3}},
    "validation_limit": 2000,
    "iwae_samples": 1000,
    "eval_limit": None,
    "iwae_limit": 100,
    "seed": 0,
    "metadata": {},
}


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
    if not isinstance(model, dict) or model.get("class") not in MODEL_CLASSES:
        _fail(source, f"'model' needs a 'class' among {list(MODEL_CLASSES)}; got {model!r}.")
    if ("architecture" in model) == ("config" in model):
        _fail(source, "'model' needs exactly one of 'architecture' (with optional 'overrides') or 'config'.")
    if config["dataset"] not in DATASETS:
        _fail(source, f"unknown dataset {config['dataset']!r}; known: {sorted(DATASETS)}.")
    for key in ("epochs", "batch_size"):
        if not isinstance(config[key], int) or config[key] < 1:
            _fail(source, f"'{key}' must be a positive integer; got {config[key]!r}.")
    config["name"] = config["name"] or "run"
    return config


def build_model(config):
    """The compiled model of a validated config."""
    import keras

    from keras_hvae import applications

    spec = config["model"]
    cls = getattr(applications, spec["class"])
    if "architecture" in spec:
        model = cls.from_architecture(spec["architecture"], **dict(spec.get("overrides", {})))
    else:
        model = cls.from_config(spec["config"])
    model.compile(optimizer=keras.optimizers.get(config["optimizer"]))
    return model


def recipe_from_config(path_or_dict):
    """A `Recipe` (for `run_recipe`) from a config file or dict."""
    from keras_hvae import datasets
    from keras_hvae.datasets.registry import test_inputs

    config = load_config(path_or_dict)
    loader = getattr(datasets, DATASETS[config["dataset"]])
    seed, batch = int(config["seed"]), int(config["batch_size"])
    return Recipe(
        name=config["name"],
        build_model=lambda: build_model(config),
        train_data=lambda: loader("train", batch_size=batch, seed=seed, drop_remainder=True),
        validation_data=lambda: loader("validation", batch_size=500, seed=seed, shuffle=False,
                                       limit=config["validation_limit"]),
        test_data=lambda: test_inputs(config["dataset"], limit=config["eval_limit"]),
        epochs=int(config["epochs"]),
        steps_per_epoch=config["steps_per_epoch"],
        iwae_samples=int(config["iwae_samples"]),
        eval_limit=config["eval_limit"],
        iwae_limit=config["iwae_limit"],
        metadata={
            "dataset": config["dataset"],
            "split": "train: the training split; validation: the first validation examples (logged only); "
                     "scores: the test split",
            "description": f"trained from a config file ({config['model']['class']})",
            "training_config": {k: v for k, v in config.items() if k != "metadata"},
            **config["metadata"],
        },
    )
