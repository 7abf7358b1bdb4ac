"""Weight-normalised layers and their data-dependent initialisation."""

import keras
import numpy as np
import pytest

from keras_hvae.layers import (
    WeightNormConv2D,
    WeightNormConv2DTranspose,
    WeightNormDense,
    data_dependent_init,
    data_dependent_init_active,
    initialize_weight_norm,
    initialize_weight_norm_traced,
    uninitialized_weight_norm_layers,
)

# name: (factory, input shape, reference Keras layer factory, norm axes, out axis)
SPECS = {
    "dense": (
        lambda **kw: WeightNormDense(5, **kw),
        (32, 7),
        lambda: keras.layers.Dense(5),
        (0,),
        1,
    ),
    "conv": (
        lambda **kw: WeightNormConv2D(4, 3, **kw),
        (6, 5, 5, 3),
        lambda: keras.layers.Conv2D(4, 3, padding="same"),
        (0, 1, 2),
        3,
    ),
    "conv_stride2": (
        lambda **kw: WeightNormConv2D(4, 3, strides=2, **kw),
        (6, 7, 7, 3),
        lambda: keras.layers.Conv2D(4, 3, strides=2, padding="same"),
        (0, 1, 2),
        3,
    ),
    "conv_transpose_stride2": (
        lambda **kw: WeightNormConv2DTranspose(4, 3, strides=2, **kw),
        (6, 4, 4, 3),
        lambda: keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same"),
        (0, 1, 3),
        2,
    ),
}


def _make(name, rng, **kwargs):
    factory, shape, _, _, _ = SPECS[name]
    # Non-zero-mean inputs so that the bias really has to centre the output.
    x = (rng.normal(size=shape) * 2.0 + 0.7).astype("float32")
    return factory(**kwargs), x


def _numpy_effective_kernel(v, g, norm_axes, out_axis):
    v = np.asarray(v, dtype="float64")
    norm = np.sqrt(np.sum(v**2, axis=norm_axes, keepdims=True))
    shape = [1] * v.ndim
    shape[out_axis] = -1
    return np.reshape(g, shape) * v / norm


@pytest.mark.backend_suite
@pytest.mark.parametrize("name", list(SPECS))
def test_data_dependent_init_standardises_each_channel(name, rng, channel_stats, to_numpy):
    layer, x = _make(name, rng)
    assert not data_dependent_init_active()
    with data_dependent_init() as initialised:
        assert data_dependent_init_active()
        y_init = layer(x)
    assert not data_dependent_init_active()
    assert initialised == [layer]
    assert to_numpy(layer.initialized) == 1.0 and layer.is_initialized
    for y in (y_init, layer(x)):  # the init pass and a plain pass agree
        mean, std = channel_stats(y)
        np.testing.assert_allclose(mean, 0.0, atol=1e-4)
        np.testing.assert_allclose(std, 1.0, rtol=1e-3)
    np.testing.assert_allclose(to_numpy(y_init), to_numpy(layer(x)), atol=1e-4)


@pytest.mark.parametrize("name", ["dense", "conv_transpose_stride2"])
def test_init_scale_sets_output_std(name, rng, channel_stats):
    layer, x = _make(name, rng, init_scale=0.1)
    assert initialize_weight_norm(layer, x) == 1
    mean, std = channel_stats(layer(x))
    np.testing.assert_allclose(mean, 0.0, atol=1e-5)
    np.testing.assert_allclose(std, 0.1, rtol=1e-3)


@pytest.mark.parametrize("name", list(SPECS))
def test_effective_kernel_is_g_v_over_norm(name, rng, to_numpy):
    layer, x = _make(name, rng)
    layer(x)
    _, _, _, norm_axes, out_axis = SPECS[name]
    v = rng.normal(size=layer.v.shape).astype("float32")
    g = rng.uniform(0.5, 2.0, size=layer.g.shape).astype("float32")
    layer.v.assign(v)
    layer.g.assign(g)
    expected = _numpy_effective_kernel(v, g, norm_axes, out_axis)
    np.testing.assert_allclose(to_numpy(layer.effective_kernel()), expected, rtol=1e-5, atol=1e-6)
    # Per output channel the effective kernel has norm |g|.
    norms = np.sqrt(np.sum(expected**2, axis=norm_axes))
    np.testing.assert_allclose(norms, g, rtol=1e-5)


@pytest.mark.backend_suite
@pytest.mark.parametrize("name", list(SPECS))
def test_output_equals_plain_keras_layer_with_effective_kernel(name, rng, to_numpy):
    layer, x = _make(name, rng)
    initialize_weight_norm(layer, x)
    _, _, reference_factory, norm_axes, out_axis = SPECS[name]
    kernel = _numpy_effective_kernel(to_numpy(layer.v), to_numpy(layer.g), norm_axes, out_axis)
    reference = reference_factory()
    reference.build(x.shape)
    reference.set_weights([kernel.astype("float32"), to_numpy(layer.bias)])
    x2 = rng.normal(size=x.shape).astype("float32")
    np.testing.assert_allclose(to_numpy(layer(x2)), to_numpy(reference(x2)), rtol=1e-4, atol=1e-5)


