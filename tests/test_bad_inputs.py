"""Every public argument checked (issue 14, point 7).

The audit's classes of bad input — rank, shape, channels, dtype, range,
NaN/Inf, empty batch, `num_samples` <= 0 or not an integer, temperature
<= 0 / NaN / inf, a huge k, a seed of the wrong type, empty sentences —
over the public entry points of the image models (BIVA, MatNet,
ConditionalMatNet) and the text BIVA+LSTM. Each case gives a clear
`ValueError` / `TypeError` whose message names what was expected (asserted
below), or a correct result (a batch of 1, numpy integers, uint8 input);
none an obscure backend error or garbage (about 45 s on TensorFlow; the
cases run eagerly per shape on JAX, several minutes, so only the tests of the
uint8 mappings are in the backend suite). The argument checks live in
`keras_hvae.utils.validation` (`ARGUMENT_CHECKS`, applied by name to every
model's public methods) and `check_images`.
"""

import math

import keras
import numpy as np
import pytest

from keras_hvae.models.biva import BIVA
from keras_hvae.models.matnet import ConditionalMatNet, MatNet
from keras_hvae.models.text import BIVALSTM, Vocabulary

SENTENCES = ["the cat sat on the mat .", "a dog ran to the park .", "the dog sat ."]
NAN, INF = float("nan"), float("inf")


def _biva():
    model = BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[3, 2], layers_per_block=1, seed=0)
    model.initialize(_binary(4))
    return model


def _tiny_meta(sizes):
    return [{"size": s, "modules": 1, "channels": 4, "z_channels": 2} for s in sizes]


def _matnet(likelihood="bernoulli", data_shape=(28, 28, 1), sizes=(7,)):
    return MatNet(data_shape=data_shape, conv_meta_modules=_tiny_meta(sizes), fc_units=8, z0_dim=3,
                  weight_norm=False, likelihood=likelihood, seed=0)


def _conditional():
    return ConditionalMatNet(data_shape=(28, 28, 1), conv_meta_modules=_tiny_meta((7,)), fc_units=8, z0_dim=3,
                             weight_norm=False, seed=0)


def _text():
    vocab = Vocabulary.build(SENTENCES, max_tokens=30)
    model = BIVALSTM(vocab, max_length=10, embedding_dim=4, lstm_units=8, filters=4, kernel_sizes=3,
                     strides=[1, 2], latent_sizes=[3, 2], layers_per_block=1, seed=0)
    model.build()
    return model


BUILDERS = {
    "biva": _biva,
    "matnet": _matnet,
    "dlm": lambda: _matnet("discretized_logistic_mixture", (8, 8, 3), (4,)),
    "gaussian": lambda: _matnet("gaussian", (8, 8, 1), (4,)),
    "cmatnet": _conditional,
    "text": _text,
}


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = BUILDERS[name]()
        return cache[name]

    return get


def _binary(n, shape=(28, 28, 1), seed=0):
    return (np.random.default_rng(seed).uniform(size=(n,) + shape) < 0.3).astype("float32")


X = _binary(3)
MASK = np.ones((3, 28, 28, 1), "float32")
MASK[:, 14:] = 0.0


def _finite(shape):
    def check(out):
        out = np.asarray(out)
        assert out.shape == shape and np.all(np.isfinite(out)), (out.shape, out)
    return check


def _binary_images(shape):
    def check(out):
        assert out.shape == shape and set(np.unique(out).tolist()) <= {0.0, 1.0}
    return check


