"""The bulk train batch equals what RLlib's stock learner pieces build from the same episodes."""

import copy

import numpy as np
import pytest
import torch
from ray.rllib.connectors.connector_pipeline_v2 import ConnectorPipelineV2
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.training_data import TrainingData

from rllib_ext.connectors.learner.episodes_to_batch_in_bulk import EpisodesToBatchInBulk, bulk_layout
from rllib_ext.algorithms.reciprocator.torch.circular_conv import CircularConv2d
from rllib_ext.algorithms.reciprocator.presets import reciprocator_config
from rllib_ext.connectors.learner import DropMaskedRows
from rllib_ext.core.small_categorical import SmallCategorical

GAMES = 6


def _numpy(tree):
    if isinstance(tree, dict):
        return {k: _numpy(v) for k, v in tree.items()}
    return tree.detach().cpu().numpy() if isinstance(tree, torch.Tensor) else np.asarray(tree)


def assert_same_batch(ours, stock):
    """Same modules, columns (nested too), shapes, dtypes and values."""
    assert set(ours) == set(stock)
    for key in stock:
        if isinstance(stock[key], dict):
            assert_same_batch(ours[key], stock[key])
            continue
        a, b = _numpy(ours[key]), _numpy(stock[key])
        assert a.dtype == b.dtype and a.shape == b.shape, (key, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=str(key))


def _algo(env, agents, bulk, policy_model="mlp"):
    config = reciprocator_config(env, agents, "paper", seed=3)
    config.env_runners(num_envs_per_env_runner=GAMES).training(
        train_batch_size_per_learner=GAMES * 32, minibatch_size=GAMES * 32, warmup_episodes=0,
        policy_model=policy_model, bulk_learner_batch=bulk)
    return config.build_algo()


def _pipeline_names(algo):
    return [type(c).__name__ for c in algo.learner_group._learner._learner_connector.connectors]


@pytest.mark.parametrize("env, agents, policy_model", [
    ("ipd", ["reciprocator", "naive"], "mlp"),
    ("ipd", ["reciprocator", "always_defect"], "mlp"),   # a fixed strategy's module is batched too
    ("coin_game", ["reciprocator", "naive"], "conv_gru"),  # recurrent: padded sequences, state_in
])
def test_bulk_pipeline_gives_the_stock_train_batch(ray_session, env, agents, policy_model):
    bulk, stock = _algo(env, agents, True, policy_model), _algo(env, agents, False, policy_model)
    try:
        assert "EpisodesToBatchInBulk" in _pipeline_names(bulk)
        assert "EpisodesToBatchInBulk" not in _pipeline_names(stock)
        assert "AddOneTsToEpisodesAndTruncate" in _pipeline_names(stock)
        episodes = bulk.env_runner.sample(explore=True)
        # Same seed: same weights, same estimator; the whole pipelines (reward shaping, batch, targets)
        # must agree on every column.
        for _ in range(2):
            outs = []
            for algo in (bulk, stock):
                learner = algo.learner_group._learner
                shared = {}
                outs.append((learner._learner_connector(
                    rl_module=learner.module, batch={}, episodes=copy.deepcopy(episodes), shared_data=shared), shared))
            (ours, ours_shared), (theirs, theirs_shared) = outs
            assert_same_batch(ours, theirs)
            # DropMaskedRows (last) keeps recurrent modules' padded sequences and their mask.
            assert all((Columns.LOSS_MASK in b) == (policy_model == "conv_gru") for b in ours.values())
            for key, value in theirs_shared.items():
                if key.startswith("_"):
                    assert ours_shared.get(key) == value, key
    finally:
        bulk.stop()
        stock.stop()


def test_game_policies_sample_and_learn_with_small_categorical(ray_session):
    algo = _algo("ipd", ["reciprocator", "naive"], True)
    try:
        for mid in ("player_0", "player_1"):
            assert algo.learner_group._learner.module[mid].get_train_action_dist_cls() is SmallCategorical
            assert algo.env_runner.module[mid].get_exploration_action_dist_cls() is SmallCategorical
    finally:
        algo.stop()


