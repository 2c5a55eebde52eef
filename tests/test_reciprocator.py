"""The Reciprocator on RLlib: the reward-influence connector, the official PPO targets, the algorithm."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from pettingzoo import ParallelEnv
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets
from ray.tune.registry import register_env

from envs.games.ipd import IPD, PAYOFFS
from rllib_ext.algorithms.naive_ppo import naive_ppo_config
from rllib_ext.algorithms.players import policy_mapping_fn
from rllib_ext.algorithms.reciprocator.influence import MatrixInfluence
from rllib_ext.algorithms.reciprocator.presets import reciprocator_config
from rllib_ext.algorithms.reciprocator.reciprocator import Reciprocator, ReciprocatorConfig
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
    np.testing.assert_allclose(out[:3], (returns[:3] - 2.0) / (np.std([1.0, 2.0, 3.0], ddof=1) + 1e-5))
    scaled = normalized_returns(returns, mask, center=False)  # the official IPD targets
    np.testing.assert_allclose(scaled[:3], returns[:3] / (np.std([1.0, 2.0, 3.0], ddof=1) + 1e-5))


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
    with pytest.raises(ValueError, match="normalize_returns=True and use_kl_loss=False"):
        ReciprocatorConfig().training(normalize_returns=False).validate()
    # The batch is one episode of every game, split across the learners, unless set by hand.
    config = ReciprocatorConfig().environment("ipd", env_config={"num_steps": 16}).learners(num_learners=2)
    config.validate()
    assert (config.train_batch_size_per_learner, config.minibatch_size, config.num_env_runners) == (64 * 16 // 2,) * 2 + (0,)
    config = ReciprocatorConfig().training(train_batch_size_per_learner=640)
    config.validate()
    assert config.minibatch_size == 640


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


def test_two_data_parallel_learners_shape_rewards_with_one_estimator(ray_session):
    """``num_learners=2`` with a Reciprocator: the first learner's estimator sees each iteration's whole joint
    batch before RLlib splits it, so the reciprocal rewards are one learner's on the same batch; it trains."""
    from rllib_ext.algorithms.registry import build_config

    algos = {n: build_config("reciprocator", "ipd", ["reciprocator", "naive"], "small",
                             ["num_envs_per_env_runner=32", f"num_learners={n}"], 0).build_algo() for n in (0, 2)}
    try:
        for _ in range(2):  # the second batch is shaped with what the estimator kept from the first
            episodes = algos[0].env_runner.sample(num_episodes=32, explore=True)
            extrinsic = np.stack([ep.agent_episodes["player_0"].get_rewards() for ep in episodes])
            shaped = {}
            for n, algo in algos.items():
                copies = copy.deepcopy(episodes)
                algo.shape_rewards(copies)
                shaped[n] = np.stack([ep.agent_episodes["player_0"].get_rewards() for ep in copies])
                naive = np.stack([ep.agent_episodes["player_1"].get_rewards() for ep in copies])
                np.testing.assert_array_equal(naive, [ep.agent_episodes["player_1"].get_rewards() for ep in episodes])
            np.testing.assert_array_equal(shaped[2], shaped[0])
            assert np.abs(shaped[0] - extrinsic).max() > 0.1
        estimators = [algo.get_state()["influence_estimator"] for algo in algos.values()]
        np.testing.assert_array_equal(estimators[0]["estimator"]["p_defect"], estimators[1]["estimator"]["p_defect"])
        result = algos[2].train()["learners"]
        assert np.isfinite(result["player_0"]["reciprocal_reward"]) and np.isfinite(result["player_1"]["policy_loss"])
        assert algos[2].get_state()["influence_estimator"]["num_updates"] == 3
    finally:
        for algo in algos.values():
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


