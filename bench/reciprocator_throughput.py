"""Seconds per Reciprocator iteration at the official batch sizes, split into its parts, before and after.

Reciprocator vs naive learner with the ``paper`` presets: Coin Game (1024 games x 32 steps,
conv + GRU policies, 40 PPO epochs, transition-model estimator refit after episodes 1, 2, 4, ...)
and IPD (2048 games x 32 steps, closed-form estimator). Every game is timed twice in this one
process: ``baseline`` = RLlib's stock learner pieces (``bulk_learner_batch=False``) and
``nn.Conv2d``'s padded circular convolutions (the previous code's two slow parts), then ``fast`` = the
bulk train batch and the circular convolutions as one matrix product (the defaults). Each iteration
is split into sampling (and the rest of the iteration outside the learner), estimator fit, the rest
of the reward-influence connector (influence and reciprocal reward), and the PPO update (the learner
pipeline without the connector, plus the epochs). ``s/iteration`` is the steady state of the
official schedule: the mean iteration without a refit plus half of the last refit (the estimator
refits every second episode; from the second episode on each refit draws the full 16 x 4096
samples). The official code's figures on one CPU thread (measured on its own code) are printed beside them: Coin
Game about 85 s per episode on average (refit about 100 s every second episode, reciprocal reward +
two PPO updates about 33 s), IPD 0.6 to 1.4 s per episode. ``gpu`` = ``fast`` with a GPU learner
(``num_gpus_per_learner=1``; the influence estimator follows the learner onto the GPU);
``compiled`` = ``fast`` with ``torch_compile_learner=True`` (the policies' forward passes through
inductor; its first iteration, which compiles, is left out of the means).

    OMP_NUM_THREADS=1 python bench/reciprocator_throughput.py [--iterations 3] [--games-coin 1024]
        [--games-ipd 2048] [--envs coin_game,ipd] [--variants baseline,fast,compiled,gpu] [--json FILE]
"""

import argparse
import json
import time

import envs  # noqa: F401  (first: registers the games and quiets dm_control)
import ray

from rllib_ext.algorithms.reciprocator.torch.circular_conv import CircularConv2d
from rllib_ext.algorithms.reciprocator.presets import reciprocator_config

OFFICIAL_S_PER_ITERATION = {"coin_game": 85.0, "ipd": 1.0}
POLICY_MODEL = {"coin_game": "conv_gru", "ipd": "mlp"}
VARIANTS = ("baseline", "fast", "compiled", "gpu")
PARTS = ("total_s", "sampling_s", "estimator_fit_s", "connector_s", "ppo_update_s")


def measure(env: str, games: int, iterations: int, variant: str) -> dict:
    """Time ``iterations`` Reciprocator-vs-naive iterations of ``variant`` (see the module docstring)."""
    baseline = variant == "baseline"
    CircularConv2d.use_matmul = not baseline
    config = reciprocator_config(env, ["reciprocator", "naive"], "paper", seed=0)
    config.env_runners(num_envs_per_env_runner=games).training(
        train_batch_size_per_learner=games * 32, minibatch_size=games * 32, warmup_episodes=0,
        policy_model=POLICY_MODEL[env], bulk_learner_batch=not baseline)
    config.learners(num_gpus_per_learner=1 if variant == "gpu" else 0)
    config.framework(torch_compile_learner=variant == "compiled")
    algo = config.build_algo()
    update_s = []
    update = algo.learner_group.update

    def timed_update(*args, **kwargs):
        start = time.perf_counter()
        try:
            return update(*args, **kwargs)
        finally:
            update_s.append(time.perf_counter() - start)

    algo.learner_group.update = timed_update
    rows = []
    try:
        for _ in range(iterations):
            start = time.perf_counter()
            result = algo.train()
            total = time.perf_counter() - start
            estimator = result["learners"]["influence_estimator"]
            rows.append({
                "total_s": total,
                "sampling_s": total - update_s[-1],
                "estimator_fit_s": float(estimator["fit_time_s"]),
                "connector_s": float(estimator["connector_time_s"] - estimator["fit_time_s"]),
                "ppo_update_s": update_s[-1] - float(estimator["connector_time_s"]),
            })
    finally:
        algo.stop()
        CircularConv2d.use_matmul = True
    refits = [r["estimator_fit_s"] for r in rows if r["estimator_fit_s"] > 0]
    steady_rows = rows[1:] if variant == "compiled" and len(rows) > 1 else rows  # not the compiling one
    mean = {k: round(sum(r[k] for r in steady_rows) / len(steady_rows), 3) for k in PARTS}
    no_fit = [r["total_s"] - r["estimator_fit_s"] for r in steady_rows]
    # The replay holds 2 to 3 batches from the second episode on, so the last refit has the steady size
    # (16 x 4096 samples); the first one, on a single batch, draws half as many.
    per_refit = refits[-1] if refits else 0.0
    steady = sum(no_fit) / len(no_fit) + per_refit / 2
    return {"games": games, "iterations": rows, "mean": mean, "fit_per_refit_s": round(per_refit, 3),
            "steady_s_per_iteration": round(steady, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per variant (default 3)")
    parser.add_argument("--games-coin", type=int, default=1024)
    parser.add_argument("--games-ipd", type=int, default=2048)
    parser.add_argument("--envs", default="coin_game,ipd")
    parser.add_argument("--variants", default="baseline,fast",
                        help="comma-separated, of baseline, fast, compiled, gpu (default baseline,fast)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    games = {"coin_game": args.games_coin, "ipd": args.games_ipd}
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    ray.init(num_cpus=2, num_gpus=1 if "gpu" in variants else 0, include_dashboard=False, configure_logging=True,
             logging_level="ERROR")
    figures = {}
    for env in args.envs.split(","):
        figures[env] = {v: measure(env, games[env], args.iterations, v) for v in VARIANTS if v in variants}
        official = OFFICIAL_S_PER_ITERATION[env]
        figures[env]["official_s_per_iteration"] = official
        for v in ("fast", "compiled", "gpu"):
            if v in figures[env]:
                figures[env][f"{v}_speedup_vs_official"] = round(official / figures[env][v]["steady_s_per_iteration"], 2)
        if "baseline" in figures[env] and "fast" in figures[env]:
            figures[env]["fast_speedup_vs_baseline"] = round(
                figures[env]["baseline"]["steady_s_per_iteration"] / figures[env]["fast"]["steady_s_per_iteration"], 2)
    ray.shutdown()
    print(f"{'env':<10} {'variant':<9} {'games':>6} {'s/iter':>7} {'sample':>7} {'refit':>7} {'connector':>10} "
          f"{'ppo':>7} {'official':>9}")
    for env, f in figures.items():
        for variant in VARIANTS:
            if variant not in f:
                continue
            v, m = f[variant], f[variant]["mean"]
            print(f"{env:<10} {variant:<9} {v['games']:>6} {v['steady_s_per_iteration']:>7} {m['sampling_s']:>7} "
                  f"{v['fit_per_refit_s']:>7} {m['connector_s']:>10} {m['ppo_update_s']:>7} "
                  f"{f['official_s_per_iteration']:>9}")
        if "fast_speedup_vs_baseline" in f:
            print(f"{env}: fast is {f['fast_speedup_vs_baseline']}x faster than the baseline")
        for v in ("fast", "compiled", "gpu"):
            if f"{v}_speedup_vs_official" in f:
                print(f"{env}: {v} runs at {f[f'{v}_speedup_vs_official']}x the official code's speed")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
