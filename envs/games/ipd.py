"""Iterated Prisoner's Dilemma as in the official Reciprocator code (`src/environments/ipd.py`).

Two versions of the same game: `IPD`, a PettingZoo `ParallelEnv` playing one game, and `BatchedIPD`,
which steps many games at once with numpy. `ipd_metrics` summarises whole episodes.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

AGENTS = ("player_0", "player_1")
COOPERATE, DEFECT = 0, 1
PAYOFFS = np.array(
    [[[-1.0, -1.0], [-3.0, 0.0]], [[0.0, -3.0], [-2.0, -2.0]]], dtype=np.float32
)
"""`PAYOFFS[a0, a1] = (r0, r1)`: CC (-1, -1), CD (-3, 0), DC (0, -3), DD (-2, -2)."""
FIRST_OBS = np.array([-1.0, 0.0], dtype=np.float32)
"""Observation before the first move (the official code's start token)."""
PAYOFFS.flags.writeable = False
FIRST_OBS.flags.writeable = False
_PAYOFF_ROWS = PAYOFFS.reshape(4, 2)


def _check_num_steps(num_steps: int) -> None:
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")


def _observation_space() -> spaces.Box:
    return spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float32)


def _action_space() -> spaces.Discrete:
    return spaces.Discrete(2)


class IPD(ParallelEnv):
    """One two-player Iterated Prisoner's Dilemma game.

    Actions: 0 = cooperate, 1 = defect; rewards from `PAYOFFS`. Both players observe the previous joint
    action `[a0, a1]` (the same vector for both, not swapped per player), `[-1, 0]` before the first move.
    An episode lasts exactly `num_steps` moves; at the last one every agent gets `terminations=True`
    (the game is over, so no value bootstrapping, as in the official code) and never a truncation.
    """

    metadata = {"name": "ipd_v0", "render_modes": []}

    def __init__(self, num_steps: int = 32) -> None:
        _check_num_steps(num_steps)
        self.num_steps = num_steps
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self.t = 0
        self._observation_spaces = {a: _observation_space() for a in AGENTS}
        self._action_spaces = {a: _action_space() for a in AGENTS}

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        """Start an episode. The game is deterministic, so `seed` and `options` are ignored."""
        self.agents = list(self.possible_agents)
        self.t = 0
        return {a: FIRST_OBS.copy() for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: Mapping[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        """Play one round; `actions` maps every agent id to 0 (cooperate) or 1 (defect)."""
        if not self.agents:
            raise RuntimeError("the episode is over (or was never started); call reset()")
        for agent in self.agents:
            if not self._action_spaces[agent].contains(actions[agent]):
                raise ValueError(f"invalid action {actions[agent]!r} for {agent}")
        a0, a1 = int(actions[AGENTS[0]]), int(actions[AGENTS[1]])
        joint = np.array([a0, a1], dtype=np.float32)
        self.t += 1
        done = self.t >= self.num_steps
        obs = {a: joint.copy() for a in self.agents}
        rewards = {a: float(PAYOFFS[a0, a1, i]) for i, a in enumerate(self.agents)}
        terminations = {a: done for a in self.agents}
        truncations = {a: False for a in self.agents}
        infos: dict[str, dict[str, Any]] = {a: {} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos


class BatchedIPD:
    """`num_games` IPD games stepped together with numpy; same rules and spaces as `IPD`.

    Observations are `[B, 2, 2]` float32 (`obs[b, i]` is player i's observation), rewards `[B, 2]` float32.
    All games start and end together; after `num_steps` steps `step` raises until `reset` is called.
    The game is deterministic: `seed` exists only for interface symmetry with `BatchedCoinGame`.
    """

    def __init__(self, num_games: int, num_steps: int = 32, seed: int | None = None) -> None:
        if num_games < 1:
            raise ValueError(f"num_games must be >= 1, got {num_games}")
        _check_num_steps(num_steps)
        self.num_games = num_games
        self.num_players = 2
        self.agents = list(AGENTS)
        self.num_steps = num_steps
        self.num_actions = 2
        self.obs_shape = (2,)
        self.t = 0
        self._needs_reset = True
        self._observation_space = _observation_space()
        self._action_space = _action_space()
        self._first_obs = np.broadcast_to(FIRST_OBS, (num_games, 2, 2))

    def observation_space(self) -> spaces.Box:
        return self._observation_space

    def action_space(self) -> spaces.Discrete:
        return self._action_space

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start new episodes in all games; returns observations `[B, 2, 2]`."""
        self.t = 0
        self._needs_reset = False
        return self._first_obs.copy()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """Play one round in every game; `actions` is an int array `[B, 2]` of 0/1."""
        if self._needs_reset:
            raise RuntimeError(f"all {self.num_steps} steps were played (or no reset yet); call reset()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_games, 2):
            raise ValueError(f"actions must have shape {(self.num_games, 2)}, got {actions.shape}")
        if actions.dtype.kind not in "iu" or np.any(actions >> 1):
            raise ValueError("actions must be integers in {0, 1}")
        rewards = _PAYOFF_ROWS.take(actions[:, 0] * 2 + actions[:, 1], axis=0)
        obs = np.repeat(actions.astype(np.float32)[:, None, :], 2, axis=1)
        self.t += 1
        self._needs_reset = self.t >= self.num_steps
        return obs, rewards, {}


def ipd_metrics(actions: np.ndarray, rewards: np.ndarray) -> dict[str, dict[str, float]]:
    """Per-player episode metrics from `actions` and `rewards` of shape `[B, T, 2]`, averaged over games.

    `cooperation_rate`: fraction of moves that cooperate; `reward_per_step`: mean reward per move;
    `return`: mean over games of the episode's summed reward.
    """
    actions = np.asarray(actions)
    rewards = np.asarray(rewards, dtype=np.float64)
    if actions.ndim != 3 or actions.shape[-1] != 2 or actions.shape != rewards.shape:
        raise ValueError(
            f"actions and rewards must both have shape [B, T, 2], got {actions.shape} and {rewards.shape}"
        )
    return {
        agent: {
            "cooperation_rate": float(np.mean(actions[..., i] == COOPERATE)),
            "reward_per_step": float(rewards[..., i].mean()),
            "return": float(rewards[..., i].sum(axis=1).mean()),
        }
        for i, agent in enumerate(AGENTS)
    }
