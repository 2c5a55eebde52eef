"""CRL (Eysenbach et al. 2022, "Contrastive Learning as Goal-Conditioned RL"): config, networks and loss.

A contrastive critic ``Q_e(s, a, g) = phi_e([s; a]) . psi_e(g) / sqrt(d)`` (two independent pairs) classifies
which goal of the batch is a future state of which transition, and a DDPG+BC actor climbs it (the official
``impls/agents/crl.py``, after OGBench's commit 15594e3: the actor maximises the logit). Per gradient step:

    L_crit = mean_{i,j,e} BCE(logit_e[i, j], 1(i = j)),   logit_e[i, j] = phi_e([s_i; a_i]) . psi_e(g_j) / sqrt(d)
    L_pi   = -mean[q] / sg(mean|q| + 1e-6) - alpha mean[log pi(a | s, g)],   q = min_e Q_e(s, clip(mu(s, g)), g)

It is binary NCE over all B^2 pairs (sigmoid cross-entropy, mean over B * B * 2), not InfoNCE. Value goals are
geometric future states (``value_p_trajgoal = 1``). The critic in ``L_pi`` is frozen; no target networks.
"""

import math
from typing import Any, Dict

import torch
import torch.nn.functional as F
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override
from torch import nn

from rllib_ext.algorithms.gcrl.common.gcrl import GCRL, GCRLConfig, is_dims, is_int, is_number
from rllib_ext.algorithms.gcrl.common.goal_sampler import ACTOR_GOALS, VALUE_GOALS
from rllib_ext.algorithms.gcrl.common.losses import ddpg_bc_actor_loss
from rllib_ext.algorithms.gcrl.common.networks import (
    EnsembleMLP,
    GoalConditionedActor,
    GoalConditionedInput,
    build_encoder,
    call_frozen,
)
from rllib_ext.algorithms.gcrl.common.presets import STITCHING
from rllib_ext.algorithms.gcrl.common.torch_learner import GCRLTorchLearner
from rllib_ext.algorithms.gcrl.common.torch_rl_module import GCRLTorchRLModule


class CRLConfig(GCRLConfig):
    """CRL's settings: the family's (``GCRLConfig``) plus these; defaults are the official ``get_config()``."""

    PRESETS = {  # hyperparameters.sh: the BC weight alpha per dataset
        "pointmaze": dict(alpha=0.03),
        "antmaze": dict(alpha=0.1),
        "humanoidmaze": dict(alpha=0.1),
        "antsoccer": dict(alpha=0.3),
        "cube": dict(alpha=3.0),
        "scene": dict(alpha=3.0),
        "puzzle": dict(alpha=3.0),
        "noisy": dict(alpha=0.1),
        **STITCHING,
        "antmaze-explore": dict(alpha=0.003),
    }

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or CRL)
        # fmt: off
        self.alpha = 0.1  # DDPG+BC: weight of the behaviour-cloning term
        self.latent_dim = 512  # width of phi and psi
        self.value_hidden_dims = (512, 512, 512)  # the phi and psi MLPs
        self.layer_norm = True  # on phi and psi (never on the actor)
        self.value_p_curgoal = 0.0  # value goals: geometric future states of the same trajectory
        self.value_p_trajgoal = 1.0
        self.value_p_randomgoal = 0.0
        # fmt: on

    def method_checks(self):
        return [
            ("alpha", is_number(self.alpha) and self.alpha >= 0, ">= 0 and finite"),
            ("latent_dim", is_int(self.latent_dim, 1), ">= 1 (an integer)"),
            ("value_hidden_dims", is_dims(self.value_hidden_dims), "a non-empty sequence of positive integers"),
        ]

    @override(GCRLConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=CRLTorchRLModule)

    @override(GCRLConfig)
    def get_default_learner_class(self):
        return CRLTorchLearner


class CRL(GCRL):
    @classmethod
    @override(GCRL)
    def get_default_config(cls) -> CRLConfig:
        return CRLConfig()


