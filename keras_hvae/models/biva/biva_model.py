"""BIVA, the Bidirectional-Inference VAE (Maaløe et al. 2019), and its
LVAE / LVAE+ ablations as configurations of one model.

Notation of the paper (Sec. 3.1, Appendix A); levels are 1..L in the paper
and 0..L-1 in the code, bottom first.

Inference, bottom-up (Eqs. 7-9). `bu_blocks[i]` is the ResNet block g_i
(M gated residual layers, the last one strided):

    d~_{1,0} = x,   d~_{i,0} = [d~_{i-1,M}, z^BU_{i-1}]    (concatenated features)
    d~_{i,M} = g_i(d~_{i,0})
    z^BU_i ~ q(z^BU_i | d~_{i,M})                            i < L
    z_L    ~ q(z_L | d~_{L,M})

so z^BU_i depends on x and z^BU_{<i}; only z^BU_1 has a marginally
factorising posterior.

Generative model (Eqs. 4-6), top-down. `p_blocks[i]` is the ResNet block
f_i that maps z_{i+1} (the concatenation of its BU and TD halves) to the
deterministic features d_i of the level below; its layers mirror g_{i+1}
(transposed convolutions where g_{i+1} downsampled, the stride in the first
layer). With the deterministic top-down path, layer j of f_i also receives
layer j of f_{i+1} (`d_{i,j} = f_{i,j}([d_{i,j-1}, d_{i+1,j}])`, through
the gated blocks' auxiliary input), so d_i summarises all of z_{>i}:

    z_L ~ N(0, I)
    d_i = f_i(z_{i+1}, d_{i+1})
    z^BU_i ~ p(z^BU_i | d_{i,M}),  z^TD_i ~ p(z^TD_i | d_{i,M})    (independent given z_{>i})
    p(x | z) from f_0(z_1, d_1) and a 1x1 output convolution.

Inference, top-down (Eq. 10): the same layers f_i, called on posterior
samples (all their parameters are shared with the generative model), give
d_{i,M}, and

    z^TD_i ~ q(z^TD_i | [d~_{i,M}, d_{i,M}])

The KL term of level i is KL(q(z^BU_i) || p(z^BU_i | z_{>i})) +
KL(q(z^TD_i) || p(z^TD_i | z_{>i})). The top-down part (and z_L) is the
closed-form Gaussian KL given the sampled parents, which q draws first. The
bottom-up part is the one-sample estimate log q(z^BU_i) - log p(z^BU_i | z_{>i})
at the sample: z^BU_i is drawn before z_{>i}, and z_{>i} depends on it
through the bottom-up path, so the closed form at the sampled z_{>i} would
be biased. Free bits (lambda) apply to each of the two terms separately, and
to z_L, as in the authors' code (`objective_terms`' ``free_bits_groups``).

Where this lives: `bottom_up` is Eqs. 7-9. Both top-down passes run the
same per-level step, `_top_down_step` (prior parameters of level i from
d_{i+1,M}, a draw of z_i, then f_i), over levels L..1 (`_top_down_pass`)
and differ only in how level i is drawn: `prior_pass` (ancestral sampling,
Eqs. 4-6) uses `_prior_level` everywhere; `posterior_pass` (Eq. 10) uses
`_posterior_level` (z from q, with the KL terms above) and, for
`prior_layers=k`, `_prior_level` for levels 1..k (the bound L^{>k} of
Eq. 3, `conditional_sample`). The Gaussian pieces (parameterisation,
sampling with temperature, masked KLs and log-densities) are
`keras_hvae.models.gaussian`. A tensor k (the SavedModel's `anomaly_score`
endpoint) is `AnomalyScoreMixin.anomaly_pass` in `biva_anomaly.py`.

Ablations (Sec. 4.1): `bottom_up_latents=False` drops z^BU (the bottom-up
path is deterministic, z_i = z^TD_i); `deterministic_top_down=False` drops
the skip connections d_{i+1} -> f_i, so p(z_i | z_{i+1}) and p(x | z_1):

    BIVA  = bottom_up_latents=True,  deterministic_top_down=True
    LVAE+ = bottom_up_latents=False, deterministic_top_down=True
    LVAE  = bottom_up_latents=False, deterministic_top_down=False

Other data (the text BIVA+LSTM of Appendix D, `keras_hvae.models.text`)
reuse this code path through per-axis kernels and strides (`(1, k)` pairs
over a `(1, T)` layout) and four hooks a subclass may override:
`hierarchy_input_shape` (the grid the first block sees), `embed_inputs`
(inputs -> feature map, plus optional padding masks), `make_output_head`
and `observation_log_prob` (decoder output -> log p(x | z)). With masks
(one `(B, H, W, 1)` 0/1 map per resolution, `masks[0]` at the input and
`masks[i + 1]` at the output of level i) every block zeroes the masked
positions before its convolutions and the KL terms and log-ratios of
position-wise (conv) latents are summed over unmasked positions only, so
padding never changes the bound of the unpadded part.
"""


import keras
import numpy as np
from keras import ops

