"""``make demo``: Reciprocators on the Prisoner's Dilemma, then SAW on a generated OGBench maze.

Part 1 (``ipd``): trains, on the Iterated Prisoner's Dilemma (256 games x 32 steps per iteration), a
Reciprocator against a naive PPO learner, and beside it two naive learners against each other (who
slide into mutual defection). Ends with a results table and a plot of both players' cooperation
over training for both pairings.

Part 2 (``saw``): generates a small pointmaze-medium-navigate dataset locally (no download), trains
SAW and, on the same budget, GCBC on it (``small`` preset with a faster learning rate and target
update), and prints each one's success on the five OGBench evaluation tasks.

Everything goes under the demo folder (``--out``, which must be new or empty). About 7 minutes on
2 CPUs for both parts; ``--parts ipd`` or ``--parts saw`` runs one.
"""

import argparse
import sys
import time
from pathlib import Path

from rllib_ext.algorithms.gcrl import GCBCConfig, SAWConfig
from rllib_ext.algorithms.registry import build_config
from rllib_ext.app.plots import plot_cooperation
from rllib_ext.utils.ray_runtime import ray_runtime
from rllib_ext.app.results import results_table, success_table
from rllib_ext.app.run_folder import RunFolder
from rllib_ext.app.training import train

PAIRINGS = (("reciprocator", "naive"), ("naive", "naive"))
METRICS = ("cooperation_rate", "reward_per_step", "return")
SAW_DATASET = "pointmaze-medium-navigate-v0"
SAW_EPISODES = 300
"""Episodes of 1001 steps in the demo's generated dataset (OGBench's file has 1000)."""
OFFLINE_RUNS = (("saw", SAWConfig, dict(lr=1e-3, tau=0.02)), ("gcbc", GCBCConfig, dict(lr=1e-3)))
"""On top of the small preset (lr 3e-4, SAW's target EMA 0.005): learns within minutes instead of
tens of minutes; the CI learning test (tests/test_saw.py) uses the same settings."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="demo folder (default runs/demo-TIME); must be new or empty")
    parser.add_argument("--iterations", type=int, default=60, help="IPD training iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--saw-steps", type=int, default=5000,
                        help="gradient steps of SAW and of GCBC (whole thousands)")
    parser.add_argument("--parts", default="ipd,saw", help="comma-separated parts to run: ipd, saw")
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",")]
    if not parts or set(parts) - {"ipd", "saw"}:
        parser.error(f"--parts takes ipd and/or saw, got {args.parts!r}")
    if args.saw_steps < 1000:
        parser.error(f"--saw-steps must be >= 1000, got {args.saw_steps}")
    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    RunFolder(out)
    if "ipd" in parts:
        ipd_demo(out, args.iterations, args.seed)
    if "saw" in parts:
        saw_demo(out, args.saw_steps, args.seed)


def ipd_demo(out: Path, iterations: int, seed: int) -> None:
    runs = {}
    for agents in PAIRINGS:
        name = "-vs-".join(agents)
        config = build_config("reciprocator", "ipd", list(agents), "small", [], seed=seed)
        print(f"\n== IPD: {name} ==")
        runs[name] = (_completed(train(config, iterations, out / name, checkpoint_every=0, title=f"IPD: {name}")),
                      RunFolder.read_rows(out / name))

    print(f"\nIterated Prisoner's Dilemma after {iterations} iterations (seed {seed})")
    for name, (result, _) in runs.items():
        print(f"\n{name}:")
        print(results_table(result, METRICS))
    print("\n(mutual cooperation pays -1 per step, mutual defection -2)")
    plot = plot_cooperation({name: rows for name, (_, rows) in runs.items()}, out / "cooperation.png")
    print(f"plot: {plot}")


def saw_demo(out: Path, steps: int, seed: int) -> None:
    """Generate a pointmaze dataset under ``out``/data, train SAW and GCBC for ``steps`` gradient
    steps each (small preset + OFFLINE_RUNS' settings), evaluate both on the 5 tasks (10 episodes each) and
    print their success per task."""
    from envs.ogbench.datagen import generate_dataset

    iterations = steps // 1000  # 1000 gradient steps per iteration
    path = out / "data" / f"{SAW_DATASET}.npz"
    results = {}
    with ray_runtime():  # one local Ray for the generation, both trainings and their evaluations
        print(f"\n== SAW: generating {SAW_EPISODES} episodes of {SAW_DATASET} ==")
        report = generate_dataset(SAW_DATASET, SAW_EPISODES, path, seed=seed, progress=False)
        print(f"{report.path}: {report.rows:,} rows in {report.seconds:.0f}s")
        for name, config_class, overrides in OFFLINE_RUNS:
            config = (
                config_class()
                .training(dataset_path=str(path), dataset_name=SAW_DATASET, num_steps_per_iteration=1000)
                .preset("small")
                .training(**overrides)
                .evaluation(evaluation_interval=iterations, evaluation_duration=10)
                .debugging(seed=seed)
            )
            print(f"\n== {name.upper()} on {SAW_DATASET}: {1000 * iterations:,} gradient steps ==")
            results[name] = _completed(train(config, iterations, out / name, checkpoint_every=0,
                                             title=f"{name.upper()} on {SAW_DATASET}"))

    print(f"\n{SAW_DATASET}, {SAW_EPISODES}-episode generated dataset, {1000 * iterations:,} gradient steps, "
          f"10 episodes per task (seed {seed})")
    for name, result in results.items():
        print(f"\n{name.upper()}:")
        print(success_table(result))
    print("\n(success = fraction of episodes that reach the goal; the SAW paper reports 0.97 for SAW and"
          "\n 0.09 for GCBC on OGBench's 1000-episode dataset after 1M steps at full size)")


def _completed(result: dict) -> dict:
    """The result of a finished training; a Ctrl-C (which stops that training cleanly) ends the demo."""
    if result.get("stopped_early"):
        print("demo stopped", file=sys.stderr)
        sys.exit(130)
    return result


if __name__ == "__main__":
    main()
