"""The Reciprocator on RLlib: the reward-influence connector, the official PPO targets, the algorithm."""

import copy

import numpy as np
import pytest
import torch
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets

from envs.games.ipd import IPD, PAYOFFS
from rllib_ext.algorithms.naive_ppo import naive_ppo_config
from rllib_ext.algorithms.players import policy_mapping_fn
from rllib_ext.algorithms.reciprocator.influence import MatrixInfluence
from rllib_ext.algorithms.reciprocator.presets import reciprocator_config
from rllib_ext.algorithms.reciprocator.reciprocator import ReciprocatorConfig
from rllib_ext.algorithms.reciprocator.reward_influence_connector import ReciprocalRewardConnector
from rllib_ext.connectors.learner.normalized_monte_carlo_returns import discounted_returns, normalized_returns

AGENTS = ("player_0", "player_1")
# (C, D), (D, D), (C, C): with P(defect) = 0.5 in every state the hand-worked influences are
# vi_in  = VI(player_1 -> player_0) = r0 - mean over player 1's actions = [-1, -1, +1]
# vi_out = VI(player_0 -> player_1) = r1 - mean over player 0's actions = [+1, -1, +1]
JOINT = [(0, 1), (1, 1), (0, 0)]


def ipd_episode(joint=JOINT) -> MultiAgentEpisode:
    """A hand-built IPD episode through RLlib's own episode API (extrinsic rewards from the payoff table)."""
    ep = MultiAgentEpisode(agent_to_module_mapping_fn=policy_mapping_fn)
    prev = np.array([-1.0, 0.0], np.float32)
    ep.add_env_reset(observations={a: prev for a in AGENTS})
    for t, (a0, a1) in enumerate(joint):
        obs = np.array([a0, a1], np.float32)
        done = t == len(joint) - 1
        ep.add_env_step(
            observations={a: obs for a in AGENTS},
            actions={"player_0": a0, "player_1": a1},
            rewards={a: float(PAYOFFS[a0, a1, i]) for i, a in enumerate(AGENTS)},
            terminateds={"__all__": done, **{a: done for a in AGENTS}},
        )
    return ep.to_numpy()


def half_half_estimator() -> MatrixInfluence:
    estimator = MatrixInfluence(refresh_period=3)
    # P(defect) = 0.5 everywhere; one batch counted already, so observing this one does not refresh.
    estimator.set_state({"p_defect": np.full((2, 5), 0.5), "num_observed": 1, "buffer": []})
    return estimator


@pytest.mark.parametrize(
    "kind, weight, shaped_p0",
    [
        # one-step grudge: rr_t = vi_in[t-1] * vi_out[t], rr_0 = 0 -> [0, 1, -1]; weight 5
        ("one_step_grudge", 5.0, [-3 + 0, -2 + 5, -1 - 5]),
        # petty_payoff, gamma 0.9: b = [0, -2, -1.8], rr = b * vi_out = [0, 2, -1.8]; weight 1
        ("petty_payoff", 1.0, [-3 + 0, -2 + 2, -1 - 1.8]),
    ],
)
def test_connector_on_a_hand_built_episode(kind, weight, shaped_p0):
    connector = ReciprocalRewardConnector(
        reciprocators={"player_0": "player_0"}, estimator=half_half_estimator(), gamma=0.9, kind=kind,
        weight=(weight, weight, 0.0), agent_ids=AGENTS,
    )
    episode = ipd_episode()
    connector(rl_module=None, batch={}, episodes=[episode], shared_data={})
    np.testing.assert_allclose(episode.agent_episodes["player_0"].get_rewards(), shaped_p0, atol=1e-6)
    np.testing.assert_allclose(episode.agent_episodes["player_1"].get_rewards(), [0, -2, -1])  # naive: untouched


