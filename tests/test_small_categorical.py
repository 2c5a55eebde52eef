"""SmallCategorical is RLlib's TorchCategorical, computed column by column."""

import pytest
import torch
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical

from rllib_ext.core.small_categorical import MAX_ACTIONS, SmallCategorical, _NormalizedCategorical


@pytest.mark.parametrize("actions", [2, 5])
def test_same_distribution_as_torch_categorical(actions):
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(4096, actions, generator=gen)
    other = 3 * torch.randn(4096, actions, generator=gen)
    taken = torch.randint(0, actions, (4096,), generator=gen)
    ours, stock = SmallCategorical.from_logits(logits), TorchCategorical.from_logits(logits)
    assert isinstance(ours._dist, _NormalizedCategorical)
    torch.testing.assert_close(ours.logp(taken), stock.logp(taken))
    torch.testing.assert_close(ours.entropy(), stock.entropy())
    torch.testing.assert_close(
        ours.kl(SmallCategorical.from_logits(other)), stock.kl(TorchCategorical.from_logits(other)), atol=1e-5, rtol=1e-5
    )
    torch.manual_seed(1)
    ours_sample = ours.sample()
    torch.manual_seed(1)
    assert torch.equal(ours_sample, stock.sample())
    assert torch.equal(ours.to_deterministic().sample(), stock.to_deterministic().sample())


def test_gradients_match_and_many_actions_fall_back():
    logits = torch.randn(64, 3, requires_grad=True)
    taken = torch.randint(0, 3, (64,))
    grads = []
    for cls in (SmallCategorical, TorchCategorical):
        logits.grad = None
        dist = cls.from_logits(logits)
        (dist.logp(taken).mean() + dist.entropy().mean()).backward()
        grads.append(logits.grad.clone())
    torch.testing.assert_close(*grads)
    assert not isinstance(SmallCategorical.from_logits(torch.zeros(2, MAX_ACTIONS + 1))._dist, _NormalizedCategorical)
