"""The shared hierarchical-VAE core and the model families built on it."""

from keras_hvae.models.hvae import HierarchicalVAE
from keras_hvae.models.linear_gaussian import LinearGaussianVAE
from keras_hvae.models.optimizers import Adamax
from keras_hvae.models.objective import free_bits_kl, kl_warmup_weight, negative_elbo
from keras_hvae.models.gaussian import diagonal_normal, posterior_terms, reparameterized_sample
from keras_hvae.utils.registry import register_models

register_models(LinearGaussianVAE)
