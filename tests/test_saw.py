"""SAW, GCIVL and GCBC: networks, relabelling, losses, target update, config checks, checkpoints.

The unit checks: the official parameter counts, relabelling statistics, the losses against their
formulas and the gradient paths, the EMA target update. They run on tiny synthetic datasets in the raw
OGBench layout (rows ``(s_t, a_t)``, ``terminals`` on each episode's last row), named like
pointmaze-medium so that the env of the name (2-d observations, 2-d actions) matches.
"""

import math
import pickle
import resource

import gymnasium as gym
import numpy as np
import pytest
import torch

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import EVALUATION_RESULTS, LEARNER_RESULTS

from rllib_ext.algorithms.gcrl import GCBCConfig, GCIVLConfig, SAWConfig
from rllib_ext.algorithms.gcrl.common.goal_sampler import GoalSampler
from rllib_ext.algorithms.gcrl.common.losses import (
    exp_advantage_weights,
    expectile_value_loss,
    unit_gaussian_log_prob,
    weighted_log_likelihood_loss,
)
from rllib_ext.algorithms.gcrl.common.networks import EnsembleMLP
from rllib_ext.algorithms.gcrl.saw import bootstrap_loss
from rllib_ext.utils import cpu_memory
from rllib_ext.utils.metrics import GRAD_STEPS_PER_S
from saw_data import DATASET, TINY, random_walks, tiny, write_dataset

@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("saw") / f"{DATASET}.npz", [60, 41, 80, 55] * 3)


def build_module(obs_dim, act_dim, config_class=SAWConfig, **overrides):
    config = config_class().training(**overrides)
    spec = RLModuleSpec(
        module_class=config.get_default_rl_module_spec().module_class,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (2 * obs_dim,), np.float32),
        action_space=gym.spaces.Box(-1, 1, (act_dim,), np.float32),
        model_config={k: getattr(config, k) for k in config.settings()},
    )
    module = spec.build()
    module.make_target_networks()
    return module


