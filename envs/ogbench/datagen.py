"""Local generation of OGBench datasets, never a download.

Rewrites the logic of OGBench's ``data_gen_scripts`` for the datasets that need no learned expert
(the package ships the envs and the manipulation plan oracles, not the scripts):

============================================  ==================  =========  ==============================
dataset (``-v0``)                             default episodes    rows       time for the default size
============================================  ==================  =========  ==============================
pointmaze-{medium,large,teleport}-navigate    1000 x 1001 steps   1.10M      ~2.2 CPU-min; 3.2 min wall on
pointmaze-giant-navigate                      500 x 2001 steps    1.10M      1 worker, 2.1 min on 2 workers
pointmaze-{medium,large,giant,teleport}-      5000 x 201 steps    1.11M      (same speed)
stitch
cube-{single,double}-play, scene-play,        1000 x 1001 steps   1.10M      ~55 CPU-min per 1.1M rows
puzzle-{3x3,4x4}-play                                                        (cube-single; scene is slower)
cube-triple-play, puzzle-4x5-play             3000 x 1001 steps   3.30M      3x the above
cube-quadruple-play, puzzle-4x6-play          5000 x 1001 steps   5.51M      5x the above
visual-{cube-*,scene,puzzle-*}-play           as the state twin   as above   rendering: ~0.2-0.35 CPU-s per
                                                                             64x64 frame on a CPU (~100 core-
                                                                             hours per 1.1M rows): a GPU
                                                                             machine's or a cluster's job
============================================  ==================  =========  ==============================

Times and throughput: ``docs/performance.md``.

- pointmaze: action = unit vector towards the env's BFS oracle subgoal
  (``get_oracle_subgoal``) + N(0, 0.5^2) noise, clipped to [-1, 1]. Start cell uniform over free
  cells; navigate: goal uniform over vertex (non-corridor) cells and a new one on every success;
  stitch: goal a cell exactly 4 BFS steps from the start, kept all episode.
- cube / scene / puzzle play: the packaged plan oracles (noise 0.1, smoothing 0.5); a new target
  (``set_new_target``) whenever the oracle is done; scene episodes in which the cube leaves the
  visible area are redrawn, as OGBench does.
- visual-cube / visual-scene / visual-puzzle play: the same, in the pixel env (``ob_type='pixels'``, 64x64
  ``front_pixels`` camera): the oracles read only ``info`` (privileged state), never the image, so the same seed
  drives the same trajectory and ``observations`` are its uint8 frames. The renderer (``rendering.py``) is
  checked before any work starts. Rendering, not physics, is the whole cost (a physics step is ~0.002 CPU-s), so
  re-rendering a state dataset's stored ``qpos`` would save nothing and is not offered.

Each file holds ``observations`` (float32; uint8 ``[rows, 64, 64, 3]`` for visual datasets), ``actions``, ``qpos``,
``qvel`` (float32), ``terminals`` (bool, 1 on each episode's last row) and, for scene/puzzle, ``button_states``
(int64). An ``out_path`` ending in ``.npz`` gets OGBench's compressed file; a path without an extension the
memory-mapped folder layout (``PATH/KEY.npy``, companion ``PATH-val/``; ``dataset.save_npy_folder``). The
``-val.npz`` companion holds ``num_episodes // 10`` (at least 1) further episodes. Every episode has its own seed
derived from (``seed``, split, episode index), so the arrays are byte-identical for a seed whatever the number of
workers. Each episode is kept as it arrives, in a hidden folder beside ``out_path``
(``.NAME.episodes-DATASET-seedS-lengthL``), and the files are assembled from there on disk, a memory-mapped array at
a time (compressed into the ``.npz`` a MiB at a time), so the driver never holds the dataset (a visual one is
13.5 GB per 1.1M rows) and an interrupted generation started again with the same arguments generates only the episodes
still missing; the folder is removed once both files are in place. antmaze / humanoidmaze / antsoccer (and their
visual twins) need OGBench's trained expert policies, and noisy / powderworld / explore datasets are not
implemented.
"""

import functools
import os
import shutil
import time
import uuid
import zipfile
from dataclasses import dataclass
from typing import Optional

import gymnasium
import numpy as np
import ogbench  # noqa: F401  (registers the OGBench envs with gymnasium)
from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle
from ogbench.manipspace.oracles.plan.drawer_plan import DrawerPlanOracle
from ogbench.manipspace.oracles.plan.window_plan import WindowPlanOracle
from tqdm import tqdm

