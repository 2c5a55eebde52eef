"""HIQL, GCIQL, QRL and CRL: the official parameter counts, losses against numpy, gradient paths, target updates,
random actor goals and the per-dataset presets of the official ``hyperparameters.sh``.

Network outputs are checked against the official JAX agents with transferred weights by
``bench/official_parity.py`` (it needs a JAX environment, so it is not a test); here the loss formulas are checked
on hand-made network outputs and the networks by their structure.
"""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

from rllib_ext.algorithms.gcrl import CRLConfig, GCBCConfig, GCIQLConfig, GCIVLConfig, HIQLConfig, QRLConfig
from rllib_ext.algorithms.gcrl.common.goal_sampler import MASKS, GoalSampler
from rllib_ext.algorithms.gcrl.crl import contrastive_loss
from rllib_ext.algorithms.gcrl.qrl import iqe_components
from saw_data import random_walks
from test_saw import build_module, num_params

NEW_METHODS = (HIQLConfig, GCIQLConfig, QRLConfig, CRLConfig)
SMALL = dict(actor_hidden_dims=(16,), value_hidden_dims=(16,))


@pytest.fixture(scope="module")
def walks():
    return random_walks([301, 120, 41, 2] * 3)


def sampler(walks, **probs):
    obs, actions, terminals = walks
    return GoalSampler(obs, actions, terminals, gamma=0.99, subgoal_steps=25, value_p_curgoal=0.2,
                       value_p_trajgoal=0.5, value_p_randomgoal=0.3, seed=0, **probs)


def tensor_batch(walks, batch_size=32):
    return {k: torch.as_tensor(v) for k, v in sampler(walks).sample(batch_size).items()}


# --- the official parameter counts (brief ogbench-suite.md 5.4, counted on the official agents) -----------


@pytest.mark.parametrize("obs_dim, act_dim, parts", [
    (2, 2, dict(hiql=(536_074, 1_071_106, 1_071_106, 532_994, 533_002), gciql=(531_457, 1_064_962, 1_064_962, 528_898),
                qrl=(792_577, 1_054_720, 528_898, 1), crl=(3_172_352, 528_898))),
    (29, 8, dict(hiql=(563_722, 1_098_754, 1_098_754, 549_896, 560_650), gciql=(559_105, 1_126_402, 1_126_402, 559_624),
                 qrl=(806_401, 1_057_792, 559_624, 1), crl=(3_233_792, 559_624))),
], ids=["pointmaze", "antmaze"])  # fmt: skip
def test_parameter_counts_match_the_official_agents(obs_dim, act_dim, parts):
    hiql = build_module(obs_dim, act_dim, HIQLConfig)
    got = (hiql.value.inputs, hiql.value.heads, hiql.target_value_heads, hiql.actor.low, hiql.actor.high)
    assert tuple(num_params(p) for p in got) == parts["hiql"]
    gciql = build_module(obs_dim, act_dim, GCIQLConfig)
    got = (gciql.value, gciql.critic, gciql.target_critic, gciql.actor)
    assert tuple(num_params(p) for p in got) == parts["gciql"]
    qrl = build_module(obs_dim, act_dim, QRLConfig)
    assert (num_params(qrl.value), num_params(qrl.dynamics), num_params(qrl.actor), qrl.log_lambda.numel()) == parts["qrl"]
    crl = build_module(obs_dim, act_dim, CRLConfig)
    assert (num_params(crl.critic), num_params(crl.actor)) == parts["crl"]
    for module, total in ((hiql, 3_744_282), (gciql, 3_190_279), (qrl, 2_376_196), (crl, 3_701_250)):
        if obs_dim == 2:
            assert num_params(module) == total


# --- losses against numpy on hand-made network outputs -----------------------------------------------------


def build_learner(config_class, **settings):
    config = config_class().training(**SMALL, **settings)
    spaces = {DEFAULT_MODULE_ID: (gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), gym.spaces.Box(-1, 1, (2,)))}
    return config, config.build_learner(spaces=spaces)


