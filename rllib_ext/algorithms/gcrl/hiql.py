"""HIQL (Park et al. 2023, "HIQL: Offline Goal-Conditioned RL with Latent States as Actions"): config, networks, loss.

A GCIVL value on ``[s; phi([s; g])]`` whose goal representation phi is the hierarchy's latent action: a high
actor predicts ``phi([s; w])`` of the waypoint ``w`` ``k`` steps ahead, a low actor acts towards it (the
official ``impls/agents/hiql.py``). Per gradient step, all three terms together:

    L_V  = expectile regression of V(s, g_v) on r + gamma m V̄(s', g_v)                 (GCIVL, 2 heads)
    L_lo = -mean[min(exp(low_alpha  A_lo), 100) log pi_lo(a | s, z)],   z = phi([s; w_lo]), A_lo = V(s', w_lo) - V(s, w_lo)
    L_hi = -mean[min(exp(high_alpha A_hi), 100) log pi_hi(sg phi([s; w]) | s, g)],       A_hi = V(w, g) - V(s, g)

phi is trained by ``L_V`` only (and by ``L_lo`` with ``low_actor_rep_grad``). Acting queries both levels at
every step: ``z = normalise(mu_hi(s, g))``, ``a = mu_lo(s, z)``.
"""

from typing import Any, Dict

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override
from torch import nn

from rllib_ext.algorithms.gcrl.common.gcrl import GCRL, GCRLConfig, is_dims, is_int, is_number
from rllib_ext.algorithms.gcrl.common.goal_sampler import ACTOR_GOALS, MASKS, SUBPOLICY_GOALS, VALUE_GOALS, WAYPOINTS
from rllib_ext.algorithms.gcrl.common.losses import (
    exp_advantage_weights,
    expectile_value_loss,
    one_step_advantage,
    weighted_log_likelihood_loss,
)
from rllib_ext.algorithms.gcrl.common.networks import (
    MEAN_HEAD_GAIN,
    MLP,
    GoalConditionedActor,
    GoalConditionedInput,
    GoalConditionedValue,
    LengthNormalize,
    build_encoder,
)
from rllib_ext.algorithms.gcrl.common.presets import STITCHING
from rllib_ext.algorithms.gcrl.common.torch_learner import GCRLTorchLearner
from rllib_ext.algorithms.gcrl.common.torch_rl_module import GCRLTorchRLModule


class HIQLConfig(GCRLConfig):
    """HIQL's settings: the family's (``GCRLConfig``) plus these; defaults are the official ``get_config()``."""

    HIERARCHICAL = True
    PRESETS = {  # hyperparameters.sh (alphas 3/3 everywhere else)
        "humanoidmaze": dict(subgoal_steps=100),
        "cube": dict(subgoal_steps=10),
        "scene": dict(subgoal_steps=10),
        "puzzle": dict(subgoal_steps=10),
        **STITCHING,
        "explore": dict(STITCHING["explore"], low_alpha=10.0, high_alpha=10.0),
    }
    PIXEL_SETTINGS = dict(low_actor_rep_grad=True)  # hyperparameters.sh, every pixel line

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or HIQL)
        # fmt: off
        self.tau = 0.005  # EMA rate of the target value heads
        self.expectile = 0.7  # GCIVL expectile of the value loss
        self.low_alpha = 3.0  # low actor AWR temperature
        self.high_alpha = 3.0  # high actor AWR temperature
        self.value_hidden_dims = (512, 512, 512)  # value heads and the goal representation phi
        self.layer_norm = True  # on the value heads and phi (never on actors)
        self.rep_dim = 10  # width of phi's length-normalised output (the high actor's action)
        self.low_actor_rep_grad = False  # the low actor's loss also trains phi (the official pixel setting)
        # `actor_hidden_dims` (the family's) sizes both actors.
        # fmt: on

    def method_checks(self):
        return [
            ("tau", is_number(self.tau) and 0 < self.tau <= 1, "in (0, 1]"),
            ("expectile", is_number(self.expectile) and 0 < self.expectile < 1, "in (0, 1)"),
            ("low_alpha", is_number(self.low_alpha) and self.low_alpha >= 0, ">= 0 and finite"),
            ("high_alpha", is_number(self.high_alpha) and self.high_alpha >= 0, ">= 0 and finite"),
            ("rep_dim", is_int(self.rep_dim, 1), ">= 1 (an integer)"),
            ("value_hidden_dims", is_dims(self.value_hidden_dims), "a non-empty sequence of positive integers"),
        ]

    @override(GCRLConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=HIQLTorchRLModule)

    @override(GCRLConfig)
    def get_default_learner_class(self):
        return HIQLTorchLearner


class HIQL(GCRL):
    @classmethod
    @override(GCRL)
    def get_default_config(cls) -> HIQLConfig:
        return HIQLConfig()


