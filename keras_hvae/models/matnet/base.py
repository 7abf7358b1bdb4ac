"""What the unconditional and the conditional MatNet share.

`MatNetBase` holds the architecture configuration (fully connected meta
module, convolutional meta modules, kernel size, weight normalisation),
derives the static `MatNetPlan` and names the latent layers. The Gaussian
layers are parameterised by `keras_hvae.models.gaussian`
(`loc_scale_from_log_var`: `[mu; log sigma^2]`, log-variance soft-clamped).
"""

import collections

from keras_hvae.models.hvae import HierarchicalVAE
from keras_hvae.models.matnet import networks


class MatNetBase(HierarchicalVAE):
    """Architecture arguments shared by `MatNet` and `ConditionalMatNet`.

    Args:
        data_shape: ``(H, W, C)`` of one image.
        fc_units: width of the fully connected meta module.
        z0_dim: dimension of z_0.
        fc_modules: fully connected (GRU-style) TD modules after z_0.
        fc_z_dim: latent units of each fully connected TD module.
        conv_meta_modules: convolutional meta modules, coarse to fine, each
            ``{"size", "modules", "channels", "z_channels"}``.
        kernel_size: kernel size of the module convolutions.
        weight_norm: weight-normalised layers with data-dependent init
            (True) or plain Keras layers.
        leak: slope of the leaky ReLUs.
        **kwargs: core arguments (`likelihood`, `free_bits`,
            `kl_warmup_steps`, `beta`, `clip_norm`, `seed`, `name`).
    """

    def __init__(
        self,
        data_shape=(28, 28, 1),
        fc_units=256,
        z0_dim=32,
        fc_modules=0,
        fc_z_dim=32,
        conv_meta_modules=({"size": 7, "modules": 5, "channels": 64, "z_channels": 4},
                           {"size": 14, "modules": 5, "channels": 64, "z_channels": 4}),
        kernel_size=3,
        weight_norm=True,
        leak=0.1,
        **kwargs,
    ):
        kwargs.pop("latent_layer_names", None)
        plan = networks.make_plan(data_shape, fc_units, z0_dim, fc_modules, fc_z_dim, conv_meta_modules)
        td_names = networks.latent_names(plan)
        # the core wants the bottom layer (closest to x) first
        names = td_names[::-1]
        super().__init__(data_shape=plan.data_shape, latent_layer_names=names, **kwargs)
        self.plan = plan
        self.fc_units = int(fc_units)
        self.z0_dim = int(z0_dim)
        self.fc_modules = int(fc_modules)
        self.fc_z_dim = int(fc_z_dim)
        self.conv_meta_modules = [
            {k: int(v) for k, v in dict(spec).items()} for spec in (conv_meta_modules or ())
        ]
        self.kernel_size = int(kernel_size)
        self.weight_norm = bool(weight_norm)
        self.leak = float(leak)

    # ---------------------------------------------------------- structure
    def _net_kwargs(self):
        return dict(kernel_size=self.kernel_size, weight_norm=self.weight_norm, leak=self.leak)

    @property
    def latent_layer_groups(self):
        """Meta-module name of each latent layer, in `latent_layer_names` order."""
        return networks.latent_groups(self.plan)[::-1]

    @property
    def meta_module_names(self):
        """Meta-module names in TD order (``"fc"``, then coarse to fine)."""
        return [m.name for m in self.plan.meta]

    def _to_core_order(self, per_layer_td_order):
        """TD order (z_0 first) -> the core's order (bottom layer first)."""
        return list(per_layer_td_order)[::-1]

    # ------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "data_shape": list(self.data_shape),
                "fc_units": self.fc_units,
                "z0_dim": self.z0_dim,
                "fc_modules": self.fc_modules,
                "fc_z_dim": self.fc_z_dim,
                "conv_meta_modules": [dict(spec) for spec in self.conv_meta_modules],
                "kernel_size": self.kernel_size,
                "weight_norm": self.weight_norm,
                "leak": self.leak,
            }
        )
        return config

    def describe(self):
        """One line per meta module: name, modules, width, latent size."""
        rows = collections.OrderedDict()
        for meta in self.plan.meta:
            rows[meta.name] = {"modules": meta.modules, "width": meta.width, "z_dim": meta.z_dim}
        return rows
