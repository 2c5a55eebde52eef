"""Gradient steps per second of the offline methods through ``train()`` (RLlib overhead included) and as learner
updates alone (SAW by default; ``--methods`` any of saw, hiql, gcivl, gciql, qrl, crl, gcbc).

Two sizes on pointmaze dimensions (observation 2, action 2): ``full`` = the paper setting
(512x3 MLPs, batch 1024) and ``small`` = 256x2 MLPs, batch 256; each eager and with
``torch_compile_learner=True`` (inductor; the first step compiles for 10-30 s, not timed).
The data is a synthetic random-walk dataset in the OGBench layout (throughput does not depend
on content). ``--sizes pixels`` (not in the default sizes) times the pixel variants instead: the paper preset of
``visual-cube-single-play-v0`` (``impala_small`` encoders, batch 256, ``p_aug`` 0.5) on random uint8 64x64x3
frames, beside the official update with the same encoders and batch.

The baseline is the official JAX agent run in the same command (``--official``, see
``official_saw_timing.py``: its jitted update alone, without sampling and without a Ray
runtime). ``update alone`` is the like-for-like figure: forward, losses, backward, Adam and the
EMA on a ready tensor batch (the learner's ``_update``), also without Ray. ``train()`` adds the
relabelling, RLlib's update loop and metrics, the weight sync, and a local Ray runtime whose
background processes cost both programs 10-25% on 2 cores (the official update measured beside
an idle Ray runtime: 53-59 instead of 69-71 steps/s). Every figure runs in a fresh process;
``--rounds N`` repeats everything, official timing included, and reports medians (run-to-run
spread on a 2-core machine is 10-20%). Earlier JAX figures for another 2-core CPU, 5.7 (full)
and ~98 (small) steps/s, are printed for reference only.

    python bench/saw_throughput.py                    # both sizes, CPU (and GPU if present)
    python bench/saw_throughput.py --threads 1 --json out.json
    python bench/saw_throughput.py --official ~/saw/impls --official-python /tmp/jax/bin/python --rounds 3
    python bench/saw_throughput.py --devices cuda          # GPU learner only
    python bench/saw_throughput.py --methods saw hiql gcivl gciql qrl crl gcbc --compile off --official ~/saw/impls \
        --official-python /tmp/jax/bin/python              # the family, each beside its official update

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

import gymnasium as gym
import numpy as np
import torch

import envs.ogbench  # noqa: F401  (before RLlib imports mujoco: the pixel rows' env renders headless)
from ray.rllib.core import DEFAULT_MODULE_ID

from rllib_ext.algorithms.gcrl.common import dataset as data
from rllib_ext.algorithms.gcrl.common.goal_sampler import GoalSampler
from rllib_ext.algorithms.registry import get_algorithm

REFERENCE_JAX_CPU = {"full": 5.7, "small": 98.0}
SIZES = {"full": ("paper", 20), "small": ("small", 100), "pixels": ("paper", 2)}
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


def write_pixel_dataset(directory: str, episodes: int = 20, rows: int = 51) -> str:
    """Random uint8 64x64x3 frames and 5-d actions in the layout of visual-cube-single-play-v0."""
    rng = np.random.default_rng(0)
    terminals = np.zeros((episodes, rows), bool)
    terminals[:, -1] = True
    path = os.path.join(directory, "visual-cube-single-play-v0.npz")
    np.savez(path, observations=rng.integers(0, 256, (episodes * rows, 64, 64, 3), dtype=np.uint8),
             actions=rng.uniform(-1, 1, (episodes * rows, 5)).astype(np.float32), terminals=terminals.reshape(-1))
    return path


def _config(method: str, dataset: str, size: str, device: str, compiled: bool, compile_mode: str):
    preset, steps = SIZES[size]
    if size == "pixels":
        dataset = os.path.join(os.path.dirname(dataset), "visual-cube-single-play-v0.npz")
    config = get_algorithm(method).algo_class.get_default_config()
    config.training(dataset_path=dataset).preset(preset).training(num_steps_per_iteration=steps)
    config.learners(num_gpus_per_learner=1 if device == "cuda" else 0).debugging(seed=0)
    return config.framework(torch_compile_learner=compiled, torch_compile_learner_dynamo_mode=compile_mode)


def train_rate(method: str, dataset: str, size: str, device: str, compiled: bool, compile_mode: str, threads: int,
               iterations: int) -> float:
    """Gradient steps/s over whole ``train()`` calls (a local Ray runtime is up)."""
    torch.set_num_threads(threads)
    algo = _config(method, dataset, size, device, compiled, compile_mode).build_algo()
    algo.train()  # warm-up (and compilation)
    start = time.perf_counter()
    for _ in range(iterations):
        algo.train()
    rate = iterations * SIZES[size][1] / (time.perf_counter() - start)
    algo.stop()
    return rate


def update_rate(method: str, dataset: str, size: str, device: str, compiled: bool, compile_mode: str, threads: int,
                steps: int) -> float:
    """Steps/s of the learner's update alone on a ready tensor batch, without a Ray runtime (the
    same scope as the official timing: Ray's background processes cost up to 25% on 2 cores)."""
    torch.set_num_threads(threads)
    config = _config(method, dataset, size, device, compiled, compile_mode)
    rows = data.load(config.dataset_path)
    obs_shape, action_dim = rows["observations"].shape[1:], rows["actions"].shape[1]
    observations = (gym.spaces.Box(0, 255, (*obs_shape[:-1], 2 * obs_shape[-1]), np.uint8) if len(obs_shape) == 3
                    else gym.spaces.Box(-np.inf, np.inf, (2 * obs_shape[0],), np.float32))
    spaces = {DEFAULT_MODULE_ID: (observations, gym.spaces.Box(-1, 1, (action_dim,), np.float32))}
    learner = config.build_learner(spaces=spaces)
    batch = GoalSampler.for_config(rows, config).sample(config.train_batch_size_per_learner)
    tensors = {DEFAULT_MODULE_ID: {k: torch.as_tensor(v, device=learner.device) for k, v in batch.items()}}
    for _ in range(3):  # warm-up (and compilation, CUDA graph recording)
        learner._update(tensors)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        learner._update(tensors)
    if device == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def in_fresh_process(fn, *args):
    """``fn(*args)`` in a new Python process: a row measured after another in the same process ran
    up to 20% slower (compiled after eager: 46 vs 56 steps/s), so each figure gets its own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def official_rates(impls: str, python: str, method: str, size: str, threads: int) -> dict:
    """Steps/s of the official JAX agent's update, each in a subprocess of ``python``.

    ``threads`` 1: pinned to one CPU with single-threaded XLA. Otherwise on all CPUs twice:
    XLA's defaults, and ``SINGLE_THREAD_XLA`` flags (single-threaded ops that XLA then runs
    side by side, faster on this 2-core machine); the best of the two is the baseline.
    """
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "official_saw_timing.py")
    steps = {"full": 10, "small": 100, "pixels": 3}[size]
    variants = {"pinned_1_cpu": SINGLE_THREAD_XLA} if threads == 1 else {"xla_default": "", "xla_single_thread_ops": SINGLE_THREAD_XLA}
    rates = {}
    for name, flags in variants.items():
        env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip())
        pin = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if threads == 1 else None
        done = subprocess.run([python, script, "--impls", impls, "--size", size, "--steps", str(steps),
                               "--agent", method],
                              env=env, preexec_fn=pin, check=True, capture_output=True, text=True)  # fmt: skip
        rates[name] = json.loads(done.stdout.strip().splitlines()[-1])["steps_per_s"]
    return rates


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["saw"],
                        choices=["saw", "hiql", "gcivl", "gciql", "qrl", "crl", "gcbc"])
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
    parser.add_argument("--update-steps", type=int, default=2,
                        help="timed learner updates, in train() calls' worth of steps (default 2)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat everything (official timing included) this often and report medians")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--devices cuda: torch finds no CUDA GPU here")
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    rows = [(method, device, size, compiled) for method in args.methods for device in devices for size in args.sizes
            for compiled in modes]
    official = {(method, size): [] for method in args.methods for size in args.sizes}
    figures = {row: {"train": [], "update": []} for row in rows}
    with tempfile.TemporaryDirectory() as tmp:
        dataset = write_dataset(tmp)
        if "pixels" in args.sizes:
            write_pixel_dataset(tmp)
        for round_ in range(args.rounds):
            for method, size in official if args.official else []:
                rates = official_rates(args.official, args.official_python, method, size, args.threads)
                official[method, size].append(max(rates.values()))
                print(f"round {round_ + 1}  {method:5s} {size:5s} official JAX update: "
                      + ", ".join(f"{v:.1f} steps/s ({k})" for k, v in rates.items()), flush=True)  # fmt: skip
            for method, device, size, compiled in rows:
                setting = (method, dataset, size, device, compiled, args.compile_mode, args.threads)
                train = in_fresh_process(train_rate, *setting, args.iterations)
                update = in_fresh_process(update_rate, *setting, args.update_steps * SIZES[size][1])
                figures[method, device, size, compiled]["train"].append(train)
                figures[method, device, size, compiled]["update"].append(update)
                mode = compiled and (args.compile_mode or "default") or "eager"
                print(f"round {round_ + 1}  {method:5s} {size:5s} {device:4s} {mode:16s}  train(): {train:8.1f} steps/s   "
                      f"update alone: {update:8.1f} steps/s", flush=True)  # fmt: skip

    results = []
    print(f"\nmedians over {args.rounds} round(s), {args.threads} thread(s):")
    for (method, device, size, compiled), got in figures.items():
        row = {"method": method, "size": size, "device": device, "compiled": compiled and (args.compile_mode or "default"),
               "train_steps_per_s": float(np.median(got["train"])), "update_steps_per_s": float(np.median(got["update"])),
               "train_rounds": got["train"], "update_rounds": got["update"]}  # fmt: skip
        versus = ""
        if method == "saw" and size in REFERENCE_JAX_CPU:
            row["reference_jax_cpu"] = REFERENCE_JAX_CPU[size]
            versus = f"reference JAX figure {REFERENCE_JAX_CPU[size]:.1f} (other machine)"
        if official.get((method, size)) and device == "cpu":
            row["official_jax_steps_per_s"] = jax = float(np.median(official[method, size]))
            row["official_jax_rounds"] = official[method, size]
            row["update_vs_official"] = row["update_steps_per_s"] / jax
            row["train_vs_official"] = row["train_steps_per_s"] / jax
            versus = f"official JAX {jax:.1f}: update x{row['update_vs_official']:.2f}, train() x{row['train_vs_official']:.2f}"
        results.append(row)
        print(f"{method:5s} {size:5s} {device:4s} {row['compiled'] or 'eager':16s}  train(): {row['train_steps_per_s']:8.1f}   "
              f"update alone: {row['update_steps_per_s']:8.1f} steps/s   {versus}", flush=True)  # fmt: skip
    report = {"threads": args.threads, "rounds": args.rounds, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
              "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "torch": torch.__version__,
              "results": results}  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