def test_two_reciprocators_read_extrinsic_rewards_only():
    """Both players' shaping comes from the extrinsic episode (the official IPD self-play aliasing bug)."""
    make = lambda: ReciprocalRewardConnector(  # noqa: E731
        reciprocators={a: a for a in AGENTS}, estimator=half_half_estimator(), gamma=0.9,
        kind="one_step_grudge", weight=(5.0, 5.0, 0.0), agent_ids=AGENTS)
    both = ipd_episode()
    make()(rl_module=None, batch={}, episodes=[both], shared_data={})
    # player 1's view: vi_in = VI(0 -> 1) = [+1, -1, +1], vi_out = VI(1 -> 0) = [-1, -1, +1]
    # -> rr = [0, (+1)(-1), (-1)(+1)] = [0, -1, -1]
    np.testing.assert_allclose(both.agent_episodes["player_1"].get_rewards(), [0, -2 - 5, -1 - 5], atol=1e-6)
    np.testing.assert_allclose(both.agent_episodes["player_0"].get_rewards(), [-3, 3, -6], atol=1e-6)


def test_whole_episodes_are_required():
    episode = ipd_episode()
    chunk = episode.slice(slice(1, 3))
    connector = ReciprocalRewardConnector(reciprocators={"player_0": "player_0"}, estimator=half_half_estimator(),
                                          gamma=0.9, kind="one_step_grudge", agent_ids=AGENTS)
    with pytest.raises(ValueError, match="whole episodes"):
        connector(rl_module=None, batch={}, episodes=[chunk], shared_data={})


def test_normalized_returns():
    returns = np.array([1.0, 2.0, 3.0, 100.0])
    mask = np.array([True, True, True, False])
    out = normalized_returns(returns, mask)
    np.testing.assert_allclose(out[:3], (returns[:3] - 2.0) / (np.std([1.0, 2.0, 3.0]) + 1e-5))
    scaled = normalized_returns(returns, mask, center=False)  # the official IPD targets
    np.testing.assert_allclose(scaled[:3], returns[:3] / (np.std([1.0, 2.0, 3.0]) + 1e-5))


def test_discounted_returns_equal_rllibs_loop_to_the_bit():
    flags = lambda *ends: np.isin(np.arange(6), ends)  # noqa: E731
    np.testing.assert_allclose(discounted_returns(np.array([1.0, 2.0, 3.0], np.float32), flags(2)[:3],
                                                  flags()[:3], 0.5, [3]), [2.75, 3.5, 3.0])
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=6).astype(np.float32)
    cases = [  # (terminateds, truncateds, episode lengths)
        (flags(2, 5), flags(), [3, 3]),  # the fast path
        (flags(1, 4), flags(2, 5), [3, 3]),  # PPO's artificial last step, truncated
        (flags(1, 5), flags(), [2, 4]),  # lengths differ: RLlib's loop
        (flags(2), flags(), [3, 3]),  # the recursion runs across the end of a row: RLlib's loop
    ]
    for terminateds, truncateds, lens in cases:
        expected = compute_value_targets(values=np.zeros(6, np.float32), rewards=rewards, terminateds=terminateds,
                                         truncateds=truncateds, gamma=0.96, lambda_=1.0)
        np.testing.assert_array_equal(discounted_returns(rewards, terminateds, truncateds, 0.96, lens), expected)


def test_connector_in_a_users_plain_ppo_pipeline(ray_session):
    """The connector alone, plugged into RLlib's PPO: PPO's batch carries the shaped rewards."""
    config = naive_ppo_config("ipd", ["naive", "naive"], "small", seed=0)
    config.env_runners(num_envs_per_env_runner=8).training(
        train_batch_size_per_learner=8 * 32, minibatch_size=8 * 32, num_epochs=1)
    config.learners(learner_connector=lambda obs_space, act_space: ReciprocalRewardConnector(
        reciprocators={"player_0": "player_0"}, estimator=half_half_estimator(), gamma=0.9,
        kind="one_step_grudge", weight=(5.0, 5.0, 0.0), agent_ids=AGENTS))
    algo = config.build_algo()
    try:
        result = algo.train()
        assert np.isfinite(result["learners"]["player_0"]["reciprocal_reward"])
        learner = algo.learner_group._learner
        episode = ipd_episode()
        batch = learner._learner_connector(rl_module=learner.module, batch={}, episodes=[copy.deepcopy(episode)])
        rewards = batch["player_0"][Columns.REWARDS].numpy()
        mask = batch["player_0"][Columns.LOSS_MASK].numpy().astype(bool)
        np.testing.assert_allclose(rewards[mask], [-3, 3, -6], atol=1e-6)  # after PPO's artificial step
        np.testing.assert_allclose(batch["player_1"][Columns.REWARDS].numpy()[mask], [0, -2, -1])
    finally:
        algo.stop()


