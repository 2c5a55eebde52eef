"""SAW (Zhou & Kao 2025, "Flattening Hierarchies with Policy Bootstrapping"): config, networks and loss.

One flat goal-conditioned actor ``pi(a | s, g)``, trained with one-step AWR on a GCIVL value and bootstrapped on
a subgoal-conditioned policy ``pi_sub(a | s, w)`` towards the waypoint ``w`` ``k`` steps ahead on the way to
``g`` (paper Section 4; the official ``impls/agents/saw.py``). Per gradient step, all four terms together:

    L_V    = expectile regression of V(s, g_v) on r + gamma m V̄(s', g_v)               (GCIVL, 2 heads)
    L_sub  = -mean[min(exp(low_alpha  A_lo), 100) log pi_sub(a | s, w_lo)],   A_lo = V(s', w_lo) - V(s, w_lo)
    L_awr  = -mean[min(exp(awr_alpha  A),    100) log pi(a | s, g)],          A    = V(s', g)    - V(s, g)
    L_boot =  mean[min(exp(kl_alpha   A_w),  100) ||mu(s, g) - sg(mu_sub(s, w))||^2],  A_w = V(w, g) - V(s, g)

Value and actor see ``[s; phi([s; g])]``: a length-normalised goal representation per network (paper App. F.4).
"""

from typing import Any, Dict

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from rllib_ext.algorithms.gcrl.common.gcrl import GCRL, GCRLConfig, is_dims, is_int, is_number
from rllib_ext.algorithms.gcrl.common.presets import STITCHING
from rllib_ext.algorithms.gcrl.common.goal_sampler import ACTOR_GOALS, MASKS, SUBPOLICY_GOALS, VALUE_GOALS, WAYPOINTS
from rllib_ext.algorithms.gcrl.common.losses import (
    exp_advantage_weights,
    expectile_value_loss,
    one_step_advantage,
    weighted_log_likelihood_loss,
)
from rllib_ext.algorithms.gcrl.common.networks import GoalConditionedActor, GoalConditionedInput, GoalConditionedValue
from rllib_ext.algorithms.gcrl.common.torch_learner import GCRLTorchLearner
from rllib_ext.algorithms.gcrl.common.torch_rl_module import GCRLTorchRLModule


class SAWConfig(GCRLConfig):
    """SAW's settings: the family's (``GCRLConfig``) plus these; defaults are the official ``get_config()``."""

    HIERARCHICAL = True
    PRESETS = {
        # The official hyperparameters.sh (the paper's Table 2): navigate mazes, cube-single/double/triple, scene.
        "humanoidmaze": dict(subgoal_steps=100),
        "cube": dict(kl_alpha=1.0, subgoal_steps=10),
        "cube-single": dict(expectile=0.9, kl_alpha=0.3),
        "scene": dict(kl_alpha=1.0, subgoal_steps=10),
        # No official source for SAW on puzzle, cube-quadruple, teleport, antsoccer, stitch, explore or noisy
        # datasets: puzzle copies the other manipulation families', cube-quadruple the cube family's, teleport and
        # antsoccer the defaults, and stitch/explore take the random actor goals every other value-based method
        # uses there (HIQL's, whose sampler SAW shares).
        "puzzle": dict(kl_alpha=1.0, subgoal_steps=10),
        **STITCHING,
    }
    PIXEL_PRESETS = {
        # The official pixel lines (visual-antmaze-{medium,large,giant}-navigate, visual-cube-single/double/triple,
        # visual-scene) keep kl_alpha and expectile at their defaults and set only subgoal_steps on manipulation;
        # the datasets without an official line follow the state presets' choices (see PRESETS).
        "humanoidmaze": dict(subgoal_steps=100),
        "cube": dict(subgoal_steps=10),
        "scene": dict(subgoal_steps=10),
        "puzzle": dict(subgoal_steps=10),
        **STITCHING,
    }
    PIXEL_SETTINGS = dict(share_goal_rep=True)

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or SAW)
        # fmt: off
        self.tau = 0.005  # EMA rate of the target value heads
        self.expectile = 0.7  # GCIVL expectile of the value loss
        self.low_alpha = 3.0  # subpolicy AWR temperature
        self.awr_alpha = 3.0  # flat one-step AWR temperature (alpha)
        self.kl_alpha = 3.0  # bootstrapping importance-weight temperature (beta)
        self.subpolicy_hidden_dims = (512, 512, 512)  # the subgoal-conditioned policy's MLP (on raw [s; w])
        self.value_hidden_dims = (512, 512, 512)  # value heads and both goal representations
        self.layer_norm = True  # on the value heads and goal representations (never on actors)
        self.goal_representation = True  # value and actor see [s; phi([s; g])] (paper App. F.4)
        self.rep_dim = 10  # width of phi's length-normalised output
        self.share_goal_rep = False  # the actor reuses the value's phi, gradients included (pixel variants)
        # fmt: on

    def method_checks(self):
        return [
            ("tau", is_number(self.tau) and 0 < self.tau <= 1, "in (0, 1]"),
            ("expectile", is_number(self.expectile) and 0 < self.expectile < 1, "in (0, 1)"),
            ("awr_alpha", is_number(self.awr_alpha) and self.awr_alpha >= 0, ">= 0 and finite"),
            ("low_alpha", is_number(self.low_alpha) and self.low_alpha >= 0, ">= 0 and finite"),
            ("kl_alpha", is_number(self.kl_alpha) and self.kl_alpha >= 0, ">= 0 and finite"),
            ("rep_dim", is_int(self.rep_dim, 1), ">= 1 (an integer)"),
            *[(k, is_dims(getattr(self, k)), "a non-empty sequence of positive integers")
              for k in ("subpolicy_hidden_dims", "value_hidden_dims")],
        ]

    def method_error(self, dataset):
        if self.share_goal_rep and not self.goal_representation:
            return "`share_goal_rep` needs `goal_representation=True`"
        return None

    @override(GCRLConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=SAWTorchRLModule)

    @override(GCRLConfig)
    def get_default_learner_class(self):
        return SAWTorchLearner


