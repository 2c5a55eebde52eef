import copy

import numpy as np
import torch
from torch import nn


class MeanActionPolicy:
    """The deterministic goal-conditioned policy ``a = μ_θ(s, g)`` (temperature 0), for evaluation.

    A CPU copy of the actor: picklable, numpy in (``observations, goals`` as ``[B, D]``) and
    numpy out (``[B, A]``, unclipped; evaluation clips to [-1, 1]).
    """

    def __init__(self, actor: nn.Module):
        self.actor = copy.deepcopy(actor).cpu().eval().requires_grad_(False)

    def __call__(self, observations: np.ndarray, goals: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            means = self.actor(
                torch.as_tensor(observations, dtype=torch.float32), torch.as_tensor(goals, dtype=torch.float32)
            )
        return means.numpy()
