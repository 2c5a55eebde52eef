"""The learned estimators' shared parts: grouped MLPs, their inputs and labels, the official training loop."""

from __future__ import annotations

import copy
from abc import abstractmethod
from collections import deque
from typing import Callable

import numpy as np
import torch
from torch import nn

from rllib_ext.algorithms.reciprocator.influence.base import InfluenceEstimator


class GroupedMLP(nn.Module):
    """G independent MLPs Linear(in, h)-ReLU-Linear(h, h)-ReLU-Linear(h, out), run together with batched matmuls.

    `input_mask [G, in]` deletes inputs: a 0 at (g, k) zeroes row k of network g's first weight (and its
    gradient), which is exactly a Linear on the remaining inputs. Init as `nn.Linear` with the true fan-in.
    """

    def __init__(self, input_mask: torch.Tensor, hidden: int, out_dim: int, generator: torch.Generator) -> None:
        super().__init__()
        groups, in_dim = input_mask.shape
        fan_in = input_mask.sum(1)[:, None, None]

        def uniform(shape: tuple[int, ...], fan: torch.Tensor | int) -> nn.Parameter:
            return nn.Parameter((torch.rand(shape, generator=generator) * 2 - 1) / torch.as_tensor(fan) ** 0.5)

        self.register_buffer("input_mask", input_mask[:, :, None].float())
        self.w1 = nn.Parameter(uniform((groups, in_dim, hidden), fan_in) * self.input_mask)
        self.b1 = uniform((groups, 1, hidden), fan_in)
        self.w2, self.b2 = uniform((groups, hidden, hidden), hidden), uniform((groups, 1, hidden), hidden)
        self.w3, self.b3 = uniform((groups, hidden, out_dim), hidden), uniform((groups, 1, out_dim), hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x [G, M, in]` (one batch per network) or `[M, in]` (shared) -> `[G, M, out]`."""
        if x.dim() == 2:
            x = x.expand(self.w1.shape[0], -1, -1)
        h = torch.baddbmm(self.b1, x, self.w1 * self.input_mask).relu_()
        h = torch.baddbmm(self.b2, h, self.w2).relu_()
        return torch.baddbmm(self.b3, h, self.w3)


def estimator_inputs(obs: np.ndarray, actions: np.ndarray, num_steps: int, obs_dim: int) -> np.ndarray:
    """Official estimator input: concat(joint actions as raw floats, player 0's observation, time remaining
    T−1−t as a raw float) -> `[B·T, N + D + 1]` float32."""
    B, T = np.shape(actions)[:2]
    if T != num_steps or np.shape(obs)[3] != obs_dim:
        raise ValueError(f"expected {num_steps} steps and obs_dim {obs_dim}, got obs of shape {np.shape(obs)}")
    time_remaining = np.broadcast_to(np.arange(T - 1, -1, -1, dtype=np.float32)[None, :, None], (B, T, 1))
    x = np.concatenate([np.asarray(actions, np.float32), np.asarray(obs, np.float32)[:, :, 0], time_remaining], -1)
    return x.reshape(B * T, -1)


def future_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t − r_t = γ G_{t+1} for rewards `[B, T, N]` (G_T = 0: episodes end after T steps)."""
    rewards = np.asarray(rewards, dtype=np.float32)
    future = np.zeros_like(rewards)
    ret = np.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        future[:, t] = gamma * ret
        ret = rewards[:, t] + gamma * ret
    return future


def counterfactual_mask(num_players: int, in_dim: int) -> torch.Tensor:
    """Input mask `[N + 1, in]` for [joint network, network without player 0's action, ..., without N−1's]."""
    mask = torch.ones(num_players + 1, in_dim)
    for k in range(num_players):
        mask[1 + k, k] = 0.0
    return mask


def train_minibatches(
    step_loss: Callable[[torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    num_rows: int,
    num_samples: int,
    epochs: int,
    minibatch_size: int,
    generator: torch.Generator,
    groups: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The official estimator training for `groups` networks at once: each network draws `num_samples` of the
    `num_rows` rows without replacement, then `epochs` shuffled passes over them in minibatches; `step_loss(idx)`
    maps row indices `[G, mb]` (each network its own) to per-network losses `[G]`, and one optimizer step
    follows per minibatch. Returns the mean loss per network over the first and over the last epoch."""
    samples = torch.rand(groups, num_rows, generator=generator).argsort(1)[:, :num_samples]
    epoch_losses = []
    for _ in range(epochs):
        order = samples.gather(1, torch.rand(groups, num_samples, generator=generator).argsort(1))
        total = torch.zeros(groups)
        for start in range(0, num_samples, minibatch_size):
            idx = order[:, start : start + minibatch_size]
            loss = step_loss(idx)
            optimizer.zero_grad()
            loss.sum().backward()
            optimizer.step()
            total += loss.detach().cpu() * idx.shape[1]
        epoch_losses.append(total / num_samples)
    return epoch_losses[0], epoch_losses[-1]


def pairwise(joint: torch.Tensor, counterfactual: torch.Tensor, batch_shape: tuple[int, ...]) -> np.ndarray:
    """`joint [M, N]` (player i's estimate) minus `counterfactual [N, M, N]` (j's action removed) ->
    `[B, T, j, i]`."""
    n = joint.shape[-1]
    return (joint[None] - counterfactual).transpose(0, 1).reshape(*batch_shape, n, n).cpu().numpy()


def _cpu_copy(tree: object) -> object:
    """Deep copy of nested dicts / lists / tuples with every tensor moved to the CPU."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().to("cpu", copy=True)
    if isinstance(tree, dict):
        return {k: _cpu_copy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_cpu_copy(v) for v in tree)
    return copy.deepcopy(tree)


class NeuralInfluence(InfluenceEstimator):
    """Shared part of the learned estimators: vi = immediate + γ · future from `influence_parts`, and a state of
    network weights, Adam moments, the sampling generator and the replay (so a restored estimator continues
    exactly). Subclasses set `gamma`, `nets`, `optimizer`, `generator` and `replay`."""

    gamma: float
    nets: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    replay: deque

    @abstractmethod
    def influence_parts(
        self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Immediate and future parts of the influence, each `[B, T, N, N]`."""

    def influence(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        immediate, future = self.influence_parts(obs, actions, rewards)
        return immediate + self.gamma * future

    def _setup_training(
        self, num_steps: int, gamma: float, epochs: int, minibatch_size: int, num_minibatches: int,
        replay_batches: int, device: str, seed: int,
    ) -> None:
        """The settings and state every learned estimator shares (before its networks are built)."""
        self.num_steps, self.gamma = num_steps, gamma
        self.epochs, self.minibatch_size, self.num_minibatches = epochs, minibatch_size, num_minibatches
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)
        self.replay: deque = deque(maxlen=replay_batches)

    def _train(self, loss_fn, num_rows: int, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``epochs`` passes of minibatches over at most ``minibatch_size * num_minibatches`` of ``num_rows``."""
        num_samples = min(num_rows, self.minibatch_size * self.num_minibatches)
        return train_minibatches(
            loss_fn, self.optimizer, num_rows, num_samples, self.epochs, self.minibatch_size, self.generator, groups
        )

    def get_state(self, include_replay: bool = True) -> dict:
        return _cpu_copy(
            {
                "nets": self.nets.state_dict(),
                "optimizer": self.optimizer.state_dict(),  # loading moves it back to the parameters' device
                "generator": self.generator.get_state(),
                "replay": list(self.replay) if include_replay else [],
            }
        )

    def set_state(self, state: dict) -> None:
        self.nets.load_state_dict(state["nets"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.replay.clear()
        self.replay.extend(state["replay"])
