"""Speed and value of the IWAE bound of a shipped preset, float32 vs mixed_bfloat16.

Times `model.iwae_bound(x, num_samples=1000)` on 100 test digits drawn at
random (`np.random.default_rng(0).choice(10000, 100, replace=False)`) from
the MNIST test split, binarised once as the package scores its presets
(`keras_hvae.datasets.registry.test_inputs("binarized_mnist")`: the whole
test split, seed 123), for the preset `biva_binarized_mnist`, loaded once
in float32 and once under the `mixed_bfloat16` global policy (set before
`from_preset`, restored after; the script checks that the loaded weights
equal the float32 ones and that the layers compute in bfloat16).

`iwae_bound` runs `chunk_size` importance samples of every example in one
batched pass (default: all k at once) and splits the examples so that a
pass has at most `model.iwae_max_rows` (10,000) network rows; e.g. k=1000
in one chunk scores 10 digits per pass. `--chunk-size` passes the method's
argument through.

Per policy it prints: the first call's time (1 digit, TensorFlow tracing
included), the median over `--repeats` timed calls on the 100 digits (after
a warm-up on 1 and then 2 digits, so that TensorFlow's `reduce_retracing`
function has its batch-size-agnostic trace and the timed calls trace
nothing; the number of traces during the timed calls is printed), and the
bound as mean +- standard error over the digits (same seed in both
policies). Then the speed ratio and the bound difference (with the paired
standard error), against the issue's targets: >= 3x faster than float32,
within 0.1 nats.

A policy written `float32:unshared` (or `mixed_bfloat16:unshared`) runs
the core's `repeated_forward_terms`, which sends every sample through the
whole network, instead of BIVA's, which runs the first level's
deterministic blocks once per example: the default policies time both in
float32, so one run gives the speed-up of that sharing too.

The backend is whatever `KERAS_BACKEND` says (default tensorflow). Only
TensorFlow compiles the bound (a cached `tf.function`); torch and JAX run
it eagerly.

Usage:
    python benchmarks/iwae_speed.py
    KERAS_BACKEND=torch python benchmarks/iwae_speed.py --num-digits 10 --num-samples 100
    python benchmarks/iwae_speed.py --chunk-size 100 --repeats 3 --json iwae.json
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from keras_hvae.datasets.registry import test_inputs
from keras_hvae.models.biva import BIVA
from keras_hvae.models.hvae import HierarchicalVAE


def load(preset, policy):
    """The preset built and loaded under `policy` (global policy restored
    after); `<policy>:unshared` uses the core's `repeated_forward_terms`."""
    policy, _, variant = policy.partition(":")
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = BIVA.from_preset(preset)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    if variant == "unshared":
        model.repeated_forward_terms = HierarchicalVAE.repeated_forward_terms.__get__(model)
    return model


def compute_dtypes(model):
    return sorted({l.compute_dtype for l in model._flatten_layers(include_self=False, recursive=True) if l.weights})


def tracing_count(model):
    """Traces of the model's cached tf.functions (TensorFlow only, else None)."""
    cache = getattr(model, "_compiled_cache", None)
    if keras.backend.backend() != "tensorflow" or cache is None:
        return None
    return sum(f.experimental_get_tracing_count() for f in cache.values())


