"""Presets for Reciprocators: ``paper`` (the official configs) and ``small`` (a CPU budget).

The PPO numbers (games, gamma, lr, epochs, clip, entropy) are the official ones kept in
``rllib_ext.algorithms.naive_ppo.PRESETS``; this file adds the Reciprocator's own settings per game.
"""

from typing import Dict, Optional, Sequence

from rllib_ext.algorithms.naive_ppo import PRESETS as PPO_PRESETS
from rllib_ext.algorithms.naive_ppo import ppo_settings
from rllib_ext.algorithms.reciprocator.reciprocator import ReciprocatorConfig

RECIPROCATOR_PRESETS: Dict[str, Dict[str, Dict]] = {
    "ipd": {
        # configs/ipd.yaml: weight 5, one-step grudge, closed-form estimator refreshed every 3 episodes.
        "paper": dict(reciprocal_reward_weight=5.0),
        "small": dict(reciprocal_reward_weight=5.0),
    },
    "coin_game": {
        # configs/coins.yaml: petty_payoff, weight 1, estimator refit after episodes 1, 2 and every 2nd,
        # 2 warm-up episodes, replay of 3 batches, 16 x 4096 samples x 20 epochs per refit.
        # The official 2-player choice: conv + GRU policies and the transition-model estimator.
        "paper": dict(warmup_episodes=2, policy_model="conv_gru", estimator_config=dict(
            hidden=64, lr=0.01, epochs=20, minibatch_size=4096, num_minibatches=16, replay_batches=3)),
        # CPU budget: MLP policies and the cheaper reward + future-return estimator.
        "small": dict(warmup_episodes=2, influence_estimator="reward_future", estimator_config=dict(
            hidden=64, lr=0.01, epochs=10, minibatch_size=256, num_minibatches=16, replay_batches=3)),
    },
}
"""The Reciprocator's settings per game and preset, as deltas on ``ReciprocatorConfig``'s defaults."""


def reciprocator_config(
    env: str,
    agents: Sequence[str],
    preset: str = "small",
    env_config: Optional[Dict] = None,
    seed: Optional[int] = None,
) -> ReciprocatorConfig:
    """A ``ReciprocatorConfig`` for ``env`` with one agent type per player, from a preset."""
    if preset not in RECIPROCATOR_PRESETS.get(env, {}):
        raise ValueError(f"unknown preset {preset!r} for {env!r}; known presets: paper, small")
    ppo = PPO_PRESETS[env][preset]
    env_config = dict(env_config or {})
    num_steps = env_config.get("num_steps", 32)
    return (
        ReciprocatorConfig()
        .environment(env, env_config=env_config)
        .env_runners(num_env_runners=0, num_envs_per_env_runner=ppo["num_games"], rollout_fragment_length=num_steps)
        .training(
            agent_types=list(agents),
            **ppo_settings(env, preset, num_steps),
            policy_hiddens=ppo["hiddens"],
            **RECIPROCATOR_PRESETS[env][preset],
        )
        .debugging(seed=seed)
    )
