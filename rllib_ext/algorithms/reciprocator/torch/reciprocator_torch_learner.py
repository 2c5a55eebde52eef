"""The official PPO learner (the Reciprocator's and M-FOS's: RLlib's PPO torch learner with the official code's
update and targets) and the Reciprocator's learner, which also hosts the influence estimator."""

from typing import Optional

import numpy as np
import torch
from ray.rllib.algorithms.ppo.ppo import LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.common import (
    AddObservationsFromEpisodesToBatch,
    AddStatesFromEpisodesToBatch,
    AddTimeDimToBatchAndZeroPad,
    AgentToModuleMapping,
    BatchIndividualItems,
)
from ray.rllib.connectors.learner import (
    AddColumnsFromEpisodesToTrainBatch,
    AddOneTsToEpisodesAndTruncate,
    GeneralAdvantageEstimation,
)
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.torch_utils import explained_variance

from rllib_ext.algorithms.reciprocator.reward_influence_connector import ReciprocalRewardConnector
from rllib_ext.connectors.learner import DropMaskedRows, EpisodesToBatchInBulk, NormalizedMonteCarloReturns
from rllib_ext.utils.torch_compile import compile_forward_train


STOCK_PIECES = [
    AddOneTsToEpisodesAndTruncate, AddObservationsFromEpisodesToBatch, AddColumnsFromEpisodesToTrainBatch,
    AddTimeDimToBatchAndZeroPad, AddStatesFromEpisodesToBatch, AgentToModuleMapping, BatchIndividualItems,
]
"""PPO's default learner pieces from episodes to a numpy batch, in order (RLlib 2.60), which
``EpisodesToBatchInBulk`` stands in for."""


def ppo_update_problem(config) -> Optional[str]:
    """What is wrong with ``config``'s ``ppo_update`` for the targets it sets, or None (for the ``validate()`` of
    every config that trains with ``OfficialPPOTorchLearner``)."""
    if config.ppo_update not in ("official", "rllib"):
        return f"ppo_update: unknown {config.ppo_update!r}; known: official, rllib"
    if config.ppo_update == "official" and (not config.normalize_returns or config.use_kl_loss):
        return ("ppo_update='official' is the official update on the official targets: it needs "
                "normalize_returns=True and use_kl_loss=False (or set ppo_update='rllib')")
    return None


class OfficialPPOTorchLearner(PPOTorchLearner):
    """RLlib's PPO torch learner with the official code's update and targets (the Reciprocator's and
    M-FOS's official PPO: ``src/agents/ppo.py`` of both repositories).

    Pipeline: RLlib's batching pieces -> ``NormalizedMonteCarloReturns`` (with ``normalize_returns``, the
    official targets) or RLlib's GAE -> ``DropMaskedRows``. With ``bulk_learner_batch`` (and
    ``normalize_returns``, and no custom learner pieces) ``EpisodesToBatchInBulk`` stands in for the batching
    pieces from ``AddOneTsToEpisodesAndTruncate`` to ``BatchIndividualItems`` (the same batch, built with
    array operations; it runs those pieces itself when the episodes are not whole and of one length).
    ``ppo_update`` picks the official update (``compute_loss_for_module``, ``_create_iterator_if_necessary``)
    or RLlib's. Reads the config's ``normalize_returns``, ``center_returns``, ``bulk_learner_batch`` and
    ``ppo_update`` besides PPO's settings.
    """

    def build(self) -> None:
        super().build()
        compile_forward_train(self)
        config = self.config
        pipeline = self._learner_connector
        if pipeline is None:
            return
        if config.normalize_returns:
            pipeline.remove(GeneralAdvantageEstimation)
            pipeline.append(NormalizedMonteCarloReturns(gamma=config.gamma, center=config.center_returns))
        stock = [type(c) for c in pipeline.connectors]
        if config.bulk_learner_batch and config.normalize_returns and stock[: len(STOCK_PIECES)] == STOCK_PIECES:
            # Build the batch in bulk (or with the stock pieces when the episodes do not qualify);
            # NumpyToTensor and the targets follow as before.
            n = len(STOCK_PIECES)
            pipeline.connectors = [EpisodesToBatchInBulk(stock_pieces=pipeline.connectors[:n]),
                                   *pipeline.connectors[n:]]
        pipeline.append(DropMaskedRows())

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        """With ``ppo_update="official"`` the official PPO loss (``src/agents/ppo.py`` ``PPO.update``,
        ``matrix_games/matrix_ppo.py`` ``MatrixPPO.update``): the advantage ``A = G_norm - V(s)`` is
        recomputed at every step with the current critic (V detached), and the loss per sample is
        ``-min(rho A, clip(rho) A) + vf_coeff (V - G_norm)^2 - c_ent H``, averaged over the batch.
        Otherwise RLlib's PPO loss, with the advantages fixed before the epochs."""
        if config.ppo_update != "official":
            return super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        module = self.module[module_id].unwrapped()
        if Columns.LOSS_MASK in batch:  # recurrent modules keep their zero-padded sequences
            mask = batch[Columns.LOSS_MASK]
            num_valid = torch.sum(mask)

            def mean(x):
                return torch.sum(x[mask]) / num_valid
        else:
            mean = torch.mean
        dist = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        ratio = torch.exp(dist.logp(batch[Columns.ACTIONS]) - batch[Columns.ACTION_LOGP])
        values = module.compute_values(batch, embeddings=fwd_out.get(Columns.EMBEDDINGS))
        targets = batch[Postprocessing.VALUE_TARGETS]
        advantages = targets - values.detach()
        surrogate = torch.min(advantages * ratio, advantages * torch.clamp(ratio, 1 - config.clip_param,
                                                                            1 + config.clip_param))
        vf_loss = torch.pow(values - targets, 2.0)
        entropy = dist.entropy()
        entropy_coeff = self.entropy_coeff_schedulers_per_module[module_id].get_current_value()
        total = mean(-surrogate + config.vf_loss_coeff * torch.clamp(vf_loss, 0, config.vf_clip_param)
                     - entropy_coeff * entropy)
        self.metrics.log_dict({
            POLICY_LOSS_KEY: -mean(surrogate), VF_LOSS_KEY: mean(vf_loss), ENTROPY_KEY: mean(entropy),
            LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY: explained_variance(targets, values),
        }, key=module_id, window=1)
        return total

    def _create_iterator_if_necessary(self, *, training_data, num_epochs=1, minibatch_size=None,
                                      shuffle_batch_per_epoch=False, **kwargs):
        """With ``ppo_update="official"``, ``num_epochs`` Adam steps, each over the whole batch (the official
        update; ``minibatch_size`` and the shuffle do not apply). Otherwise RLlib's cyclic minibatch iterator."""
        if self.config.ppo_update != "official":
            return super()._create_iterator_if_necessary(
                training_data=training_data, num_epochs=num_epochs, minibatch_size=minibatch_size,
                shuffle_batch_per_epoch=shuffle_batch_per_epoch, **kwargs)
        whole = super()._create_iterator_if_necessary(
            training_data=training_data, num_epochs=1, minibatch_size=None, shuffle_batch_per_epoch=False, **kwargs)
        return [batch for batch in whole for _ in range(num_epochs)]


