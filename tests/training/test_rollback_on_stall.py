"""`RollbackOnStall` (issue 14, point 2): a learning-rate spike that wrecks
the weights is undone by restoring the last healthy snapshot (weights,
optimizer, loss-spike guard), counted in the history and warned; a healthy
run is bit for bit the run without the callback."""

import warnings

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.training.callbacks import (
    RollbackOnStall,
    RollbackWarning,
    SkippedUpdatesWarning,
    StopOnSkippedUpdates,
)
from tests.models.test_loss_spike_guard import LearningRateSpike, _all_finite, _model
from tests.models.test_training import synthetic

pytestmark = pytest.mark.backend_suite

GUARD = {"window": 10, "patience": 15}


def _loss(model, x):
    """The mean negative ELBO of `x` (what training lowers)."""
    return float(-np.mean(ops.convert_to_numpy(model.elbo(x))))


class _Probe(keras.callbacks.Callback):
    """After `rollback` in the callback list: the model's weights and
    optimizer state at the batch end where a rollback happened."""

    def __init__(self, rollback):
        super().__init__()
        self.rollback, self.count, self.after = rollback, 0, None

    def on_train_batch_end(self, batch, logs=None):
        if self.rollback.rollbacks > self.count and self.after is None:
            self.count = self.rollback.rollbacks
            model = self.model
            self.after = {
                "weights": model.get_weights(),
                "optimizer": [ops.convert_to_numpy(v) for v in self.rollback._optimizer_variables(model)],
                "guard": [ops.convert_to_numpy(v) for v in self.rollback._guard_variables(model)],
                "snapshot": self.rollback.snapshot,
            }


def _spiked_run(rollback):
    """A model trained 20 steps, then 40 steps with learning rate 10 at
    steps 20-22; returns (loss before the spike, loss after, history,
    warnings, the rollback callback, its probe)."""
    x = synthetic(64 * 40)
    model = _model(1.0, guard=GUARD)
    model.fit(x[: 64 * 20], batch_size=64, epochs=1, verbose=0)
    before = _loss(model, x)
    callback = RollbackOnStall(every=5, confirm=5) if rollback else None
    probe = _Probe(callback) if rollback else None
    stall = StopOnSkippedUpdates(fraction=0.3, window=20, stop=False)
    extra = [callback, probe] if rollback else []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, batch_size=64, epochs=1, shuffle=False, verbose=0,
                            callbacks=[LearningRateSpike(20, 1e-2), *extra, stall]).history
    assert _all_finite(model)
    return before, _loss(model, x), history, caught, callback, probe


@pytest.mark.parametrize("rollback", [
    True,
    # the same run without the rollback: the criterion fails (loss ~1e6)
    pytest.param(False, marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason="without rollback the model stays ruined")),
])
def test_a_learning_rate_spike_is_rolled_back_and_the_run_recovers(rollback):
    before, after, _, _, _, _ = _spiked_run(rollback)
    # Criterion: after the spike and 40 steps in all, the loss is no worse
    # than 1.5 x the loss before the spike (about 30 nats; with the rollback
    # it ends near 14, without it near 1e6).
    assert after < 1.5 * before, (before, after)


def test_the_rollback_restores_the_snapshot_and_is_counted_and_warned():
    _, _, history, caught, callback, probe = _spiked_run(True)
    assert callback.rollbacks == 1 and history["rollbacks"] == [1.0]
    assert 0 < history["skipped_updates"][0] <= 10
    restored = probe.after
    snapshot = restored["snapshot"]
    assert snapshot["step"] < 21  # taken before the first update at learning rate 10 (step 21)
    for now, saved in zip(restored["weights"], snapshot["weights"], strict=True):
        np.testing.assert_array_equal(now, saved)
    for now, saved in zip(restored["optimizer"], snapshot["optimizer"], strict=True):
        np.testing.assert_array_equal(now, saved)
    for now, saved in zip(restored["guard"], snapshot["guard"], strict=True):
        np.testing.assert_array_equal(now, saved)
    assert len(snapshot["optimizer"]) > 0 and len(snapshot["guard"]) == 3
    messages = [str(w.message) for w in caught if issubclass(w.category, RollbackWarning)]
    assert len(messages) == 1, messages
    assert "restored the weights, the optimizer state and the loss-spike guard's state saved at epoch 1, batch" \
        in messages[0] and "rollback 1 of at most 3" in messages[0], messages[0]
    # the rollback came before the stall warning could
    assert not any(issubclass(w.category, SkippedUpdatesWarning) for w in caught)