def test_config_validation():
    with pytest.raises(ValueError, match="unknown type"):
        ReciprocatorConfig().environment("ipd").training(agent_types=["reciprocator", "tourist"]).validate()
    with pytest.raises(ValueError, match="lists 3 players"):
        ReciprocatorConfig().environment("ipd").training(agent_types=["naive"] * 3).validate()
    with pytest.raises(ValueError, match="IPD strategies"):
        ReciprocatorConfig().environment("coin_game").training(agent_types=["naive", "tit_for_tat"]).validate()
    with pytest.raises(ValueError, match="reciprocal_reward_type"):
        ReciprocatorConfig().environment("ipd").training(reciprocal_reward_type="spite").validate()
    with pytest.raises(ValueError, match="at least one player must learn"):
        ReciprocatorConfig().environment("ipd").training(agent_types=["random", "always_defect"]).validate()
    with pytest.raises(ValueError, match="policy_activation"):
        ReciprocatorConfig().environment("ipd").training(policy_activation="gelu").validate()


def player_specs(config):
    """The players' module specs RLlib builds from ``config`` (IPD spaces)."""
    game = IPD()
    spaces = {aid: (game.observation_space(aid), game.action_space(aid)) for aid in game.possible_agents}
    return config.get_multi_rl_module_spec(spaces=spaces).rl_module_specs


def test_a_module_spec_set_by_the_user_is_kept():
    """``.rl_module(rl_module_spec=...)`` wins over the specs derived from ``agent_types``: a multi-agent spec
    for the ids it names, a single spec for every learner; fixed strategies keep their seats otherwise."""
    def config(spec=None):
        c = ReciprocatorConfig().environment("ipd").training(agent_types=["reciprocator", "always_defect"])
        return c if spec is None else c.rl_module(rl_module_spec=spec).training(policy_hiddens=[3, 3])

    derived = player_specs(config())
    assert derived["player_0"].model_config["fcnet_hiddens"] == [2, 2]
    assert derived["player_1"].module_class.__name__ == "AlwaysDefect"
    mine = RLModuleSpec(model_config={"fcnet_hiddens": [7]})
    for spec in (MultiRLModuleSpec(rl_module_specs={"player_0": mine}), mine):
        specs = player_specs(config(spec))
        assert specs["player_0"].model_config["fcnet_hiddens"] == [7]
        assert specs["player_1"].module_class.__name__ == "AlwaysDefect"
    specs = player_specs(config(MultiRLModuleSpec(rl_module_specs={"player_1": mine})))
    assert specs["player_1"].model_config["fcnet_hiddens"] == [7]
    assert specs["player_0"].model_config["fcnet_hiddens"] == [3, 3]


def test_policy_settings_set_as_attributes_reach_the_players_modules():
    """``--set`` and Tune set attributes, not ``training()`` arguments: validate() re-derives the specs."""
    from rllib_ext.algorithms.registry import build_config

    config = build_config("reciprocator", "ipd", ["reciprocator", "always_defect"], "paper",
                          ["policy_hiddens=[3, 3]", "policy_activation=relu", "agent_types=['naive', 'random']"], 0)
    specs = player_specs(config)
    assert specs["player_0"].model_config["fcnet_hiddens"] == [3, 3]
    assert specs["player_0"].model_config["fcnet_activation"] == "relu"
    assert specs["player_1"].module_class.__name__ == "RandomStrategy"
    assert config.policies_to_train == ["player_0"]


def test_two_data_parallel_learners_train_naive_players_with_the_official_targets(ray_session):
    """``num_learners=2``: the modules reach the learner connectors wrapped for DDP; the official targets
    (``NormalizedMonteCarloReturns``) and the bulk batch unwrap them, and DDP keeps both learners equal."""
    from rllib_ext.algorithms.registry import build_config

    config = build_config("reciprocator", "ipd", ["naive", "naive"], "small",
                          ["num_envs_per_env_runner=32", "num_learners=2"], 0)
    algo = config.build_algo()
    try:
        for _ in range(2):
            learners = algo.train()["learners"]
        assert all(np.isfinite(learners[aid]["policy_loss"]) and learners[aid]["vf_loss"] > 0 for aid in AGENTS)
        weights = algo.learner_group.foreach_learner(lambda learner: learner.get_state(components="rl_module"))
        first, second = (r.get()["rl_module"] for r in weights)
        for aid in AGENTS:
            for name, value in first[aid].items():
                np.testing.assert_array_equal(value, second[aid][name], err_msg=f"{aid} {name}")
    finally:
        algo.stop()


