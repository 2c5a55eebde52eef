"""M-FOS's sampled meta-game on the package's games (the 32-step IPD, the Reciprocator paper's Coin Game).

As the M-FOS Coin Game meta-env (official ``src/coin_game/coin_game_envs.py``, ``CoinGamePPO``) but on this
package's games and learners: M-FOS (``player_0``) acts at every inner step; its opponent (``player_1``) is a
fresh learner at every meta-episode (new networks, new optimiser) that plays the inner game and, after each of
the meta-episode's ``inner_episodes`` inner episodes of ``inner_steps`` steps, takes one update with this
package's learner: the naive learner (``ReciprocatorTorchLearner`` with the official PPO update) or a
Reciprocator (the same, plus its influence estimator and reciprocal reward), with the settings of the
Reciprocator presets. The inner game is reset inside the step that ends an inner episode (no extra "reset"
meta-step as the official 15 + 1 layout has).

M-FOS observes its own inner observation, the opponent's and its own last reward, and the inner step and
inner episode as fractions; it has no memory (the official Coin Game M-FOS conditions a GRU policy on an
encoding of the previous inner episode: not ported). Its reward is its inner reward.
"""

from typing import Dict, List, Optional

import numpy as np
import torch
from gymnasium import spaces
from ray.rllib.core.columns import Columns

from envs.games import game_kwargs, get_game, make_rllib_env
from rllib_ext.algorithms.players import agent_ids, policy_mapping_fn
from rllib_ext.algorithms.reciprocator.presets import reciprocator_config
from rllib_ext.algorithms.reciprocator.reward_influence_connector import add_to_rewards, joint_arrays
from rllib_ext.env.batched_game_env_runner import finished_episode

INNER_LEARNERS = ("naive", "reciprocator")


class InnerLearner:
    """The opponent in seat 1 of a 2-player package game: an RLlib Learner of this package, built fresh by
    ``reset`` and updated on whole inner episodes by ``update`` (seat 0, M-FOS, is a ``random`` placeholder
    there: its data feeds the Reciprocator's estimator, its module is never trained)."""

    def __init__(self, game: str, kind: str, num_games: int, inner_steps: int, preset: str = "small") -> None:
        if kind not in INNER_LEARNERS:
            raise ValueError(f"unknown opponent {kind!r} for the sampled meta-game; known: {', '.join(INNER_LEARNERS)}")
        self.kind, self.game = kind, game
        env_config = {"num_steps": inner_steps}
        self.config = reciprocator_config(game, ["random", kind], preset, env_config=env_config)
        self.config.env_runners(num_envs_per_env_runner=num_games).training(policy_model="mlp")
        self.config.validate()  # derives the batch: one inner episode of every game
        self.env = make_rllib_env(game, env_config)
        self.agents = agent_ids(2)
        self.episodes_seen = 0

    def reset(self, seed: int) -> None:
        """A new learner: networks drawn from ``seed`` (without touching torch's global stream), a new optimiser,
        a new influence estimator."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.learner = self.config.build_learner(env=self.env)
        self.module = self.learner.module[self.agents[1]]
        self.episodes_seen = 0

    @torch.no_grad()
    def act(self, obs: np.ndarray):
        """Sampled actions, their log-probs and the distribution inputs for the opponent's observations."""
        logits = self.module.forward_exploration({Columns.OBS: torch.from_numpy(obs)})[Columns.ACTION_DIST_INPUTS]
        dist = self.module.get_exploration_action_dist_cls().from_logits(logits)
        actions = dist.sample()
        return actions.numpy(), dist.logp(actions).numpy(), logits.numpy()

    def update(self, obs, actions, rewards, logp, dist_inputs) -> None:
        """One update on an inner episode of every game (``[B, T(+1), 2, ...]`` arrays, as the Reciprocator's
        training step: the Reciprocator's estimator observes the joint batch and shapes its rewards; during its
        warm-up episodes only the estimator learns)."""
        episodes = [finished_episode(self.agents, self.agents, policy_mapping_fn, b, obs, actions, rewards, logp,
                                     {1: dist_inputs}) for b in range(len(obs))]
        self.episodes_seen += 1
        if self.kind == "reciprocator":
            joint = joint_arrays(episodes, self.agents, drop_last=False)
            if self.episodes_seen <= self.config.warmup_episodes:
                self.learner.observe_joint_batch(*joint)
                return
            for aid, extra in self.learner.shaped_rewards(*joint).items():
                add_to_rewards(episodes, aid, extra)
        self.learner.update(episodes=episodes, num_epochs=self.config.num_epochs,
                            minibatch_size=self.config.minibatch_size)


