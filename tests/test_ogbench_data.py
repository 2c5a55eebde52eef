"""OGBench data side of SAW: local generation, loading/validation, goal-conditioned evaluation."""

from __future__ import annotations

import os
import tracemalloc
import urllib.request
import zipfile
from collections import deque

import numpy as np
import ogbench
import pytest

import envs.ogbench.datagen as ogd
from envs.ogbench.datagen import MazeCollector, dataset_spec, generate_dataset
from envs.ogbench.dataset import KNOWN_DATASETS, dataset_env_name, load_dataset
from rllib_ext.algorithms.gcrl.common.evaluation import evaluate_goal_conditioned

MAZE = "pointmaze-medium-navigate-v0"
STEPS = 201  # short pointmaze episodes keep the tests fast


def _arrays(path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="module")
def maze_file(tmp_path_factory):
    """A small pointmaze-medium-navigate dataset (10 + 1 episodes of 201 steps), generated in-process."""
    path = tmp_path_factory.mktemp("maze") / f"{MAZE}.npz"
    generate_dataset(MAZE, 10, path, seed=3, num_workers=1, progress=False, episode_length=STEPS)
    return path


# --- names ------------------------------------------------------------------------------------------

def test_dataset_names():
    assert dataset_env_name("pointmaze-medium-navigate-v0") == "pointmaze-medium-v0"
    assert dataset_env_name("cube-single-play-v0") == "cube-single-v0"
    assert dataset_env_name("visual-antmaze-large-explore-v0") == "visual-antmaze-large-v0"
    assert dataset_env_name("puzzle-4x6-noisy-v0") == "puzzle-4x6-v0"
    assert len(KNOWN_DATASETS) == 85
    for bad in ("pointmaze-medium-v0", "pointmaze-huge-navigate-v0", "cube-single-play-singletask-task1-v0"):
        with pytest.raises(ValueError, match="unknown OGBench dataset name"):
            dataset_env_name(bad)


def test_what_cannot_be_generated():
    assert dataset_spec("pointmaze-giant-navigate-v0").num_episodes == 500
    assert dataset_spec("pointmaze-giant-navigate-v0").episode_length == 2001
    assert dataset_spec("cube-triple-play-v0").num_episodes == 3000
    with pytest.raises(ValueError, match="expert locomotion policies"):
        dataset_spec("antmaze-large-navigate-v0")
    with pytest.raises(ValueError, match="expert locomotion policies"):
        dataset_spec("humanoidmaze-giant-stitch-v0")
    assert dataset_spec("visual-cube-triple-play-v0").num_episodes == 3000  # pixel twins of the play datasets
    with pytest.raises(ValueError, match="expert locomotion policies"):
        dataset_spec("visual-antmaze-large-navigate-v0")
    with pytest.raises(ValueError, match="not implemented|are implemented"):
        dataset_spec("cube-single-noisy-v0")
    with pytest.raises(ValueError, match="unknown dataset 'foo-v0'; supported: pointmaze-medium-navigate-v0"):
        dataset_spec("foo-v0")


# --- generation -------------------------------------------------------------------------------------

def test_layout_val_file_and_ogbench_loader(maze_file, no_network):
    train, val = _arrays(maze_file), _arrays(str(maze_file).replace(".npz", "-val.npz"))
    assert set(train) == {"observations", "actions", "terminals", "qpos", "qvel"}
    assert len(train["terminals"]) == 10 * STEPS and len(val["terminals"]) == 1 * STEPS
    for k in ("observations", "actions", "qpos", "qvel"):
        assert train[k].dtype == np.float32 and train[k].shape == (10 * STEPS, 2)
    assert train["terminals"].dtype == bool
    assert np.array_equal(np.flatnonzero(train["terminals"]), np.arange(STEPS - 1, 10 * STEPS, STEPS))
    assert np.array_equal(train["observations"], train["qpos"])  # pointmaze observations are the position
    env, tr, va = ogbench.make_env_and_datasets(MAZE, dataset_path=str(maze_file))
    assert len(tr["observations"]) == 10 * (STEPS - 1) and len(va["observations"]) == STEPS - 1
    assert env.observation_space.shape == (2,)
    _, tr, _ = ogbench.make_env_and_datasets(MAZE, dataset_path=str(maze_file), compact_dataset=True)
    assert tr["valids"].sum() == 10 * (STEPS - 1)


