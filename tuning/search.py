"""Ray Tune searches over any of the project's algorithms: Optuna (TPE) proposes, ASHA stops early.

``run_search(config, space, metric=..., ...)`` builds a ``tune.Tuner`` whose trainable is the
config's algorithm class and whose ``param_space`` is the config with the space's keys replaced
by Tune domains, so every trial is an ordinary RLlib ``Algorithm``. Per-trial resources follow
the config (``num_env_runners``, ``num_learners``, ``num_gpus_per_learner``), as for any RLlib
algorithm under Tune. Results go to ``storage_path/name`` (a local folder or any pyarrow
filesystem URI such as ``s3://bucket/path``); when the search ends, that folder also gets
``best_config.json``, ``trials.csv`` and ``search.png``. ``resume=True`` continues an
interrupted search from the same folder (``Tuner.restore``).
"""

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow.fs
import ray.rllib.utils.metrics as rllib_metrics
from optuna.samplers import TPESampler
from ray import tune
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, EPISODE_RETURN_MEAN, LEARNER_RESULTS
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.sample import Categorical, Domain, Float, Integer

from envs.games import GAMES, game_kwargs, get_game
from rllib_ext.utils.metrics import GAME_METRICS
from rllib_ext.utils.overrides import get_setting, set_setting, split_setting
from rllib_ext.utils.plotting import pyplot

MODES = ("max", "min")
MAX_FAILURES = 3
"""Times a trial that fails (its worker or node lost, an error) is restarted from its last checkpoint."""
RLLIB_KEYS = {v for k, v in vars(rllib_metrics).items() if k.isupper() and isinstance(v, str)}
"""Every result key RLlib names in ``ray.rllib.utils.metrics``."""
TUNE_KEYS = {"training_iteration", "time_total_s", "time_this_iter_s", "timesteps_total"}


@dataclass
class SearchReport:
    """The outcome of a search: where it lives, the best trial, one row per trial."""

    path: str
    metric: str
    mode: str
    best: Dict[str, Any]
    """``trial_id``, ``value`` of the metric, ``params`` ({space key: value}), ``set`` (``--set`` strings)."""
    trials: List[Dict[str, Any]]
    finished: int
    """Trials that completed (all iterations, or stopped early by ASHA); with ``failed``, fewer than the samples
    asked for means the search was interrupted and can be resumed (a trial cut off by the interruption is not
    finished, though Tune marks it TERMINATED)."""
    failed: int = 0
    """Trials that failed more than ``MAX_FAILURES`` times."""


def check_search(
    config: AlgorithmConfig,
    space: Dict[str, Any],
    points_to_evaluate: Sequence[Dict[str, Any]] = (),
    mode: str = "max",
    num_samples: int = 1,
    iterations: int = 1,
    metric: Optional[str] = None,
) -> None:
    """Refuse an empty space, unknown keys, values the algorithm's ``validate()`` rejects
    (each domain's bounds or categories are tried), warm-start points outside the space,
    budgets below one trial of one iteration and a ``metric`` the algorithm does not report."""
    if metric is not None:
        check_metric(config, metric)
    if num_samples < 1 or iterations < 1:
        raise ValueError(f"samples and iterations must be >= 1, got {num_samples} and {iterations}")
    if not space:
        raise ValueError("the search space is empty: give at least one key with a Tune domain")
    if mode not in MODES:
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    for key, domain in space.items():
        if not isinstance(domain, Domain):
            raise ValueError(f"search-space key {key!r}: expected a Tune domain (tune.uniform, tune.choice, ...), "
                             f"got {domain!r}")
        for value in _probe_values(domain):
            _check_value(config, key, value, "search-space key")
    for point in points_to_evaluate:
        unknown = sorted(set(point) - set(space))
        if unknown:
            raise ValueError(f"warm-start point {point} has keys outside the search space: {unknown}")
        for key, value in point.items():
            _check_value(config, key, value, "warm-start point key")


