"""The Reciprocator's learner: RLlib's PPO torch learner with the official code's targets and the
reward-influence connector in its pipeline."""

from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.learner import AddOneTsToEpisodesAndTruncate, GeneralAdvantageEstimation

from rllib_ext.reciprocator.connector import ReciprocalRewardConnector
from rllib_ext.reciprocator.returns import NormalizedMonteCarloReturns


class ReciprocatorTorchLearner(PPOTorchLearner):
    """PPO learner whose pipeline shapes Reciprocators' rewards and (optionally) normalises returns.

    Pipeline: ``AddOneTsToEpisodesAndTruncate`` -> ``ReciprocalRewardConnector`` (if any player is a
    Reciprocator) -> RLlib's batching pieces -> ``NormalizedMonteCarloReturns`` (with
    ``normalize_returns``, the official targets) or RLlib's GAE.
    """

    def build(self) -> None:
        super().build()
        config = self.config
        if self._learner_connector is None:
            return
        if config.normalize_returns:
            self._learner_connector.remove(GeneralAdvantageEstimation)
            self._learner_connector.append(NormalizedMonteCarloReturns(gamma=config.gamma))
        reciprocators = config.reciprocator_ids()
        if reciprocators:
            self._learner_connector.insert_after(
                AddOneTsToEpisodesAndTruncate,
                ReciprocalRewardConnector(
                    reciprocators={aid: aid for aid in reciprocators},
                    estimator=config.build_estimator(),
                    gamma=config.gamma,
                    kind=config.resolved_reciprocal_reward_type(),
                    weight=config.reciprocal_reward_schedule(),
                    normalize_reward=config.normalize_reciprocal_reward,
                    fit_schedule=config.fit_schedule(),
                    agent_ids=config.agent_ids(),
                ),
            )

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