def num_params(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# --- Check 1: the official parameter counts -------------------------------------------------


@pytest.mark.parametrize(
    "obs_dim, act_dim, total, trainable, parts",
    [
        (2, 2, 4_276_252, 3_205_146, (536_074, 1_071_106, 1_071_106, 536_074, 532_994, 528_898)),
        (29, 8, 4_434_472, 3_335_718, (563_722, 1_098_754, 1_098_754, 563_722, 549_896, 559_624)),
    ],
    ids=["pointmaze", "antmaze"],
)
def test_parameter_counts_match_the_official_agent(obs_dim, act_dim, total, trainable, parts):
    m = build_module(obs_dim, act_dim)
    assert num_params(m) == total
    assert num_params(m, trainable_only=True) == trainable
    got = (m.value.inputs, m.value.heads, m.target_value_heads, m.actor.inputs, m.actor.mlp, m.subpolicy)
    assert tuple(num_params(p) for p in got) == parts


def test_baseline_networks():
    gcivl = build_module(2, 2, GCIVLConfig)
    assert not hasattr(gcivl, "subpolicy") and gcivl.value.inputs.goal_representation is None
    assert gcivl.actor.inputs.goal_representation is None
    gcbc = build_module(2, 2, GCBCConfig)
    assert not hasattr(gcbc, "value") and gcbc.get_target_network_pairs() == []
    # OGBench's GCBC actor on pointmaze: 4->512->512->512->2.
    assert num_params(gcbc) == 4 * 512 + 512 + 2 * (512 * 512 + 512) + 512 * 2 + 2


def test_value_ensemble_computes_each_member_as_a_plain_mlp():
    """The ensemble's fast paths (shared input in one matmul, width-1 output as multiply-and-sum)
    give each member's own ``Dense -> GELU -> LayerNorm`` stack, values and gradients."""
    torch.manual_seed(0)
    heads = EnsembleMLP(2, 12, (256, 256), 1, layer_norm=True)
    x = torch.randn(64, 12, requires_grad=True)

    def member(i, h):
        for layer in range(3):
            h = h @ heads.weights[layer][i] + heads.biases[layer][i]
            if layer < 2:
                h = torch.nn.functional.gelu(h, approximate="tanh")
                h = torch.nn.functional.layer_norm(h, (256,), eps=1e-6)
                h = h * heads.norm_scales[layer][i] + heads.norm_shifts[layer][i]
        return h

    got = heads(x)
    want = torch.stack([member(i, x) for i in range(2)])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    got_grads = torch.autograd.grad(got.square().sum(), [x, *heads.parameters()])
    want_grads = torch.autograd.grad(want.square().sum(), [x, *heads.parameters()])
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    per_member_inputs = torch.stack([x, 2 * x])
    want = torch.stack([member(0, x), member(1, 2 * x)])
    torch.testing.assert_close(heads(per_member_inputs), want, rtol=1e-4, atol=1e-5)


def test_cpu_learner_keeps_freed_memory_in_the_process(walks):
    """A CPU learner fixes glibc's thresholds: an eager update then reuses its freed activations
    instead of faulting fresh pages in (about 4,000 faults per step of the small preset before)."""
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    spaces = {DEFAULT_MODULE_ID: (space, gym.spaces.Box(-1, 1, (2,), np.float32))}
    learner = SAWConfig().training(dataset_name=DATASET).preset("small").build_learner(spaces=spaces)
    batch = MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(sampler(walks).sample(256))}, env_steps=256)
    for _ in range(3):
        learner.update(batch=batch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        learner.update(batch=batch)
    faults_per_update = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
    assert cpu_memory.keep_freed_memory()
    assert faults_per_update < 200


# --- Check 2: relabelling statistics ---------------------------------------------------------


def sampler(walks, gamma=0.99, k=25, probs=(0.2, 0.5, 0.3), seed=0):
    obs, actions, terminals = walks
    return GoalSampler(obs, actions, terminals, gamma=gamma, subgoal_steps=k, value_p_curgoal=probs[0],
                       value_p_trajgoal=probs[1], value_p_randomgoal=probs[2], seed=seed)  # fmt: skip


@pytest.fixture(scope="module")
def walks():
    return random_walks([1001, 700, 301, 30, 1001, 2] * 4)


def test_value_goal_mixture(walks):
    s = sampler(walks)
    idx = s.sample_indices(100_000)
    success = np.mean(idx.value_goals == idx.rows)
    # Current goal (0.2); a trajectory goal equals the row only when the row is its episode's
    # last valid one; a random goal hits the row with probability 1/#valid.
    n_valid = len(s.valid_rows)
    p_end = len(s.last_rows) / n_valid
    expected = 0.2 + 0.8 * (0.625 * p_end + 0.375 / n_valid)
    assert success == pytest.approx(expected, abs=0.006)
    batch = sampler(walks).sample(100_000)  # same seed, same indices
    np.testing.assert_array_equal(batch[Columns.REWARDS], (idx.value_goals == idx.rows) - 1.0)
    np.testing.assert_array_equal(batch["masks"], 1.0 - (idx.value_goals == idx.rows))
    obs = walks[0]
    for key, rows in [(Columns.OBS, idx.rows), (Columns.NEXT_OBS, idx.rows + 1), ("value_goals", idx.value_goals),
                      ("actor_goals", idx.actor_goals), ("waypoints", idx.waypoints)]:  # fmt: skip
        np.testing.assert_array_equal(batch[key], obs[rows], err_msg=key)


def test_trajectory_value_goals_are_truncated_geometric(walks):
    idx = sampler(walks, probs=(0.0, 1.0, 0.0)).sample_indices(100_000)
    offsets, room = idx.value_goals - idx.rows, idx.trajectory_ends - idx.rows
    assert np.all((offsets >= 0) & (offsets <= room)) and np.all((offsets == 0) == (room == 0))
    # E[min(G, m)] = (1 - γ^m) / (1 - γ) for G ~ Geom(1 - γ) on {1, 2, ...}
    assert offsets.mean() == pytest.approx(np.mean((1 - 0.99**room) / 0.01), abs=1.0)
    assert np.mean(offsets[room > 1] == 1) == pytest.approx(0.01, abs=0.002)


def test_random_value_goals_are_uniform_over_valid_rows(walks):
    s = sampler(walks, probs=(0.0, 0.0, 1.0))
    goals = s.sample_indices(100_000).value_goals
    assert np.isin(goals, s.valid_rows).all()
    assert goals.mean() == pytest.approx(s.valid_rows.mean(), rel=0.01)


def test_actor_goals_waypoints_and_subpolicy_goals(walks):
    s = sampler(walks, k=25)
    idx = s.sample_indices(100_000)
    room = idx.trajectory_ends - idx.rows
    offsets = idx.actor_goals - idx.rows
    assert np.all(offsets[room == 0] == 0)
    assert np.all((offsets[room > 0] >= 1) & (offsets[room > 0] <= room[room > 0]))
    assert np.mean(offsets[room > 0] - (1 + room[room > 0]) / 2) == pytest.approx(0, abs=1.0)
    np.testing.assert_array_equal(idx.waypoints - idx.rows, np.minimum(25, offsets))
    np.testing.assert_array_equal(idx.subpolicy_goals - idx.rows, np.minimum(25, room))
    for rows in idx[:1] + idx[2:]:
        assert not np.isin(rows, s.last_rows).any()  # an episode's last row is never sampled


# --- Check 3: loss formulas against numpy ------------------------------------------------------


def test_expectile_value_loss_takes_its_weight_from_the_target_advantage():
    r = np.array([-1.0, 0.0, -1.0])
    m = np.array([1.0, 0.0, 1.0])
    v = np.array([[-5.0, 0.5, -2.0], [-4.0, 0.0, -3.0]])
    tv = np.array([[-1.0, 0.2, -9.0], [-2.0, 0.4, -8.0]])  # target V̄(s)
    tv_next = np.array([[-3.0, 1.0, -2.0], [-1.0, 2.0, -2.5]])  # target V̄(s')
    gamma, tau = 0.9, 0.7
    adv = r + gamma * m * tv_next.min(0) - tv.mean(0)  # [-2.2, -0.3, 5.2]
    q = r + gamma * m * tv_next
    # Row 0: q - v > 0 for head 0 but the target advantage is negative, so weight 1 - τ.
    weight = np.where(adv >= 0, tau, 1 - tau)
    expected = sum(np.mean(weight * (q[j] - v[j]) ** 2) for j in range(2))
    got = expectile_value_loss(*map(torch.tensor, (v, tv, tv_next, r, m)), gamma, tau)
    assert got.item() == pytest.approx(expected)


def test_awr_losses_clip_weights_at_100():
    means = np.array([[0.1, -0.2], [0.5, 0.5], [0.0, 0.3]])
    actions = np.array([[0.0, 0.0], [1.0, -1.0], [-0.5, 0.5]])
    adv = np.array([2.0, -0.5, 0.1])  # exp(3 * 2) = 403 -> 100
    weights = np.minimum(np.exp(3.0 * adv), 100.0)
    log_prob = -0.5 * ((actions - means) ** 2).sum(-1) - math.log(2 * math.pi)
    t = torch.tensor
    assert exp_advantage_weights(t(adv), 3.0).numpy() == pytest.approx([100.0, math.exp(-1.5), math.exp(0.3)])
    assert unit_gaussian_log_prob(t(actions), t(means)).numpy() == pytest.approx(log_prob)
    loss = weighted_log_likelihood_loss(t(means), t(actions), exp_advantage_weights(t(adv), 3.0))
    assert loss.item() == pytest.approx(-np.mean(weights * log_prob))


def test_bootstrap_loss_detaches_the_subpolicy_mean():
    mu = torch.tensor([[0.1, -0.2], [0.5, 0.5]], requires_grad=True)
    mu_sub = torch.tensor([[0.0, 0.3], [1.0, 0.0]], requires_grad=True)
    a_w = np.array([0.2, 3.0])  # exp(3 * 3) = 8103 -> 100
    c = np.minimum(np.exp(3.0 * a_w), 100.0)
    loss = bootstrap_loss(mu, mu_sub, exp_advantage_weights(torch.tensor(a_w), 3.0))
    expected = np.mean(c * ((mu.detach().numpy() - mu_sub.detach().numpy()) ** 2).sum(-1))
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    assert mu_sub.grad is None and mu.grad is not None


def tensor_batch(walks, batch_size=16):
    return {k: torch.as_tensor(v) for k, v in sampler(walks).sample(batch_size).items()}


def test_gradients_reach_only_the_intended_networks(walks):
    module = build_module(2, 2, actor_hidden_dims=(16,), subpolicy_hidden_dims=(16,), value_hidden_dims=(16,))
    fwd = module.forward_train(tensor_batch(walks))
    owners = {
        "values": {"value.inputs", "value.heads"},
        "actor_means": {"actor.inputs", "actor.mlp"},
        "subpolicy_means": {"subpolicy"},
    }
    for key, value in fwd.items():
        if key not in owners:  # targets, advantages, the bootstrapping target: no gradient at all
            assert not value.requires_grad, key
            continue
        module.zero_grad(set_to_none=True)
        value.sum().backward(retain_graph=True)
        touched = {n for n, p in module.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        assert touched and all(any(n.startswith(o + ".") for o in owners[key]) for n in touched), key
    assert all(not p.requires_grad for p in module.target_value_heads.parameters())


# --- Check 4: the EMA target update ----------------------------------------------------------


def test_one_step_moves_only_the_target_heads_by_ema(walks):
    config = SAWConfig().training(**TINY)
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    learner = config.build_learner(spaces={DEFAULT_MODULE_ID: (space, gym.spaces.Box(-1, 1, (2,), np.float32))})
    module = learner.module[DEFAULT_MODULE_ID]
    targets = [n for n, _ in module.named_parameters() if "target" in n]
    assert targets and all(n.startswith("target_value_heads.") for n in targets)  # no target φ_V
    batch = MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(sampler(walks).sample(64))}, env_steps=64)
    learner.update(batch=batch)  # the first step leaves the target at its copy of the initial heads
    old_target = [p.clone() for p in module.target_value_heads.parameters()]
    old_online = [p.clone() for p in module.value.heads.parameters()]
    learner.update(batch=batch)
    # The official order (agents/saw.py `update`): the EMA reads the online heads from before the Adam step.
    for old, new, online_before, online_after in zip(old_target, module.target_value_heads.parameters(), old_online,
                                                     module.value.heads.parameters()):
        torch.testing.assert_close(new, 0.005 * online_before + 0.995 * old)
        assert not torch.equal(new, old) and not torch.equal(online_after, online_before)