@pytest.mark.backend_suite
@pytest.mark.parametrize("name", ["dense", "conv", "conv_transpose_stride2"])
def test_gradients_reach_v_g_and_bias(name, rng, trainable_gradients, to_numpy):
    layer, x = _make(name, rng)
    initialize_weight_norm(layer, x)
    assert [v.name for v in layer.trainable_variables] == ["v", "g", "bias"]
    weights = rng.normal(size=to_numpy(layer(x)).shape).astype("float32")
    grad_v, grad_g, grad_b = trainable_gradients(layer, x, weights)
    for grad, var in zip((grad_v, grad_g, grad_b), layer.trainable_variables):
        assert grad.shape == tuple(var.shape)
        assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 1e-6
    # Weight norm: the gradient w.r.t. v is orthogonal to v per output channel.
    _, _, _, norm_axes, _ = SPECS[name]
    v = to_numpy(layer.v)
    dots = np.sum(grad_v * v, axis=norm_axes)
    scale = np.sqrt(np.sum(grad_v**2, axis=norm_axes) * np.sum(v**2, axis=norm_axes))
    np.testing.assert_allclose(dots / scale, 0.0, atol=1e-4)


def test_initialized_is_a_saved_non_trainable_scalar(rng, to_numpy):
    layer, x = _make("conv", rng)
    layer(x)
    assert [v.name for v in layer.non_trainable_variables] == ["initialized"]
    assert "initialized" not in [v.name for v in layer.trainable_variables]
    assert not layer.initialized.trainable
    assert tuple(layer.initialized.shape) == ()
    assert [v.name for v in layer.weights] == ["v", "g", "bias", "initialized"]
    assert to_numpy(layer.initialized) == 0.0 and not layer.is_initialized


def test_plain_call_outside_context_does_not_initialise(rng, to_numpy):
    layer, x = _make("conv", rng)
    layer.build(x.shape)
    g_before = to_numpy(layer.g)
    layer(x)
    assert not layer.is_initialized
    np.testing.assert_array_equal(to_numpy(layer.g), g_before)
    assert uninitialized_weight_norm_layers(layer) == [layer]


def test_already_initialised_layer_is_not_reinitialised(rng, to_numpy):
    layer, x = _make("dense", rng)
    assert initialize_weight_norm(layer, x) == 1
    layer.g.assign(to_numpy(layer.g) * 3.0)
    g, b = to_numpy(layer.g), to_numpy(layer.bias)
    assert initialize_weight_norm(layer, x * 5.0 + 1.0) == 0
    np.testing.assert_array_equal(to_numpy(layer.g), g)
    np.testing.assert_array_equal(to_numpy(layer.bias), b)


def test_use_bias_false_only_scales(rng, channel_stats):
    layer, x = _make("conv", rng, use_bias=False)
    initialize_weight_norm(layer, x)
    assert layer.bias is None and len(layer.trainable_variables) == 2
    _, std = channel_stats(layer(x))
    np.testing.assert_allclose(std, 1.0, rtol=1e-3)


def test_symbolic_and_compiled_calls_do_not_initialise(rng, to_numpy):
    layer, x = _make("conv", rng)
    with data_dependent_init() as initialised:
        inputs = keras.Input(x.shape[1:])
        keras.Model(inputs, layer(inputs))  # symbolic: builds, no init
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            tf.function(layer)(x)
        elif backend == "jax":
            import jax

            jax.jit(lambda t: layer(t))(x)
    assert initialised == []
    assert not layer.is_initialized


def test_activation_is_applied_after_normalisation(rng, to_numpy):
    layer, x = _make("dense", rng, activation="relu")
    with data_dependent_init():
        y = to_numpy(layer(x))
    assert y.min() == 0.0
    pre = to_numpy(x) @ to_numpy(layer.effective_kernel()) + to_numpy(layer.bias)
    np.testing.assert_allclose(y, np.maximum(pre, 0.0), atol=1e-4)


@pytest.mark.parametrize("name", list(SPECS))
def test_get_config_round_trip(name, rng, to_numpy):
    layer, x = _make(name, rng, init_scale=0.5, activation="elu")
    initialize_weight_norm(layer, x)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    assert clone.is_initialized
    np.testing.assert_allclose(to_numpy(clone(x)), to_numpy(layer(x)), atol=1e-5)
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"].startswith("keras_hvae>")


