"""SAW gradient steps per second through ``SAW.train()`` (RLlib overhead included) and as bare torch steps.

Two sizes on pointmaze dimensions (observation 2, action 2): ``full`` = the paper setting
(512x3 MLPs, batch 1024) and ``small`` = 256x2 MLPs, batch 256; each eager and with
``torch_compile_learner=True`` (inductor; the first step compiles for 10-30 s, not timed).
The data is a synthetic random-walk dataset in the OGBench layout (throughput does not depend
on content).

The baseline is the official JAX agent run in the same command (``--official``, see
``official_saw_timing.py``: its jitted update alone, without sampling, so the ratio is
conservative). The brief's JAX figures for a 2-core CPU, 5.7 (full) and ~98 (small) steps/s,
were taken on another machine and are printed for reference only.

    python bench/saw_throughput.py                    # both sizes, CPU (and GPU if present)
    python bench/saw_throughput.py --threads 1 --json out.json
    python bench/saw_throughput.py --official ~/saw/impls --official-python /tmp/jax/bin/python
    python bench/saw_throughput.py --devices cuda          # GPU learner only

``train`` = steps/s over whole ``train()`` calls (relabelling, batch conversion, RLlib's
update loop and metrics, weight sync); ``torch step`` = forward, losses, backward, Adam and the
EMA on a ready tensor batch (the learner's ``_update``), i.e. the compute floor.

On an oversubscribed machine (other jobs on the 2 cores), run it with
``OMP_WAIT_POLICY=PASSIVE``: spinning OpenMP threads then made two-thread steps up to 30x
slower; on a quiet machine the default (spinning) is about 2x faster than passive.
"""

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from ray.rllib.core import DEFAULT_MODULE_ID

from rllib_ext.saw import SAWConfig

BRIEF_JAX_CPU = {"full": 5.7, "small": 98.0}
SIZES = {"full": ("paper", 20), "small": ("small", 100)}
"""size -> (preset, gradient steps per train() call)."""


def write_dataset(directory: str, episodes: int = 100, rows: int = 1001) -> str:
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (episodes, rows, 2)).astype(np.float32)
    obs = rng.uniform(0, 20, (episodes, 1, 2)) + np.cumsum(0.2 * actions, axis=1) - 0.2 * actions
    terminals = np.zeros((episodes, rows), bool)
    terminals[:, -1] = True
    path = os.path.join(directory, "pointmaze-medium-navigate-v0.npz")
    np.savez(path, observations=obs.reshape(-1, 2).astype(np.float32), actions=actions.reshape(-1, 2),
             terminals=terminals.reshape(-1))  # fmt: skip
    return path


def measure(dataset: str, size: str, device: str, compiled: bool, iterations: int, bare_steps: int,
            compile_mode: str = None, threads: int = 2) -> dict:
    torch.set_num_threads(threads)
    preset, steps = SIZES[size]
    config = SAWConfig().training(dataset_path=dataset).preset(preset).training(num_steps_per_iteration=steps)
    config.learners(num_gpus_per_learner=1 if device == "cuda" else 0).debugging(seed=0)
    config.framework(torch_compile_learner=compiled, torch_compile_learner_dynamo_mode=compile_mode)
    algo = config.build_algo()
    algo.train()  # warm-up (and compilation)
    start = time.perf_counter()
    for _ in range(iterations):
        algo.train()
    train_rate = iterations * steps / (time.perf_counter() - start)

    learner = algo.learner_group._learner  # the local learner (num_learners=0)
    batch = algo.goal_sampler.sample(config.train_batch_size_per_learner)
    tensors = {DEFAULT_MODULE_ID: {k: torch.as_tensor(v, device=learner.device) for k, v in batch.items()}}
    learner._update(tensors)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(bare_steps):
        learner._update(tensors)
    if device == "cuda":
        torch.cuda.synchronize()
    bare_rate = bare_steps / (time.perf_counter() - start)
    algo.stop()
    return {"size": size, "device": device, "compiled": compiled and (compile_mode or "default"),
            "train_steps_per_s": train_rate,
            "torch_steps_per_s": bare_rate, "brief_jax_cpu": BRIEF_JAX_CPU[size]}  # fmt: skip


