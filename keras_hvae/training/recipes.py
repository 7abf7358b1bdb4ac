"""Named training recipes: each retrains one shipped preset.

Families register their recipes as data
(`keras_hvae.utils.registry.register_recipes`, the dicts of
`keras_hvae.training.config_recipes`); `get_recipe(name)` turns one into a
runnable `Recipe` (the model, the data, the optimiser, the schedule and the
evaluation settings). `applications/<name>.py` scripts and
`keras-hvae train --recipe NAME` both run `run_recipe`.
"""

import dataclasses
import json
import numbers
from pathlib import Path
from typing import Any, Callable, Optional

@dataclasses.dataclass
class Recipe:
    """Everything needed to retrain one preset.

    Attributes:
        name: the preset name it produces.
        build_model: `() -> compiled model`.
        train_data: `() -> tf.data.Dataset` (training split).
        test_data: `() -> numpy array` (held-out test inputs for the scores).
        epochs: total epochs.
        validation_data: optional `() -> dataset` (validation split).
        steps_per_epoch: optional cap.
        iwae_samples: k of the IWAE score.
        eval_limit: number of test examples the ELBO is scored on, drawn at
            random (None: the whole split, the protocol of docs/presets.md).
        iwae_limit: number of test examples scored with the IWAE bound,
            drawn uniformly at random from the whole split (None: all).
        eval_seed: seed of those draws (recorded in the scores).
        callbacks: `() -> list` of extra Keras callbacks.
        extra_scores: optional `(model) -> dict` of further held-out scores
            (e.g. a classifier's test error) merged into `scores`.
        metadata: dataset, split, paper reference, notes for metadata.json.
        precision: `"float32"` or `"bfloat16"` (None:
            `keras_hvae.utils.precision.DEFAULT_TRAINING_PRECISION`);
            `run_recipe` constructs and builds the model under it.
        rollback_on_stall: `train_and_save`'s: True (the default
            `RollbackOnStall`), False (none) or a dict of its arguments.
        weights_dtype: the dtype of the preset's weights file (None:
            float32; `"float16"` halves it, scores measured on the rounded
            weights; see `keras_hvae.utils.presets.WEIGHTS_DTYPES`).
        seed: the global seed `run_recipe` passes to
            `keras.utils.set_random_seed` before it builds the model (the
            initial weights, the model's seed generators and dropout; the
            data pipeline takes its own seed). None: unseeded.
        base: the first stage of a two-stage recipe (a config's
            `fine_tune`), trained into `out_dir/base` first; None: one stage.
        build_fine_tuned: with `base`, `(base preset directory) -> compiled
            model` (its weights, a fresh optimizer), used instead of
            `build_model` (None in a two-stage recipe).
    """

    name: str
    build_model: Callable
    train_data: Callable
    test_data: Callable
    epochs: int
    validation_data: Optional[Callable] = None
    steps_per_epoch: Optional[int] = None
    iwae_samples: int = 1000
    eval_limit: Optional[int] = None
    iwae_limit: Optional[int] = None
    eval_seed: int = 0
    callbacks: Optional[Callable] = None
    extra_scores: Optional[Callable] = None
    metadata: dict = dataclasses.field(default_factory=dict)
    precision: Optional[str] = None
    seed: Optional[int] = None
    weights_dtype: Optional[str] = None
    rollback_on_stall: Any = True
    base: Optional["Recipe"] = None
    build_fine_tuned: Optional[Callable] = None


#: What a two-stage recipe's preset records of its base stage (`metadata["base"]`).
BASE_KEYS = ("recipe", "epochs", "training_steps", "wall_clock_seconds", "precision", "skipped_updates", "rollbacks",
             "weights_sha256")


