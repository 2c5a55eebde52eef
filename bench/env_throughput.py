"""Joint env steps/s of RLlib's stock MultiAgentEnvRunner vs the project's BatchedGameEnvRunner.

Same game (registered by name), same policies (RLlib's default PPO modules), same process:
each sampler plays whole episodes of all games (IPD: 2048 games, Coin Game: 1024 games, 32
steps) and returns RLlib MultiAgentEpisodes. A third line runs the project sampler on
two remote env runners through RLlib's own ``synchronous_parallel_sample`` (the games split
between them, episodes shipped back to the driver), as PPO does.

    python bench/env_throughput.py [--games-ipd 2048] [--games-coin 1024] [--repeats 2] [--json FILE]
"""

import argparse
import json
import time

import envs  # noqa: F401  (first: registers the games and quiets dm_control)
import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

from rllib_ext.env.batched_game_env_runner import BatchedGameEnvRunner
from rllib_ext.algorithms.naive_ppo import policy_mapping_fn

STEPS = 32


def config(env: str, games: int, runner_cls, num_env_runners: int = 0) -> PPOConfig:
    players = ["player_0", "player_1"]
    return (
        PPOConfig()
        .environment(env)
        .env_runners(env_runner_cls=runner_cls, num_envs_per_env_runner=games,
                     num_env_runners=num_env_runners, rollout_fragment_length=STEPS)
        .multi_agent(policies=list(players), policy_mapping_fn=policy_mapping_fn)
        .training(train_batch_size_per_learner=games * STEPS * max(1, num_env_runners))
        .debugging(seed=0)
    )


def time_local(env: str, games: int, runner_cls, repeats: int) -> float:
    runner = runner_cls(config=config(env, games, runner_cls))
    runner.sample(num_timesteps=games * STEPS, force_reset=True)  # warm-up
    start = time.perf_counter()
    steps = 0
    for _ in range(repeats):
        episodes = runner.sample(num_timesteps=games * STEPS, force_reset=True)
        steps += sum(e.env_steps() for e in episodes)
    seconds = time.perf_counter() - start
    runner.stop()
    return steps / seconds


def time_remote(env: str, games: int, runners: int, repeats: int) -> float:
    algo = config(env, games // runners, BatchedGameEnvRunner, num_env_runners=runners).build_algo()
    group = algo.env_runner_group
    synchronous_parallel_sample(worker_set=group, max_env_steps=games * STEPS, concat=True,
                                _uses_new_env_runners=True)
    start = time.perf_counter()
    steps = 0
    for _ in range(repeats):
        episodes = synchronous_parallel_sample(worker_set=group, max_env_steps=games * STEPS, concat=True,
                                _uses_new_env_runners=True)
        steps += sum(e.env_steps() for e in episodes)
    seconds = time.perf_counter() - start
    algo.stop()
    return steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games-ipd", type=int, default=2048)
    parser.add_argument("--games-coin", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2, help="timed sample() calls after one warm-up")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=2 * 1024**3,
             configure_logging=True, logging_level="ERROR")
    figures = {}
    for env, games in (("ipd", args.games_ipd), ("coin_game", args.games_coin)):
        stock = time_local(env, games, MultiAgentEnvRunner, args.repeats)
        batched = time_local(env, games, BatchedGameEnvRunner, args.repeats)
        remote = time_remote(env, games, 2, args.repeats)
        figures[env] = {
            "games": games,
            "stock_steps_per_s": round(stock),
            "batched_steps_per_s": round(batched),
            "batched_2_runners_steps_per_s": round(remote),
            "ratio_batched_vs_stock": round(batched / stock, 2),
            "ratio_2_runners_vs_stock": round(remote / stock, 2),
            "batch_seconds_batched": round(games * STEPS / batched, 3),
            "batch_seconds_2_runners": round(games * STEPS / remote, 3),
        }
    ray.shutdown()

    print(f"{'env':<10} {'games':>6} {'stock/s':>9} {'batched/s':>10} {'2 runners/s':>12} {'ratio':>7} {'ratio 2r':>9}")
    for env, f in figures.items():
        print(f"{env:<10} {f['games']:>6} {f['stock_steps_per_s']:>9,} {f['batched_steps_per_s']:>10,} "
              f"{f['batched_2_runners_steps_per_s']:>12,} {f['ratio_batched_vs_stock']:>6}x "
              f"{f['ratio_2_runners_vs_stock']:>8}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
