"""BIVA (Maaløe et al. 2019) with its LVAE / LVAE+ ablations, anomaly
detection (the L^{>k} bound) and the semi-supervised extension.

>>> from keras_hvae.models.biva import BIVA, LVAE
>>> model = BIVA.from_architecture("binary_28x28", filters=16)
"""

from keras_hvae.models.biva import biva_presets
from keras_hvae.models.biva.biva_architectures import ARCHITECTURES, VARIANTS, resample_levels
from keras_hvae.models.biva.biva_model import BIVA, LVAE

__all__ = ["ARCHITECTURES", "BIVA", "LVAE", "VARIANTS", "resample_levels"]
from keras_hvae.models.biva.semi_supervised import (
    BIVAClassifier,
    SemiSupervisedBIVA,
    default_alpha,

)
from keras_hvae.datasets.semi_supervised import semi_supervised_dataset
from keras_hvae.utils.registry import register_models, register_presets, register_recipes

__all__ += ["BIVAClassifier", "SemiSupervisedBIVA", "default_alpha", "semi_supervised_dataset"]

register_models(BIVA, LVAE, SemiSupervisedBIVA)
register_presets(biva_presets.PRESETS, BIVA)
register_presets(biva_presets.SEMI_SUPERVISED_PRESETS, SemiSupervisedBIVA)
register_recipes(biva_presets.RECIPES)
