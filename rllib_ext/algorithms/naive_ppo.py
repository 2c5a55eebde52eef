"""Independent learners with RLlib's own PPO, one policy per player, on the batched games.

``naive_ppo_config`` returns a plain ``PPOConfig`` (a user can keep editing it) with the official
numbers and batch layout: whole fixed-length episodes of many games per batch, lambda = 1 (no
bootstrapping, the games end), several epochs over the whole batch. The update is RLlib's PPO, not the
official naive learner's: GAE advantages standardised and fixed before the epochs, value targets not
normalised, cyclic minibatches. The official naive learner (``src/agents/naive_learner.py``) is
``ReciprocatorConfig`` with ``agent_types=["naive", ...]``. The ``paper`` preset uses the official values
(``configs/ipd.yaml``, ``configs/coins.yaml``); ``small`` fits a CPU budget.
"""

from typing import Dict, List, Optional, Sequence, Set

from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

from envs.games import get_game
from rllib_ext.algorithms.players import mlp_learner_spec, player_module_specs, policy_mapping_fn
from rllib_ext.core.fixed_strategies import FIXED_STRATEGIES, IPD_STRATEGIES
from rllib_ext.env.batched_game_env_runner import BatchedGameEnvRunner

AGENT_TYPES = ("naive", *FIXED_STRATEGIES)
"""Agent types this algorithm plays: ``naive`` learns with PPO, the others are fixed strategies."""

PRESETS: Dict[str, Dict[str, Dict]] = {
    "ipd": {
        "paper": dict(num_games=2048, gamma=0.96, lr=0.005, num_epochs=10, clip_param=0.1,
                      entropy_coeff=0.02, hiddens=[2, 2], iterations=1000),
        "small": dict(num_games=256, gamma=0.96, lr=0.005, num_epochs=10, clip_param=0.1,
                      entropy_coeff=0.02, hiddens=[16], iterations=60),
    },
    "coin_game": {
        "paper": dict(num_games=1024, gamma=0.99, lr=0.005, num_epochs=40, clip_param=0.15,
                      entropy_coeff=0.01, hiddens=[32, 32], iterations=1000),
        "small": dict(num_games=128, gamma=0.99, lr=0.005, num_epochs=10, clip_param=0.15,
                      entropy_coeff=0.01, hiddens=[32, 32], iterations=50),
    },
}


def ppo_settings(env: str, preset: str, num_steps: int) -> Dict:
    """A preset's official PPO numbers as ``.training()`` settings: one batch = one episode of every game,
    ``num_epochs`` full-batch epochs."""
    p = PRESETS[env][preset]
    batch = p["num_games"] * num_steps
    return dict(train_batch_size_per_learner=batch, minibatch_size=batch, num_epochs=p["num_epochs"], lr=p["lr"],
                gamma=p["gamma"], clip_param=p["clip_param"], entropy_coeff=p["entropy_coeff"], vf_loss_coeff=0.5)


def naive_ppo_config(
    env: str,
    agents: Sequence[str],
    preset: str = "small",
    env_config: Optional[Dict] = None,
    seed: Optional[int] = None,
) -> PPOConfig:
    """PPOConfig for independent learners on ``env``; ``agents`` gives each player's type."""
    game = get_game(env)
    if preset not in PRESETS[env]:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS[env])}")
    p = PRESETS[env][preset]
    env_config = dict(env_config or {})
    num_steps = env_config.get("num_steps", 32)
    agent_ids: List[str] = game.reference(**env_config).possible_agents
    check_agents(agents, agent_ids)
    if env != "ipd" and any(kind in IPD_STRATEGIES for kind in agents):
        raise ValueError(f"{', '.join(IPD_STRATEGIES)} are IPD strategies")
    specs = player_module_specs(agents, mlp_learner_spec(p["hiddens"]))
    return (
        PPOConfig()
        .environment(env, env_config=env_config)
        .env_runners(
            env_runner_cls=BatchedGameEnvRunner,
            num_env_runners=0,
            num_envs_per_env_runner=p["num_games"],
            rollout_fragment_length=num_steps,
        )
        .multi_agent(
            policies=list(agent_ids),
            policy_mapping_fn=policy_mapping_fn,
            policies_to_train=[aid for aid, kind in zip(agent_ids, agents) if kind == "naive"],
        )
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        .training(**ppo_settings(env, preset, num_steps), lambda_=1.0, vf_clip_param=float("inf"), grad_clip=None)
        .debugging(seed=seed)
    )


def match_batch_to_games(config: PPOConfig, changed: Set[str]) -> None:
    """Keep one PPO batch = one episode of every game on every runner (split across the learners), unless set
    by hand."""
    num_steps = config.env_config.get("num_steps", 32)
    games = config.num_envs_per_env_runner * max(1, config.num_env_runners)
    batch = -(-games * num_steps // max(1, config.num_learners))
    if "train_batch_size_per_learner" not in changed:
        config.train_batch_size_per_learner = batch
    if "minibatch_size" not in changed:
        config.minibatch_size = config.train_batch_size_per_learner
    config.rollout_fragment_length = num_steps


def check_agents(agents: Sequence[str], agent_ids: Sequence[str]) -> None:
    """Raise a ValueError unless ``agents`` names one known type per player."""
    if len(agents) != len(agent_ids):
        raise ValueError(
            f"--agents lists {len(agents)} type(s) ({','.join(agents)}) but the game has "
            f"{len(agent_ids)} players ({', '.join(agent_ids)})"
        )
    for kind in agents:
        if kind not in AGENT_TYPES:
            raise ValueError(f"unknown agent type {kind!r}; known types: {', '.join(AGENT_TYPES)}")
    if "naive" not in agents:
        raise ValueError("at least one player must be a learner ('naive')")
