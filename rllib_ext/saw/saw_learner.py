from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.utils.annotations import OverrideToImplementCustomLogic_CallToSuperRecommended, override

VALUE_LOSS = "value_loss"
SUBPOLICY_LOSS = "subpolicy_loss"
ACTOR_LOSS = "actor_loss"
BOOTSTRAP_LOSS = "bootstrap_loss"
VALUE_MEAN = "value_mean"
ACTOR_ADVANTAGE_MEAN = "actor_advantage_mean"
SUBPOLICY_ADVANTAGE_MEAN = "subpolicy_advantage_mean"
WAYPOINT_ADVANTAGE_MEAN = "waypoint_advantage_mean"
ACTOR_WEIGHT_MEAN = "actor_weight_mean"
SUBPOLICY_WEIGHT_MEAN = "subpolicy_weight_mean"
WAYPOINT_WEIGHT_MEAN = "waypoint_weight_mean"
ACTOR_MSE = "actor_mse"
"""Mean squared error of μ_θ against the dataset action (a BC diagnostic)."""


class SAWLearner(Learner):
    """Builds the EMA target value heads; the framework learner adds the losses and the EMA step."""

    @OverrideToImplementCustomLogic_CallToSuperRecommended
    @override(Learner)
    def build(self) -> None:
        # Optimizers are configured in `super().build()`, so the targets made afterwards
        # are never handed to Adam.
        super().build()
        self.module.foreach_module(
            lambda mid, module: module.make_target_networks() if isinstance(module, TargetNetworkAPI) else None
        )