def get_recipe(name, **overrides):
    """The registered recipe `name` as a runnable `Recipe`.

    Args:
        name: a registered recipe name (`keras-hvae recipes` lists them).
        **overrides: top-level recipe keys to replace (e.g. `epochs`,
            `time_limit_s`, `eval_limit`).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    from keras_hvae.training.config_recipes import recipe_from_config
    from keras_hvae.utils import registry

    recipes = registry.recipes()
    if name not in recipes:
        known = ", ".join(sorted(recipes)) or "(none)"
        raise ValueError(f"Unknown recipe {name!r}. Known recipes: {known}.")
    recipe = recipe_from_config(recipes[name], **overrides)
    recipe.metadata["recipe"] = f"keras-hvae train --recipe {name}"
    if recipe.base is not None:
        recipe.base.metadata["recipe"] = f"keras-hvae train --recipe {name} (base stage)"
    return recipe


def training_precision(recipe, out_dir, resume=False, precision=None):
    """The precision a run trains in.

    In order: `precision` (the command line's `--precision`), then, when
    resuming, the precision recorded in `out_dir/run_state.json` by the run
    being resumed, then the recipe's, then
    `keras_hvae.utils.precision.DEFAULT_TRAINING_PRECISION`.

    Raises:
        ValueError: for an unknown precision, naming the allowed ones.
    """
    from keras_hvae.utils.precision import DEFAULT_TRAINING_PRECISION, canonical_precision

    if precision is not None:
        return canonical_precision(precision)
    state_file = Path(out_dir) / "run_state.json"
    if resume and state_file.is_file():
        try:
            recorded = json.loads(state_file.read_text()).get("precision")
        except (json.JSONDecodeError, AttributeError):
            recorded = None
        if recorded:
            return canonical_precision(recorded)
    return canonical_precision(getattr(recipe, "precision", None) or DEFAULT_TRAINING_PRECISION)


def run_recipe(name_or_recipe, out_dir, resume=False, epochs=None, eval_limit=None, iwae_samples=None, verbose=1,
               precision=None, stop_on_skipped_updates=True):
    """Trains a recipe into `out_dir/preset` (resumable); returns (dir, metadata).

    The model is constructed and built inside
    `keras_hvae.utils.precision.precision_scope(precision)`; the preset's
    `metadata.json` records the `precision` it was trained in.

    Args:
        name_or_recipe: a registered name or a `Recipe`.
        out_dir: run directory (checkpoint, history, preset).
        resume: continue an interrupted run.
        epochs, eval_limit, iwae_samples: overrides (for quick runs), positive
            whole numbers; None: the recipe's. `eval_limit` examples are drawn
            uniformly at random from the whole test split (the protocol).
        verbose: Keras verbosity.
        precision: `"float32"` or `"bfloat16"`; None: the resumed run's
            precision when resuming, else the recipe's (see
            `training_precision`).
        stop_on_skipped_updates: True (default): warn and stop when more than
            half of the last 50 updates were skipped
            (`keras_hvae.training.callbacks.StopOnSkippedUpdates`); False:
            only warn; or a `StopOnSkippedUpdates` instance.

    Reproducibility: when the recipe has a `seed` (every config recipe
    does: its `"seed"`), `keras.utils.set_random_seed(seed)` is called
    before the model is built, so the same seed gives the same initial
    weights and, on TensorFlow, bit-identical training across processes
    (docs/reliability.md).
    """
    from keras_hvae.training.train_and_save import train_and_save
    from keras_hvae.utils.precision import precision_scope

    for option, value in (("epochs", epochs), ("eval_limit", eval_limit), ("iwae_samples", iwae_samples)):
        # None means "the recipe's"; 0 or less is an error, never a silent fall-back to the recipe's value
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
            raise ValueError(f"{option} must be a positive whole number or None (the recipe's), got {value!r}.")
    recipe = name_or_recipe if isinstance(name_or_recipe, Recipe) else get_recipe(name_or_recipe)
    base_meta = None
    if recipe.base is not None:
        base_dir = Path(out_dir) / "base"
        if resume and (base_dir / "preset" / "metadata.json").is_file():
            base_meta = json.loads((base_dir / "preset" / "metadata.json").read_text())
        else:
            _, base_meta = run_recipe(recipe.base, base_dir, resume=resume, epochs=epochs, verbose=verbose,
                                      precision=precision, stop_on_skipped_updates=stop_on_skipped_updates)
    precision = training_precision(recipe, out_dir, resume=resume, precision=precision)
    if recipe.seed is not None:
        import keras

        # Python's, numpy's and the backend's generators: the unseeded
        # kernel initialisers and the model's SeedGenerators draw their
        # seeds from them when constructed (in build_model below).
        keras.utils.set_random_seed(int(recipe.seed))
    from keras_hvae.training.callbacks import StopOnSkippedUpdates

    if not isinstance(stop_on_skipped_updates, StopOnSkippedUpdates):
        stop_on_skipped_updates = StopOnSkippedUpdates(stop=bool(stop_on_skipped_updates))
    with precision_scope(precision):
        # Sublayers take the dtype policy active when they are created, some
        # in `build()`: construct and build inside the scope.
        model = recipe.build_model() if base_meta is None else recipe.build_fine_tuned(str(base_dir / "preset"))
        model.build()
    meta = dict(recipe.metadata)
    if base_meta is not None:
        meta["base"] = {key: base_meta.get(key) for key in BASE_KEYS}
    meta.setdefault("recipe", recipe.name)
    meta["name"] = recipe.name
    if isinstance(meta.get("training_config"), dict):
        meta["training_config"] = dict(meta["training_config"], precision=precision)
    return train_and_save(
        model,
        recipe.train_data,  # a builder: fresh datasets, so that a resumed run is exact
        out_dir,
        epochs=recipe.epochs if epochs is None else epochs,
        validation_data=recipe.validation_data() if recipe.validation_data else None,
        steps_per_epoch=recipe.steps_per_epoch,
        resume=resume,
        callbacks=recipe.callbacks() if recipe.callbacks else (),
        x_test=recipe.test_data() if recipe.test_data is not None else None,
        iwae_samples=recipe.iwae_samples if iwae_samples is None else iwae_samples,
        eval_limit=eval_limit if eval_limit is not None else recipe.eval_limit,
        iwae_limit=recipe.iwae_limit,
        eval_seed=recipe.eval_seed,
        extra_scores=recipe.extra_scores,
        metadata=meta,
        verbose=verbose,
        stop_on_skipped_updates=stop_on_skipped_updates,
        weights_dtype=recipe.weights_dtype,
        rollback_on_stall=recipe.rollback_on_stall,
    )
