"""The BU, TD and merge networks of a MatNet, built from meta modules.

A MatNet is a stack of *meta modules*, one per spatial scale, within which
every module keeps the shape of its state (Sec. 2.2). In TD order (from
z_0 to the output):

    meta 0:   fully connected ("fc"), width `fc_units`, `fc_modules` GRU TD modules
    meta 1..: convolutional, coarse to fine, e.g. 7x7 then 14x14, each with
              `modules` TD modules of `channels` channels and `z_channels`
              latent channels

Connections between meta modules (and into / out of the networks):

* BU (evaluated fine -> coarse -> fc): a plain convolution with stride
  ``data_size / finest_size`` feeds the image in; strided convolutions
  down-sample between scales; flatten + dense enters the fc meta module.
  The final fc state ``h^b`` gives q(z_0) (a dense layer: ``f_0^b``).
* TD (fc -> coarse -> fine): dense(z_0) enters the fc state; dense +
  reshape enters the coarsest scale; transposed convolutions up-sample;
  a transposed convolution (or dense + reshape for fully-connected
  MatNets) feeds the output out.
* Merge: the merge state starts as the final BU state and follows the TD
  state through its own dense / transposed-convolution connectors, so one
  merge state is carried from each merge module to the next (Eq. 10).

BU modules are numbered in reverse order of evaluation so they align with
the TD modules: within one meta module, TD module j (0-based, TD order)
meets the BU state of the j-th BU module counted from the *last* one
evaluated. `BottomUpNetwork.call` returns the BU states already in TD
order.
"""

import dataclasses

import keras
from keras import ops

from keras_hvae.models.matnet.modules import (
    BUModule,
    GRUTDModule,
    MergeModule,
    TDModule,
    lrelu,
    make_conv,
    make_conv_transpose,
    make_dense,
)


@dataclasses.dataclass(frozen=True)
class MetaModule:
    """One meta module: a group of same-shaped modules."""

    name: str
    spatial: bool
    size: int  # spatial size (0 for fc)
    width: int  # channels or units
    z_dim: int  # latent channels or units per module
    modules: int


@dataclasses.dataclass(frozen=True)
class MatNetPlan:
    """The static structure of a MatNet, derived from its configuration."""

    data_shape: tuple
    z0_dim: int
    meta: tuple  # MetaModule, TD order: fc first, then conv coarse -> fine
    input_stride: int  # data size / finest conv size (1 for fc-only)

    @property
    def conv_meta(self):
        return tuple(m for m in self.meta if m.spatial)

    def module_groups(self):
        """The meta-module name of each TD module, TD order."""
        return [m.name for m in self.meta for _ in range(m.modules)]


def make_plan(data_shape, fc_units, z0_dim, fc_modules, fc_z_dim, conv_meta_modules):
    """Checks a configuration and returns its `MatNetPlan`.

    Raises:
        ValueError: for shapes that cannot be chained by integer strides.
    """
    data_shape = tuple(int(d) for d in data_shape)
    if len(data_shape) != 3:
        raise ValueError(f"MatNet expects images: data_shape (H, W, C), got {data_shape}.")
    meta = [MetaModule("fc", False, 0, int(fc_units), int(fc_z_dim), int(fc_modules))]
    sizes = []
    for spec in conv_meta_modules or ():
        spec = dict(spec)
        unknown = set(spec) - {"size", "modules", "channels", "z_channels"}
        if unknown:
            raise ValueError(f"Unknown keys {sorted(unknown)} in a conv meta module {spec}.")
        size = int(spec["size"])
        sizes.append(size)
        meta.append(
            MetaModule(f"{size}x{size}", True, size, int(spec["channels"]), int(spec["z_channels"]), int(spec["modules"]))
        )
    stride = 1
    if sizes:
        h, w, _ = data_shape
        if h != w:
            raise ValueError(f"Convolutional MatNets expect square images, got {data_shape}.")
        chain = sizes + [h]
        for a, b in zip(chain[:-1], chain[1:]):
            if b % a or b < a:
                raise ValueError(
                    f"Meta-module sizes must grow by integer factors up to the image size; got {chain}."
                )
        stride = h // sizes[-1]
    if int(z0_dim) < 1:
        raise ValueError(f"z0_dim must be >= 1, got {z0_dim}.")
    return MatNetPlan(data_shape, int(z0_dim), tuple(meta), stride)


def _scale_ratio(plan, i):
    """Up-sampling factor from meta module i-1 to i (both convolutional)."""
    return plan.meta[i].size // plan.meta[i - 1].size


class _Network(keras.layers.Layer):
    def __init__(self, plan, kernel_size=3, weight_norm=True, leak=0.1, **kwargs):
        super().__init__(**kwargs)
        self.plan = plan
        self.kernel_size = int(kernel_size)
        self.weight_norm = bool(weight_norm)
        self.leak = float(leak)
        self.built = True

    def _module_kwargs(self, spatial):
        return dict(spatial=spatial, kernel_size=self.kernel_size, weight_norm=self.weight_norm, leak=self.leak)

    def _act(self, x):
        return lrelu(x, self.leak)

    def _make_entries(self, prefix):
        """The connectors into meta modules 1, 2, ... (TD order): a dense
        layer reshaped to the first convolutional scale, then transposed
        convolutions up to each finer scale."""
        wn, k = self.weight_norm, self.kernel_size
        entries = []
        for i, meta in enumerate(self.plan.meta):
            if i == 1:
                entries.append(make_dense(meta.size * meta.size * meta.width, weight_norm=wn, name=f"{prefix}_{meta.name}"))
            elif i > 1:
                entries.append(make_conv_transpose(meta.width, k, strides=_scale_ratio(self.plan, i), weight_norm=wn,
                                                   name=f"{prefix}_{meta.name}"))
        return entries

    def enter(self, i, h):
        """Connects meta module i-1 to meta module i (i >= 1)."""
        meta = self.plan.meta[i]
        if i == 1:
            h = ops.reshape(self.entries[0](h), (ops.shape(h)[0], meta.size, meta.size, meta.width))
            return self._act(h)
        return self._act(self.entries[i - 1](h))


