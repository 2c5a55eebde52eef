"""An RLlib EnvRunner that steps every game of a batch at once and builds episodes in bulk.

RLlib's stock ``MultiAgentEnvRunner`` steps sub-envs one by one and looks episodes up in
lists per agent and step, so its cost grows with the square of the number of games. This
runner keeps RLlib's contract (it returns finished, numpy'd ``MultiAgentEpisode``s with
``ACTION_LOGP`` and ``ACTION_DIST_INPUTS`` and logs the step counters PPO's loop reads),
but plays all ``num_envs_per_env_runner`` games of a registered game (``envs.games.GAMES``) as
numpy arrays and writes each episode's columns straight into its buffers. Recurrent modules
get their state carried across the steps; it is not stored in the episodes, so training replays
every episode from its initial state (``max_seq_len`` must cover an episode, which is checked).

Use it with ``config.env_runners(env_runner_cls=BatchedGameEnvRunner,
num_envs_per_env_runner=NUM_GAMES)``. One ``sample()`` plays whole episodes of all games
(enough rounds to cover ``num_timesteps``/``num_episodes`` when given). Observations go
to the RLModules as they come from the game: custom env-to-module or module-to-env
connector pieces are not run here (``validate_config`` refuses them).
"""

import contextlib
import gc
from typing import Dict, List, Optional

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.env.env_context import EnvContext
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer
from ray.rllib.env.vector.sync_vector_multi_agent_env import SyncVectorMultiAgentEnv
from ray.rllib.utils.metrics import (
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
    SAMPLE_TIMER,
)

from envs.games import game_kwargs, get_game, make_rllib_env
from rllib_ext.utils.metrics import GAME_METRICS

# Means are logged once per round of games; RLlib clears them at every reduce, so a window
# longer than any iteration's number of rounds makes them the mean over this iteration's rounds.
_ROUNDS_WINDOW = 10_000


