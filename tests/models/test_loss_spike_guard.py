"""The loss-spike guard and non-finite updates that come from the model
itself (issue 14, point 2): an overflow injected in the forward pass and a
learning-rate spike. Weights and metrics stay finite, the skipped updates
are counted and a stall is reported (`keras_hvae.models.loss_spike`)."""

import warnings

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.models import LinearGaussianVAE
from keras_hvae.training.callbacks import SkippedUpdatesWarning, StopOnSkippedUpdates
from keras_hvae.training.checkpoints import random_state_variables
from tests.models.test_training import synthetic

pytestmark = pytest.mark.backend_suite

MARK = 1e3  # a batch whose first entry exceeds this gets the injected fault


@keras.saving.register_keras_serializable(package="keras_hvae_tests")
class FaultyForward(LinearGaussianVAE):
    """Multiplies the log-likelihood by `factor` twice on marked batches:
    1e38 overflows float32 in the forward pass (an infinite loss), 100 gives
    a finite spike (x 1e4)."""

    def __init__(self, *args, factor=1e38, **kwargs):
        super().__init__(*args, **kwargs)
        self.factor = factor

    def forward_terms(self, x, training=False, seed=None):
        terms = super().forward_terms(x, training=training, seed=seed)
        marked = ops.convert_to_tensor(x)[0, 0] > MARK
        scale = ops.where(marked, self.factor, 1.0)
        terms["log_px"] = terms["log_px"] * scale * scale
        return terms


def _model(factor, guard, seed=3):
    model = FaultyForward(6, 2, sigma=0.3, seed=seed, deterministic_posterior=True, factor=factor)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss_spike_guard=guard)
    model.build()
    return model


def _marked(x, batches, batch_size=64):
    x = x.copy()
    for b in batches:
        x[b * batch_size, 0] = 2 * MARK
    return x


def _all_finite(model):
    return all(np.all(np.isfinite(ops.convert_to_numpy(w))) for w in model.weights)


def test_overflow_in_the_forward_pass_is_skipped_and_counted():
    x = _marked(synthetic(64 * 8), [2, 5])
    model = _model(1e38, guard=None)
    history = model.fit(x, batch_size=64, epochs=1, shuffle=False, verbose=0).history
    assert history["skipped_updates"] == [2.0]
    assert np.isfinite(history["loss"][0]) and np.isfinite(history["elbo"][0])
    assert _all_finite(model)


def test_a_finite_loss_spike_is_skipped_only_with_the_guard():
    # batch 14 (after a warm-up of 10 applied steps) has a loss x 1e4
    x = _marked(synthetic(64 * 16), [14])
    guarded = _model(100.0, guard={"window": 10})
    unguarded = _model(100.0, guard=None)
    unguarded.set_weights(guarded.get_weights())
    logs = guarded.fit(x, batch_size=64, epochs=1, shuffle=False, verbose=0).history
    plain = unguarded.fit(x, batch_size=64, epochs=1, shuffle=False, verbose=0).history
    assert logs["skipped_updates"] == [1.0] and plain["skipped_updates"] == [0.0]
    assert logs["loss"][0] < plain["loss"][0] / 100  # the spike feeds no metric
    assert _all_finite(guarded)
    # the guard's window holds the last 10 applied losses, all ordinary
    recent = ops.convert_to_numpy(guarded.loss_spike_guard.recent_losses)
    assert np.all(np.isfinite(recent)) and recent.max() < 1e3


@keras.saving.register_keras_serializable(package="keras_hvae_tests")
class LengthBuckets(LinearGaussianVAE):
    """Batches marked "long" (their first example's first feature above the
    second example's: the order within a batch, which changes no loss) are
    scored as a text model scores a bucket of long sentences: 4x the
    dimensions and 4x the per-example bound (`num_dims` per example, as the
    text models report it), the same bound per dimension."""

    def objective_terms(self, data, training=False):
        terms = super().objective_terms(data, training=training)
        x = ops.convert_to_tensor(self.unpack_inputs(data))
        factor = ops.where(x[0, 0] > x[1, 0], 4.0, 1.0)
        terms["log_px"] = terms["log_px"] * factor
        terms["kl"] = [kl * factor for kl in terms["kl"]]
        terms["num_dims"] = ops.ones_like(terms["log_px"]) * (6.0 * factor)
        return terms


