"""The social-dilemma games as PettingZoo envs, their batched numpy twins, and RLlib registration.

Importing this package registers every game with RLlib under its name (``"ipd"``,
``"coin_game"``), so ``config.environment("ipd", env_config={...})`` works in any
RLlib pipeline. The RLlib-facing env is the PettingZoo reference wrapped in
``ParallelPettingZooEnv``; Coin Game observations are flattened there (``flat_obs``)
so RLlib's default models accept them.
"""

import os

# RLlib imports dm_control, whose default GLFW renderer warns without a display; the games never render.
os.environ.setdefault("MUJOCO_GL", "disabled")

from dataclasses import dataclass  # noqa: E402
from typing import Any, Callable, Dict, Tuple  # noqa: E402

import numpy as np  # noqa: E402

from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv  # noqa: E402
from ray.tune.registry import register_env  # noqa: E402

from envs.games.coin_game import BatchedCoinGame, CoinGame, coin_game_metrics  # noqa: E402
from envs.games.ipd import IPD, BatchedIPD, ipd_metrics  # noqa: E402


@dataclass(frozen=True)
class Game:
    """One game: its reference env, its batched twin and its metrics function."""

    name: str
    reference: type
    batched: type
    metrics: Callable[[np.ndarray, np.ndarray, Dict[str, np.ndarray]], Dict[str, Dict[str, float]]]
    """``metrics(actions [B,T,N], rewards [B,T,N], info {key: [B,T,...]})`` -> {agent_id: {name: value}}."""
    rllib_defaults: Dict[str, Any]
    headline_metrics: Tuple[str, ...]
    """The per-player metrics that progress lines, tables and plots show."""


def _ipd_metrics(actions, rewards, info):
    return ipd_metrics(actions, rewards)


def _coin_game_metrics(actions, rewards, info):
    return coin_game_metrics(rewards, info["pickups"])


GAMES: Dict[str, Game] = {
    "ipd": Game("ipd", IPD, BatchedIPD, _ipd_metrics, {}, ("cooperation_rate", "reward_per_step")),
    "coin_game": Game(
        "coin_game", CoinGame, BatchedCoinGame, _coin_game_metrics, {"flat_obs": True},
        ("own_coin_rate", "coins", "return"),
    ),
}


def get_game(name: str) -> Game:
    """The game registered as ``name``; a ValueError lists the known names otherwise."""
    if name not in GAMES:
        raise ValueError(f"unknown env {name!r}; known envs: {', '.join(sorted(GAMES))}")
    return GAMES[name]


def game_kwargs(name: str, env_config: Dict[str, Any]) -> Dict[str, Any]:
    """Constructor kwargs for the game from an RLlib env_config (RLlib defaults filled in)."""
    return {**get_game(name).rllib_defaults, **dict(env_config)}


def make_rllib_env(name: str, env_config: Dict[str, Any]) -> ParallelPettingZooEnv:
    """The reference PettingZoo game wrapped for RLlib."""
    return ParallelPettingZooEnv(get_game(name).reference(**game_kwargs(name, env_config)))


def register_rllib_envs() -> None:
    """Register every game with RLlib's env registry under its name."""
    for name in GAMES:
        register_env(name, lambda env_config, _name=name: make_rllib_env(_name, env_config))


register_rllib_envs()
