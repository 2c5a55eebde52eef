"""The IPD's influence estimator: closed form with the known payoffs."""

from __future__ import annotations

import copy
from collections import deque

import numpy as np

from envs.games.ipd import PAYOFFS
from rllib_ext.algorithms.reciprocator.influence.base import InfluenceEstimator, check_batch


def ipd_state_index(obs: np.ndarray) -> np.ndarray:
    """IPD state of an observation `[..., 2]` (previous joint action): s0 + 2·s1 + 1 (start 0, CC 1, DC 2,
    CD 3, DD 4). Any other encoding is refused (it would index wrong states silently)."""
    obs = np.asarray(obs)
    if obs.shape[-1:] != (2,):
        raise ValueError(f"MatrixInfluence reads IPD observations (the previous joint action [a0, a1], [-1, 0] at "
                         f"the start); got observations of size {obs.shape[-1:]}; use influence_estimator="
                         "'reward_future' for other games")
    first, second = obs[..., 0], obs[..., 1]
    valid = np.isin(first, (-1.0, 0.0, 1.0)) & np.isin(second, (0.0, 1.0)) & ((first >= 0) | (second == 0))
    if not valid.all():
        bad = obs[~valid][0].tolist()
        raise ValueError(f"MatrixInfluence reads IPD observations (the previous joint action [a0, a1] with actions "
                         f"0 or 1, [-1, 0] at the start); got {bad}; use influence_estimator='reward_future' "
                         "for other games")
    return (first + 2 * second + 1).astype(np.int64)


class MatrixInfluence(InfluenceEstimator):
    """IPD value influence in closed form (official `src/agents/matrix_games/matrix_voi.py` `MatrixVOI`), immediate term only.

    p̂_j(s) = empirical P(defect) of player j in state s over the last `buffer_episodes` observed batches,
    initialised to 0.5 and refreshed inside `observe` after the 1st, (1 + refresh_period)-th, ... observed
    episode (official: `episode_count % period == 0`, counting from 0, before the episode's reward is computed).
    With R_i the payoff table, a the joint action and E_j the expectation over a'_j ~ p̂_j(s):

        vi[..., j, i] = R_i(a) − E_j R_i(a with a_j := a'_j)        (also for i = j)

    One change from the official code: a state absent from the buffer keeps its previous estimate (the official
    estimate divides by zero and gives NaN). r_i is read from the payoff table rather than from `rewards`, so
    augmented rewards cannot leak in. `fit` has nothing to train and only reports p̂.
    """

    num_players = 2
    num_states = 5

    def __init__(self, payoffs: np.ndarray = PAYOFFS, refresh_period: int = 3, buffer_episodes: int = 1) -> None:
        self.payoffs = np.asarray(payoffs, dtype=np.float64)  # [a0, a1, i]
        if self.payoffs.shape != (2, 2, 2):
            raise ValueError(f"payoffs must have shape (2, 2, 2), got {self.payoffs.shape}")
        self.refresh_period = refresh_period
        self.buffer: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=buffer_episodes)
        self.p_defect = np.full((self.num_players, self.num_states), 0.5)
        self.num_observed = 0

    def observe(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        check_batch(obs, actions, rewards, self.num_players)
        states = ipd_state_index(np.asarray(obs)[:, :, 0]).reshape(-1)
        self.buffer.append((states.astype(np.int8), np.asarray(actions).reshape(-1, 2).astype(np.int8)))
        self.num_observed += 1
        if (self.num_observed - 1) % self.refresh_period == 0:
            self._refresh()

    def _refresh(self) -> None:
        states = np.concatenate([s for s, _ in self.buffer])
        actions = np.concatenate([a for _, a in self.buffer])
        visits = np.bincount(states, minlength=self.num_states)
        seen = visits > 0
        for j in range(self.num_players):
            defections = np.bincount(states, weights=actions[:, j], minlength=self.num_states)
            self.p_defect[j, seen] = defections[seen] / visits[seen]

    def fit(self) -> dict[str, float]:
        return {
            f"p_defect_{j}_s{s}": float(self.p_defect[j, s])
            for j in range(self.num_players)
            for s in range(self.num_states)
        }

    def influence(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        check_batch(obs, actions, rewards, self.num_players)
        s = ipd_state_index(np.asarray(obs)[:, :, 0])
        a0, a1 = np.asarray(actions)[..., 0], np.asarray(actions)[..., 1]
        R = self.payoffs
        p0, p1 = self.p_defect[0, s][..., None], self.p_defect[1, s][..., None]
        baseline_0 = (1 - p0) * R[0, a1] + p0 * R[1, a1]  # [B, T, i]: player 0's action marginalised
        baseline_1 = (1 - p1) * R[a0, 0] + p1 * R[a0, 1]
        return R[a0, a1][..., None, :] - np.stack([baseline_0, baseline_1], axis=-2)

    def get_state(self, include_replay: bool = True) -> dict:
        buffer = list(self.buffer) if include_replay else []
        return copy.deepcopy({"p_defect": self.p_defect, "num_observed": self.num_observed, "buffer": buffer})

    def set_state(self, state: dict) -> None:
        self.p_defect = np.array(state["p_defect"], dtype=np.float64)
        self.num_observed = int(state["num_observed"])
        self.buffer.clear()
        self.buffer.extend(state["buffer"])