# (id, model, call, expected): expected is (exception type, regex on the
# message) or a function that checks the result.
CASES = [
    # ---- images: rank, shape, channels, dtype, range, NaN/Inf, empty, one
    ("elbo-rank3", "biva", lambda m: m.elbo(X[..., 0]), (ValueError, r"rank 4 .*\(batch, 28, 28, 1\)")),
    ("elbo-rank5", "biva", lambda m: m.elbo(X[None]), (ValueError, r"rank 4")),
    ("elbo-shape", "biva", lambda m: m.elbo(X[:, :27]), (ValueError, r"shape \(28, 28, 1\)")),
    ("elbo-channels", "biva", lambda m: m.elbo(np.concatenate([X, X], -1)), (ValueError, r"shape \(28, 28, 1\)")),
    ("elbo-strings", "biva", lambda m: m.elbo(np.full((1, 28, 28, 1), "a")), (ValueError, r"numeric .*dtype")),
    ("elbo-complex", "biva", lambda m: m.elbo(X.astype("complex64")), (ValueError, r"numeric .*dtype")),
    ("elbo-grey", "biva", lambda m: m.elbo(X * 0.5), (ValueError, r"binary data in \{0, 1\}")),
    ("elbo-x255", "biva", lambda m: m.elbo(X * 255), (ValueError, r"binary data in \{0, 1\}.*255")),
    ("elbo-negative", "biva", lambda m: m.elbo(-X), (ValueError, r"binary data in \{0, 1\}")),
    ("elbo-nan", "biva", lambda m: m.elbo(np.where(X > 0, NAN, 0.0)), (ValueError, r"finite")),
    ("elbo-inf", "biva", lambda m: m.elbo(np.where(X > 0, INF, 0.0)), (ValueError, r"finite")),
    ("elbo-empty", "biva", lambda m: m.elbo(X[:0]), (ValueError, r"empty batch")),
    ("elbo-one", "biva", lambda m: m.elbo(X[:1]), _finite((1,))),
    ("elbo-uint8", "biva", lambda m: m.elbo(X.astype("uint8")), _finite((3,))),
    ("elbo-bool", "biva", lambda m: m.elbo(X.astype(bool)), _finite((3,))),
    ("elbo-list", "biva", lambda m: m.elbo(X[:1].tolist()), _finite((1,))),
    ("elbo-seed-str", "biva", lambda m: m.elbo(X, seed="1"), (TypeError, r"seed must be None, an int")),
    ("elbo-seed-float", "biva", lambda m: m.elbo(X, seed=1.5), (TypeError, r"seed must be None, an int")),
    ("elbo-seed-numpy", "biva", lambda m: m.elbo(X, seed=np.int64(3)), _finite((3,))),
    ("encode-empty", "biva", lambda m: m.encode(X[:0]), (ValueError, r"empty batch")),
    ("encode-one", "biva", lambda m: m.encode(X[:1])[0].shape[0], lambda n: n == 1),
    ("encode-nan", "matnet", lambda m: m.encode(X * NAN), (ValueError, r"finite")),
    ("reconstruct-empty", "matnet", lambda m: m.reconstruct(X[:0]), (ValueError, r"empty batch")),
    ("reconstruct-x255", "matnet", lambda m: m.reconstruct(X * 255), (ValueError, r"binary data")),
    ("reconstruct-one", "matnet", lambda m: m.reconstruct(X[:1]), _finite((1, 28, 28, 1))),
    ("kl-empty", "biva", lambda m: m.kl_per_layer(X[:0]), (ValueError, r"empty batch")),
    ("kl-one", "biva", lambda m: m.kl_per_layer(X[:1]), _finite((1, 2))),
    ("kl-rank", "matnet", lambda m: m.kl_per_layer(X[0]), (ValueError, r"rank 4")),
    # 8-bit images: range and dtype
    ("dlm-x255-floats", "dlm", lambda m: m.elbo(np.full((2, 8, 8, 3), 255.0)), (ValueError, r"x / 127.5 - 1")),
    ("dlm-int-300", "dlm", lambda m: m.elbo(np.full((2, 8, 8, 3), 300)), (ValueError, r"integer values")),
    ("dlm-off-grid", "dlm", lambda m: m.elbo(np.full((2, 8, 8, 3), 0.001)), (ValueError, r"256-level grid")),
    ("dlm-uint8", "dlm", lambda m: m.elbo(np.full((2, 8, 8, 3), 200, "uint8")), _finite((2,))),
    ("gaussian-above-1", "gaussian", lambda m: m.elbo(np.full((1, 8, 8, 1), 2.0)), (ValueError, r"\[0, 1\]")),
    # ---- counts: num_samples, k, chunk_size
    ("iwae-k0", "biva", lambda m: m.iwae_bound(X, 0), (ValueError, r"num_samples must be an int >= 1; got 0")),
    ("iwae-k-negative", "biva", lambda m: m.iwae_bound(X, -3), (ValueError, r"num_samples must be an int >= 1")),
    ("iwae-k-float", "biva", lambda m: m.iwae_bound(X, 2.7), (TypeError, r"num_samples must be an int.*2.7")),
    ("iwae-k-str", "biva", lambda m: m.iwae_bound(X, "4"), (TypeError, r"num_samples must be an int")),
    ("iwae-k-numpy", "biva", lambda m: m.iwae_bound(X, np.int64(3)), _finite((3,))),
    ("iwae-chunk0", "biva", lambda m: m.iwae_bound(X, 4, chunk_size=0), (ValueError, r"chunk_size must be an int")),
    ("iwae-empty", "biva", lambda m: m.iwae_bound(X[:0], 4), (ValueError, r"empty batch")),
    ("iwae-one", "biva", lambda m: m.iwae_bound(X[:1], 3), _finite((1,))),
    ("iwae-nan", "biva", lambda m: m.iwae_bound(X * NAN, 3), (ValueError, r"finite")),
    ("sample-0", "biva", lambda m: m.sample(0), (ValueError, r"num_samples must be an int >= 1; got 0")),
    ("sample-negative", "biva", lambda m: m.sample(-1), (ValueError, r"num_samples must be an int >= 1")),
    ("sample-float", "matnet", lambda m: m.sample(2.5), (TypeError, r"num_samples must be an int")),
    ("sample-str", "matnet", lambda m: m.sample("4"), (TypeError, r"num_samples must be an int")),
    ("sample-one", "biva", lambda m: m.sample(1, seed=0), _binary_images((1, 28, 28, 1))),
    ("sample-mean-flag", "biva", lambda m: m.sample(2, mean="yes"), (TypeError, r"mean must be True or False")),
    ("anomaly-k-huge", "biva", lambda m: m.anomaly_score(X, 1000), (ValueError, r"k must be in \[0, 2\]")),
    ("anomaly-k-negative", "biva", lambda m: m.anomaly_score(X, -1), (ValueError, r"k must be an int >= 0")),
    ("anomaly-k-float", "biva", lambda m: m.anomaly_score(X, 1.5), (TypeError, r"k must be an int")),
    ("anomaly-k-str", "biva", lambda m: m.anomaly_score(X, "1"), (TypeError, r"k must be an int")),
    ("anomaly-samples0", "biva", lambda m: m.anomaly_score(X, 1, num_samples=0), (ValueError, r"num_samples")),
    ("anomaly-samples-float", "biva", lambda m: m.anomaly_score(X, 1, num_samples=2.5), (TypeError, r"num_samples")),
    ("anomaly-empty", "biva", lambda m: m.anomaly_score(X[:0], 1), (ValueError, r"empty batch")),
    ("anomaly-one", "biva", lambda m: m.anomaly_score(X[:1], 1, num_samples=2), _finite((1,))),
    ("biva-cond-layers-huge", "biva", lambda m: m.conditional_sample(X, 99), (ValueError, r"in \[0, 2\]")),
    ("biva-cond-samples0", "biva", lambda m: m.conditional_sample(X, 1, num_samples=0), (ValueError, r"num_samples")),
    ("biva-cond-samples-float", "biva", lambda m: m.conditional_sample(X, 1, num_samples=1.5),
     (TypeError, r"num_samples")),
    ("biva-cond-empty", "biva", lambda m: m.conditional_sample(X[:0], 1), (ValueError, r"empty batch")),
    ("matnet-cond-keep-huge", "matnet", lambda m: m.conditional_sample(X, 99), (ValueError, r"keep_layers must be")),
    ("matnet-cond-keep-float", "matnet", lambda m: m.conditional_sample(X, 0.5), (TypeError, r"keep_layers")),
    ("matnet-cond-one", "matnet", lambda m: m.conditional_sample(X[:1], 1, seed=0), _binary_images((1, 28, 28, 1))),
    # ---- temperature
    ("sample-t-nan", "biva", lambda m: m.sample(2, temperature=NAN), (ValueError, r"temperature must be a finite")),
    ("sample-t-inf", "biva", lambda m: m.sample(2, temperature=INF), (ValueError, r"temperature must be a finite")),
    ("sample-t-negative", "biva", lambda m: m.sample(2, temperature=-1.0), (ValueError, r"temperature .*>= 0")),
    # temperature 0: the prior means
    ("sample-t-zero", "matnet", lambda m: m.sample(2, temperature=0, seed=0), _binary_images((2, 28, 28, 1))),
    ("sample-t-str", "matnet", lambda m: m.sample(2, temperature="hot"), (TypeError, r"temperature")),
    ("sample-t-int", "matnet", lambda m: m.sample(2, temperature=1, seed=0), _binary_images((2, 28, 28, 1))),
    ("biva-cond-t-nan", "biva", lambda m: m.conditional_sample(X, 1, temperature=NAN), (ValueError, r"temperature")),
    ("matnet-cond-t-inf", "matnet", lambda m: m.conditional_sample(X, 1, temperature=INF),
     (ValueError, r"temperature")),
    # ---- conditional MatNet
    ("inpaint-samples0", "cmatnet", lambda m: m.inpaint(X, MASK, num_samples=0), (ValueError, r"num_samples")),
    ("inpaint-samples-float", "cmatnet", lambda m: m.inpaint(X, MASK, num_samples=1.5), (TypeError, r"num_samples")),
    ("inpaint-t-nan", "cmatnet", lambda m: m.inpaint(X, MASK, temperature=NAN), (ValueError, r"temperature")),
    ("inpaint-mask-nan", "cmatnet", lambda m: m.inpaint(X, MASK * NAN), (ValueError, r"masks must hold 0")),
    ("inpaint-mask-grey", "cmatnet", lambda m: m.inpaint(X, MASK * 0.5), (ValueError, r"masks must hold 0")),
    ("inpaint-mask-shape", "cmatnet", lambda m: m.inpaint(X, MASK[:, :10]), (ValueError, r"masks must have shape")),
    ("inpaint-mask-count", "cmatnet", lambda m: m.inpaint(X, MASK[:2]), (ValueError, r"3 examples but mask has 2")),
    ("inpaint-empty", "cmatnet", lambda m: m.inpaint(X[:0], MASK[:0]), (ValueError, r"empty batch")),
    ("inpaint-x255", "cmatnet", lambda m: m.inpaint(X * 255, MASK), (ValueError, r"binary data")),
    ("inpaint-one", "cmatnet", lambda m: m.inpaint(X[:1], MASK[:1], seed=0), _binary_images((1, 28, 28, 1))),
    ("cll-samples0", "cmatnet", lambda m: m.conditional_log_likelihood(X, MASK, num_samples=0),
     (ValueError, r"num_samples")),
    ("cll-samples-float", "cmatnet", lambda m: m.conditional_log_likelihood(X, MASK, num_samples=2.5),
     (TypeError, r"num_samples")),
    ("cll-chunk-negative", "cmatnet", lambda m: m.conditional_log_likelihood(X, MASK, num_samples=2, chunk_size=-1),
     (ValueError, r"chunk_size")),
    ("cll-empty", "cmatnet", lambda m: m.conditional_log_likelihood(X[:0], MASK[:0]), (ValueError, r"empty batch")),
    ("cll-one", "cmatnet", lambda m: m.conditional_log_likelihood(X[:1], MASK[:1], num_samples=2), _finite((1,))),
    # ---- text
    ("text-elbo-empty", "text", lambda m: m.elbo([]), (ValueError, r"empty batch \(0 sentences\)")),
    ("text-elbo-one-string", "text", lambda m: m.elbo("the cat"), (ValueError, r"list of sentences, not one string")),
    ("text-elbo-empty-sentence", "text", lambda m: m.elbo([""]), _finite((1,))),
    ("text-elbo-too-long", "text", lambda m: m.elbo(["the cat " * 10]), (ValueError, r"at most 10 words")),
    ("text-elbo-ids-range", "text", lambda m: m.elbo(np.full((2, 12), 10000)), (ValueError, r"Token ids must lie")),
    ("text-elbo-ids-negative", "text", lambda m: m.elbo(np.full((2, 12), -1)), (ValueError, r"Token ids must lie")),
    ("text-elbo-ids-nan", "text", lambda m: m.elbo(np.full((2, 12), NAN)), (ValueError, r"integer ids")),
    ("text-elbo-ids-rank", "text", lambda m: m.elbo(np.zeros((2, 12, 1), "int32")), (ValueError, r"\(batch, T\)")),
    ("text-iwae-k0", "text", lambda m: m.iwae_bound(SENTENCES, 0), (ValueError, r"num_samples")),
    ("text-generate-0", "text", lambda m: m.generate(0), (ValueError, r"num_samples must be an int >= 1")),
    ("text-generate-float", "text", lambda m: m.generate(1.5), (TypeError, r"num_samples")),
    ("text-generate-t-nan", "text", lambda m: m.generate(2, temperature=NAN), (ValueError, r"temperature .*>= 0")),
    ("text-generate-t-inf", "text", lambda m: m.generate(2, temperature=INF), (ValueError, r"temperature")),
    ("text-generate-t-negative", "text", lambda m: m.generate(2, temperature=-1), (ValueError, r"temperature")),
    ("text-generate-greedy", "text", lambda m: m.generate(2, temperature=0), lambda s: len(s) == 2),
    ("text-generate-seed-str", "text", lambda m: m.generate(2, seed="x"), (TypeError, r"seed must be")),
    ("text-generate-one", "text", lambda m: m.generate(1, seed=0), lambda s: len(s) == 1 and isinstance(s[0], str)),
    ("text-reconstruct-empty", "text", lambda m: m.reconstruct([]), (ValueError, r"empty batch")),
    ("text-reconstruct-empty-sentence", "text", lambda m: m.reconstruct([""]), lambda s: len(s) == 1),
    ("text-reconstruct-lengths", "text", lambda m: m.reconstruct([""]) + m.reconstruct(SENTENCES[:1]),
     lambda s: len(s) == 2),
    ("text-sample-uint8", "text", lambda m: m.sample(2, as_uint8=True), (ValueError, r"no uint8 image form")),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_public_argument(models, case):
    _, name, call, expected = case
    model = models(name)
    if isinstance(expected, tuple):
        with pytest.raises(expected[0], match=expected[1]):
            call(model)
    else:
        result = call(model)
        check = expected(result)
        assert check is None or check, result


def test_a_failed_call_leaves_the_compiled_functions_usable(models):
    model = models("biva")
    with pytest.raises(TypeError):
        model.sample("4")
    assert model.sample(4, seed=0).shape == (4, 28, 28, 1)
    assert model.sample(np.int32(4), seed=0).shape == (4, 28, 28, 1)


@pytest.mark.backend_suite
def test_inpaint_keeps_the_input_form(models):
    """uint8 0/1 images into a Bernoulli model come back as uint8 0/1 (the
    likelihood's own mapping), known pixels unchanged."""
    model = models("cmatnet")
    x = X.astype("uint8")
    out = model.inpaint(x, MASK, seed=0)
    assert out.dtype == np.uint8 and set(np.unique(out).tolist()) <= {0, 1}
    np.testing.assert_array_equal(out[MASK > 0.5], x[MASK > 0.5])
    floats = model.inpaint(X, MASK, seed=0)
    np.testing.assert_array_equal(out, floats.astype("uint8"))


@pytest.mark.backend_suite
@pytest.mark.parametrize("name", ["biva", "dlm", "gaussian"])
@pytest.mark.parametrize("mean", [False, True])
def test_sample_as_uint8_is_the_likelihoods_mapping(models, name, mean):
    """`sample(as_uint8=True)` is `likelihood.to_uint8` of the same draw, and
    `preprocess` maps it back onto the draw (8-bit: the level's grid value;
    Gaussian: the bin; Bernoulli: 0/1)."""
    model = models(name)
    floats = model.sample(3, seed=5, mean=mean)
    images = model.sample(3, seed=5, mean=mean, as_uint8=True)
    assert images.dtype == np.uint8 and images.shape == floats.shape
    lik = model.likelihood
    if name == "biva":
        assert set(np.unique(images).tolist()) <= {0, 1}
        np.testing.assert_array_equal(images, (floats >= 0.5).astype("uint8"))
    elif name == "dlm":
        expected = np.clip(np.round((floats + 1.0) * 127.5), 0, 255).astype("uint8")
        np.testing.assert_array_equal(images, expected)
        if not mean:  # draws lie on the grid: the mapping is exact both ways
            back = keras.ops.convert_to_numpy(lik.preprocess(images))
            np.testing.assert_allclose(back, floats, atol=1e-6)
    else:
        np.testing.assert_array_equal(images, np.clip(np.floor(floats * 256.0), 0, 255).astype("uint8"))
        back = keras.ops.convert_to_numpy(lik.preprocess(images))  # the bin centres
        assert np.all(np.abs(back - np.clip(floats, 0.0, 1.0)) <= 0.5 / 256 + 1e-6)
        return  # the Gaussian model trains on dequantised floats, not on levels
    # the images are valid input for the model they came from
    assert np.all(np.isfinite(model.elbo(images, seed=0)))


def test_fit_checks_its_data(models):
    model = _matnet()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    with pytest.raises(ValueError, match=r"rank 4"):
        model.fit(X[..., 0], epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"empty batch"):
        model.fit(X[:0], epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"binary data|finite|not valid data"):
        model.fit(X * 255, epochs=1, verbose=0)
    history = model.fit(X[:1], batch_size=1, epochs=1, verbose=0)  # a batch of 1 trains
    assert math.isfinite(history.history["loss"][-1])
