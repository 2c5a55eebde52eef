"""The offline family's results table: every method on generated pointmaze datasets, ours beside the official code.

Each (dataset, method, seed) trains twice at the same budget on the same locally generated dataset: once with
this library (``rllib-ext train METHOD --preset small``, a run folder under ``ROOT/ours``) and, with
``--official``, once with the official JAX code (``impls/main.py`` with that dataset's ``hyperparameters.sh``
flags, every MLP 256x2 and batch 256 as ``small``; under ``ROOT/official``). Runs go one at a time per
``--parallel`` slot, single-threaded, seed 0 of every dataset and method first; the script can be stopped at any
time and started again: finished runs are kept, ours resume from their last checkpoint (``rllib-ext resume``),
official ones from their last saved agent (every ``--save-every`` steps; a resumed part ``from-K`` is ``main.py``
with ``--restore_path`` and ``--train_steps`` the steps left; ``main.py`` seeds ``np.random`` again, so the part's
batches restart the seed's sequence instead of continuing it). ``--table`` prints what is finished
(final success, mean over seeds, per task) and, with ``--json FILE``, writes it there::

    python bench/offline_table.py --official /path/to/saw/impls --official-python /tmp/jax/bin/python --parallel 2
    python bench/offline_table.py --table --json table.json

The official side needs a Python with jax, flax, optax, distrax, ml_collections, ogbench, tqdm and wandb 0.17 (newer
ones refuse the official ``wandb.Settings(start_method=...)``); it logs to W&B offline and finds the generated files through ``HOME=ROOT/official-home`` (OGBench's default
``~/.ogbench/data``), so nothing is downloaded.
"""

import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, reduce

import numpy as np
from official_parity import official_commands  # bench/, beside this script

METHODS = ["saw", "hiql", "gcivl", "gciql", "qrl", "crl", "gcbc"]
DATASETS = ["pointmaze-medium-navigate-v0", "pointmaze-large-navigate-v0"]
SMALL = dict(hidden=(256, 256), batch_size=256)
"""The ``small`` preset's sizes (``rllib_ext/algorithms/gcrl/common/presets.py``), given to the official agents."""


OFFICIAL_LAUNCHER = ("import os, runpy, sys, wandb, utils.flax_utils as fu; init, save = wandb.init, fu.save_agent; "
                     "wandb.init = lambda **kw: init(**{**kw, 'mode': 'offline'}); "
                     "fu.save_agent = lambda agent, d, i: (save(agent, d, f'{i}.partial'), "
                     "os.replace(f'{d}/params_{i}.partial.pkl', f'{d}/params_{i}.pkl')); "
                     "sys.argv[0] = 'main.py'; runpy.run_path('main.py', run_name='__main__')")
"""``impls/main.py`` with Weights & Biases offline (its ``setup_wandb`` asks for ``mode='online'``, which waits for a
server that this machine cannot reach) and its agent saved whole or not at all (written aside, then renamed), so a
run stopped while saving resumes from the agent before."""


def ours_command(args, dataset: str, method: str, seed: int, out: str) -> list:
    folder = os.path.join(out, "checkpoints")
    if os.path.isdir(folder) and os.listdir(folder):
        return [sys.executable, "-m", "rllib_ext.app.cli", "resume", out]
    if os.path.exists(out):
        shutil.rmtree(out)  # started but no checkpoint yet: nothing to keep
    return [sys.executable, "-m", "rllib_ext.app.cli", "train", method, "--dataset", dataset,
            "--data", data_path(args, dataset), "--preset", "small", "--steps", str(args.steps), "--seed", str(seed),
            "--eval-episodes", str(args.eval_episodes), "--set", "num_steps_per_iteration=1000",
            "--set", f"evaluation_interval={args.eval_every // 1000}", "--out", out]


