"""Small OGBench-layout datasets for tests: point random walks, no simulator needed."""

import numpy as np

DATASET = "pointmaze-medium-navigate-v0"
TINY = dict(
    actor_hidden_dims=(32, 32),
    subpolicy_hidden_dims=(32, 32),
    value_hidden_dims=(32, 32),
    train_batch_size_per_learner=64,
    num_steps_per_iteration=4,
)
"""SAW settings small enough for a test to run a few steps in a second."""


def tiny(config_class) -> dict:
    """``TINY`` without the settings ``config_class`` does not have (GCBC has no value network)."""
    return {k: v for k, v in TINY.items() if hasattr(config_class(), k)}


def random_walks(episode_rows, obs_dim=2, act_dim=2, seed=0):
    """Raw OGBench layout: point random walks, ``s_{t+1} = s_t + 0.2 a_t``, terminal on each last row."""
    rng = np.random.default_rng(seed)
    obs, actions, terminals = [], [], []
    for rows in episode_rows:
        a = rng.uniform(-1, 1, (rows, act_dim)).astype(np.float32)
        s = rng.uniform(0, 20, obs_dim) + np.cumsum(np.vstack([np.zeros(act_dim), 0.2 * a[:-1]]), axis=0)
        obs.append(s[:, :obs_dim].astype(np.float32))
        actions.append(a)
        terminals.append(np.arange(rows) == rows - 1)
    return np.concatenate(obs), np.concatenate(actions), np.concatenate(terminals)


def write_dataset(path, episode_rows, seed=0):
    obs, actions, terminals = random_walks(episode_rows, seed=seed)
    np.savez(path, observations=obs, actions=actions, terminals=terminals)
    return str(path)
