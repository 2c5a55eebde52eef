"""Train, resume and evaluate an algorithm into a run folder, with one progress line per iteration.

What differs between algorithms (their kind, headline metrics, how they are evaluated) comes from their
entry in ``rllib_ext.algorithms.registry``.
"""

import json
import os
import pickle
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED

from rllib_ext.algorithms.registry import OFFLINE, entry_of
from rllib_ext.app import plots
from rllib_ext.utils.ray_runtime import ray_runtime
from rllib_ext.app.results import average_game_metrics, flatten_result, progress_line, success_metrics
from rllib_ext.app.run_folder import (CHECKPOINT_EVERY, CHECKPOINT_MINUTES, PLAN, BadCheckpoint, RunFolder,
                                      check_checkpoint, checkpoints_newest_first)


def train(
    config: AlgorithmConfig,
    iterations: int,
    out: os.PathLike,
    checkpoint_every: int = CHECKPOINT_EVERY,
    title: str = "",
    address: Optional[str] = None,
    checkpoint_minutes: float = CHECKPOINT_MINUTES,
) -> Dict[str, float]:
    """Train ``config`` for ``iterations``; write the run folder ``out``; return the final flat metrics.

    A checkpoint is saved every ``checkpoint_every`` iterations and once ``checkpoint_minutes`` have passed since
    the last one (0 turns either off; the final checkpoint is always saved). Offline algorithms are evaluated
    after the last iteration too. Ctrl-C or SIGTERM stops after the current iteration with a checkpoint and
    results (:class:`StopRequest`); :func:`resume` continues the run, also one that was killed.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if checkpoint_every < 0 or checkpoint_minutes < 0:
        raise ValueError(f"checkpoint intervals must be >= 0 (0 = off), got {checkpoint_every} iterations and "
                         f"{checkpoint_minutes} minutes")
    title = title or f"{config.algo_class.__name__} on {config.env}"
    run = RunFolder(out)
    with ray_runtime(address):
        algo = config.build_algo()
        try:
            # Made once the algorithm stands: a cluster that does not answer or a start-up error
            # (no GPU for a GPU learner) leaves no folder behind, and the same --out works again.
            if run.restarted:
                print(f"note: {run.path} holds a run killed before its first checkpoint; starting it again", flush=True)
            run.create()
            run.write_json("config.json", config.to_dict())
            run.write_json(PLAN, {"iterations": iterations, "checkpoint_every": checkpoint_every,
                                  "checkpoint_minutes": checkpoint_minutes, "checkpoint_manifests": True,
                                  "title": title})
            try:
                return _train_loop(algo, run, iterations, checkpoint_every, checkpoint_minutes, title)
            except BaseException:
                if not run.checkpoints():  # nothing to resume: leave nothing in the way of a rerun
                    run.remove()
                raise
        finally:
            algo.stop()


def resume(run_dir: os.PathLike, iterations: Optional[int] = None, address: Optional[str] = None) -> Dict[str, float]:
    """Continue the run in ``run_dir`` from its newest checkpoint that loads (a damaged one is reported and the
    next older one used) up to ``iterations`` in all (default: the run's planned count); progress rows after
    that checkpoint are set aside in ``progress-before-resume-*.csv``, the old ``final`` checkpoint is kept as
    ``iter_N``. Optimizer, sampler and estimator states come from the checkpoint; the global random streams do
    not, so a resumed run is not bitwise the uninterrupted one."""
    run = RunFolder.existing(run_dir)
    plan = json.loads((run.path / PLAN).read_text())
    iterations = iterations or plan["iterations"]
    candidates = run.checkpoints()
    if not candidates:
        raise FileNotFoundError(f"{run.path / 'checkpoints'} holds no checkpoint: the run stopped before its first; "
                                "run its train command again with the same --out")
    with ray_runtime(address):
        algo, checkpoint = restore_newest(candidates, plan.get("checkpoint_manifests", False))
        try:
            done = algo.iteration
            if done >= iterations:
                raise ValueError(f"{run.path} has {done} iterations already; give --iterations above {done}")
            run.keep_rows_until(done)
            if checkpoint.name == "final":
                run.archive_final(done)
            print(f"resuming {run.path} from {checkpoint.name} (iteration {done}) to iteration {iterations}", flush=True)
            run.write_json(PLAN, {**plan, "iterations": iterations})
            return _train_loop(algo, run, iterations, plan["checkpoint_every"],
                               plan.get("checkpoint_minutes", CHECKPOINT_MINUTES), plan["title"])
        finally:
            algo.stop()


def _train_loop(algo: Algorithm, run: RunFolder, iterations: int, checkpoint_every: int, checkpoint_minutes: float,
                title: str) -> Dict[str, float]:
    """Iterations ``algo.iteration + 1 .. iterations`` into ``run``; periodic and final checkpoints, result.json,
    plot. An iteration whose env runners sampled nothing (one was lost; RLlib restarts it after
    ``delay_between_env_runner_restarts_s``) is not counted, logged or checkpointed: it is run again."""
    entry = entry_of(algo)
    offline = entry.kind == OFFLINE
    metrics = entry.headline_metrics(algo.config)
    row, saved, idle_since = (run.rows[-1] if run.rows else {}), time.monotonic(), None
    with StopRequest() as stop:
        while True:
            start = time.perf_counter()
            result = algo.train()
            if not offline and not result.get(ENV_RUNNER_RESULTS, {}).get(NUM_ENV_STEPS_SAMPLED, 0) > 0:  # or NaN
                algo._iteration -= 1  # Trainable's counter, which checkpoints and `training_iteration` carry
                idle_since = _wait_for_env_runners(algo, idle_since)
                if not stop.requested:
                    continue
            else:
                idle_since = None
                row = flatten_result(result)
                if offline and (algo.iteration == iterations or stop.requested) and "success" not in row:
                    row.update(success_metrics(algo.evaluate()))
                run.log(row)
                print(progress_line(row, iterations, time.perf_counter() - start, metrics, offline), flush=True)
            i = algo.iteration
            if i >= iterations or stop.requested:
                break
            if (checkpoint_every and i % checkpoint_every == 0) or \
                    (checkpoint_minutes and time.monotonic() - saved >= 60 * checkpoint_minutes):
                run.checkpoint(algo, f"iter_{i:06d}")
                saved = time.monotonic()
        result = {**row, "checkpoint": str(run.checkpoint(algo, "final"))}
        if stop.requested and i < iterations:
            result["stopped_early"] = True
            print(f"stopped at iteration {i} of {iterations}; continue with: rllib-ext resume {run.path}", flush=True)
        run.write_json("result.json", result)
        if offline:
            plots.plot_offline(run.rows, title, run.path / "plot.png")
        else:
            plots.plot_players(run.rows, metrics, title, run.path / "plot.png")
    return result


def _wait_for_env_runners(algo: Algorithm, idle_since: Optional[float]) -> float:
    """After an iteration that sampled nothing: say so once, pause a second, and give up (RuntimeError) once the
    env runners have sampled nothing for longer than RLlib takes to restart a lost one."""
    config, now = algo.config, time.monotonic()
    patience = config.delay_between_env_runner_restarts_s + config.env_runner_health_probe_timeout_s + 120
    if idle_since is None:
        print(f"note: iteration {algo.iteration + 1} sampled nothing (an env runner was lost; RLlib restarts it "
              f"after {config.delay_between_env_runner_restarts_s:g} s); it is run again", flush=True)
        idle_since = now
    elif now - idle_since > patience:
        raise RuntimeError(f"the env runners sampled nothing for {now - idle_since:.0f} s; the run folder's newest "
                           "checkpoint resumes it (rllib-ext resume RUN)")
    time.sleep(1.0)
    return idle_since


class StopRequest:
    """While training: the first SIGINT (Ctrl-C) or SIGTERM asks to stop after the current iteration, which
    then ends like the last one (checkpoint ``final``, ``result.json`` with ``stopped_early``); another
    Ctrl-C a second or more later aborts at once. Outside the main thread (where Python takes no signals) it does nothing."""

    def __enter__(self) -> "StopRequest":
        self.requested = False
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            # `timeout` and Ctrl-C also signal the process group, so one request can arrive twice at once
            if signum == signal.SIGINT and time.monotonic() - self._first > 1.0:
                raise KeyboardInterrupt
            return
        self.requested, self._first = True, time.monotonic()
        print(f"\n{signal.Signals(signum).name}: stopping after this iteration with a checkpoint "
              "(Ctrl-C again aborts at once)", flush=True)

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def evaluate(checkpoint: os.PathLike, episodes: int, out: os.PathLike, explore: bool = False,
             address: Optional[str] = None) -> Dict[str, float]:
    """Evaluate a restored algorithm; write ``out``/result.json. Games: ``episodes`` episodes per env runner;
    offline algorithms: OGBench's protocol, ``episodes`` per task with greedy actions (and a bar chart).
    A checkpoint of a run folder that fails to load is reported and the next older one of that run used."""
    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    checkpoint = Path(checkpoint).absolute()
    if not (checkpoint / "rllib_checkpoint.json").exists():
        raise FileNotFoundError(f"{checkpoint} is not an RLlib checkpoint (no rllib_checkpoint.json)")
    candidates, plan = [checkpoint], checkpoint.parent.parent / PLAN
    if checkpoint.parent.name == "checkpoints" and plan.is_file():
        siblings = checkpoints_newest_first(checkpoint.parent)
        candidates += siblings[siblings.index(checkpoint) + 1:] if checkpoint in siblings else []
    run = RunFolder(out)
    with ray_runtime(address):
        algo, checkpoint = restore_newest(candidates, plan.is_file() and
                                          json.loads(plan.read_text()).get("checkpoint_manifests", False))
        try:
            if entry_of(algo).kind == OFFLINE:
                title = f"{type(algo).__name__} on {algo.config.dataset_name}: {episodes} episodes per task"
                report = algo.evaluate_tasks(episodes, seed=algo.config.seed or 0)
                result = {**success_metrics(report), "episodes": report["episodes"],
                          "steps": algo.get_state().get("num_grad_steps_lifetime", 0)}
            else:
                group = algo.env_runner_group
                reports = group.foreach_env_runner(
                    lambda r: (r.sample(num_episodes=episodes, explore=explore), r.get_metrics())[1],
                    local_env_runner=group.num_remote_env_runners() == 0,
                )
                result = {**average_game_metrics(reports), "episodes": episodes * len(reports), "explore": explore}
        finally:
            algo.stop()
    run.create()
    result["checkpoint"] = str(checkpoint)
    run.write_json("result.json", result)
    if "success" in result:
        plots.plot_success(result, title, run.path / "plot.png")
    return result


def restore_newest(candidates: List[Path], require_manifest: bool) -> Tuple[Algorithm, Path]:
    """The first of ``candidates`` (newest first) that is complete and loads, and its path; each one skipped is
    reported in a one-line warning that names it. ``require_manifest``: see :func:`check_checkpoint`."""
    for n, checkpoint in enumerate(candidates):
        try:
            check_checkpoint(checkpoint, require_manifest)
            return restore(checkpoint), checkpoint
        except Exception as e:  # whatever a damaged checkpoint raises (UnpicklingError, EOFError, KeyError, ...)
            reason = str(e).splitlines()[0] if isinstance(e, BadCheckpoint) else f"{type(e).__name__}: {e}".splitlines()[0]
            then = f"using the older {candidates[n + 1]}" if n + 1 < len(candidates) else "no older checkpoint is left"
            print(f"warning: checkpoint {checkpoint} cannot be loaded ({reason}); {then}", file=sys.stderr, flush=True)
    raise FileNotFoundError(f"no checkpoint of {', '.join(str(c) for c in candidates)} can be loaded")


def restore(checkpoint: Path) -> Algorithm:
    """``Algorithm.from_checkpoint``; a checkpoint saved with GPU learners restores on a machine where torch
    finds no GPU with CPU learners instead (train on a GPU cluster, evaluate on a laptop)."""
    with open(checkpoint / Algorithm.CLASS_AND_CTOR_ARGS_FILE_NAME, "rb") as f:
        config_state = pickle.load(f)["ctor_args_and_kwargs"][0][0]
    if config_state.get("num_gpus_per_learner") and not torch.cuda.is_available():
        print(f"note: {checkpoint} was saved with num_gpus_per_learner={config_state['num_gpus_per_learner']}; "
              "torch finds no GPU here, so its learners run on the CPU", flush=True)
        return Algorithm.from_checkpoint(str(checkpoint), config={**config_state, "num_gpus_per_learner": 0})
    return Algorithm.from_checkpoint(str(checkpoint))
