"""The reward-influence learner connector: adds reciprocal rewards to Reciprocators' rewards.

``ReciprocalRewardConnector`` is a ``ConnectorV2`` piece for the learner pipeline. On every
update it reads the whole joint episodes (all players' observations, actions and *extrinsic*
rewards), feeds them to its influence estimator (replay + refit on the estimator's schedule),
estimates every player's value influence on every other player, and for each Reciprocator adds
``weight * reciprocal_reward`` (influence balance x influence out, paper Section 3) to that player's
rewards, before returns and advantages are computed. Naive learners' rewards are untouched; the
estimator only ever sees extrinsic rewards (the official IPD code feeds it the augmented ones).

It works in any RLlib PPO pipeline whose env runners return whole episodes in which every player
acts at every step (the batched game runner does; with the stock runner use
``batch_mode="complete_episodes"``)::

    config.learners(learner_connector=lambda obs_space, act_space: ReciprocalRewardConnector(
        reciprocators={"player_0": "player_0"}, estimator=MatrixInfluence(), gamma=0.96,
        kind="one_step_grudge", weight=(5.0, 5.0, 0.0)))

In a pipeline each learner's copy sees only its shard of the episodes, so with ``num_learners > 1``
the estimator would not be centralised. ``Reciprocator`` therefore does not put the piece in its
learners' pipelines: it calls ``shaped_rewards`` on one learner with the whole joint batch of the
iteration and adds the result to the episodes before RLlib splits them across the learners.
"""

import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from ray.rllib.connectors.connector_v2 import ConnectorV2

from rllib_ext.algorithms.reciprocator.influence import FitSchedule, InfluenceEstimator
from rllib_ext.algorithms.reciprocator.reciprocal_reward import normalize, reciprocal_rewards, scheduled_weight
from rllib_ext.connectors.learner.episodes_to_batch_in_bulk import LOSS_MASK_ADDED, buffer_data
from rllib_ext.utils.metrics import INFLUENCE_ESTIMATOR, RECIPROCATOR_METRICS

STATE_ESTIMATOR, STATE_UPDATES = "estimator", "num_updates"


def _column(sa, name: str) -> np.ndarray:
    """An episode's observations, actions or rewards: the numpy buffer itself when it has no lookback."""
    data = buffer_data(getattr(sa, name))
    return data if data is not None else np.asarray(getattr(sa, f"get_{name}")())


