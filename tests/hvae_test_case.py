"""The contract every `HierarchicalVAE` family meets, as one reusable check.

Modelled on keras-hub's `TestCase.run_backbone_test` /
`run_model_saving_test` / `run_preset_test`: a family's tests build a tiny
model and a small input batch and call `run_hvae_contract(model, x,
tmp_path)`, which checks

* ``forward_terms``: `log_px` (batch,), one (batch,) `kl` per
  `latent_layer_names`, `log_ratio` (batch,), `params`, all finite;
* ELBO <= IWAE: the mean of `iwae_bound(x, 16)` is at least the mean ELBO,
  up to a Monte-Carlo allowance (fixed seeds);
* ``get_config`` / ``from_config`` (and a JSON round trip of the serialized
  model) give the same config, and the same seeded ELBO once the weights are
  copied (while a fresh twin, weights not copied, gives another ELBO);
* the ``.keras`` round trip (`model.save` / `keras.saving.load_model`) and
  the preset round trip (`save_to_preset` / `from_preset`, with the weights'
  sha256 in the metadata) give the same seeded ELBO;
* seeded sampling: the same seed gives the same samples, another seed other
  samples, of shape `(n,) + data_shape`;
* on TensorFlow only: the SavedModel endpoints (`elbo`, `sample`, `encode`,
  plus `anomaly_score` / `inpaint` where the model has them) run and agree
  with the Keras model: `encode` exactly, the stochastic ones in mean within
  Monte-Carlo error.

Before the round trips the weights are nudged with seeded noise (see
`perturb_weights`), so a reload that silently re-initialises a weight
changes the ELBO and fails the check.

`x` is whatever the model's `elbo` takes: images, or sentences / token ids
for the text models. `checks` selects a subset (see `ALL_CHECKS`). Every
check is also a plain function that returns what a test may want to look at
further (the loaded model, the clone, the endpoint outputs).
"""

import json

import keras
import numpy as np
from keras import ops

ALL_CHECKS = ("forward_terms", "bounds", "config", "keras_file", "preset", "sampling", "saved_model")


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def model_inputs(model, x):
    """The prepared backend tensor that `forward_terms` takes, for raw `x`."""
    checked = model.validate_inputs(x)
    model.build()
    return model.prepare_inputs(ops.convert_to_tensor(checked))


def perturb_weights(model, scale=0.02, seed=0):
    """Adds seeded Gaussian noise (relative `scale`) to every trainable
    weight, so that the weights differ from any fresh initialisation."""
    model.build()
    rng = np.random.default_rng(seed)
    for v in model.trainable_weights:
        w = _np(v)
        if not np.issubdtype(w.dtype, np.floating):
            continue
        size = scale * (np.abs(w).mean() + 1e-2)
        v.assign((w + size * rng.standard_normal(w.shape)).astype(w.dtype))


def assert_same_elbo(a, b, x, seed, rtol=1e-5, atol=1e-4):
    np.testing.assert_allclose(_np(b.elbo(x, seed=seed)), _np(a.elbo(x, seed=seed)), rtol=rtol, atol=atol)


# --------------------------------------------------------------- the checks
def check_forward_terms(model, x, seed=0):
    """`forward_terms(x, training=False, seed=...)` returns the core's dict."""
    inputs = model_inputs(model, x)
    batch = int(inputs.shape[0])
    terms = model.forward_terms(inputs, training=False, seed=seed)
    assert {"log_px", "kl", "log_ratio", "params"} <= set(terms), sorted(terms)
    log_px = _np(terms["log_px"])
    assert log_px.shape == (batch,), log_px.shape
    assert np.all(np.isfinite(log_px)), log_px
    kl = terms["kl"]
    assert isinstance(kl, (list, tuple)), type(kl)
    assert len(kl) == len(model.latent_layer_names), (len(kl), model.latent_layer_names)
    for name, k in zip(model.latent_layer_names, kl):
        k = _np(k)
        assert k.shape == (batch,), (name, k.shape)
        assert np.all(np.isfinite(k)), (name, k)
    log_ratio = _np(terms["log_ratio"])
    assert log_ratio.shape == (batch,) and np.all(np.isfinite(log_ratio)), log_ratio
    params = _np(terms["params"])
    assert params.shape[0] == batch and np.all(np.isfinite(params)), params.shape
    # the same seed gives the same pass
    again = model.forward_terms(inputs, training=False, seed=seed)
    np.testing.assert_allclose(_np(again["log_px"]), log_px, rtol=1e-5, atol=1e-4)
    return terms


