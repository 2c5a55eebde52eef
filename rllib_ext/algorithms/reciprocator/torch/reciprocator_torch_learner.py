"""The Reciprocator's learner: RLlib's PPO torch learner with the official code's targets and the
reward-influence connector in its pipeline."""

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
from ray.rllib.core.learner.training_data import TrainingData

from rllib_ext.algorithms.reciprocator.reward_influence_connector import ReciprocalRewardConnector
from rllib_ext.connectors.learner import DropMaskedRows, EpisodesToBatchInBulk, NormalizedMonteCarloReturns
from rllib_ext.utils.torch_compile import compile_forward_train


STOCK_PIECES = [
    AddOneTsToEpisodesAndTruncate, AddObservationsFromEpisodesToBatch, AddColumnsFromEpisodesToTrainBatch,
    AddTimeDimToBatchAndZeroPad, AddStatesFromEpisodesToBatch, AgentToModuleMapping, BatchIndividualItems,
]
"""PPO's default learner pieces from episodes to a numpy batch, in order (RLlib 2.60), which
``EpisodesToBatchInBulk`` stands in for."""


class ReciprocatorTorchLearner(PPOTorchLearner):
    """PPO learner whose pipeline shapes Reciprocators' rewards and (optionally) normalises returns.

    Pipeline: ``AddOneTsToEpisodesAndTruncate`` -> ``ReciprocalRewardConnector`` (if any player is a
    Reciprocator) -> RLlib's batching pieces -> ``NormalizedMonteCarloReturns`` (with
    ``normalize_returns``, the official targets) or RLlib's GAE -> ``DropMaskedRows``.

    With ``bulk_learner_batch`` (and ``normalize_returns``, and no custom learner pieces):
    ``ReciprocalRewardConnector`` -> ``EpisodesToBatchInBulk`` (the same batch as RLlib's pieces from
    ``AddOneTsToEpisodesAndTruncate`` to ``BatchIndividualItems``, built with array operations; it
    runs those pieces itself when the episodes are not whole and of one length) -> ``NumpyToTensor``
    -> ``NormalizedMonteCarloReturns``.
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
        reciprocators = config.reciprocator_ids()
        shaping = [ReciprocalRewardConnector(
            reciprocators={aid: aid for aid in reciprocators},
            estimator=config.build_estimator(device=str(self._device)),
            gamma=config.gamma,
            kind=config.resolved_reciprocal_reward_type(),
            weight=config.reciprocal_reward_schedule(),
            normalize_reward=config.normalize_reciprocal_reward,
            fit_schedule=config.fit_schedule(),
            agent_ids=config.agent_ids(),
        )] if reciprocators else []
        stock = [type(c) for c in pipeline.connectors]
        if config.bulk_learner_batch and config.normalize_returns and stock[: len(STOCK_PIECES)] == STOCK_PIECES:
            # Shape the rewards on the episodes, then build the batch in bulk (or with the stock
            # pieces when the episodes do not qualify); NumpyToTensor and the targets follow as before.
            n = len(STOCK_PIECES)
            pipeline.connectors = [*shaping, EpisodesToBatchInBulk(stock_pieces=pipeline.connectors[:n]),
                                   *pipeline.connectors[n:]]
        elif shaping:
            pipeline.insert_after(AddOneTsToEpisodesAndTruncate, shaping[0])
        pipeline.append(DropMaskedRows())

    def _create_iterator_if_necessary(self, *, training_data, minibatch_size=None, shuffle_batch_per_epoch=False,
                                      **kwargs):
        """RLlib's minibatch iterator, without the per-epoch shuffle when every module's batch is one
        minibatch (full-batch epochs, as the presets have once ``DropMaskedRows`` ran): there it only
        reorders the rows of a mean, at the price of a copy of every column per epoch."""
        if shuffle_batch_per_epoch and minibatch_size and training_data.episodes is not None:
            batch = self._make_batch_if_necessary(training_data=training_data)
            training_data = TrainingData(batch=batch)
            shuffle_batch_per_epoch = any(len(b) > minibatch_size for b in batch.policy_batches.values())
        return super()._create_iterator_if_necessary(training_data=training_data, minibatch_size=minibatch_size,
                                                     shuffle_batch_per_epoch=shuffle_batch_per_epoch, **kwargs)

    @property
    def reciprocal_reward_connector(self):
        """The pipeline's ``ReciprocalRewardConnector`` (None without Reciprocators)."""
        if self._learner_connector is None:
            return None
        return next((c for c in self._learner_connector.connectors if isinstance(c, ReciprocalRewardConnector)), None)

    def observe_episodes(self, episodes) -> None:
        """Warm-up: let the influence estimator learn from ``episodes`` without updating policies."""
        if self.reciprocal_reward_connector is not None:
            self.reciprocal_reward_connector.observe(episodes)

    def get_estimator_state(self):
        connector = self.reciprocal_reward_connector
        return None if connector is None else connector.get_state()

    def set_estimator_state(self, state) -> None:
        if state is not None and self.reciprocal_reward_connector is not None:
            self.reciprocal_reward_connector.set_state(state)