def check_metric(config: AlgorithmConfig, metric: str) -> None:
    """Refuse a ``metric`` the config's algorithm never reports (Tune would fail on the first result): on a game,
    ``env_runners/game/<agent>/<name>`` must name a metric of the game (or of the config's
    ``game_metric_keys()``, when it has its own games) and ``env_runners/<key>`` an RLlib
    env-runner key; offline, ``evaluation/`` keys are ``success`` and ``task_<i>/success``; ``learners/...``
    (per module) is left to the algorithm."""
    head, _, rest = metric.partition("/")
    game = config.env if isinstance(config.env, str) and config.env in GAMES else None
    own_keys = getattr(config, "game_metric_keys", None)  # an algorithm with games of its own (M-FOS)
    if game or own_keys:
        keys = own_keys() if own_keys else game_metric_keys(game, config.env_config)
        examples = [f"{ENV_RUNNER_RESULTS}/{EPISODE_RETURN_MEAN}", *(f"{ENV_RUNNER_RESULTS}/{GAME_METRICS}/{k}" for k in keys)]
        known = head == ENV_RUNNER_RESULTS and (
            metric in examples or rest.partition("/")[0] in RLLIB_KEYS - {GAME_METRICS})
    else:
        examples = ["evaluation/success", "evaluation/task_1/success"]
        known = head == "evaluation" and re.fullmatch(r"success|task_[1-5]/success", rest)
    if not (known or head == LEARNER_RESULTS or (not rest and metric in RLLIB_KEYS | TUNE_KEYS)):
        raise ValueError(f"--metric {metric!r} is not a result {config.algo_class.__name__} reports here; "
                         f"for example: {', '.join(examples)}")


def game_metric_keys(game: str, env_config: Dict[str, Any]) -> List[str]:
    """``<agent>/<name>`` of every metric the game logs under ``env_runners/game`` (its metrics function run
    on one empty step)."""
    spec = get_game(game)
    n = len(spec.reference(**game_kwargs(game, env_config)).possible_agents)
    zeros = np.zeros((1, 1, n))
    return [f"{agent}/{name}" for agent, values in spec.metrics(zeros, zeros, {"pickups": np.zeros((1, 1, n, n))}).items()
            for name in values]


def preset_point(config: AlgorithmConfig, space: Dict[str, Any]) -> Dict[str, Any]:
    """The config's own values for the space's keys that lie inside their domains (a warm start)."""
    point = {}
    for key, domain in space.items():
        value = get_setting(config, key)
        if isinstance(domain, Categorical) and value in domain.categories:
            point[key] = value
        elif isinstance(domain, (Float, Integer)) and isinstance(value, (int, float)) \
                and not isinstance(value, bool) and domain.lower <= value <= domain.upper:
            point[key] = value
    return point


