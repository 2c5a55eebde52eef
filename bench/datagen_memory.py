"""Driver memory of dataset generation: ``generate_dataset`` (episodes staged on disk, the files assembled from
memory maps) against holding the dataset in memory, on the same episodes.

For each ``--workers`` count, in a fresh process: ``generate_dataset(--dataset, --episodes)`` (with more than one
worker, on a Ray started before the measurement, whose episodes reach the driver one task's chunk at a time). A
thread samples the process's anonymous and shared resident memory (``RssAnon + RssShmem`` of ``/proc/self/status``;
the memory-mapped output is file-backed and not counted) every 5 ms; printed is the peak above the level just before
the call. The baseline, in a fresh process on the same generated file: the episodes read into a list of arrays, each
key stacked and the pair written with ``np.savez_compressed``, as a generator that keeps its episodes does. Linux
only (``/proc``)::

    python bench/datagen_memory.py --episodes 300 1000 --workers 1 2 --json datagen_memory.json
"""

import argparse
import json
import multiprocessing
import os
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np


class PeakMemory:
    """Peak ``RssAnon + RssShmem`` (MB) above its level at ``__enter__``, sampled by a thread."""

    def __init__(self, interval: float = 0.005):
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()

    @staticmethod
    def now() -> float:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return sum(int(fields[k].split()[0]) for k in ("RssAnon", "RssShmem")) / 1024  # kB

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now() - self.start)
            time.sleep(self.interval)

    def __enter__(self):
        self.start = self.now()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now() - self.start)


def generate(dataset: str, episodes: int, workers: int, out: str) -> dict:
    import ray

    from envs.ogbench.datagen import generate_dataset

    if workers > 1:
        ray.init(num_cpus=workers, include_dashboard=False, configure_logging=True, logging_level="ERROR")
    try:
        with PeakMemory() as memory:
            report = generate_dataset(dataset, episodes, out, num_workers=workers, progress=False)
    finally:
        if workers > 1:
            ray.shutdown()
    return dict(peak_mb=memory.peak, seconds=report.seconds, steps_per_second=report.steps_per_second)


def hold_everything(path: str, val_path: str, out: str) -> dict:
    """The generated episodes kept as a list (one array per key per episode), stacked, written: a baseline."""
    with PeakMemory() as memory:
        for source, target in ((val_path, out + "-val.npz"), (path, out + ".npz")):
            with np.load(source) as data:
                arrays = {k: data[k] for k in data.files}
            ends = np.flatnonzero(arrays["terminals"]) + 1
            episodes = [{k: v[a:b].copy() for k, v in arrays.items()} for a, b in zip([0, *ends[:-1]], ends)]
            del arrays
            np.savez_compressed(target, **{k: np.concatenate([e[k] for e in episodes]) for k in episodes[0]})
            del episodes
    return dict(peak_mb=memory.peak)


def in_fresh_process(fn, *args) -> dict:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def measure(dataset: str, episodes: int, workers_list: list, tmp: str) -> dict:
    results = {}
    for workers in workers_list:
        out = os.path.join(tmp, f"{episodes}-w{workers}", f"{dataset}.npz")
        os.makedirs(os.path.dirname(out))
        results[f"generate_dataset, {workers} worker(s)"] = in_fresh_process(generate, dataset, episodes, workers, out)
    val = out[: -len(".npz")] + "-val.npz"
    dataset_mb = 0.0
    for p in (out, val):
        with np.load(p) as data:
            dataset_mb += sum(data[k].nbytes for k in data.files) / 2**20
    baseline = results["baseline: episodes held in memory"] = in_fresh_process(
        hold_everything, out, val, os.path.join(tmp, f"{episodes}-held"))
    print(f"{dataset}, {episodes} episodes (+ {max(1, episodes // 10)} val): {dataset_mb:,.1f} MB of arrays "
          f"uncompressed")
    for name, r in results.items():
        r.update(peak_over_dataset=r["peak_mb"] / dataset_mb, peak_over_baseline=r["peak_mb"] / baseline["peak_mb"])
        speed = f", {r['steps_per_second']:,.0f} steps/s" if "steps_per_second" in r else ""
        print(f"  {name}: driver peak +{r['peak_mb']:,.1f} MB = {r['peak_over_dataset']:.2f}x the dataset, "
              f"{r['peak_over_baseline']:.2f}x the baseline{speed}", flush=True)
    return dict(dataset_mb=dataset_mb, results=results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="pointmaze-medium-navigate-v0")
    parser.add_argument("--episodes", type=int, nargs="+", default=[300, 1000],
                        help="dataset sizes (the driver's peak should not grow with them)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {episodes: measure(args.dataset, episodes, args.workers, tmp) for episodes in args.episodes}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(settings=vars(args), load_average=os.getloadavg(), sizes=sizes), f, indent=1)


if __name__ == "__main__":
    main()
