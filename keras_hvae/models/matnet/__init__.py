"""Matryoshka Networks (Bachman, 2016): MatNet, MatNet+AR, conditional MatNets.

* `MatNet` — unconditional, convolutional or fully connected; named paper
  setups in `MatNet.architectures` / `MatNet.from_architecture`; optional
  Gaussian-mixture prior (`cluster`; uniform fixed weights by default),
  inference regulariser (Eq. 13) and PixelCNN head (MatNet+AR);
  `conditional_sample` (Fig. 3: top k latent layers from q, the rest from
  the prior).
* `ConditionalMatNet` — p(x^u | x^k) for inpainting and structured
  prediction (Eqs. 3, 4, 6), one or two stages; `inpaint`.
* Modules (Eqs. 7-11): `TDModule`, `GRUTDModule`, `BUModule`, `MergeModule`.
* `GaussianMixturePrior`, `eq12_kl`; `PixelCNNHead`; mask generators.

Paper map: see docs/matnet.md.
"""

from keras_hvae.models.matnet import matnet_presets
from keras_hvae.models.matnet.ar_head import PixelCNNHead, autoregressive_sample
from keras_hvae.models.matnet.matnet_architectures import ARCHITECTURES, CONDITIONAL_ARCHITECTURES
from keras_hvae.models.matnet.conditional import ConditionalMatNet, ConditionalStage
from keras_hvae.models.matnet.masks import (
    numpy_quadrant_masks,
    numpy_random_square_masks,
    quadrant_masks,
    random_square_masks,
    scaled_square_size,
)
from keras_hvae.models.matnet.mixture_prior import (
    GaussianMixturePrior,
    eq12_kl,
    gaussian_kl_to_components,
    printed_eq12_kl,
)
from keras_hvae.models.matnet.matnet_model import MatNet, dequantize
from keras_hvae.models.matnet.modules import BUModule, GRUTDModule, MergeModule, TDModule
from keras_hvae.utils.registry import register_models, register_presets, register_recipes

__all__ = [
    "ARCHITECTURES",
    "BUModule",
    "CONDITIONAL_ARCHITECTURES",
    "ConditionalMatNet",
    "ConditionalStage",
    "GRUTDModule",
    "GaussianMixturePrior",
    "MatNet",
    "MergeModule",
    "PixelCNNHead",
    "TDModule",
    "autoregressive_sample",
    "dequantize",
    "eq12_kl",
    "gaussian_kl_to_components",
    "numpy_quadrant_masks",
    "numpy_random_square_masks",
    "printed_eq12_kl",
    "quadrant_masks",
    "random_square_masks",
    "scaled_square_size",
]

register_models(MatNet, ConditionalMatNet)
register_presets(matnet_presets.PRESETS, MatNet)
register_presets(matnet_presets.CONDITIONAL_PRESETS, ConditionalMatNet)
register_recipes(matnet_presets.RECIPES)
