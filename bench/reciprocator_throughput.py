"""Seconds per Reciprocator iteration at the official batch sizes, split into its parts.

Reciprocator vs naive learner with the ``paper`` presets: Coin Game (1024 games x 32 steps,
conv + GRU policies, 40 PPO epochs, learned influence estimator refit after episodes 1, 2, 4,
...) and IPD (2048 games x 32 steps, closed-form estimator). Each iteration is split into
sampling, estimator fit, the rest of the reward-influence connector, and the PPO update.
The official code's figures on one CPU thread (brief 5) are printed beside them as the baseline:
Coin Game about 85 s per episode on average (refit about 100 s every second episode, reciprocal
reward + two PPO updates about 33 s), IPD 0.6 to 1.4 s per episode.

    python bench/reciprocator_throughput.py [--iterations 4] [--games-coin 1024] [--games-ipd 2048] [--json FILE]
"""

import argparse
import json

import envs  # noqa: F401  (first: registers the games and quiets dm_control)
import ray

from rllib_ext.reciprocator.presets import reciprocator_config

OFFICIAL_S_PER_ITERATION = {"coin_game": 85.0, "ipd": 1.0}


def measure(env: str, games: int, iterations: int, policy_model: str) -> dict:
    config = reciprocator_config(env, ["reciprocator", "naive"], "paper", seed=0)
    config.env_runners(num_envs_per_env_runner=games).training(
        train_batch_size_per_learner=games * 32, minibatch_size=games * 32, warmup_episodes=0,
        policy_model=policy_model)
    algo = config.build_algo()
    rows = []
    try:
        for _ in range(iterations):
            result = algo.train()
            timers = result["timers"]
            estimator = result["learners"]["influence_estimator"]
            update = timers["learner_update_timer"]
            rows.append({
                "total_s": result["time_this_iter_s"],
                "sampling_s": timers["env_runner_sampling_timer"],
                "estimator_fit_s": estimator["fit_time_s"],
                "connector_s": estimator["connector_time_s"] - estimator["fit_time_s"],
                "ppo_update_s": update - estimator["connector_time_s"],
            })
    finally:
        algo.stop()
    mean = {k: round(sum(r[k] for r in rows) / len(rows), 3) for k in rows[0]}
    return {"games": games, "iterations": rows, "mean": mean,
            "official_s_per_iteration": OFFICIAL_S_PER_ITERATION[env],
            "speedup_vs_official": round(OFFICIAL_S_PER_ITERATION[env] / mean["total_s"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--games-coin", type=int, default=1024)
    parser.add_argument("--games-ipd", type=int, default=2048)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=True, logging_level="ERROR")
    figures = {
        "coin_game": measure("coin_game", args.games_coin, args.iterations, "conv_gru"),
        "ipd": measure("ipd", args.games_ipd, args.iterations, "mlp"),
    }
    ray.shutdown()
    print(f"{'env':<10} {'games':>6} {'total s':>8} {'sample':>7} {'fit':>7} {'connector':>10} {'ppo':>7} "
          f"{'official':>9} {'speedup':>8}")
    for env, f in figures.items():
        m = f["mean"]
        print(f"{env:<10} {f['games']:>6} {m['total_s']:>8} {m['sampling_s']:>7} {m['estimator_fit_s']:>7} "
              f"{m['connector_s']:>10} {m['ppo_update_s']:>7} {f['official_s_per_iteration']:>9} "
              f"{f['speedup_vs_official']:>7}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
