"""Hindsight goal relabelling for the offline goal-conditioned family (OGBench's ``GCDataset`` / ``HGCDataset``).

How this fits RLlib's offline pipeline: RLlib's own path (``config.offline_data(input_=...)``)
streams *rows* through ray.data into an ``OfflinePreLearner`` and on into the learner. These
batches cannot be made from rows: every sampled transition needs goals drawn from the *future
of its own trajectory* (geometric value goals, uniform actor goals, waypoints ``k`` steps ahead)
and rewards decided by comparing row indices. That needs random access to whole trajectories
and their boundaries. So the ``GCRL`` algorithm keeps the dataset
in memory (1M rows of small states fit easily), draws ready batches here with numpy, and hands
them to ``learner_group.update(batch=MultiAgentBatch(...))``; a numpy batch skips the learner
connector and is only converted to tensors.

Dataset layout (raw OGBench ``.npz``): rows ``(s_t, a_t)`` with ``terminals = 1`` on each
episode's last row. The last row has no successor, so it is never a sampled transition and
never a goal: ``T_end(i)`` below is the last *valid* row of ``i``'s episode.
"""

from typing import Dict, NamedTuple, Optional

import numpy as np

from ray.rllib.core.columns import Columns

VALUE_GOALS = "value_goals"
"""g_v: value goal (OGBench ``value_goals``)."""
MASKS = "masks"
"""m = 1 − success (OGBench ``masks``)."""
SUBPOLICY_GOALS = "subpolicy_goals"
"""w_lo = s_min(i+k, T_end): the subpolicy's goal (OGBench ``low_actor_goals``)."""
ACTOR_GOALS = "actor_goals"
"""g_π: uniform future state of the same trajectory (OGBench ``high_actor_goals``)."""
WAYPOINTS = "waypoints"
"""w = s_min(i+k, t_g): the bootstrapping waypoint (OGBench ``high_actor_targets``)."""
OBSERVATION_COLUMNS = (Columns.OBS, Columns.NEXT_OBS, VALUE_GOALS, SUBPOLICY_GOALS, ACTOR_GOALS, WAYPOINTS)
"""The batch columns that hold observations (images in a pixel batch)."""
ROWS = "_rows"
"""Suffix of a column's row indices in an index batch (``sample_rows``): ``obs_rows``, ``value_goals_rows``, ..."""


class GoalIndices(NamedTuple):
    """Row indices of one relabelled batch (all ``[B]`` int arrays)."""

    rows: np.ndarray
    trajectory_ends: np.ndarray
    value_goals: np.ndarray
    subpolicy_goals: np.ndarray
    actor_goals: np.ndarray
    waypoints: np.ndarray


