"""RLlib's nested result dicts as the flat rows of ``progress.csv`` and ``result.json``, progress lines and tables.

``flatten_result`` keeps: per-player game metrics and Reciprocator metrics as ``<agent_id>/<metric>``
(``player_0/cooperation_rate``, ``player_0/reciprocal_reward``), per-module PPO losses as
``learner/<module_id>/<metric>``, the influence estimator's latest fit as ``estimator/<name>``, plus
``training_iteration``, ``env_steps`` and ``time_total_s``. Offline algorithms add ``success`` and
``task_<i>/success`` (from the iteration's evaluation, when there was one), ``steps`` (gradient steps so far),
``steps_per_s`` and the learner's losses and statistics as ``learner/<name>``.
"""

import math
from typing import Any, Dict, List, Sequence

from ray.rllib.core import DEFAULT_MODULE_ID

from rllib_ext.utils.metrics import (
    GAME_METRICS,
    GRAD_STEPS_PER_S,
    INFLUENCE_ESTIMATOR,
    NUM_GRAD_STEPS_LIFETIME,
    RECIPROCATOR_METRICS,
)

PPO_LEARNER_KEYS = ("policy_loss", "vf_loss", "entropy", "mean_kl_loss")
_BOOKKEEPING = ("num_", "weights_seq_no", "module_train_batch_size", "default_optimizer")


def flatten_result(result: Dict[str, Any]) -> Dict[str, float]:
    """The flat metrics of one ``algo.train()`` result."""
    runners = result.get("env_runners", {})
    flat: Dict[str, float] = {
        "training_iteration": result.get("training_iteration", 0),
        "time_total_s": round(result.get("time_total_s", 0.0), 3),
    }
    if "num_env_steps_sampled_lifetime" in runners:
        flat["env_steps"] = runners["num_env_steps_sampled_lifetime"]
    for agent_id, metrics in sorted(runners.get(GAME_METRICS, {}).items()):
        for name, value in sorted(metrics.items()):
            flat[f"{agent_id}/{name}"] = float(value)
    if NUM_GRAD_STEPS_LIFETIME in result:
        flat.update(steps=result[NUM_GRAD_STEPS_LIFETIME],
                    steps_per_s=round(float(result.get(GRAD_STEPS_PER_S, 0.0)), 2))
    flat.update(success_metrics(result.get("evaluation", {})))
    for module_id, metrics in sorted(result.get("learners", {}).items()):
        if module_id == DEFAULT_MODULE_ID:
            flat.update({f"learner/{k}": float(v) for k, v in sorted(metrics.items())
                         if _is_scalar(v) and not k.startswith(_BOOKKEEPING)})
        elif module_id == INFLUENCE_ESTIMATOR:
            flat.update({f"estimator/{name}": float(v) for name, v in sorted(metrics.items())})
        elif not module_id.startswith("__"):
            flat.update({f"learner/{module_id}/{n}": float(metrics[n]) for n in PPO_LEARNER_KEYS if n in metrics})
            flat.update({f"{module_id}/{n}": float(metrics[n]) for n in RECIPROCATOR_METRICS if n in metrics})
    return flat


def success_metrics(evaluation: Dict[str, Any]) -> Dict[str, float]:
    """``success`` and ``task_<i>/success`` of a goal-conditioned evaluation (NaN entries dropped)."""
    return {k: float(v) for k, v in sorted(evaluation.items())
            if (k == "success" or k.endswith("/success")) and _is_scalar(v)}


def _is_scalar(value: Any) -> bool:
    """A finite number (NaN would make result.json invalid JSON)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def average_game_metrics(reports: List[dict]) -> Dict[str, float]:
    """Flat ``<agent_id>/<metric>`` means over env runners' reduced metrics."""
    sums: Dict[str, List[float]] = {}
    for report in reports:
        for agent_id, values in report.get(GAME_METRICS, {}).items():
            for name, value in values.items():
                sums.setdefault(f"{agent_id}/{name}", []).append(float(value))
    return {k: sum(v) / len(v) for k, v in sorted(sums.items())}


def progress_line(row: Dict[str, float], iterations: int, seconds: float, metrics: Sequence[str],
                  offline: bool) -> str:
    steps = f"grad steps {int(row['steps']):,} ({row['steps_per_s']:.0f}/s)" if offline \
        else f"steps {int(row.get('env_steps', 0)):,}"
    parts = [f"iter {int(row['training_iteration']):>4}/{iterations}", f"{seconds:5.1f}s", steps]
    for key, value in row.items():
        if key in metrics or "/" in key and not key.startswith("learner/") and key.split("/")[1] in metrics:
            parts.append(f"{key} {value:.3f}")
    return " | ".join(parts)


def success_table(result: Dict[str, float]) -> str:
    """Per-task and overall success of a goal-conditioned result."""
    tasks = sorted(k for k in result if k.endswith("/success"))
    lines = [f"{k.split('/')[0]:<8} {result[k]:.3f}" for k in tasks]
    return "\n".join(["task     success", "-------  -------", *lines,
                      f"{'overall':<8} {result.get('success', float('nan')):.3f}"])


def results_table(result: Dict[str, float], metrics: Sequence[str]) -> str:
    """A plain-text table: one row per player, one column per metric."""
    players = sorted({k.split("/")[0] for k in result if "/" in k and k.split("/")[0].startswith("player_")})
    header = ["player", *metrics]
    rows = [[p, *(f"{result.get(f'{p}/{m}', float('nan')):.3f}" for m in metrics)] for p in players]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