def check_bounds(model, x, num_samples=16, seed=0, repeats=4, sigmas=4.0):
    """Mean IWAE_k >= mean ELBO up to `sigmas` Monte-Carlo standard errors.

    The ELBO is averaged over `repeats` seeds; both bounds must be finite
    and have shape (batch,)."""
    elbos = np.stack([_np(model.elbo(x, seed=seed + r)) for r in range(repeats)])
    iwae = _np(model.iwae_bound(x, num_samples, seed=seed))
    batch = elbos.shape[1]
    assert iwae.shape == (batch,) and np.all(np.isfinite(iwae)) and np.all(np.isfinite(elbos))
    se = np.sqrt(elbos.var() / elbos.size + iwae.var() / iwae.size)
    allowance = sigmas * se + 1e-3 * (1.0 + abs(elbos.mean()))
    assert iwae.mean() >= elbos.mean() - allowance, (iwae.mean(), elbos.mean(), allowance)
    return elbos.mean(), iwae.mean()


def check_config_round_trip(model, x, seed=3):
    """Same config through `from_config` and a JSON round trip; the same
    seeded ELBO after copying the weights (and another one before)."""
    model.build()
    config = model.get_config()
    clone = type(model).from_config(config)
    assert type(clone) is type(model)
    assert clone.get_config() == config
    assert clone.latent_layer_names == model.latent_layer_names and clone.data_shape == model.data_shape
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    twin = keras.saving.deserialize_keras_object(serialized)
    assert type(twin) is type(model) and twin.get_config() == config
    clone.build()
    before = _np(clone.elbo(x, seed=seed))
    expected = _np(model.elbo(x, seed=seed))
    assert not np.allclose(before, expected, rtol=1e-5, atol=1e-4), "fresh weights already give the ELBO"
    clone.set_weights(model.get_weights())
    assert_same_elbo(model, clone, x, seed)
    return clone


def check_keras_file_round_trip(model, x, tmp_path, seed=3):
    """`model.save(path)` / `keras.saving.load_model(path)`: same class,
    config and seeded ELBO. Returns the loaded model."""
    path = tmp_path / f"{type(model).__name__.lower()}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert_same_elbo(model, loaded, x, seed)
    return loaded


def check_preset_round_trip(model, x, tmp_path, seed=3):
    """`save_to_preset` / `type(model).from_preset`: same seeded ELBO and the
    weights' sha256 in the metadata. Returns the loaded model."""
    from keras_hvae.utils.presets import sha256_of

    directory = tmp_path / f"{type(model).__name__.lower()}_preset"
    meta = model.save_to_preset(directory, metadata={"dataset": "contract"})
    on_disk = json.loads((directory / "metadata.json").read_text())
    weights = directory / "model.weights.h5"
    assert meta["weights_sha256"] == on_disk["weights_sha256"] == sha256_of(weights)
    assert on_disk["class_name"] == type(model).__name__ and on_disk["dataset"] == "contract"
    loaded = type(model).from_preset(directory)
    assert type(loaded) is type(model)
    assert loaded.preset_metadata["weights_sha256"] == meta["weights_sha256"]
    assert_same_elbo(model, loaded, x, seed)
    return loaded


def check_seeded_sampling(model, num_samples=3, seed=11):
    """Same seed, same samples; another seed, other samples; the shape."""
    a = _np(model.sample(num_samples, seed=seed))
    b = _np(model.sample(num_samples, seed=seed))
    assert a.shape == (num_samples,) + tuple(model.data_shape), a.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _np(model.sample(num_samples, seed=seed + 1)))
    return a


def _within_monte_carlo_error(a, b, sigmas=4.0):
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    se = np.sqrt(a.var() / a.size + b.var() / b.size)
    return abs(a.mean() - b.mean()) <= sigmas * se + 1e-3 * (1.0 + abs(b.mean()))


