"""Where the time of one BIVA training step goes, by kind of operation.

Profiles `train_on_batch` of the paper's `binary_28x28` BIVA (batch 48,
`keras_hvae.models.Adamax`, as the recipes train it) with the backend's own
profiler and sums the time of every kernel into a few categories
(convolutions forward / input gradient / weight gradient, transposed
convolutions, dense matmuls, weight normalisation, activations and gates,
other element-wise work, random numbers, casts, concatenations, reductions,
the optimizer update). The shares are what to read: kernel times are thread
times (TensorFlow runs two ops at once on its two inter-op threads), and a
profiler adds its own overhead.

- TensorFlow: `tf.profiler.experimental` (XSpace, the `tf_Compute` lines);
  op categories from the op type and its name scope (a weight-normalised
  layer's scope: `conv1`, `conv2`, `shortcut`, `aux_projection`, heads and
  projections).
- PyTorch: `torch.profiler`, self CPU time of each `aten::` op.
- JAX: `jax.profiler` (XSpace, the XLA CPU thread lines), by the kind of
  XLA thunk (fusions, convolutions, ...): XLA fuses element-wise work into
  its kernels, so categories are XLA's own.

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/profile_step.py --policy mixed_bfloat16
    KERAS_BACKEND=torch python benchmarks/profile_step.py --policy float32
"""

import argparse
import collections
import glob
import os
import re
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

_WN_SCOPE = re.compile(r"(^|/)(conv\d|shortcut|aux_projection|[a-z_]*head[a-z_0-9]*|[a-z_]*projection[a-z_0-9]*)(_\d+)?/")
_RESHAPES = {"ConcatV2", "Split", "SplitV", "Slice", "StridedSlice", "Tile", "Reshape", "Transpose", "Pack",
             "Unpack", "Pad", "Fill", "BroadcastTo"}
_ACTIVATIONS = {"Elu", "EluGrad", "Sigmoid", "SigmoidGrad", "Tanh", "TanhGrad", "Softplus", "SoftplusGrad",
                "Exp", "Log", "Log1p"}


def tf_category(scope, op):
    """The category of one TensorFlow kernel (`scope:op`)."""
    if op.startswith("_MklNativeConv2D") and "conv_transpose" in scope:
        return "transposed convolutions (fwd+bwd)"
    if op.startswith("_MklNativeConv2DBackpropFilter"):
        return "convolutions: weight gradient"
    if op.startswith("_MklNativeConv2DBackpropInput"):
        return "convolutions: input gradient"
    if "Conv2D" in op:
        return "convolutions: forward"
    if "MatMul" in op:
        return "dense matmuls (fwd+bwd)"
    if op == "ResourceApplyAdaMax" or "Assign" in op or op == "ReadVariableOp":
        return "optimizer update, variable reads"
    if op == "Cast":
        return "casts"
    if _WN_SCOPE.search(scope):
        return "weight normalisation: g/||v|| scale, bias, norms (and grads)"
    if op in _RESHAPES:
        return "concat / split / tile / reshape"
    if op.startswith("StatelessRandom") or op.startswith("Random"):
        return "random numbers (dropout, sampling)"
    if op in ("Sum", "Mean", "Max", "Min", "All", "Any", "Prod"):
        return "reductions"
    if op in _ACTIVATIONS:
        return "activations and gates (and grads)"
    return "other element-wise (mul, add, select, ...)"


def torch_category(name):
    """The category of one `aten::` op."""
    if "convolution_backward" in name:
        return "convolutions: backward (input and weight gradients)"
    if "convolution" in name:
        return "convolutions: forward"
    if name in ("aten::mm", "aten::addmm", "aten::bmm"):
        return "dense matmuls"
    if name in ("aten::copy_", "aten::_to_copy", "aten::clone"):
        return "copies and casts (layout transposes, dtype casts)"
    if name in ("aten::cat", "aten::split", "aten::slice", "aten::repeat", "aten::permute"):
        return "concat / split / layout"
    if any(k in name for k in ("elu", "sigmoid", "softplus", "exp", "log", "tanh")):
        return "activations and gates (and grads)"
    if any(k in name for k in ("bernoulli", "uniform", "normal", "rand")):
        return "random numbers"
    if any(k in name for k in ("sum", "mean", "amax", "all", "any", "norm")):
        return "reductions"
    if "_foreach" in name:
        return "optimizer (foreach ops)"
    return "other element-wise (mul, add, div, where, ...)"


def _xspace(directory):
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = sorted(glob.glob(os.path.join(directory, "**", "*.xplane.pb"), recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    return space


def _events(space, line_prefix):
    for plane in space.planes:
        for line in plane.lines:
            if line.name.startswith(line_prefix):
                for event in line.events:
                    yield plane.event_metadata[event.metadata_id].name, event.duration_ps / 1e9


def profile(model, x, steps):
    """`{category: ms per step}` of `steps` profiled training steps."""
    backend = keras.backend.backend()
    totals = collections.Counter()
    if backend == "torch":
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                model.train_on_batch(x)
        for event in prof.key_averages():
            if event.key.startswith("aten::"):
                totals[torch_category(event.key)] += event.self_cpu_time_total / 1e3
    else:
        directory = tempfile.mkdtemp(prefix="profile_step_")
        if backend == "jax":
            import jax

            jax.profiler.start_trace(directory)
            for _ in range(steps):
                model.train_on_batch(x)
            jax.profiler.stop_trace()
            for name, ms in _events(_xspace(directory), "tf_XLAEigen"):
                if not name.startswith("ThunkExecutor"):
                    totals["XLA " + re.sub(r"[.\d]+$", "", name)] += ms
        else:
            import tensorflow as tf

            tf.profiler.experimental.start(directory)
            for _ in range(steps):
                model.train_on_batch(x)
            tf.profiler.experimental.stop()
            for name, ms in _events(_xspace(directory), "tf_Compute"):
                if ":" in name and not name.startswith("ExecutorState"):
                    scope, op = name.rsplit(":", 1)
                    totals[tf_category(scope, op)] += ms
    return {k: v / steps for k, v in totals.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policy", default="float32", choices=("float32", "mixed_bfloat16"))
    p.add_argument("--batch", type=int, default=48)
    p.add_argument("--steps", type=int, default=3, help="profiled steps")
    p.add_argument("--top", type=int, default=14, help="rows to print")
    args = p.parse_args(argv)
    from keras_hvae.models import Adamax
    from keras_hvae.models.biva import BIVA

    keras.mixed_precision.set_global_policy(args.policy)
    try:
        model = BIVA.from_architecture("binary_28x28", seed=0)
        model.build()
        model.compile(optimizer=Adamax(2e-3))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x = (np.random.default_rng(0).uniform(size=(args.batch, 28, 28, 1)) < 0.2).astype("float32")
    model.initialize(x)
    start = time.perf_counter()
    model.train_on_batch(x)
    first = time.perf_counter() - start
    model.train_on_batch(x)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model.train_on_batch(x)
        times.append(time.perf_counter() - start)
    ms = profile(model, x, args.steps)
    total = sum(ms.values())
    print(f"{keras.backend.backend()} {args.policy}: first step {first:.1f} s, median step "
          f"{sorted(times)[1]:.2f} s ({args.batch / sorted(times)[1]:.1f} images/s), load average "
          f"{os.getloadavg()[0]:.1f}")
    print("| category | ms per step | share |\n|---|---|---|")
    for name, value in sorted(ms.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"| {name} | {value:.0f} | {100 * value / total:.0f}% |")
    print(f"| all kernels (thread time) | {total:.0f} | |")


if __name__ == "__main__":
    main()