def test_torch_compile_learner_compiles_and_matches_eager(walks):
    """``torch_compile_learner`` really compiles (RLlib 2.60 alone skips MultiRLModule parts) and
    the compiled step lands on the eager step's parameters."""
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    spaces = {DEFAULT_MODULE_ID: (space, gym.spaces.Box(-1, 1, (2,), np.float32))}
    learners = [
        SAWConfig().training(**TINY).framework(torch_compile_learner=compiled).build_learner(spaces=spaces)
        for compiled in (False, True)
    ]
    eager, compiled = (learner.module[DEFAULT_MODULE_ID] for learner in learners)
    assert hasattr(compiled._forward_train, "_torchdynamo_orig_callable")
    assert not hasattr(eager._forward_train, "_torchdynamo_orig_callable")
    compiled.set_state(eager.get_state())
    batch = sampler(walks).sample(64)
    for learner in learners:
        learner.update(batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(batch)}, env_steps=64))
    for (name, a), b in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_learner_matches_eager_on_the_gpu(walks):
    """``torch_compile_learner_dynamo_mode='reduce-overhead'`` on a GPU learner (CUDA graphs replay the
    compiled forward and backward): several updates land on the eager learner's parameters."""
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    spaces = {DEFAULT_MODULE_ID: (space, gym.spaces.Box(-1, 1, (2,), np.float32))}
    learners = [
        SAWConfig().training(**TINY).learners(num_gpus_per_learner=1)
        .framework(torch_compile_learner=mode is not None, torch_compile_learner_dynamo_mode=mode)
        .build_learner(spaces=spaces)
        for mode in (None, "reduce-overhead")
    ]
    eager, graphed = (learner.module[DEFAULT_MODULE_ID] for learner in learners)
    graphed.set_state(eager.get_state())
    sample = sampler(walks)
    for _ in range(5):  # CUDA graphs are recorded after warm-up runs, then replayed
        batch = MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(sample.sample(64))}, env_steps=64)
        for learner in learners:
            learner.update(batch=batch)
    for (name, a), b in zip(eager.named_parameters(), graphed.parameters()):
        assert a.is_cuda
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=name)