def _reference_update(module, episodes, aid, *, gamma, lr, epochs, clip, entropy_coeff, vf_coeff=0.5, center=True):
    """The official ``PPO.update`` (``src/agents/ppo.py``) written out by hand: discounted returns inside each
    episode, standardised over the batch (torch's sample std, + 1e-5), then ``epochs`` Adam steps over the whole
    batch with ``A = G_norm - V(s)`` recomputed from the current critic at every step."""
    sa = [ep.agent_episodes[aid] for ep in episodes]
    obs = torch.tensor(np.stack([e.get_observations()[:-1] for e in sa]), dtype=torch.float32)  # [B, T, D]
    actions = torch.tensor(np.stack([e.get_actions() for e in sa]), dtype=torch.int64)
    old_logp = torch.tensor(np.stack([e.get_extra_model_outputs(Columns.ACTION_LOGP) for e in sa]))
    rewards = np.stack([e.get_rewards() for e in sa]).astype(np.float64)
    returns, running = np.zeros_like(rewards), np.zeros(len(sa))
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    g = torch.tensor(returns, dtype=torch.float32)
    g = (g - (g.mean() if center else 0.0)) / (g.std() + 1e-5)
    recurrent = module.is_stateful()
    B, T = actions.shape
    if recurrent:  # whole episodes from a zero state
        zeros = {k: torch.zeros(B, len(v)) for k, v in module.get_initial_state().items()}
        batch = {Columns.OBS: obs, Columns.STATE_IN: zeros}
    else:
        batch = {Columns.OBS: obs.reshape(B * T, -1)}
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    for _ in range(epochs):
        out = module.forward_train(batch)
        dist = torch.distributions.Categorical(logits=out[Columns.ACTION_DIST_INPUTS].reshape(B, T, -1))
        values = module.compute_values(batch, embeddings=out.get(Columns.EMBEDDINGS)).reshape(B, T)
        ratio = torch.exp(dist.log_prob(actions) - old_logp)
        advantages = g - values.detach()
        surrogate = torch.min(ratio * advantages, torch.clamp(ratio, 1 - clip, 1 + clip) * advantages)
        loss = (-surrogate).mean() + vf_coeff * ((values - g) ** 2).mean() - entropy_coeff * dist.entropy().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {name: p.detach().clone() for name, p in module.named_parameters()}


@pytest.mark.parametrize("env, model, epochs", [("ipd", "mlp", 10), ("coin_game", "conv_gru", 4)])
def test_the_official_update_equals_a_hand_written_reference(ray_session, env, model, epochs):
    """Same weights and batch in, same weights out after K full-batch Adam steps; RLlib's own update
    (``ppo_update="rllib"``, advantages fixed before the epochs) lands elsewhere."""
    games = 16
    results = {}
    for update in ("official", "rllib"):
        config = reciprocator_config(env, ["naive", "naive"], "small", seed=5)
        config.env_runners(num_envs_per_env_runner=games).training(
            policy_model=model, ppo_update=update, num_epochs=epochs, warmup_episodes=0,
            train_batch_size_per_learner=games * 32, minibatch_size=games * 32)
        algo = config.build_algo()
        try:
            learner = algo.learner_group._learner
            episodes = algo.env_runner.sample(num_episodes=games, explore=True)
            before = copy.deepcopy(learner.module["player_0"].unwrapped())
            learner.update(episodes=episodes, num_epochs=epochs, minibatch_size=games * 32,
                           shuffle_batch_per_epoch=True)
            results[update] = dict(learner.module["player_0"].unwrapped().named_parameters())
            if update == "official":
                start = {name: p.detach().clone() for name, p in before.named_parameters()}
                reference = _reference_update(before, episodes, "player_0", gamma=config.gamma, lr=config.lr,
                                              epochs=epochs, clip=config.clip_param,
                                              entropy_coeff=config.entropy_coeff)
        finally:
            algo.stop()
    moved, gaps = [], []
    for name, ref in reference.items():
        torch.testing.assert_close(results["official"][name], ref, rtol=1e-5, atol=2e-6, msg=name)
        moved.append((ref - start[name]).abs().max().item())
        gaps.append((results["rllib"][name] - ref).abs().max().item())
    assert max(moved) > 1e-2 and max(gaps) > 1e-4, (moved, gaps)  # the frozen advantages change the update


