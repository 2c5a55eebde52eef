"""The dataset of an offline goal-conditioned run, loaded once per process.

Loading and checking the ``.npz`` is ``envs.ogbench.dataset.load_dataset``; this module caches
its result per (path, mtime), because ``GCRLConfig.validate()`` (which needs episode lengths and
dimensions) runs several times per build, and ``GCRL.setup()`` then reuses the same arrays.
"""

import os
from functools import lru_cache
from typing import Dict

import numpy as np

from envs.ogbench.dataset import load_dataset


def load(path: str) -> Dict[str, np.ndarray]:
    """``observations``, ``actions``, ``terminals``, ``episode_starts``, ``episode_ends`` (see ``load_dataset``)."""
    path = os.path.abspath(path)
    return _load(path, os.path.getmtime(path))


@lru_cache(maxsize=2)
def _load(path: str, mtime: float) -> Dict[str, np.ndarray]:
    return load_dataset(path)


def uses_index_batches(dataset: Dict[str, np.ndarray], config) -> bool:
    """Whether the learners gather the observations themselves (pixels, or frame stacking): see ``images.py``."""
    return dataset["observations"].ndim > 2 or (config.frame_stack or 1) > 1


def shortest_episode(dataset: Dict[str, np.ndarray]) -> int:
    """Fewest transitions (rows − 1) in any episode."""
    return int((dataset["episode_ends"] - dataset["episode_starts"]).min())
