"""M-FOS's meta-game for RLlib: one game as a ``MultiAgentEnv`` and an EnvRunner that plays a whole batch.

The opponent lives inside the meta-game (it learns there and is re-drawn at every reset), so RLlib sees one
agent, M-FOS (``player_0``), whose action is its inner policy for the next meta-step. ``MetaGameEnv`` is one
meta-game (RLlib's own runners can sample it, one sub-env per game); ``MetaGameEnvRunner`` plays all
``num_envs_per_env_runner`` games of a batch at once on the meta-game's batched torch version and builds the
episodes in bulk (``BatchedGameEnvRunner``'s episodes, step counters and game metrics: both players' means over
the meta-episode under ``env_runners/game/<player>/<metric>``).
"""

from typing import Dict, List

import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.vector.sync_vector_multi_agent_env import SyncVectorMultiAgentEnv
from ray.tune.registry import register_env

from rllib_ext.algorithms.mfos.analytic_ipd import AnalyticMetaIPD
from rllib_ext.algorithms.mfos.sampled_meta_game import SampledMetaGame
from rllib_ext.env.batched_game_env_runner import BatchedGameEnvRunner, _gc_paused

ANALYTIC = "ipd_analytic"
META_GAMES = {ANALYTIC: AnalyticMetaIPD, "ipd": SampledMetaGame, "coin_game": SampledMetaGame}
"""M-FOS's meta-games by env name: the analytic IPD, and the sampled meta-game on the package's games;
``env_config`` holds a meta-game's keyword arguments (``num_steps``, ``inner_episodes``, ...)."""
SET_BY_CONFIG = ("num_games", "seed", "game", "opponent")
"""Meta-game arguments that come from the config (games per runner, seed, env, opponent), not ``env_config``."""


def make_meta_game(name: str, num_games: int, env_config: Dict, opponent: str = "naive", seed=None):
    """The batched meta-game ``name`` of ``num_games`` games against ``opponent``; a ValueError names an
    unknown one."""
    if name not in META_GAMES:
        raise ValueError(f"unknown M-FOS env {name!r}; known: {', '.join(META_GAMES)}")
    if name == ANALYTIC:
        return AnalyticMetaIPD(num_games=num_games, seed=seed, **env_config)
    return SampledMetaGame(num_games=num_games, game=name, opponent=opponent, seed=seed, **env_config)


class MetaGameEnv(MultiAgentEnv):
    """One meta-game as an RLlib ``MultiAgentEnv`` with the single agent ``player_0`` (M-FOS); the episode
    terminates after the meta-game's ``num_steps`` meta-steps."""

    def __init__(self, game) -> None:
        super().__init__()
        if game.num_games != 1:
            raise ValueError(f"MetaGameEnv plays one game, got a batch of {game.num_games}")
        self.game = game
        self.agents = self.possible_agents = list(game.agents)
        self.observation_spaces = {aid: game.observation_space for aid in self.agents}
        self.action_spaces = {aid: game.action_space for aid in self.agents}

    def reset(self, *, seed=None, options=None):
        obs = self.game.reset()
        return {aid: obs[0] for aid in self.agents}, {}

    def step(self, action_dict):
        obs, reward, _ = self.game.step(np.asarray(action_dict[self.agents[0]], np.float32)[None])
        done = self.game.t >= self.game.num_steps
        return ({aid: obs[0] for aid in self.agents}, {aid: float(reward[0]) for aid in self.agents},
                {aid: done for aid in [*self.agents, "__all__"]},
                {aid: False for aid in [*self.agents, "__all__"]}, {})


register_env(ANALYTIC, lambda env_config: MetaGameEnv(AnalyticMetaIPD(num_games=1, **env_config)))
"""The analytic IPD for RLlib's own runners (the sampled meta-games' names are the plain games')."""


class MetaGameEnvRunner(BatchedGameEnvRunner):
    """Plays one meta-episode of every game of the batch per round; returns standard ``MultiAgentEpisode``s."""

    def make_env(self):
        config = self.config
        self.batched = make_meta_game(config.env, config.num_envs_per_env_runner, config.env_config,
                                      config.opponent, self._seed)
        self.game = self.batched  # its ``metrics`` summarises a round
        self.env = SyncVectorMultiAgentEnv([lambda: MetaGameEnv(
            make_meta_game(config.env, 1, config.env_config, config.opponent))])
        self.num_envs = self.batched.num_games
        self._needs_initial_reset = True

    def _play_round(self, explore: bool, random_actions: bool) -> List[MultiAgentEpisode]:
        game = self.batched
        B, T = game.num_games, game.num_steps
        obs = np.empty((B, T + 1, 1, *game.obs_shape), np.float32)
        actions = np.empty((B, T, 1, *game.action_shape), game.action_space.dtype)
        rewards = np.empty((B, T, 1), np.float32)
        logp = np.zeros((B, T, 1), np.float32)
        dist_inputs: Dict[int, np.ndarray] = {}
        infos: Dict[str, List[np.ndarray]] = {}

        obs[:, 0, 0] = game.reset()
        module_id = self.config.policy_mapping_fn(game.agents[0], None)
        state = self._initial_state(module_id, B, T)
        for t in range(T):
            if random_actions:
                actions[:, t, 0] = np.stack([game.action_space.sample() for _ in range(B)])
            else:
                a, lp, di, state = self._act(module_id, obs[:, t, 0], explore, state)
                actions[:, t, 0], logp[:, t, 0] = a, lp
                dist_inputs.setdefault(0, np.empty((B, T, *di.shape[1:]), np.float32))[:, t] = di
            obs[:, t + 1, 0], rewards[:, t, 0], info = game.step(actions[:, t, 0])
            for k, v in info.items():
                infos.setdefault(k, []).append(v)

        self._log_round([module_id], actions, rewards, {k: np.stack(v, axis=1) for k, v in infos.items()})
        with _gc_paused():
            return [self._episode(b, [module_id], obs, actions, rewards, logp, dist_inputs) for b in range(B)]