def losses_of(config_class, batch, fwd_out, **settings):
    config, learner = build_learner(config_class, **settings)
    tensors = lambda d: {k: torch.tensor(np.asarray(v, np.float32)) for k, v in d.items()}  # noqa: E731
    total = learner.compute_loss_for_module(module_id=DEFAULT_MODULE_ID, config=config, batch=tensors(batch),
                                            fwd_out=tensors(fwd_out))
    terms = {k: float(learner.metrics.peek((DEFAULT_MODULE_ID, k))) for k in learner.metrics.peek(DEFAULT_MODULE_ID)}
    return float(total), terms


def log_prob(actions, means):
    return -0.5 * ((actions - means) ** 2).sum(-1) - 0.5 * actions.shape[-1] * math.log(2 * math.pi)


ACTIONS = np.array([[0.5, -0.2], [0.1, 0.9], [-0.7, 0.3]])
MEANS = np.array([[0.4, 0.0], [0.3, 0.5], [-0.2, 0.1]])
REWARDS, MASKS_ = np.array([-1.0, 0.0, -1.0]), np.array([1.0, 0.0, 1.0])


def test_hiql_losses():
    values = np.array([[-2.0, -0.5, -9.0], [-2.5, -0.4, -8.0]])
    target_values = np.array([[-2.2, -0.6, -8.5], [-2.4, -0.2, -8.1]])
    target_next = np.array([[-1.0, -0.1, -9.5], [-1.5, 0.0, -7.0]])
    low_adv, high_adv = np.array([0.5, -1.0, 3.0]), np.array([2.0, 0.1, -0.3])
    high_means, high_targets = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, -1.0]]), np.array([[0.8, 0.2], [0.0, 1.0], [0.1, -0.9]])
    total, terms = losses_of(HIQLConfig, {Columns.ACTIONS: ACTIONS, Columns.REWARDS: REWARDS, MASKS: MASKS_}, dict(
        values=values, target_values=target_values, target_next_values=target_next, low_advantages=low_adv,
        high_advantages=high_adv, high_targets=high_targets, low_means=MEANS, high_means=high_means))  # fmt: skip
    adv = REWARDS + 0.99 * MASKS_ * target_next.min(0) - target_values.mean(0)
    q = REWARDS + 0.99 * MASKS_ * target_next
    value_loss = sum(np.mean(np.where(adv >= 0, 0.7, 0.3) * (q[j] - values[j]) ** 2) for j in range(2))
    low = -np.mean(np.minimum(np.exp(3 * low_adv), 100) * log_prob(ACTIONS, MEANS))  # exp(9) is clipped at 100
    high = -np.mean(np.minimum(np.exp(3 * high_adv), 100) * log_prob(high_targets, high_means))
    assert terms["value_loss"] == pytest.approx(value_loss, rel=1e-6)
    assert terms["low_actor_loss"] == pytest.approx(low, rel=1e-6)
    assert terms["high_actor_loss"] == pytest.approx(high, rel=1e-6)
    assert total == pytest.approx(value_loss + low + high, rel=1e-6)


def test_gciql_losses():
    values, next_values = np.array([-2.0, -0.5, -4.0]), np.array([-1.0, -0.2, -3.0])
    q, target_q = np.array([[-1.5, -0.3, -3.5], [-1.8, 0.1, -4.2]]), np.array([-1.9, -0.4, -3.0])
    actor_q = np.array([-1.0, -2.0, -0.5])
    total, terms = losses_of(GCIQLConfig, {Columns.ACTIONS: ACTIONS, Columns.REWARDS: REWARDS, MASKS: MASKS_}, dict(
        actor_means=MEANS, values=values, q=q, target_q=target_q, next_values=next_values, actor_q=actor_q),
        alpha=0.3)  # fmt: skip
    u = target_q - values  # plain IQL: the weight and the residual are both the target critic's
    value_loss = np.mean(np.where(u >= 0, 0.9, 0.1) * u**2)
    y = REWARDS + 0.99 * MASKS_ * next_values
    critic_loss = np.mean((q[0] - y) ** 2 + (q[1] - y) ** 2)
    q_loss = -actor_q.mean() / (np.abs(actor_q).mean() + 1e-6)
    bc_loss = -0.3 * log_prob(ACTIONS, MEANS).mean()
    for key, want in dict(value_loss=value_loss, critic_loss=critic_loss, actor_q_loss=q_loss,
                          actor_bc_loss=bc_loss).items():
        assert terms[key] == pytest.approx(want, rel=1e-6), key
    assert total == pytest.approx(value_loss + critic_loss + q_loss + bc_loss, rel=1e-6)


