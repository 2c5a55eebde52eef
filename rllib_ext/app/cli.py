"""``rllib-ext``: train and evaluate the project's algorithms from the shell.

Every check of the command line (algorithm, env, agents, presets, ``--set`` keys and
values, the output folder) happens before Ray starts.
"""

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

from rllib_ext.algorithms.registry import ALGORITHMS, GAME, OFFLINE, PRESETS, get_algorithm
from rllib_ext.app.run_folder import CHECKPOINT_EVERY, CHECKPOINT_MINUTES, KEEP_NUMBERED

EPILOG = """examples:
  rllib-ext train ppo --env ipd --preset small --iterations 40
  rllib-ext train reciprocator --env ipd --agents reciprocator,naive
  rllib-ext train mfos --env ipd_analytic --agents mfos,naive
  rllib-ext train ppo --env coin_game --agents naive,random --set lr=0.001 --set env.grid_size=4
  rllib-ext train saw --dataset pointmaze-medium-navigate-v0 --data data/pointmaze-medium-navigate-v0.npz --steps 20000
  rllib-ext resume runs/ppo-ipd-20261125-120000 --iterations 80
  rllib-ext eval runs/ppo-ipd-20261125-120000/checkpoints/final --episodes 256
  rllib-ext datagen pointmaze-medium-navigate-v0 --episodes 100 --out data/pointmaze-medium-navigate-v0.npz
  rllib-ext tune reciprocator --env ipd --agents reciprocator,naive --samples 16 --iterations 30
  rllib-ext submit --address http://HEAD:8265 -- train reciprocator --env ipd --iterations 60
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
                      for name, entry in ALGORITHMS.items() if entry.kind == GAME)
    offline = "; ".join(f"{name}: {entry.summary}" for name, entry in ALGORITHMS.items() if entry.kind == OFFLINE)
    train = sub.add_parser(
        "train",
        help="train an algorithm into a run folder",
        description=f"Train ALGO and write a run folder (config.json, progress.csv, checkpoints/, plot.png, "
        f"result.json). On a game (--env): {algos}. Offline on an OGBench dataset (--dataset): {offline}.",
    )
    _add_config_arguments(train)
    train.add_argument("--steps", type=int, help="offline algorithms: gradient steps (default: 1,000,000 for paper, "
                       "20,000 for small)")
    train.add_argument("--iterations", type=int, help="training iterations (default: the preset's)")
    train.add_argument("--out", help="run folder; must be new or empty (default runs/ALGO-ENV-TIME)")
    train.add_argument("--checkpoint-every", type=int, default=CHECKPOINT_EVERY, metavar="N",
                       help=f"checkpoint every N iterations (default {CHECKPOINT_EVERY}; 0 = off)")
    train.add_argument("--checkpoint-minutes", type=float, default=CHECKPOINT_MINUTES, metavar="M",
                       help=f"also checkpoint once M minutes have passed since the last checkpoint (default "
                       f"{CHECKPOINT_MINUTES:g}; 0 = off). A killed run loses at most the work since its last "
                       f"checkpoint; the final one is always saved, the newest {KEEP_NUMBERED} periodic ones are kept")
    train.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")

    rs = sub.add_parser(
        "resume",
        help="continue a stopped or finished training run",
        description="Continue the run folder RUN from its newest checkpoint (checkpoints/final, else the last "
        "iter_N; one that is damaged or incomplete is reported and the next older one used), appending to its "
        "progress.csv, up to --iterations in all. Training stops cleanly on Ctrl-C or SIGTERM (checkpoint and "
        "result.json after the current iteration); a run that was killed resumes from its last periodic checkpoint.",
    )
    rs.add_argument("run", metavar="RUN", help="a run folder written by `rllib-ext train`")
    rs.add_argument("--iterations", type=int, help="iterations in all (default: the run's planned count; "
                    "offline algorithms: iterations of num_steps_per_iteration gradient steps)")
    rs.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")

    tn = sub.add_parser(
        "tune",
        help="search hyperparameters with Ray Tune + Optuna",
        description="Search a space of settings with Optuna (TPE) and ASHA early stopping; each trial "
        "trains ALGO like `train` would. Writes Tune's results to --storage/--name, plus best_config.json, "
        "trials.csv and search.png. Default spaces: tuning/spaces.py.",
    )
    _add_config_arguments(tn)
    tn.add_argument("--samples", type=int, default=8, help="trials (default 8)")
    tn.add_argument("--iterations", type=int, default=10, help="training iterations per trial (default 10)")
    tn.add_argument("--space", help="Python file defining SPACE (and optionally POINTS_TO_EVALUATE)")
    tn.add_argument("--no-warm-start", action="store_true",
                    help="do not evaluate the preset's own values first")
    tn.add_argument("--metric", help="result key to optimise, '/'-separated (default: the naive opponent's "
                    "cooperation / own-coin rate when a reciprocator faces a naive learner, else the joint "
                    "return; offline: evaluation/success)")
    tn.add_argument("--mode", default="max", help="max or min (default max)")
    tn.add_argument("--max-concurrent", type=int, help="trials at once (default: as many as resources allow)")
    tn.add_argument("--grace-period", type=int, help="ASHA: iterations before a trial can be stopped "
                    "(default iterations/4)")
    tn.add_argument("--checkpoint-every", type=int, default=5, metavar="N",
                    help="checkpoint each trial every N iterations (default 5); a trial whose worker or node is "
                    "lost is restarted from its last checkpoint (3 times at most)")
    tn.add_argument("--storage", default="runs/tune", help="folder or URI (s3://...) for results (default runs/tune)")
    tn.add_argument("--name", help="search name, a folder under --storage (default ALGO-ENV-TIME)")
    tn.add_argument("--resume", action="store_true", help="continue the interrupted search --storage/--name")
    tn.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")

    sm = sub.add_parser(
        "submit",
        help="run a command on a Ray cluster (Ray Jobs API)",
        description="Submit `rllib-ext COMMAND ...` as a Ray job: the project folder is uploaded as the "
        "job's working_dir (without .git, .venv, runs/, data/) with its requirements, the logs stream "
        "here and the command's exit code is returned. `submit status|logs|stop JOB_ID` manage jobs.",
        usage="rllib-ext submit [--address URL] [--no-wait] [--no-requirements] [--env-var K=V] -- COMMAND ...\n"
        "       rllib-ext submit [--address URL] status|logs|stop JOB_ID [--follow]",
    )
    sm.add_argument("--address", help="the cluster's dashboard, http://HEAD:8265 (default RAY_ADDRESS)")
    sm.add_argument("--no-wait", action="store_true", help="return once submitted")
    sm.add_argument("--no-requirements", action="store_true",
                    help="do not pip-install the project's requirements in the job (the image has them)")
    sm.add_argument("--env-var", action="append", default=[], metavar="K=V", help="environment of the job")
    sm.add_argument("--follow", action="store_true", help="with logs: stream until the job ends")
    sm.add_argument("job", nargs=argparse.REMAINDER, metavar="COMMAND ...")

    dg = sub.add_parser(
        "datagen",
        help="generate an OGBench dataset locally (no download)",
        description="Generate OGBench-format FILE (.npz) and its -val.npz companion with the scripted "
        "oracles of OGBench's generators: pointmaze navigate/stitch and cube/scene/puzzle play, and the pixel "
        "twins visual-cube-*/visual-scene/visual-puzzle-* play (uint8 64x64x3 frames). "
        "Deterministic for a seed; written atomically; episodes generated in parallel on Ray. "
        "Pixel datasets: every frame is rendered with MuJoCo offscreen (MUJOCO_GL=egl headless, checked "
        "before any work starts), about 0.2-0.35 CPU-s per 64x64 frame on a CPU (measured here with Mesa's "
        "llvmpipe), so a full 1M-frame dataset (~100 core-hours) is a job for a GPU machine or a cluster "
        "(--workers, or rllib-ext submit). A --out without .npz writes the memory-mapped folder layout "
        "(OUT/KEY.npy and OUT-val/) for datasets larger than RAM.",
    )
    dg.add_argument("name", metavar="NAME", help="dataset name, e.g. pointmaze-medium-navigate-v0")
    dg.add_argument("--episodes", type=int, help="training episodes (default: OGBench's count); "
                    "the -val file gets a tenth more")
    dg.add_argument("--episode-length", type=int, help="steps per episode (default: OGBench's)")
    dg.add_argument("--out", required=True, help="output .npz path, or a folder path (.npy layout)")
    dg.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    dg.add_argument("--workers", type=int, help="parallel workers (default: all cores for big jobs)")
    dg.add_argument("--force", action="store_true", help="overwrite existing files")

    ev = sub.add_parser(
        "eval",
        help="evaluate a checkpoint",
        description="Restore a checkpoint, play episodes with the trained policies and write result.json. A "
        "checkpoint of a run folder that is damaged is reported and the next older one of that run evaluated.",
    )
    ev.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint folder (run/checkpoints/final)")
    ev.add_argument("--episodes", type=int, default=256, help="games: episodes per env runner; offline "
                    "goal-conditioned algorithms: episodes per task (default 256)")
    ev.add_argument("--explore", action="store_true", help="sample actions instead of the greedy ones")
    ev.add_argument("--out", help="result folder; must be new or empty (default CHECKPOINT/../../eval-TIME)")
    ev.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    return parser


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """What to train, shared by ``train`` and ``tune``: algorithm, env or dataset, preset, overrides."""
    parser.add_argument("algo", metavar="ALGO", help=f"one of: {', '.join(ALGORITHMS)}")
    parser.add_argument("--env", help="game name for game algorithms: ipd or coin_game (mfos also ipd_analytic)")
    parser.add_argument("--dataset", help="OGBench dataset name for offline algorithms, e.g. pointmaze-medium-navigate-v0")
    parser.add_argument("--data", help="OGBench-format .npz file (default data/DATASET.npz)")
    parser.add_argument("--eval-episodes", type=int, default=20,
                        help="offline: episodes per task per evaluation (default 20)")
    parser.add_argument("--preset", default="small", help=f"settings bundle: {' or '.join(PRESETS)} "
                        "(paper = the official settings, small = a CPU budget; default small)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config attribute (lr=0.001, num_env_runners=2), a game parameter "
                        "(env.grid_size=4) or a dict entry (estimator_config.lr=0.02); repeatable")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0; tune: also Optuna's)")
    parser.add_argument("--agents", help="comma-separated agent type of each player, in order "
                        "(default: a learner in every seat)")


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileExistsError, FileNotFoundError, ConnectionError) as e:
        # One line: RLlib's validate() adds a second one on how to switch its checks off.
        print(f"rllib-ext {args.command}: error: {str(e).strip().splitlines()[0]}", file=sys.stderr)
        return 2


def cmd_train(args) -> int:
    from rllib_ext.app.results import results_table, success_table
    from rllib_ext.app.run_folder import RunFolder
    from rllib_ext.app.training import train

    entry = get_algorithm(args.algo)
    offline = entry.kind == OFFLINE
    config = _config(args)
    target, budget, unit = (args.dataset, args.steps, "steps") if offline else (args.env, args.iterations, "iterations")
    if budget is None:
        budget = entry.default_budget(target, args.preset)
    if budget < 1:
        raise ValueError(f"--{unit} must be >= 1, got {budget}")
    if args.checkpoint_every < 0 or args.checkpoint_minutes < 0:
        raise ValueError("--checkpoint-every and --checkpoint-minutes must be >= 0 (0 turns that trigger off), got "
                         f"{args.checkpoint_every} and {args.checkpoint_minutes:g}")
    iterations = -(-budget // config.num_steps_per_iteration) if offline else budget
    if offline and not _is_set(args, "evaluation_interval"):
        config.evaluation(evaluation_interval=max(1, iterations // 10))
    out = Path(args.out or f"runs/{args.algo}-{target}-{time.strftime('%Y%m%d-%H%M%S')}")
    RunFolder(out)  # refuses a non-empty folder before Ray starts
    players = "" if offline else f"{args.agents or 'learners'}, "
    result = train(config, iterations, out, args.checkpoint_every, address=args.address,
                   title=f"{args.algo} on {target} ({players}{args.preset} preset)",
                   checkpoint_minutes=args.checkpoint_minutes)
    if offline:
        print(success_table(result))
    else:
        print(results_table(result, entry.headline_metrics(config) + ("return",) * (args.env == "ipd")))
    print(f"run folder: {out}")
    return _exit_code(result)


def _config(args):
    """The validated config ``train``, ``tune`` and ``submit`` build from the command line."""
    from rllib_ext.algorithms.registry import build_config

    offline = get_algorithm(args.algo).kind == OFFLINE
    config = build_config(args.algo, args.dataset if offline else args.env, _agents(args), args.preset, args.sets,
                          args.seed, data_file=args.data, eval_episodes=args.eval_episodes)
    if offline:
        _check_data_fits_env(config)
    return config


def _check_data_fits_env(config) -> None:
    """Refuse a dataset whose observations do not fit the named env; warn about implausible data."""
    from envs.ogbench.dataset import check_fits_env
    from rllib_ext.algorithms.gcrl.common import dataset as datasets

    try:
        warnings = check_fits_env(datasets.load(config.dataset_path), config.dataset_name)
    except ValueError as e:
        raise ValueError(f"dataset file {config.dataset_path}: {e}") from None
    for warning in warnings:
        print(f"warning: dataset file {config.dataset_path}: {warning}", file=sys.stderr)


def _is_set(args, key: str) -> bool:
    """Whether ``--set KEY=...`` was given."""
    return any(s.partition("=")[0].strip() == key for s in args.sets)


def _agents(args) -> Optional[List[str]]:
    return [a.strip() for a in args.agents.split(",")] if args.agents else None


def _exit_code(result) -> int:
    """0 for a finished training, 130 (as after Ctrl-C) for one stopped early with a checkpoint."""
    return 130 if result.get("stopped_early") else 0


def cmd_resume(args) -> int:
    from rllib_ext.app.training import resume

    if args.iterations is not None and args.iterations < 1:
        raise ValueError(f"--iterations must be >= 1, got {args.iterations}")
    result = resume(args.run, args.iterations, address=args.address)
    print(f"run folder: {args.run}")
    return _exit_code(result)


def cmd_eval(args) -> int:
    from rllib_ext.app.results import results_table, success_table
    from rllib_ext.app.run_folder import RunFolder
    from rllib_ext.app.training import evaluate

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
    from envs.ogbench.datagen import generate_dataset

    report = generate_dataset(args.name, args.episodes, args.out, seed=args.seed, force=args.force,
                              num_workers=args.workers, episode_length=args.episode_length)
    print(f"wrote {report.path} ({report.rows:,} rows, {report.episodes} episodes) and {report.val_path} "
          f"({report.val_rows:,} rows) in {report.seconds:.1f}s ({report.steps_per_second:,.0f} steps/s)"
          + (f"; {report.reused_episodes} episodes kept from an interrupted run" if report.reused_episodes else ""))
    return 0


def _search_setup(args):
    """Every check ``tune`` makes before Ray starts: ``(config, space, warm-start points, metric, label)``."""
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, EPISODE_RETURN_MEAN

    from rllib_ext.utils.metrics import GAME_METRICS
    from tuning.search import check_search, preset_point
    from tuning.spaces import default_space, load_space

    config = _config(args)
    if get_algorithm(args.algo).kind == OFFLINE:
        # Every iteration is evaluated (Tune's scheduler and searcher need the metric each time), in
        # the trial's own process unless --set eval_num_workers=N says otherwise.
        config.evaluation(evaluation_interval=1)
        if not _is_set(args, "eval_num_workers"):
            config.training(eval_num_workers=1)
        label, metric = args.dataset, "evaluation/success"
    else:
        label, metric = args.env, f"{ENV_RUNNER_RESULTS}/{EPISODE_RETURN_MEAN}"
        agents = _agents(args) or []
        if "reciprocator" in agents and "naive" in agents:
            headline = get_algorithm(args.algo).headline_metrics(config)[0]
            metric = f"{ENV_RUNNER_RESULTS}/{GAME_METRICS}/player_{agents.index('naive')}/{headline}"
    space, points = load_space(args.space) if args.space else (default_space(args.algo), [])
    if not points and not args.no_warm_start:
        points = [p for p in [preset_point(config, space)] if p]
    metric = args.metric or metric
    if args.checkpoint_every < 0:
        raise ValueError(f"--checkpoint-every must be >= 0 (0 = off), got {args.checkpoint_every}")
    check_search(config, space, points, args.mode, args.samples, args.iterations, metric)
    return config, space, points, metric, label


def cmd_tune(args) -> int:
    from tuning.search import run_search, search_path

    config, space, points, metric, label = _search_setup(args)
    name = args.name or f"{args.algo}-{label}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = search_path(args.storage, name, args.resume)  # refuses to overwrite, before Ray starts
    bundle = config.algo_class.default_resource_request(config).required_resources
    print(f"searching {len(space)} settings over {args.samples} trials x {args.iterations} iterations, "
          f"{args.mode} {metric}; each trial asks for "
          + ", ".join(f"{v:g} {k}" for k, v in sorted(bundle.items()) if v) + f"; results in {path}", flush=True)
    from rllib_ext.utils.ray_runtime import ray_runtime

    with ray_runtime(args.address):
        report = run_search(config, space, metric=metric, mode=args.mode, name=name, num_samples=args.samples,
                            iterations=args.iterations, storage_path=args.storage, points_to_evaluate=points,
                            max_concurrent_trials=args.max_concurrent, grace_period=args.grace_period,
                            checkpoint_every=args.checkpoint_every, seed=args.seed, resume=args.resume)
    best = report.best
    print(f"best trial {best['trial_id']}: {metric} = {best['value']:.4g} with " + " ".join(best["set"]))
    where = f"--env {args.env}" + (f" --agents {args.agents}" if args.agents else "") if args.env \
        else f"--dataset {args.dataset}" + (f" --data {args.data}" if args.data else "")
    fixed = [f"--set {s}" for s in args.sets + best["set"]]
    print(f"train it: rllib-ext train {args.algo} {where} --preset {args.preset} --seed {args.seed} " + " ".join(fixed))
    print(f"results: {report.path} (best_config.json, trials.csv, search.png)")
    failed = f", {report.failed} failed (see their error.txt)" if report.failed else ""
    if report.finished + report.failed < args.samples:
        print(f"search interrupted with {report.finished} of {args.samples} trials finished{failed}; continue it "
              f"with the same command plus --name {name} --resume", file=sys.stderr)
        return 130
    if report.failed:
        print(f"{report.finished} of {args.samples} trials finished{failed}", file=sys.stderr)
        return 1
    return 0


def cmd_submit(args) -> int:
    from cluster.jobs import job_client, project_runtime_env, report_status, submit_command

    job = args.job[1:] if args.job[:1] == ["--"] else args.job
    if not job:
        raise ValueError("nothing to submit: rllib-ext submit [options] -- COMMAND ... (e.g. -- train ppo --env ipd)")
    if job[0] in ("status", "logs", "stop"):
        if len(job) != 2:
            raise ValueError(f"usage: rllib-ext submit {job[0]} JOB_ID")
        client = job_client(args.address)
        if job[0] == "status":
            return report_status(client, job[1])
        if job[0] == "stop":
            print(f"job {job[1]}: stop requested" if client.stop_job(job[1]) else f"job {job[1]} is not running")
            return 0
        if args.follow:
            from cluster.jobs import follow

            return follow(client, job[1])
        print(client.get_job_logs(job[1]), end="")
        return 0
    _check_job(job)
    env_vars = dict(_split_env_var(v) for v in args.env_var)
    runtime_env = project_runtime_env(requirements=not args.no_requirements, env_vars=env_vars)
    client = job_client(args.address)
    return submit_command(client, job, runtime_env, wait=not args.no_wait)


def _check_job(job: List[str]) -> None:
    """The same checks the job's command makes before its Ray work (game configs, search spaces),
    here, before anything reaches the cluster. Offline data files are the cluster's to check."""
    if job[0] == "submit":
        raise ValueError("submit inside submit: give the command to run, e.g. -- train ppo --env ipd")
    try:
        inner = build_parser().parse_args(job)
    except SystemExit as e:
        raise ValueError(f"the command to submit is invalid: rllib-ext {' '.join(job)}") from e
    paths = [f"--{flag} {getattr(inner, flag)}" for flag in ("out", "storage", "data")
             if getattr(inner, flag, None) and "://" not in getattr(inner, flag) and not os.path.isabs(getattr(inner, flag))]
    if inner.command == "train" and not inner.out:
        paths.append("--out (default runs/...)")
    if paths:
        print(f"note: {', '.join(paths)} will be relative to the job's temporary working dir on the cluster; "
              "give absolute paths on shared storage to keep results", file=sys.stderr)
    if inner.command in ("train", "tune") and get_algorithm(inner.algo).kind == GAME:
        (_config if inner.command == "train" else _search_setup)(inner)


def _split_env_var(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--env-var expects K=V, got {text!r}")
    return key, value


COMMANDS = {"train": cmd_train, "resume": cmd_resume, "eval": cmd_eval, "datagen": cmd_datagen, "tune": cmd_tune, "submit": cmd_submit}

if __name__ == "__main__":
    sys.exit(main())
