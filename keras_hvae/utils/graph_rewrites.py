"""TensorFlow: the models' compiled functions without Grappler's graph rewrites.

TensorFlow optimises a `tf.function`'s graph with Grappler (constant folding,
arithmetic and layout rewrites, op fusions, pruning) when the function is
first called. On the paper's BIVA training step that takes about 6 s of the
first step's 17-18 s and leaves the step's speed unchanged (2.1 s either way
on this CPU, float32 and bfloat16: the convolutions are oneDNN kernels with
or without it). So the models call their own compiled functions (Keras'
train, test and predict functions, the bounds and samplers) with Grappler's
meta-optimizer off, through TensorFlow's per-thread function-call options:
nothing global changes, and the user's own functions are optimised as usual.

Every call of a function must use the same options: TensorFlow instantiates a
function once per options, so a function called once without rewrites and
then with them is optimised on its second call.
"""

import contextlib
import functools

import keras

__all__ = ["graph_rewrites_off", "without_graph_rewrites"]

_WRAPPED = "_keras_hvae_without_graph_rewrites"


@contextlib.contextmanager
def graph_rewrites_off():
    """On TensorFlow, functions called inside (on this thread) are not
    rewritten by Grappler; elsewhere, and where TensorFlow's private
    function-call options are missing, nothing changes.

    Example:

    ```python
    with graph_rewrites_off():
        loss = model.train_on_batch(x)
    ```
    """
    if keras.backend.backend() != "tensorflow":
        yield
        return
    try:
        from tensorflow.core.protobuf import config_pb2
        from tensorflow.python.eager import context
    except ImportError:  # pragma: no cover - private API moved
        yield
        return
    ctx = context.context()
    previous = ctx.function_call_options
    config = config_pb2.ConfigProto()
    config.ParseFromString(previous.config_proto_serialized)
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    ctx.function_call_options = context.FunctionCallOptions(
        executor_type=previous.executor_type, config_proto=config
    )
    try:
        yield
    finally:
        ctx.function_call_options = previous


def without_graph_rewrites(fn):
    """`fn` called inside :func:`graph_rewrites_off` (on TensorFlow; `fn`
    itself elsewhere, for None, or when it is wrapped already).

    Args:
        fn: a callable, typically a `tf.function` or a Keras trainer's
            `train_function`.

    Returns:
        The wrapped callable.

    Example:

    ```python
    import tensorflow as tf

    square = without_graph_rewrites(tf.function(lambda t: t * t))
    print(float(square(3.0)))  # 9.0
    ```
    """
    if fn is None or keras.backend.backend() != "tensorflow" or getattr(fn, _WRAPPED, False):
        return fn

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with graph_rewrites_off():
            return fn(*args, **kwargs)

    setattr(wrapped, _WRAPPED, True)
    return wrapped
