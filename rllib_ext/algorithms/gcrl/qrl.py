"""QRL (Wang et al. 2023, "Optimal Goal-Reaching RL via Quasimetric Learning"): config, networks and loss.

A quasimetric distance ``d(s, g)`` between embeddings ``phi(s), phi(g)`` (an interval quasimetric embedding,
IQE) is pushed up on random pairs while the one-step distances ``d(s, s')`` are held near 1 by a Lagrange
multiplier; a latent dynamics model lets a DDPG+BC actor descend the distance to its goal (the official
``impls/agents/qrl.py`` with IQE and DDPG+BC). Per gradient step, all terms together:

    L_val = mean[100 softplus(5 - d(s, g_r) / 100)] + sg(lambda) mean[relu(d(s, s') - 1)^2]
    L_lam = lambda (eps - sg(mean[relu(d(s, s') - 1)^2]))                    (lambda = exp(log_lambda))
    L_dyn = mean[d(phi(s'), z') + d(z', phi(s'))] / 2,   z' = phi(s) + f([phi(s); a])
    L_pi  = -mean[q] / sg(mean|q| + 1e-6) - alpha mean[log pi(a | s, g)],   q = -d(phi(s) + f([phi(s); clip(mu)]), phi(g))

with ``g_r`` a random dataset state (``value_p_randomgoal = 1``). In ``L_pi`` phi, f and the IQE mixing weight
are frozen (the gradient reaches the actor through the action). No target networks; ``gamma`` is unused.
"""

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
    MLP,
    GoalConditionedActor,
    GoalConditionedInput,
    build_encoder,
    call_frozen,
)
from rllib_ext.algorithms.gcrl.common.presets import STITCHING
from rllib_ext.algorithms.gcrl.common.torch_learner import GCRLTorchLearner
from rllib_ext.algorithms.gcrl.common.torch_rl_module import GCRLTorchRLModule

DIM_PER_COMPONENT = 8
"""IQE coordinates per component (the official ``GCIQEValue(dim_per_component=8)``)."""


class QRLConfig(GCRLConfig):
    """QRL's settings: the family's (``GCRLConfig``) plus these; defaults are the official ``get_config()``."""

    PRESETS = {  # hyperparameters.sh: the BC weight alpha per dataset
        "pointmaze": dict(alpha=0.0003),
        "antmaze": dict(alpha=0.003),
        "humanoidmaze": dict(alpha=0.001),
        "antsoccer": dict(alpha=0.003),
        "cube": dict(alpha=0.3),
        "scene": dict(alpha=0.3),
        "puzzle": dict(alpha=0.3),
        "noisy": dict(alpha=0.03),
        **STITCHING,
        "antmaze-explore": dict(alpha=0.001),
    }

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or QRL)
        # fmt: off
        self.alpha = 0.003  # DDPG+BC: weight of the behaviour-cloning term
        self.eps = 0.05  # the constraint mean[relu(d(s, s') - 1)^2] <= eps
        self.latent_dim = 512  # phi's output: latent_dim / 8 IQE components
        self.value_hidden_dims = (512, 512, 512)  # phi and the latent dynamics MLPs
        self.layer_norm = True  # on phi and the dynamics (never on the actor)
        self.value_p_curgoal = 0.0  # value goals: uniformly random dataset states
        self.value_p_trajgoal = 0.0
        self.value_p_randomgoal = 1.0
        # fmt: on

    def method_checks(self):
        return [
            ("alpha", is_number(self.alpha) and self.alpha >= 0, ">= 0 and finite"),
            ("eps", is_number(self.eps) and self.eps > 0, "> 0 and finite"),
            ("latent_dim", is_int(self.latent_dim, DIM_PER_COMPONENT) and self.latent_dim % DIM_PER_COMPONENT == 0,
             f"a positive multiple of {DIM_PER_COMPONENT} (IQE components)"),
            ("value_hidden_dims", is_dims(self.value_hidden_dims), "a non-empty sequence of positive integers"),
        ]

    @override(GCRLConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=QRLTorchRLModule)

    @override(GCRLConfig)
    def get_default_learner_class(self):
        return QRLTorchLearner


class QRL(GCRL):
    @classmethod
    @override(GCRL)
    def get_default_config(cls) -> QRLConfig:
        return QRLConfig()


def iqe_components(x: torch.Tensor, y: torch.Tensor, dim_per_component: int = DIM_PER_COMPONENT) -> torch.Tensor:
    """Per component ``k``: the length of the union of the intervals ``[x_ki, y_ki]`` with ``x_ki < y_ki``.

    ``x, y``: ``[..., K * dim_per_component]`` -> ``[..., K]``. Sorting the ``2 d`` endpoints and counting how
    many open intervals cover each gap gives the union's length (IQE, Wang & Isola 2022; the official
    ``GCIQEValue``). Zero for ``x = y``, and asymmetric.
    """
    x = x.unflatten(-1, (-1, dim_per_component))
    y = y.unflatten(-1, (-1, dim_per_component))
    x, y = torch.broadcast_tensors(x, y)
    valid = (x < y).to(x.dtype)
    endpoints, order = torch.cat([x, y], dim=-1).sort(dim=-1, stable=True)
    # +1 where an interval's start (an x) is passed, -1 at its end (a y); only valid intervals count.
    steps = valid.gather(-1, order % dim_per_component) * torch.where(order < dim_per_component, -1.0, 1.0)
    covered = -(steps.cumsum(dim=-1) < 0).to(x.dtype)  # -1 inside the union, 0 outside
    edges = torch.cat([covered[..., :1], covered[..., 1:] - covered[..., :-1]], dim=-1)
    return (endpoints * edges).sum(dim=-1)


