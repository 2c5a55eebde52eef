"""The OGBench environment of a dataset, made goal-conditioned for RLlib.

RLlib modules see one observation, so the goal rides along with it: each observation is
``[obs; goal]`` joined on the last axis, where ``goal`` is ``info["goal"]`` from ``reset()``
(OGBench's goal observation). ``reset(options={"task_id": i})`` selects evaluation task ``i``
(1..5); without it OGBench picks a random task. The family uses this env for its module's spaces
(the local EnvRunner, which never steps it); the success-rate evaluation is ``common.evaluation``. So the
OGBench env is made on the first ``reset``, and its spaces are read once per process (a pixel env costs
seconds to make: its MuJoCo renderer).

Pixel envs (``visual-*``) give uint8 ``[64, 64, 3]`` frames and goal images; ``frame_stack = n`` stacks the last
``n`` frames on the channel axis (the first repeated after a reset) and repeats the goal ``n`` times, as the
official ``impls/utils/env_utils.py`` ``FrameStackWrapper`` does.
"""

import collections
import functools
from typing import Optional, Tuple

import gymnasium as gym
import numpy as np

import envs.ogbench  # noqa: F401  (picks the headless MuJoCo renderer before ogbench imports mujoco)


def goal_conditioned_space(space: gym.spaces.Box) -> gym.spaces.Box:
    """The space of ``[obs; goal]``: ``space`` with its last axis doubled."""
    shape = (*space.shape[:-1], 2 * space.shape[-1])
    if space.dtype == np.uint8:
        return gym.spaces.Box(0, 255, shape, np.uint8)
    return gym.spaces.Box(-np.inf, np.inf, shape, np.float32)


class FrameStack(gym.Wrapper):
    """The last ``num_stack`` observations on the last axis; ``info["goal"]`` repeated ``num_stack`` times."""

    def __init__(self, env: gym.Env, num_stack: int):
        super().__init__(env)
        self.frames = collections.deque(maxlen=num_stack)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(np.concatenate([space.low] * num_stack, axis=-1),
                                                np.concatenate([space.high] * num_stack, axis=-1), dtype=space.dtype)

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self.frames.extend([observation] * self.frames.maxlen)
        if "goal" in info:
            info["goal"] = np.concatenate([info["goal"]] * self.frames.maxlen, axis=-1)
        return np.concatenate(self.frames, axis=-1), info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.frames.append(observation)
        return np.concatenate(self.frames, axis=-1), reward, terminated, truncated, info


def make_env(dataset_name: str, frame_stack: Optional[int] = None, **env_kwargs) -> gym.Env:
    """The OGBench env of ``dataset_name`` (``env_only``: nothing is downloaded), frame-stacked if asked."""
    import ogbench

    env = ogbench.make_env_and_datasets(dataset_name, env_only=True, **env_kwargs)
    return FrameStack(env, frame_stack) if frame_stack and frame_stack > 1 else env


@functools.lru_cache(maxsize=16)
def _spaces(dataset_name: str, frame_stack: Optional[int], env_kwargs: Tuple) -> Tuple[gym.Space, gym.Space]:
    env = make_env(dataset_name, frame_stack, **dict(env_kwargs))
    env.close()
    return env.observation_space, env.action_space


class OGBenchGoalEnv(gym.Env):
    """``env_config = {"dataset_name": "pointmaze-medium-navigate-v0", "frame_stack": None, **env_kwargs}``."""

    def __init__(self, config: dict):
        config = dict(config)
        self._make = (config.pop("dataset_name"), config.pop("frame_stack", None), tuple(sorted(config.items())))
        observation_space, self.action_space = _spaces(*self._make)
        self.observation_space = goal_conditioned_space(observation_space)
        self.env: Optional[gym.Env] = None
        self._goal = None

    def _join(self, observation: np.ndarray) -> np.ndarray:
        return np.concatenate([observation, self._goal], axis=-1).astype(self.observation_space.dtype)

    def reset(self, *, seed=None, options=None):
        if self.env is None:
            dataset_name, frame_stack, env_kwargs = self._make
            self.env = make_env(dataset_name, frame_stack, **dict(env_kwargs))
        observation, info = self.env.reset(seed=seed, options=options)
        self._goal = info["goal"]
        return self._join(observation), info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return self._join(observation), reward, terminated, truncated, info

    def close(self):
        if self.env is not None:
            self.env.close()
