"""Running model code under explicit variable values (all backends).

Two MatNet features need to read variables through values chosen by the
caller, with `keras.StatelessScope`:

* `call_with_frozen_variables` — the inference regulariser (Eq. 13) computes
  an ELBO whose gradient must reach the inference networks only: the
  generator's variables are read through ``stop_gradient`` of their values.
* `seeded_fori_loop` — pixel-by-pixel sampling inside ``keras.ops.fori_loop``
  draws fresh random numbers at every step. A `SeedGenerator` cannot update
  its state inside a traced JAX loop body (the state would leak a tracer and
  every step would reuse one seed), so the state is carried through the loop
  explicitly instead.

Only the innermost StatelessScope is consulted when a variable is read, so
both helpers map every variable the wrapped code reads to its current value
(read before entering: under JAX's stateless train step that is the traced
value), and copy updated non-trainable state (seed-generator states) back.
"""

import keras
from keras import ops


def _current_values(variables):
    seen = set()
    pairs = []
    for v in variables:
        if id(v) in seen:
            continue
        seen.add(id(v))
        pairs.append((v, v.value))
    return pairs


def call_with_frozen_variables(variables, frozen, fn, extra_state=()):
    """Runs ``fn()`` with ``frozen`` variables read through ``stop_gradient``.

    Args:
        variables: every variable ``fn`` reads (e.g. ``model.variables``).
        frozen: the subset that must get no gradient from ``fn``'s outputs.
        fn: a zero-argument callable.
        extra_state: more variables (e.g. the state of a `SeedGenerator`
            that is not tracked by the model) whose updates are kept.

    Returns:
        What ``fn`` returns. Updates that ``fn`` makes to variables (seed
        states) are applied after the scope.
    """
    frozen_ids = {id(v) for v in frozen}
    pairs = _current_values(list(variables) + list(extra_state))
    mapping = [(v, ops.stop_gradient(val) if id(v) in frozen_ids else val) for v, val in pairs]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        before = dict(scope.state_mapping)
        out = fn()
    for v, _ in pairs:
        new = scope.get_current_value(v)
        if new is not None and new is not before.get(id(v)):
            v.assign(new)
    return out


def seeded_fori_loop(lower, upper, body, init, seed_generator, variables):
    """``ops.fori_loop`` whose body may draw from ``seed_generator``.

    Args:
        lower, upper: loop bounds (ints).
        body: ``body(i, carry) -> carry``; it may call `keras.random`
            functions with ``seed=seed_generator``.
        init: the initial carry.
        seed_generator: a `keras.random.SeedGenerator`.
        variables: every variable the body reads (e.g. a layer's
            ``variables``).

    Returns:
        The final carry; the generator's state is advanced as if the body
        had run eagerly.
    """
    pairs = _current_values(variables)
    state_var = seed_generator.state

    def step(i, packed):
        carry, state = packed
        with keras.StatelessScope(state_mapping=pairs + [(state_var, state)]) as scope:
            carry = body(i, carry)
            new_state = scope.get_current_value(state_var)
        return carry, new_state

    carry, state = ops.fori_loop(lower, upper, step, (init, state_var.value))
    state_var.assign(state)
    return carry
