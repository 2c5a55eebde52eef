"""Peak memory of loading and training on a pixel dataset: OGBench's ``.npz`` against the memory-mapped ``.npy`` folder.

Makes a ``visual-cube-single-play-v0`` dataset of ``--rows`` frames by tiling the frames of a small generated
one (``--source``, e.g. from ``rllib-ext datagen visual-cube-single-play-v0 --episodes 4 --episode-length 50``;
what is measured does not depend on the pictures, and rendering 100k frames takes ~9 CPU-hours on a CPU), writes
it in both layouts, then in a fresh process per layout: loads it (``GCRLConfig.validate`` + ``build_algo``) and
trains ``--steps`` gradient steps of ``--method`` (preset ``small``: batch 64, ``impala_small``). Printed per layout:
the process's peak resident memory after loading and after training, and the dataset's size::

    python bench/pixel_memory.py --source data/visual-cube-single-play-v0.npz --rows 100000 --json mem.json
"""

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

DATASET = "visual-cube-single-play-v0"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_layouts(source: str, rows: int, directory: str, episode_length: int = 1001) -> dict:
    from envs.ogbench.dataset import save_npy_folder

    with np.load(source) as raw:
        frames, actions = raw["observations"], raw["actions"]
    index = np.arange(rows) % len(frames)
    terminals = (np.arange(rows) % episode_length) == episode_length - 1
    terminals[-1] = True
    arrays = dict(observations=frames[index], actions=actions[index], terminals=terminals)
    paths = {"npz": os.path.join(directory, "npz", f"{DATASET}.npz"), "npy": os.path.join(directory, "npy", DATASET)}
    os.makedirs(os.path.dirname(paths["npz"]))
    np.savez_compressed(paths["npz"], **arrays)
    save_npy_folder(arrays, paths["npy"])
    return paths


def measure(method: str, path: str, steps: int) -> dict:
    import torch

    from rllib_ext.algorithms.registry import get_algorithm

    torch.set_num_threads(1)
    start = time.perf_counter()
    config = get_algorithm(method).algo_class.get_default_config().training(dataset_path=path).preset("small")
    config.training(num_steps_per_iteration=steps).debugging(seed=0)
    algo = config.build_algo()
    loaded, load_s = peak_rss_mb(), time.perf_counter() - start
    start = time.perf_counter()
    algo.train()
    out = dict(peak_rss_after_load_mb=loaded, peak_rss_after_train_mb=peak_rss_mb(), load_s=load_s,
               train_steps_per_s=steps / (time.perf_counter() - start))
    algo.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="a generated visual-cube-single-play-v0 .npz")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--method", default="saw")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_layouts(args.source, args.rows, tmp)
        frames_mb = args.rows * 64 * 64 * 3 / 2**20
        for layout, path in paths.items():
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                results[layout] = pool.submit(measure, args.method, path, args.steps).result()
            size = (os.path.getsize(path) if layout == "npz"
                    else sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)))
            results[layout].update(file_mb=size / 2**20, frames_mb=frames_mb)
            r = results[layout]
            print(f"{layout}: {args.rows:,} frames ({frames_mb:,.0f} MB of pixels, {r['file_mb']:,.0f} MB on disk): "
                  f"peak RSS {r['peak_rss_after_load_mb']:,.0f} MB after loading ({r['load_s']:.0f} s), "
                  f"{r['peak_rss_after_train_mb']:,.0f} MB after {args.steps} {args.method} steps "
                  f"({r['train_steps_per_s']:.2f} steps/s)", flush=True)
    report = dict(rows=args.rows, method=args.method, steps=args.steps, load_average=os.getloadavg(), results=results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