def time_bound(model, x, num_samples, chunk_size, repeats, seed=0):
    t = time.perf_counter()
    model.iwae_bound(x[:1], num_samples, chunk_size=chunk_size, seed=seed)
    first = time.perf_counter() - t
    model.iwae_bound(x[:2], num_samples, chunk_size=chunk_size, seed=seed)
    traces = tracing_count(model)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        bound = model.iwae_bound(x, num_samples, chunk_size=chunk_size, seed=seed)
        times.append(time.perf_counter() - t)
    traced = None if traces is None else tracing_count(model) - traces
    return {"first_call_s": first, "seconds": times, "median_s": statistics.median(times),
            "traces_during_timed_calls": traced, "bound": bound}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", default="biva_binarized_mnist")
    p.add_argument("--num-digits", type=int, default=100)
    p.add_argument("--num-samples", type=int, default=1000, help="k of the IWAE bound")
    p.add_argument("--chunk-size", type=int, default=None, help="iwae_bound's chunk_size (default: all k in one pass)")
    p.add_argument("--repeats", type=int, default=1, help="timed calls per policy (median reported)")
    p.add_argument("--policies", default="float32:unshared,float32,mixed_bfloat16")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    index = np.random.default_rng(0).choice(10000, args.num_digits, replace=False)
    x = test_inputs("binarized_mnist")[index]
    results = {"backend": keras.backend.backend(), "preset": args.preset, "num_samples": args.num_samples,
               "chunk_size": args.chunk_size, "num_digits": len(x), "load_average_at_start": os.getloadavg()}
    reference = None
    for policy in args.policies.split(","):
        model = load(args.preset, policy)
        weights = model.get_weights()
        if reference is None:
            reference = weights
        same = len(weights) == len(reference) and all(np.array_equal(a, b) for a, b in zip(weights, reference))
        r = time_bound(model, x, args.num_samples, args.chunk_size, args.repeats)
        b = r.pop("bound")
        r.update(mean=float(np.mean(b)), stderr=float(np.std(b, ddof=1) / np.sqrt(len(b))), per_digit=b.tolist(),
                 weights_equal_first_policy=same, compute_dtypes=compute_dtypes(model))
        results[policy] = r
        print(f"[{policy}] compute dtypes {r['compute_dtypes']}, weights equal to the first policy's: {same}", flush=True)
        del model
    results["load_average_at_end"] = os.getloadavg()

    print(f"\n{args.preset}, backend {results['backend']}: IWAE k={args.num_samples} on {len(x)} random test digits, "
          f"chunk_size={args.chunk_size}, {args.repeats} timed call(s); load average start "
          f"{results['load_average_at_start'][0]:.2f}, end {results['load_average_at_end'][0]:.2f}\n")
    print("| policy | first call, 1 digit (s) | median s per run | traces in timed runs | bound (nats, mean +- s.e.) |")
    print("|---|---|---|---|---|")
    for policy in args.policies.split(","):
        r = results[policy]
        traces = "n/a (eager)" if r["traces_during_timed_calls"] is None else r["traces_during_timed_calls"]
        print(f"| {policy} | {r['first_call_s']:.2f} | {r['median_s']:.2f} | {traces} "
              f"| {r['mean']:.3f} +- {r['stderr']:.3f} |")
    if "float32" in results and "float32:unshared" in results:
        results["sharing_speedup"] = results["float32:unshared"]["median_s"] / results["float32"]["median_s"]
        diff = np.asarray(results["float32"]["per_digit"]) - np.asarray(results["float32:unshared"]["per_digit"])
        print(f"\nfirst level once per example: {results['sharing_speedup']:.2f}x faster in float32; "
              f"bound difference {diff.mean():+.4f} nats (same seed)")
    if "float32:unshared" in results and "mixed_bfloat16" in results:
        results["speedup_over_unshared_float32"] = (results["float32:unshared"]["median_s"]
                                                    / results["mixed_bfloat16"]["median_s"])
        print(f"mixed_bfloat16 with sharing against float32 without: {results['speedup_over_unshared_float32']:.2f}x "
              "(the issue's baseline; target >= 3)")
    if "float32" in results and "mixed_bfloat16" in results:
        f32, bf16 = results["float32"], results["mixed_bfloat16"]
        diff = np.asarray(bf16["per_digit"]) - np.asarray(f32["per_digit"])
        results["speedup"] = f32["median_s"] / bf16["median_s"]
        results["bound_difference"] = float(diff.mean())
        results["bound_difference_stderr"] = float(diff.std(ddof=1) / np.sqrt(len(diff)))
        print(f"\nmixed_bfloat16 speed-up: {results['speedup']:.2f}x (target >= 3)")
        print(f"bound difference (bf16 - fp32): {results['bound_difference']:+.3f} nats "
              f"(paired s.e. {results['bound_difference_stderr']:.3f}; target within 0.1)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
