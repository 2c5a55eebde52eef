"""The interface of the value-influence estimators and when to refit them.

Every estimator returns `vi[b, t, j, i]`, shape `[B, T, N, N]`: how much player j's action at step t changed
player i's return (paper Section 3). It `observe`s an episode batch (each player's own flat observation
`[B, T, N, D]`, actions `[B, T, N]`, EXTRINSIC rewards `[B, T, N]`: reciprocal-augmented rewards must never reach
it, or two Reciprocators would estimate each other's shaping), `fit`s on its replay, then gives the `influence`
of a batch. `FitSchedule` says when to fit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


class InfluenceEstimator(ABC):
    """Estimates `vi[b, t, j, i]` from joint episode batches (centralised: sees every player's data)."""

    @abstractmethod
    def observe(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Add one episode batch: obs `[B, T, N, D]` float32, actions `[B, T, N]` int, extrinsic rewards
        `[B, T, N]`."""

    @abstractmethod
    def fit(self) -> dict[str, float]:
        """Refit on the replay; returns losses or estimates for logging."""

    @abstractmethod
    def influence(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        """Value influence `vi [B, T, N, N]` (`vi[..., j, i]`: j's action on i's return) for one batch."""

    @abstractmethod
    def get_state(self, include_replay: bool = True) -> dict:
        """Picklable state (numpy arrays, torch state dicts); without the replay it only serves `influence`."""

    @abstractmethod
    def set_state(self, state: dict) -> None:
        """Restore what `get_state` returned."""


@dataclass(frozen=True)
class FitSchedule:
    """When to fit the estimator (official `CoinsTrainer`): after every episode while `episode <=
    initialization_episodes`, afterwards when `episode % period == 0`. Episodes count from 1 (the first episode
    is 1), as in the official trainer, so the defaults fit after episodes 1, 2, 4, 6, ..."""

    initialization_episodes: int = 2
    period: int = 2

    def should_fit(self, episode: int) -> bool:
        return episode <= self.initialization_episodes or episode % self.period == 0


def check_batch(obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, num_players: int) -> None:
    batch = (*np.shape(actions)[:2], num_players)
    if np.ndim(obs) != 4 or np.shape(obs)[:3] != batch or np.shape(actions) != batch or np.shape(rewards) != batch:
        raise ValueError(
            f"expected obs [B, T, {num_players}, D], actions and rewards [B, T, {num_players}]; got "
            f"{np.shape(obs)}, {np.shape(actions)}, {np.shape(rewards)}"
        )
