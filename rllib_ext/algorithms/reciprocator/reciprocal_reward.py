"""Influence balance and reciprocal reward (paper Section 3; official `src/agents/reciprocator.py`,
`src/agents/matrix_games/matrix_reciprocator.py`), as pure numpy functions.

Influence arrays: `vi[b, t, j, i]` = value influence of player j's action at step t on player i's return,
shape `[B, T, N, N]`. For Reciprocator i and opponent j: `VI_in = vi[..., j, i]`, `VI_out = vi[..., i, j]`.
The balance is reset at every episode start and b_t uses steps < t only:

    b_0 = 0,   b_{t+1} = γ b_t + VI_in_t − VI_out_t,   rr_t = b_t · VI_out_t      (petty_payoff)
"""

from __future__ import annotations

import numpy as np

RECIPROCAL_REWARD_TYPES = (
    "petty",
    "signed_grudge",
    "petty_payoff",
    "signed_petty_payoff",
    "signed_grudge_petty_payoff",
    "grudge_minus_debit",
    "signed_grudge_minus_debit",
)
"""The official `reciprocal_reward_type` values; `petty_payoff` is the Coins default."""
IPD_ONE_STEP = "one_step_grudge"
"""The IPD variant: rr_t = VI_in_{t−1} · VI_out_t, no accumulation, no pay-back."""


def discounted_balance(x: np.ndarray, gamma: float) -> np.ndarray:
    """b_t = Σ_{k<t} γ^{t−1−k} x_k along axis 1 of `x [B, T]` (b_0 = 0: step t is not yet included)."""
    balance = np.zeros_like(x)
    acc = np.zeros_like(x[:, 0])
    for t in range(x.shape[1]):
        balance[:, t] = acc
        acc = gamma * acc + x[:, t]
    return balance


def pair_reciprocal_reward(
    vi_in: np.ndarray,
    vi_out: np.ndarray,
    gamma: float,
    kind: str,
    vi_self_opponent: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal reward of one Reciprocator towards one opponent j, for every official `reciprocal_reward_type`.

    `vi_in [B, T]` = VI^{j→i}, `vi_out [B, T]` = VI^{i→j}, `vi_self_opponent [B, T]` = VI^{j→j} (only for the
    `*_minus_debit` types, whose debit is D ← γD + VI_out + VI^{j→j}). Returns `rr [B, T]` and the end balance
    `[B]`: the balance weighting the last step's reward, b_{T−1} (what the official code logs as the end grudge;
    for the `*_minus_debit` types the net balance b_{T−1} − D_{T−1}).
    """
    vi_in = np.asarray(vi_in, dtype=np.float64)
    vi_out = np.asarray(vi_out, dtype=np.float64)
    if kind in ("petty", "signed_grudge"):
        balance = discounted_balance(vi_in, gamma)
    elif kind in ("petty_payoff", "signed_petty_payoff", "signed_grudge_petty_payoff"):
        balance = discounted_balance(vi_in - vi_out, gamma)
    elif kind in ("grudge_minus_debit", "signed_grudge_minus_debit"):
        if vi_self_opponent is None:
            raise ValueError(f"{kind!r} needs vi_self_opponent (the opponent's influence on its own return)")
        debit = discounted_balance(vi_out + np.asarray(vi_self_opponent, dtype=np.float64), gamma)
        balance = discounted_balance(vi_in, gamma) - debit
    else:
        raise ValueError(f"unknown reciprocal reward type {kind!r}; choose from {RECIPROCAL_REWARD_TYPES}")

    if kind == "signed_grudge_petty_payoff":
        rr = balance * np.sign(vi_out)
    elif kind.startswith("signed"):
        rr = np.sign(balance) * vi_out
    else:
        rr = balance * vi_out
    return rr, balance[:, -1]


def _one_step_grudge(vi_in: np.ndarray) -> np.ndarray:
    """The IPD grudge at step t: the opponent's influence at step t − 1 (0 at t = 0)."""
    grudge = np.zeros(np.shape(vi_in))
    grudge[:, 1:] = np.asarray(vi_in)[:, :-1]
    return grudge


def reciprocal_rewards(
    vi: np.ndarray, reciprocator: int, gamma: float, kind: str
) -> tuple[np.ndarray, dict[str, float]]:
    """Reciprocal reward `rr [B, T]` of player `reciprocator`, averaged over its N−1 opponents.

    `vi [B, T, N, N]` as in the module docstring; `kind` is one of `RECIPROCAL_REWARD_TYPES` or `IPD_ONE_STEP`.
    Stats (means over opponents, steps and games): `end_balance` (b_{T−1}, see `pair_reciprocal_reward`; for
    `IPD_ONE_STEP` the last grudge VI_in_{T−2}, as the official code logs it), `vi_in`, `vi_out`.
    """
    vi = np.asarray(vi, dtype=np.float64)
    if vi.ndim != 4 or vi.shape[2] != vi.shape[3] or vi.shape[2] < 2:
        raise ValueError(f"vi must have shape [B, T, N, N] with N >= 2, got {vi.shape}")
    if kind != IPD_ONE_STEP and kind not in RECIPROCAL_REWARD_TYPES:
        choices = (*RECIPROCAL_REWARD_TYPES, IPD_ONE_STEP)
        raise ValueError(f"unknown reciprocal reward type {kind!r}; choose from {choices}")
    i = reciprocator
    opponents = [j for j in range(vi.shape[2]) if j != i]
    rr = np.zeros(vi.shape[:2])
    end_balance = []
    for j in opponents:
        vi_in, vi_out = vi[:, :, j, i], vi[:, :, i, j]
        if kind == IPD_ONE_STEP:
            grudge = _one_step_grudge(vi_in)
            rr_j, end_j = grudge * vi_out, grudge[:, -1]
        else:
            rr_j, end_j = pair_reciprocal_reward(vi_in, vi_out, gamma, kind, vi[:, :, j, j])
        rr += rr_j
        end_balance.append(np.mean(end_j))
    stats = {
        "end_balance": float(np.mean(end_balance)),
        "vi_in": float(np.mean(vi[:, :, opponents, i])),
        "vi_out": float(np.mean(vi[:, :, i, opponents])),
    }
    return rr / len(opponents), stats


def normalize(rr: np.ndarray) -> np.ndarray:
    """(rr − mean) / (std + 1e-7) over all entries; std with Bessel's correction, as torch's `std()` in the
    official code."""
    rr = np.asarray(rr, dtype=np.float64)
    return (rr - rr.mean()) / (rr.std(ddof=1) + 1e-7)


def scheduled_weight(start: float, end: float, rate: float, num_updates: int) -> float:
    """Reciprocal reward weight after `num_updates` policy updates of the Reciprocator.

    Official schedule `[start, end, rate]`: w starts at `start` and after every update becomes min(end, w + rate);
    with `rate == 0` it is the constant `start`.
    """
    if rate == 0 or num_updates == 0:
        return float(start)
    return float(min(end, start + rate * num_updates))
