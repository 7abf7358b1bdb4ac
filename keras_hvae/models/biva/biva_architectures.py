"""The paper's BIVA architectures (Maaløe et al. 2019, Appendix C) as data.

Every architecture is a dict of `BIVA` constructor arguments; the model
classes read them through `BIVA.from_architecture(name, **overrides)`. One
level `i` (1-based in the paper, 0-based in the lists below) is a ResNet
block of `layers_per_block` (M) gated residual layers with `filters[i]`
kernels of size `kernel_sizes[i]`, whose last layer has stride
`strides[i]`, followed by the latent variable z_i of size
`latent_sizes[i]` (units for dense latents, feature maps for convolutional
latents).

| name | paper | L | blocks | latents |
|---|---|---|---|---|
| `binary_28x28` | App. C, binary images | 6 | 64x5x5 (stride 2), 64x3x3 ..., net 6 stride 2 | dense 48, 40, 32, 24, 16, 8 |
| `natural_32x32` | App. C, CIFAR-10 / ImageNet32 | 15 | 96x5x5 (stride 2), 96x3x3, nets 11 and 15 stride 2 | conv 38, 36, ..., 10 |
| `natural_64x64` | App. C, CelebA 64x64 | 20 | 64x7x7 and 64x5x5 (stride 2 each), 64x3x3 to net 11 (stride 2), 128x3x3 to net 20 (stride 2) | conv 20, 19, ..., 1 |

Appendix C says the kernels of the convolutional latent layers are "defined
similarly to the dimension of the subsequent output after striding": both
reference codes (`larsmaaloee/BIVA` `run_deep_vae.py`, `vlievin/biva-pytorch`
`architectures.py`) give every latent head of the 32x32 model a kernel as
large as its feature map (16x16, 8x8, 4x4), "same"-padded. That is
`latent_kernel_size="resolution"` here (an int overrides it).

`resample_levels(spec, num_layers)` stretches an architecture to another
depth (used for the LVAE+ L=29 ablation of Table 1): the first and last
levels are kept, every strided level moves to the proportional position,
filters and kernel sizes are taken from the nearest original level and
the latent sizes are interpolated linearly between the first and the last
(38 → 10 over 29 levels gives 38, 37, ..., 10).
"""

import copy

import numpy as np

from keras_hvae.utils.arguments import int_or_pair

#: The named paper configurations (BIVA constructor arguments).
ARCHITECTURES = {
    "binary_28x28": dict(
        data_shape=(28, 28, 1),
        filters=[64] * 6,
        kernel_sizes=[5, 3, 3, 3, 3, 3],
        strides=[2, 1, 1, 1, 1, 2],
        latent_sizes=[48, 40, 32, 24, 16, 8],
        layers_per_block=3,
        latent_type="dense",
        q_dropout=0.5,
        p_dropout=0.5,
        likelihood="bernoulli",
        free_bits=2.0,
    ),
    "natural_32x32": dict(
        data_shape=(32, 32, 3),
        filters=[96] * 15,
        kernel_sizes=[5] + [3] * 14,
        strides=[2] + [1] * 9 + [2] + [1] * 3 + [2],
        latent_sizes=list(range(38, 9, -2)),
        layers_per_block=3,
        latent_type="conv",
        latent_kernel_size="resolution",
        q_dropout=0.2,
        p_dropout=0.0,
        likelihood={"name": "discretized_logistic_mixture", "num_mixtures": 10},
        free_bits=2.0,
    ),
}
# CelebA 64x64: the natural-image model with 20 levels of its own sizes
ARCHITECTURES["natural_64x64"] = dict(
    copy.deepcopy(ARCHITECTURES["natural_32x32"]),
    data_shape=(64, 64, 3),
    filters=[64] * 11 + [128] * 9,
    kernel_sizes=[7, 5] + [3] * 18,
    strides=[2, 2] + [1] * 8 + [2] + [1] * 8 + [2],
    latent_sizes=list(range(20, 0, -1)),
)

#: The ablations of Sec. 4.1 as flag settings of the same model.
VARIANTS = {
    "biva": dict(bottom_up_latents=True, deterministic_top_down=True),
    "lvae": dict(bottom_up_latents=False, deterministic_top_down=False),
    "lvae+": dict(bottom_up_latents=False, deterministic_top_down=True),
}

#: Parameter counts of the 32x32 models in the paper's Table 1.
PAPER_TABLE1_PARAMETERS = {
    "LVAE L=15": ("lvae", 15, 10.85e6),
    "LVAE+ L=15": ("lvae+", 15, 11.36e6),
    "LVAE+ L=29": ("lvae+", 29, 21.99e6),
    "BIVA L=15": ("biva", 15, 18.48e6),
}

_PER_LEVEL = ("filters", "kernel_sizes", "strides", "latent_sizes")


def get_architecture(name):
    """A deep copy of the named architecture's constructor arguments.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"Unknown BIVA architecture {name!r}; expected one of {sorted(ARCHITECTURES)}.")
    return copy.deepcopy(ARCHITECTURES[name])


def get_variant(name):
    """The flags of "biva", "lvae" or "lvae+" (case-insensitive)."""
    key = str(name).lower().replace("_plus", "+")
    if key not in VARIANTS:
        raise ValueError(f"Unknown variant {name!r}; expected one of {sorted(VARIANTS)}.")
    return dict(VARIANTS[key])


def resample_levels(spec, num_layers):
    """The architecture `spec` stretched or shrunk to `num_layers` levels.

    Args:
        spec: a dict of constructor arguments with per-level lists
            `filters`, `kernel_sizes`, `strides`, `latent_sizes`.
        num_layers: the new L (>= 1).

    Returns:
        A new dict; the overall downsampling factor is kept (as long as
        there are at least as many levels as strided levels).

    Example:
    >>> s = resample_levels(ARCHITECTURES["natural_32x32"], 29)
    >>> [i + 1 for i, st in enumerate(s["strides"]) if st > 1]
    [1, 21, 29]
    """
    spec = copy.deepcopy(spec)
    old = len(spec["latent_sizes"])
    new = int(num_layers)
    if new < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
    if new == old:
        return spec
    pos = lambda i: 0 if old == 1 else round(i * (new - 1) / (old - 1))  # noqa: E731
    nearest = [min(old - 1, round(j * (old - 1) / max(new - 1, 1))) for j in range(new)]
    for key in ("filters", "kernel_sizes"):
        values = spec[key]
        spec[key] = [values[k] for k in nearest]
    strides = [1] * new
    for i, s in enumerate(spec["strides"]):
        if s > 1:
            j = pos(i)
            while j < new - 1 and strides[j] > 1:
                j += 1
            strides[j] = strides[j] * s if strides[j] > 1 else s
    spec["strides"] = strides
    sizes = spec["latent_sizes"]
    spec["latent_sizes"] = [
        int(round(v)) for v in np.linspace(sizes[0], sizes[-1], new)
    ] if new > 1 else [sizes[-1]]
    return spec


def broadcast_levels(value, num_layers, name):
    """An int (or a list of length L) as a list of L entries.

    Entries are ints, or `(height, width)` pairs for per-axis kernel sizes
    and strides (lists of two ints, as JSON gives them back, become tuples).
    """
    if isinstance(value, (int, np.integer)):
        return [int(value)] * num_layers
    values = [int_or_pair(v, name) for v in value]
    if len(values) != num_layers:
        raise ValueError(f"{name} must be an int or a list of {num_layers} ints (one per level); got {len(values)} values.")
    return values