def test_artificial_rows_leave_flat_batches_once_the_targets_are_in(ray_session):
    algo = _algo("ipd", ["reciprocator", "naive"], True)
    try:
        learner = algo.learner_group._learner
        pieces = learner._learner_connector.connectors
        assert isinstance(pieces[-1], DropMaskedRows)
        episodes = algo.env_runner.sample(explore=True)
        kept = ConnectorPipelineV2(connectors=pieces[:-1])(
            rl_module=learner.module, batch={}, episodes=episodes, shared_data={})
        dropped = pieces[-1](rl_module=learner.module, batch=copy.deepcopy(kept), episodes=episodes)
        for mid, columns in kept.items():
            mask = _numpy(columns[Columns.LOSS_MASK])
            assert mask.shape == (GAMES * 33,) and mask.sum() == GAMES * 32
            assert set(dropped[mid]) == set(columns) - {Columns.LOSS_MASK}
            for column, data in dropped[mid].items():
                np.testing.assert_array_equal(_numpy(data), _numpy(columns[column])[mask], err_msg=column)
        # The official update: num_epochs steps, each over a module's whole batch of games x 32 rows
        # (minibatch_size does not apply).
        steps = list(learner._create_iterator_if_necessary(
            training_data=TrainingData(episodes=algo.env_runner.sample(explore=True)), num_epochs=3,
            minibatch_size=GAMES * 16, shuffle_batch_per_epoch=True))
        assert len(steps) == 3 and all(len(b) == GAMES * 32 for s in steps for b in s.policy_batches.values())
    finally:
        algo.stop()


def test_bulk_piece_pads_to_max_seq_len_and_falls_back(ray_session):
    algo = _algo("coin_game", ["naive", "naive"], True, "conv_gru")
    try:
        learner = algo.learner_group._learner
        piece = next(c for c in learner._learner_connector.connectors if isinstance(c, EpisodesToBatchInBulk))
        for module_id in ("player_0", "player_1"):
            learner.module[module_id].model_config["max_seq_len"] = 40  # 7 zero-padded steps per episode
        episodes = algo.env_runner.sample(explore=True)
        ours = piece(rl_module=learner.module, batch={}, episodes=copy.deepcopy(episodes), shared_data={})
        stock = piece.stock(rl_module=learner.module, batch={}, episodes=copy.deepcopy(episodes), shared_data={})
        assert ours["player_0"][Columns.OBS].shape == (GAMES, 40, 36)
        assert_same_batch(ours, stock)
        # Episodes of different lengths do not qualify: the stock pieces run.
        mixed = [*episodes, episodes[0].slice(slice(0, 10), len_lookback_buffer=0)]
        assert bulk_layout(learner.module, mixed) is None
        ours = piece(rl_module=learner.module, batch={}, episodes=copy.deepcopy(mixed), shared_data={})
        stock = piece.stock(rl_module=learner.module, batch={}, episodes=copy.deepcopy(mixed), shared_data={})
        assert_same_batch(ours, stock)
    finally:
        algo.stop()


@pytest.mark.parametrize("grid, kernel", [(3, 3), (4, 5), (5, 3)])
def test_circular_conv_matches_the_padded_convolution(grid, kernel):
    torch.manual_seed(0)
    conv = CircularConv2d(4, 8, kernel, (grid, grid))
    reference = torch.nn.Conv2d(4, 8, kernel, padding="same", padding_mode="circular")
    reference.load_state_dict(conv.state_dict())
    x = torch.randn(7, 4, grid, grid)
    torch.testing.assert_close(conv(x), reference(x), rtol=1e-5, atol=1e-5)
    (conv(x) ** 2).sum().backward()
    (reference(x) ** 2).sum().backward()
    torch.testing.assert_close(conv.weight.grad, reference.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(conv.bias.grad, reference.bias.grad, rtol=1e-4, atol=1e-4)