@contextlib.contextmanager
def _gc_paused():
    """No cyclic garbage collection inside: building thousands of episode objects otherwise triggers
    repeated collections (2/3 of the build time in a microbenchmark); one collection still follows."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _log_game_metrics(metrics_logger, metrics: Dict[str, Dict[str, float]]) -> None:
    for aid, values in metrics.items():
        for name, value in values.items():
            metrics_logger.log_value((GAME_METRICS, aid, name), float(value), reduce="mean", window=_ROUNDS_WINDOW)


def log_game_metrics(*, env_runner, metrics_logger, samples, **kwargs) -> None:
    """``on_sample_end`` callback for RLlib's own env runners: the game metrics (``envs.games``) of the whole
    episodes sampled, under the keys the batched runner logs them (``env_runners/game/<player>/<metric>``).

    ``config.callbacks(on_sample_end=log_game_metrics)``; ``ReciprocatorConfig`` adds it when a package game
    runs on another runner. Per-step infos of every player (the Coin Game's ``pickups``) are stacked to
    ``[B, T, N, ...]`` as the batched games return them.
    """
    name = env_runner.config.env
    if isinstance(env_runner, BatchedGameEnvRunner) or not isinstance(name, str):
        return
    whole = [ep for ep in samples if isinstance(ep, MultiAgentEpisode) and ep.env_t_started == 0 and ep.is_done]
    if not whole or len({len(ep) for ep in whole}) != 1:
        return
    game = get_game(name)
    agents = game.reference(**game_kwargs(name, env_runner.config.env_config)).possible_agents

    def stacked(get):
        return np.stack([np.stack([np.asarray(get(ep.agent_episodes[a])) for a in agents], axis=-1) for ep in whole])

    actions, rewards = stacked(lambda sa: sa.get_actions()), stacked(lambda sa: sa.get_rewards())
    step_infos = whole[0].agent_episodes[agents[0]].get_infos()[1:]
    infos = {key: np.moveaxis(stacked(lambda sa, k=key: [info[k] for info in sa.get_infos()[1:]]), -1, 2)
             for key in (step_infos[0] if step_infos else {})}
    _log_game_metrics(metrics_logger, game.metrics(actions, rewards, infos))


def validate_config(config) -> None:
    """Raise a ValueError if ``config`` cannot run on the batched runner."""
    get_game(config.env if isinstance(config.env, str) else repr(config.env))
    if config._env_to_module_connector is not None or config._module_to_env_connector is not None:
        raise ValueError(
            "BatchedGameEnvRunner feeds game observations to the RLModules directly; "
            "custom env_to_module_connector / module_to_env_connector are not supported with it"
        )


def finished_episode(agents, module_of, mapping_fn, b, obs, actions, rewards, logp, dist_inputs) -> MultiAgentEpisode:
    """One finished MultiAgentEpisode of game ``b`` from ``[B, T(+1), N, ...]`` arrays in which every agent of
    ``agents`` acts every step (``dist_inputs``: ``{agent index: [B, T, ...]}``, for the agents that have them)."""
    T = actions.shape[1]
    ep = MultiAgentEpisode(agent_to_module_mapping_fn=mapping_fn)
    for i, aid in enumerate(agents):
        extra = {Columns.ACTION_LOGP: InfiniteLookbackBuffer(logp[b, :, i])}
        if i in dist_inputs:
            extra[Columns.ACTION_DIST_INPUTS] = InfiniteLookbackBuffer(dist_inputs[i][b])
        ep.agent_episodes[aid] = SingleAgentEpisode(
            observations=InfiniteLookbackBuffer(obs[b, :, i]),
            actions=InfiniteLookbackBuffer(actions[b, :, i]),
            rewards=InfiniteLookbackBuffer(rewards[b, :, i]),
            infos=InfiniteLookbackBuffer([{} for _ in range(T + 1)]),
            extra_model_outputs=extra,
            terminated=True,
            agent_id=aid,
            module_id=module_of[i],
            multi_agent_episode_id=ep.id_,
            len_lookback_buffer=0,
        )
        ep.env_t_to_agent_t[aid] = InfiniteLookbackBuffer(list(range(T + 1)))
        ep.agent_t_started[aid] = 0
    ep.env_t = T
    ep.is_terminated = True
    return ep


class BatchedGameEnvRunner(MultiAgentEnvRunner):
    """Plays all games of a batch at once as numpy arrays; returns standard MultiAgentEpisodes."""

    def make_env(self):
        validate_config(self.config)
        name = self.config.env
        env_ctx = EnvContext(
            self.config.env_config,
            worker_index=self.worker_index or 0,
            num_workers=self.config.num_env_runners,
        )
        # A single reference copy gives RLlib its spaces; the batched twin does the playing.
        self.env = SyncVectorMultiAgentEnv([lambda: make_rllib_env(name, env_ctx)])
        self.game = get_game(name)
        self.batched = self.game.batched(
            num_games=self.config.num_envs_per_env_runner,
            seed=self._seed,
            **game_kwargs(name, self.config.env_config),
        )
        self.num_envs = self.batched.num_games
        self._needs_initial_reset = True

    def sample(
        self,
        *,
        num_timesteps: Optional[int] = None,
        num_episodes: Optional[int] = None,
        explore: Optional[bool] = None,
        random_actions: bool = False,
        force_reset: bool = False,
    ) -> List[MultiAgentEpisode]:
        """Play whole episodes of every game: one round, or enough rounds for the request."""
        explore = self.config.explore if explore is None else explore
        game = self.batched
        per_round_steps = game.num_games * game.num_steps
        if num_episodes is not None:
            rounds = -(-num_episodes // game.num_games)
        elif num_timesteps is not None:
            rounds = max(1, -(-num_timesteps // per_round_steps))
        else:
            rounds = 1
        episodes: List[MultiAgentEpisode] = []
        with self.metrics.log_time(SAMPLE_TIMER):
            for _ in range(rounds):
                episodes.extend(self._play_round(explore, random_actions))
        if num_episodes is not None:
            episodes = episodes[:num_episodes]
        return episodes

    def _play_round(self, explore: bool, random_actions: bool) -> List[MultiAgentEpisode]:
        game = self.batched
        B, T, N = game.num_games, game.num_steps, game.num_players
        obs = np.empty((B, T + 1, N, *game.obs_shape), np.float32)
        actions = np.empty((B, T, N), np.int64)
        rewards = np.empty((B, T, N), np.float32)
        logp = np.zeros((B, T, N), np.float32)
        dist_inputs: Dict[int, np.ndarray] = {}
        infos: Dict[str, List[np.ndarray]] = {}

        obs[:, 0] = game.reset()
        module_of = [self.config.policy_mapping_fn(aid, None) for aid in game.agents]
        states = [self._initial_state(mid, B, T) for mid in module_of]
        for t in range(T):
            for i, mid in enumerate(module_of):
                if random_actions:
                    actions[:, t, i] = np.random.randint(game.num_actions, size=B)
                    continue
                a, lp, di, states[i] = self._act(mid, obs[:, t, i], explore, states[i])
                actions[:, t, i], logp[:, t, i] = a, lp
                if di is not None:
                    dist_inputs.setdefault(i, np.empty((B, T, *di.shape[1:]), np.float32))[:, t] = di
            obs[:, t + 1], rewards[:, t], info = game.step(actions[:, t])
            for k, v in info.items():
                infos.setdefault(k, []).append(v)

        stacked_infos = {k: np.stack(v, axis=1) for k, v in infos.items()}
        self._log_round(module_of, actions, rewards, stacked_infos)
        with _gc_paused():
            return [self._episode(b, module_of, obs, actions, rewards, logp, dist_inputs) for b in range(B)]

    def _initial_state(self, module_id: str, num_games: int, num_steps: int):
        """A recurrent module's initial state for every game (None for stateless modules)."""
        module = self.module[module_id]
        if not module.is_stateful():
            return None
        if module.model_config.get("max_seq_len", 0) < num_steps + 1:
            raise ValueError(
                f"module {module_id!r} is recurrent: set model_config['max_seq_len'] >= {num_steps + 1} "
                "(episode length + PPO's extra step) so training replays whole episodes from the start"
            )
        return {k: torch.from_numpy(np.tile(np.asarray(v, np.float32), (num_games, 1))).to(self._device)
                for k, v in module.get_initial_state().items()}

    @torch.no_grad()
    def _act(self, module_id: str, obs: np.ndarray, explore: bool, state=None):
        """Actions, log-probs, distribution inputs and next recurrent state of one module for all games."""
        module = self.module[module_id]
        batch = {Columns.OBS: torch.from_numpy(obs).to(self._device)}
        if state is not None:
            batch = {Columns.OBS: batch[Columns.OBS][:, None], Columns.STATE_IN: state}
        out = module.forward_exploration(batch) if explore else module.forward_inference(batch)
        if Columns.ACTIONS in out:  # fixed strategies pick actions themselves
            acts = np.asarray(out[Columns.ACTIONS], np.int64)
            return acts, np.zeros(len(acts), np.float32), None, None
        logits = out[Columns.ACTION_DIST_INPUTS]
        if state is not None:
            logits, state = logits[:, 0], out[Columns.STATE_OUT]
        dist_cls = module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()
        dist = dist_cls.from_logits(logits)
        if not explore:
            dist = dist.to_deterministic()
        acts = dist.sample()
        return (
            acts.cpu().numpy(),  # int64 for discrete actions; continuous ones (M-FOS) stay floats
            dist.logp(acts).cpu().numpy() if explore else np.zeros(len(acts), np.float32),
            logits.cpu().numpy(),
            state,
        )

    def _episode(self, b, module_of, obs, actions, rewards, logp, dist_inputs) -> MultiAgentEpisode:
        """One finished MultiAgentEpisode from the arrays of game ``b`` (all agents act every step)."""
        return finished_episode(self.batched.agents, module_of, self.config.policy_mapping_fn, b, obs, actions, rewards,
                                logp, dist_inputs)

    def _log_round(self, module_of, actions, rewards, infos) -> None:
        """Step counters (PPO's sampling loop reads them), episode returns and game metrics."""
        B, T, N = rewards.shape
        env_steps = B * T
        m = self.metrics
        m.log_value(NUM_ENV_STEPS_SAMPLED, env_steps, reduce="sum")
        m.log_value(NUM_ENV_STEPS_SAMPLED_LIFETIME, env_steps, reduce="lifetime_sum", with_throughput=True)
        m.log_value(NUM_EPISODES, B, reduce="sum")
        m.log_value(NUM_EPISODES_LIFETIME, B, reduce="lifetime_sum")
        for aid, mid in zip(self.batched.agents, module_of):
            m.log_value((NUM_AGENT_STEPS_SAMPLED, aid), env_steps, reduce="sum")
            m.log_value((NUM_AGENT_STEPS_SAMPLED_LIFETIME, aid), env_steps, reduce="lifetime_sum")
            m.log_value((NUM_MODULE_STEPS_SAMPLED, mid), env_steps, reduce="sum")
            m.log_value((NUM_MODULE_STEPS_SAMPLED_LIFETIME, mid), env_steps, reduce="lifetime_sum")
        returns = rewards.sum(axis=1)  # [B, N]
        module_returns: Dict[str, np.ndarray] = {}
        for i, mid in enumerate(module_of):
            module_returns[mid] = module_returns.get(mid, 0.0) + returns[:, i]
        self._log_episode_metrics(
            T,
            float(returns.sum(axis=1).mean()),
            0.0,
            {aid: float(returns[:, i].mean()) for i, aid in enumerate(self.batched.agents)},
            {mid: float(r.mean()) for mid, r in module_returns.items()},
            {aid: T for aid in self.batched.agents},
        )
        _log_game_metrics(m, self.game.metrics(actions, rewards, infos))