def test_pointmaze_statistics(maze_file):
    d = load_dataset(maze_file, min_episode_length=STEPS)
    obs, act = d["observations"], d["actions"]
    assert np.abs(act).max() <= 1.0 and np.abs(act).max() == 1.0  # noisy actions get clipped
    assert 0.3 < np.abs(act).mean() < 1.0
    inner = ~d["terminals"]  # action t moves the point by 0.2 * a_t unless a wall is in the way
    moved = obs[1:][inner[:-1]] - obs[:-1][inner[:-1]]
    free = np.linalg.norm(moved - 0.2 * act[:-1][inner[:-1]], axis=1) < 1e-4
    assert free.mean() > 0.7
    for s, e in zip(d["episode_starts"], d["episode_ends"]):
        assert np.linalg.norm(obs[s:e + 1] - obs[s], axis=1).max() > 4.0  # leaves its start cell


def test_navigate_reaches_goals_and_stitch_goals_are_four_cells_away(monkeypatch):
    nav = MazeCollector("pointmaze-medium-v0", "navigate", 1001)
    goals, set_goal = [], nav.env.set_goal

    def record(goal_ij=None, goal_xy=None):
        if goal_ij is not None:  # a new goal cell after a success (resets pass goal_xy)
            goals.append(goal_ij)
        set_goal(goal_ij=goal_ij, goal_xy=goal_xy)

    monkeypatch.setattr(nav.env, "set_goal", record)
    np.random.seed(0)
    nav.episode(0)
    assert len(goals) >= 3 and all(g in nav.vertices for g in goals)
    stitch = MazeCollector("pointmaze-large-v0", "stitch", 201)
    np.random.seed(1)
    start = (1, 1)
    goal = stitch.goal_cell(start)
    _, dist = stitch.env.get_oracle_subgoal(stitch.env.ij_to_xy(goal), stitch.env.ij_to_xy(goal))
    assert dist[start] == 4


def test_deterministic_and_worker_independent(tmp_path, ray_session):
    kw = dict(num_episodes=6, seed=5, progress=False, episode_length=STEPS)
    runs = {}
    for tag, workers, seed in (("a", 1, 5), ("b", 1, 5), ("c", 2, 5), ("d", 1, 6)):
        path = tmp_path / tag / "pointmaze-large-stitch-v0.npz"
        generate_dataset("pointmaze-large-stitch-v0", out_path=path, num_workers=workers, **{**kw, "seed": seed})
        runs[tag] = (_arrays(path), _arrays(str(path).replace(".npz", "-val.npz")))
    assert _same(runs["a"][0], runs["b"][0]) and _same(runs["a"][1], runs["b"][1])
    assert _same(runs["a"][0], runs["c"][0]) and _same(runs["a"][1], runs["c"][1])
    assert not np.array_equal(runs["a"][0]["observations"], runs["d"][0]["observations"])
    assert not np.array_equal(runs["a"][0]["observations"][:STEPS], runs["a"][1]["observations"])


def test_refuses_to_overwrite_unless_forced(tmp_path, monkeypatch):
    path = tmp_path / "x.npz"
    generate_dataset(MAZE, 1, path, num_workers=1, progress=False, episode_length=20)
    before = _arrays(path)

    def no_work(*args):
        raise AssertionError("generation started before the existing-file check")

    monkeypatch.setattr(ogd, "_generate_episodes", no_work)
    with pytest.raises(FileExistsError, match="x.npz already exists"):
        generate_dataset(MAZE, 1, path, num_workers=1, progress=False, episode_length=20)
    os.remove(path)
    with pytest.raises(FileExistsError, match="x-val.npz already exists"):
        generate_dataset(MAZE, 1, path, num_workers=1, progress=False, episode_length=20)
    monkeypatch.undo()
    generate_dataset(MAZE, 1, path, seed=9, force=True, num_workers=1, progress=False, episode_length=20)
    assert not np.array_equal(_arrays(path)["observations"], before["observations"])
    with pytest.raises(ValueError, match="must end with .npz"):
        generate_dataset(MAZE, 1, tmp_path / "x.h5", num_workers=1, progress=False)