# --- Config: presets and validation before Ray ------------------------------------------------


def preset(config_class, dataset, size="paper", **before):
    return config_class().training(dataset_name=dataset, **before).preset(size)


def test_presets_follow_the_paper_table():
    assert preset(SAWConfig, "pointmaze-giant-navigate-v0").gamma == 0.995
    assert preset(GCBCConfig, "humanoidmaze-medium-navigate-v0").gamma == 0.995
    assert preset(SAWConfig, "humanoidmaze-medium-navigate-v0").subgoal_steps == 100
    single = preset(SAWConfig, "cube-single-play-v0")
    assert (single.expectile, single.kl_alpha, single.subgoal_steps, single.awr_alpha) == (0.9, 0.3, 10, 3.0)
    double = preset(SAWConfig, "cube-double-play-v0")
    assert (double.expectile, double.kl_alpha, double.subgoal_steps) == (0.7, 1.0, 10)
    assert preset(SAWConfig, "scene-play-v0").kl_alpha == 1.0
    gcivl = preset(GCIVLConfig, "cube-single-play-v0")
    assert (gcivl.expectile, gcivl.awr_alpha, gcivl.gamma) == (0.9, 10.0, 0.99)
    small = preset(SAWConfig, DATASET, "small")
    assert small.value_hidden_dims == (256, 256) and small.train_batch_size_per_learner == 256
    assert preset(GCBCConfig, DATASET, "small").actor_hidden_dims == (256, 256)
    # Presets are deltas: what they do not name stays as set before.
    assert preset(SAWConfig, DATASET, "small", lr=1e-3, kl_alpha=0.5).lr == 1e-3
    assert preset(SAWConfig, "cube-single-play-v0", lr=1e-3, kl_alpha=0.5).kl_alpha == 0.3
    with pytest.raises(ValueError, match="no preset for dataset"):
        preset(SAWConfig, "powderworld-easy-play-v0")


