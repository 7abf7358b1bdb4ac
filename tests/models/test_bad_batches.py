"""`fit` checks every batch it trains on (issue 14, point 6).

A batch with NaN/Inf or values outside the likelihood's support stops
training with a `BadBatchError` saying what was wrong, unless the model was
compiled with `bad_batches="skip"`: then it is skipped (no update, no
metric) and counted. `fit` takes Python generators and
`keras.utils.PyDataset`. Runs on every backend (backend suite).
"""

import warnings

import keras
import numpy as np
import pytest

from keras_hvae.applications import BIVA
from keras_hvae.models.batch_checks import BadBatchError, BadBatchWarning

# On JAX and PyTorch (the backend suite) one bad kind, skip mode and
# train_on_batch run; every kind runs on TensorFlow (the check is the same
# keras.ops graph on every backend).
BATCH = 16
#: The bad batch comes after the examples `fit` initialises on (and checks eagerly).
BAD_AT = BIVA.INIT_EXAMPLES // BATCH + 2


def _model(mode="raise"):
    model = BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[4, 2], layers_per_block=1, seed=0)
    model.compile(optimizer=keras.optimizers.Adamax(1e-3), bad_batches=mode)
    return model


def _binary(rng, n=BATCH):
    return (rng.uniform(size=(n, 28, 28, 1)) < 0.5).astype("float32")


def _stream(bad, steps=BAD_AT + 3, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(steps):
        yield bad if i == BAD_AT else _binary(rng)


BAD = {
    "scaled by 255": (lambda x: x * 255.0, r"above the support.*\[0, 255\].*unscaled 0\.\.255"),
    "negative": (lambda x: x - 0.5, r"below the support.*\[-0\.5, 0\.5\].*negative"),
    "grey": (lambda x: x * 0.5 + 0.25, r"off the support.*non-binary"),
    "NaN": (lambda x: np.where(x > 0, np.nan, 0.0).astype("float32"), r"NaN or Inf"),
}


@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=pytest.mark.backend_suite) if k == "scaled by 255" else k for k in BAD]
)
def test_a_bad_batch_stops_fit_with_what_was_wrong(kind):
    make_bad, message = BAD[kind]
    model = _model()
    bad = make_bad(_binary(np.random.default_rng(1)))
    with pytest.raises(BadBatchError, match=f"Batch {BAD_AT + 1} of epoch 1 .*BernoulliLikelihood.*{message}"):
        model.fit(_stream(bad), epochs=1, verbose=0)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


@pytest.mark.backend_suite
def test_skip_mode_skips_counts_and_feeds_no_metric():
    bad = _binary(np.random.default_rng(1)) * 255.0
    clean, skipping = _model(), _model("skip")
    expected = clean.fit(_stream(None, steps=BAD_AT), epochs=1, verbose=0).history
    # the same stream with one bad batch inserted
    stream = _stream(bad, steps=BAD_AT + 1)
    with pytest.warns(BadBatchWarning, match="1 training batches were skipped.*unscaled"):
        got = skipping.fit(stream, epochs=1, verbose=0).history
    assert got["bad_batches"] == [1.0] and got["skipped_updates"] == [1.0]
    assert expected["bad_batches"] == [0.0]
    # the skipped batch entered no mean (x255 data would give a loss of ~1e5): the logs are those of the
    # same clean batches (up to the latent noise, whose stream the skipped pass advanced)
    for key in ("loss", "elbo"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-3, atol=0.05)
    # The KL of a barely trained model is a few hundredths of a nat per digit, and the other latent noise
    # moves it by as much (0.011 against 0.076 seen on PyTorch); the x255 batch has a KL of ~47 nats per
    # digit at initialisation (measured), ~2.5 nats on the mean over these 19 batches, so half a nat
    # still tells a poisoned mean apart.
    np.testing.assert_allclose(got["kl"], expected["kl"], atol=0.5)
    assert all(np.all(np.isfinite(w)) for w in skipping.get_weights())


@pytest.mark.backend_suite
def test_train_on_batch_checks_too():
    model = _model()
    rng = np.random.default_rng(0)
    model.initialize(_binary(rng, 64))
    model.train_on_batch(_binary(rng))
    with pytest.raises(BadBatchError, match="not valid data"):
        model.train_on_batch(_binary(rng) - 1.0)
    model = _model("skip")
    model.initialize(_binary(rng, 64))
    logs = model.train_on_batch(_binary(rng) * 3.0, return_dict=True)
    assert float(logs["bad_batches"]) == 1.0


def test_fit_takes_generators_and_py_datasets():
    rng = np.random.default_rng(0)

    class Digits(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return (_binary(np.random.default_rng(i)),)

    def tuples():
        while True:
            yield (_binary(rng),)

    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error", BadBatchWarning)
        for data in (_stream(None, steps=3), tuples(), Digits()):
            history = model.fit(data, steps_per_epoch=3, epochs=1, verbose=0).history
            assert np.isfinite(history["loss"][-1]) and history["bad_batches"] == [0.0]


def test_the_mode_is_checked():
    with pytest.raises(ValueError, match=r"bad_batches must be one of \['raise', 'skip'\]"):
        _model("ignore")