class GoalSampler:
    """Draws relabelled batches from an in-memory trajectory dataset.

    Value goals: the current state with prob ``value_p_curgoal``; otherwise a future state of
    the same trajectory ``min(i + Geom(1 − γ), T_end)`` with prob
    ``value_p_trajgoal / (1 − value_p_curgoal)``, else a uniformly random valid row.
    Reward and mask come from index equality: ``r = [g_v == i] − 1``, ``m = 1 − [g_v == i]``.
    Actor goals: a future state of the same trajectory ``t_g = round(min(i+1, T_end)·u + T_end·(1−u))``,
    ``u ~ U[0, 1)``; with prob ``actor_p_randomgoal`` a uniformly random valid row instead, and with prob
    ``actor_p_curgoal`` the current state (OGBench ``GCDataset.sample_goals`` with uniform future goals).
    Subpolicy goal ``min(i+k, T_end)``; waypoint ``min(i+k, t_g)``, or ``min(i+k, T_end)`` for a random actor
    goal (OGBench ``HGCDataset``, which has no current-state actor goals: there ``min(i+k, i) = i``).
    """

    def __init__(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        terminals: np.ndarray,
        *,
        gamma: float,
        subgoal_steps: int,
        value_p_curgoal: float,
        value_p_trajgoal: float,
        value_p_randomgoal: float,
        actor_p_curgoal: float = 0.0,
        actor_p_trajgoal: float = 1.0,
        actor_p_randomgoal: float = 0.0,
        seed: Optional[int] = None,
    ):
        assert len(observations) == len(actions) == len(terminals)
        assert np.isclose(value_p_curgoal + value_p_trajgoal + value_p_randomgoal, 1.0)
        assert np.isclose(actor_p_curgoal + actor_p_trajgoal + actor_p_randomgoal, 1.0)
        self.observations = observations
        self.actions = actions
        if not terminals[-1]:
            raise ValueError("the last row must be terminal (the final episode is incomplete)")
        self.last_rows = np.flatnonzero(terminals)
        valid = np.ones(len(terminals), dtype=bool)
        valid[self.last_rows] = False
        self.valid_rows = np.flatnonzero(valid)
        if len(self.valid_rows) == 0:
            raise ValueError("the dataset has no transitions (every episode is a single row)")
        self.gamma = gamma
        self.subgoal_steps = subgoal_steps
        self.p_curgoal = value_p_curgoal
        self.p_traj_given_not_cur = value_p_trajgoal / (1.0 - value_p_curgoal) if value_p_curgoal < 1 else 1.0
        self.actor_p_curgoal = actor_p_curgoal
        self.actor_p_traj_given_not_cur = actor_p_trajgoal / (1.0 - actor_p_curgoal) if actor_p_curgoal < 1 else 1.0
        self.rng = np.random.default_rng(seed)

    @classmethod
    def for_config(cls, dataset: Dict[str, np.ndarray], config) -> "GoalSampler":
        """The sampler a ``GCRLConfig`` asks for, over a loaded dataset (``common.dataset.load``)."""
        return cls(
            dataset["observations"],
            dataset["actions"],
            dataset["terminals"],
            gamma=config.gamma,
            subgoal_steps=config.subgoal_steps,
            value_p_curgoal=config.value_p_curgoal,
            value_p_trajgoal=config.value_p_trajgoal,
            value_p_randomgoal=config.value_p_randomgoal,
            actor_p_curgoal=config.actor_p_curgoal,
            actor_p_trajgoal=config.actor_p_trajgoal,
            actor_p_randomgoal=config.actor_p_randomgoal,
            seed=config.seed,
        )

    def trajectory_end(self, rows: np.ndarray) -> np.ndarray:
        """``T_end``: the last valid row of each row's episode."""
        return self.last_rows[np.searchsorted(self.last_rows, rows)] - 1

    def sample_indices(self, batch_size: int) -> GoalIndices:
        rng, k = self.rng, self.subgoal_steps
        i = self.valid_rows[rng.integers(len(self.valid_rows), size=batch_size)]
        t_end = self.trajectory_end(i)

        traj_goal = np.minimum(i + rng.geometric(1.0 - self.gamma, size=batch_size), t_end)
        random_goal = self.valid_rows[rng.integers(len(self.valid_rows), size=batch_size)]
        value_goal = np.where(rng.random(batch_size) < self.p_traj_given_not_cur, traj_goal, random_goal)
        value_goal = np.where(rng.random(batch_size) < self.p_curgoal, i, value_goal)

        u = rng.random(batch_size)
        actor_goal = np.round(np.minimum(i + 1, t_end) * u + t_end * (1.0 - u)).astype(np.int64)
        waypoint = np.minimum(i + k, actor_goal)
        if self.actor_p_traj_given_not_cur < 1:  # random actor goals (drawn only when used: same stream otherwise)
            random_actor = rng.random(batch_size) >= self.actor_p_traj_given_not_cur
            actor_goal = np.where(random_actor, self.valid_rows[rng.integers(len(self.valid_rows), size=batch_size)],
                                  actor_goal)
            waypoint = np.where(random_actor, np.minimum(i + k, t_end), waypoint)
        if self.actor_p_curgoal > 0:
            current = rng.random(batch_size) < self.actor_p_curgoal
            actor_goal, waypoint = np.where(current, i, actor_goal), np.where(current, i, waypoint)
        return GoalIndices(
            rows=i,
            trajectory_ends=t_end,
            value_goals=value_goal,
            subpolicy_goals=np.minimum(i + k, t_end),
            actor_goals=actor_goal,
            waypoints=waypoint,
        )

    def sample(self, batch_size: int) -> Dict[str, np.ndarray]:
        """A ready training batch: observations, actions, rewards, masks and the four goal columns."""
        batch = self.sample_rows(batch_size)
        for column in OBSERVATION_COLUMNS:
            batch[column] = self.observations[batch.pop(column + ROWS)]
        return batch

    def sample_rows(self, batch_size: int) -> Dict[str, np.ndarray]:
        """An index batch: actions, rewards, masks, and each observation column's row indices ``<column>_rows``
        (pixel batches: the learner gathers the images, ``images.ObservationGatherer``)."""
        idx = self.sample_indices(batch_size)
        success = (idx.value_goals == idx.rows).astype(np.float32)
        rows = (idx.rows, idx.rows + 1, idx.value_goals, idx.subpolicy_goals, idx.actor_goals, idx.waypoints)
        return {
            Columns.ACTIONS: self.actions[idx.rows],
            Columns.REWARDS: success - 1.0,
            MASKS: 1.0 - success,
            **{column + ROWS: r for column, r in zip(OBSERVATION_COLUMNS, rows)},
        }

    def get_state(self) -> Dict:
        return {"rng": self.rng.bit_generator.state}

    def set_state(self, state: Dict) -> None:
        self.rng.bit_generator.state = state["rng"]
