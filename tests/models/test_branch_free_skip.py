"""keras_hvae's Adamax skips an update on TensorFlow without a `tf.cond`, and
leaves every weight and optimizer variable exactly as it was (issue 11,
the first step's graph; issue 14, skipped updates)."""

import keras
import numpy as np
import pytest

from keras_hvae.models import Adamax, LinearGaussianVAE
from keras_hvae.models.safe_update import apply_or_skip
from tests.models.biva.conftest import tiny_binary

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's fused path")


def _values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _state(optimizer, weights):
    return _values(weights) + _values(optimizer.variables)


@pytest.mark.parametrize("options", [{}, {"use_ema": True, "ema_momentum": 0.9},
                                     {"global_clipnorm": 0.5},
                                     {"learning_rate": keras.optimizers.schedules.ExponentialDecay(5e-2, 2, 0.5)}])
def test_a_skipped_step_changes_nothing_and_an_applied_one_equals_apply(options):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    weights = [keras.Variable(rng.normal(size=s).astype("float32")) for s in [(3, 4), (4,), (2, 2, 1, 5)]]
    twins = [keras.Variable(keras.ops.convert_to_numpy(w)) for w in weights]
    options = {"learning_rate": 5e-2, **options}
    ours, theirs = Adamax(**options), Adamax(**options)
    ours.build(weights)
    theirs.build(twins)

    @tf.function
    def step(grads, applied):
        apply_or_skip(ours, grads, weights, applied)

    for i in range(6):
        grads = [rng.normal(size=w.shape).astype("float32") for w in weights]
        before = _state(ours, weights)
        if i in (1, 4):  # skipped: NaN and inf gradients must not leak
            grads[0][0, 0], grads[2][0, 0, 0, 1] = np.nan, np.inf
            step(grads, tf.constant(False))
            for a, b in zip(_state(ours, weights), before):
                np.testing.assert_array_equal(a, b)  # bit for bit, slots and iterations included
            continue
        step(grads, tf.constant(True))
        theirs.apply(grads, twins)
        for a, b in zip(_state(ours, weights), _state(theirs, twins)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        assert any(not np.array_equal(a, b) for a, b in zip(_values(weights), before[:3]))
    assert int(keras.ops.convert_to_numpy(ours.iterations)) == 4
    graph = step.get_concrete_function(
        [tf.TensorSpec(w.shape, "float32") for w in weights], tf.TensorSpec((), tf.bool)).graph
    assert not [op.type for op in graph.get_operations() if "If" in op.type]


def _op_types(concrete):
    """Op types of a traced function, nested functions included."""
    graph_def = concrete.graph.as_graph_def()
    return {n.op for n in graph_def.node} | {n.op for f in graph_def.library.function for n in f.node_def}


def test_the_train_step_of_a_biva_has_no_branch_and_skips_a_nan_batch_exactly():
    model = tiny_binary(seed=0)
    model.build()
    model.compile(optimizer=Adamax(1e-2, use_ema=True, ema_momentum=0.9), bad_batches="skip")
    x = (np.random.default_rng(0).random((8,) + tuple(model.data_shape)) > 0.5).astype("float32")
    model.train_on_batch(x)
    before = _state(model.optimizer, model.weights)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    assert model.train_on_batch(bad, return_dict=True)["skipped_updates"] == 1.0
    for a, b in zip(_state(model.optimizer, model.weights), before):
        np.testing.assert_array_equal(a, b)
    import tensorflow as tf

    types = _op_types(tf.function(model.train_step).get_concrete_function(tf.constant(x)))
    assert "ResourceApplyAdaMax" in types  # the fused update is in the traced step
    assert not {t for t in types if t.endswith("If")}, sorted(t for t in types if t.endswith("If"))
    model.train_on_batch(x)
    assert any(not np.array_equal(a, b) for a, b in zip(_values(model.weights), before))


@pytest.mark.parametrize("optimizer", [lambda: Adamax(1e-2, weight_decay=0.1),  # weight decay: the branch
                                       lambda: keras.optimizers.Adam(1e-2)])
def test_other_optimizers_and_unsupported_options_still_skip(optimizer):
    model = LinearGaussianVAE(6, 2, sigma=0.3, seed=1)
    model.build()
    model.compile(optimizer=optimizer(), bad_batches="skip")
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    model.train_on_batch(x)
    before = _state(model.optimizer, model.weights)
    bad = x.copy()
    bad[0, 0] = np.nan
    assert model.train_on_batch(bad, return_dict=True)["skipped_updates"] == 1.0
    for a, b in zip(_state(model.optimizer, model.weights), before):
        np.testing.assert_array_equal(a, b)
    model.train_on_batch(x)
    assert any(not np.array_equal(a, b) for a, b in zip(_values(model.weights), before))


def test_apply_masked_refuses_what_it_does_not_cover():
    """`apply_masked` on an optimizer with weight decay (or unbuilt) raises
    instead of skipping the decay's own update silently; `apply_or_skip`
    takes the branch there."""
    w = keras.Variable(np.ones(3, "float32"))
    decayed = Adamax(0.1, weight_decay=0.1)
    decayed.build([w])
    assert not decayed.skips_without_branch([w])
    with pytest.raises(ValueError, match="skips_without_branch"):
        decayed.apply_masked([np.ones(3, "float32")], [w], True)
    unbuilt = Adamax(0.1)
    assert not unbuilt.skips_without_branch([w])
    plain = Adamax(0.1)
    plain.build([w])
    assert plain.skips_without_branch([w])
    apply_or_skip(decayed, [np.ones(3, "float32")], [w], np.bool_(True))
    assert np.all(keras.ops.convert_to_numpy(w) < 1.0)
