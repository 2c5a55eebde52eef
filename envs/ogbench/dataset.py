"""OGBench dataset names and loading/validating OGBench-format ``.npz`` trajectory files.

File layout (as OGBench's generators write it): episodes are stored back to back, one row per
step (``observations[t]``, ``actions[t]``), and ``terminals`` is 1 on each episode's last row.

``load_dataset`` returns, for ``R`` rows and ``E`` episodes:

- ``observations`` ``[R, obs_dim]`` float32, or pixels ``[R, H, W, C]`` uint8 (``visual-*`` datasets, kept
  uint8), and ``actions`` ``[R, act_dim]`` float32. The file may store any floating dtype for states and
  actions (cast to float32); other integer observations and integer (discrete) actions are refused.
- ``terminals`` ``[R]`` bool. The file may store bool, or integers/floats that are all 0 or 1.
- ``episode_starts`` / ``episode_ends`` ``[E]`` int64: first and last (inclusive) row of each
  episode, so episode ``e`` is ``rows[episode_starts[e] : episode_ends[e] + 1]``.

Other keys (``qpos``, ``qvel``, ``button_states``) are ignored.

Two layouts: OGBench's ``.npz`` (compressed; ``np.load`` decompresses whole arrays into memory, so a 1M-frame
pixel dataset takes 12.3 GB of RAM in each process that loads it), or a folder ``NAME/`` with one uncompressed
``KEY.npy`` per key (``save_npy_folder``), which is memory-mapped: pages are read on demand and shared by every
process on the machine through the page cache, so datasets larger than RAM work.
"""

import os
import zipfile

import numpy as np

_MAZES = ("medium", "large", "giant", "teleport")
_MANIP_ENVS = (
    "cube-single", "cube-double", "cube-triple", "cube-quadruple",
    "scene", "puzzle-3x3", "puzzle-4x4", "puzzle-4x5", "puzzle-4x6",
)


def _known_datasets() -> frozenset:
    names = [f"pointmaze-{m}-{t}" for m in _MAZES for t in ("navigate", "stitch")]
    ant = [f"antmaze-{m}-{t}" for m in _MAZES for t in ("navigate", "stitch")]
    ant += [f"antmaze-{m}-explore" for m in ("medium", "large", "teleport")]
    humanoid = [f"humanoidmaze-{m}-{t}" for m in ("medium", "large", "giant") for t in ("navigate", "stitch")]
    manip = [f"{e}-{t}" for e in _MANIP_ENVS for t in ("play", "noisy")]
    soccer = [f"antsoccer-{m}-{t}" for m in ("arena", "medium") for t in ("navigate", "stitch")]
    names += ant + humanoid + manip + soccer
    names += [f"visual-{n}" for n in ant + humanoid + manip]
    names += [f"powderworld-{m}-play" for m in ("easy", "medium", "hard")]
    return frozenset(f"{n}-v0" for n in names)


KNOWN_DATASETS: frozenset = _known_datasets()
"""Every goal-conditioned dataset name OGBench publishes (``<env>-<dataset type>-v0``)."""

REQUIRED_KEYS = ("observations", "actions", "terminals")


def check_dataset_name(dataset_name: str) -> None:
    """Raise a ValueError unless ``dataset_name`` is a known OGBench goal-conditioned dataset name."""
    if dataset_name not in KNOWN_DATASETS:
        hint = ""
        if "singletask" in dataset_name or "oraclerep" in dataset_name:
            hint = " (single-task and oracle-representation variants are not goal-conditioned datasets)"
        examples = ", ".join(sorted(n for n in KNOWN_DATASETS if n.startswith("pointmaze")))
        raise ValueError(
            f"unknown OGBench dataset name {dataset_name!r}{hint}; names look like <env>-<type>-v0, "
            f"e.g. {examples}, cube-single-play-v0, scene-play-v0 ({len(KNOWN_DATASETS)} known)"
        )


def dataset_env_name(dataset_name: str) -> str:
    """The OGBench env id of a dataset: ``pointmaze-medium-navigate-v0`` -> ``pointmaze-medium-v0``."""
    check_dataset_name(dataset_name)
    parts = dataset_name.split("-")
    return "-".join(parts[:-2] + parts[-1:])


