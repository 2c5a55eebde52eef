"""Value-influence estimators (brief §1.2): how much player j's action at step t changed player i's return.

Every estimator returns `vi[b, t, j, i]`, shape `[B, T, N, N]`, and has one interface (`InfluenceEstimator`):
`observe` an episode batch (each player's own flat observation `[B, T, N, D]`, actions `[B, T, N]`, EXTRINSIC
rewards `[B, T, N]`: never feed reciprocal-augmented rewards, brief pitfall 5), `fit` on the replay, then
`influence` for a batch. `FitSchedule` says when to fit.

- `MatrixInfluence`: IPD, closed form with the known payoffs (official `MatrixVOI`).
- `RewardFutureInfluence`: any game, regression of immediate and future rewards (official `ValueOfInfluence`).
- `CoinTransitionInfluence`: 2-player Coin Game, reward + transition + value models (official `CoinsVoI`).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from envs.ipd import PAYOFFS
from rllib_ext.reciprocator.circular_conv import CircularConv2d


class InfluenceEstimator(ABC):
    """Estimates `vi[b, t, j, i]` from joint episode batches (centralised: sees every player's data)."""

    @abstractmethod
    def observe(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Add one episode batch: obs `[B, T, N, D]` float32, actions `[B, T, N]` int, extrinsic rewards
        `[B, T, N]`."""

    @abstractmethod
    def fit(self) -> dict[str, float]:
        """Refit on the replay; returns losses or estimates for logging."""

    @abstractmethod
    def influence(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        """Value influence `vi [B, T, N, N]` (`vi[..., j, i]`: j's action on i's return) for one batch."""

    @abstractmethod
    def get_state(self, include_replay: bool = True) -> dict:
        """Picklable state (numpy arrays, torch state dicts); without the replay it only serves `influence`."""

    @abstractmethod
    def set_state(self, state: dict) -> None:
        """Restore what `get_state` returned."""


@dataclass(frozen=True)
class FitSchedule:
    """When to fit the estimator (official `CoinsTrainer`): after every episode while `episode <=
    initialization_episodes`, afterwards when `episode % period == 0`. Episodes count from 1 (the first episode
    is 1), as in the official trainer, so the defaults fit after episodes 1, 2, 4, 6, ..."""

    initialization_episodes: int = 2
    period: int = 2

    def should_fit(self, episode: int) -> bool:
        return episode <= self.initialization_episodes or episode % self.period == 0


def _check_batch(obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, num_players: int) -> None:
    batch = (*np.shape(actions)[:2], num_players)
    if np.ndim(obs) != 4 or np.shape(obs)[:3] != batch or np.shape(actions) != batch or np.shape(rewards) != batch:
        raise ValueError(
            f"expected obs [B, T, {num_players}, D], actions and rewards [B, T, {num_players}]; got "
            f"{np.shape(obs)}, {np.shape(actions)}, {np.shape(rewards)}"
        )


def ipd_state_index(obs: np.ndarray) -> np.ndarray:
    """IPD state of an observation `[..., 2]` (previous joint action): s0 + 2·s1 + 1 (start 0, CC 1, DC 2,
    CD 3, DD 4)."""
    obs = np.asarray(obs)
    return (obs[..., 0] + 2 * obs[..., 1] + 1).astype(np.int64)


class MatrixInfluence(InfluenceEstimator):
    """IPD value influence in closed form (brief §1.2a, official `MatrixVOI`), immediate term only.

    p̂_j(s) = empirical P(defect) of player j in state s over the last `buffer_episodes` observed batches,
    initialised to 0.5 and refreshed inside `observe` after the 1st, (1 + refresh_period)-th, ... observed
    episode (official: `episode_count % period == 0`, counting from 0, before the episode's reward is computed).
    With R_i the payoff table, a the joint action and E_j the expectation over a'_j ~ p̂_j(s):

        vi[..., j, i] = R_i(a) − E_j R_i(a with a_j := a'_j)        (also for i = j)

    Fix of pitfall 4: a state absent from the buffer keeps its previous estimate, so no NaN. r_i is read from
    the payoff table rather than from `rewards`, so augmented rewards cannot leak in (pitfall 5). `fit` has
    nothing to train and only reports p̂.
    """

    num_players = 2
    num_states = 5

    def __init__(self, payoffs: np.ndarray = PAYOFFS, refresh_period: int = 3, buffer_episodes: int = 1) -> None:
        self.payoffs = np.asarray(payoffs, dtype=np.float64)  # [a0, a1, i]
        if self.payoffs.shape != (2, 2, 2):
            raise ValueError(f"payoffs must have shape (2, 2, 2), got {self.payoffs.shape}")
        self.refresh_period = refresh_period
        self.buffer: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=buffer_episodes)
        self.p_defect = np.full((self.num_players, self.num_states), 0.5)
        self.num_observed = 0

    def observe(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        _check_batch(obs, actions, rewards, self.num_players)
        states = ipd_state_index(np.asarray(obs)[:, :, 0]).reshape(-1)
        self.buffer.append((states.astype(np.int8), np.asarray(actions).reshape(-1, 2).astype(np.int8)))
        self.num_observed += 1
        if (self.num_observed - 1) % self.refresh_period == 0:
            self._refresh()

    def _refresh(self) -> None:
        states = np.concatenate([s for s, _ in self.buffer])
        actions = np.concatenate([a for _, a in self.buffer])
        visits = np.bincount(states, minlength=self.num_states)
        seen = visits > 0
        for j in range(self.num_players):
            defections = np.bincount(states, weights=actions[:, j], minlength=self.num_states)
            self.p_defect[j, seen] = defections[seen] / visits[seen]

    def fit(self) -> dict[str, float]:
        return {
            f"p_defect_{j}_s{s}": float(self.p_defect[j, s])
            for j in range(self.num_players)
            for s in range(self.num_states)
        }

    def influence(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        _check_batch(obs, actions, rewards, self.num_players)
        s = ipd_state_index(np.asarray(obs)[:, :, 0])
        a0, a1 = np.asarray(actions)[..., 0], np.asarray(actions)[..., 1]
        R = self.payoffs
        p0, p1 = self.p_defect[0, s][..., None], self.p_defect[1, s][..., None]
        baseline_0 = (1 - p0) * R[0, a1] + p0 * R[1, a1]  # [B, T, i]: player 0's action marginalised
        baseline_1 = (1 - p1) * R[a0, 0] + p1 * R[a0, 1]
        return R[a0, a1][..., None, :] - np.stack([baseline_0, baseline_1], axis=-2)

    def get_state(self, include_replay: bool = True) -> dict:
        buffer = list(self.buffer) if include_replay else []
        return copy.deepcopy({"p_defect": self.p_defect, "num_observed": self.num_observed, "buffer": buffer})

    def set_state(self, state: dict) -> None:
        self.p_defect = np.array(state["p_defect"], dtype=np.float64)
        self.num_observed = int(state["num_observed"])
        self.buffer.clear()
        self.buffer.extend(state["buffer"])


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


class RewardFutureInfluence(NeuralInfluence):
    """Generic value influence (brief §1.2c, official `ValueOfInfluence` with `rnn: False`), any N and game.

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
        _check_batch(obs, actions, rewards, self.num_players)
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
        _check_batch(obs, actions, rewards, self.num_players)
        x = torch.from_numpy(estimator_inputs(obs, actions, self.num_steps, self.obs_dim)).to(self.device)
        preds = torch.cat([self.nets(x[s : s + chunk]) for s in range(0, x.shape[0], chunk)], dim=1)  # [G, M, N]
        n, batch_shape = self.num_players, np.shape(actions)[:2]
        immediate = pairwise(preds[0], preds[1 : n + 1], batch_shape)
        future = pairwise(preds[n + 1], preds[n + 2 :], batch_shape)
        return immediate, future


def coin_value_net(num_players: int, grid_size: int, hidden: int) -> nn.Sequential:
    """The official `Critic` (no time input): two circular 'same' convs with hidden//4 channels, kernel = grid
    size rounded up to odd, then Linear(·, hidden)-ReLU-Linear(hidden, N): one value per player."""
    channels, kernel = hidden // 4, grid_size + (grid_size + 1) % 2

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
    """Value influence for 2-player Coin Game with a transition model (brief §1.2b, official `CoinsVoI`).

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
        _check_batch(obs, actions, rewards, self.num_players)
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
        _check_batch(obs, actions, rewards, self.num_players)
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