def _buckets(num_batches, short_first, batch_size=64):
    """Data whose first `short_first` batches are short, then long and short
    in turn."""
    x = synthetic(batch_size * num_batches)
    for b in range(num_batches):
        rows = x[b * batch_size : b * batch_size + 2]
        long = b >= short_first and (b - short_first) % 2 == 0
        if (rows[0, 0] > rows[1, 0]) != long:
            x[[b * batch_size, b * batch_size + 1]] = rows[::-1]
    return x


def test_the_guard_compares_the_loss_per_dimension_so_long_batches_are_not_spikes():
    """Text batches are bucketed by length: a batch of long sentences has a
    larger loss per sentence, not per token. The guard compares the loss
    per data dimension (`loss_per_dim`), so no such batch is skipped.
    Comparing the loss per example, a window filled by short batches took
    every long one for a spike, and kept doing so (skipped batches never
    enter the window): a quarter of the BIVA+LSTM recipe's updates, the
    batches of its longest sentences, were skipped."""
    x = _buckets(40, short_first=12)
    model = LengthBuckets(6, 2, sigma=0.3, seed=3, deterministic_posterior=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss_spike_guard={"window": 10})
    model.build()
    history = model.fit(x, batch_size=64, epochs=1, shuffle=False, verbose=0).history
    assert history["skipped_updates"] == [0.0]
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 40
    for b in (0, 12):  # a short and a long batch
        loss, logs = model.compute_objective(x[64 * b : 64 * (b + 1)], training=False)
        num_dims = 6.0 if b == 0 else 24.0
        np.testing.assert_allclose(float(logs["loss_per_dim"]), float(loss) / num_dims, rtol=1e-5)


def test_guard_state_is_training_state_not_a_weight(tmp_path):
    guarded = _model(1.0, guard=True)
    guarded.fit(synthetic(64 * 2), batch_size=64, epochs=1, verbose=0)
    names = [v.path for v in random_state_variables(guarded)]
    assert [n for n in names if n.startswith("loss_spike_guard/")] == [
        "loss_spike_guard/recent_losses", "loss_spike_guard/filled", "loss_spike_guard/streak"]
    assert not any(w.path.startswith("loss_spike_guard/") for w in guarded.weights)
    assert float(ops.convert_to_numpy(guarded.loss_spike_guard.filled)) == 2.0
    # weights files are the same with or without the guard, both ways
    path = str(tmp_path / "g.weights.h5")
    guarded.save_weights(path)
    plain = _model(1.0, guard=None)
    plain.load_weights(path)
    plain.save_weights(path)
    _model(1.0, guard=True).load_weights(path)
    with pytest.raises(ValueError, match="window"):
        _model(1.0, guard={"window": 1})


class LearningRateSpike(keras.callbacks.Callback):
    """Learning rate 10.0 for batches [start, start + 3), else `base`."""

    def __init__(self, start, base):
        super().__init__()
        self.start, self.base = start, base

    def on_train_batch_begin(self, batch, logs=None):
        spike = self.start <= batch < self.start + 3
        self.model.optimizer.learning_rate.assign(10.0 if spike else self.base)


def test_learning_rate_spike_is_reported_and_leaves_everything_finite():
    # The first update at lr 10 has an ordinary loss: no loss check can
    # refuse it. The guard then skips the wrecked model's updates (finite,
    # counted) until its patience runs out, and the stall is reported.
    x = synthetic(64 * 40)
    model = _model(1.0, guard={"window": 10, "patience": 15})
    model.fit(x[: 64 * 20], batch_size=64, epochs=1, verbose=0)
    stall = StopOnSkippedUpdates(fraction=0.3, window=20, stop=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, batch_size=64, epochs=1, shuffle=False, verbose=0,
                            callbacks=[LearningRateSpike(20, 1e-2), stall]).history
    assert history["skipped_updates"][0] >= 10
    assert all(np.isfinite(v[0]) for v in history.values())
    assert _all_finite(model)
    assert stall.triggered
    assert any(issubclass(w.category, SkippedUpdatesWarning) for w in caught)
