"""``rllib-ext``: train and evaluate the project's algorithms from the shell.

Every check of the command line (algorithm, env, agents, presets, ``--set`` keys and
values, the output folder) happens before Ray starts.
"""

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional

from rllib_ext.algorithms import ALGORITHMS, OFFLINE_ALGORITHMS, PRESETS

EPILOG = """examples:
  rllib-ext train ppo --env ipd --preset small --iterations 40
  rllib-ext train reciprocator --env ipd --agents reciprocator,naive
  rllib-ext train ppo --env coin_game --agents naive,random --set lr=0.001 --set env.grid_size=4
  rllib-ext train saw --dataset pointmaze-medium-navigate-v0 --data data/pointmaze-medium-navigate-v0.npz --steps 20000
  rllib-ext eval runs/ppo-ipd-20261125-120000/checkpoints/final --episodes 256
  rllib-ext datagen pointmaze-medium-navigate-v0 --episodes 100 --out data/pointmaze-medium-navigate-v0.npz
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rllib-ext",
        description="Reciprocators and SAW on Ray RLlib: train, evaluate, tune, submit.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    algos = "; ".join(f"{name}: {entry.summary} (agent types: {', '.join(entry.agent_types)})"
                      for name, entry in ALGORITHMS.items())
    offline = "; ".join(f"{name}: {summary}" for name, summary in OFFLINE_ALGORITHMS.items())
    train = sub.add_parser(
        "train",
        help="train an algorithm into a run folder",
        description=f"Train ALGO and write a run folder (config.json, progress.csv, checkpoints/, plot.png, "
        f"result.json). On a game (--env): {algos}. Offline on an OGBench dataset (--dataset): {offline}.",
    )
    train.add_argument("algo", metavar="ALGO", help=f"one of: {', '.join([*ALGORITHMS, *OFFLINE_ALGORITHMS])}")
    train.add_argument("--env", help="game name for game algorithms: ipd or coin_game")
    train.add_argument("--dataset", help="OGBench dataset name for offline algorithms, e.g. pointmaze-medium-navigate-v0")
    train.add_argument("--data", help="OGBench-format .npz file (default data/DATASET.npz)")
    train.add_argument("--steps", type=int, help="offline algorithms: gradient steps (default: 1,000,000 for paper, "
                       "20,000 for small)")
    train.add_argument("--eval-episodes", type=int, default=20, help="offline: episodes per task per evaluation (default 20)")
    train.add_argument("--preset", default="small", help=f"settings bundle: {' or '.join(PRESETS)} "
                       "(paper = the official settings, small = a CPU budget; default small)")
    train.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config attribute (lr=0.001, num_env_runners=2) or a game "
                       "parameter (env.grid_size=4); repeatable")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--iterations", type=int, help="training iterations (default: the preset's)")
    train.add_argument("--agents", help="comma-separated agent type of each player, in order "
                       "(default: a learner in every seat)")
    train.add_argument("--out", help="run folder; must be new or empty (default runs/ALGO-ENV-TIME)")
    train.add_argument("--checkpoint-every", type=int, default=100, metavar="N",
                       help="also checkpoint every N iterations (default 100; the final one is always kept)")
    train.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")

    dg = sub.add_parser(
        "datagen",
        help="generate an OGBench dataset locally (no download)",
        description="Generate OGBench-format FILE (.npz) and its -val.npz companion with the scripted "
        "oracles of OGBench's generators: pointmaze navigate/stitch and cube/scene/puzzle play. "
        "Deterministic for a seed; written atomically; episodes generated in parallel on Ray.",
    )
    dg.add_argument("name", metavar="NAME", help="dataset name, e.g. pointmaze-medium-navigate-v0")
    dg.add_argument("--episodes", type=int, help="training episodes (default: OGBench's count); "
                    "the -val file gets a tenth more")
    dg.add_argument("--episode-length", type=int, help="steps per episode (default: OGBench's)")
    dg.add_argument("--out", required=True, help="output .npz path")
    dg.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    dg.add_argument("--workers", type=int, help="parallel workers (default: all cores for big jobs)")
    dg.add_argument("--force", action="store_true", help="overwrite existing files")

    ev = sub.add_parser(
        "eval",
        help="evaluate a checkpoint",
        description="Restore a checkpoint, play episodes with the trained policies and write result.json.",
    )
    ev.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint folder (run/checkpoints/final)")
    ev.add_argument("--episodes", type=int, default=256, help="games: episodes per env runner; offline "
                    "goal-conditioned algorithms: episodes per task (default 256)")
    ev.add_argument("--explore", action="store_true", help="sample actions instead of the greedy ones")
    ev.add_argument("--out", help="result folder; must be new or empty (default CHECKPOINT/../../eval-TIME)")
    ev.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"rllib-ext {args.command}: error: {e}", file=sys.stderr)
        return 2


def cmd_train(args) -> int:
    from rllib_ext.run_folder import RunFolder

    if args.algo in OFFLINE_ALGORITHMS:
        return _train_offline(args)
    from envs import get_game
    from rllib_ext.algorithms import build_config, get_algorithm
    from rllib_ext.training import results_table, train

    if not args.env:
        raise ValueError(f"{args.algo} trains on a game: give --env (ipd or coin_game)")
    agents = [a.strip() for a in args.agents.split(",")] if args.agents else None
    config = build_config(args.algo, args.env, agents, args.preset, args.sets, args.seed)
    iterations = args.iterations
    if iterations is None:
        iterations = get_algorithm(args.algo).default_iterations(args.env, args.preset)
    if iterations < 1:
        raise ValueError(f"--iterations must be >= 1, got {iterations}")
    out = Path(args.out or f"runs/{args.algo}-{args.env}-{time.strftime('%Y%m%d-%H%M%S')}")
    RunFolder(out)  # refuses a non-empty folder before Ray starts
    result = train(config, iterations, out, args.checkpoint_every, address=args.address,
                   title=f"{args.algo} on {args.env} ({args.agents or 'learners'}, {args.preset} preset)")
    print(results_table(result, get_game(args.env).headline_metrics + ("return",) * (args.env == "ipd")))
    print(f"run folder: {out}")
    return 0


def _train_offline(args) -> int:
    from rllib_ext.algorithms import build_offline_config
    from rllib_ext.run_folder import RunFolder
    from rllib_ext.training import success_table, train

    if not args.dataset:
        raise ValueError(f"{args.algo} trains offline: give --dataset (and --data FILE)")
    data = args.data or f"data/{args.dataset}.npz"
    steps = args.steps if args.steps is not None else (1_000_000 if args.preset == "paper" else 20_000)
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    config = build_offline_config(args.algo, args.dataset, data, args.preset, args.sets, args.seed,
                                  args.eval_episodes)
    iterations = -(-steps // config.num_steps_per_iteration)
    config.evaluation(evaluation_interval=max(1, iterations // 10))
    out = Path(args.out or f"runs/{args.algo}-{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    RunFolder(out)
    result = train(config, iterations, out, args.checkpoint_every, address=args.address,
                   title=f"{args.algo} on {args.dataset} ({args.preset} preset)")
    print(success_table(result))
    print(f"run folder: {out}")
    return 0


def cmd_eval(args) -> int:
    from rllib_ext.run_folder import RunFolder
    from rllib_ext.training import evaluate, results_table, success_table

    checkpoint = Path(args.checkpoint)
    out = Path(args.out or checkpoint.parent.parent / f"eval-{time.strftime('%Y%m%d-%H%M%S')}")
    RunFolder(out)
    result = evaluate(checkpoint, args.episodes, out, explore=args.explore, address=args.address)
    if "success" in result:
        print(success_table(result))
    else:
        print(results_table(result, sorted({k.split("/", 1)[1] for k in result if k.startswith("player_")})))
    print(f"results: {out / 'result.json'}")
    return 0


def cmd_datagen(args) -> int:
    from envs.ogbench_data import generate_dataset

    report = generate_dataset(args.name, args.episodes, args.out, seed=args.seed, force=args.force,
                              num_workers=args.workers, episode_length=args.episode_length)
    print(f"wrote {report.path} ({report.rows:,} rows, {report.episodes} episodes) and {report.val_path} "
          f"({report.val_rows:,} rows) in {report.seconds:.1f}s ({report.steps_per_second:,.0f} steps/s)")
    return 0


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "datagen": cmd_datagen}

if __name__ == "__main__":
    sys.exit(main())