class BilinearCritic(nn.Module):
    """Two independent pairs ``phi_e([s; a])``, ``psi_e(g)`` (the official ``GCBilinearValue(ensemble=True)``).

    ``forward`` returns ``(phi, psi)``, each ``[2, B, latent_dim]``; ``q`` the diagonal ``[2, B]`` logits.
    """

    def __init__(self, observation_shape, action_dim: int, hidden_dims, latent_dim: int, *, layer_norm: bool,
                 encoder=None):
        super().__init__()
        self.state_encoder, state_dim = build_encoder(encoder, observation_shape)
        self.goal_encoder, goal_dim = build_encoder(encoder, observation_shape)
        self.phi = EnsembleMLP(2, state_dim + action_dim, hidden_dims, latent_dim, layer_norm=layer_norm)
        self.psi = EnsembleMLP(2, goal_dim, hidden_dims, latent_dim, layer_norm=layer_norm)

    def forward(self, observations: torch.Tensor, actions: torch.Tensor, goals: torch.Tensor):
        phi = self.phi(torch.cat([self.state_encoder(observations), actions], dim=-1))
        return phi, self.psi(self.goal_encoder(goals))

    def q(self, observations: torch.Tensor, actions: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        phi, psi = self(observations, actions, goals)
        return (phi * psi).sum(dim=-1) / math.sqrt(phi.shape[-1])


class CRLTorchRLModule(GCRLTorchRLModule):
    """``actor`` on ``[s; g]``; ``critic``: the bilinear contrastive critic."""

    @override(GCRLTorchRLModule)
    def setup(self):
        cfg, obs = self.model_config, self.observation_shape
        self.actor = GoalConditionedActor(
            GoalConditionedInput(obs, encoder=self.encoder_factory), cfg["actor_hidden_dims"], self.action_dim)
        self.critic = BilinearCritic(obs, self.action_dim, cfg["value_hidden_dims"], cfg["latent_dim"],
                                     layer_norm=cfg["layer_norm"], encoder=self.encoder_factory)

    @override(GCRLTorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        s, g = batch[Columns.OBS], batch[ACTOR_GOALS]
        phi, psi = self.critic(s, batch[Columns.ACTIONS], batch[VALUE_GOALS])
        mu = self.actor(s, g)
        frozen_phi, frozen_psi = call_frozen(self.critic, s, mu.clamp(-1, 1), g)
        return {
            "actor_means": mu,
            "logits": torch.einsum("eik,ejk->ije", phi, psi) / math.sqrt(phi.shape[-1]),  # [B, B, 2]
            "actor_q": ((frozen_phi * frozen_psi).sum(dim=-1) / math.sqrt(phi.shape[-1])).min(dim=0).values,
        }


def contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid cross-entropy of ``[B, B, E]`` logits against the identity (positives on the diagonal), mean."""
    labels = torch.eye(logits.shape[0], dtype=logits.dtype, device=logits.device)[..., None].expand_as(logits)
    return F.binary_cross_entropy_with_logits(logits, labels)


class CRLTorchLearner(GCRLTorchLearner):
    """``L_crit + L_pi`` (module docstring), one Adam step."""

    @override(GCRLTorchLearner)
    def compute_loss_for_module(self, *, module_id, config: CRLConfig, batch, fwd_out):
        actions, mu, logits = batch[Columns.ACTIONS], fwd_out["actor_means"], fwd_out["logits"]
        q_loss, bc_loss = ddpg_bc_actor_loss(fwd_out["actor_q"], mu, actions, config.alpha)
        losses = {"critic_loss": contrastive_loss(logits), "actor_q_loss": q_loss, "actor_bc_loss": bc_loss}
        with torch.no_grad():
            mean_logits = logits.mean(dim=-1)
            diagonal = torch.eye(len(mean_logits), dtype=torch.bool, device=logits.device)
            stats = {
                "actor_mse": ((mu - actions) ** 2).mean(),
                "logits_positive": mean_logits[diagonal].mean(),
                "logits_negative": mean_logits[~diagonal].mean(),
                "categorical_accuracy": (mean_logits.argmax(dim=1) == torch.arange(len(mean_logits),
                                                                                   device=logits.device)).float().mean(),
            }
        return self.log_and_sum(module_id, losses, stats)