@pytest.mark.parametrize(
    "settings, key",
    [
        (dict(expectile=1.0), "expectile"),
        (dict(awr_alpha=-0.5), "awr_alpha"),
        (dict(kl_alpha=float("nan")), "kl_alpha"),
        (dict(low_alpha=float("inf")), "low_alpha"),
        (dict(subgoal_steps=0), "subgoal_steps"),
        (dict(subgoal_steps=41), "subgoal_steps"),  # shortest episode: 41 rows = 40 transitions
        (dict(lr=0.0), "lr"),
        (dict(train_batch_size_per_learner=0), "train_batch_size_per_learner"),
        (dict(num_steps_per_iteration=0), "num_steps_per_iteration"),
        (dict(gamma=1.0), "gamma"),
        (dict(tau=0.0), "tau"),
        (dict(value_hidden_dims=()), "value_hidden_dims"),
        (dict(value_p_curgoal=0.5), "value_p_curgoal"),
        (dict(dataset_name="pointmaze-huge-navigate-v0"), "dataset_name"),
    ],
)
def test_invalid_settings_are_refused_before_ray_starts(dataset_path, no_ray_start, settings, key):
    config = SAWConfig().training(dataset_path=dataset_path, **TINY).training(**settings)
    with pytest.raises(ValueError, match=f"`{key}`"):
        config.build_algo()


def test_missing_dataset_is_refused_before_ray_starts(tmp_path, no_ray_start):
    with pytest.raises(ValueError, match="`dataset_path`"):
        SAWConfig().build_algo()
    with pytest.raises(ValueError, match="`dataset_path`"):
        SAWConfig().training(dataset_path=str(tmp_path / f"{DATASET}.npz")).build_algo()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when no GPU is present")
def test_gpu_learner_without_a_gpu_is_a_clear_error(dataset_path, ray_session):
    config = SAWConfig().training(dataset_path=dataset_path, **TINY).learners(num_gpus_per_learner=1)
    config.validate()  # valid: the driver may lack the GPU its learner will run on (Tune, clusters)
    with pytest.raises(ValueError, match="`num_gpus_per_learner` is 1 but torch finds no CUDA GPU"):
        config.build_algo()


@pytest.mark.parametrize("obs_dim, act_dim, what", [(3, 2, "observations"), (2, 3, "actions")])
def test_a_file_that_does_not_fit_the_env_is_refused(tmp_path, ray_session, obs_dim, act_dim, what):
    rng = np.random.default_rng(0)
    terminals = np.arange(100) % 50 == 49
    path = tmp_path / f"{DATASET}.npz"
    np.savez(path, observations=rng.normal(size=(100, obs_dim)).astype(np.float32),
             actions=rng.uniform(-1, 1, (100, act_dim)).astype(np.float32), terminals=terminals)
    with pytest.raises(ValueError, match=f"`dataset_path` {what} .* do not match the env"):
        SAWConfig().training(dataset_path=str(path), **TINY).build_algo()


def test_subgoal_steps_only_matter_for_saw(dataset_path, no_ray_start):
    GCIVLConfig().training(dataset_path=dataset_path, subgoal_steps=1000).validate()


@pytest.mark.parametrize("config_class, key", [(GCBCConfig, "expectile"), (GCIVLConfig, "kl_alpha"),
                                               (GCBCConfig, "variant")])
def test_a_setting_the_method_does_not_have_is_an_error(config_class, key):
    with pytest.raises(TypeError, match=key):
        config_class().training(**{key: 0.5})

