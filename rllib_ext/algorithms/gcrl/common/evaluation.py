"""Goal-conditioned evaluation with OGBench's protocol: five fixed tasks per env.

Each episode resets with ``options={"task_id": i}`` (i = 1..5), feeds ``info["goal"]`` to the
policy with every observation, clips the policy's (deterministic) actions to [-1, 1], and scores
``info["success"]`` at its last step (the env terminates at the goal or at its time limit). On pixel envs
(``visual-*``) the observation is the rendered uint8 frame and ``info["goal"]`` the goal image the reset renders
(the goal configuration); both reach the policy as uint8. Every step renders a frame, about 0.2-0.35 CPU-s
with software OpenGL, so keep pixel evaluations to a few episodes per task on a CPU.

Parallelism (``num_workers``): 0 or 1 runs in-process; ``n >= 2`` splits the episodes over ``n``
Ray tasks (a running Ray is used, else a local one is started and shut down); None uses as many
Ray tasks as a running Ray has free CPUs (at least 2, else in-process), and runs in-process
without a running Ray. Within a worker up to ``ENVS_PER_WORKER`` episodes are stepped together,
so the policy sees batches. Each episode's reset (start and goal noise) is seeded from
(``seed``, task, episode index), so results depend on ``seed`` only, not on the number of workers
or the batching; the one exception is teleport mazes, whose teleporters draw from numpy's global
RNG during steps, which the batched episodes share.
"""

import contextlib
import copy
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
from torch import nn

from envs.ogbench.dataset import dataset_env_name
from envs.ogbench.rendering import check_renderer
from envs.ogbench.ray_tasks import default_workers, run_tasks
from rllib_ext.algorithms.gcrl.common.goal_env import make_env

NUM_TASKS = 5
ENVS_PER_WORKER = 8
"""Most envs (episodes stepped together) per worker; envs are kept per process between calls. Pixel envs: 1
(rendering, not the policy, is their cost, and each costs seconds to make)."""

Policy = Callable[[np.ndarray, np.ndarray], Any]
"""``policy(observations [B, *obs_shape], goals [B, *obs_shape]) -> actions [B, act_dim]``; states float32,
images uint8."""


class MeanActionPolicy:
    """The deterministic goal-conditioned policy ``a = mu(s, g)`` (temperature 0), for evaluation.

    A CPU copy of the actor: picklable, numpy in (``observations, goals`` as ``[B, D]`` float32, or uint8
    images ``[B, H, W, C]``, passed on as uint8) and numpy out (``[B, A]``, unclipped; evaluation clips to [-1, 1]).
    """

    def __init__(self, actor: nn.Module):
        self.actor = copy.deepcopy(actor).cpu().eval().requires_grad_(False)

    def __call__(self, observations: np.ndarray, goals: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            means = self.actor(_tensor(observations), _tensor(goals))
        return means.numpy()


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x) if x.dtype == np.uint8 else torch.as_tensor(x, dtype=torch.float32)