class BottomUpNetwork(_Network):
    """The deterministic BU network (Eq. 9 modules) and the z_0 head f_0^b.

    ``call(x)`` returns ``(top, states)``: the final fc state ``h^b`` and
    the list of BU states aligned with the TD modules (TD order).
    ``z0_params(top)`` gives ``(mu_0, log_var_0)``. With ``z0_head=False``
    the head is left out (its owner provides one).
    """

    def __init__(self, plan, z0_head=True, **kwargs):
        super().__init__(plan, **kwargs)
        wn, k = self.weight_norm, self.kernel_size
        self.entries = []
        self.bu_modules = []
        # evaluation order: conv meta fine -> coarse, then fc
        order = list(range(len(plan.meta) - 1, 0, -1)) + [0]
        self._order = tuple(order)
        for n, i in enumerate(order):
            meta = plan.meta[i]
            if meta.spatial:
                stride = plan.input_stride if n == 0 else plan.meta[i + 1].size // meta.size
                self.entries.append(make_conv(meta.width, k, strides=stride, weight_norm=wn, name=f"bu_in_{meta.name}"))
            else:
                self.entries.append(make_dense(meta.width, weight_norm=wn, name="bu_in_fc"))
            for j in range(meta.modules):
                self.bu_modules.append(
                    BUModule(meta.width, name=f"bu_{meta.name}_{j}", **self._module_kwargs(meta.spatial))
                )
        self.has_z0_head = bool(z0_head)
        if z0_head:
            self.z0_head = make_dense(2 * plan.z0_dim, weight_norm=wn, init_scale=0.1, name="bu_z0_head")

    def call(self, x):
        states_by_meta = {}
        h = x
        k = 0
        for n, i in enumerate(self._order):
            meta = self.plan.meta[i]
            if not meta.spatial:
                h = ops.reshape(h, (ops.shape(h)[0], -1))
            h = self._act(self.entries[n](h))
            outs = []
            for _ in range(meta.modules):
                h = self.bu_modules[k](h)
                k += 1
                outs.append(h)
            states_by_meta[i] = outs[::-1]  # reverse order of evaluation
        aligned = [s for i in range(len(self.plan.meta)) for s in states_by_meta[i]]
        return h, aligned

    def z0_params(self, top):
        from keras_hvae.models.matnet.modules import split_gaussian

        return split_gaussian(self.z0_head(top))


class TopDownNetwork(_Network):
    """The TD (generator) network: Eq. 7 / GRU modules with Eq. 8 priors.

    Use ``start(z0)``, then for each meta module ``enter(i, h)`` (i >= 1) and
    its modules ``td_modules[k]``, then ``output(h)``.
    """

    def __init__(self, plan, out_channels, with_prior=True, **kwargs):
        super().__init__(plan, **kwargs)
        wn, k = self.weight_norm, self.kernel_size
        self.out_channels = int(out_channels)
        fc = plan.meta[0]
        self.z0_in = make_dense(fc.width, weight_norm=wn, name="td_in_fc")
        self.entries = self._make_entries("td_in")
        self.td_modules = []
        for meta in plan.meta:
            for j in range(meta.modules):
                kw = self._module_kwargs(meta.spatial)
                if meta.spatial:
                    mod = TDModule(meta.width, meta.z_dim, with_prior=with_prior, name=f"td_{meta.name}_{j}", **kw)
                else:
                    kw.pop("spatial")
                    mod = GRUTDModule(meta.width, meta.z_dim, with_prior=with_prior, name=f"td_fc_{j}", **kw)
                self.td_modules.append(mod)
        h, w, _ = plan.data_shape
        if plan.conv_meta:
            if plan.input_stride == 1:
                self.out = make_conv(self.out_channels, k, weight_norm=wn, name="td_out")
            else:
                self.out = make_conv_transpose(self.out_channels, k, strides=plan.input_stride, weight_norm=wn, name="td_out")
        else:
            self.out = make_dense(h * w * self.out_channels, weight_norm=wn, name="td_out")

    def start(self, z0):
        return self._act(self.z0_in(z0))

    def output(self, h):
        out = self.out(h)
        if not self.plan.conv_meta:
            hh, ww, _ = self.plan.data_shape
            out = ops.reshape(out, (ops.shape(out)[0], hh, ww, self.out_channels))
        return out


class MergeNetwork(_Network):
    """Merge modules (Eqs. 10, 11) and the connectors of the merge state.

    The merge state starts as the final BU state (fc), then follows the TD
    network's scales through its own dense / transposed-conv connectors.
    """

    def __init__(self, plan, **kwargs):
        super().__init__(plan, **kwargs)
        self.entries = self._make_entries("merge_in")
        self.merge_modules = []
        for meta in plan.meta:
            for j in range(meta.modules):
                self.merge_modules.append(
                    MergeModule(meta.width, meta.z_dim, name=f"merge_{meta.name}_{j}", **self._module_kwargs(meta.spatial))
                )

    def start(self, top):
        return top


def latent_names(plan):
    """Names of the latent layers in TD order: ``z0_fc, z1_fc|7x7, ...``."""
    names = ["z0_fc"]
    i = 1
    for meta in plan.meta:
        for _ in range(meta.modules):
            names.append(f"z{i}_{meta.name}")
            i += 1
    return names


def latent_groups(plan):
    """The meta-module name of each latent layer, TD order."""
    return ["fc"] + plan.module_groups()
