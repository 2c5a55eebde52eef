"""Reciprocators: reciprocal reward influence on RLlib (config, algorithm, connector, estimators)."""

from rllib_ext.reciprocator.connector import ReciprocalRewardConnector
from rllib_ext.reciprocator.reciprocator import Reciprocator, ReciprocatorConfig

__all__ = ["Reciprocator", "ReciprocatorConfig", "ReciprocalRewardConnector"]
