"""Train and evaluate an algorithm into a run folder, with one progress line per iteration."""

import contextlib
import os
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import ray
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

from envs import get_game
from rllib_ext.batched_env_runner import GAME_METRICS
from rllib_ext.run_folder import RunFolder, flatten_result

@contextlib.contextmanager
def ray_runtime(address: Optional[str] = None) -> Iterator[None]:
    """Use the running Ray (``address``/``RAY_ADDRESS``, or one already initialised) or start one."""
    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address)
    else:
        ray.init(include_dashboard=False, configure_logging=True, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def train(
    config: AlgorithmConfig,
    iterations: int,
    out: os.PathLike,
    checkpoint_every: int = 100,
    title: str = "",
    address: Optional[str] = None,
) -> Dict[str, float]:
    """Train ``config`` for ``iterations``; write the run folder ``out``; return the final flat metrics."""
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    run = RunFolder(out).create()
    run.write_json("config.json", config.to_dict())
    metrics = get_game(config.env).headline_metrics
    with ray_runtime(address):
        algo = config.build_algo()
        try:
            for i in range(1, iterations + 1):
                start = time.perf_counter()
                row = flatten_result(algo.train())
                run.log(row)
                print(progress_line(row, iterations, time.perf_counter() - start, metrics), flush=True)
                if checkpoint_every and i % checkpoint_every == 0 and i < iterations:
                    run.checkpoint(algo, f"iter_{i:06d}")
            final = run.checkpoint(algo, "final")
        finally:
            algo.stop()
    result = {**row, "checkpoint": str(final)}
    run.write_json("result.json", result)
    run.plot(metrics, title or f"{config.algo_class.__name__} on {config.env}")
    return result


def evaluate(checkpoint: os.PathLike, episodes: int, out: os.PathLike, explore: bool = False,
             address: Optional[str] = None) -> Dict[str, float]:
    """Play ``episodes`` episodes per env runner with a restored algorithm; write ``out``/result.json."""
    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    checkpoint = Path(checkpoint)
    if not (checkpoint / "rllib_checkpoint.json").exists():
        raise FileNotFoundError(f"{checkpoint} is not an RLlib checkpoint (no rllib_checkpoint.json)")
    run = RunFolder(out)
    with ray_runtime(address):
        algo = Algorithm.from_checkpoint(str(checkpoint))
        try:
            group = algo.env_runner_group
            local = group.num_remote_env_runners() == 0
            reports = group.foreach_env_runner(
                lambda r: (r.sample(num_episodes=episodes, explore=explore), r.get_metrics())[1],
                local_env_runner=local,
            )
        finally:
            algo.stop()
    run.create()
    result = average_game_metrics(reports)
    result.update(episodes=episodes * len(reports), explore=explore, checkpoint=str(checkpoint))
    run.write_json("result.json", result)
    return result


def average_game_metrics(reports: List[dict]) -> Dict[str, float]:
    """Flat ``<agent_id>/<metric>`` means over env runners' reduced metrics."""
    sums: Dict[str, List[float]] = {}
    for report in reports:
        for agent_id, values in report.get(GAME_METRICS, {}).items():
            for name, value in values.items():
                sums.setdefault(f"{agent_id}/{name}", []).append(float(value))
    return {k: sum(v) / len(v) for k, v in sorted(sums.items())}


def progress_line(row: Dict[str, float], iterations: int, seconds: float, metrics: Sequence[str]) -> str:
    parts = [f"iter {int(row['training_iteration']):>4}/{iterations}", f"{seconds:5.1f}s",
             f"steps {int(row['env_steps']):,}"]
    for key, value in row.items():
        if "/" in key and not key.startswith("learner/") and key.split("/")[1] in metrics:
            parts.append(f"{key} {value:.3f}")
    return " | ".join(parts)


def results_table(result: Dict[str, float], metrics: Sequence[str]) -> str:
    """A plain-text table: one row per player, one column per metric."""
    players = sorted({k.split("/")[0] for k in result if "/" in k and k.split("/")[0].startswith("player_")})
    header = ["player", *metrics]
    rows = [[p, *(f"{result.get(f'{p}/{m}', float('nan')):.3f}" for m in metrics)] for p in players]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