def test_qrl_losses_and_the_sign_of_the_dual_step():
    negative, positive = np.array([20.0, 400.0, 600.0]), np.array([0.5, 1.5, 3.0])
    dynamics, actor_q = np.array([0.2, 0.4, 1.0]), np.array([-5.0, -1.0, -3.0])
    fwd = dict(actor_means=MEANS, negative_distances=negative, positive_distances=positive,
               dynamics_distances=dynamics, actor_q=actor_q, **{"lambda": 2.0})
    total, terms = losses_of(QRLConfig, {Columns.ACTIONS: ACTIONS}, fwd, alpha=0.003, eps=0.05)
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    neg = np.mean(100 * softplus(5 - negative / 100))
    pos = np.mean(np.maximum(positive - 1, 0) ** 2)  # (0 + 0.25 + 4) / 3
    assert pos == pytest.approx(4.25 / 3)
    assert terms["value_loss"] == pytest.approx(neg + 2.0 * pos, rel=1e-6)
    assert terms["lambda_loss"] == pytest.approx(2.0 * (0.05 - pos), rel=1e-6)
    assert terms["dynamics_loss"] == pytest.approx(dynamics.mean() / 2, rel=1e-6)
    assert terms["actor_q_loss"] == pytest.approx(-actor_q.mean() / (np.abs(actor_q).mean() + 1e-6), rel=1e-6)
    assert terms["actor_bc_loss"] == pytest.approx(-0.003 * log_prob(ACTIONS, MEANS).mean(), rel=1e-6)
    # The constraint is violated (pos > eps): one step must raise lambda = exp(log_lambda).
    config, learner = build_learner(QRLConfig)
    module = learner.module[DEFAULT_MODULE_ID]
    obs, actions, terminals = random_walks([60, 60])
    far = GoalSampler(10 * obs, actions, terminals, gamma=0.99, subgoal_steps=5, value_p_curgoal=0.0,
                      value_p_trajgoal=0.0, value_p_randomgoal=1.0, seed=0).sample(32)  # one-step distances > 1
    with torch.no_grad():
        module.value.phi.out.weight.mul_(100.0)
        d_pos = module.forward_train({k: torch.as_tensor(v) for k, v in far.items()})["positive_distances"]
    assert (torch.relu(d_pos - 1) ** 2).mean() > 0.05
    learner.update(batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(far)}, env_steps=32))
    assert module.log_lambda.item() > 0


def test_crl_binary_nce_on_a_3x3_toy():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, -2.0], [-0.5, 0.3, 3.0]])
    both = np.stack([logits, logits - 1.0], axis=-1)  # two critics
    labels = np.eye(3)[..., None]
    bce = np.maximum(both, 0) - both * labels + np.log1p(np.exp(-np.abs(both)))
    assert float(contrastive_loss(torch.tensor(both))) == pytest.approx(bce.mean(), rel=1e-6)
    actor_q = np.array([1.0, -0.5, 2.0])
    total, terms = losses_of(CRLConfig, {Columns.ACTIONS: ACTIONS}, dict(actor_means=MEANS, logits=both, actor_q=actor_q),
                             alpha=0.1)  # fmt: skip
    assert terms["critic_loss"] == pytest.approx(bce.mean(), rel=1e-6)
    assert terms["actor_q_loss"] == pytest.approx(-actor_q.mean() / (np.abs(actor_q).mean() + 1e-6), rel=1e-6)
    assert total == pytest.approx(bce.mean() + terms["actor_q_loss"] - 0.1 * log_prob(ACTIONS, MEANS).mean(), rel=1e-6)
    assert terms["categorical_accuracy"] == pytest.approx(1.0)  # every row's largest mean logit is on the diagonal


