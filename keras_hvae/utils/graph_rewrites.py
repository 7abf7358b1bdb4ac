"""TensorFlow: the models' compiled functions with a lighter Grappler pass.

TensorFlow optimises a `tf.function`'s graph with Grappler when the function
is first called. On the paper's BIVA training step (19,000 graph nodes) four
parts of that pass cost time and buy nothing on a CPU:

* the memory optimizer (3.5 s of the first step on the 2-core reference
  machine): its scheduling pass turns gradient sums (`AddN`) into in-place
  accumulations and its swapping pass moves tensors to host memory, both
  for GPUs; the step's peak memory is the same without it;
* the second round of the meta-optimizer (about 2 s), which changes fewer
  than 0.5% of the nodes the first round left;
* on a machine without a GPU, the layout optimizer (0.4 s): it converts
  convolutions between NHWC and NCHW for GPUs, and every layer here is
  NHWC already;
* the TFG (MLIR) passes (0.5-0.7 s): attribute consolidation,
  topological sorting, shape inference for export, and sinking ops into
  the branches of conditionals, of which the train step has none.

So the models call their own compiled functions (Keras' train, test and
predict functions, the bounds and samplers) with the memory optimizer off,
one meta-optimizer round, no TFG passes and (without a GPU) no layout
optimizer, through TensorFlow's per-thread function-call
options: nothing global changes, the user's own functions are optimised as
usual, and every other rewrite (pruning, constant folding, the oneDNN
fusions, function inlining) still runs. Turning the whole meta-optimizer off
was tried: it saved more time but kept every function un-inlined and about
doubled the memory a process of many models holds.

Every call of a function must use the same options: TensorFlow instantiates a
function once per options, so a function called once with these options and
then without would be optimised again on its second call.
"""

import contextlib
import functools

import keras

__all__ = ["lighter_graph_rewrites", "with_lighter_graph_rewrites"]

_WRAPPED = "_keras_hvae_lighter_graph_rewrites"


def _lighten(rewrite_options):
    """Sets the lighter pass on a `RewriterConfig` (in place)."""
    from tensorflow.core.protobuf import rewriter_config_pb2

    rewrite_options.memory_optimization = rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
    rewrite_options.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    rewrite_options.disable_tfg_optimizer = True
    if not _has_gpu():
        rewrite_options.layout_optimizer = rewriter_config_pb2.RewriterConfig.OFF


@functools.lru_cache(maxsize=None)
def _has_gpu():
    """Whether TensorFlow sees a GPU (the layout optimizer's only use)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


@contextlib.contextmanager
def lighter_graph_rewrites():
    """On TensorFlow, functions first called inside (on this thread) are
    optimised without Grappler's memory optimizer and with one
    meta-optimizer round; elsewhere, and where TensorFlow's private
    function-call options are missing, nothing changes.

    Example:

    ```python
    with lighter_graph_rewrites():
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
    _lighten(config.graph_options.rewrite_options)
    ctx.function_call_options = context.FunctionCallOptions(
        executor_type=previous.executor_type, config_proto=config
    )
    try:
        yield
    finally:
        ctx.function_call_options = previous


def with_lighter_graph_rewrites(fn):
    """`fn` called inside :func:`lighter_graph_rewrites` (on TensorFlow;
    `fn` itself elsewhere, for None, or when it is wrapped already).

    Args:
        fn: a callable, typically a `tf.function` or a Keras trainer's
            `train_function`.

    Returns:
        The wrapped callable.

    Example:

    ```python
    import tensorflow as tf

    square = with_lighter_graph_rewrites(tf.function(lambda t: t * t))
    print(float(square(3.0)))  # 9.0
    ```
    """
    if fn is None or keras.backend.backend() != "tensorflow" or getattr(fn, _WRAPPED, False):
        return fn

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with lighter_graph_rewrites():
            return fn(*args, **kwargs)

    setattr(wrapped, _WRAPPED, True)
    return wrapped
