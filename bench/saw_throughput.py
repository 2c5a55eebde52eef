"""SAW gradient steps per second through ``SAW.train()`` (RLlib overhead included) and as bare torch steps.

Two sizes on pointmaze dimensions (observation 2, action 2): ``full`` = the paper setting
(512x3 MLPs, batch 1024) and ``small`` = 256x2 MLPs, batch 256. The brief's figures for the
official JAX code on a 2-core CPU, 5.7 (full) and ~98 (small) steps/s, were taken elsewhere:
on a shared machine compare against the JAX code run at the same time. The data is a
synthetic random-walk dataset in the OGBench layout (throughput does not depend on content).

    python bench/saw_throughput.py                    # both sizes, CPU (and GPU if present)
    python bench/saw_throughput.py --threads 1 --json out.json
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
import os
import tempfile
import time

import numpy as np
import torch

from ray.rllib.core import DEFAULT_MODULE_ID

from rllib_ext.saw import SAWConfig

JAX_BASELINE = {"full": 5.7, "small": 98.0}
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


def measure(dataset: str, size: str, device: str, iterations: int, bare_steps: int) -> dict:
    preset, steps = SIZES[size]
    config = SAWConfig().training(dataset_path=dataset).preset(preset).training(num_steps_per_iteration=steps)
    config.learners(num_gpus_per_learner=1 if device == "cuda" else 0).debugging(seed=0)
    algo = config.build_algo()
    algo.train()  # warm-up
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
    return {"size": size, "device": device, "train_steps_per_s": train_rate, "torch_steps_per_s": bare_rate,
            "jax_cpu_baseline": JAX_BASELINE[size], "speedup_vs_jax": train_rate / JAX_BASELINE[size]}  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["full", "small"])
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"],
                        help="default: cpu, and cuda when torch finds a GPU")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (CPU)")
    parser.add_argument("--iterations", type=int, default=3, help="timed train() calls per size")
    parser.add_argument("--bare-steps", type=int, default=20, help="timed bare torch steps per size")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--devices cuda: torch finds no CUDA GPU here")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dataset = write_dataset(tmp)
        for device in devices:
            for size in args.sizes:
                row = measure(dataset, size, device, args.iterations, args.bare_steps)
                rows.append(row)
                print(f"{size:5s} {device:4s}  train(): {row['train_steps_per_s']:8.1f} steps/s   "
                      f"torch step: {row['torch_steps_per_s']:8.1f} steps/s   "
                      f"brief's JAX CPU figure {row['jax_cpu_baseline']:5.1f} -> x{row['speedup_vs_jax']:.2f}", flush=True)  # fmt: skip
    report = {"threads": args.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
              "torch": torch.__version__, "results": rows}  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