def load_dataset(path: os.PathLike, min_episode_length: int = 1) -> dict[str, np.ndarray]:
    """Load and validate an OGBench-format ``.npz`` file; see the module docstring for the result."""
    if min_episode_length < 1:
        raise ValueError(f"min_episode_length must be >= 1, got {min_episode_length}")
    path = os.fspath(path)
    arrays = _read_npz(path)

    def fail(problem: str) -> ValueError:
        return ValueError(f"dataset file {path}: {problem}")

    obs, actions, terminals = (arrays[k] for k in REQUIRED_KEYS)
    for key, array, ndim, shape in (
        ("actions", actions, 2, "[rows, act_dim]"),
        ("terminals", terminals, 1, "[rows]"),
    ):
        if array.ndim != ndim:
            raise fail(f"'{key}' must be {ndim}-d {shape}, got shape {array.shape}")
    rows = {k: len(arrays[k]) for k in REQUIRED_KEYS}
    if len(set(rows.values())) != 1:
        raise fail(f"row counts differ: {rows}")
    if len(obs) == 0:
        raise fail("it has no rows")
    pixels = obs.dtype == np.uint8
    if pixels and (obs.ndim != 4 or obs.shape[-1] not in (1, 3, 4)):
        raise fail(f"uint8 'observations' must be images [rows, height, width, channels], got shape {obs.shape}")
    if not pixels and obs.ndim != 2:
        raise fail(f"'observations' must be 2-d [rows, obs_dim], got shape {obs.shape} "
                   "(or uint8 images [rows, height, width, channels])")
    for key, array in (("observations", obs), ("actions", actions)):
        if not (np.issubdtype(array.dtype, np.floating) or (key == "observations" and pixels)):
            raise fail(
                f"'{key}' has dtype {array.dtype}; only floating-point {key} "
                + ("or uint8 images are supported" if key == "observations" else "are supported (discrete-action "
                   "datasets are not)")
            )
    with np.errstate(over="ignore"):  # float64 values beyond float32's range become inf, reported below
        actions = actions.astype(np.float32, copy=False)
        if not pixels:
            obs = obs.astype(np.float32, copy=False)
    for key, array in ((("observations", obs),) if not pixels else ()) + (("actions", actions),):
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            raise fail(f"'{key}' has NaN or inf in {int(bad.sum())} rows (first: row {int(np.argmax(bad))}) "
                       "after conversion to float32")
    terminals = _as_bool_terminals(terminals, fail)
    if not terminals[-1]:
        raise fail(f"the last row ({len(terminals) - 1}) is not terminal: the final episode is incomplete")
    ends = np.flatnonzero(terminals)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    short = np.flatnonzero(lengths < min_episode_length)
    if len(short):
        e = int(short[0])
        raise fail(
            f"episode {e} (rows {starts[e]}..{ends[e]}) has {lengths[e]} rows, fewer than "
            f"min_episode_length={min_episode_length} ({len(short)} of {len(lengths)} episodes are too short)"
        )
    return {
        "observations": obs,
        "actions": actions,
        "terminals": terminals,
        "episode_starts": starts.astype(np.int64),
        "episode_ends": ends.astype(np.int64),
    }


def save_npy_folder(arrays: dict, folder: os.PathLike) -> None:
    """Write ``arrays`` as the memory-mappable folder layout: ``folder/KEY.npy`` per key (uncompressed)."""
    os.makedirs(folder, exist_ok=True)
    for key, array in arrays.items():
        np.save(os.path.join(folder, f"{key}.npy"), np.asarray(array))