class ReciprocatorTorchLearner(OfficialPPOTorchLearner):
    """The official PPO learner; one learner also hosts the influence estimator.

    The rewards arrive shaped: ``Reciprocator.training_step`` asks one learner (``shaped_rewards``) for the
    Reciprocators' reciprocal rewards of the whole joint batch before RLlib splits it across the learners.
    """

    def build(self) -> None:
        super().build()
        self._reciprocal_reward_connector = None  # built on first use (only the estimator's host uses it)

    @property
    def reciprocal_reward_connector(self):
        """The ``ReciprocalRewardConnector`` holding the influence estimator (None without Reciprocators), on
        this learner's device; built on first use, so only the learner that hosts the estimator builds it."""
        config = self.config
        if self._reciprocal_reward_connector is None and config.reciprocator_ids():
            obs_space = self.module[config.agent_ids()[0]].unwrapped().observation_space
            self._reciprocal_reward_connector = ReciprocalRewardConnector(
                reciprocators={aid: aid for aid in config.reciprocator_ids()},
                estimator=config.build_estimator(obs_dim=int(np.prod(obs_space.shape)), device=str(self._device)),
                gamma=config.gamma,
                kind=config.resolved_reciprocal_reward_type(),
                weight=config.reciprocal_reward_schedule(),
                normalize_reward=config.normalize_reciprocal_reward,
                fit_schedule=config.fit_schedule(),
                agent_ids=config.agent_ids(),
            )
        return self._reciprocal_reward_connector

    def shaped_rewards(self, obs, actions, rewards):
        """Every Reciprocator's weighted reciprocal reward ``[B, T]`` for a whole joint batch
        (``ReciprocalRewardConnector.shaped_rewards``), logged with this learner's results."""
        return self.reciprocal_reward_connector.shaped_rewards(obs, actions, rewards, metrics=self.metrics)

    def observe_joint_batch(self, obs, actions, rewards) -> None:
        """Warm-up: the influence estimator learns from a joint batch; no policy is updated."""
        self.reciprocal_reward_connector.observe(obs, actions, rewards)

    def get_estimator_state(self):
        connector = self.reciprocal_reward_connector
        return None if connector is None else connector.get_state()

    def set_estimator_state(self, state) -> None:
        if state is not None and self.reciprocal_reward_connector is not None:
            self.reciprocal_reward_connector.set_state(state)