class SAW(GCRL):
    @classmethod
    @override(GCRL)
    def get_default_config(cls) -> SAWConfig:
        return SAWConfig()


class SAWTorchRLModule(GCRLTorchRLModule):
    """``actor``: phi_pi + flat actor; ``value``: phi_V + two value heads; ``subpolicy``: pi_sub on raw ``[s; w]``."""

    @override(GCRLTorchRLModule)
    def setup(self):
        cfg, obs = self.model_config, self.observation_shape
        rep = dict(rep_hidden_dims=cfg["value_hidden_dims"] if cfg["goal_representation"] else None,
                   rep_dim=cfg["rep_dim"], layer_norm=cfg["layer_norm"], encoder=self.encoder_factory)
        value_inputs = GoalConditionedInput(obs, **rep)  # phi_V is initialised first, as in the official code
        actor_inputs = GoalConditionedInput(obs, shared_from=value_inputs if cfg["share_goal_rep"] else None, **rep)
        self.actor = GoalConditionedActor(actor_inputs, cfg["actor_hidden_dims"], self.action_dim)
        self.value = GoalConditionedValue(value_inputs, cfg["value_hidden_dims"], layer_norm=cfg["layer_norm"])
        self.subpolicy = GoalConditionedActor(
            GoalConditionedInput(obs, encoder=self.encoder_factory), cfg["subpolicy_hidden_dims"], self.action_dim)

    @override(GCRLTorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        s, s_next, g = batch[Columns.OBS], batch[Columns.NEXT_OBS], batch[ACTOR_GOALS]
        w_lo, w = batch[SUBPOLICY_GOALS], batch[WAYPOINTS]
        out = {"actor_means": self.actor(s, g)}
        out["values"], out["target_values"], out["target_next_values"] = self.values_and_targets(
            s, s_next, batch[VALUE_GOALS])
        with torch.no_grad():
            v_next, v, v_next_lo, v_lo, v_w = self.value.mean_values(
                [(s_next, g), (s, g), (s_next, w_lo), (s, w_lo), (w, g)])
            out["actor_advantages"] = one_step_advantage(v_next, v)
            out["subpolicy_advantages"] = one_step_advantage(v_next_lo, v_lo)
            out["waypoint_advantages"] = v_w - v
            out["waypoint_subpolicy_means"] = self.subpolicy(s, w)  # the bootstrapping target
        out["subpolicy_means"] = self.subpolicy(s, w_lo)
        return out


def bootstrap_loss(actor_means: torch.Tensor, subpolicy_means: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``L_boot = mean[c · Σ_dims (mu(s,g) − sg(mu_sub(s,w)))²]`` (the official ``actor_loss``; no ½, no minus).

    For unit-variance Gaussians the squared distance of the means is 2·KL in either direction. The subpolicy
    mean is detached: the bootstrapping term trains only the flat actor.
    """
    squared_distance = ((actor_means - subpolicy_means.detach()) ** 2).sum(dim=-1)
    return (weights.detach() * squared_distance).mean()


class SAWTorchLearner(GCRLTorchLearner):
    """``L_V + L_awr + L_sub + L_boot`` (module docstring), one Adam step, then the EMA of the target heads."""

    @override(GCRLTorchLearner)
    def compute_loss_for_module(self, *, module_id, config: SAWConfig, batch, fwd_out):
        actions, mu = batch[Columns.ACTIONS], fwd_out["actor_means"]
        actor_weights = exp_advantage_weights(fwd_out["actor_advantages"], config.awr_alpha)
        sub_weights = exp_advantage_weights(fwd_out["subpolicy_advantages"], config.low_alpha)
        waypoint_weights = exp_advantage_weights(fwd_out["waypoint_advantages"], config.kl_alpha)
        losses = {
            "value_loss": expectile_value_loss(fwd_out["values"], fwd_out["target_values"],
                                               fwd_out["target_next_values"], batch[Columns.REWARDS], batch[MASKS],
                                               config.gamma, config.expectile),
            "actor_loss": weighted_log_likelihood_loss(mu, actions, actor_weights),
            "subpolicy_loss": weighted_log_likelihood_loss(fwd_out["subpolicy_means"], actions, sub_weights),
            "bootstrap_loss": bootstrap_loss(mu, fwd_out["waypoint_subpolicy_means"], waypoint_weights),
        }
        stats = {
            "actor_mse": ((mu - actions) ** 2).mean(),  # a behaviour-cloning diagnostic
            "value_mean": fwd_out["values"].mean(),
            "actor_advantage_mean": fwd_out["actor_advantages"].mean(),
            "actor_weight_mean": actor_weights.mean(),
            "subpolicy_advantage_mean": fwd_out["subpolicy_advantages"].mean(),
            "waypoint_advantage_mean": fwd_out["waypoint_advantages"].mean(),
            "subpolicy_weight_mean": sub_weights.mean(),
            "waypoint_weight_mean": waypoint_weights.mean(),
        }
        return self.log_and_sum(module_id, losses, stats)