def check_saved_model_endpoints(model, x, tmp_path, masks=None, endpoints=None, seed=5, repeats=4):
    """TensorFlow only (returns None elsewhere): `model.export(dir)` and
    `tf.saved_model.load(dir)`; every endpoint runs and agrees with the
    model. `endpoints`, if given, is the exact set of names expected;
    `masks` feeds `inpaint` (skipped without them). Returns `{name: out}`."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    directory = tmp_path / f"{type(model).__name__.lower()}_saved_model"
    names = model.export(str(directory), verbose=False)
    assert {"elbo", "sample"} <= set(names), names
    if endpoints is not None:
        assert set(names) == set(endpoints), names
    reloaded = tf.saved_model.load(str(directory))  # keep a reference: it owns the variables
    checked = model.validate_inputs(x)
    dtype = "int32" if model.input_dtype_for_build == "int32" else "float32"  # the endpoints' signature
    xs = tf.constant(np.asarray(checked).astype(dtype))
    out = {}

    # elbo: its own randomness, so compare means over a few calls
    got = np.concatenate([reloaded.elbo(xs).numpy() for _ in range(repeats)])
    ref = np.concatenate([_np(model.elbo(x, seed=seed + r)) for r in range(repeats)])
    assert got.shape == ref.shape and np.all(np.isfinite(got))
    assert _within_monte_carlo_error(got, ref), (got.mean(), ref.mean())
    out["elbo"] = got

    s = reloaded.sample(tf.constant(3), tf.constant(1.0)).numpy()
    assert s.shape == (3,) + tuple(model.data_shape), s.shape
    assert s.dtype == _np(model.sample(3, seed=seed)).dtype
    out["sample"] = s

    if "encode" in names:
        codes = {k: v.numpy() for k, v in reloaded.encode(xs).items()}
        assert sorted(codes) == sorted(f"z_{n}" for n in model.latent_layer_names), sorted(codes)
        for n, ref_code in zip(model.latent_layer_names, model.encode(x)):
            np.testing.assert_allclose(codes[f"z_{n}"], ref_code, rtol=1e-4, atol=1e-5)
        out["encode"] = codes

    if "anomaly_score" in names:
        k = 1
        got = np.concatenate([reloaded.anomaly_score(xs, tf.constant(k)).numpy() for _ in range(repeats)])
        ref = np.concatenate([_np(model.anomaly_score(x, k, seed=seed + r)) for r in range(repeats)])
        assert got.shape == ref.shape and np.all(np.isfinite(got))
        assert _within_monte_carlo_error(got, ref), (got.mean(), ref.mean())
        out["anomaly_score"] = got

    if "inpaint" in names and masks is not None:
        filled = reloaded.inpaint(xs, tf.constant(np.asarray(masks, "float32"))).numpy()
        ref = _np(model.inpaint(x, masks, seed=seed))
        assert filled.shape == ref.shape == np.shape(x)
        known = np.broadcast_to(np.asarray(masks) > 0, filled.shape)
        np.testing.assert_array_equal(filled[known], np.asarray(x)[known])
        out["inpaint"] = filled
    return out


# ------------------------------------------------------------ all of them
def record_objective(model, data, choose_lambda):
    """`model.compute_objective(data, training=True)` with free bits lambda
    chosen from the batch's own terms.

    `objective_terms` is wrapped to record its terms (`free_bits_value` is
    read after it), and `choose_lambda(recorded_terms)` gives lambda.

    Returns:
        `(loss, logs, recorded_terms)` with `loss` a float.
    """
    recorded = {}
    objective_terms = model.objective_terms

    def recording(data, training=False):
        terms = objective_terms(data, training=training)
        recorded.update(terms)
        return terms

    model.objective_terms = recording
    model.free_bits_value = lambda training=False: choose_lambda(recorded) if training and recorded else 0.0
    loss, logs = model.compute_objective(data, training=True)
    return float(_np(loss)), logs, recorded


def run_hvae_contract(model, x, tmp_path, checks=ALL_CHECKS, seed=3, num_samples=16, masks=None, endpoints=None):
    """Runs the `checks` (default: all) on `model` with the input batch `x`.

    The model's weights are perturbed (seeded) before the round trips.
    Returns `{check: result}` (loaded models, clones, endpoint outputs).
    """
    unknown = set(checks) - set(ALL_CHECKS)
    assert not unknown, f"unknown checks {sorted(unknown)}; choose from {ALL_CHECKS}"
    results = {}
    model.build()
    perturb_weights(model, seed=seed)
    if "forward_terms" in checks:
        results["forward_terms"] = check_forward_terms(model, x, seed=seed)
    if "bounds" in checks:
        results["bounds"] = check_bounds(model, x, num_samples=num_samples, seed=seed)
    if "config" in checks:
        results["config"] = check_config_round_trip(model, x, seed=seed)
    if "keras_file" in checks:
        results["keras_file"] = check_keras_file_round_trip(model, x, tmp_path, seed=seed)
    if "preset" in checks:
        results["preset"] = check_preset_round_trip(model, x, tmp_path, seed=seed)
    if "sampling" in checks:
        results["sampling"] = check_seeded_sampling(model, seed=seed + 8)
    if "saved_model" in checks:
        results["saved_model"] = check_saved_model_endpoints(model, x, tmp_path, masks=masks, endpoints=endpoints)
    return results
