from typing import Any, Dict

import torch

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.annotations import override
from ray.rllib.utils.typing import ModuleID, ParamDict, TensorType

from rllib_ext.cpu_memory import keep_freed_memory
from rllib_ext.saw import default_saw_rl_module as out
from rllib_ext.saw.goal_sampler import MASKS
from rllib_ext.saw.losses import (
    bootstrap_loss,
    exp_advantage_weights,
    expectile_value_loss,
    weighted_log_likelihood_loss,
)
from rllib_ext.saw.saw_learner import (
    ACTOR_ADVANTAGE_MEAN,
    ACTOR_LOSS,
    ACTOR_MSE,
    ACTOR_WEIGHT_MEAN,
    BOOTSTRAP_LOSS,
    SUBPOLICY_ADVANTAGE_MEAN,
    SUBPOLICY_LOSS,
    SUBPOLICY_WEIGHT_MEAN,
    VALUE_LOSS,
    VALUE_MEAN,
    WAYPOINT_ADVANTAGE_MEAN,
    WAYPOINT_WEIGHT_MEAN,
    SAWLearner,
)
from rllib_ext.saw.torch.networks import soft_update_
from rllib_ext.torch_compile import compile_forward_train


class SAWTorchLearner(TorchLearner, SAWLearner):
    """The official code's joint objective: ``L_V + L_sub + L_awr + L_boot``, one Adam step.

    All terms are summed and minimised together each step (not the paper's three sequential
    phases), with a single Adam over every trainable parameter (RLlib's default optimizer),
    then the target value heads move by EMA. GCIVL keeps ``L_V + L_awr``; GCBC keeps ``L_awr``
    with unit weights (maximum likelihood).
    """

    @override(TorchLearner)
    def build(self) -> None:
        """RLlib's build, then ``torch_compile_learner`` really applied (``compile_forward_train``:
        inductor fuses the GELU, LayerNorm and advantage elementwise work; the losses run eagerly)."""
        super().build()
        compile_forward_train(self)
        if self._device.type == "cpu":
            keep_freed_memory()

    @override(TorchLearner)
    def compute_loss_for_module(
        self, *, module_id: ModuleID, config: AlgorithmConfig, batch: Dict[str, Any], fwd_out: Dict[str, TensorType]
    ) -> TensorType:
        actions, actor_means = batch[Columns.ACTIONS], fwd_out[out.ACTOR_MEANS]
        losses, stats = {}, {ACTOR_MSE: ((actor_means - actions) ** 2).mean()}

        if out.VALUES in fwd_out:
            losses[VALUE_LOSS] = expectile_value_loss(
                fwd_out[out.VALUES],
                fwd_out[out.TARGET_VALUES],
                fwd_out[out.TARGET_NEXT_VALUES],
                batch[Columns.REWARDS],
                batch[MASKS],
                config.gamma,
                config.expectile,
            )
            stats[VALUE_MEAN] = fwd_out[out.VALUES].mean()
            actor_weights = exp_advantage_weights(fwd_out[out.ACTOR_ADVANTAGES], config.awr_alpha)
            stats[ACTOR_ADVANTAGE_MEAN] = fwd_out[out.ACTOR_ADVANTAGES].mean()
        else:
            actor_weights = torch.ones_like(actor_means[:, 0])
        losses[ACTOR_LOSS] = weighted_log_likelihood_loss(actor_means, actions, actor_weights)
        stats[ACTOR_WEIGHT_MEAN] = actor_weights.mean()

        if out.SUBPOLICY_MEANS in fwd_out:
            sub_weights = exp_advantage_weights(fwd_out[out.SUBPOLICY_ADVANTAGES], config.low_alpha)
            losses[SUBPOLICY_LOSS] = weighted_log_likelihood_loss(fwd_out[out.SUBPOLICY_MEANS], actions, sub_weights)
            waypoint_weights = exp_advantage_weights(fwd_out[out.WAYPOINT_ADVANTAGES], config.kl_alpha)
            losses[BOOTSTRAP_LOSS] = bootstrap_loss(
                actor_means, fwd_out[out.WAYPOINT_SUBPOLICY_MEANS], waypoint_weights
            )
            stats[SUBPOLICY_ADVANTAGE_MEAN] = fwd_out[out.SUBPOLICY_ADVANTAGES].mean()
            stats[WAYPOINT_ADVANTAGE_MEAN] = fwd_out[out.WAYPOINT_ADVANTAGES].mean()
            stats[SUBPOLICY_WEIGHT_MEAN] = sub_weights.mean()
            stats[WAYPOINT_WEIGHT_MEAN] = waypoint_weights.mean()

        self.metrics.log_dict(
            {k: v.detach() for k, v in {**losses, **stats}.items()}, key=module_id, reduce="mean"
        )
        return sum(losses.values())

    @override(TorchLearner)
    def configure_optimizers_for_module(self, module_id: ModuleID, config: AlgorithmConfig = None) -> None:
        """One Adam (default betas/eps, no weight decay) over every trainable parameter; fused kernel."""
        params = self.get_parameters(self._module[module_id])
        self.register_optimizer(
            module_id=module_id,
            optimizer=torch.optim.Adam(params, fused=True),
            params=params,
            lr_or_lr_schedule=config.lr,
        )

    @override(TorchLearner)
    def apply_gradients(self, gradients_dict: ParamDict) -> None:
        """The Adam step, then the EMA of the target value heads (after every gradient step).

        Unlike RLlib's default this does not screen each gradient tensor for NaN/inf (two host
        syncs per tensor per step; the official code has no such check either).
        """
        if self._grad_scalers is not None or self._lr_scheduler_classes is not None:
            super().apply_gradients(gradients_dict)
        else:
            for pid, grad in gradients_dict.items():
                self._params[pid].grad = grad
            for optimizer in self._optimizer_parameters:
                optimizer.step()
        for module_id in self.module.keys():
            config = self.config.get_config_for_module(module_id)
            for online, target in self.module[module_id].unwrapped().get_target_network_pairs():
                soft_update_(target, online, config.tau)