# --- Training, checkpoints, evaluation --------------------------------------------------------


def learner_state(algo):
    state = algo.learner_group.get_state()["learner"]
    return state["rl_module"][DEFAULT_MODULE_ID], state["optimizer"]


def assert_same_state(a, b):
    (module_a, optim_a), (module_b, optim_b) = learner_state(a), learner_state(b)
    assert module_a.keys() == module_b.keys()
    for k in module_a:
        np.testing.assert_array_equal(module_a[k], module_b[k], err_msg=k)
    np.testing.assert_equal(optim_a, optim_b)


@pytest.mark.parametrize("config_class", [SAWConfig, GCIVLConfig, GCBCConfig])
def test_train_checkpoint_restore_and_continue(tmp_path, dataset_path, ray_session, config_class):
    algo = config_class().training(dataset_path=dataset_path, **tiny(config_class)).debugging(seed=3).build_algo()
    result = algo.train()
    metrics = result[LEARNER_RESULTS][DEFAULT_MODULE_ID]
    assert result[GRAD_STEPS_PER_S] > 0 and result["num_grad_steps_lifetime"] == 4
    assert metrics["actor_loss"] > 0 and metrics["num_module_steps_trained"] > 0
    if config_class is SAWConfig:
        assert {"value_loss", "subpolicy_loss", "bootstrap_loss", "value_mean", "waypoint_weight_mean"} <= set(metrics)
    algo.save_to_path(str(tmp_path / "ckpt"))
    restored = Algorithm.from_checkpoint(str(tmp_path / "ckpt"))
    assert type(restored) is type(algo) and restored.iteration == 1
    assert_same_state(algo, restored)
    algo.train(), restored.train()  # same sampler RNG and optimizer state: same next step
    assert_same_state(algo, restored)
    policy = pickle.loads(pickle.dumps(restored.goal_conditioned_policy()))
    obs = np.zeros((3, 2), np.float32)
    assert policy(obs, obs + 1).shape == (3, 2)
    algo.stop(), restored.stop()


def test_forward_inference_acts_with_the_actor_mean(dataset_path, ray_session):
    algo = SAWConfig().training(dataset_path=dataset_path, **TINY).build_algo()
    algo.train()
    module = algo.get_module()  # the EnvRunner's copy, synced after each iteration
    obs_goal = torch.randn(5, 4)
    dist_inputs = module.forward_inference({Columns.OBS: obs_goal})[Columns.ACTION_DIST_INPUTS]
    mean = algo.goal_conditioned_policy()(obs_goal[:, :2].numpy(), obs_goal[:, 2:].numpy())
    np.testing.assert_allclose(dist_inputs[:, :2].numpy(), mean, rtol=1e-6)
    assert torch.all(dist_inputs[:, 2:] == 0)  # log std 0: unit std
    algo.stop()


def test_evaluation_reports_success_per_task(dataset_path, ray_session):
    config = (
        GCBCConfig()
        .training(dataset_path=dataset_path, **tiny(GCBCConfig), eval_num_workers=1)
        .evaluation(evaluation_interval=1, evaluation_duration=1)
    )
    algo = config.build_algo()
    evaluation = algo.train()[EVALUATION_RESULTS]
    assert 0.0 <= evaluation["success"] <= 1.0 and evaluation["episodes"] == 5
    assert {f"task_{i}/success" for i in range(1, 6)} <= set(evaluation)
    algo.stop()


def test_registered_for_tune_and_config_survives_its_dict_round_trip(dataset_path):
    # Tune builds trials from `config.to_dict()` and looks algorithms up by name (a real
    # `tune.Tuner("SAW", param_space=config)` run takes ~1 min of actor start-up on 2 cores).
    from ray.tune.registry import get_trainable_cls

    from rllib_ext.algorithms.gcrl import GCBC, GCIVL, SAW

    assert (get_trainable_cls("SAW"), get_trainable_cls("GCIVL"), get_trainable_cls("GCBC")) == (SAW, GCIVL, GCBC)
    config = GCIVLConfig().training(dataset_path=dataset_path, **tiny(GCIVLConfig)).preset("small").training(tau=0.5)
    copy = GCIVLConfig().update_from_dict(config.to_dict())
    for key in ("dataset_path", "dataset_name", "expectile", "awr_alpha", "tau", "value_hidden_dims", "env", "env_config"):
        assert getattr(copy, key) == getattr(config, key), key
    copy.validate()
