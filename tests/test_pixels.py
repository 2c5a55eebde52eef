"""Pixel-based OGBench: the Impala encoder against the official counts and pooling, augmentation and frame stacking
as the official sampler, uint8 batches, the pixel presets, and every method training on a generated visual dataset."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ray.rllib.core import DEFAULT_MODULE_ID

from envs.ogbench.dataset import load_dataset, save_npy_folder
from rllib_ext.algorithms.gcrl import SAWConfig
from rllib_ext.algorithms.gcrl.common import evaluation
from rllib_ext.algorithms.gcrl.common.encoders import ENCODERS, same_max_pool, same_pads
from rllib_ext.algorithms.gcrl.common.goal_sampler import OBSERVATION_COLUMNS, ROWS, GoalSampler
from rllib_ext.algorithms.gcrl.common.images import ObservationGatherer, random_crop, stacked_rows
from rllib_ext.algorithms.registry import get_algorithm

VISUAL = "visual-cube-single-play-v0"
METHODS = ("saw", "hiql", "gcivl", "gciql", "qrl", "crl", "gcbc")


def num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- the encoder ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, counts", [
    ("impala_small", (1_105_056, 1_105_488)), ("impala", (1_146_688, 1_147_120)),
    ("impala_large", (9_941_248, 9_942_976)), ("impala_debug", (525_652, 525_760)),
])  # fmt: skip  (flax `init` of impls/utils/encoders.py encoder_modules on 64x64x3 and 64x64x6 inputs)
def test_encoder_parameter_counts_match_the_official(name, counts):
    assert tuple(num_params(ENCODERS[name]((64, 64, c))) for c in (3, 6)) == counts


def test_max_pool_windows_are_flax_same_windows():
    # flax SAME on an even size pads 0 before and 1 after: output i covers inputs 2i..2i+2 (clipped at the end).
    image = torch.randn(1, 2, 8, 8)
    assert same_pads(64) == (0, 1) and same_pads(8) == (0, 1) and same_pads(7) == (1, 1)
    expected = torch.empty(1, 2, 4, 4)
    for i in range(4):
        for j in range(4):
            expected[..., i, j] = image[..., 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].amax(dim=(-2, -1))
    assert torch.equal(same_max_pool(image), expected)
    assert not torch.equal(F.max_pool2d(image, 3, 2, padding=1), expected)  # the one-pixel shift it avoids
    odd = torch.randn(1, 1, 7, 7)  # 1 before, 1 after: output i covers 2i-1..2i+1
    assert torch.equal(same_max_pool(odd)[..., 1, 1], odd[..., 1:4, 1:4].amax(dim=(-2, -1)))


def test_impala_scales_uint8_itself_and_has_zero_conv_biases():
    encoder = ENCODERS["impala_small"]((64, 64, 3))
    assert all(not conv.bias.any() for conv in encoder.modules() if isinstance(conv, torch.nn.Conv2d))
    images = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    assert encoder(images).shape == (2, 512)
    assert torch.equal(encoder(images), encoder(images.float()))  # the same 0..255 scale, divided inside


@pytest.mark.parametrize("method, total", [
    ("saw", 12_996_850), ("hiql", 11_097_757), ("gcivl", 7_273_209), ("gciql", 9_180_490), ("qrl", 5_111_031),
    ("crl", 8_326_037), ("gcbc", 1_896_021),
])  # fmt: skip  (the official agents with encoder=impala_small, 64x64x3 observations, 5 actions, targets included)
def test_every_method_has_the_official_encoders(method, total):
    config = get_algorithm(method).algo_class.get_default_config().training(encoder="impala_small")
    spaces = (gym.spaces.Box(0, 255, (64, 64, 6), np.uint8), gym.spaces.Box(-1, 1, (5,), np.float32))
    module = config.get_rl_module_spec(spaces={DEFAULT_MODULE_ID: spaces}).build()
    module.make_target_networks()
    assert num_params(module) == total
    targets = sorted(n for n, _ in module.named_children() if n.startswith("target"))
    assert targets == {"saw": ["target_value_heads", "target_value_inputs_state_encoder"],
                       "hiql": ["target_value_heads", "target_value_inputs_state_encoder"],
                       "gcivl": ["target_value_heads", "target_value_inputs_concat_encoder"],
                       "gciql": ["target_critic"]}.get(method, [])


# --- augmentation and frame stacking ------------------------------------------------------------------------------


def test_random_crop_is_an_edge_padded_shift():
    image = np.arange(5 * 5).reshape(1, 5, 5, 1).astype(np.uint8)
    assert np.array_equal(random_crop(image, np.array([[3, 3]])), image)  # the centre offset: no shift
    shifted = random_crop(image, np.array([[0, 6]]))  # rows -3..1, columns 3..7 of the image, edges repeated
    rows, cols = np.clip(np.arange(-3, 2), 0, 4), np.clip(np.arange(3, 8), 0, 4)
    assert np.array_equal(shifted[0, ..., 0], image[0, rows][:, cols, 0])


def labelled_images(rows: int) -> np.ndarray:
    """Images whose pixels tell their position (channels 0, 1) and row (channel 2)."""
    y, x = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    return np.stack([np.broadcast_to(y, (rows, 16, 16)), np.broadcast_to(x, (rows, 16, 16)),
                     np.broadcast_to(np.arange(rows)[:, None, None], (rows, 16, 16))], axis=-1).astype(np.uint8)


def offset_of(crop: np.ndarray) -> tuple:
    """The crop offset, read off the centre pixel (position labels clamp only at the edges)."""
    return int(crop[8, 8, 0]) - 8 + 3, int(crop[8, 8, 1]) - 8 + 3


def test_one_coin_per_batch_one_offset_per_sample_shared_by_its_images():
    images = labelled_images(40)
    starts = np.array([0, 20])
    gatherer = ObservationGatherer(images, starts, p_aug=0.5, frame_stack=None, seed=0)
    rng = np.random.default_rng(1)
    batch = {c + ROWS: rng.integers(0, 40, 64) for c in OBSERVATION_COLUMNS}
    out = gatherer(batch, batch_size=8)  # 8 gradient steps' minibatches
    assert all(out[c].dtype == np.uint8 for c in OBSERVATION_COLUMNS)
    coins = []
    for start in range(0, 64, 8):
        offsets = np.array([[offset_of(out[c][i]) for c in OBSERVATION_COLUMNS] for i in range(start, start + 8)])
        assert (offsets == offsets[:, :1]).all()  # every image of a sample: the same offset
        unshifted = (offsets[:, 0] == 3).all(axis=-1)  # the centre offset (1/49 of the crops) or no crop
        coins.append(not unshifted.all())
        if coins[-1]:  # heads: the whole minibatch is cropped, each sample at its own offset
            assert unshifted.sum() <= 1 and len({tuple(o[0]) for o in offsets}) > 4
        else:
            assert all(np.array_equal(out[c][start:start + 8], images[batch[c + ROWS][start:start + 8]])
                       for c in OBSERVATION_COLUMNS)
        for c in OBSERVATION_COLUMNS:  # the row is kept (channel 2)
            assert np.array_equal(out[c][start:start + 8, 8, 8, 2], batch[c + ROWS][start:start + 8])
    assert 0 < sum(coins) < len(coins)
    never = ObservationGatherer(images, starts, p_aug=0.0, frame_stack=None, seed=0)(batch, batch_size=8)
    assert all(np.array_equal(never[c], images[batch[c + ROWS]]) for c in OBSERVATION_COLUMNS)


def test_augmentation_stream_resumes_from_its_state_and_differs_per_rank():
    images = labelled_images(40)
    batch = {c + ROWS: np.random.default_rng(1).integers(0, 40, 16) for c in OBSERVATION_COLUMNS}

    def make(rank=0):
        return ObservationGatherer(images, np.array([0]), p_aug=1.0, frame_stack=None, seed=7, rank=rank)

    first, second = make(), make()
    outputs = [first(batch, batch_size=4)["obs"] for _ in range(3)]
    assert not np.array_equal(outputs[1], outputs[2])  # a new draw each call
    second.set_state(first.get_state())
    assert first.get_state() == {"calls": 3}
    assert np.array_equal(second(batch, batch_size=4)["obs"], first(batch, batch_size=4)["obs"])
    assert np.array_equal(make()(batch, batch_size=4)["obs"], outputs[0])  # the stream is the seed's
    assert not np.array_equal(make(rank=1)(batch, batch_size=4)["obs"], outputs[0])


def test_frame_stacks_are_the_last_frames_clamped_at_the_episode_start():
    starts = np.array([0, 5])
    assert stacked_rows(np.array([0, 1, 4, 5, 7]), starts, 3).tolist() == [
        [0, 0, 0], [0, 0, 1], [2, 3, 4], [5, 5, 5], [5, 6, 7]]
    images = labelled_images(10)
    out = ObservationGatherer(images, starts, p_aug=0.0, frame_stack=3, seed=0)(
        {c + ROWS: np.array([6]) for c in OBSERVATION_COLUMNS}, batch_size=1)
    assert out["obs"].shape == (1, 16, 16, 9) and out["obs"][0, 0, 0, 2::3].tolist() == [5, 5, 6]


def test_pixel_batches_travel_as_row_indices():
    terminals = np.zeros(30, bool)
    terminals[[9, 29]] = True
    sampler = GoalSampler(labelled_images(30), np.zeros((30, 2), np.float32), terminals, gamma=0.99, subgoal_steps=3,
                          value_p_curgoal=0.2, value_p_trajgoal=0.5, value_p_randomgoal=0.3, seed=0)
    rows = sampler.sample_rows(16)
    assert sorted(rows) == sorted(["actions", "rewards", "masks", *(c + ROWS for c in OBSERVATION_COLUMNS)])
    assert all(rows[c + ROWS].dtype == np.int64 for c in OBSERVATION_COLUMNS)
    sampler.set_state({"rng": np.random.default_rng(0).bit_generator.state})
    images = sampler.sample(16)  # the same draw, gathered
    assert np.array_equal(images["obs"], labelled_images(30)[rows["obs_rows"]]) and images["obs"].dtype == np.uint8


# --- settings, presets -----------------------------------------------------------------------------------------


def test_pixel_presets_are_the_official_command_lines():
    def paper(method, dataset):
        return get_algorithm(method).algo_class.get_default_config().training(dataset_name=dataset).preset("paper")

    saw = paper("saw", VISUAL)  # --agent.encoder=impala_small --agent.share_goal_rep=True --agent.p_aug=0.5 ...
    assert (saw.encoder, saw.share_goal_rep, saw.p_aug, saw.subgoal_steps, saw.train_batch_size_per_learner) == (
        "impala_small", True, 0.5, 10, 256)
    assert (saw.kl_alpha, saw.expectile) == (3.0, 0.7)  # not the state cube-single line's 0.3 / 0.9
    hiql = paper("hiql", "visual-antmaze-giant-navigate-v0")
    assert (hiql.low_actor_rep_grad, hiql.p_aug, hiql.gamma) == (True, 0.0, 0.995)
    assert paper("gciql", "visual-puzzle-3x3-noisy-v0").alpha == 0.03
    assert paper("gcbc", "visual-scene-play-v0").p_aug == 0.5
    assert paper("saw", "visual-scene-play-v0").train_batch_size_per_learner == 256
    small = get_algorithm("saw").algo_class.get_default_config().training(dataset_name=VISUAL).preset("small")
    assert (small.encoder, small.train_batch_size_per_learner, small.value_hidden_dims) == ("impala_small", 64,
                                                                                            (256, 256))


def test_bad_pixel_settings_are_refused_before_ray_starts(tmp_path, no_ray_start):
    images = np.zeros((6, 64, 64, 3), np.uint8)
    terminals = np.arange(6) % 3 == 2
    good = tmp_path / f"{VISUAL}.npz"
    np.savez(good, observations=images, actions=np.zeros((6, 5), np.float32), terminals=terminals)
    bad = tmp_path / "flat" / f"{VISUAL}.npz"
    bad.parent.mkdir()
    np.savez(bad, observations=images[:, 0, 0], actions=np.zeros((6, 5), np.float32), terminals=terminals)
    cases = [
        (dict(dataset_path=str(good), encoder="resnet"), r"`encoder` must be None, one of \['impala'"),
        (dict(dataset_path=str(good)), r"`encoder` is None, but `dataset_name` 'visual-cube-single-play-v0' has image"),
        (dict(dataset_path=str(bad), encoder="impala_small"), r"uint8 'observations' must be images"),
        (dict(dataset_path=str(good), encoder="impala_small", p_aug=1.5), r"`p_aug` must be in \[0, 1\]"),
        (dict(dataset_path=str(good), encoder="impala_small", frame_stack=0), r"`frame_stack` must be None or >= 1"),
    ]
    for settings, message in cases:
        with pytest.raises(ValueError, match=message):
            SAWConfig().training(subgoal_steps=1, **settings).validate()


# --- every method on a generated visual dataset (the CI test) ------------------------------------------------------


@pytest.fixture(scope="module")
def visual_dataset(tmp_path_factory):
    """1 + 1 (val) oracle episodes of 4 rendered 64x64 frames, with the packaged cube oracle."""
    from envs.ogbench.datagen import generate_dataset

    path = tmp_path_factory.mktemp("visual") / f"{VISUAL}.npz"
    generate_dataset(VISUAL, 1, path, seed=0, num_workers=1, progress=False, episode_length=4)
    return str(path)


def tiny_pixel_config(method: str, dataset_path: str):
    config = get_algorithm(method).algo_class.get_default_config()
    dims = {k: (16,) for k in ("actor_hidden_dims", "value_hidden_dims", "subpolicy_hidden_dims") if hasattr(config, k)}
    return config.training(dataset_path=dataset_path).preset("paper").training(
        encoder="impala_debug", train_batch_size_per_learner=4, num_steps_per_iteration=2, subgoal_steps=2,
        eval_max_episode_steps=2, **dims).debugging(seed=0)


def test_generated_visual_dataset_is_official_layout(visual_dataset):
    data = load_dataset(visual_dataset)
    assert data["observations"].shape == (4, 64, 64, 3) and data["observations"].dtype == np.uint8
    assert data["episode_ends"].tolist() == [3]
    assert data["observations"].std() > 10  # a rendered scene, not a blank frame
    with np.load(visual_dataset) as raw:
        assert {"qpos", "qvel"} <= set(raw.files)


def test_every_method_trains_on_pixels_and_evaluates(visual_dataset, tmp_path, ray_session):
    folder = tmp_path / VISUAL  # the memory-mapped .npy layout, for SAW
    with np.load(visual_dataset) as raw:
        save_npy_folder({k: raw[k] for k in raw.files}, folder)
    for method in METHODS:
        algo = tiny_pixel_config(method, str(folder) if method == "saw" else visual_dataset).build_algo()
        try:
            if method == "saw":
                assert isinstance(algo.goal_sampler.observations, np.memmap)
            result = algo.train()
            losses = {k: v for k, v in result["learners"][DEFAULT_MODULE_ID].items() if k.endswith("_loss")}
            assert losses and all(math.isfinite(float(v)) for v in losses.values()), (method, losses)
            if method == "hiql":  # one evaluation episode (task 1, 2 steps): the goal image into the uint8 pipeline
                [(success, steps)] = evaluation._run_episodes(algo.goal_conditioned_policy(), (VISUAL, None, 2), 0,
                                                              [(1, 0)])
                assert steps == 2 and success in (0.0, 1.0)
        finally:
            algo.stop()


def test_pixel_run_restored_from_a_checkpoint_continues_with_the_same_augmentations(visual_dataset, tmp_path,
                                                                                     ray_session):
    from ray.rllib.algorithms.algorithm import Algorithm
    from test_saw import assert_same_state

    algo = tiny_pixel_config("gcbc", visual_dataset).training(p_aug=1.0).build_algo()
    try:
        algo.train()
        algo.save_to_path(str(tmp_path / "ckpt"))
        restored = Algorithm.from_checkpoint(str(tmp_path / "ckpt"))
        try:
            algo.train(), restored.train()  # the crops of the steps after the checkpoint, not those of step 1 again
            assert_same_state(algo, restored)
        finally:
            restored.stop()
    finally:
        algo.stop()
