"""Training throughput of the paper's binary-image BIVA (Appendix C), per
Keras backend and dtype policy.

The parent process imports no backend: it launches one child process per
backend x policy (`KERAS_BACKEND` set in the child's environment, so no
tracing or compilation cache is shared), collects the JSON each child
writes and prints one Markdown table plus the headline ratios.

Each child (`--child BACKEND POLICY`) measures, through the public API
(`BIVA.from_architecture("binary_28x28")`, `build()`,
`compile(optimizer=keras_hvae.models.Adamax(2e-3))` (what the recipes use), `initialize(x)`,
`train_on_batch`) at batch `--batch` (48) on binarised MNIST training
digits:

1. the first step: the wall time of the first `train_on_batch` call after
   `initialize` (tracing / compilation included), and beside it the wall
   times of `build()` (with `compile`) and of `initialize` on one batch, the
   rest of the time before the first update;
2. after `--warmup-steps` further untimed steps, the wall time of each of
   `--timed-steps` steps (the loss is fetched to the host, so the step has
   finished), each followed at once by a matrix-product probe: the rate of
   a 2048 x 2048 product with the same backend in the policy's compute
   dtype (float32 for float32, bfloat16 for mixed_bfloat16; TF:
   `tf.matmul` in a `tf.function`; torch: `torch.matmul` under
   `torch.no_grad()`; JAX: `jax.jit(jnp.matmul)` + `block_until_ready`;
   best of 3 products). The machine is shared, so each step is set against
   the matmul rate of the same moment, and the reported fraction is the
   median of the per-step fractions;
3. the FLOPs of one training step, counted from the layer shapes: every
   weight-normalised convolution / dense layer is recorded during one eager
   forward pass (`2 * MACs` per call; transposed convolutions count the
   MACs of their input grid), and a training step is taken as 3x the
   forward pass (forward + backward w.r.t. activations and weights).
   Counted: the products of the weight-normalised layers only. Not counted:
   element-wise work (activations, gates, weight normalisation itself,
   norms, sampling, the KL terms, the likelihood) and the optimizer update,
   so the achieved rate is slightly understated. The count depends on
   shapes only and is the same on every backend (the parent checks this).

With `--bound-steps N` (default 100; 0 skips it) a child per backend of
`--bound-backends` (default: tensorflow) trains a reduced-width model
(`--bound-filters`, one layer per block) for N identical steps (same data
order, same seeds) in float32 and in mixed_bfloat16, then reports the test
ELBO of each (evaluated in its own policy).

Headline figures (issue 11): (fastest backend's mixed_bfloat16 images/s) /
(TensorFlow float32 images/s), target >= 3; that row's fraction of the
bfloat16 matmul rate, target >= 0.5; each backend's float32 step time over
TensorFlow's, target <= 1.5.

Usage:
    python benchmarks/biva_throughput.py                        # all backends x policies, ~10 min
    python benchmarks/biva_throughput.py --timed-steps 3 --warmup-steps 1 --bound-steps 0   # quicker
    python benchmarks/biva_throughput.py --backends torch,jax --policies mixed_bfloat16 --json out.json

A child that fails or runs past `--timeout` seconds is reported in the
table with the last line of its error output; the run goes on.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "torch", "jax")
POLICIES = ("float32", "mixed_bfloat16")
MATMUL_N = 2048


# ------------------------------------------------------------ matmul probes
def _tensorflow_matmul(n, dtype):
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    mm = tf.function(lambda a, b: tf.matmul(a, b))
    return lambda: mm(a, b).numpy()


def _torch_matmul(n, dtype):
    import torch

    a = torch.randn(n, n).to(getattr(torch, dtype))
    b = torch.randn(n, n).to(getattr(torch, dtype))

    def run():
        with torch.no_grad():
            torch.matmul(a, b)

    return run


def _jax_matmul(n, dtype):
    import jax
    import jax.numpy as jnp

    ka, kb = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(ka, (n, n)).astype(dtype)
    b = jax.random.normal(kb, (n, n)).astype(dtype)
    mm = jax.jit(jnp.matmul)
    return lambda: mm(a, b).block_until_ready()


MATMULS = {"tensorflow": _tensorflow_matmul, "torch": _torch_matmul, "jax": _jax_matmul}


class MatmulProbe:
    """GFLOP/s of an n x n product of `dtype` on `backend` (best of `repeats`)."""

    def __init__(self, backend, dtype, n=MATMUL_N):
        self.n = n
        self.run = MATMULS[backend](n, dtype)
        self.run()  # trace / compile

    def gflops(self, repeats=3):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            self.run()
            times.append(time.perf_counter() - t)
        return 2.0 * self.n**3 / min(times) / 1e9


# ------------------------------------------------------------- the children
def count_forward_flops(model, x):
    """FLOPs (2 * MACs) of one forward pass per example, from layer shapes."""
    import numpy as np
    from keras import ops

    from keras_hvae.layers import (
        WeightNormBase,
        WeightNormConv2DTranspose,
        WeightNormDense,
    )

    layers = [l for l in model._flatten_layers(include_self=False, recursive=True) if isinstance(l, WeightNormBase)]
    macs = []

    def wrap(layer):
        original = layer._project

        def project(inputs, v):
            y = original(inputs, v)
            kshape = tuple(v.shape)
            if isinstance(layer, WeightNormDense):
                n = int(np.prod(inputs.shape[1:-1])) if len(inputs.shape) > 2 else 1
                macs.append(n * kshape[0] * kshape[1])
            elif isinstance(layer, WeightNormConv2DTranspose):
                kh, kw, cout, cin = kshape
                macs.append(int(inputs.shape[1] * inputs.shape[2]) * kh * kw * cin * cout)
            else:
                kh, kw, cin, cout = kshape
                macs.append(int(y.shape[1] * y.shape[2]) * kh * kw * cin * cout)
            return y

        layer._project = project
        return original

    originals = [(layer, wrap(layer)) for layer in layers]
    try:
        model.forward_terms(ops.convert_to_tensor(x[:1]), training=False)
    finally:
        for layer, original in originals:
            layer._project = original
    return 2.0 * float(sum(macs))


def binarized_digits(n, seed=0, split="train"):
    """Real binarised MNIST digits if the file is there, else random bits."""
    import numpy as np

    rng = np.random.default_rng(seed)
    try:
        from keras_hvae.datasets import load_mnist

        grey = load_mnist()[split][0][:n]
        source = "MNIST"
    except Exception:  # noqa: BLE001 (offline without the file: throughput does not care)
        grey = np.full((n, 28, 28, 1), 0.15, "float32")
        source = "random bits (MNIST not found)"
    return (rng.uniform(size=grey.shape) < grey).astype("float32"), source


def build(policy, seed=0, **overrides):
    import keras

    from keras_hvae.models import Adamax
    from keras_hvae.models.biva import BIVA

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = BIVA.from_architecture("binary_28x28", seed=seed, **overrides)
        # Build while the policy is active: the gated blocks create their
        # shortcut convolutions in build(), under the policy of that moment.
        model.build()
        model.compile(optimizer=Adamax(2e-3))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model


def threads(backend):
    if backend == "tensorflow":
        import tensorflow as tf

        return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    if backend == "torch":
        import torch

        return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    return {"xla_flags": os.environ.get("XLA_FLAGS", "")}


def child_throughput(backend, policy, args):
    import keras
    import numpy as np

    assert keras.backend.backend() == backend, (keras.backend.backend(), backend)
    out = {"backend": backend, "policy": policy, "load_average_at_start": os.getloadavg(),
           "threads": threads(backend), "versions": {"keras": keras.__version__}}
    x, out["data"] = binarized_digits(max(4 * args.batch, 600))
    batch = args.batch
    keras.utils.set_random_seed(0)
    t = time.perf_counter()
    model = build(policy)
    out["build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model.initialize(x[:batch])
    out["initialize_s"] = time.perf_counter() - t

    t = time.perf_counter()
    float(model.train_on_batch(x[:batch], return_dict=True)["loss"])
    out["first_step_s"] = time.perf_counter() - t
    for _ in range(args.warmup_steps):
        model.train_on_batch(x[:batch])

    probe = MatmulProbe(backend, probe_dtype(policy))
    times, matmul = [], []
    for i in range(args.timed_steps):
        xb = x[(i * batch) % (len(x) - batch):][:batch]
        t = time.perf_counter()
        float(model.train_on_batch(xb, return_dict=True)["loss"])
        times.append(time.perf_counter() - t)
        matmul.append(probe.gflops())

    flops_fwd = count_forward_flops(model, x)
    step_gflop = 3.0 * flops_fwd * batch / 1e9
    fractions = [step_gflop / t / m for t, m in zip(times, matmul)]
    median = statistics.median(times)
    out.update({
        "params": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
        "gflop_forward_per_image": flops_fwd / 1e9,
        "gflop_train_step_per_image": 3.0 * flops_fwd / 1e9,
        "step_seconds": times, "median_step_s": median, "images_per_s": batch / median,
        "achieved_gflops": step_gflop / median, "matmul_dtype": probe_dtype(policy),
        "matmul_gflops_beside_steps": matmul, "matmul_gflops_median": statistics.median(matmul),
        "fractions_of_matmul": fractions, "fraction_of_matmul": statistics.median(fractions),
        "load_average_at_end": os.getloadavg(),
    })
    return out


def probe_dtype(policy):
    return "float32" if policy == "float32" else "bfloat16"


def child_bound(backend, args):
    """Test ELBO after the same short training run in both policies."""
    import keras
    import numpy as np

    x_train, _ = binarized_digits(max(4 * args.batch, 600))
    x_test, _ = binarized_digits(500, seed=1, split="test")
    out = {"backend": backend, "steps": args.bound_steps, "filters": args.bound_filters}
    for policy in POLICIES:
        keras.utils.set_random_seed(1)
        model = build(policy, seed=1, filters=args.bound_filters, layers_per_block=1)
        model.initialize(x_train[:args.batch])
        for i in range(args.bound_steps):
            start = (i * args.batch) % (len(x_train) - args.batch)
            model.train_on_batch(x_train[start:start + args.batch])
        out[policy] = float(np.mean(model.elbo(x_test, seed=0)))
    return out


# --------------------------------------------------------------- the parent
def run_child(backend, task, args):
    """Runs `--child backend task` in a fresh process; returns its JSON dict,
    or `{"error": ...}` with the last line of its output."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, os.path.abspath(__file__), "--child", backend, task, "--json-out", path,
           "--batch", str(args.batch), "--warmup-steps", str(args.warmup_steps),
           "--timed-steps", str(args.timed_steps), "--bound-steps", str(args.bound_steps),
           "--bound-filters", str(args.bound_filters)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=args.timeout, check=False)
        if proc.returncode != 0:
            lines = [l for l in (proc.stderr + proc.stdout).splitlines() if l.strip()]
            return {"error": f"exit {proc.returncode}: {lines[-1] if lines else ''}"}
        with open(path) as f:
            result = json.load(f)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    finally:
        os.remove(path)
    result["child_wall_s"] = time.perf_counter() - started
    return result