def test_iqe_is_the_length_of_a_union_of_intervals():
    x = torch.tensor([[0.0, 0.0], [0.0, 3.0], [0.0, 0.5], [2.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[1.0, 2.0], [1.0, 4.0], [1.0, 2.0], [1.0, 1.0], [1.0, 1.0]])
    # [0,1]∪[0,2] = 2; [0,1]∪[3,4] = 2; [0,1]∪[0.5,2] = 2; only [0,1] counts (2 > 1 is no interval); x = y: 0
    torch.testing.assert_close(iqe_components(x, y, dim_per_component=2).squeeze(-1), torch.tensor([2.0, 2, 2, 1, 0]))
    torch.testing.assert_close(iqe_components(y, x, dim_per_component=2).squeeze(-1), torch.tensor([0.0, 0, 0, 1, 0]))
    module = build_module(2, 2, QRLConfig, **SMALL, latent_dim=16)
    s = torch.randn(5, 2)
    assert torch.all(module.value(s, s).abs() < 1e-6)  # d(s, s) = 0
    components = iqe_components(module.value.embed(s[:1]), module.value.embed(s[1:2]))  # 2 components of 8
    d = module.value(s[:1], s[1:2])
    torch.testing.assert_close(d, 0.5 * components.mean(-1) + 0.5 * components.max(-1).values)  # sigma(0) = 0.5


# --- gradient paths ------------------------------------------------------------------------------------------


OWNERS = {
    HIQLConfig: {"values": {"value.inputs", "value.heads"}, "low_means": {"actor.low"}, "high_means": {"actor.high"}},
    GCIQLConfig: {"actor_means": {"actor"}, "values": {"value"}, "q": {"critic"}, "actor_q": {"actor"}},
    QRLConfig: {"actor_means": {"actor"}, "negative_distances": {"value"}, "positive_distances": {"value"},
                "dynamics_distances": {"value", "dynamics"}, "actor_q": {"actor"}, "lambda": {"log_lambda"}},
    CRLConfig: {"actor_means": {"actor"}, "logits": {"critic"}, "actor_q": {"actor"}},
}  # fmt: skip


@pytest.mark.parametrize("config_class", NEW_METHODS, ids=lambda c: c.__name__)
def test_gradients_reach_only_the_intended_networks(walks, config_class):
    extra = dict(latent_dim=16) if config_class in (QRLConfig, CRLConfig) else {}
    module = build_module(2, 2, config_class, **SMALL, **extra)
    fwd = module.forward_train(tensor_batch(walks))
    owners = OWNERS[config_class]
    assert set(k for k, v in fwd.items() if v.requires_grad) == set(owners)  # everything else without gradient
    for key, owner in owners.items():
        module.zero_grad(set_to_none=True)
        fwd[key].sum().backward(retain_graph=True)
        touched = {n for n, p in module.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        owns = lambda name, o: name == o or name.startswith(o + ".")  # noqa: E731
        assert all(any(owns(n, o) for o in owner) for n in touched), (key, touched)
        assert all(any(owns(n, o) for n in touched) for o in owner), (key, touched)


def test_hiql_low_actor_trains_the_goal_representation_only_with_rep_grad(walks):
    for rep_grad in (False, True):
        module = build_module(2, 2, HIQLConfig, **SMALL, low_actor_rep_grad=rep_grad)
        module.forward_train(tensor_batch(walks))["low_means"].sum().backward()
        phi = module.value.inputs.goal_representation
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in phi.parameters()) == rep_grad
        assert all(p.grad is None for p in module.value.heads.parameters())


def test_hiql_acts_through_both_levels():
    module = build_module(2, 2, HIQLConfig, **SMALL)
    s, g = torch.randn(4, 2), torch.randn(4, 2)
    z = module.actor.high(s, g)
    z = z / z.norm(dim=-1, keepdim=True) * math.sqrt(10)
    torch.testing.assert_close(module.actor(s, g), module.actor.low_means(s, z))
    out = module.forward_inference({Columns.OBS: torch.cat([s, g], dim=-1)})
    torch.testing.assert_close(out[Columns.ACTION_DIST_INPUTS][:, :2], module.actor(s, g))


# --- target networks -----------------------------------------------------------------------------------------


def test_only_gciql_critic_and_the_value_heads_have_targets():
    assert [n for n, _ in build_module(2, 2, GCIQLConfig, **SMALL).named_children() if n.startswith("target")] == [
        "target_critic"]
    assert [n for n, _ in build_module(2, 2, HIQLConfig, **SMALL).named_children() if n.startswith("target")] == [
        "target_value_heads"]  # no target phi
    for config_class in (QRLConfig, CRLConfig):
        assert build_module(2, 2, config_class, **SMALL, latent_dim=16).get_target_network_pairs() == []


def test_gciql_target_critic_moves_by_ema_of_the_pre_step_critic(walks):
    config, learner = build_learner(GCIQLConfig)
    module = learner.module[DEFAULT_MODULE_ID]
    with torch.no_grad():
        for p in module.target_critic.parameters():
            p.add_(0.1 * torch.randn_like(p))  # off its copy, so the order of EMA and step shows
    before = {n: p.clone() for n, p in module.named_parameters()}
    learner.update(batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(sampler(walks).sample(32))}, env_steps=32))
    targets = [n for n, _ in module.named_parameters() if n.startswith("target_critic.")]
    assert targets and all(not module.get_parameter(n).requires_grad for n in targets)
    for name in targets:
        online = before[name.replace("target_critic.", "critic.", 1)]
        torch.testing.assert_close(module.get_parameter(name), 0.005 * online + 0.995 * before[name])
    assert not torch.equal(module.critic.heads.weights[0], before["critic.heads.weights.0"])  # the step happened