def official_command(args, dataset: str, method: str, seed: int, out: str) -> list:
    """``main.py`` for the steps not done yet: from the start, or from the run's last saved agent."""
    flags = official_flags(args.official)[method, dataset]
    with open(os.path.join(args.official, "agents", f"{method}.py")) as f:
        hidden_keys = sorted(set(re.findall(r"(\w+_hidden_dims)=", f.read())))
    done, folder, epoch = official_saved(out, args.steps)
    part = os.path.join(out, f"from-{done}")
    stale = part if done else out  # what ran after the last saved agent: nothing to keep
    if os.path.exists(stale):
        shutil.rmtree(stale)
    # main.py evaluates at multiples of --eval_interval counted from the part's start: the largest interval that
    # hits every evaluation step left (the run's own interval when nothing is done yet)
    interval = reduce(math.gcd, [p - done for p in range(args.eval_every, args.steps + 1, args.eval_every) if p > done])
    restore = [f"--restore_path={folder}", f"--restore_epoch={epoch}"] if done else []
    sizes = [f"--agent.{k}={SMALL['hidden']}".replace(" ", "") for k in hidden_keys]
    return [args.official_python, "-c", OFFICIAL_LAUNCHER, f"--env_name={dataset}", f"--seed={seed}", f"--agent=agents/{method}.py",
            f"--train_steps={args.steps - done}", f"--eval_interval={interval}", f"--log_interval=1000",
            f"--eval_episodes={args.eval_episodes}", "--video_episodes=0", f"--save_interval={args.save_every}",
            f"--save_dir={part}", *restore, f"--agent.batch_size={SMALL['batch_size']}", *sizes,
            *(f"--agent.{k}={v:g}" for k, v in flags.items())]


def official_files(out: str, pattern: str):
    """(steps done before its part, folder, name match) of each file under the official run ``out`` whose name
    matches ``pattern``; a part ``out/from-K/`` starts after K steps, a run made in one go has its files outside any."""
    for d, _, files in os.walk(out):
        m = re.match(r"from-(\d+)", os.path.relpath(d, out))
        for f in files:
            if name := re.fullmatch(pattern, f):
                yield (int(m.group(1)) if m else 0), d, name


def official_saved(out: str, steps: int) -> tuple:
    """(steps done, folder, main.py's epoch) of an official run's last agent saved before ``steps``, else (0, None, None)."""
    saved = [(k + int(m.group(1)), d, int(m.group(1))) for k, d, m in official_files(out, r"params_(\d+)\.pkl")]
    return max([s for s in saved if s[0] < steps], default=(0, None, None), key=lambda s: s[0])


@lru_cache
def official_flags(impls: str) -> dict:
    """``hyperparameters.sh``'s flags per (method, dataset), read once."""
    return official_commands(impls)


def data_path(args, dataset: str) -> str:
    return os.path.abspath(os.path.join(args.root, "data", f"{dataset}.npz"))


def ours_final(out: str, steps: int):
    """(success, per-task successes) of a finished run of ours, else None."""
    try:
        with open(os.path.join(out, "progress.csv")) as f:
            rows = [r for r in csv.DictReader(f) if r.get("success")]
    except FileNotFoundError:
        return None
    if not rows or int(float(rows[-1].get("steps") or 0)) < steps:
        return None
    last = rows[-1]
    return float(last["success"]), [float(last[f"task_{t}/success"]) for t in range(1, 6)]


def official_final(out: str, steps: int):
    """(success, per-task successes) of a finished official run (its ``eval.csv`` row at ``steps``), else None."""
    rows = []  # (step counted over the parts, row) of every part's eval.csv
    for k, d, _ in official_files(out, r"eval\.csv"):
        with open(os.path.join(d, "eval.csv")) as f:
            rows += [(k + int(float(r["step"])), r) for r in csv.DictReader(f)]
    final = min(((step, r) for step, r in rows if step >= steps), default=None, key=lambda r: r[0])
    if final is None:
        return None
    row = final[1]
    numbered = {int(m.group(1)): k for k in row if (m := re.fullmatch(r"evaluation/task(\d+)\w*_success", k))}
    tasks = [float(row[numbered[i]]) for i in sorted(numbered)]
    return float(row["evaluation/overall_success"]), tasks


def runs(args) -> list:
    """Every (side, dataset, method, seed, folder), seed 0 of everything first."""
    sides = ["ours"] + (["official"] if args.official else [])
    return [(side, d, m, s, os.path.abspath(os.path.join(args.root, side, d, f"{m}-seed{s}")))
            for s in args.seeds for d in args.datasets for m in args.methods for side in sides]


