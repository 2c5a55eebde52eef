"""The 2-player Coin Game's learned influence estimator: reward, transition and value models."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rllib_ext.algorithms.reciprocator.influence.base import check_batch
from rllib_ext.algorithms.reciprocator.influence.neural import (
    GroupedMLP,
    NeuralInfluence,
    counterfactual_mask,
    estimator_inputs,
    future_returns,
    pairwise,
)
from rllib_ext.algorithms.reciprocator.torch.circular_conv import CircularConv2d, odd_kernel


def coin_value_net(num_players: int, grid_size: int, hidden: int) -> nn.Sequential:
    """The official `Critic` (no time input): two circular 'same' convs with hidden//4 channels, kernel = grid
    size rounded up to odd, then Linear(·, hidden)-ReLU-Linear(hidden, N): one value per player."""
    channels, kernel = hidden // 4, odd_kernel(grid_size)

    def conv(in_channels: int) -> nn.Conv2d:
        return CircularConv2d(in_channels, channels, kernel, (grid_size, grid_size))

    return nn.Sequential(
        conv(2 * num_players), nn.ReLU(), conv(channels), nn.ReLU(), nn.Flatten(),
        nn.Linear(channels * grid_size**2, hidden), nn.ReLU(), nn.Linear(hidden, num_players),
    )


def expected_next_value(probs: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Σ_{s'} P(s') V(s') with P(s') the product of 4 independent marginals `probs [M, 4, C]` over the C cells
    of each entity and `values [C, C, C, C, N]` the value of every enumerated next state -> `[M, N]`."""
    out = torch.einsum("md,pqcdn->mpqcn", probs[:, 3], values)
    out = torch.einsum("mc,mpqcn->mpqn", probs[:, 2], out)
    out = torch.einsum("mq,mpqn->mpn", probs[:, 1], out)
    return torch.einsum("mp,mpn->mn", probs[:, 0], out)


