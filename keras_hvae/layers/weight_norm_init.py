"""Data-dependent initialisation of weight-normalised layers.

Salimans & Kingma (2016) initialise a weight-normalised layer from a batch of
data: the scale ``g`` and the bias are chosen so that, on that batch, every
output channel has zero mean and unit variance (times ``init_scale``).

In this package the initialisation is an explicit step, never a side effect
of a compiled training step (which would break JAX's stateless training and
``tf.function``). It runs eagerly, or on JAX as one compiled program
(:func:`initialize_weight_norm_traced`: eagerly, JAX compiles every op on
first use):

```python
from keras_hvae.layers import initialize_weight_norm, uninitialized_weight_norm_layers

model = build_my_model()
n = initialize_weight_norm(model, x_batch)  # eager forward pass
assert not uninitialized_weight_norm_layers(model)
model.fit(...)
```

While the :func:`data_dependent_init` context is active, every weight-norm
layer whose ``initialized`` flag is 0 initialises itself from the batch it
sees (in call order, so later layers see the already-normalised outputs of
earlier ones) and sets the flag to 1. The flag is a saved, non-trainable
variable, so a reloaded model is never re-initialised.
"""

import contextlib

import keras

__all__ = [
    "data_dependent_init",
    "data_dependent_init_active",
    "initialize_weight_norm",
    "initialize_weight_norm_traced",
    "uninitialized_weight_norm_layers",
]


class _DDIState:
    """Module-level state of the data-dependent initialisation context."""

    def __init__(self):
        # One list per active (possibly nested) context; each collects the
        # layers initialised while it was active.
        self.records = []
        # In a traced initialisation (`initialize_weight_norm_traced`): the
        # ids of the layers still to initialise, decided before tracing
        # (inside the trace a layer cannot read its `initialized` flag).
        self.pending = None


_STATE = _DDIState()


def data_dependent_init_active():
    """Whether a :func:`data_dependent_init` context is currently active.

    Returns:
        bool.
    """
    return bool(_STATE.records)


def claim_traced_initialization(layer):
    """In a traced initialisation, whether `layer` initialises on this call
    (the first call of a layer that was pending); None outside one."""
    if _STATE.pending is None:
        return None
    if id(layer) in _STATE.pending:
        _STATE.pending.discard(id(layer))
        return True
    return False


def _record_initialized(layer):
    for record in _STATE.records:
        record.append(layer)


@contextlib.contextmanager
def data_dependent_init():
    """Context manager that enables data-dependent initialisation.

    While active, every weight-normalised layer (``WeightNormDense``,
    ``WeightNormConv2D``, ``WeightNormConv2DTranspose``, ``MaskedConv2D``
    with ``weight_norm=True`` and all blocks built from them) that is called
    *eagerly* and still has ``initialized == 0`` sets its ``g`` and ``bias``
    from the statistics of the batch and flips ``initialized`` to 1.
    Already-initialised layers, and calls that are traced/compiled
    (``tf.function``, ``jax.jit``, Keras' stateless scopes, symbolic model
    construction), behave as plain weight-norm layers.

    Yields:
        A list that collects the layers initialised inside the context.

    Example:

    ```python
    with data_dependent_init() as initialized:
        model(x_batch, training=False)
    print(len(initialized), "layers initialised")
    ```
    """
    record = []
    _STATE.records.append(record)
    try:
        yield record
    finally:
        # Remove this exact record (contexts are strictly nested in practice).
        for i in range(len(_STATE.records) - 1, -1, -1):
            if _STATE.records[i] is record:
                del _STATE.records[i]
                break


@contextlib.contextmanager
def _eager_execution():
    """On TensorFlow, run ``tf.function``s eagerly while initialising.

    (Not done for JAX: ``jax.disable_jit`` makes every op far slower, and
    Keras layers and models are eager on JAX unless the caller jits them.)
    """
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    previous = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(previous)