def joint_arrays(episodes, agent_ids: Sequence[str], drop_last: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``obs [B,T,N,D]``, ``actions [B,T,N]``, ``rewards [B,T,N]`` of whole joint episodes.

    ``drop_last`` removes the artificial step PPO's learner pipeline appends to every episode.
    """
    obs, actions, rewards = [], [], []
    for ep in episodes:
        if ep.env_t_started != 0:
            raise ValueError(
                "ReciprocalRewardConnector needs whole episodes (got a chunk starting at "
                f"t={ep.env_t_started}); use the batched game runner or batch_mode='complete_episodes'"
            )
        sas = [ep.agent_episodes[aid] for aid in agent_ids]
        end = len(sas[0]) - 1 if drop_last else len(sas[0])
        if any(len(sa) != len(sas[0]) for sa in sas):
            raise ValueError("ReciprocalRewardConnector needs every player to act at every step")
        obs.append(np.stack([_column(sa, "observations")[:end] for sa in sas], axis=1))
        actions.append(np.stack([_column(sa, "actions")[:end] for sa in sas], axis=1))
        rewards.append(np.stack([_column(sa, "rewards")[:end] for sa in sas], axis=1))
    lengths = {len(a) for a in actions}
    if len(lengths) != 1:
        raise ValueError(f"episodes of different lengths {sorted(lengths)}; the games have a fixed length")
    obs_arr = np.stack(obs).astype(np.float32)
    return obs_arr.reshape(*obs_arr.shape[:3], -1), np.stack(actions).astype(np.int64), np.stack(rewards)


def add_to_rewards(episodes, agent_id: str, extra: np.ndarray) -> None:
    """Add ``extra[b, t]`` to ``agent_id``'s rewards in the first ``T`` steps of episode ``b``."""
    for b, ep in enumerate(episodes):
        sa = ep.agent_episodes[agent_id]
        shaped = np.asarray(sa.get_rewards(), np.float32).copy()
        shaped[: extra.shape[1]] += extra[b]
        sa.set_rewards(new_data=shaped)


class ReciprocalRewardConnector(ConnectorV2):
    """Learner connector piece that shapes Reciprocators' rewards with reciprocal rewards.

    Args:
        reciprocators: ``{agent_id: module_id}`` of the players whose rewards get reshaped.
        estimator: the influence estimator (``MatrixInfluence`` for IPD, ``RewardFutureInfluence``
            for the Coin Game); it is fitted from the episodes this connector sees.
        gamma: discount of the influence balance (the Reciprocator's PPO gamma).
        kind: reciprocal-reward type (``reciprocal_reward.RECIPROCAL_REWARD_TYPES`` or the IPD
            ``"one_step_grudge"``).
        weight: ``(start, end, rate)``: the weight starts at ``start`` and grows by ``rate`` after
            every update up to ``end``.
        normalize_reward: standardise the reciprocal reward over the batch before weighting.
        fit_schedule: when to refit the estimator (counted in updates of this connector).
        agent_ids: all players in seat order (default: sorted ids of the first episode).
    """

    def __init__(
        self,
        input_observation_space=None,
        input_action_space=None,
        *,
        reciprocators: Dict[str, str],
        estimator: InfluenceEstimator,
        gamma: float,
        kind: str,
        weight: Tuple[float, float, float] = (1.0, 1.0, 0.0),
        normalize_reward: bool = False,
        fit_schedule: Optional[FitSchedule] = None,
        agent_ids: Optional[Sequence[str]] = None,
        **kwargs,
    ):
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.reciprocators = dict(reciprocators)
        self.estimator = estimator
        self.gamma = gamma
        self.kind = kind
        self.weight = tuple(weight)
        self.normalize_reward = normalize_reward
        self.fit_schedule = fit_schedule or FitSchedule(initialization_episodes=0, period=1)
        self.agent_ids = list(agent_ids) if agent_ids else None
        self.num_updates = 0
        self.episodes_seen = 0
        self.fit_seconds = 0.0
        self.last_fit: Dict[str, float] = {}

    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None, metrics=None, **kwargs):
        drop_last = bool((shared_data or {}).get(LOSS_MASK_ADDED))
        arrays = joint_arrays(episodes, self._agent_ids(episodes), drop_last)
        for aid, extra in self.shaped_rewards(*arrays, metrics=metrics).items():
            add_to_rewards(episodes, aid, extra)
        return batch

    def shaped_rewards(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                       metrics=None) -> Dict[str, np.ndarray]:
        """``{agent_id: weight * reciprocal_reward [B, T]}`` of every Reciprocator for one joint batch
        (``joint_arrays``), after the estimator observed it (and refit on its schedule)."""
        if self.agent_ids is None:
            raise ValueError("ReciprocalRewardConnector.shaped_rewards needs agent_ids (the players in seat order)")
        start = time.perf_counter()
        self.observe(obs, actions, rewards)
        vi = self.estimator.influence(obs, actions, rewards)
        w = scheduled_weight(*self.weight, self.num_updates)
        shaped = {}
        for aid, module_id in self.reciprocators.items():
            rr, stats = reciprocal_rewards(vi, self.agent_ids.index(aid), self.gamma, self.kind)
            if metrics is not None:
                self._log(metrics, module_id, rr * w, stats, w)
            shaped[aid] = w * (normalize(rr) if self.normalize_reward else rr)
        self.num_updates += 1
        if metrics is not None:
            metrics.log_value((INFLUENCE_ESTIMATOR, "fit_time_s"), self.fit_seconds, window=1)
            metrics.log_value((INFLUENCE_ESTIMATOR, "connector_time_s"), time.perf_counter() - start, window=1)
        return shaped

    def observe(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Add a joint batch to the estimator's replay and refit it if the schedule says so."""
        self.estimator.observe(obs, actions, rewards)
        self.episodes_seen += 1
        self.fit_seconds = 0.0
        if self.fit_schedule.should_fit(self.episodes_seen):
            start = time.perf_counter()
            self.last_fit = self.estimator.fit()
            self.fit_seconds = time.perf_counter() - start

    def _agent_ids(self, episodes) -> List[str]:
        if self.agent_ids is None:
            self.agent_ids = sorted(episodes[0].agent_episodes)
        return self.agent_ids

    def _log(self, metrics, module_id: str, weighted_rr: np.ndarray, stats: Dict[str, float], w: float) -> None:
        values = dict(zip(RECIPROCATOR_METRICS, (
            float(weighted_rr.sum(axis=1).mean()), float(weighted_rr.mean()), w, stats["end_balance"],
            stats["vi_in"], stats["vi_out"])))
        for name, value in values.items():
            metrics.log_value((module_id, name), value, window=1)
        for name, value in self.last_fit.items():
            metrics.log_value((INFLUENCE_ESTIMATOR, name), float(value), window=1)

    def get_state(self, components=None, *, not_components=None, **kwargs) -> Dict[str, Any]:
        return {STATE_ESTIMATOR: self.estimator.get_state(), STATE_UPDATES: self.num_updates,
                "episodes_seen": self.episodes_seen}

    def set_state(self, state: Dict[str, Any]) -> None:
        self.estimator.set_state(state[STATE_ESTIMATOR])
        self.num_updates = state[STATE_UPDATES]
        self.episodes_seen = state["episodes_seen"]
