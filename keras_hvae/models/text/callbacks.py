"""`ReduceFreeBitsOnPlateau`, the free-bits schedule of the text experiments.

The paper's schedule (Appendix D): start with a KL budget per latent layer
and "incrementally decrease the free bits value on plateau" of the
validation bound; like Keras' `ReduceLROnPlateau`, for the model's
`free_bits_variable`.
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hvae")
class ReduceFreeBitsOnPlateau(keras.callbacks.Callback):
    """Lowers free bits lambda when a monitored quantity stops improving.

    Args:
        monitor: the log to watch (default "val_loss", the validation
            negative ELBO, which has no free bits in it).
        factor: lambda <- factor * lambda on a plateau.
        patience: epochs without improvement before lowering lambda.
        min_delta: smallest change that counts as an improvement.
        mode: "min", "max" or "auto" (max for names with "elbo", else min).
        cooldown: epochs to wait after a reduction before counting again.
        min_free_bits: lambda never goes below this; a lambda that would go
            below `zero_below` is set to `min_free_bits`.
        zero_below: see `min_free_bits`.
        verbose: print each reduction.

    Example:
    >>> cb = ReduceFreeBitsOnPlateau(monitor="val_loss", factor=0.5, patience=1)
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.5,
        patience=1,
        min_delta=0.0,
        mode="auto",
        cooldown=0,
        min_free_bits=0.0,
        zero_below=0.05,
        verbose=0,
    ):
        super().__init__()
        if not 0.0 <= float(factor) < 1.0:
            raise ValueError(f"factor must be in [0, 1); got {factor}.")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}.")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        self.mode = mode
        self.cooldown = int(cooldown)
        self.min_free_bits = float(min_free_bits)
        self.zero_below = float(zero_below)
        self.verbose = int(verbose)
        self._maximize = mode == "max" or (mode == "auto" and "elbo" in monitor)
        self.reset()

    def reset(self):
        self.best = -np.inf if self._maximize else np.inf
        self.wait = 0
        self.cooldown_counter = 0
        self.history = []

    def _improved(self, value):
        if self._maximize:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_train_begin(self, logs=None):
        if not hasattr(self.model, "free_bits_variable"):
            raise ValueError(
                f"{type(self.model).__name__} has no free_bits_variable; ReduceFreeBitsOnPlateau needs a text "
                "model of keras_hvae.models.text."
            )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        lam = float(ops.convert_to_numpy(self.model.free_bits_variable))
        value = logs.get(self.monitor)
        if value is None:
            if self.verbose:
                print(f"ReduceFreeBitsOnPlateau: {self.monitor!r} is not in the logs ({sorted(logs)}).")
            return
        value = float(value)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best = value
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and lam > self.min_free_bits:
                new = lam * self.factor
                if new < max(self.zero_below, self.min_free_bits):
                    new = self.min_free_bits
                self.model.free_bits_variable.assign(new)
                self.history.append((int(epoch), lam, new))
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: ReduceFreeBitsOnPlateau lowers free bits {lam:.3f} -> {new:.3f} nats.")
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def get_config(self):
        return {
            "monitor": self.monitor,
            "factor": self.factor,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "mode": self.mode,
            "cooldown": self.cooldown,
            "min_free_bits": self.min_free_bits,
            "zero_below": self.zero_below,
            "verbose": self.verbose,
        }