def test_a_healthy_run_is_bit_identical_with_and_without_the_callback():
    x = synthetic(64 * 8)
    plain, watched = _model(1.0, guard=GUARD, seed=5), _model(1.0, guard=GUARD, seed=5)
    watched.set_weights(plain.get_weights())
    callback = RollbackOnStall(every=2, confirm=1, window=5)
    for model, extra in ((plain, []), (watched, [callback])):
        model.fit(x, batch_size=64, epochs=2, shuffle=False, verbose=0, callbacks=extra)
    assert callback.rollbacks == 0 and callback.snapshots_taken >= 5
    for a, b in zip(plain.get_weights(), watched.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(plain.optimizer.variables, watched.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))


def test_learning_rate_factor_and_arguments():
    model = _model(1.0, guard=None)
    callback = RollbackOnStall(learning_rate_factor=0.5)
    callback.set_model(model)
    note = callback._scale_learning_rate()
    assert float(ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(5e-3)
    assert "scaled by 0.5" in note
    for bad in ({"fraction": 0}, {"fraction": 1.0}, {"window": 0}, {"every": 2.5}, {"confirm": 0},
                {"max_rollbacks": -1}, {"learning_rate_factor": 0}, {"learning_rate_factor": 2.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            RollbackOnStall(**bad)


def test_train_and_save_and_configs_add_it_by_default_and_can_turn_it_off():
    from keras_hvae.training.config_recipes import load_config, recipe_from_config
    from keras_hvae.training.train_and_save import rollback_on_stall_callback

    other = keras.callbacks.Callback()
    default, rest = rollback_on_stall_callback(True, [other])
    assert isinstance(default, RollbackOnStall) and default.max_rollbacks == 3 and rest == [other]
    assert rollback_on_stall_callback(False, [other]) == (None, [other])
    assert rollback_on_stall_callback(None, [other]) == (None, [other])
    # one among the callbacks replaces the default and is moved out of them
    own = RollbackOnStall(every=7)
    assert rollback_on_stall_callback(True, [other, own]) == (own, [other])
    assert rollback_on_stall_callback({"learning_rate_factor": 0.5})[0].learning_rate_factor == 0.5
    with pytest.raises(ValueError, match="must be true, false, an object"):
        rollback_on_stall_callback("yes")
    # a config's value reaches the run as the recipe's, not as a callback
    base = {"model": {"class": "BIVA", "architecture": "binary_28x28"}, "dataset": "binarized_mnist", "epochs": 1}
    for value in (True, False, {"every": 50}):
        recipe = recipe_from_config(dict(base, rollback_on_stall=value))
        assert recipe.rollback_on_stall == value
        assert not any(isinstance(c, RollbackOnStall) for c in recipe.callbacks())
    assert load_config(base)["rollback_on_stall"] is True
    with pytest.raises(ValueError, match="rollback_on_stall"):
        load_config(dict(base, rollback_on_stall={"every": 0}))
    with pytest.raises(ValueError, match="rollback_on_stall"):
        load_config(dict(base, rollback_on_stall="yes"))


def test_train_and_save_records_the_rollbacks(tmp_path):
    import json

    import tensorflow as tf

    from keras_hvae.training.train_and_save import train_and_save

    model = _model(1.0, guard=GUARD)
    data = tf.data.Dataset.from_tensor_slices(synthetic(64 * 3)).batch(64)
    _, meta = train_and_save(model, data, tmp_path / "run", epochs=1, verbose=0)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert meta["rollbacks"] == 0 and history["rollbacks"] == [0.0]
