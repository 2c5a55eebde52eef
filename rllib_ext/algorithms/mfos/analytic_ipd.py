"""The analytic IPD meta-game of M-FOS (Lu et al. 2022, "Model-Free Opponent Shaping", section 5.1), as the
official code plays it (``src/environments.py``: ``ipd_batched``, ``MetaGames`` with the ``NL`` opponent).

The inner game is the infinitely iterated Prisoner's Dilemma between memory-1 players, each given by 5 logits
``theta``: ``sigmoid(theta)`` is the probability of cooperating at the start and after CC, CD, DC, DD, states
written (own move, other's move). Its value is exact: with the start distribution ``p0`` and the 4x4 transition
matrix ``P`` of the joint outcome, ``M = p0 (I - gamma P)^-1`` is the discounted visitation of the outcomes and
``L_i = -M . payoff_i`` player ``i``'s loss; ``-(1 - gamma) L_i`` is its reward per step, in [-3, 0].

One meta-step: M-FOS plays the logits ``a`` (its action); the naive learner (NL) takes one exact gradient step
on its loss, ``theta <- theta - lr grad L_NL(theta, a)``; M-FOS's reward is its reward per step against the NL
*before* the step, and its next observation is ``sigmoid([a, theta_before])``. At reset the NL draws
``theta ~ N(0, 1)`` and already steps once against a random M-FOS (``a ~ N(0, 1)``).

Player order here is the package's: M-FOS is ``player_0``, the NL ``player_1`` (the official code has them the
other way round: ``ipd_losses`` keeps the official argument order, the NL first).
"""

from typing import Dict, Optional, Tuple

import numpy as np
import torch
from gymnasium import spaces

PAYOFF = torch.tensor([[-1.0, -3.0], [0.0, -2.0]])
"""The row player's payoff, ``PAYOFF[own, other]`` with 0 = cooperate (``ipd_batched``'s ``payout_mat_1``);
the column player gets the transpose."""
PLAYER_2_ORDER = [0, 1, 3, 2, 4]
"""The column player's logits in the row player's state order: its CD is the row player's DC."""
STATES = ("start", "cc", "cd", "dc", "dd")
"""The 5 states of a memory-1 policy, (own move, other's move) after the start."""


def ipd_losses(th_1: torch.Tensor, th_2: torch.Tensor, gamma: float = 0.96) -> Tuple[torch.Tensor, ...]:
    """``(L_1, L_2, M)`` for ``[B, 5]`` logits of the row player ``th_1`` and the column player ``th_2``
    (``ipd_batched``'s ``Ls``): the exact discounted losses ``[B]`` and the discounted visitation ``[B, 4]`` of
    the outcomes CC, CD, DC, DD (the row player's move first)."""
    p1, p2 = torch.sigmoid(th_1), torch.sigmoid(th_2[:, PLAYER_2_ORDER])
    outcome = lambda a, b: torch.stack([a * b, a * (1 - b), (1 - a) * b, (1 - a) * (1 - b)], dim=-1)
    p0 = outcome(p1[:, 0], p2[:, 0])  # [B, 4]
    P = outcome(p1[:, 1:], p2[:, 1:])  # [B, 4, 4]: row = previous outcome
    eye = torch.eye(4, dtype=th_1.dtype, device=th_1.device)
    M = torch.linalg.solve(eye - gamma * P, p0[:, None, :], left=False)[:, 0]  # p0 (I - gamma P)^-1
    payoff = PAYOFF.to(th_1)
    return -M @ payoff.reshape(4), -M @ payoff.T.reshape(4), M


def naive_step(th: torch.Tensor, th_other: torch.Tensor, lr: float = 1.0, gamma: float = 0.96):
    """The naive learner's step as the row player (``MetaGames.step``, opponent ``NL``):
    ``(th - lr grad_th L_1(th, th_other), L_1, L_2, M)``, the losses and visitation before the step."""
    th = th.detach().requires_grad_(True)
    with torch.enable_grad():
        l1, l2, M = ipd_losses(th, th_other.detach(), gamma)
        (grad,) = torch.autograd.grad(l1.sum(), th)
    return (th - lr * grad).detach(), l1.detach(), l2.detach(), M.detach()


def cooperation_rates(M: torch.Tensor, gamma: float = 0.96) -> Tuple[torch.Tensor, torch.Tensor]:
    """Discounted share of rounds in which the row and the column player cooperate, from the visitation ``M``."""
    return (1 - gamma) * (M[:, 0] + M[:, 1]), (1 - gamma) * (M[:, 0] + M[:, 2])