def evaluate_goal_conditioned(
    policy: Policy,
    dataset_name: str,
    episodes_per_task: int,
    seed: int = 0,
    num_workers: Optional[int] = None,
    frame_stack: Optional[int] = None,
    max_episode_steps: Optional[int] = None,
) -> dict[str, float]:
    """Success rates of ``policy`` on the five evaluation tasks of ``dataset_name``'s env.

    ``policy`` must be picklable when Ray workers are used and may return a numpy array or a CPU
    torch tensor. ``frame_stack``: the policy sees the last n frames (``goal_env.FrameStack``); ``max_episode_steps``: end episodes
    sooner than the env's own limit (a short check of a pixel policy on a CPU). Returns
    ``{"success", "task_1/success", ..., "task_5/success", "episodes", "env_steps"}`` where ``episodes`` and
    ``env_steps`` are totals over all tasks.
    """
    dataset_env_name(dataset_name)
    if dataset_name.startswith("powderworld"):
        raise ValueError(f"{dataset_name!r}: only continuous-action envs can be evaluated")
    if dataset_name.startswith("visual-"):
        check_renderer()
    if episodes_per_task < 1:
        raise ValueError(f"episodes_per_task must be >= 1, got {episodes_per_task}")
    if num_workers is not None and num_workers < 0:
        raise ValueError(f"num_workers must be >= 0 or None, got {num_workers}")
    items = [(task, i) for task in range(1, NUM_TASKS + 1) for i in range(episodes_per_task)]
    workers = max(1, min(default_workers(1) if num_workers is None else num_workers, len(items)))
    bounds = np.linspace(0, len(items), workers + 1).astype(int)
    chunks = [items[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    env = (dataset_name, frame_stack, max_episode_steps)
    results = run_tasks(_run_episodes, [(policy, env, seed, c) for c in chunks], workers)
    outcomes = [o for r in results for o in r]
    success = np.array([s for s, _ in outcomes]).reshape(NUM_TASKS, episodes_per_task)
    metrics = {"success": float(success.mean())}
    metrics.update({f"task_{t + 1}/success": float(success[t].mean()) for t in range(NUM_TASKS)})
    metrics.update(episodes=len(outcomes), env_steps=int(sum(n for _, n in outcomes)))
    return metrics


def _run_episodes(policy: Policy, env: tuple, seed: int, items: list) -> list:
    """(success, steps) of each (task_id, episode index) in ``items``, up to ENVS_PER_WORKER at a time, on envs
    ``(dataset_name, frame_stack, max_episode_steps)``."""
    envs = _envs(env, min(len(items), 1 if env[0].startswith("visual-") else ENVS_PER_WORKER))
    act_dim = envs[0].action_space.shape[0]
    outcomes = []
    state = np.random.get_state()  # OGBench's env code draws from numpy's global RNG
    try:
        with _single_threaded_torch():
            for start in range(0, len(items), len(envs)):
                batch = items[start : start + len(envs)]
                episodes = [_Episode(env, task, _seed(seed, task, i)) for env, (task, i) in zip(envs, batch)]
                _play(policy, episodes, act_dim)
                outcomes += [(e.success, e.steps) for e in episodes]
    finally:
        np.random.set_state(state)
    return outcomes


@contextlib.contextmanager
def _single_threaded_torch() -> Iterator[None]:
    """Policy batches are tiny: torch's intra-op threads only add contention (measured 10-20x slower
    with 2 threads on 2 busy cores). Ray workers already run single-threaded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _seed(seed: int, task_id: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, task_id, index]).generate_state(1)[0])


def _play(policy: Policy, episodes: list, act_dim: int) -> None:
    live = list(episodes)
    while live:
        obs, goals = (_policy_input(np.stack([getattr(e, k) for e in live])) for k in ("ob", "goal"))
        actions = policy(obs, goals)
        if hasattr(actions, "detach"):  # a torch tensor
            actions = actions.detach().cpu().numpy()
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != (len(live), act_dim):
            raise ValueError(f"policy returned actions of shape {actions.shape} for {len(live)} "
                             f"observations; expected ({len(live)}, {act_dim})")
        for e, a in zip(live, np.clip(actions, -1.0, 1.0)):
            e.step(a)
        live = [e for e in live if not e.done]


def _policy_input(x: np.ndarray) -> np.ndarray:
    """Images stay uint8 (the encoder scales them), states become float32."""
    return x if x.dtype == np.uint8 else x.astype(np.float32)


class _Episode:
    """One evaluation episode on its env; the reset draws from numpy's global RNG seeded with ``seed``."""

    def __init__(self, env, task_id: int, seed: int):
        self.env = env
        np.random.seed(seed)
        env.unwrapped.action_space.seed(seed)
        self.ob, info = env.reset(seed=seed, options={"task_id": task_id})
        self.goal = info["goal"]
        self.steps, self.success, self.done = 0, 0.0, False

    def step(self, action: np.ndarray) -> None:
        self.ob, _, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        if terminated or truncated:
            self.done, self.success = True, float(info["success"])


_ENV_POOL: dict[tuple, list] = {}


def _envs(key: tuple, n: int) -> list:
    """``n`` eval envs ``(dataset_name, frame_stack, max_episode_steps)`` (nothing is downloaded), kept per process."""
    dataset_name, frame_stack, max_steps = key
    if key not in _ENV_POOL:
        _ENV_POOL.clear()
        _ENV_POOL[key] = []
    pool = _ENV_POOL[key]
    while len(pool) < n:
        pool.append(make_env(dataset_name, frame_stack, **({"max_episode_steps": max_steps} if max_steps else {})))
    return pool[:n]