class StagHunt(ParallelEnv):
    """An iterated stag hunt written for the test: 2 players, ``num_steps`` rounds; action 0 hunts the stag
    (4 each if both do, 0 alone), 1 the hare (3, or 2 each if both do). A player observes the previous joint
    action one-hot (index 4 at the start)."""

    metadata = {"name": "stag_hunt_v0"}
    possible_agents = ["player_0", "player_1"]
    PAYOFFS = {(0, 0): (4.0, 4.0), (0, 1): (0.0, 3.0), (1, 0): (3.0, 0.0), (1, 1): (2.0, 2.0)}

    def __init__(self, num_steps=8):
        self.num_steps = num_steps

    def observation_space(self, agent):
        return gym.spaces.Box(0.0, 1.0, (5,), np.float32)

    def action_space(self, agent):
        return gym.spaces.Discrete(2)

    def _obs(self, index):
        obs = np.zeros(5, np.float32)
        obs[index] = 1.0
        return {a: obs.copy() for a in self.possible_agents}

    def reset(self, seed=None, options=None):
        self.agents, self.t = list(self.possible_agents), 0
        return self._obs(4), {a: {} for a in self.agents}

    def step(self, actions):
        a0, a1 = int(actions["player_0"]), int(actions["player_1"])
        self.t += 1
        done = self.t >= self.num_steps
        rewards = dict(zip(self.possible_agents, self.PAYOFFS[a0, a1]))
        obs, flags = self._obs(2 * a0 + a1), {a: done for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, flags, {a: False for a in flags}, {a: {} for a in flags}


def test_reciprocator_on_a_users_pettingzoo_game(ray_session):
    """A PettingZoo game registered with ``register_env``: RLlib's own env runner, the learned reward +
    future-return estimator; the IPD estimator refuses its observations, and it needs its episode length."""
    register_env("stag_hunt_test", lambda env_config: ParallelPettingZooEnv(StagHunt(**env_config)))
    with pytest.raises(ValueError, match="episode_length"):
        ReciprocatorConfig().environment("stag_hunt_test").validate()
    with pytest.raises(ValueError, match="matrix"):
        ReciprocatorConfig().environment("stag_hunt_test").training(episode_length=8,
                                                                    influence_estimator="matrix").validate()
    config = (ReciprocatorConfig().environment("stag_hunt_test").env_runners(num_envs_per_env_runner=8)
              .training(agent_types=["reciprocator", "naive"], episode_length=8, num_epochs=2,
                        estimator_config=dict(hidden=16, epochs=2, minibatch_size=32, num_minibatches=2))
              .debugging(seed=0))
    algo = config.build_algo()
    try:
        assert type(algo.env_runner) is MultiAgentEnvRunner and config.resolved_influence_estimator() == "reward_future"
        for _ in range(2):
            result = algo.train()
        learners = result["learners"]
        assert result["env_runners"]["num_env_steps_sampled"] == 8 * 8
        assert np.isfinite(learners["player_0"]["reciprocal_reward"]) and learners["player_0"]["influence_in"] != 0
        assert np.isfinite(learners["influence_estimator"]["reward_loss_last_epoch"])
        assert np.isfinite(learners["player_1"]["policy_loss"])
        episodes = algo.env_runner.sample(num_episodes=2, explore=True)
    finally:
        algo.stop()
    obs = np.stack([np.stack([ep.agent_episodes[a].get_observations()[:-1] for a in AGENTS], 1) for ep in episodes])
    actions = np.stack([np.stack([ep.agent_episodes[a].get_actions() for a in AGENTS], 1) for ep in episodes])
    with pytest.raises(ValueError, match="IPD observations"):
        MatrixInfluence().observe(obs, actions, actions.astype(np.float32))
    ipd_like = np.zeros((*actions.shape, 2), np.float32)
    ipd_like[..., 0] = 0.5  # two numbers, but not a joint action
    with pytest.raises(ValueError, match="IPD observations"):
        MatrixInfluence().influence(ipd_like, actions, actions.astype(np.float32))


def test_default_config_trains_on_two_cpus_and_game_metrics_do_not_depend_on_the_runner(ray_session):
    """``ReciprocatorConfig()`` with no settings: IPD, 64 games on the local env runner, one episode of every
    game per batch; it asks Ray for one CPU and trains. RLlib's own env runner logs the same game metrics.
    Without a Reciprocator there is no warm-up."""
    config = ReciprocatorConfig()
    assert Reciprocator.default_resource_request(config).required_resources.get("CPU", 0) <= 2
    keys = {}
    for runner in (None, MultiAgentEnvRunner):
        algo = ReciprocatorConfig().env_runners(env_runner_cls=runner).build_algo()
        try:
            result = algo.train()
            assert result["env_runners"]["num_env_steps_sampled"] == 64 * 32
            assert np.isfinite(result["learners"]["player_0"]["reciprocal_reward"])
            game = result["env_runners"]["game"]
            keys[runner] = {(aid, name) for aid, values in game.items() for name in values}
            assert 0 < game["player_0"]["cooperation_rate"] < 1
        finally:
            algo.stop()
    assert keys[None] == keys[MultiAgentEnvRunner] and ("player_1", "reward_per_step") in keys[None]
    algo = ReciprocatorConfig().training(agent_types=["naive", "naive"], warmup_episodes=2).build_algo()
    try:  # warm-up only with a Reciprocator (official CoinsTrainer): naive learners update at once
        assert np.isfinite(algo.train()["learners"]["player_0"]["policy_loss"])
    finally:
        algo.stop()
