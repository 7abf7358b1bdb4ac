"""Training throughput of data-parallel JAX processes on one machine (issue 16, point 5).

For each process count of `--processes` (default: 1 and 2), the parent
starts that many worker processes of this script on 127.0.0.1 (one CPU
device each, as `keras-hvae train --coordinator ...` runs them; one
process runs without a coordinator), waits for them and prints one
Markdown table. Every worker trains a small BIVA (binary 28x28
architecture, `--filters`, `--latent-sizes`, one layer per block, no
dropout) on random binary 28x28 images with the **global** batch
`--batch-size` (each process feeds `batch_size / N` of every batch:
`keras_hvae.training.distributed.process_local_inputs`), through `fit`,
the same train step as `keras-hvae train`. `--model linear` trains the
linear-Gaussian VAE instead (a quick check of the pipeline).

Timing: `--warmup-steps` untimed steps (the first compiles), then
`--steps` timed steps; a step's time is the wall time between the ends of
consecutive steps, after the step's loss is fetched to the host (so the
step has finished). Each worker reports the median of its timed steps;
the table gives, per process count, the slowest worker's median step time
(every step is a collective, so they agree closely), the images per
second in total (global batch / step time) and per process (total / N),
and the speed-up and efficiency against one process. `os.getloadavg()`
is printed before and after each process count: the machine must be
otherwise idle for the numbers to mean anything (on a shared machine
they measure the sharing).

Usage:
    python benchmarks/distributed_scaling.py                   # 1 and 2 processes, a few minutes on 2 cores
    python benchmarks/distributed_scaling.py --steps 20 --batch-size 64 --json scaling.json
    python benchmarks/distributed_scaling.py --processes 1 --steps 2 --warmup-steps 1 --model linear  # smoke

Needs the JAX backend installed (`pip install -e '.[jax]'`); the parent
imports no backend.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Training throughput of 1 vs N data-parallel JAX processes on one machine (docs/distributed.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2],
                        help="process counts to measure, each dividing --batch-size")
    parser.add_argument("--batch-size", type=int, default=32, help="global batch (all processes together)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps (the median is reported)")
    parser.add_argument("--warmup-steps", type=int, default=3, help="untimed steps first (the first compiles)")
    parser.add_argument("--model", choices=("biva", "linear"), default="biva", help="the model trained")
    parser.add_argument("--filters", type=int, default=16, help="BIVA filters per level")
    parser.add_argument("--latent-sizes", type=int, nargs="+", default=[8, 4, 2], help="BIVA latent sizes per level")
    parser.add_argument("--timeout", type=int, default=900,
                        help="seconds per process count before its workers are killed")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--worker", nargs=3, metavar=("COORDINATOR", "NUM_PROCESSES", "PROCESS_ID"), default=None,
                        help=argparse.SUPPRESS)  # internal: run one worker
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)  # internal: the worker's JSON file
    args = parser.parse_args(argv)
    for n in args.processes:
        if n < 1 or args.batch_size % n:
            parser.error(f"every process count must be >= 1 and divide --batch-size ({args.batch_size}), got {n}")
    if args.steps < 1 or args.warmup_steps < 1:
        parser.error("--steps and --warmup-steps must be >= 1 (the first step compiles)")
    return args


# ----------------------------------------------------------------- worker
def _worker(args):
    coordinator, num_processes, process_id = args.worker[0], int(args.worker[1]), int(args.worker[2])
    from keras_hvae.training import distributed

    if num_processes > 1:
        distributed.initialize(coordinator, num_processes, process_id)  # first: before anything computes
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    steps = args.warmup_steps + args.steps
    rng = np.random.default_rng(0)
    if args.model == "biva":
        from keras_hvae.models.biva import BIVA

        model = BIVA.from_architecture("binary_28x28", filters=args.filters, latent_sizes=list(args.latent_sizes),
                                       layers_per_block=1, q_dropout=0.0, p_dropout=0.0, seed=1)
        x = (rng.uniform(size=(args.batch_size * steps, 28, 28, 1)) < 0.3).astype("float32")
    else:
        from keras_hvae.models import LinearGaussianVAE

        model = LinearGaussianVAE(784, 16, sigma=0.5, seed=1)
        x = rng.normal(size=(args.batch_size * steps, 784)).astype("float32")
    model.compile(optimizer=keras.optimizers.Adamax(2e-3))
    data = tf.data.Dataset.from_tensor_slices(x).batch(args.batch_size, drop_remainder=True)

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            float(keras.ops.convert_to_numpy((logs or {}).get("loss", 0.0)))  # the step has finished
            self.ends.append(time.perf_counter())

    timer = Timer()
    started = time.perf_counter()
    with distributed.process_local_inputs(data) as (train, _):
        model.fit(train, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    times = [b - a for a, b in zip(timer.ends[args.warmup_steps - 1:], timer.ends[args.warmup_steps:])]
    result = {"process_id": process_id, "num_processes": num_processes, "global_batch": args.batch_size,
              "local_batch": args.batch_size // num_processes, "first_step_seconds": timer.ends[0] - started,
              "step_seconds": times, "median_step_seconds": statistics.median(times),
              "parameters": int(model.count_params())}
    Path(args.result).write_text(json.dumps(result))


# ----------------------------------------------------------------- parent
def _measure(args, n, directory):
    """Runs `n` workers together; returns their results (or raises with their output)."""
    # the subprocess helpers of the multi-process tests (environment, deadline, logs)
    sys.path.insert(0, str(ROOT))
    from tests.processes import free_port, run_together

    coordinator = f"127.0.0.1:{free_port()}"
    common = [sys.executable, str(Path(__file__).resolve()), "--batch-size", str(args.batch_size), "--steps",
              str(args.steps), "--warmup-steps", str(args.warmup_steps), "--model", args.model, "--filters",
              str(args.filters), "--latent-sizes", *map(str, args.latent_sizes)]
    results = [Path(directory) / f"n{n}_p{i}.json" for i in range(n)]
    commands = [common + ["--worker", coordinator, str(n), str(i), "--result", str(result)]
                for i, result in enumerate(results)]
    codes, outputs = run_together(commands, "jax", directory, args.timeout, cpu_only=True)
    if any(code != 0 for code in codes):
        tails = "\n".join(f"--- worker {i} (status {code}):\n" + output[-2000:]
                          for i, (code, output) in enumerate(zip(codes, outputs)))
        raise RuntimeError(f"{n} process(es) failed:\n{tails}")
    return [json.loads(r.read_text()) for r in results]


def _load():
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv=None):
    args = _parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    print(f"{os.cpu_count()} CPUs; model {args.model}; global batch {args.batch_size}; {args.warmup_steps} warm-up "
          f"+ {args.steps} timed steps per process count", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="distributed_scaling_") as directory:
        for n in args.processes:
            before = _load()
            print(f"{n} process(es): load average (1, 5, 15 min) before: {before}", flush=True)
            workers = _measure(args, n, directory)
            after = _load()
            print(f"{n} process(es): load average after: {after}", flush=True)
            step = max(w["median_step_seconds"] for w in workers)
            rows.append({"processes": n, "global_batch": args.batch_size, "local_batch": args.batch_size // n,
                         "median_step_seconds": step, "images_per_second": args.batch_size / step,
                         "images_per_second_per_process": args.batch_size / step / n,
                         "load_before": before, "load_after": after, "workers": workers})
    base = next((r for r in rows if r["processes"] == 1), None)
    print()
    print("| processes | global batch | per process | median step (s) | images/s total | images/s per process "
          "| speed-up vs 1 | efficiency | load avg before / after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        speedup = r["images_per_second"] / base["images_per_second"] if base else None
        r["speedup"], r["efficiency"] = speedup, (speedup / r["processes"] if speedup else None)
        shown = ("-", "-") if speedup is None else (f"{speedup:.2f}x", f"{r['efficiency']:.0%}")
        print(f"| {r['processes']} | {r['global_batch']} | {r['local_batch']} | {r['median_step_seconds']:.4f} | "
              f"{r['images_per_second']:.1f} | {r['images_per_second_per_process']:.1f} | {shown[0]} | {shown[1]} | "
              f"{r['load_before']} / {r['load_after']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"arguments": {k: v for k, v in vars(args).items()
                                                             if k not in ("worker", "result")}, "rows": rows},
                                              indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