# --- random actor goals ------------------------------------------------------------------------------------


def test_random_actor_goals_and_their_waypoints(walks):
    s = sampler(walks, actor_p_trajgoal=0.5, actor_p_randomgoal=0.5)
    idx = s.sample_indices(50_000)
    room = idx.trajectory_ends - idx.rows
    in_future = (idx.actor_goals > idx.rows) & (idx.actor_goals <= idx.trajectory_ends)
    # A random goal lands in the row's own future with probability ~ room / #valid (small here).
    assert np.mean(~in_future[room > 0]) == pytest.approx(0.5 * (1 - np.mean(room / len(s.valid_rows))), abs=0.02)
    # Waypoint: k steps towards a goal of the own future, k steps along the trajectory for a random goal.
    towards_goal = idx.waypoints - idx.rows == np.minimum(25, idx.actor_goals - idx.rows)
    along = idx.waypoints - idx.rows == np.minimum(25, room)
    assert np.all(towards_goal | along) and np.all(along[~in_future])
    assert np.isin(idx.actor_goals, s.valid_rows).all()
    explore = sampler(walks, actor_p_trajgoal=0.0, actor_p_randomgoal=1.0).sample_indices(50_000)
    assert explore.actor_goals.mean() == pytest.approx(s.valid_rows.mean(), rel=0.02)  # uniform over valid rows
    np.testing.assert_array_equal(explore.waypoints - explore.rows,
                                  np.minimum(25, explore.trajectory_ends - explore.rows))
    current = sampler(walks, actor_p_curgoal=1.0, actor_p_trajgoal=0.0).sample_indices(1000)
    np.testing.assert_array_equal(current.actor_goals, current.rows)


