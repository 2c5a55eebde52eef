"""GCIVL (OGBench's goal-conditioned implicit V-learning; Park et al. 2024): config, networks and loss.

A value learned by expectile regression on dataset actions only (no Q), and a flat actor trained with one-step
AWR on it (the official ``impls/agents/gcivl.py``). Per gradient step, both terms together:

    L_V   = expectile regression of V(s, g_v) on r + gamma m V̄(s', g_v)        (2 heads, target of the heads)
    L_awr = -mean[min(exp(awr_alpha A), 100) log pi(a | s, g)],   A = V(s', g) - V(s, g)

Value and actor see the raw ``[s; g]`` (no goal representation).
"""

from typing import Any, Dict

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from rllib_ext.algorithms.gcrl.common.gcrl import GCRL, GCRLConfig, is_dims, is_number
from rllib_ext.algorithms.gcrl.common.presets import STITCHING
from rllib_ext.algorithms.gcrl.common.goal_sampler import ACTOR_GOALS, MASKS, VALUE_GOALS
from rllib_ext.algorithms.gcrl.common.losses import (
    exp_advantage_weights,
    expectile_value_loss,
    one_step_advantage,
    weighted_log_likelihood_loss,
)
from rllib_ext.algorithms.gcrl.common.networks import GoalConditionedActor, GoalConditionedInput, GoalConditionedValue
from rllib_ext.algorithms.gcrl.common.torch_learner import GCRLTorchLearner
from rllib_ext.algorithms.gcrl.common.torch_rl_module import GCRLTorchRLModule


class GCIVLConfig(GCRLConfig):
    """GCIVL's settings: the family's (``GCRLConfig``) plus these; defaults are OGBench's."""

    PRESETS = dict(STITCHING)  # hyperparameters.sh: alpha 10 (the default) everywhere; random actor goals

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or GCIVL)
        # fmt: off
        self.tau = 0.005  # EMA rate of the target value heads
        self.expectile = 0.9  # expectile of the value loss
        self.awr_alpha = 10.0  # AWR temperature (OGBench's `alpha`)
        self.value_hidden_dims = (512, 512, 512)  # the value heads' MLPs
        self.layer_norm = True  # on the value heads (never on the actor)
        # fmt: on

    def method_checks(self):
        return [
            ("tau", is_number(self.tau) and 0 < self.tau <= 1, "in (0, 1]"),
            ("expectile", is_number(self.expectile) and 0 < self.expectile < 1, "in (0, 1)"),
            ("awr_alpha", is_number(self.awr_alpha) and self.awr_alpha >= 0, ">= 0 and finite"),
            ("value_hidden_dims", is_dims(self.value_hidden_dims), "a non-empty sequence of positive integers"),
        ]

    @override(GCRLConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=GCIVLTorchRLModule)

    @override(GCRLConfig)
    def get_default_learner_class(self):
        return GCIVLTorchLearner


class GCIVL(GCRL):
    @classmethod
    @override(GCRL)
    def get_default_config(cls) -> GCIVLConfig:
        return GCIVLConfig()


class GCIVLTorchRLModule(GCRLTorchRLModule):
    """``actor``: the flat actor on ``[s; g]``; ``value``: two value heads on ``[s; g]``.

    The target value is a copy of the whole value (the official ``copy.deepcopy(value_def)``): with an image
    encoder, its early-fusion encoder too.
    """

    TARGET_NETWORKS = ("value.heads", "value.inputs.concat_encoder")

    @override(GCRLTorchRLModule)
    def setup(self):
        cfg, obs = self.model_config, self.observation_shape
        value_inputs = GoalConditionedInput(obs, encoder=self.encoder_factory)
        self.actor = GoalConditionedActor(
            GoalConditionedInput(obs, encoder=self.encoder_factory), cfg["actor_hidden_dims"], self.action_dim)
        self.value = GoalConditionedValue(value_inputs, cfg["value_hidden_dims"], layer_norm=cfg["layer_norm"])

    @override(GCRLTorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        s, s_next, g = batch[Columns.OBS], batch[Columns.NEXT_OBS], batch[ACTOR_GOALS]
        out = {"actor_means": self.actor(s, g)}
        out["values"], out["target_values"], out["target_next_values"] = self.values_and_targets(
            s, s_next, batch[VALUE_GOALS])
        with torch.no_grad():
            v_next, v = self.value.mean_values([(s_next, g), (s, g)])
            out["actor_advantages"] = one_step_advantage(v_next, v)
        return out


class GCIVLTorchLearner(GCRLTorchLearner):
    """``L_V + L_awr`` (module docstring), one Adam step, then the EMA of the target heads."""

    @override(GCRLTorchLearner)
    def compute_loss_for_module(self, *, module_id, config: GCIVLConfig, batch, fwd_out):
        actions, mu = batch[Columns.ACTIONS], fwd_out["actor_means"]
        actor_weights = exp_advantage_weights(fwd_out["actor_advantages"], config.awr_alpha)
        losses = {
            "value_loss": expectile_value_loss(fwd_out["values"], fwd_out["target_values"],
                                               fwd_out["target_next_values"], batch[Columns.REWARDS], batch[MASKS],
                                               config.gamma, config.expectile),
            "actor_loss": weighted_log_likelihood_loss(mu, actions, actor_weights),
        }
        stats = {
            "actor_mse": ((mu - actions) ** 2).mean(),  # a behaviour-cloning diagnostic
            "value_mean": fwd_out["values"].mean(),
            "actor_advantage_mean": fwd_out["actor_advantages"].mean(),
            "actor_weight_mean": actor_weights.mean(),
        }
        return self.log_and_sum(module_id, losses, stats)
