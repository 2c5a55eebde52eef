"""The base RLModule of the family: a flat goal-conditioned actor that acts, and EMA targets of a value.

Inputs. For acting, ``Columns.OBS`` is the goal-conditioned observation ``[obs; goal]`` joined on the last
axis (what ``OGBenchGoalEnv`` emits), so the module's observation space is the dataset's observation space
with the last axis doubled. For training, the batch from ``GoalSampler`` carries plain observations and one
column per goal (``goal_sampler.py``).

Outputs. ``_forward`` returns ``ACTION_DIST_INPUTS = [mu(s, g); log sigma = 0]`` for RLlib's diagonal
Gaussian (fixed unit std; deterministic evaluation takes the mean). Each method's ``_forward_train``
returns what its loss needs; quantities used only as weights (advantages, target values) are computed
without gradient.

A method builds ``self.actor`` (a module ``(s, g) -> mu``) in ``setup`` and the networks its loss needs.
``TARGET_NETWORKS`` names the submodules that get an EMA target copy ``target_<name>`` (dots become
underscores): by default the heads of ``self.value`` if the method has one, and the value's image encoders that
the official target value owns: its state encoder (HIQL, SAW: the goal representation phi, its encoder included,
is shared by online and target values) or its early-fusion encoder (GCIVL). Without an image ``encoder`` those
are identities.

``encoder_factory`` is the config's ``encoder`` (a name of ``encoders.ENCODERS``, a callable, or None for state
vectors); each network that the official agent gives an encoder builds its own instance.
"""

from typing import Any, Dict, List, Optional, Tuple

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override

from rllib_ext.algorithms.gcrl.common.encoders import EncoderFactory, encoder_factory
from rllib_ext.algorithms.gcrl.common.goal_sampler import VALUE_GOALS

TARGET_VALUES = "target_values"
"""``[2, B]`` target heads at ``(s, g_v)``."""


class GCRLTorchRLModule(TorchRLModule, InferenceOnlyAPI, TargetNetworkAPI):
    """Acts with ``self.actor``; every other network is for training only."""

    TARGET_NETWORKS: Tuple[str, ...] = ("value.heads", "value.inputs.state_encoder")
    """Submodules with an EMA target copy (those the module lacks or that have no parameters are skipped)."""

    @property
    def encoder_factory(self) -> Optional[EncoderFactory]:
        """The image encoder each network builds for itself (None: state vectors, no encoder)."""
        return encoder_factory(self.model_config["encoder"])

    @property
    def observation_shape(self) -> Tuple[int, ...]:
        """The dataset's observation shape (the module sees ``[obs; goal]``)."""
        shape = self.observation_space.shape
        return (*shape[:-1], shape[-1] // 2)

    @property
    def action_dim(self) -> int:
        return self.action_space.shape[0]

    @override(TorchRLModule)
    def _forward(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        observations, goals = batch[Columns.OBS].chunk(2, dim=-1)
        means = self.actor(observations, goals)
        return {Columns.ACTION_DIST_INPUTS: torch.cat([means, torch.zeros_like(means)], dim=-1)}

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self):
        return [name for name in self._modules if name != "actor"]

    def target_value_features(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """The target value's input features: the value's, with the target copies of its encoders."""
        return self.value.inputs(observations, goals, **{
            part: getattr(self, f"target_value_inputs_{part}")
            for part in ("state_encoder", "concat_encoder") if hasattr(self, f"target_value_inputs_{part}")})

    def values_and_targets(self, s: torch.Tensor, s_next: torch.Tensor, g_v: torch.Tensor):
        """``V_j(s, g_v)`` with gradient, and the target value's ``V̄_j(s, g_v)``, ``V̄_j(s', g_v)``; each ``[2, B]``."""
        features = self.value.inputs(s, g_v)
        values = self.value.heads(features).squeeze(-1)
        with torch.no_grad():
            if self._has_target_encoders():
                target_features = self.target_value_features(torch.cat([s_next, s]), torch.cat([g_v, g_v]))
            else:  # the target shares the online features at (s, g_v)
                target_features = torch.cat([self.value.inputs(s_next, g_v), features])
            target = self.target_value_heads(target_features).squeeze(-1)
            target_next, target_values = target.chunk(2, dim=-1)
        return values, target_values, target_next

    def _has_target_encoders(self) -> bool:
        return any(hasattr(self, f"target_value_inputs_{part}") for part in ("state_encoder", "concat_encoder"))

    def _target_names(self) -> List[Tuple[str, str]]:
        """``(online submodule path, target attribute)`` of every target network this module has."""
        names = []
        for path in self.TARGET_NETWORKS:
            try:
                submodule = self.get_submodule(path)
            except AttributeError:
                continue
            if submodule is not None and any(True for _ in submodule.parameters()):
                names.append((path, "target_" + path.replace(".", "_")))
        return names

    @override(TargetNetworkAPI)
    def make_target_networks(self) -> None:
        for path, target in self._target_names():
            setattr(self, target, make_target_network(self.get_submodule(path)))

    @override(TargetNetworkAPI)
    def get_target_network_pairs(self):
        return [(self.get_submodule(path), getattr(self, target)) for path, target in self._target_names()]

    @override(TargetNetworkAPI)
    def forward_target(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        features = self.target_value_features(batch[Columns.OBS], batch[VALUE_GOALS])
        return {TARGET_VALUES: self.target_value_heads(features).squeeze(-1)}
