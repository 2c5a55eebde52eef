"""Value-influence estimators, one per file: ``MatrixInfluence`` (IPD, closed form), ``RewardFutureInfluence``
(any game: reward and future-return regressions), ``CoinTransitionInfluence`` (2-player Coin Game: reward,
transition and value models); ``base`` holds the interface and the refit schedule."""

from rllib_ext.algorithms.reciprocator.influence.base import FitSchedule, InfluenceEstimator
from rllib_ext.algorithms.reciprocator.influence.coin_transition import CoinTransitionInfluence
from rllib_ext.algorithms.reciprocator.influence.matrix import MatrixInfluence
from rllib_ext.algorithms.reciprocator.influence.reward_future import RewardFutureInfluence

ESTIMATORS = {"matrix": MatrixInfluence, "transition": CoinTransitionInfluence, "reward_future": RewardFutureInfluence}
"""``influence_estimator`` setting -> estimator class."""

__all__ = ["ESTIMATORS", "CoinTransitionInfluence", "FitSchedule", "InfluenceEstimator", "MatrixInfluence",
           "RewardFutureInfluence"]
