"""The batched env runner hands RLlib the same episodes the stock episode API would build."""

import copy

import numpy as np
import pytest
from ray.rllib.connectors.env_to_module import FlattenObservations
from ray.rllib.core.columns import Columns
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED

from envs.games.ipd import IPD, ipd_metrics
from rllib_ext.algorithms.naive_ppo import naive_ppo_config
from rllib_ext.algorithms.players import policy_mapping_fn
from rllib_ext.env.batched_game_env_runner import BatchedGameEnvRunner, validate_config
from rllib_ext.utils.metrics import GAME_METRICS

GAMES, STEPS = 16, 32
AGENTS = ("player_0", "player_1")


@pytest.fixture(scope="module")
def ipd_algo(ray_session):
    config = naive_ppo_config("ipd", ["naive", "naive"], "small", seed=7)
    config.env_runners(num_envs_per_env_runner=GAMES).training(
        train_batch_size_per_learner=GAMES * STEPS, minibatch_size=GAMES * STEPS)
    algo = config.build_algo()
    yield algo
    algo.stop()


def stock_episode(ep: MultiAgentEpisode) -> MultiAgentEpisode:
    """The same episode rebuilt step by step through RLlib's own episode API."""
    out = MultiAgentEpisode(agent_to_module_mapping_fn=policy_mapping_fn)
    out.add_env_reset(observations={a: ep.agent_episodes[a].get_observations(0) for a in AGENTS})
    for t in range(len(ep)):
        sa = {a: ep.agent_episodes[a] for a in AGENTS}
        done = t == len(ep) - 1
        out.add_env_step(
            observations={a: sa[a].get_observations(t + 1) for a in AGENTS},
            actions={a: sa[a].get_actions(t) for a in AGENTS},
            rewards={a: sa[a].get_rewards(t) for a in AGENTS},
            terminateds={"__all__": done, **{a: done for a in AGENTS}},
            extra_model_outputs={
                a: {k: sa[a].get_extra_model_outputs(k, t) for k in (Columns.ACTION_LOGP, Columns.ACTION_DIST_INPUTS)}
                for a in AGENTS
            },
        )
    return out.to_numpy()


def test_episodes_match_the_stock_episode_api(ipd_algo):
    runner = ipd_algo.env_runner
    episodes = runner.sample(explore=True)
    assert len(episodes) == GAMES
    for ep in episodes:
        ref = stock_episode(ep)
        assert ep.is_done and ep.is_terminated and len(ep) == len(ref) == STEPS
        assert ep.env_steps() == ref.env_steps() and ep.agent_steps() == ref.agent_steps()
        assert ep.get_return() == pytest.approx(ref.get_return())
        for a in AGENTS:
            mine, theirs = ep.agent_episodes[a], ref.agent_episodes[a]
            assert mine.module_id == theirs.module_id == a and ep.module_for(a) == a
            np.testing.assert_array_equal(mine.get_observations(), theirs.get_observations())
            np.testing.assert_array_equal(mine.get_actions(), theirs.get_actions())
            np.testing.assert_array_equal(mine.get_rewards(), theirs.get_rewards())
            for key in (Columns.ACTION_LOGP, Columns.ACTION_DIST_INPUTS):
                np.testing.assert_array_equal(mine.get_extra_model_outputs(key), theirs.get_extra_model_outputs(key))
        np.testing.assert_array_equal(
            ep.get_observations(indices=-1, env_steps=True)["player_0"],
            ref.get_observations(indices=-1, env_steps=True)["player_0"],
        )

    # PPO's whole learner connector pipeline (artificial last step, GAE, ...) gives the same batch.
    learner = ipd_algo.learner_group._learner
    ours = learner._learner_connector(rl_module=learner.module, batch={}, episodes=copy.deepcopy(episodes))
    stock = learner._learner_connector(rl_module=learner.module, batch={},
                                       episodes=[stock_episode(e) for e in episodes])
    for module_id in AGENTS:
        for column in (Columns.OBS, Columns.ACTIONS, Columns.ADVANTAGES, Columns.VALUE_TARGETS, Columns.LOSS_MASK):
            np.testing.assert_allclose(ours[module_id][column].numpy(), stock[module_id][column].numpy(), rtol=1e-6)


def test_episodes_replay_exactly_in_the_reference_game(ipd_algo):
    episodes = ipd_algo.env_runner.sample(explore=True)
    for ep in episodes[:4]:
        env = IPD()
        obs, _ = env.reset()
        for t in range(STEPS):
            for a in AGENTS:
                np.testing.assert_array_equal(ep.agent_episodes[a].get_observations(t), obs[a])
            actions = {a: int(ep.agent_episodes[a].get_actions(t)) for a in AGENTS}
            obs, rewards, *_ = env.step(actions)
            for a in AGENTS:
                assert ep.agent_episodes[a].get_rewards(t) == rewards[a]


def test_step_counts_and_game_metrics_are_logged(ipd_algo):
    runner = ipd_algo.env_runner
    runner.get_metrics()  # drop what earlier samples logged
    episodes = runner.sample(num_timesteps=2 * GAMES * STEPS, explore=True)
    assert len(episodes) == 2 * GAMES
    metrics = runner.get_metrics()
    assert metrics[NUM_ENV_STEPS_SAMPLED] == 2 * GAMES * STEPS
    actions = np.stack([[ep.agent_episodes[a].get_actions() for a in AGENTS] for ep in episodes]).transpose(0, 2, 1)
    rewards = np.stack([[ep.agent_episodes[a].get_rewards() for a in AGENTS] for ep in episodes]).transpose(0, 2, 1)
    # logged once per round of games: the mean of the two rounds' values
    expected = [ipd_metrics(actions[:GAMES], rewards[:GAMES]), ipd_metrics(actions[GAMES:], rewards[GAMES:])]
    for a in AGENTS:
        for name in ("cooperation_rate", "reward_per_step", "return"):
            want = (expected[0][a][name] + expected[1][a][name]) / 2
            assert float(metrics[GAME_METRICS][a][name]) == pytest.approx(want)


def test_greedy_sampling_is_deterministic(ipd_algo):
    episodes = ipd_algo.env_runner.sample(num_episodes=8, explore=False)
    assert len(episodes) == 8
    first = np.stack([ep.agent_episodes["player_0"].get_actions() for ep in episodes])
    assert (first == first[0]).all()


def test_config_checks(ipd_algo):
    config = naive_ppo_config("ipd", ["naive", "naive"], "small")
    validate_config(config)
    config.env_runners(env_to_module_connector=lambda env, spaces, device: FlattenObservations())
    with pytest.raises(ValueError, match="env_to_module_connector"):
        validate_config(config)
    other = naive_ppo_config("ipd", ["naive", "naive"], "small").environment("CartPole-v1")
    with pytest.raises(ValueError, match="unknown env 'CartPole-v1'"):
        validate_config(other)
    assert isinstance(ipd_algo.env_runner, BatchedGameEnvRunner)