def run_search(
    config: AlgorithmConfig,
    space: Dict[str, Any],
    *,
    metric: str,
    name: str,
    mode: str = "max",
    num_samples: int = 8,
    iterations: int = 10,
    storage_path: str = "runs/tune",
    points_to_evaluate: Sequence[Dict[str, Any]] = (),
    max_concurrent_trials: Optional[int] = None,
    grace_period: Optional[int] = None,
    checkpoint_every: int = 5,
    seed: Optional[int] = 0,
    resume: bool = False,
) -> SearchReport:
    """Search ``space`` around ``config``; every trial trains ``iterations`` iterations unless ASHA
    stops it; a trial is checkpointed every ``checkpoint_every`` iterations and, when it fails (a worker or
    node lost), restarted from its last checkpoint up to ``MAX_FAILURES`` times. Returns the report also
    written to the experiment folder."""
    check_search(config, space, points_to_evaluate, mode, num_samples, iterations, metric)
    path = search_path(storage_path, name, resume)
    storage_path = path.rsplit("/", 1)[0]
    # Re-given on resume too: Tune stores the classes in the config (modules, env runners) as object
    # references that a new Ray session cannot resolve.
    param_space, paths = _param_space(config, space)
    if resume:
        tuner = tune.Tuner.restore(path, trainable=config.algo_class, param_space=param_space,
                                   resume_unfinished=True, resume_errored=True)
    else:
        points = [{paths[k]: v for k, v in p.items()} for p in points_to_evaluate]
        searcher = OptunaSearch(points_to_evaluate=points or None, sampler=TPESampler(seed=seed))
        tuner = tune.Tuner(
            config.algo_class,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                metric=metric,
                mode=mode,
                search_alg=searcher,
                scheduler=ASHAScheduler(max_t=iterations, grace_period=grace_period or max(1, iterations // 4)),
                num_samples=num_samples,
                max_concurrent_trials=max_concurrent_trials,
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=storage_path,
                stop={"training_iteration": iterations},
                checkpoint_config=tune.CheckpointConfig(
                    checkpoint_frequency=checkpoint_every, num_to_keep=2, checkpoint_at_end=True),
                failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                callbacks=[TrialLines(metric, paths, iterations)],
                verbose=0,
            ),
        )
    results = tuner.fit()
    return _report(results, space, metric, mode)


def search_path(storage_path: str, name: str, resume: bool = False) -> str:
    """``storage_path/name`` (local paths made absolute); it must hold a search to resume, else be new."""
    if not name or "/" in name:
        raise ValueError(f"a search name is one folder name, got {name!r}")
    storage_path = storage_path if "://" in storage_path else os.path.abspath(storage_path)
    path = f"{storage_path.rstrip('/')}/{name}"
    if resume and not tune.Tuner.can_restore(path):
        raise FileNotFoundError(f"nothing to resume at {path}")
    if not resume and _exists(path):
        raise FileExistsError(f"search folder {path} exists: pass --resume to continue it, or choose another --name")
    return path


class TrialLines(tune.Callback):
    """One progress line per trial result and per finished trial."""

    def __init__(self, metric: str, paths: Dict[str, str], iterations: int):
        self.metric, self.paths, self.iterations = metric, paths, iterations

    def on_trial_result(self, iteration, trials, trial, result, **info):
        params = " ".join(f"{k}={_fmt(lookup(trial.config, p))}" for k, p in self.paths.items())
        print(f"[tune] {trial.trial_id} iter {result.get('training_iteration')}/{self.iterations} | "
              f"{self.metric} {_fmt(lookup(result, self.metric))} | {params}", flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        print(f"[tune] {trial.trial_id} done", flush=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        print(f"[tune] {trial.trial_id} FAILED: see {trial.path}/error.txt", flush=True)


def lookup(tree: Dict[str, Any], path: str, default: Any = None) -> Any:
    """``tree["a"]["b"]`` for ``path="a/b"`` (a flat ``"a/b"`` key is found too)."""
    if path in tree:
        return tree[path]
    node: Any = tree
    for part in path.split("/"):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


# -- internals --------------------------------------------------------------------------------


def _probe_values(domain: Domain) -> List[Any]:
    if isinstance(domain, Categorical):
        return list(domain.categories)
    if isinstance(domain, Integer):
        return [domain.lower, domain.upper - 1]  # tune.randint's upper bound is exclusive
    if isinstance(domain, Float):
        return [domain.lower, domain.upper]
    return [domain.sample()]


def _check_value(config: AlgorithmConfig, key: str, value: Any, what: str) -> None:
    trial = config.copy(copy_frozen=False)
    try:
        set_setting(trial, key, value)
        trial.validate()
    except (ValueError, TypeError) as e:
        raise ValueError(f"{what} {key!r}: value {value!r} is invalid: {e}") from None


def _space_paths(space: Dict[str, Any], config_dict: Dict[str, Any]) -> Dict[str, str]:
    """Each space key's ``/`` path in a config dict (``env.x`` -> ``env_config/x``)."""
    paths = {}
    for key in space:
        attr, entry = split_setting(key)
        if entry is not None:
            paths[key] = f"{attr}/{entry}"
        else:
            # Settings kept behind a property appear in to_dict() with a leading underscore.
            paths[key] = key if key in config_dict or f"_{key}" not in config_dict else f"_{key}"
    return paths


def _param_space(config: AlgorithmConfig, space: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """``config.to_dict()`` with the space's domains in place, and each space key's path in it."""
    param_space = config.to_dict()
    paths = _space_paths(space, param_space)
    for key, domain in space.items():
        head, _, name = paths[key].partition("/")
        param_space[head] = {**param_space.get(head, {}), name: domain} if name else domain
    return param_space, paths


def _trial_dirname(trial) -> str:
    return f"{trial.trainable_name}_{trial.trial_id}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


def _report(results, space: Dict[str, Any], metric: str, mode: str) -> SearchReport:
    paths = _space_paths(space, next((r.config for r in results if r.config), {}))
    rows = []
    for result in results:
        metrics, cfg = result.metrics or {}, result.config or {}
        value = lookup(metrics, metric)
        rows.append({
            "trial_id": metrics.get("trial_id") or os.path.basename(str(result.path)).rsplit("_", 1)[-1],
            "error": type(result.error).__name__ if result.error else "",
            "iterations": metrics.get("training_iteration", 0),
            metric: float(value) if isinstance(value, (int, float)) else None,
            "node_ip": metrics.get("node_ip"),
            **{k: lookup(cfg, p) for k, p in paths.items()},
        })
    scored = [r for r in rows if r[metric] is not None and math.isfinite(r[metric])]
    if not scored:
        raise RuntimeError(f"no trial reported {metric!r}; see the trials' error.txt under {results.experiment_path}")
    best_row = (max if mode == "max" else min)(scored, key=lambda r: r[metric])
    params = {k: best_row[k] for k in space}
    best = {"trial_id": best_row["trial_id"], "value": best_row[metric], "params": params,
            "set": [f"{k}={v!r}" for k, v in params.items()]}
    # Tune sets `done` on the last result of a trial that met the stop criterion or that ASHA stopped.
    finished = sum(1 for r in results if not r.error and (r.metrics or {}).get("done"))
    report = SearchReport(path=results.experiment_path, metric=metric, mode=mode, best=best, trials=rows,
                          finished=finished, failed=results.num_errors)
    _write_outputs(report)
    return report


def _write_outputs(report: SearchReport) -> None:
    _write_bytes(f"{report.path}/best_config.json", json.dumps(
        {"metric": report.metric, "mode": report.mode, **report.best}, indent=2, default=str).encode())
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(report.trials[0]))
    writer.writeheader()
    writer.writerows(report.trials)
    _write_bytes(f"{report.path}/trials.csv", text.getvalue().encode())
    _write_bytes(f"{report.path}/search.png", _plot(report))


def _plot(report: SearchReport) -> bytes:
    plt = pyplot()
    values = [r[report.metric] for r in report.trials]
    best, running = [], None
    for v in values:
        if v is not None and (running is None or (v > running if report.mode == "max" else v < running)):
            running = v
        best.append(running)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(1, len(values) + 1)
    ax.scatter(xs, [float("nan") if v is None else v for v in values], label="trial (last result)")
    ax.step(xs, [float("nan") if v is None else v for v in best], where="post", color="C1", label=f"best so far ({report.mode})")
    ax.set_xlabel("trial")
    ax.set_ylabel(report.metric)
    ax.set_title(os.path.basename(report.path.rstrip("/")))
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _exists(path: str) -> bool:
    fs, inner = pyarrow.fs.FileSystem.from_uri(path)
    info = fs.get_file_info(inner)
    if info.type == pyarrow.fs.FileType.NotFound:
        return False
    return info.type != pyarrow.fs.FileType.Directory or bool(
        fs.get_file_info(pyarrow.fs.FileSelector(inner, recursive=False)))


def _write_bytes(path: str, data: bytes) -> None:
    fs, inner = pyarrow.fs.FileSystem.from_uri(path)
    with fs.open_output_stream(inner) as stream:
        stream.write(data)
