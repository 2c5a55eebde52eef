"""Presets for M-FOS: ``paper`` (the official settings, ``src/main_mfos_ppo.py``) and ``small`` (a CPU budget).

Deltas on ``MFOSConfig``'s defaults (which hold the official PPO numbers) per env and preset; ``iterations`` is
the default number of meta-episodes (one PPO update each).
"""

from typing import Dict, Optional, Sequence, Tuple

from envs.games import get_game
from rllib_ext.algorithms.mfos.mfos import OPPONENTS, MFOSConfig
from rllib_ext.algorithms.mfos.meta_game_env_runner import ANALYTIC, META_GAMES

AGENT_TYPES = ("mfos", "naive", "reciprocator")
"""``--agents``: M-FOS in seat 0, its opponent in seat 1."""

PRESETS: Dict[str, Dict[str, Dict]] = {
    "ipd_analytic": {
        # main_mfos_ppo.py: 4096 games, 1024 meta-episodes of 100 meta-steps, lr 0.002, 4 epochs.
        "paper": dict(games=4096, iterations=1024, training=dict()),
        # A CPU budget: 256 games, 150 meta-episodes (M-FOS passes the naive learner after about 60 of them).
        "small": dict(games=256, iterations=150, training=dict()),
    },
    # The sampled meta-game: the official Coin Game M-FOS's PPO (main_mfos_coin_game.py: gamma 0.995, lr 2e-4,
    # 16 full-batch epochs, no entropy bonus, 512 games, 1000 meta-episodes of 16 inner episodes) on this
    # package's 32-step games; the opponent learns with its Reciprocator preset's PPO numbers.
    **{game: {
        "paper": dict(games=512, iterations=1000, env=dict(inner_episodes=16, opponent_preset="paper"),
                      training=dict(gamma=0.995, lr=2e-4, num_epochs=16, entropy_coeff=0.0, hidden=64)),
        # A CPU budget: 64 games, 8 inner episodes, 100 meta-episodes, a larger step.
        "small": dict(games=64, iterations=100, env=dict(inner_episodes=8),
                      training=dict(gamma=0.995, lr=2e-3, num_epochs=4, entropy_coeff=0.01, hidden=64)),
    } for game in ("ipd", "coin_game")},
}


def mfos_config(
    env: str,
    agents: Optional[Sequence[str]] = None,
    preset: str = "small",
    env_config: Optional[Dict] = None,
    seed: Optional[int] = None,
) -> MFOSConfig:
    """An ``MFOSConfig`` on ``env`` with ``agents`` = ``["mfos", OPPONENT]`` (default ``mfos,naive``)."""
    if env not in META_GAMES:
        raise ValueError(f"unknown env {env!r} for mfos; known envs: {', '.join(META_GAMES)}")
    agents = list(agents or ["mfos", "naive"])
    if len(agents) != 2 or agents[0] != "mfos" or agents[1] not in OPPONENTS[env]:
        raise ValueError(f"--agents {','.join(agents)}: mfos plays player_0 against one opponent, e.g. "
                         f"--agents mfos,naive (opponents on {env}: {', '.join(OPPONENTS[env])})")
    if preset not in PRESETS[env]:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS[env])}")
    p = PRESETS[env][preset]
    return (
        MFOSConfig()
        .environment(env, env_config={**p.get("env", {}), **(env_config or {})})
        .env_runners(num_envs_per_env_runner=p["games"])
        .training(opponent=agents[1], **p["training"])
        .debugging(seed=seed)
    )


def default_iterations(env: str, preset: str) -> int:
    return PRESETS[env][preset]["iterations"]


def headline_metrics(config: MFOSConfig) -> Tuple[str, ...]:
    """What progress lines and tables show per player: reward per step and cooperation on the analytic IPD, the
    game's headline metrics on the sampled meta-games."""
    return ("reward_per_step", "cooperation_rate") if config.env == ANALYTIC else get_game(config.env).headline_metrics
