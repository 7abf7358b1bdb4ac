"""The paper's MatNet setups as named configurations.

Sec. 3 and Fig. 4 of Bachman (2016) fix the structure; the widths are not
printed (the paper defers to its code), so the widths below are our
choices, sized like the paper's era of models:

* ``mnist_conv`` / ``omniglot_conv``: 28x28 binary images, one fully
  connected module (z_0) plus meta modules at 7x7 and 14x14 with five TD
  modules each (11 latent layers), Bernoulli likelihood.
* ``omniglot_conv_gmm``: ``omniglot_conv`` with the 50-component mixture
  prior over z_0 and a slight entropy penalty (Fig. 3).
* ``mnist_fc``: fully connected MatNet (GRU-style TD modules) on
  dynamically binarised MNIST.
* ``cifar10``: 32x32x3, one fully connected module plus meta modules at
  8x8, 16x16 and 32x32 with 2, 4 and 4 modules; diagonal Gaussian on
  uniformly dequantised data.
* ``cifar10_ar``: ``cifar10`` + the five-layer PixelCNN head, with the
  integrated (discretised) logistic likelihood.

Conditional setups (for `ConditionalMatNet`):

* ``mnist_quadrants``: the structured-prediction task (Fig. 2): 28x28
  binary digits, quadrant masks.
* ``inpainting_64``: 64x64x3 images with three 20x20 occluders, two stages,
  single TD modules at 32x32, 16x16, 8x8 and fully connected.

`apply_overrides` handles the shortcuts ``channels``, ``z_channels`` and
``modules`` (set on every convolutional meta module) besides any
constructor argument.
"""

import copy


def _conv(size, modules, channels, z_channels):
    return {"size": size, "modules": modules, "channels": channels, "z_channels": z_channels}


def _derive(base, **changes):
    """A configuration that differs from `base` only in `changes`."""
    return dict(copy.deepcopy(base), **changes)


_MNIST_CONV = {
    "data_shape": [28, 28, 1],
    "likelihood": "bernoulli",
    "fc_units": 256,
    "z0_dim": 32,
    "fc_modules": 0,
    "conv_meta_modules": [_conv(7, 5, 64, 4), _conv(14, 5, 64, 4)],
}
_CIFAR10 = {
    "data_shape": [32, 32, 3],
    "likelihood": "gaussian",
    "fc_units": 512,
    "z0_dim": 64,
    "fc_modules": 0,
    "conv_meta_modules": [_conv(8, 2, 128, 8), _conv(16, 4, 128, 8), _conv(32, 4, 64, 4)],
}

ARCHITECTURES = {
    "mnist_conv": _MNIST_CONV,
    "omniglot_conv": _derive(_MNIST_CONV),
    "omniglot_conv_gmm": _derive(_MNIST_CONV, prior="mixture", num_components=50, cluster_entropy_weight=0.05),
    "mnist_fc": _derive(_MNIST_CONV, fc_units=500, fc_modules=10, fc_z_dim=32, conv_meta_modules=[]),
    "cifar10": _CIFAR10,
    "cifar10_ar": _derive(_CIFAR10, likelihood="discretized_logistic", autoregressive=True, ar_layers=5,
                          ar_filters=64),
}

CONDITIONAL_ARCHITECTURES = {
    "mnist_quadrants": _derive(_MNIST_CONV, mask_generator="quadrants", stages=1),
    "inpainting_64": _derive(
        _CIFAR10,
        data_shape=[64, 64, 3],
        likelihood="discretized_logistic",
        conv_meta_modules=[_conv(8, 1, 128, 8), _conv(16, 1, 128, 8), _conv(32, 1, 64, 8)],
        mask_generator="squares",
        num_squares=3,
        square_size=20,
        stages=2,
    ),
}

_SHORTCUTS = ("channels", "z_channels", "modules")


def apply_overrides(config, overrides):
    """A copy of ``config`` with ``overrides`` applied (shortcuts included)."""
    config = copy.deepcopy(config)
    overrides = dict(overrides)
    for key in _SHORTCUTS:
        if key in overrides:
            value = overrides.pop(key)
            for spec in config.get("conv_meta_modules", []):
                spec[key] = int(value)
    config.update(overrides)
    return config


def architecture_config(registry, name, overrides):
    if name not in registry:
        raise ValueError(f"Unknown MatNet architecture {name!r}; expected one of {sorted(registry)}.")
    return apply_overrides(registry[name], overrides)
