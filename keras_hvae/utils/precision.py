"""Numeric precision by name: `"float32"` or `"bfloat16"` (Keras' `mixed_bfloat16`).

Users type a precision (`keras-hvae train --precision bfloat16`, the
`precision` key of a training config, `Cls.from_preset(..., precision=...)`);
this module maps it to a Keras dtype policy and activates that policy while
a model is built. Under `"bfloat16"` the layers compute in bfloat16 and keep
float32 variables, so one weights file loads in either precision.

A sublayer takes the global dtype policy when it is created, and some blocks
create their sublayers in `build()`, so the policy must be active through
construction *and* build:

    with precision_scope("bfloat16"):
        model = BIVA.from_architecture("binary_28x28")
        model.build()

The module imports Keras only when a scope is entered, so the command line
can list the names without loading a backend.
"""

import contextlib

#: The precisions users type, in the order `--help` lists them.
PRECISIONS = ("float32", "bfloat16")

#: The Keras dtype policy of each precision.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}

#: Keras policy names accepted as aliases of a precision.
ALIASES = {"mixed_bfloat16": "bfloat16"}

#: Training precision when neither the recipe / config nor the command line
#: names one. The one place this default lives (a benchmark decides it).
DEFAULT_TRAINING_PRECISION = "float32"

#: Precision the evaluation commands load presets in unless told otherwise.
DEFAULT_EVALUATION_PRECISION = "float32"


def canonical_precision(precision):
    """The precision name (`"float32"` or `"bfloat16"`) of a name or alias.

    Args:
        precision: `"float32"`, `"bfloat16"`, or a Keras policy name that
            is an alias of one (`"mixed_bfloat16"`).

    Returns:
        The name among `PRECISIONS`.

    Raises:
        ValueError: for any other value, naming the allowed ones.

    Example:
    >>> canonical_precision("mixed_bfloat16")
    'bfloat16'
    """
    if isinstance(precision, str):
        name = ALIASES.get(precision, precision)
        if name in PRECISIONS:
            return name
    allowed = ", ".join(repr(p) for p in PRECISIONS + tuple(ALIASES))
    raise ValueError(f"Unknown precision {precision!r}; allowed: {allowed}.")


def policy_name(precision):
    """The Keras dtype policy name of a precision.

    Example:
    >>> policy_name("bfloat16")
    'mixed_bfloat16'
    """
    return POLICIES[canonical_precision(precision)]


def precision_of(layer_or_policy):
    """The precision name a model (or layer, or dtype policy) computes in.

    Args:
        layer_or_policy: a Keras layer / model, a `keras.DTypePolicy` or a
            policy name.

    Returns:
        `"float32"` or `"bfloat16"`, or the Keras policy name for a policy
        that is neither (e.g. `"mixed_float16"`).

    Example:
    >>> precision_of(keras.layers.Dense(2, dtype="mixed_bfloat16"))
    'bfloat16'
    """
    policy = getattr(layer_or_policy, "dtype_policy", layer_or_policy)
    name = getattr(policy, "name", policy)
    for precision, policy_ in POLICIES.items():
        if name == policy_:
            return precision
    return name


@contextlib.contextmanager
def precision_scope(precision):
    """Sets Keras' global dtype policy to `precision` for the `with` block.

    The previous global policy comes back on exit, also when the block
    raises. Build models (construction *and* `build()`) inside the block:
    their layers keep the policy they were created with.

    Args:
        precision: `"float32"` or `"bfloat16"` (Keras' `mixed_bfloat16`:
            bfloat16 compute, float32 variables); the alias
            `"mixed_bfloat16"` is accepted. None leaves the global policy
            as it is.

    Returns:
        A context manager; `as` gives the precision name in force.

    Raises:
        ValueError: for an unknown precision (checked before anything changes).

    Example:
    >>> from keras_hvae.applications import BIVA
    >>> with precision_scope("bfloat16") as name:
    ...     model = BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[4, 2], layers_per_block=1)
    ...     model.build()
    >>> name, model.compute_dtype, {v.dtype for v in model.weights}
    ('bfloat16', 'bfloat16', {'float32'})
    >>> keras.config.dtype_policy().name
    'float32'
    """
    import keras

    previous = keras.config.dtype_policy()
    if precision is None:
        yield precision_of(previous)
        return
    policy = policy_name(precision)
    keras.config.set_dtype_policy(policy)
    try:
        yield canonical_precision(precision)
    finally:
        keras.config.set_dtype_policy(previous)