def initialize_weight_norm(fn, *args, **kwargs):
    """Runs ``fn(*args, **kwargs)`` eagerly with data-dependent init enabled.

    Args:
        fn: A callable that runs the forward pass, typically the model itself
            (``initialize_weight_norm(model, x)``) or a lambda such as
            ``lambda x: model(x, training=False)``. It must run the layers
            eagerly: do not pass ``model.predict`` (on JAX it runs in a
            stateless scope whose variable updates are discarded) or a
            ``jax.jit``-compiled function; traced calls are skipped, which
            shows as a return value of 0. TensorFlow ``tf.function``s are
            run eagerly for the duration of the call.
        *args: Positional arguments for ``fn``.
        **kwargs: Keyword arguments for ``fn``.

    Returns:
        The number of weight-norm layers initialised by this call (0 if all
        layers reached by ``fn`` were already initialised).

    Example:

    ```python
    n = initialize_weight_norm(model, x_batch)
    ```
    """
    with _eager_execution(), data_dependent_init() as record:
        fn(*args, **kwargs)
    # A layer called several times is only initialised once, but be safe.
    return len({id(layer) for layer in record})


@contextlib.contextmanager
def _pending(ids):
    previous, _STATE.pending = _STATE.pending, set(ids)
    try:
        yield
    finally:
        _STATE.pending = previous


def initialize_weight_norm_traced(model, fn, *args):
    """:func:`initialize_weight_norm` as one compiled program on JAX.

    Eagerly, JAX compiles every op the first time it runs: hundreds of small
    programs for a deep model (measured on 256 digits: 12–13 s for a small
    BIVA, 31–41 s for the paper's, against 3 s and 8 s traced).
    Here the layers to initialise are decided first (those of `model` with
    ``initialized == 0``), then ``fn(*args)`` is traced once under
    ``jax.jit`` in a ``keras.StatelessScope`` over the model's variables,
    each of those layers initialising itself on its first call, and the new
    values are assigned back: the same values as the eager pass, up to
    float rounding. On TensorFlow and PyTorch, and on JAX where the pass
    cannot be traced (it reads a tensor's value in Python) or a layer is not
    built yet, this is :func:`initialize_weight_norm`.

    Args:
        model: The ``Layer`` or ``Model`` whose layers ``fn`` runs; its
            variables are the state of the traced pass.
        fn: The forward pass, called as ``fn(*args)``.
        *args: Its tensor arguments (traced, not baked into the program).

    Returns:
        The number of weight-norm layers initialised.

    Example:

    ```python
    n = initialize_weight_norm_traced(model, lambda x: model(x), x_batch)
    ```
    """
    layers = uninitialized_weight_norm_layers(model)
    if keras.backend.backend() != "jax" or not layers or not all(layer.built for layer in layers):
        return initialize_weight_norm(fn, *args)
    import jax

    variables, seen = [], set()
    for variable in list(model.variables) + [v for layer in layers for v in layer.variables]:
        if id(variable) not in seen:
            seen.add(id(variable))
            variables.append(variable)
    initialized = []

    def traced(values, *args):
        mapping = list(zip(variables, values))
        with keras.StatelessScope(state_mapping=mapping) as scope, _pending(
            id(layer) for layer in layers
        ), data_dependent_init() as record:
            fn(*args)
        initialized[:] = record
        return [scope.get_current_value(v) for v in variables]

    try:
        new_values = jax.jit(traced)([v.value for v in variables], *args)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
            jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError):
        return initialize_weight_norm(fn, *args)
    for variable, value in zip(variables, new_values):
        if value is not None:
            variable.assign(value)
    return len({id(layer) for layer in initialized})


def uninitialized_weight_norm_layers(model_or_layer):
    """Lists the weight-norm layers that still have ``initialized == 0``.

    Unbuilt weight-norm layers are included (they cannot be initialised yet).

    Args:
        model_or_layer: A Keras ``Layer`` or ``Model``; it is searched
            recursively (including itself).

    Returns:
        A list of layers.

    Example:

    ```python
    assert uninitialized_weight_norm_layers(model) == []
    ```
    """
    from keras_hvae.layers.weight_norm import WeightNormBase

    layers = model_or_layer._flatten_layers(include_self=True, recursive=True)
    return [
        layer
        for layer in layers
        if isinstance(layer, WeightNormBase) and not layer.is_initialized
    ]
