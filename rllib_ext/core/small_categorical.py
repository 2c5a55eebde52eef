"""A categorical action distribution for a few actions, built from elementwise ops only.

torch's CPU softmax / logsumexp over a short last axis runs row by row: on an IPD train batch
(67,584 x 2 logits) one softmax takes about 3 ms, fifty times an elementwise op of that size, and
RLlib's ``TorchCategorical`` runs such reductions for every log-prob, entropy, KL and sample.
``SmallCategorical`` is the same distribution (equal to float rounding, same samples for a seed)
with the logits normalised by ``logaddexp`` over the columns and the probabilities taken by
``exp``; with the PPO loss of the game policies it halves the distribution's share of an update.
Select it with ``SmallCategoricalCatalog`` (RLlib's default PPO modules) or
``self.action_dist_cls = SmallCategorical`` in a module's ``setup``.
"""

import functools

import torch
from ray.rllib.algorithms.ppo.ppo_catalog import PPOCatalog
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical

MAX_ACTIONS = 16
"""Above this many actions the column-wise ops stop paying off: RLlib's own construction is used."""


def _sum_columns(x: torch.Tensor) -> torch.Tensor:
    return functools.reduce(torch.add, x.unbind(-1))


class _NormalizedCategorical(torch.distributions.Categorical):
    """torch's ``Categorical(logits=...)`` with its normalisation, probabilities and entropy
    computed column by column."""

    def __init__(self, logits: torch.Tensor):
        self.logits = logits - functools.reduce(torch.logaddexp, logits.unbind(-1)).unsqueeze(-1)
        self.probs = self.logits.exp()
        self._param = self.logits
        self._num_events = logits.shape[-1]
        torch.distributions.Distribution.__init__(self, logits.shape[:-1], validate_args=False)

    def entropy(self) -> torch.Tensor:
        return -_sum_columns(self.logits * self.probs)


class SmallCategorical(TorchCategorical):
    """RLlib's ``TorchCategorical`` without row-by-row reductions when there are few actions."""

    def _get_torch_distribution(self, logits=None, probs=None) -> torch.distributions.Distribution:
        if logits is not None and logits.shape[-1] <= MAX_ACTIONS:
            return _NormalizedCategorical(logits)
        return super()._get_torch_distribution(logits=logits, probs=probs)

    def kl(self, other: TorchCategorical) -> torch.Tensor:
        p, q = self._dist, other._dist
        if isinstance(p, _NormalizedCategorical) and isinstance(q, _NormalizedCategorical):
            return _sum_columns(p.probs * (p.logits - q.logits))
        return super().kl(other)


class SmallCategoricalCatalog(PPOCatalog):
    """RLlib's PPO catalog, with ``SmallCategorical`` for discrete actions."""

    def get_action_dist_cls(self, framework: str):
        dist_cls = super().get_action_dist_cls(framework)
        return SmallCategorical if dist_cls is TorchCategorical else dist_cls