class AnalyticMetaIPD:
    """``num_games`` analytic IPD meta-games against naive learners, stepped together with torch.

    Observations ``[B, 10]`` = ``sigmoid([M-FOS's last logits, the NL's logits it played against])``; actions
    ``[B, 5]`` unbounded logits; rewards ``[B]`` M-FOS's reward per step. A meta-episode lasts ``num_steps``
    meta-steps; ``reset`` re-draws every NL (the official ``MetaGames.reset``).
    """

    agents = ["player_0"]
    num_players = 1
    action_shape = (5,)
    obs_shape = (10,)
    observation_space = spaces.Box(0.0, 1.0, obs_shape, np.float32)
    action_space = spaces.Box(-np.inf, np.inf, action_shape, np.float32)

    def __init__(self, num_games: int = 1, num_steps: int = 100, gamma: float = 0.96, opponent_lr: float = 1.0,
                 init_std: float = 1.0, seed: Optional[int] = None) -> None:
        if num_games < 1 or num_steps < 1:
            raise ValueError(f"num_games and num_steps must be >= 1, got {num_games} and {num_steps}")
        self.num_games, self.num_steps = num_games, num_steps
        self.gamma, self.opponent_lr, self.init_std = gamma, opponent_lr, init_std
        self.generator = torch.Generator().manual_seed(seed if seed is not None else int(np.random.randint(2**31)))
        self.t = num_steps

    def _normal(self) -> torch.Tensor:
        return torch.randn(self.num_games, 5, generator=self.generator) * self.init_std

    def reset(self) -> np.ndarray:
        """New NLs; they step once against a random M-FOS; returns the first observations ``[B, 10]``."""
        self.th_nl = self._normal()
        obs, _, _ = self._play(self._normal())
        self.t = 0
        return obs

    def step(self, actions: np.ndarray) -> Tuple[np.ndarray, np.ndarray, Dict[str, np.ndarray]]:
        """One meta-step with M-FOS's logits ``actions [B, 5]``: ``(obs, M-FOS's rewards, info)``; ``info`` has
        both players' rewards per step ``[B, 2]``, discounted cooperation rates ``[B, 2]`` and cooperation
        probabilities per state ``[B, 2, 5]`` (M-FOS first, each player's own state order)."""
        if self.t >= self.num_steps:
            raise RuntimeError(f"all {self.num_steps} meta-steps were played (or no reset yet); call reset()")
        self.t += 1
        return self._play(torch.as_tensor(np.asarray(actions), dtype=torch.float32))

    def _play(self, a: torch.Tensor):
        before = self.th_nl
        self.th_nl, l_nl, l_mfos, M = naive_step(before, a, self.opponent_lr, self.gamma)
        rewards = -(1 - self.gamma) * torch.stack([l_mfos, l_nl], dim=-1)
        coop_nl, coop_mfos = cooperation_rates(M, self.gamma)
        info = {"reward_per_step": rewards.numpy(), "cooperation_rate": torch.stack([coop_mfos, coop_nl], -1).numpy(),
                "p_cooperate": torch.sigmoid(torch.stack([a, before], dim=1)).numpy()}
        obs = torch.sigmoid(torch.cat([a, before], dim=-1)).numpy()
        return obs, info["reward_per_step"][:, 0].copy(), info

    @staticmethod
    def metrics(actions, rewards, info: Dict[str, np.ndarray]) -> Dict[str, Dict[str, float]]:
        """Per-player means over a meta-episode's steps and games, from the infos stacked to ``[B, T, ...]``
        (the batched games' ``metrics`` signature; actions and rewards are not needed): ``reward_per_step``,
        ``cooperation_rate`` (discounted) and ``p_cooperate_<state>`` (``STATES``, each player's own view)."""
        out: Dict[str, Dict[str, float]] = {}
        for i, aid in enumerate(("player_0", "player_1")):
            m = {"reward_per_step": float(info["reward_per_step"][..., i].mean()),
                 "cooperation_rate": float(info["cooperation_rate"][..., i].mean())}
            p = info["p_cooperate"][..., i, :].reshape(-1, 5).mean(axis=0)
            m.update({f"p_cooperate_{s}": float(v) for s, v in zip(STATES, p)})
            out[aid] = m
        return out


def naive_pair_rewards(num_games: int = 8192, num_steps: int = 100, lr: float = 1.0, gamma: float = 0.96,
                       init_std: float = 1.0, seed: int = 0) -> np.ndarray:
    """The reference level without M-FOS: two naive learners against each other (official
    ``src/main_non_mfos.py``, ``NonMfosMetaGames`` with ``NL`` vs ``NL``), each stepping on its own exact loss
    at the same time, one step at reset and then ``num_steps`` meta-steps; each player's reward per step
    before each step, averaged over the games, ``[num_steps, 2]``."""
    g = torch.Generator().manual_seed(seed)
    th = [torch.randn(num_games, 5, generator=g) * init_std for _ in range(2)]
    rewards = []
    for t in range(num_steps + 1):
        th = [x.detach().requires_grad_(True) for x in th]
        with torch.enable_grad():
            l1, l2, _ = ipd_losses(th[0], th[1], gamma)
            g1 = torch.autograd.grad(l1.sum(), th[0], retain_graph=True)[0]
            g2 = torch.autograd.grad(l2.sum(), th[1])[0]
        if t:
            rewards.append((-(1 - gamma) * torch.stack([l1, l2], -1)).detach().mean(0).numpy())
        th = [th[0].detach() - lr * g1, th[1].detach() - lr * g2]
    return np.stack(rewards)