from keras_hvae.layers import BIVAResidualBlock, GatedResidualBlock, WeightNormConv2D
from keras_hvae.models.biva import biva_architectures as archs
from keras_hvae.models.biva.biva_anomaly import AnomalyScoreMixin
from keras_hvae.models.biva.biva_layers import (
    gaussian_params,
    latent_to_map,
    make_gaussian_head,
    projection_layer,
    repeat_rows,
    with_labels,
)
from keras_hvae.models.gaussian import kl_and_log_ratio, reparameterized_sample, standard_normal_sample
from keras_hvae.models.hvae import HierarchicalVAE
from keras_hvae.utils.arguments import as_pair, int_or_pair


@keras.saving.register_keras_serializable(package="keras_hvae")
class BIVA(AnomalyScoreMixin, HierarchicalVAE):
    """The Bidirectional-Inference Variational Autoencoder.

    The defaults are the paper's binary-image model (`binary_28x28`); use
    `BIVA.from_architecture(name, **overrides)` for the named paper
    configurations and for smaller widths.

    Args:
        data_shape: `(H, W, C)` of one image.
        filters: kernels of each level's ResNet block (int or one per level).
        kernel_sizes: kernel size of each level's block (int or list; an
            entry may be a `(kh, kw)` pair).
        strides: stride of each level's block (int or list; an entry may be
            a `(sh, sw)` pair); the product must divide H and W.
        latent_sizes: units (dense latents) or feature maps (conv latents)
            of z_1..z_L, bottom first; L = `len(latent_sizes)`. With
            bottom-up latents both halves z^BU_i and z^TD_i have this size.
        layers_per_block: M, gated residual layers per ResNet block.
        latent_type: "dense" (binary images) or "conv" (natural images).
        latent_kernel_size: kernel size of the convolutional latent heads
            (int or `(kh, kw)`), or "resolution": the size of the level's
            feature map (16, 8, 4 in the 32x32 model, as in the authors'
            code and Appendix C).
        bottom_up_latents: use the stochastic bottom-up path (BIVA).
        deterministic_top_down: use the deterministic top-down path.
        q_dropout: dropout in the deterministic layers of the inference
            (bottom-up) model.
        p_dropout: dropout in the deterministic layers of the generative
            model (and so of the top-down inference path).
        activation: activation of the gated residual blocks.
        min_scale: lower bound on every latent standard deviation.
        likelihood: "bernoulli", "discretized_logistic_mixture" (10
            components by default), a config dict or a likelihood object.
        architecture_revision: 2 (default) is the authors' network (two
            deterministic inference paths, merge blocks, `BIVAResidualBlock`
            layers initialised at scale 0.01); 1 is this package's first
            design (one inference path of PixelCNN++ blocks), kept so that
            models saved with it load (configs without the key are 1).
        **kwargs: core options (`free_bits`, `kl_warmup_steps`, `beta`,
            `clip_norm`, `seed`, `name`).

    Example:
    >>> model = BIVA.from_architecture("binary_28x28", filters=8, latent_sizes=[4, 4, 2])
    >>> model.elbo(np.zeros((2, 28, 28, 1), "float32")).shape
    (2,)
    """

    architectures = archs.ARCHITECTURES
    variants = archs.VARIANTS

    def __init__(
        self,
        data_shape=(28, 28, 1),
        filters=64,
        kernel_sizes=(5, 3, 3, 3, 3, 3),
        strides=(2, 1, 1, 1, 1, 2),
        latent_sizes=(48, 40, 32, 24, 16, 8),
        layers_per_block=3,
        latent_type="dense",
        latent_kernel_size=3,
        bottom_up_latents=True,
        deterministic_top_down=True,
        q_dropout=0.5,
        p_dropout=0.5,
        activation="elu",
        min_scale=1e-3,
        likelihood="bernoulli",
        architecture_revision=2,
        **kwargs,
    ):
        kwargs.pop("latent_layer_names", None)
        self.latent_sizes = [int(n) for n in latent_sizes]
        L = self.num_layers = len(self.latent_sizes)
        if L < 1:
            raise ValueError("BIVA needs at least one latent layer (latent_sizes is empty).")
        data_shape = tuple(int(d) for d in data_shape)
        grid = self.hierarchy_input_shape(data_shape)
        super().__init__(
            data_shape=data_shape,
            latent_layer_names=[str(i + 1) for i in range(L)],
            likelihood=likelihood,
            **kwargs,
        )
        self.filters = archs.broadcast_levels(filters, L, "filters")
        self.kernel_sizes = archs.broadcast_levels(kernel_sizes, L, "kernel_sizes")
        self.strides = archs.broadcast_levels(strides, L, "strides")
        self.layers_per_block = int(layers_per_block)
        if latent_type not in ("dense", "conv"):
            raise ValueError(f"latent_type must be 'dense' or 'conv'; got {latent_type!r}.")
        self.latent_type = latent_type
        self.latent_kernel_size = (
            "resolution" if latent_kernel_size == "resolution"
            else int_or_pair(latent_kernel_size, "latent_kernel_size")
        )
        self.architecture_revision = int(architecture_revision)
        if self.architecture_revision not in (1, 2):
            raise ValueError(f"architecture_revision must be 1 or 2; got {architecture_revision!r}.")
        self.bottom_up_latents = bool(bottom_up_latents)
        self.deterministic_top_down = bool(deterministic_top_down)
        self.q_dropout = float(q_dropout)
        self.p_dropout = float(p_dropout)
        self.activation = activation
        self.min_scale = float(min_scale)
        if self.likelihood is None:
            raise ValueError("BIVA needs a likelihood ('bernoulli' or 'discretized_logistic_mixture').")
        self.num_classes = getattr(self, "num_classes", 0)

        # Spatial size at the input and output of every level.
        h, w = grid
        self.resolutions = []
        for i, s in enumerate(self.strides):
            sh, sw = as_pair(s)
            if h % sh or w % sw:
                raise ValueError(
                    f"level {i + 1} has stride {s}, which does not divide its input size {(h, w)}; "
                    f"the strides {self.strides} must divide {tuple(grid)} (from data_shape {data_shape})."
                )
            self.resolutions.append(((h, w), (h // sh, w // sw)))
            h, w = h // sh, w // sw

        base_seed = None if self.seed is None else int(self.seed) * 7919
        self._block_seed = lambda k: None if base_seed is None else base_seed + k  # noqa: E731
        if self.architecture_revision == 1:
            self._build_revision_1_networks()
        else:
            self._build_authors_networks()
        # --- stochastic heads
        self.q_top_head = self._make_head(L - 1, f"q_z{L}")
        self.q_td_heads = [self._make_head(i, f"q_td_z{i + 1}") for i in range(L - 1)]
        self.p_td_heads = [self._make_head(i, f"p_td_z{i + 1}") for i in range(L - 1)]
        if self.bottom_up_latents:
            self.q_bu_heads = [self._make_head(i, f"q_bu_z{i + 1}") for i in range(L - 1)]
            self.p_bu_heads = [self._make_head(i, f"p_bu_z{i + 1}") for i in range(L - 1)]
        else:
            self.q_bu_heads, self.p_bu_heads = [], []
        # --- dense latents are projected back to feature maps
        self.bu_projections, self.p_projections = [], []
        if latent_type == "dense":
            scale = self._init_scale
            for i in range(L):
                spatial = self.resolutions[i][1]
                self.p_projections.append(projection_layer(spatial, self.filters[i], f"p_proj_z{i + 1}", scale))
                if self.bottom_up_latents and i < L - 1:
                    self.bu_projections.append(
                        projection_layer(spatial, self.filters[i], f"bu_proj_z{i + 1}", scale)
                    )
        self.output_head = self.make_output_head()

    # ---------------------------------------------------------------- hooks
    def hierarchy_input_shape(self, data_shape):
        """`(H, W)` of the feature map the first block reads (called before
        the base constructor). Images: `data_shape` must be `(H, W, C)`."""
        if len(data_shape) != 3:
            raise ValueError(f"data_shape must be (H, W, C); got {data_shape}.")
        return data_shape[:2]

    def embed_inputs(self, x, training=False):
        """`(features, masks)`: the feature map the bottom-up path starts
        from and the padding masks per resolution (None: nothing masked)."""
        return x, None

    def make_output_head(self):
        """The layer mapping the last generative features to `params`."""
        return WeightNormConv2D(self.likelihood.num_params(int(self.data_shape[-1])), 1,
                                init_scale=self._init_scale or 1.0, name="output_head")

    def observation_log_prob(self, params, x, training=False, seed=None):
        """log p(x | z) per example, (B,), from the decoder output `params`."""
        return self.likelihood.log_prob(params, x)

    @staticmethod
    def _mask(masks, k):
        return None if masks is None else masks[k]

    # ------------------------------------------------------------- networks
    @property
    def _init_scale(self):
        """Data-dependent init scale of heads and projections (the authors': 0.01)."""
        return 0.01 if self.architecture_revision == 2 else None

    @property
    def _two_inference_paths(self):
        """The authors' second, uninterrupted deterministic inference path
        exists only where z^BU interrupts the first one (BIVA, not LVAE)."""
        return self.architecture_revision == 2 and self.bottom_up_latents

    def _latent_kernel(self, i):
        if self.latent_kernel_size == "resolution":
            return tuple(self.resolutions[i][1])
        return self.latent_kernel_size

    def _make_head(self, i, name):
        return make_gaussian_head(self.latent_sizes[i], self.latent_type, self._latent_kernel(i), name,
                                  init_scale=self._init_scale)

    def _build_revision_1_networks(self):
        """Revision 1: one bottom-up path g_i of PixelCNN++ blocks whose
        input is [d~_{i-1,M}, z^BU_{i-1}]; q(z^TD_i) reads [d~_{i,M}, d_{i,M}]."""
        L, M = self.num_layers, self.layers_per_block
        seed = self._block_seed
        self.bu_blocks = [
            GatedResidualBlock(
                self.filters[i], kernel_size=self.kernel_sizes[i], stride=self.strides[i] if j == M - 1 else 1,
                dropout=self.q_dropout, activation=self.activation, seed=seed(i * M + j),
                name=f"bu_block_{i + 1}_{j + 1}",
            )
            for i in range(L) for j in range(M)
        ]
        self.p_blocks = [
            GatedResidualBlock(
                self.filters[max(i - 1, 0)], kernel_size=self.kernel_sizes[i],
                stride=self.strides[i] if j == 0 else 1,
                transpose=j == 0 and as_pair(self.strides[i]) != (1, 1),
                dropout=self.p_dropout, activation=self.activation, seed=seed(10_000 + i * M + j),
                name=f"p_block_{i}_{j + 1}",
            )
            for i in range(L) for j in range(M)
        ]
        self.td_inference_blocks, self.q_merge_blocks, self.top_merge_block = [], [], None

    def _authors_block(self, i, j, stride, dropout, seed, name, transpose=False, residual=True):
        return BIVAResidualBlock(
            self.filters[i], kernel_size=self.kernel_sizes[i], stride=stride, transpose=transpose,
            dropout=dropout, activation=self.activation, residual=residual, seed=self._block_seed(seed), name=name,
        )

    def _build_authors_networks(self):
        """Revision 2, the authors' network (`larsmaaloee/BIVA`, `models/biva.py`).

        Per level i, M layers each of: the stochastic bottom-up path
        (`bu_blocks`, input z^BU_{i-1}, auxiliary input both paths' outputs
        of level i-1) and, for BIVA, the uninterrupted deterministic path
        (`td_inference_blocks`, auxiliary input the bottom-up output of
        level i); a merge layer of both paths' top outputs for q(z_L)
        (`top_merge_block`) and, per level below the top, a merge layer of
        the inference features with the generative features d_i for
        q(z^TD_i) (`q_merge_blocks`). The generative layers f_i put the
        stride (transposed) in their first layer. The first layer of the
        network and of every f_i has no shortcut, as in the authors' code.
        """
        L, M = self.num_layers, self.layers_per_block
        last = lambda i, j: self.strides[i] if j == M - 1 else 1  # noqa: E731
        self.bu_blocks = [
            self._authors_block(i, j, last(i, j), self.q_dropout, i * M + j, f"bu_block_{i + 1}_{j + 1}",
                                residual=(i, j) != (0, 0))
            for i in range(L) for j in range(M)
        ]
        self.td_inference_blocks = [
            self._authors_block(i, j, last(i, j), self.q_dropout, 20_000 + i * M + j,
                                f"td_inference_block_{i + 1}_{j + 1}", residual=(i, j) != (0, 0))
            for i in range(L) for j in range(M)
        ] if self._two_inference_paths else []
        self.top_merge_block = (
            self._authors_block(L - 1, 0, 1, self.q_dropout, 30_000, "top_merge_block")
            if self._two_inference_paths else None
        )
        # the merge for q(z^TD_i) takes the filters and kernel of level i + 1,
        # whose generative layers f_{i+1} produce d_i (`dims[::-1][-1]` there)
        self.q_merge_blocks = [
            self._authors_block(i + 1, 0, 1, self.p_dropout, 40_000 + i, f"q_merge_block_{i + 1}")
            for i in range(L - 1)
        ]
        self.p_blocks = [
            self._authors_block(i, j, self.strides[i] if j == 0 else 1, self.p_dropout, 10_000 + i * M + j,
                                f"p_block_{i}_{j + 1}", transpose=j == 0, residual=j != 0)
            for i in range(L) for j in range(M)
        ]

    # ------------------------------------------------------------ structure
    @classmethod
    def from_architecture(cls, name, variant=None, **overrides):
        """Builds a named paper configuration, with overrides.

        Args:
            name: a key of `BIVA.architectures` ("binary_28x28",
                "natural_32x32", "natural_64x64").
            variant: "biva", "lvae" or "lvae+" (default: the class's own,
                "biva" for `BIVA`, "lvae" for `LVAE`).
            **overrides: any constructor argument. `num_layers` re-samples
                the architecture to another depth
                (`biva_architectures.resample_levels`); `filters` or
                `latent_sizes` given as an int apply to every level.

        Example:
        >>> lvae_plus = BIVA.from_architecture("natural_32x32", variant="lvae+", num_layers=29)
        """
        spec = archs.get_architecture(name)
        num_layers = overrides.pop("num_layers", None)
        if "latent_sizes" in overrides and not isinstance(overrides["latent_sizes"], int):
            if num_layers is None:
                num_layers = len(overrides["latent_sizes"])
        if num_layers is not None:
            spec = archs.resample_levels(spec, num_layers)
        if variant is None:
            variant = cls.default_variant
        spec.update(archs.get_variant(variant))
        if isinstance(overrides.get("latent_sizes"), (int, np.integer)):
            overrides["latent_sizes"] = [int(overrides["latent_sizes"])] * len(spec["latent_sizes"])
        spec.update(overrides)
        L = len(spec["latent_sizes"])
        for key in ("filters", "kernel_sizes", "strides"):
            spec[key] = archs.broadcast_levels(spec[key], L, key)
        return cls(**spec)

    default_variant = "biva"

    @property
    def variant(self):
        """"biva", "lvae+" or "lvae" (or "custom" for other flag settings)."""
        for name, flags in archs.VARIANTS.items():
            if flags == {
                "bottom_up_latents": self.bottom_up_latents,
                "deterministic_top_down": self.deterministic_top_down,
            }:
                return name
        return "custom"

    def _p_block(self, i, j):
        return self.p_blocks[i * self.layers_per_block + j]

    def _bu_block(self, i, j):
        return self.bu_blocks[i * self.layers_per_block + j]

    def latent_shape(self, i):
        """Shape of one example's z_i (one half for BIVA levels below L)."""
        if self.latent_type == "dense":
            return (self.latent_sizes[i],)
        h, w = self.resolutions[i][1]
        return (h, w, self.latent_sizes[i])

    def _head(self, layer, features):
        return gaussian_params(layer, features, self.latent_type, self.min_scale)

    def _draw(self, loc, scale, gen, use_mean, temperature=1.0):
        if use_mean:
            return loc
        return reparameterized_sample(loc, scale, gen, temperature)

    def bottom_up(self, x, training=False, seed=None, use_mean=False, repeats=1):
        """The bottom-up inference pass (Eqs. 7-9).

        Returns:
            dict with `features` (d~_{i,M} per level), `q_bu`
            (`(loc, scale)` of q(z^BU_i), levels below L), `z_bu` (their
            samples) and `q_top` (`(loc, scale)` of q(z_L)).

        With `repeats` > 1 every example is repeated that many times (as
        `ops.repeat(x, repeats, axis=0)` would) after the first level's
        deterministic blocks, which depend on x alone and so run once per
        example (the importance-weighted bound's samples share them).
        """
        gen = self._seed(seed)
        L, M = self.num_layers, self.layers_per_block
        h, masks = self.embed_inputs(x, training=training)
        authors = self.architecture_revision == 2
        h_td, aux = h, None
        features, q_features, q_bu, z_bu = [], [], [], []
        for i in range(L):
            mask_in = self._mask(masks, i)
            for j in range(M):
                out_mask = self._mask(masks, i + 1 if j == M - 1 else i)
                h = self._bu_block(i, j)(h, aux=aux, training=training, input_mask=mask_in, output_mask=out_mask)
            features.append(h)
            if self._two_inference_paths:
                for j in range(M):
                    out_mask = self._mask(masks, i + 1 if j == M - 1 else i)
                    h_td = self.td_inference_blocks[i * M + j](
                        h_td, aux=h, training=training, input_mask=mask_in, output_mask=out_mask
                    )
                q_features.append(h_td)
                aux = ops.concatenate([h, h_td], axis=-1)
            else:
                q_features.append(h)
                aux = h if authors else None
            if i == 0 and repeats > 1:
                h, h_td, aux, features, q_features, masks = repeat_rows(
                    (h, h_td, aux, features, q_features, masks), repeats)
            if i < L - 1 and self.bottom_up_latents:
                loc, scale = self._head(self.q_bu_heads[i], h)
                z = self._draw(loc, scale, gen, use_mean)
                q_bu.append((loc, scale))
                z_bu.append(z)
                proj = self.bu_projections[i] if self.latent_type == "dense" else None
                zmap = ops.cast(latent_to_map(proj, z, self.resolutions[i][1], self.filters[i], self.latent_type),
                                h.dtype)
                # revision 2: the next level reads z^BU_i alone (the features
                # arrive through `aux`); revision 1: [d~_{i,M}, z^BU_i]
                h = zmap if authors else ops.concatenate([h, zmap], axis=-1)
        top = features[-1]
        if self._two_inference_paths:
            top_mask = self._mask(masks, L)
            top = self.top_merge_block(
                ops.concatenate([q_features[-1], features[-1]], axis=-1),
                training=training, input_mask=top_mask, output_mask=top_mask,
            )
        q_top = self._head(self.q_top_head, top)
        return {"features": features, "q_features": q_features, "q_bu": q_bu, "z_bu": z_bu, "q_top": q_top,
                "masks": masks, "training": training}

    @staticmethod
    def repeat_state(state, times):
        """The output of `bottom_up` with every example repeated `times`
        times (rows `b * times ... (b + 1) * times - 1` are example b)."""
        tensors = {k: v for k, v in state.items() if k != "training"}
        return dict(repeat_rows(tensors, times), training=state.get("training", False))

    def _generative_block(self, i, z, skips, y, training, masks=None):
        """f_i: z_{i+1} (and d_{i+1}) -> d_i, returning every layer's output."""
        if self.latent_type == "dense":
            z = with_labels(z, y)
            proj = self.p_projections[i]
            h = latent_to_map(proj, z, self.resolutions[i][1], self.filters[i], "dense")
        else:
            h = with_labels(z, y)
        hidden = []
        for j in range(self.layers_per_block):
            aux = skips[j] if skips is not None else None
            h = self._p_block(i, j)(
                h,
                aux=aux,
                training=training,
                input_mask=self._mask(masks, i + 1 if j == 0 else i),
                output_mask=self._mask(masks, i),
            )
            hidden.append(h)
        return h, hidden

    # ------------------------------------------------------------ top-down
    def _prior_level(self, i, p_td, p_bu, batch_size, gen, temperature=1.0, use_mean=False):
        """Level i drawn from the generative model: z_L ~ N(0, I) at the top,
        else z^TD_i, z^BU_i ~ p(. | d_{i+1,M}) (Eqs. 4-6); no KL terms."""
        if i == self.num_layers - 1:
            shape = (batch_size,) + self.latent_shape(i)
            if use_mean:
                z_td = ops.zeros(shape, "float32")
            else:
                z_td = standard_normal_sample(shape, gen, temperature)
            z_bu = None
        else:
            z_td = self._draw(*p_td, gen, use_mean, temperature)
            z_bu = self._draw(*p_bu, gen, use_mean, temperature) if p_bu is not None else None
        zero = ops.zeros((ops.shape(z_td)[0],), "float32")
        return {"z_td": z_td, "z_bu": z_bu, "kl_td": zero, "kl_bu": zero, "log_ratio": None}

    def _posterior_level(self, i, d, p_td, p_bu, state, gen, use_mean=False):
        """Level i drawn from q (Eqs. 9-10) with its KL terms and log-ratio.

        z_L ~ q(z_L | d~_{L,M}) against N(0, I); below the top z^TD_i ~
        q(z^TD_i | [d~_{i,M}, d_{i,M}]) with the closed-form KL given z_{>i},
        and the bottom-up sample z^BU_i (drawn by `bottom_up`) with the
        one-sample estimate log q - log p (see the module docstring).
        """
        masks = state.get("masks")
        if i == self.num_layers - 1:
            q_loc, q_scale = state["q_top"]
            z_td = self._draw(q_loc, q_scale, gen, use_mean)
            kl_td, log_ratio = kl_and_log_ratio(
                z_td, q_loc, q_scale, ops.zeros_like(q_loc), ops.ones_like(q_loc), mask=self._mask(masks, i + 1)
            )
            return {"z_td": z_td, "z_bu": None, "kl_td": kl_td, "kl_bu": ops.zeros_like(kl_td), "log_ratio": log_ratio}
        q_td = self._head(self.q_td_heads[i], self._q_td_features(i, d, state))
        z_td = self._draw(*q_td, gen, use_mean)
        level_mask = self._mask(masks, i + 1)
        kl_td, log_ratio = kl_and_log_ratio(z_td, *q_td, *p_td, mask=level_mask)
        if self.bottom_up_latents:
            z_bu = state["z_bu"][i]
            _, lr_bu = kl_and_log_ratio(z_bu, *state["q_bu"][i], *p_bu, mask=level_mask)
            # z^BU_i was drawn before z_{>i}, and z_{>i} depends on it
            # (through the bottom-up path), so the closed-form
            # KL(q(z^BU_i) || p(z^BU_i | z_{>i})) at the sampled z_{>i}
            # is biased; the single-sample log q - log p is not.
            kl_bu = -lr_bu
            log_ratio = log_ratio + lr_bu
        else:
            z_bu, kl_bu = None, ops.zeros_like(kl_td)
        return {"z_td": z_td, "z_bu": z_bu, "kl_td": kl_td, "kl_bu": kl_bu, "log_ratio": log_ratio}

    def _q_td_features(self, i, d, state):
        """The features q(z^TD_i | .) reads: revision 2 merges the inference
        features of level i with d_i in a gated layer (the authors'
        `qz_top_down_pz_merge`), revision 1 concatenates [d~_{i,M}, d_{i,M}]."""
        inferred = state["q_features"][i]
        d = ops.cast(d, inferred.dtype)
        if self.architecture_revision == 1:
            return ops.concatenate([inferred, d], axis=-1)
        mask = self._mask(state.get("masks"), i + 1)
        return self.q_merge_blocks[i](inferred, aux=d, training=state.get("training", False), input_mask=mask,
                                      output_mask=mask)

    def _top_down_step(self, i, d, skips, draw, y, training, masks):
        """One level of the top-down pass, shared by every mode.

        The prior parameters of level i come from d_{i+1,M} (none at the
        top, where p(z_L) = N(0, I)); `draw(i, d, p_td, p_bu)` returns the
        level's latents and terms (`_prior_level`, `_posterior_level`, or a
        choice of the two); then f_i maps z_i = [z^BU_i, z^TD_i] (and, with
        the deterministic top-down path, the layers of f_{i+1}) to d_i.

        Returns:
            `(level, d_i, skips_i)` with `level` the dict of `draw` plus `z`.
        """
        if i == self.num_layers - 1:
            p_td = p_bu = None
        else:
            p_td = self._head(self.p_td_heads[i], d)
            p_bu = self._head(self.p_bu_heads[i], d) if self.bottom_up_latents else None
        level = draw(i, d, p_td, p_bu)
        if level["z_bu"] is not None:
            level["z"] = ops.concatenate([level["z_bu"], level["z_td"]], axis=-1)
        else:
            level["z"] = level["z_td"]
        d, skips = self._generative_block(
            i, level["z"], skips if self.deterministic_top_down else None, y, training, masks
        )
        return level, d, skips

    def _top_down_pass(self, draw, y=None, training=False, masks=None):
        """Runs `_top_down_step` from level L down to 1 and the output head.

        Returns:
            dict with `params` (decoder output), `kl` (list, bottom first),
            `kl_bottom_up`, `kl_top_down` (lists), `kl_variables` (the KL
            of each latent variable, bottom first: z^BU_i then z^TD_i per
            level below the top, z_L once; with `bottom_up_latents=False`
            the same as `kl`), `log_ratio` (B,) and `codes` (z_i per level,
            bottom first).
        """
        L = self.num_layers
        kl_bu, kl_td, codes = [None] * L, [None] * L, [None] * L
        log_ratio = None
        d = skips = None
        for i in reversed(range(L)):
            level, d, skips = self._top_down_step(i, d, skips, draw, y, training, masks)
            kl_bu[i], kl_td[i], codes[i] = level["kl_bu"], level["kl_td"], level["z"]
            if level["log_ratio"] is not None:
                log_ratio = level["log_ratio"] if log_ratio is None else log_ratio + level["log_ratio"]
        params = ops.cast(self.output_head(ops.elu(d)), "float32")
        if log_ratio is None:
            log_ratio = kl_td[L - 1]  # zeros: no level was drawn from q
        kl_variables = []
        for i in range(L):
            if self.bottom_up_latents and i < L - 1:
                kl_variables.append(kl_bu[i])
            kl_variables.append(kl_td[i])
        return {
            "params": params,
            "kl": [a + b for a, b in zip(kl_bu, kl_td)],
            "kl_bottom_up": kl_bu,
            "kl_top_down": kl_td,
            "kl_variables": kl_variables,
            "log_ratio": log_ratio,
            "codes": codes,
        }

    def prior_pass(self, batch_size, temperature=1.0, seed=None, training=False, y=None, use_mean=False):
        """Ancestral sampling from the generative model (Eqs. 4-6).

        Args:
            batch_size: number of samples.
            temperature: scales the standard deviation of every draw.
            seed: random stream.
            training: dropout on/off.
            y: optional one-hot labels (the semi-supervised model).
            use_mean: prior means instead of samples.

        Returns:
            the dict of `_top_down_pass` (all KL terms and `log_ratio` zero).
        """
        gen = self._seed(seed)

        def draw(i, d, p_td, p_bu):
            return self._prior_level(i, p_td, p_bu, batch_size, gen, temperature, use_mean)

        return self._top_down_pass(draw, y=y, training=training)

    def posterior_pass(self, state, prior_layers=0, temperature=1.0, seed=None, training=False, y=None, use_mean=False):
        """Top-down inference (Eq. 10) on the output of `bottom_up`.

        Args:
            state: the output of `bottom_up`.
            prior_layers: k, a Python int; levels 1..k are drawn from the
                conditional prior p(z_{<=k} | z_{>k}) at `temperature` and
                contribute no KL (Eq. 3). (A tensor k, for the SavedModel's
                `anomaly_score`, is `AnomalyScoreMixin.anomaly_pass`.)
            temperature: scales the standard deviation of the prior draws.
            seed: random stream.
            training: dropout on/off.
            y: optional one-hot labels (the semi-supervised model).
            use_mean: use means instead of samples (for `encode`).

        Returns:
            the dict of `_top_down_pass`.
        """
        gen = self._seed(seed)
        k = int(prior_layers)
        batch_size = ops.shape(state["features"][-1])[0]

        def draw(i, d, p_td, p_bu):
            if i < k:
                return self._prior_level(i, p_td, p_bu, batch_size, gen, temperature, use_mean)
            return self._posterior_level(i, d, p_td, p_bu, state, gen, use_mean)

        return self._top_down_pass(draw, y=y, training=training, masks=state.get("masks"))

    def top_down(self, state, batch_size=None, prior_layers=0, temperature=1.0, seed=None, training=False, y=None,
                 use_mean=False):
        """`posterior_pass(state, ...)`, or `prior_pass(batch_size, ...)` when `state` is None."""
        if state is None:
            return self.prior_pass(batch_size, temperature=temperature, seed=seed, training=training, y=y,
                                   use_mean=use_mean)
        return self.posterior_pass(state, prior_layers=prior_layers, temperature=temperature, seed=seed,
                                   training=training, y=y, use_mean=use_mean)

    def _default_labels(self, x):
        """The class input of the generative model when none is given
        (None here; the semi-supervised model uses q(y|x)'s argmax)."""
        return None

    def _forward(self, x, training=False, seed=None, prior_layers=0, y=None, use_mean=False, repeats=1):
        gen = self._seed(seed)
        state = self.bottom_up(x, training=training, seed=gen, use_mean=use_mean, repeats=repeats)
        if repeats > 1:
            x = ops.repeat(x, repeats, axis=0)
        if y is None:
            y = self._default_labels(x)
        out = self.top_down(
            state, prior_layers=prior_layers, seed=gen, training=training, y=y, use_mean=use_mean
        )
        out["log_px"] = self.observation_log_prob(out["params"], x, training=training, seed=gen)
        return out

    # ------------------------------------------------------------- core API
    def forward_terms(self, x, training=False, seed=None):
        return self._forward(x, training=training, seed=seed)

    def repeated_forward_terms(self, x, num_samples, seed=None):
        """As the core's, with the first level's deterministic blocks run
        once per example (`bottom_up(..., repeats=num_samples)`). A subclass
        that overrides `forward_terms` must override this too (or restore
        `HierarchicalVAE.repeated_forward_terms`)."""
        return self._forward(x, seed=seed, repeats=int(num_samples))

    def objective_terms(self, data, training=False):
        """The core's terms plus ``"free_bits_groups"``: free bits apply to
        z^BU_i and z^TD_i separately (`kl_variables`, as the authors' code
        does), not to their per-level sum; ``kl`` and the logs stay per
        level. (Subclasses that override this without calling it, the
        semi-supervised and text models, keep free bits per level.)"""
        terms = dict(super().objective_terms(data, training=training))
        terms["free_bits_groups"] = terms["kl_variables"]
        return terms

    def generate_params(self, num_samples, temperature=1.0, seed=None):
        return self.top_down(None, batch_size=num_samples, temperature=temperature, seed=self._seed(seed))["params"]

    def posterior_means(self, x):
        """Posterior means of z_1..z_L (bottom first), a list of tensors.

        For BIVA levels below L the code is `[z^BU_i, z^TD_i]` concatenated
        on the last axis; means (not samples) are propagated through both
        paths. `encode(x)` returns them as numpy arrays.
        """
        return list(self._forward(x, use_mean=True)["codes"])

    def kl_per_layer(self, x, seed=None, split=False):
        """Per-example KL of each level, `(batch, L)`, bottom first.

        With `split=True` returns `{"bottom_up": (batch, L), "top_down":
        (batch, L)}`: the KL of z^BU_i and of z^TD_i (z_L is counted as
        top-down; the bottom-up column of level L, and all of it for the
        LVAE variants, is zero).
        """
        if not split:
            return super().kl_per_layer(x, seed=seed)
        x = self._eager_inputs(x)
        gen = self._call_stream(seed)

        def fn(x):
            t = self._forward(x, seed=gen)
            return ops.stack(t["kl_bottom_up"], axis=1), ops.stack(t["kl_top_down"], axis=1)

        bu, td = self._run("kl_per_layer_split", fn, x)
        return {"bottom_up": ops.convert_to_numpy(bu), "top_down": ops.convert_to_numpy(td)}

    def conditional_sample(self, x, num_top_layers, num_samples=1, temperature=1.0, seed=None, *, mean=False):
        """Samples that keep the top `num_top_layers` levels inferred from x.

        z_{>L-k} are drawn from q(. | x) (k = `num_top_layers`) and the
        levels below from the conditional prior p(z_{<=L-k} | z_{>L-k}) at
        `temperature`; k = 0 is unconditional sampling and k = L gives
        reconstructions.

        Returns:
            numpy array `(batch * num_samples,) + data_shape`; the samples
            of example b are rows `b * num_samples ... (b + 1) * num_samples - 1`.
        """
        k = int(num_top_layers)
        if not 0 <= k <= self.num_layers:
            raise ValueError(f"num_top_layers must be in [0, {self.num_layers}]; got {num_top_layers}.")
        x = self._eager_inputs(x)
        gen = self._call_stream(seed)

        def fn(x):
            xr = ops.repeat(x, num_samples, axis=0)
            state = self.bottom_up(xr, seed=gen)
            out = self.top_down(
                state,
                prior_layers=self.num_layers - k,
                temperature=temperature,
                seed=gen,
                y=self._default_labels(xr),
            )
            if mean:
                return self.likelihood.mean(out["params"])
            return self.likelihood.sample(out["params"], seed=gen)

        return ops.convert_to_numpy(self._run(f"conditional_{k}_{num_samples}_{temperature}_{mean}", fn, x))

    # --------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "data_shape": list(self.data_shape),
                "filters": list(self.filters),
                "kernel_sizes": list(self.kernel_sizes),
                "strides": list(self.strides),
                "latent_sizes": list(self.latent_sizes),
                "layers_per_block": self.layers_per_block,
                "latent_type": self.latent_type,
                "latent_kernel_size": self.latent_kernel_size,
                "bottom_up_latents": self.bottom_up_latents,
                "deterministic_top_down": self.deterministic_top_down,
                "q_dropout": self.q_dropout,
                "p_dropout": self.p_dropout,
                "activation": self.activation,
                "min_scale": self.min_scale,
                "architecture_revision": self.architecture_revision,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.setdefault("architecture_revision", 1)  # saved before revision 2 existed
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="keras_hvae")
class LVAE(BIVA):
    """The Ladder VAE ablation of BIVA (Sec. 4.1): the same model without
    bottom-up latents and, by default, without the deterministic top-down
    path. Pass `deterministic_top_down=True` (or `variant="lvae+"` to
    `from_architecture`) for LVAE+.

    Example:
    >>> lvae_plus = LVAE.from_architecture("natural_32x32", variant="lvae+")
    """

    default_variant = "lvae"

    def __init__(self, *args, bottom_up_latents=False, deterministic_top_down=False, **kwargs):
        super().__init__(
            *args,
            bottom_up_latents=bottom_up_latents,
            deterministic_top_down=deterministic_top_down,
            **kwargs,
        )


def table1_parameter_counts():
    """Builds the 32x32 models of the paper's Table 1 and counts parameters.

    Returns:
        list of `(name, ours, paper)`: trainable parameters of our
        `natural_32x32` builds (LVAE, LVAE+, LVAE+ with L=29, BIVA) and the
        paper's count. See docs/biva_parameter_counts.md.
    """
    rows = []
    for name, (variant, num_layers, paper) in archs.PAPER_TABLE1_PARAMETERS.items():
        model = BIVA.from_architecture("natural_32x32", variant=variant, num_layers=num_layers)
        model.build()
        ours = int(sum(np.prod(v.shape) for v in model.trainable_variables))
        rows.append((name, ours, int(paper)))
        del model
    return rows