def headline(rows):
    """The issue's ratios from the successful rows (None where a row is missing)."""
    ok = {(r["backend"], r["policy"]): r for r in rows if "error" not in r}
    tf32 = ok.get(("tensorflow", "float32"))
    bf16 = [r for (b, p), r in ok.items() if p == "mixed_bfloat16"]
    fastest = max(bf16, key=lambda r: r["images_per_s"]) if bf16 else None
    out = {"fastest_bf16_backend": fastest and fastest["backend"]}
    out["bf16_speedup_over_tf_float32"] = (fastest["images_per_s"] / tf32["images_per_s"]) if fastest and tf32 else None
    out["bf16_fraction_of_bf16_matmul"] = fastest["fraction_of_matmul"] if fastest else None
    out["float32_step_time_over_tf"] = {b: ok[(b, "float32")]["median_step_s"] / tf32["median_step_s"]
                                        for b in BACKENDS if tf32 and (b, "float32") in ok}
    flops = {round(r["gflop_forward_per_image"], 9) for r in ok.values()}
    out["flop_count_same_on_all_backends"] = len(flops) <= 1
    return out


def fmt(value, spec=".2f"):
    return "n/a" if value is None else format(value, spec)


def report(results, args):
    rows = results["rows"]
    ok = [r for r in rows if "error" not in r]
    if ok:
        r = ok[0]
        print(f"\nBIVA binary_28x28 (L=6, M=3, 64 filters), {r['params'] / 1e6:.2f}M parameters, batch {args.batch}, "
              f"data: {r['data']}; {args.warmup_steps} warm-up + {args.timed_steps} timed steps")
        print(f"FLOPs per image (weight-normalised layers only): forward {r['gflop_forward_per_image']:.3f} GFLOP, "
              f"training step {r['gflop_train_step_per_image']:.3f} GFLOP"
              f"{'' if results['headline']['flop_count_same_on_all_backends'] else '  (WARNING: differs between backends)'}")
    la0, la1 = results["load_average_at_start"], results["load_average_at_end"]
    print(f"load average (1/5/15 min): start {la0[0]:.2f}/{la0[1]:.2f}/{la0[2]:.2f}, "
          f"end {la1[0]:.2f}/{la1[1]:.2f}/{la1[2]:.2f}; {os.cpu_count()} CPUs\n")
    print("| backend | policy | build (s) | initialize (s) | first step (s) | median step (s) | images/s "
          "| achieved GFLOP/s | same-dtype matmul GFLOP/s beside the steps (median) | fraction (median over steps) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['backend']} | {r['policy']} | failed: {r['error'].replace('|', '/')} | | | | | | | |")
        else:
            print(f"| {r['backend']} | {r['policy']} | {r['build_s']:.1f} | {r['initialize_s']:.1f} "
                  f"| {r['first_step_s']:.1f} | {r['median_step_s']:.3f} "
                  f"| {r['images_per_s']:.1f} | {r['achieved_gflops']:.1f} "
                  f"| {r['matmul_gflops_median']:.1f} ({r['matmul_dtype']}) | {r['fraction_of_matmul']:.3f} |")
    h = results["headline"]
    print(f"\nfastest mixed_bfloat16 ({h['fastest_bf16_backend']}) images/s / TensorFlow float32 images/s: "
          f"{fmt(h['bf16_speedup_over_tf_float32'])} (target >= 3)")
    print(f"that row's fraction of the bfloat16 matmul rate: {fmt(h['bf16_fraction_of_bf16_matmul'], '.3f')} (target >= 0.5)")
    for b, v in h["float32_step_time_over_tf"].items():
        print(f"{b} float32 step time / TensorFlow float32: {v:.2f} (target <= 1.5)")
    for b in results.get("bound", {}).values():
        if "error" in b:
            print(f"bound check ({b['backend']}): failed: {b['error']}")
        else:
            print(f"test ELBO after {b['steps']} identical steps ({b['backend']}, {b['filters']} filters, M=1): "
                  f"float32 {b['float32']:.2f} nats, mixed_bfloat16 {b['mixed_bfloat16']:.2f} nats "
                  f"(difference {b['mixed_bfloat16'] - b['float32']:+.2f})")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated Keras backends")
    p.add_argument("--policies", default=",".join(POLICIES), help="comma-separated dtype policies")
    p.add_argument("--batch", type=int, default=48)
    p.add_argument("--warmup-steps", type=int, default=1, help="untimed steps after the (timed) first step")
    p.add_argument("--timed-steps", type=int, default=5)
    p.add_argument("--bound-steps", type=int, default=100, help="training steps of the bf16-vs-fp32 bound check (0 skips it)")
    p.add_argument("--bound-filters", type=int, default=16)
    p.add_argument("--bound-backends", default="tensorflow", help="comma-separated backends of the bound check")
    p.add_argument("--timeout", type=float, default=600, help="seconds per child process")
    p.add_argument("--json", default=None, help="write all numbers to this file")
    p.add_argument("--child", nargs=2, metavar=("BACKEND", "POLICY"), help=argparse.SUPPRESS)
    p.add_argument("--json-out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        backend, task = args.child
        result = child_bound(backend, args) if task == "bound" else child_throughput(backend, task, args)
        with open(args.json_out, "w") as f:
            json.dump(result, f, default=float)
        return result

    results = {"load_average_at_start": os.getloadavg(), "rows": []}
    for backend in args.backends.split(","):
        for policy in args.policies.split(","):
            print(f"[{backend} {policy}] ...", end=" ", flush=True)
            row = {"backend": backend, "policy": policy, **run_child(backend, policy, args)}
            print(row.get("error") or f"{row['child_wall_s']:.0f} s", flush=True)
            results["rows"].append(row)
    if args.bound_steps:
        for backend in args.bound_backends.split(","):
            print(f"[{backend} bound check] ...", end=" ", flush=True)
            row = {"backend": backend, **run_child(backend, "bound", args)}
            print(row.get("error") or f"{row['child_wall_s']:.0f} s", flush=True)
            results.setdefault("bound", {})[backend] = row
    results["load_average_at_end"] = os.getloadavg()
    results["headline"] = headline(results["rows"])
    report(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=float)
    return results


if __name__ == "__main__":
    main()
