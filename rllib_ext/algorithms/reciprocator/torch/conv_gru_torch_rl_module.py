"""The official Coin Game policy: conv encoder + GRU actor and a separate conv + GRU critic.

As the official ``src/agents/components.py`` ``ConvActorCritic``: encoder = Conv2d(2N -> h/4, k=3, circular "same" padding) - ReLU - Conv2d(h/4 -> h/4)
- ReLU - Flatten - Linear(h/4 * H * W -> h) - ReLU; actor = encoder - GRU(h, h) - ReLU - Linear(h -> 5);
critic = its own encoder - GRU(h, h) - ReLU - Linear(h -> 1); h = 32. The GRU state starts at zero
every episode; training re-runs whole episodes from a zero state, so ``max_seq_len`` must cover
an episode plus PPO's extra step (the batched runner checks it).

Observations arrive flat (``coin_game`` with ``flat_obs=True``) and are reshaped to
``(2N, H, W)`` with ``model_config["grid_size"]``.
"""

from typing import Any, Dict, Optional

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from rllib_ext.algorithms.reciprocator.torch.circular_conv import CircularConv2d, odd_kernel
from rllib_ext.core.small_categorical import SmallCategorical


def conv_encoder(channels: int, grid_size: int, hidden: int) -> nn.Sequential:
    width = max(1, hidden // 4)
    kernel = odd_kernel(grid_size)
    grid = (grid_size, grid_size)
    return nn.Sequential(
        CircularConv2d(channels, width, kernel, grid), nn.ReLU(),
        CircularConv2d(width, width, kernel, grid), nn.ReLU(),
        nn.Flatten(), nn.Linear(width * grid_size * grid_size, hidden), nn.ReLU(),
    )


class ConvGRUTorchRLModule(TorchRLModule, ValueFunctionAPI):
    """Recurrent actor-critic with separate conv + GRU towers (state keys ``actor``, ``critic``)."""

    def setup(self):
        self.grid_size = int(self.model_config.get("grid_size", 3))
        self.hidden = int(self.model_config.get("hidden", 32))
        dim = int(np.prod(self.observation_space.shape))
        self.channels = dim // (self.grid_size * self.grid_size)
        if self.channels * self.grid_size ** 2 != dim:
            raise ValueError(f"observation size {dim} is not channels x {self.grid_size} x {self.grid_size}")
        self.actor_encoder = conv_encoder(self.channels, self.grid_size, self.hidden)
        self.actor_gru = nn.GRU(self.hidden, self.hidden, batch_first=True)
        self.actor_head = nn.Linear(self.hidden, self.action_space.n)
        self.action_dist_cls = SmallCategorical
        if not self.inference_only:
            self.critic_encoder = conv_encoder(self.channels, self.grid_size, self.hidden)
            self.critic_gru = nn.GRU(self.hidden, self.hidden, batch_first=True)
            self.critic_head = nn.Linear(self.hidden, 1)

    def get_initial_state(self) -> Dict[str, np.ndarray]:
        zeros = np.zeros(self.hidden, np.float32)
        return {"actor": zeros, "critic": zeros.copy()}

    def _tower(self, encoder, gru, obs: torch.Tensor, h: torch.Tensor):
        B, T = obs.shape[:2]
        x = encoder(obs.reshape(B * T, self.channels, self.grid_size, self.grid_size)).reshape(B, T, -1)
        out, h_out = gru(x, h.unsqueeze(0))
        return torch.relu(out), h_out.squeeze(0)

    def _forward(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        state = batch[Columns.STATE_IN]
        features, h_actor = self._tower(self.actor_encoder, self.actor_gru, batch[Columns.OBS], state["actor"])
        # Only the actor runs while acting; training re-runs both towers from the episode start.
        state_out = {"actor": h_actor, "critic": state["critic"]}
        return {Columns.ACTION_DIST_INPUTS: self.actor_head(features), Columns.STATE_OUT: state_out}

    def compute_values(self, batch: Dict[str, Any], embeddings: Optional[Any] = None) -> torch.Tensor:
        features, _ = self._tower(self.critic_encoder, self.critic_gru, batch[Columns.OBS],
                                  batch[Columns.STATE_IN]["critic"])
        return self.critic_head(features).squeeze(-1)