class HierarchicalActor(nn.Module):
    """The two levels: ``high`` on raw ``[s; g]`` -> a ``rep_dim`` latent subgoal, ``low`` on ``[s; z]`` -> action.

    ``forward(s, g)`` is the official ``sample_actions`` at temperature 0: the high mean, length-normalised,
    fed to the low actor as an already encoded goal.
    """

    def __init__(self, observation_shape, hidden_dims, action_dim: int, rep_dim: int, encoder=None):
        super().__init__()
        self.high = GoalConditionedActor(GoalConditionedInput(observation_shape, encoder=encoder), hidden_dims, rep_dim)
        self.state_encoder, state_dim = build_encoder(encoder, observation_shape)
        self.low = MLP(state_dim + rep_dim, hidden_dims, action_dim, layer_norm=False, out_gain=MEAN_HEAD_GAIN)
        self.normalize = LengthNormalize()

    def low_means(self, observations: torch.Tensor, latent_goals: torch.Tensor) -> torch.Tensor:
        return self.low(torch.cat([self.state_encoder(observations), latent_goals], dim=-1))

    def forward(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        return self.low_means(observations, self.normalize(self.high(observations, goals)))


class HIQLTorchRLModule(GCRLTorchRLModule):
    """``value``: phi + two value heads on ``[s; phi([s; g])]``; ``actor``: the two levels (acting uses both)."""

    @override(GCRLTorchRLModule)
    def setup(self):
        cfg, obs = self.model_config, self.observation_shape
        value_inputs = GoalConditionedInput(obs, rep_hidden_dims=cfg["value_hidden_dims"], rep_dim=cfg["rep_dim"],
                                            layer_norm=cfg["layer_norm"], encoder=self.encoder_factory)
        self.value = GoalConditionedValue(value_inputs, cfg["value_hidden_dims"], layer_norm=cfg["layer_norm"])
        self.actor = HierarchicalActor(obs, cfg["actor_hidden_dims"], self.action_dim, cfg["rep_dim"], self.encoder_factory)

    def goal_representation(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """phi([s; g]), the value's goal representation (length-normalised)."""
        inputs = self.value.inputs
        return inputs.goal_representation(inputs.concat_encoder(torch.cat([observations, goals], dim=-1)))

    @override(GCRLTorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        s, s_next, g = batch[Columns.OBS], batch[Columns.NEXT_OBS], batch[ACTOR_GOALS]
        w_lo, w = batch[SUBPOLICY_GOALS], batch[WAYPOINTS]
        out = {}
        out["values"], out["target_values"], out["target_next_values"] = self.values_and_targets(
            s, s_next, batch[VALUE_GOALS])
        with torch.no_grad():
            v_next_lo, v_lo, v_w, v = self.value.mean_values([(s_next, w_lo), (s, w_lo), (w, g), (s, g)])
            out["low_advantages"] = one_step_advantage(v_next_lo, v_lo)
            out["high_advantages"] = v_w - v
            out["high_targets"] = self.goal_representation(s, w)
        z = self.goal_representation(s, w_lo)
        if not self.model_config["low_actor_rep_grad"]:
            z = z.detach()
        out["low_means"] = self.actor.low_means(s, z)
        out["high_means"] = self.actor.high(s, g)
        return out


class HIQLTorchLearner(GCRLTorchLearner):
    """``L_V + L_lo + L_hi`` (module docstring), one Adam step, the EMA of the target heads."""

    @override(GCRLTorchLearner)
    def compute_loss_for_module(self, *, module_id, config: HIQLConfig, batch, fwd_out):
        actions = batch[Columns.ACTIONS]
        low_weights = exp_advantage_weights(fwd_out["low_advantages"], config.low_alpha)
        high_weights = exp_advantage_weights(fwd_out["high_advantages"], config.high_alpha)
        losses = {
            "value_loss": expectile_value_loss(fwd_out["values"], fwd_out["target_values"],
                                               fwd_out["target_next_values"], batch[Columns.REWARDS], batch[MASKS],
                                               config.gamma, config.expectile),
            "low_actor_loss": weighted_log_likelihood_loss(fwd_out["low_means"], actions, low_weights),
            "high_actor_loss": weighted_log_likelihood_loss(fwd_out["high_means"], fwd_out["high_targets"],
                                                            high_weights),
        }
        stats = {
            "low_actor_mse": ((fwd_out["low_means"] - actions) ** 2).mean(),
            "high_actor_mse": ((fwd_out["high_means"] - fwd_out["high_targets"]) ** 2).mean(),
            "value_mean": fwd_out["values"].mean(),
            "low_advantage_mean": fwd_out["low_advantages"].mean(),
            "high_advantage_mean": fwd_out["high_advantages"].mean(),
        }
        return self.log_and_sum(module_id, losses, stats)