def test_fixed_strategies_and_checkpoint_round_trip(ray_session, tmp_path):
    config = reciprocator_config("ipd", ["reciprocator", "tit_for_tat"], "small", seed=1)
    config.env_runners(num_envs_per_env_runner=16).training(
        train_batch_size_per_learner=16 * 32, minibatch_size=16 * 32, num_epochs=1)
    algo = config.build_algo()
    try:
        algo.train()
        episodes = algo.env_runner.sample(num_episodes=4, explore=True)
        for ep in episodes:  # tit-for-tat: cooperate first, then copy player 0's last move
            a0 = ep.agent_episodes["player_0"].get_actions()
            a1 = ep.agent_episodes["player_1"].get_actions()
            assert a1[0] == 0 and (a1[1:] == a0[:-1]).all()
        algo.save_to_path(str(tmp_path / "ckpt"))
        estimator_before = algo.get_state()["influence_estimator"]
    finally:
        algo.stop()
    restored = Algorithm.from_checkpoint(str(tmp_path / "ckpt"))
    try:
        after = restored.get_state()["influence_estimator"]
        np.testing.assert_array_equal(after["estimator"]["p_defect"], estimator_before["estimator"]["p_defect"])
        assert after["num_updates"] == estimator_before["num_updates"] == 1
        restored.train()
        assert restored.get_state()["influence_estimator"]["num_updates"] == 2
    finally:
        restored.stop()


def test_relu_ipd_policies_can_be_blind_to_the_state():
    """The mechanism behind the official IPD collapse (docs/results.md): freshly built ``[2, 2]`` ReLU policies often
    give the same action logits in all five IPD states (dead units), tanh ones never do. Measured: 45 of 200."""
    observations = torch.tensor([[-1, 0], [0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
    blind = {}
    for activation in ("relu", "tanh"):
        config = reciprocator_config("ipd", ["naive", "naive"], "paper", seed=0).training(policy_activation=activation)
        spec = player_specs(config)["player_0"]
        blind[activation] = 0
        for seed in range(200):
            torch.manual_seed(seed)
            with torch.no_grad():
                logits = spec.build().forward_inference({Columns.OBS: observations})[Columns.ACTION_DIST_INPUTS]
            blind[activation] += bool((logits - logits[0]).abs().max() < 1e-6)
    assert blind["tanh"] == 0 and 20 <= blind["relu"] <= 80, blind


@pytest.mark.parametrize("env, model", [("ipd", "mlp"), ("coin_game", "conv_gru")])
def test_torch_compile_learner_compiles_the_policies_and_matches_eager(ray_session, env, model):
    """``torch_compile_learner=True`` compiles each learning player's policy (RLlib 2.60 alone compiles
    nothing in a MultiRLModule), and one compiled iteration lands on the eager iteration's parameters."""
    params = []
    for compiled in (False, True):
        config = reciprocator_config(env, ["reciprocator", "naive"], "small", seed=3)
        config.env_runners(num_envs_per_env_runner=8).training(
            policy_model=model, train_batch_size_per_learner=8 * 32, minibatch_size=8 * 32, num_epochs=2,
            warmup_episodes=0).framework(torch_compile_learner=compiled)
        algo = config.build_algo()
        try:
            modules = algo.learner_group._learner.module
            for player in AGENTS:
                assert hasattr(modules[player]._forward_train, "_torchdynamo_orig_callable") is compiled
            algo.train()
            params.append({p: dict(modules[p].named_parameters()) for p in AGENTS})
        finally:
            algo.stop()
    for player in AGENTS:
        for name, eager in params[0][player].items():
            torch.testing.assert_close(params[1][player][name], eager, rtol=1e-4, atol=1e-5, msg=f"{player} {name}")
