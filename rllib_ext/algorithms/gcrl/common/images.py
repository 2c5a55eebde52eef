"""Pixel batches: observations gathered by row index in the learner, random-crop augmentation, frame stacking.

A pixel dataset (``observations`` ``[rows, H, W, C]`` uint8, 12 KB a 64x64 frame) is too big to ship per batch:
the algorithm's ``GoalSampler`` draws only row indices (``GoalSampler.sample_rows``), and each learner process
turns them into images from its own copy of the dataset (``GCRLTorchLearner.update``; loaded once per process,
memory-mapped for the ``.npy`` folder layout). The images stay uint8 up to the encoder.

Augmentation is the official sampler's (``impls/utils/datasets.py``: ``GCDataset.augment``, ``random_crop``):
with probability ``p_aug`` *per batch* every sample gets its own crop offset ``(dy, dx)`` in ``{0..6}^2``, the same
for all of that sample's images (observation, next observation and every goal); an image is edge-padded by 3
pixels and the original size cut out at that offset. Frame stacking is ``GCDataset.get_stacked_observations``:
the last ``n`` frames, oldest first, on the channel axis, clamped at the episode's first frame.
"""

from typing import Dict, Optional, Sequence

import numpy as np

from rllib_ext.algorithms.gcrl.common.goal_sampler import OBSERVATION_COLUMNS, ROWS

CROP_PADDING = 3
"""Edge padding of the random crop (the official ``augment``'s ``padding``)."""


def random_crop(images: np.ndarray, offsets: np.ndarray, padding: int = CROP_PADDING) -> np.ndarray:
    """Per image: edge-pad ``padding`` pixels, cut out the original ``H x W`` at ``offsets[i] = (dy, dx)``.

    ``images`` ``[B, H, W, C]``; ``offsets`` ``[B, 2]`` ints in ``[0, 2 * padding]``.
    """
    b, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)), mode="edge")
    rows = offsets[:, 0, None] + np.arange(h)  # [B, H]
    cols = offsets[:, 1, None] + np.arange(w)  # [B, W]
    return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def augment(batch: Dict[str, np.ndarray], keys: Sequence[str], rng: np.random.Generator,
            padding: int = CROP_PADDING) -> None:
    """Random-crop the images under ``keys`` in place, one offset per sample shared by all ``keys``."""
    offsets = rng.integers(0, 2 * padding + 1, size=(len(batch[keys[0]]), 2))
    for key in keys:
        batch[key] = random_crop(batch[key], offsets, padding)


def stacked_rows(rows: np.ndarray, episode_starts: np.ndarray, frame_stack: int) -> np.ndarray:
    """``[B, n]`` row indices of each row's last ``n`` frames, oldest first, clamped at its episode's start."""
    starts = episode_starts[np.searchsorted(episode_starts, rows, side="right") - 1]
    return np.maximum(rows[:, None] - np.arange(frame_stack - 1, -1, -1), starts[:, None])


def gather(observations: np.ndarray, rows: np.ndarray, episode_starts: np.ndarray,
           frame_stack: Optional[int]) -> np.ndarray:
    """``observations[rows]``, or with ``frame_stack = n`` the last ``n`` frames joined on the last axis."""
    if not frame_stack or frame_stack == 1:
        return observations[rows]
    frames = observations[stacked_rows(rows, episode_starts, frame_stack).ravel()]
    frames = frames.reshape(len(rows), frame_stack, *observations.shape[1:])
    return np.concatenate(np.moveaxis(frames, 1, 0), axis=-1)


class ObservationGatherer:
    """Learner side of the index batches: row columns in, observation columns out (augmented per batch).

    The augmentation draws of the ``n``-th call come from ``default_rng((seed, rank, n))``, so the stream is fixed
    by the call count alone: ``get_state``/``set_state`` carry that count through a checkpoint, and every learner
    of a data-parallel group (same count, its own ``rank``) resumes its own stream exactly.
    """

    def __init__(self, observations: np.ndarray, episode_starts: np.ndarray, *, p_aug: float,
                 frame_stack: Optional[int], seed: Optional[int], rank: int = 0):
        self.observations = observations
        self.episode_starts = episode_starts
        self.p_aug = p_aug
        self.frame_stack = frame_stack
        self.key = (np.random.SeedSequence().entropy if seed is None else seed, rank)
        self.calls = 0
        self.augments = observations.ndim == 4 and p_aug > 0

    def __call__(self, batch: Dict[str, np.ndarray], batch_size: int) -> Dict[str, np.ndarray]:
        """``batch`` with each ``<column>_rows`` replaced by ``<column>``; one augmentation coin per ``batch_size`` rows
        (a gradient step's minibatch, in order)."""
        out = {k: v for k, v in batch.items() if not k.endswith(ROWS)}
        keys = [c for c in OBSERVATION_COLUMNS if c + ROWS in batch]
        for key in keys:
            out[key] = gather(self.observations, np.asarray(batch[key + ROWS]), self.episode_starts, self.frame_stack)
        if self.augments:
            rng = np.random.default_rng((*self.key, self.calls))
            self.calls += 1
            for start in range(0, len(out[keys[0]]), batch_size):
                if rng.random() < self.p_aug:
                    chunk = {k: out[k][start:start + batch_size] for k in keys}
                    augment(chunk, keys, rng)
                    for k in keys:
                        out[k][start:start + batch_size] = chunk[k]
        return out

    def get_state(self) -> Dict:
        return {"calls": self.calls}

    def set_state(self, state: Dict) -> None:
        self.calls = state["calls"]