def execute(args, side: str, dataset: str, method: str, seed: int, out: str) -> None:
    done = ours_final if side == "ours" else official_final
    if done(out, args.steps):
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", XLA_FLAGS="--xla_cpu_multi_thread_eigen=false")
    if side == "ours":
        command, cwd = ours_command(args, dataset, method, seed, out), None
    else:
        home = os.path.abspath(os.path.join(args.root, "official-home"))
        os.makedirs(os.path.join(home, ".ogbench", "data"), exist_ok=True)
        for suffix in ("", "-val"):
            link = os.path.join(home, ".ogbench", "data", f"{dataset}{suffix}.npz")
            if not os.path.exists(link):
                os.symlink(data_path(args, dataset).replace(".npz", f"{suffix}.npz"), link)
        env.update(HOME=home, WANDB_DIR=home, WANDB_ERROR_REPORTING="false", JAX_PLATFORMS="cpu")
        command, cwd = official_command(args, dataset, method, seed, out), args.official
    os.makedirs(os.path.dirname(out), exist_ok=True)
    start = time.time()
    print(f"[start] {side} {dataset} {method} seed {seed}", flush=True)
    with open(out + ".log", "a") as log:
        code = subprocess.call(["nice", "-n", str(args.nice), *command], cwd=cwd, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    state = "done" if done(out, args.steps) else f"stopped (exit {code}; log {out}.log)"
    print(f"[{state}] {side} {dataset} {method} seed {seed} after {time.time() - start:.0f} s", flush=True)


def table(args) -> dict:
    finals = {}
    for side, dataset, method, seed, out in runs(args):
        final = (ours_final if side == "ours" else official_final)(out, args.steps)
        if final:
            finals.setdefault((dataset, method, side), []).append((seed, *final))
    print(f"final success after {args.steps} steps, {args.eval_episodes} episodes per task, small preset "
          f"(mean over the seeds finished; per seed in brackets)")
    for dataset in args.datasets:
        print(f"\n{dataset}\n\n| method | ours | official JAX |\n|---|---|---|")
        for method in args.methods:
            cells = []
            for side in ("ours", "official"):
                got = finals.get((dataset, method, side), [])
                cells.append(f"{np.mean([g[1] for g in got]):.2f} ({' '.join(f'{g[1]:.2f}' for g in got)})"
                             if got else "")
            print(f"| {method.upper()} | {cells[0]} | {cells[1]} |")
    return {f"{d}/{m}/{s}": [dict(seed=g[0], success=g[1], tasks=g[2]) for g in v] for (d, m, s), v in finals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="runs/offline-table", help="data, run folders and logs (kept)")
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--eval-every", type=int, default=10000, help="gradient steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=20, help="episodes per task")
    parser.add_argument("--save-every", type=int, default=5000, help="gradient steps between official saved agents")
    parser.add_argument("--episodes", type=int, default=1000, help="episodes of each generated dataset")
    parser.add_argument("--official", metavar="IMPLS", help="the official SAW repository's impls/ folder")
    parser.add_argument("--official-python", default="python", help="a Python for the official code")
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time (one thread each)")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the runs")
    parser.add_argument("--table", action="store_true", help="only print the table of what is finished")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.steps % 1000 or args.eval_every % 1000 or args.steps % args.eval_every or args.save_every < 1:
        parser.error("--steps and --eval-every must be multiples of 1000, --steps of --eval-every; --save-every >= 1")
    if not args.table:
        from envs.ogbench.datagen import generate_dataset

        for dataset in args.datasets:
            if not os.path.exists(data_path(args, dataset)):
                os.makedirs(os.path.dirname(data_path(args, dataset)), exist_ok=True)
                generate_dataset(dataset, args.episodes, data_path(args, dataset), seed=0, progress=True)
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(lambda run: execute(args, *run), runs(args)))
    result = table(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(settings=vars(args), finals=result), f, indent=1)


if __name__ == "__main__":
    main()