def test_actor_goal_probabilities_must_sum_to_one(tmp_path):
    config = GCIVLConfig().training(dataset_name="pointmaze-medium-navigate-v0", actor_p_randomgoal=0.5)
    with pytest.raises(ValueError, match="actor_p_curgoal.*actor_p_trajgoal.*actor_p_randomgoal.*must be 1"):
        config.validate()


# --- presets: hyperparameters.sh (johnlyzhou/saw impls, lines 52-1155; identical to OGBench's) -------------

# (method, dataset) -> the flags the official command line sets (gamma = --agent.discount). Every preset is also
# compared with the official file, for all 85 state datasets, by `bench/official_parity.py --presets`.
OFFICIAL = {
    (HIQLConfig, "pointmaze-medium-navigate-v0"): dict(low_alpha=3.0, high_alpha=3.0),
    (HIQLConfig, "antmaze-large-explore-v0"): dict(low_alpha=10.0, high_alpha=10.0, actor_p_trajgoal=0.0,
                                                   actor_p_randomgoal=1.0),
    (HIQLConfig, "humanoidmaze-giant-stitch-v0"): dict(gamma=0.995, subgoal_steps=100, actor_p_trajgoal=0.5,
                                                       actor_p_randomgoal=0.5),
    (HIQLConfig, "puzzle-4x5-noisy-v0"): dict(subgoal_steps=10),
    (GCIQLConfig, "pointmaze-giant-navigate-v0"): dict(alpha=0.003, gamma=0.995),
    (GCIQLConfig, "antmaze-teleport-explore-v0"): dict(alpha=0.01, actor_p_trajgoal=0.0, actor_p_randomgoal=1.0),
    (GCIQLConfig, "cube-double-noisy-v0"): dict(alpha=0.03),
    (GCIQLConfig, "antsoccer-arena-stitch-v0"): dict(alpha=0.1, actor_p_trajgoal=0.5, actor_p_randomgoal=0.5),
    (QRLConfig, "pointmaze-large-stitch-v0"): dict(alpha=0.0003, actor_p_trajgoal=0.5, actor_p_randomgoal=0.5),
    (QRLConfig, "humanoidmaze-medium-navigate-v0"): dict(alpha=0.001, gamma=0.995),
    (QRLConfig, "scene-play-v0"): dict(alpha=0.3),
    (CRLConfig, "antmaze-medium-explore-v0"): dict(alpha=0.003, actor_p_trajgoal=0.0, actor_p_randomgoal=1.0),
    (CRLConfig, "antsoccer-medium-navigate-v0"): dict(alpha=0.3),
    (CRLConfig, "puzzle-3x3-noisy-v0"): dict(alpha=0.1),
    (CRLConfig, "cube-triple-play-v0"): dict(alpha=3.0),
    (GCIVLConfig, "antmaze-giant-stitch-v0"): dict(gamma=0.995, actor_p_trajgoal=0.5, actor_p_randomgoal=0.5),
    (GCBCConfig, "antmaze-medium-stitch-v0"): dict(),
}
DEFAULTS = dict(gamma=0.99, subgoal_steps=25, actor_p_trajgoal=1.0, actor_p_randomgoal=0.0)


@pytest.mark.parametrize("config_class, dataset", list(OFFICIAL), ids=lambda x: getattr(x, "__name__", x))
def test_paper_presets_are_the_official_command_lines(config_class, dataset):
    config = config_class().training(dataset_name=dataset).preset("paper")
    default = config_class()
    want = {**{k: v for k, v in DEFAULTS.items() if hasattr(default, k)}, **OFFICIAL[(config_class, dataset)]}
    for key, value in want.items():
        assert getattr(config, key) == value, key
    for key in ("alpha", "low_alpha", "high_alpha", "expectile"):
        if hasattr(default, key) and key not in want:
            assert getattr(config, key) == getattr(default, key), key


def test_small_preset_shrinks_every_network():
    for config_class in NEW_METHODS:
        config = config_class().training(dataset_name="pointmaze-medium-navigate-v0").preset("small")
        assert config.actor_hidden_dims == config.value_hidden_dims == (256, 256)
        assert config.train_batch_size_per_learner == 256