def _read_npy_folder(path: str) -> dict[str, np.ndarray]:
    missing = [k for k in REQUIRED_KEYS if not os.path.isfile(os.path.join(path, f"{k}.npy"))]
    if missing:
        raise ValueError(f"dataset folder {path}: missing {', '.join(k + '.npy' for k in missing)} "
                         f"(it has {sorted(os.listdir(path))})")
    arrays = {}
    for key in REQUIRED_KEYS:
        try:
            arrays[key] = np.load(os.path.join(path, f"{key}.npy"), mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as e:
            raise ValueError(f"dataset folder {path}: {key}.npy is not a readable .npy array: {e}") from e
    return arrays


def _read_npz(path: str) -> dict[str, np.ndarray]:
    if os.path.isdir(path):
        return _read_npy_folder(path)
    if not os.path.isfile(path):
        problem = "is a directory" if os.path.isdir(path) else "does not exist"
        raise ValueError(f"dataset file {path} {problem}")
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY" and not zipfile.is_zipfile(f):
            raise ValueError(f"dataset file {path} is not a readable .npz archive: it is not a zip of named arrays "
                             "(OGBench's format)")
    try:
        file = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"dataset file {path} is not a readable .npz archive: {e}") from e
    if not isinstance(file, np.lib.npyio.NpzFile):
        raise ValueError(f"dataset file {path} is a single .npy array, not an .npz archive with named arrays")
    with file:
        missing = [k for k in REQUIRED_KEYS if k not in file.files]
        if missing:
            raise ValueError(f"dataset file {path}: missing keys {missing} (it has {sorted(file.files)})")
        try:
            return {k: file[k] for k in REQUIRED_KEYS}
        except (ValueError, OSError, zipfile.BadZipFile) as e:
            raise ValueError(f"dataset file {path}: cannot read its arrays: {e}") from e


def _as_bool_terminals(terminals: np.ndarray, fail) -> np.ndarray:
    if terminals.dtype == np.bool_:
        return terminals
    if not (np.issubdtype(terminals.dtype, np.integer) or np.issubdtype(terminals.dtype, np.floating)):
        raise fail(f"'terminals' has dtype {terminals.dtype}; expected bool or 0/1 numbers")
    bad = ~np.isin(terminals, (0, 1))
    if bad.any():
        i = int(np.argmax(bad))
        raise fail(f"'terminals' must be 0 or 1, row {i} holds {terminals[i].item()!r}")
    return terminals.astype(bool)


def _shape(shape: tuple) -> str:
    return f"{shape[0]} wide" if len(shape) == 1 else "x".join(map(str, shape))


def check_fits_env(dataset: dict, dataset_name: str, max_rows: int = 5000) -> list[str]:
    """Compare a loaded dataset with the env of ``dataset_name``: a ValueError if the observation widths differ;
    warnings (returned) for actions outside OGBench's action space [-1, 1] and, on mazes, x-y positions (the first
    two observation entries) inside the named maze's walls or outside it (another maze's data), judged on up to
    ``max_rows`` evenly spaced rows."""
    import ogbench

    env = ogbench.make_env_and_datasets(dataset_name, env_only=True).unwrapped
    obs, actions = dataset["observations"], dataset["actions"]
    shape = env.observation_space.shape
    if obs.shape[1:] != shape:
        what = "images" if obs.ndim == 4 else "observations"
        raise ValueError(f"its {what} are {_shape(obs.shape[1:])}, but those of {dataset_name}'s env are "
                         f"{_shape(shape)}: is it another environment's data?")
    warnings = []
    low, high = env.action_space.low, env.action_space.high
    outside = ((actions < low - 1e-4) | (actions > high + 1e-4)).any(axis=1)
    if outside.any():
        warnings.append(f"{outside.mean():.1%} of its actions lie outside the action space [{low.min():g}, "
                        f"{high.max():g}] (largest |action| {np.abs(actions).max():.3g}); the env clips them")
    if hasattr(env, "maze_map") and obs.ndim == 2:
        rows = obs[:: max(1, len(obs) // max_rows), :2]
        cells = np.array([env.xy_to_ij(xy) for xy in rows])
        shape = np.array(env.maze_map.shape)
        inside = ((cells >= 0) & (cells < shape)).all(axis=1)
        free = np.zeros(len(rows), bool)
        free[inside] = env.maze_map[cells[inside, 0], cells[inside, 1]] == 0
        if (~free).mean() > 0.05:
            warnings.append(f"{(~free).mean():.0%} of its x-y positions lie in walls of {dataset_name}'s maze or "
                            "outside it: is it another maze's data?")
    return warnings
