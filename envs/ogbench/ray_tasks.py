"""Independent jobs (episodes to generate or to evaluate) fanned out over Ray tasks, or run in-process."""

from typing import Any, Callable, Sequence, TypeVar

import ray

R = TypeVar("R")


def default_workers(without_ray: int) -> int:
    """Workers when none are asked for: a running Ray's free CPUs (tasks waiting for busy ones would never
    start; fewer than 2 free means in-process), else ``without_ray``."""
    if ray.is_initialized():
        free = int(ray.available_resources().get("CPU", 0))
        return free if free >= 2 else 1
    return without_ray


def run_tasks(
    fn: Callable[..., R],
    args_list: Sequence[tuple],
    num_workers: int,
    on_result: Callable[[R], Any] = lambda result: result,
) -> list:
    """``[on_result(fn(*args)) for args in args_list]`` in order; in-process when ``num_workers <= 1``, else as
    Ray tasks with at most ``num_workers`` in flight (a running Ray is used, else a local one is started and shut
    down). ``on_result`` sees each result as it arrives; what it returns is kept in the result's place, so a
    caller that stores results elsewhere can return something small."""
    if num_workers <= 1:
        return [on_result(fn(*args)) for args in args_list]
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=num_workers, include_dashboard=False, configure_logging=True, logging_level="ERROR")
    remote = ray.remote(num_cpus=1)(fn)
    results: list = [None] * len(args_list)
    pending: dict = {}
    try:
        for i, args in enumerate(args_list):
            if len(pending) >= num_workers:
                _collect_one(pending, results, on_result)
            pending[remote.remote(*args)] = i
        while pending:
            _collect_one(pending, results, on_result)
        return results
    finally:
        for ref in pending:
            ray.cancel(ref)
        if started:
            ray.shutdown()


def _collect_one(pending: dict, results: list, on_result: Callable) -> None:
    [ref], _ = ray.wait(list(pending), num_returns=1)
    i = pending.pop(ref)
    results[i] = on_result(ray.get(ref))
