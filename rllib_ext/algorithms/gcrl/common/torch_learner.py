"""The base learner of the family: one Adam over every network, then the EMA of the target networks.

For pixel datasets (and frame stacking) the learner receives index batches and gathers the observations from its
own copy of the dataset, loaded once per process (``images.py``).
"""

from typing import Dict, Optional

import torch
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.learner.training_data import TrainingData
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.utils.annotations import override
from ray.rllib.utils.typing import ModuleID, ParamDict, TensorType

from rllib_ext.algorithms.gcrl.common import dataset as datasets
from rllib_ext.algorithms.gcrl.common.images import ObservationGatherer
from rllib_ext.algorithms.gcrl.common.networks import soft_update_
from rllib_ext.utils.cpu_memory import keep_freed_memory
from rllib_ext.utils.torch_compile import compile_forward_train

GATHERER = "observation_gatherer"
"""The learner state's key for the pixel augmentation stream's position."""


class GCRLTorchLearner(TorchLearner):
    """A method's learner adds ``compute_loss_for_module``: the official joint objective, all terms summed and
    minimised together by one Adam step over every trainable parameter; at every gradient step the target
    networks move by EMA (rate ``tau``) towards the online parameters from *before* that step, as the official
    ``target_update`` does (it reads ``self.network.params``, the pre-update state; e.g. ``agents/hiql.py``)."""

    @override(TorchLearner)
    def build(self) -> None:
        """RLlib's build, the target networks (made after the optimizers, so Adam never sees them), then
        ``torch_compile_learner`` really applied (``compile_forward_train``)."""
        super().build()
        self.module.foreach_module(  # passes each module unwrapped (DDP)
            lambda mid, module: module.make_target_networks() if isinstance(module, TargetNetworkAPI) else None
        )
        compile_forward_train(self)
        if self._device.type == "cpu":
            keep_freed_memory()
        self._gatherer: Optional[ObservationGatherer] = None
        if self.config.dataset_path is not None:
            dataset = datasets.load(self.config.dataset_path)
            if datasets.uses_index_batches(dataset, self.config):
                rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
                self._gatherer = ObservationGatherer(
                    dataset["observations"], dataset["episode_starts"], p_aug=self.config.p_aug,
                    frame_stack=self.config.frame_stack, seed=self.config.seed, rank=rank)

    @override(TorchLearner)
    def get_state(self, components=None, *, not_components=None, **kwargs) -> Dict:
        """RLlib's learner state, plus the position in the pixel augmentation stream (``ObservationGatherer``)."""
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._gatherer is not None and self._check_component(GATHERER, components, not_components):
            state[GATHERER] = self._gatherer.get_state()
        return state

    @override(TorchLearner)
    def set_state(self, state: Dict) -> None:
        super().set_state(state)
        if self._gatherer is not None and GATHERER in state:
            self._gatherer.set_state(state[GATHERER])

    @override(TorchLearner)
    def update(self, *, training_data: Optional[TrainingData] = None, batch: Optional[MultiAgentBatch] = None,
               minibatch_size: Optional[int] = None, **kwargs):
        """RLlib's update; an index batch first becomes observations here, in the learner's process."""
        if self._gatherer is not None:
            training_data = training_data or TrainingData(batch=batch)
            training_data.solve_refs()
            batch = MultiAgentBatch(
                {mid: SampleBatch(self._gatherer(dict(b), minibatch_size or len(b)))
                 for mid, b in training_data.batch.policy_batches.items()},
                env_steps=training_data.batch.env_steps())
            training_data = None
        return super().update(training_data=training_data, batch=batch, minibatch_size=minibatch_size, **kwargs)

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
        """The EMA of the target networks from the pre-step online parameters, then RLlib's optimizer step."""
        for module_id in self.module.keys():
            config = self.config.get_config_for_module(module_id)
            for online, target in self.module[module_id].unwrapped().get_target_network_pairs():
                soft_update_(target, online, config.tau)
        super().apply_gradients(gradients_dict)

    def log_and_sum(self, module_id: ModuleID, losses: Dict[str, TensorType], stats: Dict[str, TensorType]) -> TensorType:
        """Log every loss term and statistic under ``module_id``; return the summed objective."""
        self.metrics.log_dict({k: v.detach() for k, v in {**losses, **stats}.items()}, key=module_id, reduce="mean")
        return sum(losses.values())