def in_fresh_process(fn, *args):
    """``fn(*args)`` in a new Python process: a row measured after another in the same process ran
    up to 20% slower (compiled after eager: 46 vs 56 steps/s), so each row gets its own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def official_rates(impls: str, python: str, size: str, threads: int) -> dict:
    """Steps/s of the official JAX agent's update, each in a subprocess of ``python``.

    ``threads`` 1: pinned to one CPU with single-threaded XLA. Otherwise on all CPUs twice:
    XLA's defaults, and ``SINGLE_THREAD_XLA`` flags (single-threaded ops that XLA then runs
    side by side, faster on this 2-core machine); the best of the two is the baseline.
    """
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "official_saw_timing.py")
    steps = {"full": 10, "small": 100}[size]
    variants = {"pinned_1_cpu": SINGLE_THREAD_XLA} if threads == 1 else {"xla_default": "", "xla_single_thread_ops": SINGLE_THREAD_XLA}
    rates = {}
    for name, flags in variants.items():
        env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip())
        pin = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if threads == 1 else None
        done = subprocess.run([python, script, "--impls", impls, "--size", size, "--steps", str(steps)],
                              env=env, preexec_fn=pin, check=True, capture_output=True, text=True)  # fmt: skip
        rates[name] = json.loads(done.stdout.strip().splitlines()[-1])["steps_per_s"]
    return rates


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["full", "small"])
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"],
                        help="default: cpu, and cuda when torch finds a GPU")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (CPU); JAX's too")
    parser.add_argument("--compile", choices=["off", "on", "both"], default="both",
                        help="torch_compile_learner off, on, or each in turn (default)")
    parser.add_argument("--compile-mode", choices=["default", "reduce-overhead", "max-autotune-no-cudagraphs"],
                        help="torch.compile mode of the compiled runs (reduce-overhead: CUDA graphs on a GPU)")
    parser.add_argument("--official", metavar="IMPLS", help="the official SAW repository's impls/ folder")
    parser.add_argument("--official-python", default=sys.executable,
                        help="a Python with jax, flax, optax, distrax, ml_collections (for --official)")
    parser.add_argument("--iterations", type=int, default=3, help="timed train() calls per size")
    parser.add_argument("--bare-steps", type=int, default=20, help="timed bare torch steps per size")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--devices cuda: torch finds no CUDA GPU here")
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    official = {}
    if args.official:
        for size in args.sizes:
            rates = official_rates(args.official, args.official_python, size, args.threads)
            official[size] = max(rates.values())
            print(f"{size:5s} official JAX update: " + ", ".join(f"{v:.1f} steps/s ({k})" for k, v in rates.items()), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dataset = write_dataset(tmp)
        for device in devices:
            for size in args.sizes:
                for compiled in modes:
                    row = in_fresh_process(measure, dataset, size, device, compiled, args.iterations,
                                           args.bare_steps, args.compile_mode, args.threads)
                    if size in official:
                        row["official_jax_steps_per_s"] = official[size]
                        row["train_vs_official"] = row["train_steps_per_s"] / official[size]
                    rows.append(row)
                    versus = f"x{row['train_vs_official']:.2f} of official JAX" if size in official else (
                        f"brief's JAX figure {row['brief_jax_cpu']:.1f} (other machine)")
                    print(f"{size:5s} {device:4s} {row['compiled'] or 'eager':16s}  "
                          f"train(): {row['train_steps_per_s']:8.1f} steps/s   "
                          f"torch step: {row['torch_steps_per_s']:8.1f} steps/s   {versus}", flush=True)  # fmt: skip
    report = {"threads": args.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
              "torch": torch.__version__, "results": rows}  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