def test_an_interrupted_generation_keeps_its_episodes_and_resumes(tmp_path, monkeypatch):
    path = tmp_path / "x.npz"
    staging = f".x.npz.episodes-{MAZE}-seed0-length20"
    original, seeds = MazeCollector.episode, []

    def fails_third(self, seed):
        seeds.append(seed)
        if len(seeds) == 3:
            raise RuntimeError("boom")
        return original(self, seed)

    with monkeypatch.context() as m:
        m.setattr(MazeCollector, "episode", fails_third)
        with pytest.raises(RuntimeError, match="boom"):
            generate_dataset(MAZE, 4, path, num_workers=1, progress=False, episode_length=20)
    assert os.listdir(tmp_path) == [staging]  # no final file; the two episodes made are kept
    assert sorted(os.listdir(tmp_path / staging)) == ["train-0000000.npz", "train-0000001.npz"]

    def counted(self, seed):
        seeds.append(seed)
        return original(self, seed)

    monkeypatch.setattr(MazeCollector, "episode", counted)
    seeds.clear()
    report = generate_dataset(MAZE, 4, path, num_workers=1, progress=False, episode_length=20)
    assert len(seeds) == 3 and report.reused_episodes == 2  # train 2 and 3, val 0: only the missing ones
    assert report.steps_per_second == pytest.approx(3 * 20 / report.seconds)  # what was generated, not reused
    assert (report.rows, report.val_rows) == (80, 20) and sorted(os.listdir(tmp_path)) == ["x-val.npz", "x.npz"]
    fresh = tmp_path / "fresh" / "x.npz"
    generate_dataset(MAZE, 4, fresh, num_workers=1, progress=False, episode_length=20)
    for a, b in ((path, fresh), (tmp_path / "x-val.npz", tmp_path / "fresh" / "x-val.npz")):
        assert _same(_arrays(a), _arrays(b))  # the resumed files are the uninterrupted ones


def test_no_final_file_when_writing_fails_and_a_retry_only_writes(tmp_path, monkeypatch):
    path = tmp_path / "x.npz"
    original_save, saves = ogd._savez_compressed_in_pieces, {"n": 0}

    def half_written(file, arrays):  # the second write (the main file) dies midway
        saves["n"] += 1
        if saves["n"] == 2:
            file.write(b"PK partial")
            raise OSError("disk full")
        original_save(file, arrays)

    with monkeypatch.context() as m:
        m.setattr(ogd, "_savez_compressed_in_pieces", half_written)
        with pytest.raises(OSError, match="disk full"):
            generate_dataset(MAZE, 4, path, num_workers=1, progress=False, episode_length=20)
    staging = tmp_path / f".x.npz.episodes-{MAZE}-seed0-length20"
    assert os.listdir(tmp_path) == [staging.name]  # neither file (val is renamed only with main), no temporary
    assert len([f for f in os.listdir(staging) if f.endswith(".npz")]) == 5

    def no_work(*args):
        raise AssertionError("episodes generated again")

    monkeypatch.setattr(ogd, "_generate_episodes", no_work)
    report = generate_dataset(MAZE, 4, path, num_workers=1, progress=False, episode_length=20)
    assert report.reused_episodes == 5 and report.steps_per_second == 0
    assert sorted(os.listdir(tmp_path)) == ["x-val.npz", "x.npz"]
    assert load_dataset(path, min_episode_length=20)["observations"].shape == (80, 2)


def test_the_npy_folder_layout_is_the_npz_file_uncompressed(tmp_path):
    generate_dataset(MAZE, 3, tmp_path / "a.npz", seed=4, num_workers=1, progress=False, episode_length=20)
    generate_dataset(MAZE, 3, tmp_path / "b", seed=4, num_workers=1, progress=False, episode_length=20)
    for npz, folder in (("a.npz", "b"), ("a-val.npz", "b-val")):
        loaded = {k[:-4]: np.load(tmp_path / folder / k) for k in os.listdir(tmp_path / folder)}
        assert _same(_arrays(tmp_path / npz), loaded)
    assert sorted(os.listdir(tmp_path)) == ["a-val.npz", "a.npz", "b", "b-val"]


def test_the_npz_is_written_a_piece_at_a_time(tmp_path):
    # numpy's savez_compressed copies a whole memory-mapped array (and its compressed bytes) into memory; the
    # generator's writer holds a piece of it: same archive members, same arrays, ~1 MiB of Python memory
    arrays = {"observations": np.lib.format.open_memmap(tmp_path / "o.npy", "w+", np.float32, (500_000, 4)),
              "terminals": np.lib.format.open_memmap(tmp_path / "t.npy", "w+", bool, (500_000,))}
    arrays["observations"][:] = np.random.default_rng(0).random((500_000, 4))
    arrays["terminals"][999::1000] = True
    tracemalloc.start()
    try:
        with open(tmp_path / "pieces.npz", "xb") as f:
            ogd._savez_compressed_in_pieces(f, arrays)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20 < arrays["observations"].nbytes  # the array is 7.6 MiB; numpy's writer peaks at ~28
    np.savez_compressed(tmp_path / "numpy.npz", **arrays)
    with zipfile.ZipFile(tmp_path / "pieces.npz") as ours, zipfile.ZipFile(tmp_path / "numpy.npz") as theirs:
        members = [[(i.filename, i.file_size) for i in archive.infolist()] for archive in (ours, theirs)]
    assert members[0] == members[1]
    assert _same(_arrays(tmp_path / "pieces.npz"), _arrays(tmp_path / "numpy.npz"))
    assert _arrays(tmp_path / "pieces.npz")["terminals"].sum() == 500