from envs.ogbench.dataset import KNOWN_DATASETS, dataset_env_name
from envs.ogbench.rendering import check_renderer
from envs.ogbench.ray_tasks import default_workers, run_tasks

MAZE_NOISE = 0.5
"""Std of the Gaussian noise added to the pointmaze oracle direction."""
STITCH_DISTANCE = 4
"""BFS distance (in maze cells) from start to goal in stitch episodes."""
ORACLE_NOISE, ORACLE_SMOOTHING = 0.1, 0.5
"""Plan-oracle noise level and its temporal smoothing for the manipulation play datasets."""
SMALL_JOB_STEPS = 50_000
"""With ``num_workers=None`` and no running Ray, jobs with fewer env steps run in-process."""

_EPISODES = {  # dataset -> (episodes, steps per episode), from OGBench's data_gen_scripts/commands.sh
    **{f"pointmaze-{m}-navigate-v0": (1000, 1001) for m in ("medium", "large", "teleport")},
    "pointmaze-giant-navigate-v0": (500, 2001),
    **{f"pointmaze-{m}-stitch-v0": (5000, 201) for m in ("medium", "large", "giant", "teleport")},
    **{f"{e}-play-v0": (1000, 1001) for e in ("cube-single", "cube-double", "scene", "puzzle-3x3", "puzzle-4x4")},
    **{f"{e}-play-v0": (3000, 1001) for e in ("cube-triple", "puzzle-4x5")},
    **{f"{e}-play-v0": (5000, 1001) for e in ("cube-quadruple", "puzzle-4x6")},
}
_EPISODES.update({f"visual-{name}": size for name, size in _EPISODES.items() if not name.startswith("pointmaze")})
_STACK_RANGES = {"cube-double": (0.0, 0.25), "cube-triple": (0.05, 0.35), "cube-quadruple": (0.1, 0.5)}
SUPPORTED_DATASETS: tuple = tuple(_EPISODES)
"""The dataset names ``generate_dataset`` can produce."""


@dataclass(frozen=True)
class DatasetSpec:
    """How one dataset is generated: env id, dataset type and the official episode count/length."""

    name: str
    env_id: str
    dataset_type: str
    num_episodes: int
    episode_length: int


