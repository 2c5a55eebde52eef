"""Generic learner connector pieces for PPO on whole, fixed-length episodes."""

from rllib_ext.connectors.learner.drop_masked_rows import DropMaskedRows
from rllib_ext.connectors.learner.episodes_to_batch_in_bulk import EpisodesToBatchInBulk
from rllib_ext.connectors.learner.normalized_monte_carlo_returns import NormalizedMonteCarloReturns

__all__ = ["DropMaskedRows", "EpisodesToBatchInBulk", "NormalizedMonteCarloReturns"]
