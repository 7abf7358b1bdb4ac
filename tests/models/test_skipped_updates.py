"""Skipped updates neither poison the metrics nor hide (issue 14, point 2).

On every backend (this file is in the backend suite): a step whose loss or
gradient norm is not finite is skipped and counted in `skipped_updates`
only; its NaN loss and metrics never enter the epoch means. A run that
skips most of its updates is reported (`SkippedUpdatesWarning`) and
stopped by `StopOnSkippedUpdates`; the preset metadata stays strict JSON.
"""

import json
import warnings

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.models import LinearGaussianVAE
from keras_hvae.training.callbacks import SkippedUpdatesWarning, StopOnSkippedUpdates
from tests.models.test_training import synthetic

pytestmark = pytest.mark.backend_suite


@keras.saving.register_keras_serializable(package="keras_hvae_tests")
class PoisonedEverything(LinearGaussianVAE):
    """Loss and every logged metric NaN on batches whose first entry is marked."""

    def compute_objective(self, data, training=False):
        loss, logs = super().compute_objective(data, training)
        poisoned = ops.convert_to_tensor(data)[0, 0] > 1e3
        nan = ops.convert_to_tensor(float("nan"))

        def poison(v):
            return ops.where(poisoned, nan, v)

        logs = {k: [poison(t) for t in v] if k == "kl_layers" else poison(v) for k, v in logs.items()}
        return poison(loss), logs


def _model(seed=3):
    # a deterministic posterior: a skipped step draws no noise a clean run
    # would not, so a run with skips equals one on the clean batches only
    model = PoisonedEverything(6, 2, sigma=0.3, seed=seed, deterministic_posterior=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.build()
    return model


def _poison(x, batches, batch_size=64):
    x = x.copy()
    for b in batches:
        x[b * batch_size, 0] = 1e4
    return x


def test_skipped_batches_leave_the_epoch_metrics_finite_and_exact():
    x = synthetic(64 * 6)
    model, reference = _model(), _model()
    reference.set_weights(model.get_weights())
    bad = _poison(x, [1, 4])
    # the poisoned batches are skipped: the run equals one on the clean batches
    hist = model.fit(bad, batch_size=64, epochs=2, shuffle=False, verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()])
    clean = np.concatenate([x[i * 64:(i + 1) * 64] for i in (0, 2, 3, 5)])
    ref = reference.fit(clean, batch_size=64, epochs=2, shuffle=False, verbose=0)
    assert hist.history["skipped_updates"] == [2.0, 2.0]
    assert ref.history["skipped_updates"] == [0.0, 0.0]
    assert len(hist.history["loss"]) == 2  # TerminateOnNaN did not stop on a harmless skip
    for key in ("loss", "elbo", "reconstruction", "kl", "kl_z", "bits_per_dim"):
        values = np.array(hist.history[key])
        assert np.all(np.isfinite(values)), (key, values)
        np.testing.assert_allclose(values, ref.history[key], rtol=1e-4, atol=1e-4, err_msg=key)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_per_batch_logs_stay_finite_through_a_skip():
    x = _poison(synthetic(64 * 3), [0])  # the very first batch is skipped
    model = _model()
    seen = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(dict(logs)))
    model.fit(x, batch_size=64, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    assert [logs["skipped_updates"] for logs in seen] == [1.0, 1.0, 1.0]
    for logs in seen:
        assert all(np.isfinite(v) for v in logs.values()), logs


def test_stall_is_warned_and_stopped():
    x = _poison(synthetic(64 * 40), range(1, 40))  # every update after the first is skipped
    model = _model()
    stop = StopOnSkippedUpdates(fraction=0.5, window=10)
    with pytest.warns(SkippedUpdatesWarning, match="of the last 10 updates were skipped"):
        hist = model.fit(x, batch_size=64, epochs=3, shuffle=False, verbose=0, callbacks=[stop])
    assert stop.triggered
    assert len(hist.history["loss"]) == 1  # stopped in the first epoch
    assert stop.seen < 40 and stop.skipped == stop.seen - 1
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 1
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert np.isfinite(hist.history["loss"][-1])


def test_warn_only_trains_on_and_a_healthy_run_is_silent():
    x = _poison(synthetic(64 * 12), range(1, 12))
    model = _model()
    stop = StopOnSkippedUpdates(fraction=0.5, window=5, stop=False)
    with pytest.warns(SkippedUpdatesWarning):
        hist = model.fit(x, batch_size=64, epochs=2, shuffle=False, verbose=0, callbacks=[stop])
    assert len(hist.history["loss"]) == 2 and stop.skipped == 22
    healthy = StopOnSkippedUpdates(fraction=0.5, window=5)
    x = _poison(synthetic(64 * 12), [3, 7])  # 2 of 12: below the threshold
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedUpdatesWarning)
        hist = _model().fit(x, batch_size=64, epochs=2, shuffle=False, verbose=0, callbacks=[healthy])
    assert not healthy.triggered and len(hist.history["loss"]) == 2


@pytest.mark.parametrize("kwargs", [dict(fraction=1.0), dict(fraction=-0.1), dict(fraction="0.5"),
                                    dict(window=0), dict(window=2.5), dict(window=True)])
def test_callback_arguments_are_checked(kwargs):
    with pytest.raises(ValueError):
        StopOnSkippedUpdates(**kwargs)


def _strict(text):
    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


def test_metadata_and_history_are_strict_json(tmp_path):
    from keras_hvae.training.train_and_save import train_and_save

    x = _poison(synthetic(64 * 4), [1])
    model = _model()
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices(x).batch(64)
    preset_dir, meta = train_and_save(
        model, data, tmp_path / "run", epochs=1, verbose=0,
        extra_scores=lambda m: {"test_elbo": float("nan"), "nested": {"k": [1.0, float("inf")]}},
        metadata={"note": np.float32("nan")},
    )
    written = _strict((preset_dir / "metadata.json").read_text())
    assert written["scores"] == {"test_elbo": None, "nested": {"k": [1.0, None]}}
    assert written["note"] is None
    assert written["skipped_updates"] == 1 and written["stopped_on_skipped_updates"] is False
    assert np.isfinite(written["final_train_loss"])
    history = _strict((tmp_path / "run" / "history.json").read_text())
    assert history["skipped_updates"] == [1.0]
