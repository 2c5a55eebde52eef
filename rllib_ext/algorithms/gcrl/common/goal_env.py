"""The OGBench environment of a dataset, made goal-conditioned for RLlib.

RLlib modules see one observation, so the goal rides along with it: each observation is
``[obs; goal]`` joined on the last axis, where ``goal`` is ``info["goal"]`` from ``reset()``
(OGBench's goal observation). ``reset(options={"task_id": i})`` selects evaluation task ``i``
(1..5); without it OGBench picks a random task. The family uses this env for its module's spaces
(the local EnvRunner); the success-rate evaluation is ``common.evaluation``.
"""

import gymnasium as gym
import numpy as np


def goal_conditioned_space(space: gym.spaces.Box) -> gym.spaces.Box:
    """The space of ``[obs; goal]``: ``space`` with its last axis doubled."""
    shape = (*space.shape[:-1], 2 * space.shape[-1])
    if space.dtype == np.uint8:
        return gym.spaces.Box(0, 255, shape, np.uint8)
    return gym.spaces.Box(-np.inf, np.inf, shape, np.float32)


class OGBenchGoalEnv(gym.Wrapper):
    """``env_config = {"dataset_name": "pointmaze-medium-navigate-v0", **env_kwargs}``."""

    def __init__(self, config: dict):
        import ogbench

        config = dict(config)
        super().__init__(ogbench.make_env_and_datasets(config.pop("dataset_name"), env_only=True, **config))
        self.observation_space = goal_conditioned_space(self.env.observation_space)
        self._goal = None

    def _join(self, observation: np.ndarray) -> np.ndarray:
        return np.concatenate([observation, self._goal], axis=-1).astype(self.observation_space.dtype)

    def reset(self, *, seed=None, options=None):
        observation, info = self.env.reset(seed=seed, options=options)
        self._goal = info["goal"]
        return self._join(observation), info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return self._join(observation), reward, terminated, truncated, info