def test_cube_single_play(tmp_path, no_network):
    name = "cube-single-play-v0"
    path = tmp_path / f"{name}.npz"
    report = generate_dataset(name, 3, path, num_workers=1, progress=False, episode_length=60)
    assert (report.rows, report.val_rows) == (180, 60)
    d = load_dataset(path, min_episode_length=60)
    assert d["observations"].shape == (180, 28) and d["actions"].shape == (180, 5)
    assert np.abs(d["actions"]).max() <= 1.0
    assert np.linalg.norm(d["observations"][59] - d["observations"][0]) > 0.1  # the arm moves
    env, tr, va = ogbench.make_env_and_datasets(name, dataset_path=str(path), compact_dataset=True)
    assert tr["observations"].shape == (180, 28) and va["valids"].sum() == 59


# --- load_dataset -----------------------------------------------------------------------------------

def _good(rows=6, episodes=(3, 3)) -> dict[str, np.ndarray]:
    terminals = np.zeros(rows, bool)
    terminals[np.cumsum(episodes) - 1] = True
    return {"observations": np.arange(rows * 2, dtype=np.float64).reshape(rows, 2),
            "actions": np.zeros((rows, 2), np.float32), "terminals": terminals.astype(np.int64)}


def test_load_dataset_of_user_trajectories(tmp_path, maze_file):
    np.savez(tmp_path / "mine.npz", **_good(rows=7, episodes=(3, 4)))
    d = load_dataset(tmp_path / "mine.npz")
    assert d["observations"].dtype == np.float32 and d["terminals"].dtype == bool
    assert d["episode_starts"].tolist() == [0, 3] and d["episode_ends"].tolist() == [2, 6]
    m = load_dataset(maze_file)
    assert len(m["episode_starts"]) == 10 and (m["episode_ends"] - m["episode_starts"] + 1 == STEPS).all()


def _with(**changes):
    data = _good()
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


