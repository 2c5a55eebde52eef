"""M-FOS's actor-critic on the analytic IPD (official ``src/ppo.py``, ``ActorCritic``).

Actor ``Linear(obs, 256)-Tanh-Linear(256, 2 * act)`` giving a mean and a raw variance per action dimension;
critic ``Linear(obs, 256)-Tanh-Linear(256, 1)``, no shared layers. The official policy is
``MultivariateNormal(mean, diag(softplus(raw)))``: softplus is the *variance*. The module hands RLlib's
``TorchDiagGaussian`` (mean, log-std) with ``log_std = log(softplus(raw)) / 2``, the same distribution (same
log-probs and entropy), so RLlib's env runners and PPO losses use it unchanged.
"""

from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule


def diag_gaussian_inputs(actor_out: torch.Tensor) -> torch.Tensor:
    """``[mean, raw]`` -> ``[mean, log_std]`` of the Gaussian whose variance is ``softplus(raw)``."""
    mean, raw = actor_out.chunk(2, dim=-1)
    return torch.cat([mean, 0.5 * torch.log(F.softplus(raw))], dim=-1)


class MFOSTorchRLModule(TorchRLModule, ValueFunctionAPI):
    """Separate tanh MLPs for the Gaussian policy and the value; ``model_config["hidden"]`` (default 256)."""

    def setup(self) -> None:
        hidden = self.model_config.get("hidden", 256)
        obs_dim, act_dim = self.observation_space.shape[0], self.action_space.shape[0]
        self.actor = torch.nn.Sequential(torch.nn.Linear(obs_dim, hidden), torch.nn.Tanh(),
                                         torch.nn.Linear(hidden, 2 * act_dim))
        self.critic = torch.nn.Sequential(torch.nn.Linear(obs_dim, hidden), torch.nn.Tanh(),
                                          torch.nn.Linear(hidden, 1))

    def _forward(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: diag_gaussian_inputs(self.actor(batch[Columns.OBS]))}

    def compute_values(self, batch: Dict[str, Any], embeddings: Optional[Any] = None) -> torch.Tensor:
        return self.critic(batch[Columns.OBS]).squeeze(-1)
