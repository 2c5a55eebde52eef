"""SAW's loss terms as pure tensor functions (brief 1.2 / 1.6), each checkable against one formula.

Shapes: value tensors are ``[2, B]`` (one row per value head), everything else ``[B]`` or
``[B, A]``. Advantages and weights arrive without gradient; the functions detach them anyway.
"""

import math

import torch

WEIGHT_CLIP = 100.0
"""All three exponentiated-advantage weights are clipped at 100 (pitfall 6)."""


def exp_advantage_weights(advantages: torch.Tensor, temperature: float) -> torch.Tensor:
    """``min(exp(temperature * A), 100)``, no gradient."""
    return torch.exp(temperature * advantages.detach()).clamp(max=WEIGHT_CLIP)


def one_step_advantage(values_next: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """HIQL's simplified advantage ``V(s', g) - V(s, g)`` (reward and discount dropped)."""
    return values_next - values


def expectile_value_loss(
    values: torch.Tensor,
    target_values: torch.Tensor,
    target_next_values: torch.Tensor,
    rewards: torch.Tensor,
    masks: torch.Tensor,
    gamma: float,
    expectile: float,
) -> torch.Tensor:
    """GCIVL's value loss ``L_V`` (brief 1.2.1), summed over the two heads.

    The expectile weight's sign comes from the *target* advantage
    ``r + γ m min_j V̄_j(s') − mean_j V̄_j(s)``; the regressed residual is ``q_j − V_j(s)`` with
    ``q_j = r + γ m V̄_j(s')`` (the double-DQN-style split of the official code).
    """
    adv = rewards + gamma * masks * target_next_values.min(dim=0).values - target_values.mean(dim=0)
    q = rewards + gamma * masks * target_next_values
    weight = torch.where(adv >= 0, expectile, 1.0 - expectile)
    return (weight * (q - values) ** 2).mean(dim=-1).sum()


def unit_gaussian_log_prob(actions: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """``log N(a; μ, I) = −½‖a − μ‖² − (A/2) log 2π`` (fixed unit std, ``const_std=True``)."""
    return -0.5 * ((actions - means) ** 2).sum(dim=-1) - 0.5 * actions.shape[-1] * math.log(2 * math.pi)


def weighted_log_likelihood_loss(
    means: torch.Tensor, actions: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """AWR loss ``−mean[w · log π(a|·)]``; ``L_sub`` and ``L_awr`` (brief 1.2.2-3), or GCBC with ``w = 1``."""
    return -(weights.detach() * unit_gaussian_log_prob(actions, means)).mean()


def bootstrap_loss(
    actor_means: torch.Tensor, subpolicy_means: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """``L_boot = mean[c · Σ_dims (μ_θ(s,g) − sg(μ_sub(s,w)))²]`` (brief 1.2.4, no ½, no minus sign).

    For unit-variance Gaussians the squared distance of the means is 2·KL in either direction.
    The subpolicy mean is detached: the bootstrapping term trains only the flat actor.
    """
    squared_distance = ((actor_means - subpolicy_means.detach()) ** 2).sum(dim=-1)
    return (weights.detach() * squared_distance).mean()
