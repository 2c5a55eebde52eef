"""Success curves of the offline methods on a locally generated OGBench dataset, several seeds side by side.

Each (method, seed) trains in its own single-threaded Ray task with the ``small`` preset (plus ``--set`` overrides)
and evaluates every ``--eval-every`` gradient steps on the dataset's 5 tasks. Prints one row per run (success at
each evaluation, the last one's per-task rates, steps/s) and, with ``--json FILE``, writes them there. The
numbers behind the CI learning test's thresholds (``tests/test_offline_learning.py``) and the results table of
``docs/results.md`` come from this script::

    python bench/offline_learning.py --methods hiql gcbc --seeds 0 1 2 --steps 6000 --set lr=1e-3 --set tau=0.02
    python bench/offline_learning.py --dataset pointmaze-large-navigate-v0 --episodes 1000 --steps 50000 \\
        --eval-every 10000 --eval-episodes 20 --json large.json
"""

import argparse
import json
import os
import time

import numpy as np

from rllib_ext.utils.overrides import apply_overrides


def schedule_problem(steps: int, eval_every: int) -> str | None:
    """What is wrong with a run of ``steps`` evaluated every ``eval_every`` (``train()`` calls of
    ``min(1000, eval_every)`` steps), or None."""
    if steps % eval_every or (eval_every > 1000 and eval_every % 1000):
        return (f"steps must be a multiple of eval_every, eval_every below 1000 or a multiple of it: got "
                f"steps={steps}, eval_every={eval_every}")
    return None


def train_and_evaluate(method: str, dataset_path: str, seed: int, steps: int, eval_every: int, eval_episodes: int,
                       overrides: list) -> dict:
    """One run: the ``small`` preset, ``overrides`` (``KEY=VALUE``, those the method has), ``steps`` gradient steps
    in ``train()`` calls of ``min(1000, eval_every)`` (as ``offline_table.py`` runs them: the sampler's stream
    depends on it); evaluations every ``eval_every``."""
    import torch

    from rllib_ext.algorithms.registry import get_algorithm

    torch.set_num_threads(1)
    if problem := schedule_problem(steps, eval_every):
        raise ValueError(problem)
    per_iteration = min(1000, eval_every)
    interval = eval_every // per_iteration
    config = (get_algorithm(method).algo_class.get_default_config()
              .training(dataset_path=dataset_path, num_steps_per_iteration=per_iteration, eval_num_workers=1)
              .preset("small"))
    apply_overrides(config, [o for o in overrides if hasattr(config, o.partition("=")[0])])
    config.evaluation(evaluation_interval=interval, evaluation_duration=eval_episodes).debugging(seed=seed)
    algo = config.build_algo()
    curve, losses_finite = [], True
    start = time.perf_counter()
    try:
        for iteration in range(1, steps // per_iteration + 1):
            result = algo.train()
            learner = result["learners"]["default_policy"]
            losses_finite &= all(np.isfinite(v) for k, v in learner.items() if k.endswith("loss"))
            if iteration % interval == 0:
                curve.append(result["evaluation"]["success"])
    finally:
        algo.stop()
    tasks = [result["evaluation"][f"task_{t}/success"] for t in range(1, 6)]
    return dict(method=method, seed=seed, steps=steps, curve=curve, success=curve[-1], tasks=tasks,
                losses_finite=bool(losses_finite), seconds=time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["saw", "hiql", "gcivl", "gciql", "qrl", "crl", "gcbc"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--dataset", default="pointmaze-medium-navigate-v0")
    parser.add_argument("--episodes", type=int, default=300, help="episodes of the generated dataset")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data", help="where the generated dataset is kept (reused)")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per task")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="runs at a time")
    parser.add_argument("--json")
    args = parser.parse_args()
    overrides = args.set
    if problem := schedule_problem(args.steps, args.eval_every):
        parser.error(problem)  # before the dataset is generated and Ray starts

    import ray

    from envs.ogbench.datagen import generate_dataset

    folder = os.path.join(args.data_dir, f"{args.episodes}-episodes-seed-{args.data_seed}")
    path = os.path.abspath(os.path.join(folder, f"{args.dataset}.npz"))  # the file name is the dataset name
    if not os.path.exists(path):
        os.makedirs(folder, exist_ok=True)
        generate_dataset(args.dataset, args.episodes, path, seed=args.data_seed, progress=True)
    ray.init(num_cpus=args.cpus, include_dashboard=False)
    try:
        run = ray.remote(num_cpus=1)(train_and_evaluate)
        futures = [run.remote(m, path, s, args.steps, args.eval_every, args.eval_episodes, overrides)
                   for m in args.methods for s in args.seeds]
        results = ray.get(futures)
    finally:
        ray.shutdown()
    print(f"{args.dataset} ({args.episodes} episodes, data seed {args.data_seed}), small preset, {overrides or ''} "
          f"{args.eval_episodes} episodes per task; success at every {args.eval_every} steps")
    for r in results:
        curve = " ".join(f"{c:.2f}" for c in r["curve"])
        tasks = " ".join(f"{t:.1f}" for t in r["tasks"])
        print(f"{r['method']:6} seed {r['seed']}: {curve}   tasks {tasks}   finite losses {r['losses_finite']}   "
              f"{r['steps'] / r['seconds']:.0f} steps/s incl. evaluation")
    for method in args.methods:
        final = [r["success"] for r in results if r["method"] == method]
        print(f"{method:6} final success mean {np.mean(final):.2f} (min {min(final):.2f}, max {max(final):.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(settings=vars(args), results=results), f, indent=1)


if __name__ == "__main__":
    main()