BAD_FILES = {
    "missing keys": (_with(actions=None), r"missing keys \['actions'\]"),
    "1-d observations": (_with(observations=np.zeros(6)),
                         r"'observations' must be 2-d \[rows, obs_dim\], got shape \(6,\)"),
    "2-d terminals": (_with(terminals=np.ones((6, 1))), r"'terminals' must be 1-d"),
    "row counts": (_with(actions=np.zeros((5, 2))), r"row counts differ: \{'observations': 6, 'actions': 5"),
    "no rows": (_with(observations=np.zeros((0, 2)), actions=np.zeros((0, 2)), terminals=np.zeros(0)), "no rows"),
    "uint8 observations that are no images": (_with(observations=np.zeros((6, 2), np.uint8)),
                                              r"uint8 'observations' must be images \[rows, height, width, channels\]"),
    "integer observations": (_with(observations=np.zeros((6, 2), np.int16)), "'observations' has dtype int16"),
    "integer actions": (_with(actions=np.zeros((6, 2), np.int32)), "'actions' has dtype int32"),
    "nan": (_with(observations=np.where(np.eye(6, 2) > 0, np.nan, 1.0)),
            r"'observations' has NaN or inf in 2 rows \(first: row 0\)"),
    "inf": (_with(actions=np.full((6, 2), np.inf)), "'actions' has NaN or inf in 6 rows"),
    "float32 overflow": (_with(observations=np.full((6, 2), 1e300)), "after conversion to float32"),
    "bad terminal": (_with(terminals=np.array([0, 0, 2, 0, 0, 1])), r"'terminals' must be 0 or 1, row 2 holds 2"),
    "string terminal": (_with(terminals=np.array(list("000001"))), "'terminals' has dtype <U1"),
    "no final terminal": (_with(terminals=np.array([0, 0, 1, 0, 0, 0])), r"last row \(5\) is not terminal"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_load_dataset_refuses(tmp_path, case):
    arrays, message = BAD_FILES[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as err:
        load_dataset(path)
    assert str(path) in str(err.value)


def test_load_dataset_refuses_files_that_are_not_npz_archives(tmp_path):
    with pytest.raises(ValueError, match="nope.npz does not exist"):
        load_dataset(tmp_path / "nope.npz")
    with pytest.raises(ValueError, match=r"dataset folder .*: missing observations.npy, actions.npy, terminals.npy"):
        load_dataset(tmp_path)  # a folder is the .npy layout
    (tmp_path / "text.npz").write_text("observations,actions\n1,2\n")
    with pytest.raises(ValueError, match="text.npz is not a readable .npz archive"):
        load_dataset(tmp_path / "text.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match="single.npy is a single .npy array"):
        load_dataset(tmp_path / "single.npy")
    np.savez(tmp_path / "objects.npz", observations=np.array([None] * 6), actions=np.zeros((6, 2)),
             terminals=np.ones(6))
    with pytest.raises(ValueError, match="objects.npz: cannot read its arrays"):
        load_dataset(tmp_path / "objects.npz")


def test_load_dataset_short_episodes(tmp_path):
    np.savez(tmp_path / "short.npz", **_good(rows=9, episodes=(4, 2, 3)))
    assert len(load_dataset(tmp_path / "short.npz", min_episode_length=2)["episode_starts"]) == 3
    with pytest.raises(ValueError, match=r"episode 1 \(rows 4..5\) has 2 rows, fewer than min_episode_length=3 "
                                         r"\(1 of 3 episodes are too short\)"):
        load_dataset(tmp_path / "short.npz", min_episode_length=3)


# --- evaluation ------------------------------------------------------------------------------------

def make_maze_oracle(env_id: str):
    """A picklable scripted policy: unit step towards the next cell on a BFS path to the goal's cell."""
    import gymnasium

    maze = gymnasium.make(env_id).unwrapped.maze_map.copy()

    class MazeOracle:
        def __call__(self, obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
            return np.stack([self.step(o, g) for o, g in zip(obs, goals)]).astype(np.float32)

        @staticmethod
        def step(ob: np.ndarray, goal: np.ndarray) -> np.ndarray:
            cell = lambda xy: (int((xy[1] + 6) // 4), int((xy[0] + 6) // 4))  # noqa: E731
            here, there = cell(ob), cell(goal)
            dist, queue = {there: 0}, deque([there])
            while queue:
                i, j = queue.popleft()
                for n in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
                    if maze[n] == 0 and n not in dist:
                        dist[n] = dist[(i, j)] + 1
                        queue.append(n)
            target = goal[:2]
            if here != there:
                i, j = min(((here[0] + a, here[1] + b) for a, b in ((-1, 0), (1, 0), (0, -1), (0, 1))),
                           key=lambda c: dist.get(c, 10**9))
                target = np.array([4.0 * j - 4, 4.0 * i - 4])
            d = target - ob[:2]
            return d / (np.linalg.norm(d) + 1e-6)

    return MazeOracle()


def test_oracle_policy_beats_zero_policy(ray_session, no_network):
    oracle = make_maze_oracle("pointmaze-medium-v0")
    ray_result = evaluate_goal_conditioned(oracle, MAZE, episodes_per_task=2, seed=1, num_workers=2)
    local_result = evaluate_goal_conditioned(oracle, MAZE, episodes_per_task=2, seed=1, num_workers=1)
    assert ray_result == local_result  # resets are seeded per episode: workers and batching do not matter
    assert ray_result["success"] >= 0.9 and ray_result["episodes"] == 10
    assert set(ray_result) == {"success", "episodes", "env_steps"} | {f"task_{i}/success" for i in range(1, 6)}
    zero = evaluate_goal_conditioned(lambda o, g: np.zeros((len(o), 2)), MAZE, 1, seed=1, num_workers=0)
    assert zero["success"] == 0.0 and zero["env_steps"] == 5 * 1000  # never reaches, runs to the time limit


def test_evaluation_refuses_bad_input():
    wrong_shape = r"policy returned actions of shape \(5, 3\) for 5 observations; expected \(5, 2\)"
    with pytest.raises(ValueError, match=wrong_shape):
        evaluate_goal_conditioned(lambda o, g: np.zeros((len(o), 3)), MAZE, 1, num_workers=1)
    with pytest.raises(ValueError, match="unknown OGBench dataset name"):
        evaluate_goal_conditioned(lambda o, g: o, "pointmaze-medium-v0", 1)
    with pytest.raises(ValueError, match="only continuous-action"):
        evaluate_goal_conditioned(lambda o, g: o, "powderworld-easy-play-v0", 1)
    with pytest.raises(ValueError, match="episodes_per_task must be >= 1"):
        evaluate_goal_conditioned(lambda o, g: o, MAZE, 0)
