from typing import Any, Dict, List, Tuple

import torch

from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override

from rllib_ext.saw.default_saw_rl_module import (
    ACTOR_ADVANTAGES,
    ACTOR_MEANS,
    SUBPOLICY_ADVANTAGES,
    SUBPOLICY_MEANS,
    TARGET_NEXT_VALUES,
    TARGET_VALUES,
    VALUES,
    WAYPOINT_ADVANTAGES,
    WAYPOINT_SUBPOLICY_MEANS,
    DefaultSAWRLModule,
)
from rllib_ext.saw.goal_sampler import ACTOR_GOALS, SUBPOLICY_GOALS, VALUE_GOALS, WAYPOINTS
from rllib_ext.saw.losses import one_step_advantage
from rllib_ext.saw.torch.networks import GoalConditionedActor, GoalConditionedInput, GoalConditionedValue


class DefaultSAWTorchRLModule(TorchRLModule, DefaultSAWRLModule):
    """SAW's networks in PyTorch, laid out as the official agent (brief 1.3).

    ``actor``: φ_π + flat actor; ``value``: φ_V + two value heads; ``target_value_heads``: EMA
    copy of the heads (made by the learner); ``subpolicy``: π_sub on raw ``[s; w]``.
    """

    @override(TorchRLModule)
    def setup(self):
        cfg = self.model_config
        goal_shape = self.observation_space.shape
        obs_shape = (*goal_shape[:-1], goal_shape[-1] // 2)
        action_dim = self.action_space.shape[0]
        rep = dict(
            rep_hidden_dims=cfg["value_hidden_dims"] if cfg["goal_representation"] else None,
            rep_dim=cfg["rep_dim"],
            layer_norm=cfg["layer_norm"],
            encoder=cfg["encoder"],
        )
        value_inputs = GoalConditionedInput(obs_shape, **rep) if self.variant != "gcbc" else None
        shared = value_inputs if cfg["share_goal_rep"] else None
        self.actor = GoalConditionedActor(
            GoalConditionedInput(obs_shape, shared_from=shared, **rep), cfg["actor_hidden_dims"], action_dim
        )
        if value_inputs is not None:
            self.value = GoalConditionedValue(value_inputs, cfg["value_hidden_dims"], layer_norm=cfg["layer_norm"])
        if self.variant == "saw":
            self.subpolicy = GoalConditionedActor(
                GoalConditionedInput(obs_shape, encoder=cfg["encoder"]), cfg["subpolicy_hidden_dims"], action_dim
            )

    @override(TorchRLModule)
    def _forward(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        observations, goals = batch[Columns.OBS].chunk(2, dim=-1)
        means = self.actor(observations, goals)
        return {Columns.ACTION_DIST_INPUTS: torch.cat([means, torch.zeros_like(means)], dim=-1)}

    @override(TorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        s, s_next = batch[Columns.OBS], batch[Columns.NEXT_OBS]
        g_pi = batch[ACTOR_GOALS]
        out = {ACTOR_MEANS: self.actor(s, g_pi)}
        if self.variant == "gcbc":
            return out

        g_v = batch[VALUE_GOALS]
        features = self.value.inputs(s, g_v)
        out[VALUES] = self.value.heads(features).squeeze(-1)
        with torch.no_grad():
            target = self.target_value_heads(torch.cat([self.value.inputs(s_next, g_v), features])).squeeze(-1)
            out[TARGET_NEXT_VALUES], out[TARGET_VALUES] = target.chunk(2, dim=-1)
            pairs = [(s_next, g_pi), (s, g_pi)]
            if self.variant == "saw":
                w_lo, w = batch[SUBPOLICY_GOALS], batch[WAYPOINTS]
                pairs += [(s_next, w_lo), (s, w_lo), (w, g_pi)]
            v = self._mean_values(pairs)
            out[ACTOR_ADVANTAGES] = one_step_advantage(v[0], v[1])
            if self.variant == "saw":
                out[SUBPOLICY_ADVANTAGES] = one_step_advantage(v[2], v[3])
                out[WAYPOINT_ADVANTAGES] = v[4] - v[1]
                out[WAYPOINT_SUBPOLICY_MEANS] = self.subpolicy(s, w)
        if self.variant == "saw":
            out[SUBPOLICY_MEANS] = self.subpolicy(s, w_lo)
        return out

    def _mean_values(self, pairs: List[Tuple[torch.Tensor, torch.Tensor]]) -> Tuple[torch.Tensor, ...]:
        """(V_1 + V_2) / 2 at several (obs, goal) pairs, in one batched pass."""
        observations, goals = zip(*pairs)
        values = self.value(torch.cat(observations), torch.cat(goals)).mean(dim=0)
        return values.chunk(len(pairs))

    @override(TargetNetworkAPI)
    def make_target_networks(self) -> None:
        if hasattr(self, "value"):
            self.target_value_heads = make_target_network(self.value.heads)

    @override(TargetNetworkAPI)
    def get_target_network_pairs(self):
        return [(self.value.heads, self.target_value_heads)] if hasattr(self, "value") else []

    @override(TargetNetworkAPI)
    def forward_target(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        features = self.value.inputs(batch[Columns.OBS], batch[VALUE_GOALS])
        return {TARGET_VALUES: self.target_value_heads(features).squeeze(-1)}
