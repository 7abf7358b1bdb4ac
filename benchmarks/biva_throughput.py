"""Training throughput of the paper's binary-image BIVA (Appendix C).

Measures, in one process on this machine:

1. the fp32 rate of a 2048 x 2048 matrix product (the reference peak);
2. the FLOPs of one BIVA training step, counted from the layer shapes: every
   weight-normalised convolution / dense layer is recorded during one eager
   forward pass (`2 * MACs` per call; transposed convolutions count the
   MACs of their input grid), and a training step is taken as 3x the
   forward pass (forward + backward w.r.t. activations and weights);
   element-wise work (activations, gates, norms, the likelihood) is not
   counted, so the achieved rate is slightly understated;
3. images/s of `train_on_batch` at batch 48 (median over timed steps after
   warm-up) in float32 and with `mixed_bfloat16`, and the achieved FLOP rate
   as a fraction of the matmul rate measured right after each step (median
   over steps, so that a changing load on a shared machine moves numerator
   and denominator together);
4. the effect of `mixed_bfloat16` on the bound: the same short training run
   (same data order, same seeds) of a reduced-width model in both policies,
   then the test ELBO of each (evaluated in its own policy).

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/biva_throughput.py
    python benchmarks/biva_throughput.py --timed-steps 3 --bound-steps 0   # quicker

Prints a table (and `--json PATH` writes the numbers).
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402


class MatmulProbe:
    """fp32 GFLOP/s of an n x n matrix product (backend: TensorFlow).

    Called between training steps too, so that every step's rate is set
    against the matmul rate of the same moment (the machine is shared: a
    ratio of two figures taken minutes apart under a changing load is not).
    """

    def __init__(self, n=2048):
        import tensorflow as tf

        self.n = n
        self.a = tf.random.normal((n, n), dtype=tf.float32)
        self.b = tf.random.normal((n, n), dtype=tf.float32)
        self.mm = tf.function(lambda a, b: tf.matmul(a, b))
        self.mm(self.a, self.b).numpy()

    def gflops(self, repeats=3):
        """The best of `repeats` products, in GFLOP/s."""
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            self.mm(self.a, self.b).numpy()
            times.append(time.perf_counter() - t)
        return 2.0 * self.n**3 / min(times) / 1e9


def matmul_rate(repeats=10):
    """(median, best) fp32 GFLOP/s of a 2048^2 product over `repeats` single runs."""
    probe = MatmulProbe()
    rates = [probe.gflops(1) for _ in range(repeats)]
    return statistics.median(rates), max(rates)


def count_forward_flops(model, x):
    """FLOPs (2 * MACs) of one forward pass per example, from layer shapes."""
    from keras_hvae.layers import WeightNormBase, WeightNormConv2DTranspose, WeightNormDense

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
    rng = np.random.default_rng(seed)
    try:
        from keras_hvae.datasets import load_mnist

        grey = load_mnist()[split][0][:n]
        source = "MNIST"
    except Exception:  # offline without the file: throughput does not care
        grey = np.full((n, 28, 28, 1), 0.15, "float32")
        source = "random bits (MNIST not found)"
    return (rng.uniform(size=grey.shape) < grey).astype("float32"), source


def build(policy, seed=0, **overrides):
    from keras_hvae.models.biva import BIVA

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = BIVA.from_architecture("binary_28x28", seed=seed, **overrides)
        # Build while the policy is active: the gated blocks create their
        # shortcut convolutions in build(), under the policy of that moment.
        model.build()
        model.compile(optimizer=keras.optimizers.Adamax(2e-3))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model


def time_training(policy, x, batch, warmup, timed, probe):
    """Per-step wall times, each followed by a matmul-rate probe."""
    keras.utils.set_random_seed(0)
    model = build(policy)
    model.initialize(x[:batch])
    xb = x[:batch]
    for _ in range(warmup):
        model.train_on_batch(xb)
    times, matmul = [], []
    for i in range(timed):
        xb = x[(i * batch) % (len(x) - batch):][:batch]
        t = time.perf_counter()
        logs = model.train_on_batch(xb, return_dict=True)
        float(logs["loss"])
        times.append(time.perf_counter() - t)
        matmul.append(probe.gflops())
    return model, times, matmul


def bound_after_training(policy, x_train, x_test, steps, batch, filters):
    keras.utils.set_random_seed(1)
    model = build(policy, seed=1, filters=filters, layers_per_block=1)
    model.initialize(x_train[:batch])
    for i in range(steps):
        start = (i * batch) % (len(x_train) - batch)
        model.train_on_batch(x_train[start:start + batch])
    return float(np.mean(model.elbo(x_test, seed=0)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=48)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--timed-steps", type=int, default=5)
    p.add_argument("--bound-steps", type=int, default=100, help="training steps of the bf16-vs-fp32 bound check (0 skips it)")
    p.add_argument("--bound-filters", type=int, default=16)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        sys.exit("run with KERAS_BACKEND=tensorflow (the matmul reference and FLOP count use TF).")
    import tensorflow as tf

    results = {
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(), "cpus": os.cpu_count()},
        "load_average_at_start": os.getloadavg(),
    }
    mm_median, mm_best = matmul_rate()
    results["matmul_gflops_median"], results["matmul_gflops_best"] = mm_median, mm_best

    x, source = binarized_digits(max(4 * args.batch, 600))
    results["data"] = source
    probe = build("float32")
    flops_fwd = count_forward_flops(probe, x)
    results["params"] = int(sum(np.prod(v.shape) for v in probe.trainable_variables))
    del probe
    flops_step_per_image = 3.0 * flops_fwd
    results["gflop_forward_per_image"] = flops_fwd / 1e9
    results["gflop_train_step_per_image"] = flops_step_per_image / 1e9

    rows = []
    probe = MatmulProbe()
    for policy in ("float32", "mixed_bfloat16"):
        _, times, matmul = time_training(policy, x, args.batch, args.warmup_steps, args.timed_steps, probe)
        median = statistics.median(times)
        ips = args.batch / median
        rate = ips * flops_step_per_image / 1e9
        # each step against the matmul rate measured right after it
        fractions = [args.batch * flops_step_per_image / 1e9 / t / m for t, m in zip(times, matmul)]
        frac = statistics.median(fractions)
        rows.append((policy, median, ips, rate, frac, statistics.median(matmul)))
        results[policy] = {"step_seconds": times, "median_step_s": median, "images_per_s": ips,
                           "achieved_gflops": rate, "matmul_gflops_beside_steps": matmul,
                           "fractions_of_matmul": fractions, "fraction_of_matmul": frac}
    results["bf16_speedup"] = rows[0][1] / rows[1][1]

    if args.bound_steps:
        x_test, _ = binarized_digits(500, seed=1, split="test")
        for policy in ("float32", "mixed_bfloat16"):
            results.setdefault("bound_after_training", {})[policy] = bound_after_training(
                policy, x, x_test, args.bound_steps, args.batch, args.bound_filters
            )

    print(f"\nBIVA binary_28x28 (L=6, M=3, 64 filters), {results['params'] / 1e6:.2f}M parameters, batch {args.batch}, data: {source}")
    print(f"FLOPs per image: forward {flops_fwd / 1e9:.2f} GFLOP, training step {flops_step_per_image / 1e9:.2f} GFLOP")
    print(f"fp32 2048^2 matmul: {mm_median:.1f} GFLOP/s (median), {mm_best:.1f} GFLOP/s (best); load average at start {results['load_average_at_start'][0]:.1f}")
    print("| policy | median step (s) | images/s | achieved GFLOP/s | matmul GFLOP/s beside the steps (median) "
          "| fraction of fp32 matmul (median over steps) |")
    print("|---|---|---|---|---|---|")
    for policy, median, ips, rate, frac, mm in rows:
        print(f"| {policy} | {median:.2f} | {ips:.1f} | {rate:.1f} | {mm:.1f} | {frac:.2f} |")
    print(f"mixed_bfloat16 speed-up: {results['bf16_speedup']:.2f}x")
    if args.bound_steps:
        b = results["bound_after_training"]
        print(
            f"test ELBO after {args.bound_steps} identical steps ({args.bound_filters} filters, M=1): "
            f"float32 {b['float32']:.2f} nats, mixed_bfloat16 {b['mixed_bfloat16']:.2f} nats "
            f"(difference {b['mixed_bfloat16'] - b['float32']:+.2f})"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=float)
    return results


if __name__ == "__main__":
    main()
