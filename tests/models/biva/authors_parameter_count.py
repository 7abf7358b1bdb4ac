"""Parameter count of the BIVA authors' TensorFlow 1 network, by hand.

An independent reference for `tests/models/biva/test_authors_network.py`:
it walks `larsmaaloee/BIVA` `models/biva.py` (`_inference_bu`,
`_inference_td`, `_generative_bu_td`, `_generate_output_nll`) and
`layers/_neural.py` (`gated_resnet`, `transposed_gated_resnet`, `conv2d`,
`deconv2d`, `dense`, `nin`), counting every weight-normalised layer as
V + g + b. It knows nothing of keras_hvae's classes.
"""


def _conv(k, cin, cout):
    kh, kw = (k, k) if isinstance(k, int) else k
    return kh * kw * cin * cout + 2 * cout


def _dense(cin, cout):
    return cin * cout + 2 * cout


def _gated_resnet(cin, filters, k, aux=None):
    """conv_in (k, stride 1) + conv_out (k, 2F, any stride) + the aux layer.

    `aux` is `(channels, "nin" | "resize")`: a 1x1 dense at equal size, a
    k x k (transposed) convolution when the sizes differ.
    """
    n = _conv(k, cin, filters) + _conv(k, filters, 2 * filters)
    if aux is not None:
        channels, mode = aux
        n += _dense(channels, filters) if mode == "nin" else _conv(k, channels, filters)
    return n


def authors_biva_parameters(data_shape, filters, kernels, strides, latents, layers_per_block, dense_latents,
                            num_output_params):
    """Trainable parameters of the authors' BIVA for one configuration.

    Args:
        data_shape: `(H, W, C)`.
        filters, kernels, strides: per level (ints, square).
        latents: z sizes per level (units or feature maps).
        layers_per_block: M.
        dense_latents: True for the binary-image model (dense heads).
        num_output_params: channels of the output `nin` (1 for Bernoulli,
            100 for the 10-component logistic mixture).
    """
    L, M = len(latents), layers_per_block
    res_in, res_out = [], []
    h = data_shape[0]
    for s in strides:
        res_in.append(h)
        h //= s
        res_out.append(h)

    def head(i):  # mean and var layers of _stochastic
        if dense_latents:
            return 2 * _dense(res_out[i] ** 2 * filters[i], latents[i])
        return 2 * _conv(res_out[i], filters[i], latents[i])

    total = 0
    # _inference_bu: the stochastic bottom-up path and the deterministic top-down path
    for i in range(L):
        F, k = filters[i], kernels[i]
        for j in range(M):
            if j > 0:
                cin = F
            elif i == 0:
                cin = data_shape[-1]
            else:
                cin = filters[i - 1] if dense_latents else latents[i - 1]
            aux = None if i == 0 else (filters[i - 1] * 2, "nin")
            total += _gated_resnet(cin, F, k, aux)
        for j in range(M):
            cin = data_shape[-1] if (i, j) == (0, 0) else (F if j > 0 else filters[i - 1])
            total += _gated_resnet(cin, F, k, (F, "resize" if strides[i] > 1 else "nin"))
        if i < L - 1:
            total += head(i)  # qz_bottom_up
            if dense_latents:
                total += _dense(latents[i], res_out[i] ** 2 * F)  # dense2conv_bottom_up
    total += _gated_resnet(2 * filters[-1], filters[-1], kernels[-1])  # deterministic_top
    total += head(L - 1)  # qz_top
    # the generative blocks (shared by _inference_td and _generative_bu_td)
    for lev in reversed(range(L)):
        F, k = filters[lev], kernels[lev]
        zin = latents[lev] if lev == L - 1 else 2 * latents[lev]
        if dense_latents:
            total += _dense(zin, res_out[lev] ** 2 * F)  # dense2conv
            zin = F
        for j in range(M):
            cin = zin if j == 0 else F
            aux = None
            if lev < L - 1:
                aux = (filters[lev + 1], "nin" if (j == 0 or strides[lev] == 1) else "resize")
            total += _gated_resnet(cin, F, k, aux)
        if lev > 0:
            total += _gated_resnet(filters[lev - 1], F, k, (F, "nin"))  # qz_top_down_pz_merge
            total += 3 * head(lev - 1)  # qz_top_down, pz_bottom_up, pz_top_down
    total += _dense(filters[0], num_output_params)  # the output nin
    return total
