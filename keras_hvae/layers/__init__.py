"""Keras 3 building blocks of the hierarchical VAEs in keras_hvae.

* Weight-normalised layers with explicit data-dependent initialisation:
  :class:`WeightNormDense`, :class:`WeightNormConv2D`,
  :class:`WeightNormConv2DTranspose`; trigger the initialisation with
  :func:`initialize_weight_norm` (or the :func:`data_dependent_init` context)
  and check it with :func:`uninitialized_weight_norm_layers`.
* The PixelCNN++-style gated residual block :class:`GatedResidualBlock` and
  the BIVA authors' variant :class:`BIVAResidualBlock`.
* :class:`MaskedConv2D` for a small conditional PixelCNN.
"""

from keras_hvae.layers.weight_norm_init import (
    data_dependent_init,
    data_dependent_init_active,
    initialize_weight_norm,
    initialize_weight_norm_traced,
    uninitialized_weight_norm_layers,
)
from keras_hvae.layers.gated_residual import BIVAResidualBlock, GatedResidualBlock, concat_elu
from keras_hvae.layers.initializers import FlatRandomNormal
from keras_hvae.layers.masked_conv import MaskedConv2D, causal_mask
from keras_hvae.layers.weight_norm import (
    WeightNormBase,
    WeightNormConv2D,
    WeightNormConv2DTranspose,
    WeightNormDense,
)

__all__ = [
    "BIVAResidualBlock",
    "GatedResidualBlock",
    "MaskedConv2D",
    "WeightNormBase",
    "WeightNormConv2D",
    "WeightNormConv2DTranspose",
    "WeightNormDense",
    "FlatRandomNormal",
    "causal_mask",
    "concat_elu",
    "data_dependent_init",
    "data_dependent_init_active",
    "initialize_weight_norm",
    "initialize_weight_norm_traced",
    "uninitialized_weight_norm_layers",
]
