"""Loss terms the family shares, as pure tensor functions, each checkable against one formula.

Shapes: value tensors are ``[2, B]`` (one row per value head), everything else ``[B]`` or
``[B, A]``. Advantages and weights arrive without gradient; the functions detach them anyway.
"""

import math

import torch

WEIGHT_CLIP = 100.0
"""Exponentiated-advantage weights are clipped at 100 (the official ``agents/saw.py``, ``gcivl.py``)."""


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
    """GCIVL's value loss ``L_V`` (official ``agents/gcivl.py`` ``value_loss``), summed over the two heads.

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
    """AWR loss ``−mean[w · log π(a|·)]`` (SAW paper eq. 4; the official ``actor_loss``)."""
    return -(weights.detach() * unit_gaussian_log_prob(actions, means)).mean()


def expectile_loss(residuals: torch.Tensor, expectile: float) -> torch.Tensor:
    """Plain IQL expectile regression ``mean(|τ − 1(u < 0)| u²)`` of residuals ``u`` (GCIQL's value loss)."""
    weight = torch.where(residuals >= 0, expectile, 1.0 - expectile)
    return (weight * residuals**2).mean()


def ddpg_bc_actor_loss(q: torch.Tensor, means: torch.Tensor, actions: torch.Tensor, alpha: float):
    """DDPG+BC (official ``gciql.py``, ``qrl.py``, ``crl.py`` ``actor_loss``): ``(q_loss, bc_loss)``.

    ``q_loss = −mean(q) / sg(mean|q| + 1e-6)`` with ``q`` the frozen critic at the actor's clipped mean
    action (the gradient reaches the actor through the action), ``bc_loss = −α mean(log N(a; μ, I))``.
    """
    q_loss = -q.mean() / (q.abs().mean().detach() + 1e-6)
    bc_loss = -(alpha * unit_gaussian_log_prob(actions, means)).mean()
    return q_loss, bc_loss