class CoinTransitionInfluence(NeuralInfluence):
    """Value influence for 2-player Coin Game with a transition model (official `src/agents/coins_voi.py` `CoinsVoI`).

    Networks: V̂, the conv critic on the state (player 0's view, no time input), MSE on the returns G_t of both
    players; R̂ and R̂_{-k} as in `RewardFutureInfluence`; P̂ and P̂_{-k}, MLPs giving 4 independent categoricals
    over the grid cells for the next positions of (player 0, player 1, coin 0, coin 1), NLL on the T−1
    observed transitions of each episode. With the product of the 4 marginals as P̂(s') (the official
    independence assumption) over all (g²)^4 enumerated next states s' (6,561 on 3x3):

        vi[..., j, i] = (R̂_i − R̂_{-j,i}) + γ Σ_{s'} (P̂(s' | s, a) − P̂_{-j}(s' | s, a_{-j})) V̂_i(s')

    Inputs and training as `RewardFutureInfluence` (raw actions, player 0's observation, raw time remaining; same
    sampling, epochs, warm start; one optimizer). As in the official code the future term is also computed at the
    last step. One deviation: the official transition nets see time remaining T−2−t in training (the input is
    built from the T−1 transitions) but T−1−t at inference; here both use T−1−t.
    """

    num_players = 2

    def __init__(
        self,
        grid_size: int = 3,
        num_steps: int = 32,
        gamma: float = 0.99,
        hidden: int = 64,
        lr: float = 0.01,
        epochs: int = 20,
        minibatch_size: int = 4096,
        num_minibatches: int = 16,
        replay_batches: int = 3,
        device: str = "cpu",
        seed: int = 0,
    ) -> None:
        n, cells = self.num_players, grid_size**2
        self.grid_size, self.obs_dim = grid_size, 2 * n * cells
        self._setup_training(num_steps, gamma, epochs, minibatch_size, num_minibatches, replay_batches, device, seed)
        mask = counterfactual_mask(n, n + self.obs_dim + 1)  # [joint, without player 0, without player 1]
        self.reward_nets = GroupedMLP(mask, hidden, n, self.generator).to(self.device)
        self.transition_nets = GroupedMLP(mask, hidden, 2 * n * cells, self.generator).to(self.device)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.value_net = coin_value_net(n, grid_size, hidden).to(self.device)
        self.nets = nn.ModuleList([self.value_net, self.reward_nets, self.transition_nets])
        self.optimizer = torch.optim.Adam(self.nets.parameters(), lr=lr)
        cell_labels = torch.cartesian_prod(*[torch.arange(cells)] * (2 * n))  # every next state, entity cells
        self.next_states = nn.functional.one_hot(cell_labels, cells).float().view(-1, 2 * n, grid_size, grid_size)
        self.next_states = self.next_states.to(self.device)

    def _states(self, x: torch.Tensor) -> torch.Tensor:
        """The observation part of estimator inputs, as one-hot grids `[M, 2N, g, g]`."""
        g = self.grid_size
        return x[:, self.num_players : self.num_players + self.obs_dim].reshape(-1, 2 * self.num_players, g, g)

    def observe(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        check_batch(obs, actions, rewards, self.num_players)
        x = estimator_inputs(obs, actions, self.num_steps, self.obs_dim)
        rewards = np.asarray(rewards, np.float32)
        returns = rewards + future_returns(rewards, self.gamma)
        B, T, n = rewards.shape
        next_cells = np.full((B, T, 2 * n), -1, dtype=np.int64)  # no next state observed after the last step
        next_cells[:, :-1] = np.asarray(obs)[:, 1:, 0].reshape(B, T - 1, 2 * n, -1).argmax(-1)
        rows = B * T
        self.replay.append((x, rewards.reshape(rows, n), returns.reshape(rows, n), next_cells.reshape(rows, 2 * n)))

    def fit(self) -> dict[str, float]:
        """Train V̂, the reward and the transition networks on the replay; returns their mean losses (MSE, MSE,
        NLL) over the first and the last epoch."""
        if not self.replay:
            raise RuntimeError("nothing observed yet")
        x, rewards, returns, next_cells = (
            torch.from_numpy(np.concatenate(parts)).to(self.device) for parts in zip(*self.replay)
        )
        states = self._states(x)
        transitions = (next_cells[:, 0] >= 0).nonzero().squeeze(1)
        n, cells = self.num_players, self.grid_size**2
        losses = {}

        def value_mse(idx: torch.Tensor) -> torch.Tensor:
            idx = idx[0].to(self.device)
            return ((self.value_net(states[idx]) - returns[idx]) ** 2).mean()[None]

        def reward_mse(idx: torch.Tensor) -> torch.Tensor:
            idx = idx.to(self.device)
            return ((self.reward_nets(x[idx]) - rewards[idx]) ** 2).mean(dim=(1, 2))

        def transition_nll(idx: torch.Tensor) -> torch.Tensor:
            idx = transitions[idx.to(self.device)]
            logits = self.transition_nets(x[idx]).view(*idx.shape, 2 * n, cells)
            return -logits.log_softmax(-1).gather(-1, next_cells[idx][..., None]).mean(dim=(1, 2, 3))

        for name, loss_fn, num_rows, groups in (
            ("value", value_mse, x.shape[0], 1),
            ("reward", reward_mse, x.shape[0], n + 1),
            ("transition", transition_nll, transitions.shape[0], n + 1),
        ):
            first, last = self._train(loss_fn, num_rows, groups)
            losses[f"{name}_loss_first_epoch"] = float(first.mean())
            losses[f"{name}_loss_last_epoch"] = float(last.mean())
        return losses

    @torch.no_grad()
    def influence_parts(
        self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, chunk: int = 2048
    ) -> tuple[np.ndarray, np.ndarray]:
        """Immediate (R̂_i − R̂_{-j,i}) and future (Σ_{s'} (P̂ − P̂_{-j}) V̂_i) parts, each `[B, T, 2, 2]`;
        `influence` is immediate + γ · future."""
        check_batch(obs, actions, rewards, self.num_players)
        x = torch.from_numpy(estimator_inputs(obs, actions, self.num_steps, self.obs_dim)).to(self.device)
        n, cells = self.num_players, self.grid_size**2
        values = self.value_net(self.next_states).view(*[cells] * (2 * n), n)
        reward, future = [], []
        for s in range(0, x.shape[0], chunk):
            reward.append(self.reward_nets(x[s : s + chunk]))
            probs = self.transition_nets(x[s : s + chunk]).view(n + 1, -1, 2 * n, cells).softmax(-1)
            future.append(torch.stack([expected_next_value(p, values) for p in probs]))
        reward, future = torch.cat(reward, dim=1), torch.cat(future, dim=1)  # [3, M, N]
        batch_shape = np.shape(actions)[:2]
        return pairwise(reward[0], reward[1:], batch_shape), pairwise(future[0], future[1:], batch_shape)
