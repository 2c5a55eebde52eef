"""Reciprocators: PPO learners whose rewards are shaped by the reward-influence learner connector.

``ReciprocatorConfig`` / ``Reciprocator`` (reciprocator.py), the presets (presets.py), the connector
(reward_influence_connector.py), the reciprocal reward itself (reciprocal_reward.py, pure numpy), the influence
estimators (influence/) and the torch learner and Coin Game module (torch/).
"""

from rllib_ext.algorithms.reciprocator.reciprocator import Reciprocator, ReciprocatorConfig
from rllib_ext.algorithms.reciprocator.reward_influence_connector import ReciprocalRewardConnector

__all__ = ["Reciprocator", "ReciprocatorConfig", "ReciprocalRewardConnector"]
