"""Any game's learned influence estimator: regressions of immediate and future rewards."""

from __future__ import annotations

import numpy as np
import torch

from rllib_ext.algorithms.reciprocator.influence.base import check_batch
from rllib_ext.algorithms.reciprocator.influence.neural import (
    GroupedMLP,
    NeuralInfluence,
    counterfactual_mask,
    estimator_inputs,
    future_returns,
    pairwise,
)


class RewardFutureInfluence(NeuralInfluence):
    """Generic value influence (official `src/agents/voi.py` `ValueOfInfluence` with `rnn: False`), any N and game.

    2N+2 regressors: R̂ and R̂_{-k} fit r_t, Q̂ and Q̂_{-k} fit the future return G_t − r_t (= γ G_{t+1}, from the
    extrinsic rewards), each with N outputs; the `_{-k}` networks do not see player k's action, so they learn
    its expectation under k's recent behaviour. Then

        vi[..., j, i] = (R̂_i − R̂_{-j,i}) + γ (Q̂_i − Q̂_{-j,i})

    Official quirks kept: the input is concat(joint actions as raw integers cast to float, player 0's
    observation, time remaining T−1−t as an unnormalised float); the future label already holds one γ, so the
    future term is discounted by γ² in effect. Training as the official code: each fit, every network draws
    min(replay, minibatch_size·num_minibatches) samples without replacement from the last `replay_batches`
    observed batches, then `epochs` shuffled epochs of Adam steps on minibatches of `minibatch_size` (MSE);
    networks and Adam state persist across fits (warm start). All networks train together as one
    `GroupedMLP` with one optimizer (Adam is per-element, so this equals one Adam per network).
    """

    def __init__(
        self,
        num_players: int,
        obs_dim: int,
        num_steps: int,
        gamma: float,
        hidden: int = 64,
        lr: float = 0.01,
        epochs: int = 20,
        minibatch_size: int = 4096,
        num_minibatches: int = 16,
        replay_batches: int = 3,
        device: str = "cpu",
        seed: int = 0,
    ) -> None:
        n = num_players
        self.num_players, self.obs_dim = n, obs_dim
        self._setup_training(num_steps, gamma, epochs, minibatch_size, num_minibatches, replay_batches, device, seed)
        # Networks [R̂, R̂_{-0}, ..., R̂_{-(N-1)}, Q̂, Q̂_{-0}, ..., Q̂_{-(N-1)}]; label 0 = reward, 1 = future.
        mask = counterfactual_mask(n, n + obs_dim + 1).repeat(2, 1)
        self.label_kind = torch.tensor([0] * (n + 1) + [1] * (n + 1), device=self.device)
        self.nets = GroupedMLP(mask, hidden, n, self.generator).to(self.device)
        self.optimizer = torch.optim.Adam(self.nets.parameters(), lr=lr)

    def observe(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        check_batch(obs, actions, rewards, self.num_players)
        x = estimator_inputs(obs, actions, self.num_steps, self.obs_dim)
        labels = np.stack([np.asarray(rewards, np.float32), future_returns(rewards, self.gamma)], axis=2)
        self.replay.append((x, labels.reshape(x.shape[0], 2, self.num_players)))  # [B·T, reward/future, N]

    def fit(self) -> dict[str, float]:
        """Train every network on the replay; returns the mean MSE of the reward and of the future networks over
        the first and the last epoch."""
        if not self.replay:
            raise RuntimeError("nothing observed yet")
        x = torch.from_numpy(np.concatenate([x for x, _ in self.replay])).to(self.device)
        y = torch.from_numpy(np.concatenate([y for _, y in self.replay])).to(self.device)
        groups, num_rows, n = len(self.label_kind), x.shape[0], self.num_players
        targets = y[:, self.label_kind].transpose(0, 1).reshape(groups * num_rows, n)  # row g·M + m: net g, sample m
        offsets = torch.arange(groups, device=self.device)[:, None] * num_rows

        def mse(idx: torch.Tensor) -> torch.Tensor:
            idx = idx.to(self.device)
            inputs = x.index_select(0, idx.reshape(-1)).view(groups, -1, x.shape[1])
            labels = targets.index_select(0, (idx + offsets).reshape(-1)).view(groups, -1, n)
            return ((self.nets(inputs) - labels) ** 2).mean(dim=(1, 2))

        first, last = self._train(mse, num_rows, groups)
        return {
            "reward_loss_first_epoch": float(first[: n + 1].mean()),
            "reward_loss_last_epoch": float(last[: n + 1].mean()),
            "future_loss_first_epoch": float(first[n + 1 :].mean()),
            "future_loss_last_epoch": float(last[n + 1 :].mean()),
        }

    @torch.no_grad()
    def influence_parts(
        self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, chunk: int = 8192
    ) -> tuple[np.ndarray, np.ndarray]:
        """Immediate (R̂_i − R̂_{-j,i}) and future (Q̂_i − Q̂_{-j,i}) parts, each `[B, T, N, N]`; `influence` is
        immediate + γ · future."""
        check_batch(obs, actions, rewards, self.num_players)
        x = torch.from_numpy(estimator_inputs(obs, actions, self.num_steps, self.obs_dim)).to(self.device)
        preds = torch.cat([self.nets(x[s : s + chunk]) for s in range(0, x.shape[0], chunk)], dim=1)  # [G, M, N]
        n, batch_shape = self.num_players, np.shape(actions)[:2]
        immediate = pairwise(preds[0], preds[1 : n + 1], batch_shape)
        future = pairwise(preds[n + 1], preds[n + 2 :], batch_shape)
        return immediate, future