def _small_model():
    inputs = keras.Input((8, 8, 3))
    h = WeightNormConv2D(4, 3, strides=2, activation="elu")(inputs)
    h = WeightNormConv2DTranspose(4, 3, strides=2, activation="elu")(h)
    h = keras.layers.Flatten()(h)
    outputs = WeightNormDense(5)(h)
    return keras.Model(inputs, outputs)


@pytest.mark.backend_suite
def test_model_save_load_keeps_initialisation(tmp_path, rng, to_numpy, weights_of):
    model = _small_model()
    assert len(uninitialized_weight_norm_layers(model)) == 3
    x = rng.normal(size=(16, 8, 8, 3)).astype("float32")
    assert initialize_weight_norm(model, x) == 3
    assert uninitialized_weight_norm_layers(model) == []
    path = tmp_path / "m.keras"
    model.save(path)

    loaded = keras.saving.load_model(path)
    assert uninitialized_weight_norm_layers(loaded) == []
    x_new = rng.normal(size=(4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(to_numpy(loaded(x_new)), to_numpy(model(x_new)), atol=1e-5)
    before = weights_of(loaded)
    for key, value in weights_of(model).items():
        np.testing.assert_array_equal(before[key], value)
    # Running the initialisation again on other data must be a no-op.
    assert initialize_weight_norm(loaded, x_new * 3.0 + 2.0) == 0
    for key, value in weights_of(loaded).items():
        np.testing.assert_array_equal(value, before[key])

    # The flag also travels with plain weight files.
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = _small_model()
    fresh.load_weights(tmp_path / "m.weights.h5")
    assert uninitialized_weight_norm_layers(fresh) == []
    assert initialize_weight_norm(fresh, x_new) == 0


def test_compiled_training_after_init_updates_weights(rng, to_numpy):
    model = _small_model()
    x = rng.normal(size=(16, 8, 8, 3)).astype("float32")
    y = rng.normal(size=(16, 5)).astype("float32")
    initialize_weight_norm(model, x)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    v_before = to_numpy(model.layers[-1].v)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not np.allclose(to_numpy(model.layers[-1].v), v_before)
    assert uninitialized_weight_norm_layers(model) == []
    # Training inside the context must not re-initialise either.
    g = to_numpy(model.layers[-1].g)
    with data_dependent_init() as initialised:
        model(x * 10.0)
    assert initialised == []
    np.testing.assert_array_equal(to_numpy(model.layers[-1].g), g)


def test_nested_contexts_record_in_both(rng):
    a, x = _make("dense", rng)
    b = WeightNormDense(3)
    with data_dependent_init() as outer:
        a(x)
        with data_dependent_init() as inner:
            b(x)
        assert data_dependent_init_active()
    assert outer == [a, b] and inner == [b]


def _stack(seed):
    """Two weight-norm layers, the first called twice in one pass (the
    second call must see it initialised, as in the eager pass)."""
    keras.utils.set_random_seed(seed)
    first, second = WeightNormDense(7, activation="elu"), WeightNormDense(3)
    model = keras.Sequential([keras.Input((7,)), first, second])
    return model, (lambda x: second(first(first(x))))


@pytest.mark.backend_suite
def test_traced_initialization_equals_the_eager_pass(rng, to_numpy):
    x = (rng.normal(size=(64, 7)) * 2.0 + 0.7).astype("float32")
    eager, eager_fn = _stack(3)
    traced, traced_fn = _stack(3)
    assert initialize_weight_norm(eager_fn, x) == 2
    assert initialize_weight_norm_traced(traced, traced_fn, x) == 2
    assert uninitialized_weight_norm_layers(traced) == []
    for want, got in zip(eager.weights, traced.weights):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-5, atol=1e-6, err_msg=want.path)
    # the first layer was initialised on its first call only: its output on x is standardised
    y = to_numpy(traced.layers[0].call(x))
    pre = to_numpy(traced.layers[0]._weight_norm_linear(x))
    np.testing.assert_allclose(pre.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(pre.std(0), 1.0, rtol=1e-3)
    assert y.shape == (64, 7)
    assert initialize_weight_norm_traced(traced, traced_fn, x * 3.0) == 0


@pytest.mark.backend_suite
def test_traced_initialization_falls_back_to_the_eager_pass_when_python_reads_a_value(rng, to_numpy):
    x = (rng.normal(size=(32, 7)) + 0.5).astype("float32")
    eager, eager_fn = _stack(4)
    model, fn = _stack(4)

    def reads_a_value(t):  # untraceable on JAX: a tensor read in Python
        return fn(t * float(keras.ops.convert_to_numpy(keras.ops.max(t)) > 0))

    assert initialize_weight_norm(eager_fn, x) == 2
    assert initialize_weight_norm_traced(model, reads_a_value, x) == 2
    for want, got in zip(eager.weights, model.weights):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-5, atol=1e-6, err_msg=want.path)
