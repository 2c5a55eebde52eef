"""GCBC (goal-conditioned behaviour cloning; OGBench's ``impls/agents/gcbc.py``): config, network and loss.

The flat actor alone, maximum likelihood of the dataset action towards goals drawn from the future of the
same trajectory:

    L = -mean[log pi(a | s, g)]        (unit-variance Gaussian, so 1/2 ||a - mu(s, g)||^2 + const)
"""

from typing import Any, Dict

from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from rllib_ext.algorithms.gcrl.common.gcrl import GCRL, GCRLConfig
from rllib_ext.algorithms.gcrl.common.goal_sampler import ACTOR_GOALS
from rllib_ext.algorithms.gcrl.common.losses import unit_gaussian_log_prob
from rllib_ext.algorithms.gcrl.common.networks import GoalConditionedActor, GoalConditionedInput
from rllib_ext.algorithms.gcrl.common.torch_learner import GCRLTorchLearner
from rllib_ext.algorithms.gcrl.common.torch_rl_module import GCRLTorchRLModule


class GCBCConfig(GCRLConfig):
    """GCBC's settings: the family's (``GCRLConfig``); it adds none."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or GCBC)

    @override(GCRLConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=GCBCTorchRLModule)

    @override(GCRLConfig)
    def get_default_learner_class(self):
        return GCBCTorchLearner


class GCBC(GCRL):
    @classmethod
    @override(GCRL)
    def get_default_config(cls) -> GCBCConfig:
        return GCBCConfig()


class GCBCTorchRLModule(GCRLTorchRLModule):
    """``actor``: the flat actor on ``[s; g]``."""

    @override(GCRLTorchRLModule)
    def setup(self):
        self.actor = GoalConditionedActor(GoalConditionedInput(self.observation_shape, encoder=self.encoder_factory),
                                          self.model_config["actor_hidden_dims"], self.action_dim)

    @override(GCRLTorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        return {"actor_means": self.actor(batch[Columns.OBS], batch[ACTOR_GOALS])}


class GCBCTorchLearner(GCRLTorchLearner):
    """Maximum likelihood of the dataset actions (module docstring), one Adam step."""

    @override(GCRLTorchLearner)
    def compute_loss_for_module(self, *, module_id, config: GCBCConfig, batch, fwd_out):
        actions, mu = batch[Columns.ACTIONS], fwd_out["actor_means"]
        losses = {"actor_loss": -unit_gaussian_log_prob(actions, mu).mean()}
        return self.log_and_sum(module_id, losses, {"actor_mse": ((mu - actions) ** 2).mean()})