class SampledMetaGame:
    """``num_games`` sampled meta-games of M-FOS against a learning opponent on the package game ``game``.

    Observations ``[B, D]`` (M-FOS's inner observation, flattened, then the opponent's and its own last reward,
    the inner step / ``inner_steps`` and the inner episode / ``inner_episodes``); actions ``[B]`` M-FOS's inner
    actions; rewards ``[B]`` its inner rewards. A meta-episode is ``inner_episodes x inner_steps`` meta-steps.
    """

    agents = ["player_0"]
    num_players = 1
    action_shape = ()

    def __init__(self, num_games: int = 1, game: str = "ipd", opponent: str = "naive", inner_episodes: int = 8,
                 inner_steps: int = 32, opponent_preset: str = "small", seed: Optional[int] = None) -> None:
        if inner_episodes < 1 or inner_steps < 1:
            raise ValueError(f"inner_episodes and inner_steps must be >= 1, got {inner_episodes} and {inner_steps}")
        self.name, self.num_games = game, num_games
        self.inner_episodes, self.inner_steps = inner_episodes, inner_steps
        self.num_steps = inner_episodes * inner_steps
        self.rng = np.random.default_rng(seed)
        self.inner = get_game(game).batched(num_games=num_games, seed=int(self.rng.integers(2**31)),
                                            **game_kwargs(game, {"num_steps": inner_steps}))
        if self.inner.num_players != 2:
            raise ValueError(f"the sampled meta-game is for 2-player games; {game} has {self.inner.num_players}")
        self.opponent = InnerLearner(game, opponent, num_games, inner_steps, opponent_preset)
        dim = int(np.prod(self.inner.obs_shape)) + 4
        self.obs_shape = (dim,)
        self.observation_space = spaces.Box(-np.inf, np.inf, self.obs_shape, np.float32)
        self.action_space = spaces.Discrete(self.inner.num_actions)
        self.t = self.num_steps
        self.inner_metrics: List[Dict[str, Dict[str, float]]] = []

    def reset(self) -> np.ndarray:
        """A fresh opponent and inner game; the first observations ``[B, D]``."""
        self.opponent.reset(int(self.rng.integers(2**31)))
        self.t, self.k = 0, 0
        self._start_inner_episode()
        self.last_rewards = np.zeros((self.num_games, 2), np.float32)
        return self._observe()

    def _start_inner_episode(self) -> None:
        B, T = self.num_games, self.inner_steps
        self.t_inner = 0
        self.obs = np.empty((B, T + 1, 2, *self.inner.obs_shape), np.float32)
        self.obs[:, 0] = self.inner.reset()
        self.actions = np.empty((B, T, 2), np.int64)
        self.rewards = np.empty((B, T, 2), np.float32)
        self.logp = np.zeros((B, T, 2), np.float32)
        self.dist_inputs = np.empty((B, T, self.inner.num_actions), np.float32)
        self.infos: Dict[str, List[np.ndarray]] = {}

    def _observe(self) -> np.ndarray:
        own = self.obs[:, self.t_inner, 0].reshape(self.num_games, -1)
        clock = np.array([self.t_inner / self.inner_steps, self.k / self.inner_episodes], np.float32)
        extras = np.concatenate([self.last_rewards[:, ::-1], np.broadcast_to(clock, (self.num_games, 2))], -1)
        return np.concatenate([own, extras], axis=-1).astype(np.float32)

    def step(self, actions: np.ndarray):
        """One inner step of every game with M-FOS's ``actions [B]``; at an inner episode's last step the
        opponent updates and the inner game restarts."""
        if self.t >= self.num_steps:
            raise RuntimeError(f"all {self.num_steps} meta-steps were played (or no reset yet); call reset()")
        t = self.t_inner
        a1, lp1, di1 = self.opponent.act(self.obs[:, t, 1])
        self.actions[:, t] = np.stack([np.asarray(actions, np.int64), a1], axis=-1)
        self.logp[:, t, 1], self.dist_inputs[:, t] = lp1, di1
        self.obs[:, t + 1], self.rewards[:, t], info = self.inner.step(self.actions[:, t])
        for key, value in info.items():
            self.infos.setdefault(key, []).append(value)
        self.last_rewards = self.rewards[:, t].copy()
        self.t, self.t_inner = self.t + 1, t + 1
        if self.t_inner == self.inner_steps:
            infos = {key: np.stack(v, axis=1) for key, v in self.infos.items()}
            self.inner_metrics.append(inner_episode_metrics(self.name, self.actions, self.rewards, infos))
            self.opponent.update(self.obs, self.actions, self.rewards, self.logp, self.dist_inputs)
            self.k += 1
            if self.k < self.inner_episodes:
                self._start_inner_episode()
            else:
                self.t_inner = self.inner_steps  # the last observation: the inner episode's end
        return self._observe(), self.last_rewards[:, 0].copy(), {}

    def metrics(self, actions=None, rewards=None, info=None) -> Dict[str, Dict[str, float]]:
        """Each player's game metrics (``envs.games``) averaged over the inner episodes played since the last
        call (one meta-episode in the runner)."""
        done, self.inner_metrics = self.inner_metrics, []
        if not done:
            return {}
        return {aid: {name: float(np.mean([m[aid][name] for m in done])) for name in done[0][aid]}
                for aid in done[0]}

    @classmethod
    def metric_keys(cls, game: str = "ipd", **kwargs) -> List[str]:
        """``<player>/<metric>`` of the metrics ``metrics`` returns."""
        zeros = np.zeros((1, 1, 2))
        values = inner_episode_metrics(game, zeros, zeros, {"pickups": np.zeros((1, 1, 2, 2))})
        return [f"{aid}/{name}" for aid, names in values.items() for name in names]


def inner_episode_metrics(game: str, actions, rewards, infos) -> Dict[str, Dict[str, float]]:
    """The game's metrics of one inner episode of every game (``envs.games``), plus each player's
    ``reward_per_step`` where the game has none (the Coin Game)."""
    metrics = get_game(game).metrics(actions, rewards, infos)
    for i, aid in enumerate(agent_ids(2)):
        metrics[aid].setdefault("reward_per_step", float(np.mean(rewards[..., i])))
    return metrics