@dataclass(frozen=True)
class GenerationReport:
    """What ``generate_dataset`` wrote and how long it took."""

    path: str
    val_path: str
    episodes: int
    val_episodes: int
    rows: int
    val_rows: int
    seconds: float
    """Wall-clock time of the generation (Ray start included, writing the files excluded)."""
    reused_episodes: int = 0
    """Episodes (train + val) kept from an interrupted generation with the same arguments, not generated again."""

    @property
    def steps_per_second(self) -> float:
        """Env steps (rows, train + val) generated per wall-clock second; reused episodes not counted."""
        generated = (self.episodes + self.val_episodes - self.reused_episodes) * (self.rows // self.episodes)
        return generated / self.seconds if self.seconds > 0 else 0.0


def dataset_spec(name: str) -> DatasetSpec:
    """The generation spec of ``name``; a ValueError says why a dataset cannot be generated locally."""
    if name in _EPISODES:
        episodes, length = _EPISODES[name]
        return DatasetSpec(name, dataset_env_name(name), name.split("-")[-2], episodes, length)
    if name not in KNOWN_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; supported: {', '.join(SUPPORTED_DATASETS)}")
    if any(k in name for k in ("antmaze", "humanoidmaze", "antsoccer")):
        why = ("its data comes from OGBench's trained SAC expert locomotion policies, which the ogbench "
               "package does not ship (they are a separate download)")
    else:
        why = "only the navigate/stitch pointmaze and play manipulation datasets (those SAW uses) are implemented"
    raise ValueError(f"dataset {name!r} cannot be generated locally: {why}; supported: {', '.join(SUPPORTED_DATASETS)}")


def generate_dataset(
    name: str,
    num_episodes: Optional[int],
    out_path: os.PathLike,
    seed: int = 0,
    force: bool = False,
    num_workers: Optional[int] = None,
    progress: bool = True,
    episode_length: Optional[int] = None,
) -> GenerationReport:
    """Generate dataset ``name`` into ``out_path`` (``.npz``) and its ``-val.npz`` companion.

    ``num_episodes`` / ``episode_length`` default (None) to OGBench's values. ``num_workers``: 1 runs
    in-process; more run on Ray (a running Ray is used, else a local one is started and stopped);
    None uses the free CPUs of a running Ray (in-process if fewer than 2), else runs small jobs
    in-process and big ones on all local cores. Existing files are only overwritten with ``force=True``. An
    interrupted call's episodes are reused by a call with the same ``name``, ``out_path``, ``seed`` and
    ``episode_length`` (module docstring).
    """
    spec = dataset_spec(name)
    episodes = spec.num_episodes if num_episodes is None else num_episodes
    length = spec.episode_length if episode_length is None else episode_length
    if episodes < 1 or length < 2:
        raise ValueError(f"need num_episodes >= 1 and episode_length >= 2, got {episodes} and {length}")
    path = os.path.abspath(os.fspath(out_path))
    if not path.endswith(".npz") and os.path.splitext(path)[1]:
        raise ValueError(f"out_path must end with .npz (OGBench derives the -val.npz name from it), or have no "
                         f"extension (the memory-mapped .npy folder layout), got {path}")
    val_path = path[: -len(".npz")] + "-val.npz" if path.endswith(".npz") else path + "-val"
    if not force:
        for p in (path, val_path):
            if os.path.exists(p):
                raise FileExistsError(f"{p} already exists; pass force=True (rllib-ext datagen --force) to "
                                      "overwrite it")
    if name.startswith("visual-"):
        check_renderer()
    val_episodes = max(1, episodes // 10)
    staging = os.path.join(os.path.dirname(path),
                           f".{os.path.basename(path)}.episodes-{name}-seed{seed}-length{length}")
    items = [(0, i) for i in range(episodes)] + [(1, i) for i in range(val_episodes)]
    todo = [item for item in items if not os.path.exists(_episode_file(staging, *item))]
    workers = _resolve_workers(num_workers, len(todo) * length)
    os.makedirs(staging, exist_ok=True)

    def keep(generated: list) -> int:  # each episode to disk as it arrives; the driver keeps none
        for item, arrays in generated:
            _save_atomic(_episode_file(staging, *item), lambda f: np.savez(f, **arrays))
        bar.update(len(generated))
        return len(generated)

    start = time.perf_counter()
    chunk = 1 if workers == 1 else max(1, -(-len(todo) // (8 * workers)))
    chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
    with tqdm(total=len(items), initial=len(items) - len(todo), desc=name, unit="ep", disable=not progress) as bar:
        if chunks:
            run_tasks(_generate_episodes, [(spec, length, seed, c) for c in chunks], workers, on_result=keep)
    seconds = time.perf_counter() - start
    _write_files(staging, length, [(val_path, 1, val_episodes), (path, 0, episodes)])
    shutil.rmtree(staging)
    return GenerationReport(path, val_path, episodes, val_episodes, episodes * length, val_episodes * length,
                            seconds, reused_episodes=len(items) - len(todo))


def _resolve_workers(num_workers: Optional[int], steps: int) -> int:
    if num_workers is None:
        return default_workers(1 if steps < SMALL_JOB_STEPS else os.cpu_count() or 1)
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1 or None, got {num_workers}")
    return num_workers


def _episode_seed(seed: int, split: int, index: int, attempt: int = 0) -> int:
    """The seed of one episode: split 0 = train, 1 = val; ``attempt`` counts redraws (scene)."""
    return int(np.random.SeedSequence([seed, split, index, attempt]).generate_state(1)[0])


def _generate_episodes(spec: DatasetSpec, length: int, seed: int, items: list) -> list:
    """``[((split, index), episode)]`` for the ``items`` of one dataset, each episode a dict of per-row arrays."""
    collector = _collector(spec.env_id, spec.dataset_type, length)
    state = np.random.get_state()  # the env code and the oracles draw from numpy's global RNG
    try:
        return [((split, index), _episode(collector, seed, split, index)) for split, index in items]
    finally:
        np.random.set_state(state)


def _episode(collector, seed: int, split: int, index: int) -> dict:
    attempt = 0
    while True:
        s = _episode_seed(seed, split, index, attempt)
        np.random.seed(s)
        episode = collector.episode(s)
        if episode is not None:
            return episode
        attempt += 1


@functools.lru_cache(maxsize=1)
def _collector(env_id: str, dataset_type: str, length: int):
    """One collector (and env) per process, reused across chunks."""
    if env_id.startswith("pointmaze"):
        return MazeCollector(env_id, dataset_type, length)
    return PlayCollector(env_id, length)


class MazeCollector:
    """Pointmaze episodes driven by the noisy BFS oracle (navigate or stitch)."""

    def __init__(self, env_id: str, dataset_type: str, length: int):
        self.env = gymnasium.make(env_id, terminate_at_goal=False).unwrapped
        self.navigate = dataset_type == "navigate"
        self.length = length
        maze = self.env.maze_map
        self.cells = [tuple(int(v) for v in c) for c in np.argwhere(maze == 0)]
        self.vertices = [c for c in self.cells if not _is_corridor(maze, *c)]
        self._subgoals: dict = {}

    def direction(self) -> np.ndarray:
        """Unit vector to the oracle subgoal (memoised: it depends only on the current and goal cells)."""
        env = self.env
        xy, goal = env.get_xy(), env.cur_goal_xy
        key = (env.xy_to_ij(xy), env.xy_to_ij(goal))
        if key not in self._subgoals:
            self._subgoals[key] = env.get_oracle_subgoal(xy, goal)[0]
        d = self._subgoals[key] - xy
        return d / (np.linalg.norm(d) + 1e-6)

    def goal_cell(self, start: tuple) -> tuple:
        if self.navigate:
            return self.vertices[np.random.randint(len(self.vertices))]
        _, dist = self.env.get_oracle_subgoal(self.env.ij_to_xy(start), self.env.ij_to_xy(start))
        near = [tuple(int(v) for v in c) for c in np.argwhere(dist == STITCH_DISTANCE)]
        return near[np.random.randint(len(near))] if near else start

    def episode(self, seed: int) -> dict:
        env = self.env
        start = self.cells[np.random.randint(len(self.cells))]
        goal = self.goal_cell(start)
        ob, _ = env.reset(seed=seed, options={"task_info": {"init_ij": start, "goal_ij": goal}})
        rows = _Rows()
        for _ in range(self.length):
            action = np.clip(self.direction() + np.random.normal(0.0, MAZE_NOISE, 2), -1, 1)
            next_ob, _, _, _, info = env.step(action)
            if self.navigate and info["success"]:
                env.set_goal(self.vertices[np.random.randint(len(self.vertices))])
            rows.add(ob, action, info)
            ob = next_ob
        return rows.arrays()


class PlayCollector:
    """cube / scene / puzzle play episodes driven by the packaged plan oracles."""

    def __init__(self, env_id: str, length: int):
        self.env = gymnasium.make(env_id, terminate_at_goal=False, mode="data_collection").unwrapped
        self.env_id, self.length = env_id.removeprefix("visual-"), length
        kw = dict(env=self.env, noise=ORACLE_NOISE, noise_smoothing=ORACLE_SMOOTHING)
        if self.env_id.startswith("cube"):
            self.oracles = {"cube": CubePlanOracle(**kw)}
        elif self.env_id.startswith("scene"):
            self.oracles = {"cube": CubePlanOracle(**kw), "button": ButtonPlanOracle(**kw),
                            "drawer": DrawerPlanOracle(**kw), "window": WindowPlanOracle(**kw)}
        else:
            self.oracles = {"button": ButtonPlanOracle(gripper_always_closed=True, **kw)}

    def stack_probability(self) -> float:
        """Chance that a new cube target is on top of another cube (drawn once per episode)."""
        if self.env_id.startswith("cube-single"):
            return 0.0
        for prefix, (low, high) in _STACK_RANGES.items():
            if self.env_id.startswith(prefix):
                return float(np.random.uniform(low, high))
        return 0.5

    def episode(self, seed: int) -> Optional[dict]:
        """One episode, or None for a scene episode whose cube left the visible area (redraw it)."""
        env = self.env
        ob, info = env.reset(seed=seed)
        p_stack = self.stack_probability()
        oracle = self.oracles[info["privileged/target_task"]]
        oracle.reset(ob, info)
        rows = _Rows()
        for _ in range(self.length):
            action = np.clip(np.asarray(oracle.select_action(ob, info)), -1, 1)
            next_ob, _, _, _, info = env.step(action)
            if oracle.done:
                target_ob, target_info = env.set_new_target(p_stack=p_stack)
                oracle = self.oracles[target_info["privileged/target_task"]]
                oracle.reset(target_ob, target_info)
            rows.add(ob, action, info)
            ob = next_ob
        arrays = rows.arrays()
        if self.env_id.startswith("scene") and not _scene_cube_visible(arrays["qpos"]):
            return None
        return arrays


class _Rows:
    """Per-step rows of one episode, stacked into OGBench's dtypes."""

    def __init__(self):
        self.columns: dict = {k: [] for k in ("observations", "actions", "qpos", "qvel", "button_states")}

    def add(self, ob: np.ndarray, action: np.ndarray, info: dict) -> None:
        self.columns["observations"].append(ob)
        self.columns["actions"].append(action)
        self.columns["qpos"].append(info["prev_qpos"])
        self.columns["qvel"].append(info["prev_qvel"])
        if "prev_button_states" in info:
            self.columns["button_states"].append(info["prev_button_states"])

    def arrays(self) -> dict:
        images = self.columns["observations"][0].dtype == np.uint8
        dtypes = {"button_states": np.int64, "observations": np.uint8 if images else np.float32}
        out = {k: np.asarray(v, dtype=dtypes.get(k, np.float32)) for k, v in self.columns.items() if v}
        out["terminals"] = np.zeros(len(out["actions"]), dtype=bool)
        out["terminals"][-1] = True
        return out


def _is_corridor(maze: np.ndarray, i: int, j: int) -> bool:
    """A straight corridor cell: open on two opposite sides, walled on the other two."""
    vertical = maze[i - 1, j] == 0 and maze[i + 1, j] == 0 and maze[i, j - 1] == 1 and maze[i, j + 1] == 1
    horizontal = maze[i, j - 1] == 0 and maze[i, j + 1] == 0 and maze[i - 1, j] == 1 and maze[i + 1, j] == 1
    return bool(vertical or horizontal)


def _scene_cube_visible(qpos: np.ndarray) -> bool:
    """OGBench's scene health check: the cube never goes too far right, nor too far left unless in the drawer."""
    xyz = qpos[:, 14:17]
    too_right = (xyz[:, 1] >= 0.29).any()
    too_left = ((xyz[:, 1] <= -0.3) & ((xyz[:, 2] < 0.06) | (xyz[:, 2] > 0.08))).any()
    return not (too_right or too_left)


def _episode_file(staging: str, split: int, index: int) -> str:
    return os.path.join(staging, f"{('train', 'val')[split]}-{index:07d}.npz")


def _assemble(staging: str, split: int, count: int, length: int, folder: str) -> dict:
    """Episodes ``0..count-1`` of ``split`` concatenated into ``folder/KEY.npy``, one episode in memory at a time;
    the arrays, memory-mapped."""
    with np.load(_episode_file(staging, split, 0)) as first:
        layout = {k: (first[k].dtype, first[k].shape[1:]) for k in first.files}
    os.makedirs(folder, exist_ok=True)
    out = {k: np.lib.format.open_memmap(os.path.join(folder, f"{k}.npy"), mode="w+", dtype=dtype,
                                        shape=(count * length, *shape)) for k, (dtype, shape) in layout.items()}
    for i in range(count):
        with np.load(_episode_file(staging, split, i)) as episode:
            for k, array in out.items():
                array[i * length : (i + 1) * length] = episode[k]
    for array in out.values():
        array.flush()
    return out


def _write_files(staging: str, length: int, outputs: list) -> None:
    """Each ``(path, split, count)`` of ``outputs`` assembled from the staged episodes (a ``.npz`` file, else the
    ``.npy`` folder layout) under a hidden temporary name next to ``path``; once all are written, renamed into
    place, so a failure leaves none of them (and the staged episodes for another try)."""
    written = []
    try:
        for path, split, count in outputs:
            tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
            written.append((tmp, path))
            if path.endswith(".npz"):
                arrays = _assemble(staging, split, count, length, os.path.join(staging, f"assembled-{split}"))
                with open(tmp, "xb") as f:
                    _savez_compressed_in_pieces(f, arrays)
            else:
                _assemble(staging, split, count, length, tmp)
        for tmp, path in written:
            if os.path.isdir(path):
                shutil.rmtree(path)
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in written:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp)
            elif os.path.exists(tmp):
                os.remove(tmp)
        raise


def _savez_compressed_in_pieces(f, arrays: dict, piece_bytes: int = 2**20) -> None:
    """``np.savez_compressed(f, **arrays)``'s file, each array compressed into the zip ``piece_bytes`` of rows at a
    time. (numpy's ``format.write_array`` copies a C-contiguous array whole before writing it to a zip member: for
    memory-mapped arrays, the dataset's largest array in memory, and more again for the compressed copy.)"""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, np.lib.format.header_data_from_array_1_0(array))
                rows = max(1, piece_bytes // max(1, array[:1].nbytes))
                for start in range(0, len(array), rows):
                    member.write(np.ascontiguousarray(array[start : start + rows]).data)


def _save_atomic(path: str, write) -> None:
    """``write(file)`` into a temporary name next to ``path``, then renamed into place."""
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "xb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
