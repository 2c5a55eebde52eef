"""GCIQL (goal-conditioned implicit Q-learning; OGBench, Park et al. 2024): config, networks and loss.

IQL with goals: a value ``V(s, g)`` expectile-regressed on the target critic, a critic ``Q(s, g, a)`` (two
heads) regressed on ``r + gamma m V(s', g)``, and a DDPG+BC actor on the critic (the official
``impls/agents/gciql.py``). Per gradient step, all three terms together:

    L_V  = mean[|tau - 1(u < 0)| u^2],   u = min_j Q̄_j(s, g_v, a) - V(s, g_v)              (plain IQL)
    L_Q  = sum_j mean[(Q_j(s, g_v, a) - r - gamma m sg V(s', g_v))^2]                       (online V, frozen)
    L_pi = -mean[q] / sg(mean|q| + 1e-6) - alpha mean[log pi(a | s, g)],   q = min_j Q_j(s, g, clip(mu(s, g)))

The critic in ``L_pi`` is frozen (the gradient reaches the actor through the action); only the critic has an
EMA target, V has none.
"""

from typing import Any, Dict

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from rllib_ext.algorithms.gcrl.common.gcrl import GCRL, GCRLConfig, is_dims, is_number
from rllib_ext.algorithms.gcrl.common.goal_sampler import ACTOR_GOALS, MASKS, VALUE_GOALS
from rllib_ext.algorithms.gcrl.common.losses import ddpg_bc_actor_loss, expectile_loss
from rllib_ext.algorithms.gcrl.common.networks import (
    GoalConditionedActor,
    GoalConditionedInput,
    GoalConditionedValue,
    call_frozen,
)
from rllib_ext.algorithms.gcrl.common.presets import STITCHING
from rllib_ext.algorithms.gcrl.common.torch_learner import GCRLTorchLearner
from rllib_ext.algorithms.gcrl.common.torch_rl_module import GCRLTorchRLModule


class GCIQLConfig(GCRLConfig):
    """GCIQL's settings: the family's (``GCRLConfig``) plus these; defaults are the official ``get_config()``."""

    PRESETS = {  # hyperparameters.sh: the BC weight alpha per dataset
        "pointmaze": dict(alpha=0.003),
        "antmaze": dict(alpha=0.3),
        "humanoidmaze": dict(alpha=0.1),
        "antsoccer": dict(alpha=0.1),
        "cube": dict(alpha=1.0),
        "scene": dict(alpha=1.0),
        "puzzle": dict(alpha=1.0),
        "noisy": dict(alpha=0.03),
        **STITCHING,
        "antmaze-explore": dict(alpha=0.01),
    }

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or GCIQL)
        # fmt: off
        self.tau = 0.005  # EMA rate of the target critic
        self.expectile = 0.9  # IQL expectile of the value loss
        self.alpha = 0.3  # DDPG+BC: weight of the behaviour-cloning term
        self.value_hidden_dims = (512, 512, 512)  # value and critic MLPs
        self.layer_norm = True  # on value and critic (never on the actor)
        # fmt: on

    def method_checks(self):
        return [
            ("tau", is_number(self.tau) and 0 < self.tau <= 1, "in (0, 1]"),
            ("expectile", is_number(self.expectile) and 0 < self.expectile < 1, "in (0, 1)"),
            ("alpha", is_number(self.alpha) and self.alpha >= 0, ">= 0 and finite"),
            ("value_hidden_dims", is_dims(self.value_hidden_dims), "a non-empty sequence of positive integers"),
        ]

    @override(GCRLConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=GCIQLTorchRLModule)

    @override(GCRLConfig)
    def get_default_learner_class(self):
        return GCIQLTorchLearner


class GCIQL(GCRL):
    @classmethod
    @override(GCRL)
    def get_default_config(cls) -> GCIQLConfig:
        return GCIQLConfig()


class GCIQLTorchRLModule(GCRLTorchRLModule):
    """``actor`` on ``[s; g]``; ``value``: one head on ``[s; g]``; ``critic``: two heads on ``[s; g; a]``."""

    TARGET_NETWORKS = ("critic",)

    @override(GCRLTorchRLModule)
    def setup(self):
        cfg, obs = self.model_config, self.observation_shape
        self.actor = GoalConditionedActor(
            GoalConditionedInput(obs, encoder=self.encoder_factory), cfg["actor_hidden_dims"], self.action_dim)
        self.value = GoalConditionedValue(GoalConditionedInput(obs, encoder=self.encoder_factory), cfg["value_hidden_dims"],
                                          layer_norm=cfg["layer_norm"], num_heads=1)
        self.critic = GoalConditionedValue(GoalConditionedInput(obs, encoder=self.encoder_factory), cfg["value_hidden_dims"],
                                           layer_norm=cfg["layer_norm"], action_dim=self.action_dim)

    @override(GCRLTorchRLModule)
    def forward_target(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        return {"target_q": self.target_critic(batch[Columns.OBS], batch[VALUE_GOALS], batch[Columns.ACTIONS])}

    @override(GCRLTorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        s, a, g_v, g = batch[Columns.OBS], batch[Columns.ACTIONS], batch[VALUE_GOALS], batch[ACTOR_GOALS]
        mu = self.actor(s, g)
        out = {"actor_means": mu, "values": self.value(s, g_v)[0], "q": self.critic(s, g_v, a)}
        with torch.no_grad():
            out["target_q"] = self.target_critic(s, g_v, a).min(dim=0).values
            out["next_values"] = self.value(batch[Columns.NEXT_OBS], g_v)[0]
        out["actor_q"] = call_frozen(self.critic, s, g, mu.clamp(-1, 1)).min(dim=0).values
        return out


class GCIQLTorchLearner(GCRLTorchLearner):
    """``L_V + L_Q + L_pi`` (module docstring), one Adam step, the EMA of the target critic."""

    @override(GCRLTorchLearner)
    def compute_loss_for_module(self, *, module_id, config: GCIQLConfig, batch, fwd_out):
        actions, mu, q = batch[Columns.ACTIONS], fwd_out["actor_means"], fwd_out["q"]
        y = batch[Columns.REWARDS] + config.gamma * batch[MASKS] * fwd_out["next_values"]
        q_loss, bc_loss = ddpg_bc_actor_loss(fwd_out["actor_q"], mu, actions, config.alpha)
        losses = {
            "value_loss": expectile_loss(fwd_out["target_q"] - fwd_out["values"], config.expectile),
            "critic_loss": ((q - y) ** 2).mean(dim=-1).sum(),
            "actor_q_loss": q_loss,
            "actor_bc_loss": bc_loss,
        }
        stats = {
            "actor_mse": ((mu - actions) ** 2).mean(),
            "value_mean": fwd_out["values"].mean(),
            "q_mean": q.mean(),
            "actor_q_mean": fwd_out["actor_q"].mean(),
        }
        return self.log_and_sum(module_id, losses, stats)
