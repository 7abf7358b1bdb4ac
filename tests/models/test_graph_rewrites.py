"""On TensorFlow the models call their compiled functions with a lighter
Grappler pass (`keras_hvae.utils.graph_rewrites`, issue 11's first step: no
memory optimizer, one meta-optimizer round): the options are set on this
thread's function-call options for the call only and restored after it (also
after an error), the other rewrites stay on, the results do not change, and
Keras' train / test / predict functions and the models' own compiled bounds
are all called that way (each function must always be called with the same
options, or TensorFlow optimises it again)."""

import keras
import numpy as np
import pytest

from keras_hvae.utils.graph_rewrites import lighter_graph_rewrites, with_lighter_graph_rewrites

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="Grappler is TensorFlow's")


def _rewrite_options():
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    config = config_pb2.ConfigProto()
    config.ParseFromString(context.context().function_call_options.config_proto_serialized)
    return config.graph_options.rewrite_options


def _lighter_pass_on():
    """True inside the lighter pass: no memory optimizer, one round, no TFG
    passes, no layout optimizer without a GPU, and nothing else changed (the
    meta-optimizer itself stays on)."""
    from tensorflow.core.protobuf import rewriter_config_pb2

    options = _rewrite_options()
    lighter = (options.memory_optimization == rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
               and options.meta_optimizer_iterations == rewriter_config_pb2.RewriterConfig.ONE)
    if lighter:
        assert not options.disable_meta_optimizer
        assert options.constant_folding == rewriter_config_pb2.RewriterConfig.DEFAULT
        assert options.remapping == rewriter_config_pb2.RewriterConfig.DEFAULT
        assert options.function_optimization == rewriter_config_pb2.RewriterConfig.DEFAULT
        import tensorflow as tf

        # the layout optimizer (NHWC <-> NCHW for GPUs) is off only where no GPU is seen
        gpu = bool(tf.config.list_physical_devices("GPU"))
        assert (options.layout_optimizer == rewriter_config_pb2.RewriterConfig.OFF) is not gpu
        assert options.disable_tfg_optimizer
    return lighter


def test_the_option_holds_inside_and_is_restored_after_a_call_and_an_error():
    from tensorflow.python.eager import context

    before = context.context().function_call_options
    assert not _lighter_pass_on()
    with lighter_graph_rewrites():
        assert _lighter_pass_on()
    assert context.context().function_call_options is before and not _lighter_pass_on()
    with pytest.raises(ZeroDivisionError):
        with lighter_graph_rewrites():
            1 / 0
    assert context.context().function_call_options is before


def test_a_wrapped_function_gives_the_same_result_and_wraps_once():
    import tensorflow as tf

    seen = []

    def body(t):
        seen.append(_lighter_pass_on())  # runs while tracing, i.e. inside the first call
        return tf.reduce_sum(tf.math.log1p(t * t)) + tf.constant(2.0) * 3.0

    x = np.linspace(-2, 2, 50).astype("float32")
    wrapped = with_lighter_graph_rewrites(tf.function(body))
    np.testing.assert_allclose(float(wrapped(x)), float(tf.function(body)(x)), rtol=1e-6)
    assert seen == [True, False]
    assert with_lighter_graph_rewrites(wrapped) is wrapped
    assert with_lighter_graph_rewrites(None) is None


def test_the_models_call_their_compiled_functions_with_the_lighter_pass():
    from keras_hvae.models.biva import BIVA

    model = BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[4, 2], layers_per_block=1, seed=0)
    x = (np.random.default_rng(0).uniform(size=(8, 28, 28, 1)) < 0.3).astype("float32")
    model.compile(optimizer="adam")
    model.initialize(x)
    model.train_on_batch(x)
    model.evaluate(x, verbose=0)
    model.predict(x, verbose=0)
    model.elbo(x, seed=0)
    for fn in [model.train_function, model.test_function, model.predict_function,
               *model._compiled_cache.values()]:
        assert getattr(fn, "_keras_hvae_lighter_graph_rewrites", False), fn
    assert len(model._compiled_cache) >= 1
    model.make_train_function(force=True)  # a new function is wrapped too
    assert getattr(model.train_function, "_keras_hvae_lighter_graph_rewrites", False)