class IQEQuasimetric(nn.Module):
    """``d(s, g) = sigma(a) mean_k c_k + (1 - sigma(a)) max_k c_k`` over IQE components of ``phi(s), phi(g)``.

    One embedding ``phi`` (MLP with LayerNorm to ``latent_dim``) for states and goals; ``a`` a learned scalar,
    initially 0 (the official ``GCIQEValue``).
    """

    def __init__(self, observation_shape, hidden_dims, latent_dim: int, *, layer_norm: bool, encoder=None):
        super().__init__()
        self.encoder, in_dim = build_encoder(encoder, observation_shape)
        self.phi = MLP(in_dim, hidden_dims, latent_dim, layer_norm=layer_norm)
        self.alpha = nn.Parameter(torch.zeros(()))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.phi(self.encoder(x))

    def latent_distance(self, phi_s: torch.Tensor, phi_g: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """The distance of embeddings; ``frozen``: without gradient to the mixing weight ``a``."""
        components = iqe_components(phi_s, phi_g)
        weight = torch.sigmoid(self.alpha.detach() if frozen else self.alpha)
        return weight * components.mean(dim=-1) + (1 - weight) * components.max(dim=-1).values

    def forward(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        return self.latent_distance(self.embed(observations), self.embed(goals))


class QRLTorchRLModule(GCRLTorchRLModule):
    """``actor`` on ``[s; g]``; ``value``: the IQE quasimetric; ``dynamics``: ``f([phi(s); a])``; ``log_lambda``."""

    @override(GCRLTorchRLModule)
    def setup(self):
        cfg, obs = self.model_config, self.observation_shape
        self.actor = GoalConditionedActor(
            GoalConditionedInput(obs, encoder=self.encoder_factory), cfg["actor_hidden_dims"], self.action_dim)
        self.value = IQEQuasimetric(obs, cfg["value_hidden_dims"], cfg["latent_dim"], layer_norm=cfg["layer_norm"],
                                    encoder=self.encoder_factory)
        self.dynamics = MLP(cfg["latent_dim"] + self.action_dim, cfg["value_hidden_dims"], cfg["latent_dim"],
                            layer_norm=cfg["layer_norm"])
        self.log_lambda = nn.Parameter(torch.zeros(()))  # the official LogParam, lambda = 1 at the start

    @override(GCRLTorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        s, s_next, a, g = batch[Columns.OBS], batch[Columns.NEXT_OBS], batch[Columns.ACTIONS], batch[ACTOR_GOALS]
        n = len(s)
        phi = self.value.embed(torch.cat([s, s_next, batch[VALUE_GOALS]]))
        phi_s, phi_next, phi_g = phi[:n], phi[n : 2 * n], phi[2 * n :]
        pred_next = phi_s + self.dynamics(torch.cat([phi_s, a], dim=-1))  # predicts the change of the latent
        mu = self.actor(s, g)
        phi_actor_s = phi_s.detach()  # the actor's term sees phi frozen
        with torch.no_grad():
            phi_actor_g = self.value.embed(g)
        frozen_next = phi_actor_s + call_frozen(self.dynamics, torch.cat([phi_actor_s, mu.clamp(-1, 1)], dim=-1))
        return {
            "actor_means": mu,
            "negative_distances": self.value.latent_distance(phi_s, phi_g),
            "positive_distances": self.value.latent_distance(phi_s, phi_next),
            "dynamics_distances": (self.value.latent_distance(phi_next, pred_next)
                                   + self.value.latent_distance(pred_next, phi_next)),
            "actor_q": -self.value.latent_distance(frozen_next, phi_actor_g, frozen=True),
            "lambda": self.log_lambda.exp(),
        }


class QRLTorchLearner(GCRLTorchLearner):
    """``L_val + L_lam + L_dyn + L_pi`` (module docstring), one Adam step."""

    @override(GCRLTorchLearner)
    def compute_loss_for_module(self, *, module_id, config: QRLConfig, batch, fwd_out):
        actions, mu, lam = batch[Columns.ACTIONS], fwd_out["actor_means"], fwd_out["lambda"]
        negative = (100 * F.softplus(5 - fwd_out["negative_distances"] / 100)).mean()
        positive = (F.relu(fwd_out["positive_distances"] - 1) ** 2).mean()
        q_loss, bc_loss = ddpg_bc_actor_loss(fwd_out["actor_q"], mu, actions, config.alpha)
        losses = {
            "value_loss": negative + lam.detach() * positive,
            "lambda_loss": lam * (config.eps - positive.detach()),
            "dynamics_loss": fwd_out["dynamics_distances"].mean() / 2,
            "actor_q_loss": q_loss,
            "actor_bc_loss": bc_loss,
        }
        stats = {
            "actor_mse": ((mu - actions) ** 2).mean(),
            "negative_distance_loss": negative,
            "positive_distance_loss": positive,
            "negative_distance_mean": fwd_out["negative_distances"].mean(),
            "positive_distance_mean": fwd_out["positive_distances"].mean(),
            "lambda": lam,
        }
        return self.log_and_sum(module_id, losses, stats)
