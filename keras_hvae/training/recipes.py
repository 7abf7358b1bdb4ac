"""Named training recipes: each retrains one shipped preset.

Families register their recipes as data
(`keras_hvae.utils.registry.register_recipes`, the dicts of
`keras_hvae.training.config_recipes`); `get_recipe(name)` turns one into a
runnable `Recipe` (the model, the data, the optimiser, the schedule and the
evaluation settings). `applications/<name>.py` scripts and
`keras-hvae train --recipe NAME` both run `run_recipe`.
"""

import dataclasses
from typing import Callable, Optional

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
        eval_limit: number of test examples scored (None: all).
        iwae_limit: number of those scored with the IWAE bound (None: all).
        callbacks: `() -> list` of extra Keras callbacks.
        extra_scores: optional `(model) -> dict` of further held-out scores
            (e.g. a classifier's test error) merged into `scores`.
        metadata: dataset, split, paper reference, notes for metadata.json.
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
    callbacks: Optional[Callable] = None
    extra_scores: Optional[Callable] = None
    metadata: dict = dataclasses.field(default_factory=dict)


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
    return recipe


def run_recipe(name_or_recipe, out_dir, resume=False, epochs=None, eval_limit=None, iwae_samples=None, verbose=1):
    """Trains a recipe into `out_dir/preset` (resumable); returns (dir, metadata).

    Args:
        name_or_recipe: a registered name or a `Recipe`.
        out_dir: run directory (checkpoint, history, preset).
        resume: continue an interrupted run.
        epochs, eval_limit, iwae_samples: overrides (for quick runs).
        verbose: Keras verbosity.
    """
    from keras_hvae.training.train_and_save import train_and_save

    recipe = name_or_recipe if isinstance(name_or_recipe, Recipe) else get_recipe(name_or_recipe)
    model = recipe.build_model()
    meta = dict(recipe.metadata)
    meta.setdefault("recipe", recipe.name)
    meta["name"] = recipe.name
    return train_and_save(
        model,
        recipe.train_data(),
        out_dir,
        epochs=epochs or recipe.epochs,
        validation_data=recipe.validation_data() if recipe.validation_data else None,
        steps_per_epoch=recipe.steps_per_epoch,
        resume=resume,
        callbacks=recipe.callbacks() if recipe.callbacks else (),
        x_test=recipe.test_data(),
        iwae_samples=iwae_samples or recipe.iwae_samples,
        eval_limit=eval_limit if eval_limit is not None else recipe.eval_limit,
        iwae_limit=recipe.iwae_limit,
        extra_scores=recipe.extra_scores,
        metadata=meta,
        verbose=verbose,
    )
