"""One folder per run: resolved config, progress CSV, checkpoints, a plot and ``result.json``.

``flatten_result`` turns RLlib's nested result dict into the flat keys written to
``progress.csv`` and ``result.json``: per-player game metrics and Reciprocator metrics as
``<agent_id>/<metric>`` (``player_0/cooperation_rate``, ``player_0/reciprocal_reward``),
per-module learner losses as ``learner/<module_id>/<metric>``, the influence estimator's
latest losses as ``estimator/<loss>``, plus ``training_iteration``, ``env_steps`` and
``time_total_s``. Offline goal-conditioned algorithms (SAW) add ``success`` and
``task_<i>/success`` (from the iteration's evaluation, when there was one), ``steps`` (gradient
steps so far), ``steps_per_s`` and ``learner/<loss>``.
"""

import csv
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

from ray.rllib.core import DEFAULT_MODULE_ID

from rllib_ext.batched_env_runner import GAME_METRICS
from rllib_ext.reciprocator.connector import ESTIMATOR, PLAYER_METRICS
from rllib_ext.saw.saw import GRAD_STEPS_PER_S, NUM_GRAD_STEPS_LIFETIME

LEARNER_KEYS = ("policy_loss", "vf_loss", "entropy", "mean_kl_loss")
PLAN = "run.json"
"""A run folder's plan (iterations, checkpoint interval, plot title), which ``resume`` continues."""


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
        elif module_id == ESTIMATOR:
            flat.update({f"estimator/{name}": float(v) for name, v in sorted(metrics.items())})
        elif not module_id.startswith("__"):
            flat.update({f"learner/{module_id}/{n}": float(metrics[n]) for n in LEARNER_KEYS if n in metrics})
            flat.update({f"{module_id}/{n}": float(metrics[n]) for n in PLAYER_METRICS if n in metrics})
    return flat


def success_metrics(evaluation: Dict[str, Any]) -> Dict[str, float]:
    """``success`` and ``task_<i>/success`` of a goal-conditioned evaluation (NaN entries dropped)."""
    return {k: float(v) for k, v in sorted(evaluation.items())
            if (k == "success" or k.endswith("/success")) and _is_scalar(v)}


_BOOKKEEPING = ("num_", "weights_seq_no", "module_train_batch_size", "default_optimizer")


def _is_scalar(value: Any) -> bool:
    """A finite number (NaN would make result.json invalid JSON)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class RunFolder:
    """Writes a run's artefacts into ``path`` (which must be new or empty: nothing is overwritten)."""

    def __init__(self, path: os.PathLike):
        self.path = Path(path).absolute()
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise FileExistsError(f"run folder {self.path} already exists and is not empty; pick another --out")
        self.rows: List[Dict[str, float]] = []

    @staticmethod
    def read_rows(path: os.PathLike) -> List[Dict[str, float]]:
        """The rows of a run folder's ``progress.csv`` as floats."""
        with open(Path(path) / "progress.csv", newline="") as f:
            return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]

    @classmethod
    def existing(cls, path: os.PathLike) -> "RunFolder":
        """A run folder written by ``train``, to continue (its ``progress.csv`` rows loaded)."""
        run = cls.__new__(cls)
        run.path = Path(path).absolute()
        for needed in (PLAN, "progress.csv", "checkpoints"):
            if not (run.path / needed).exists():
                raise FileNotFoundError(f"{run.path} is not a run folder to resume: it has no {needed}")
        run.rows = cls.read_rows(run.path)
        return run

    def newest_checkpoint(self) -> Path:
        """``checkpoints/final`` if the run ended (or was stopped), else its last ``iter_N``."""
        checkpoints = self.path / "checkpoints"
        if (checkpoints / "final" / "rllib_checkpoint.json").exists():
            return checkpoints / "final"
        numbered = sorted(p for p in checkpoints.glob("iter_*") if (p / "rllib_checkpoint.json").exists())
        if not numbered:
            raise FileNotFoundError(f"{checkpoints} holds no complete checkpoint to resume from")
        return numbered[-1]

    def keep_rows_until(self, iteration: int) -> None:
        """Drop the rows after ``iteration`` (they are redone); the full file stays as
        ``progress-before-resume-TIME.csv``."""
        kept = [r for r in self.rows if r["training_iteration"] <= iteration]
        if len(kept) < len(self.rows):
            shutil.copy2(self.path / "progress.csv",
                         self.path / f"progress-before-resume-{time.strftime('%Y%m%d-%H%M%S')}.csv")
        self.rows = kept

    def archive_final(self, iteration: int) -> None:
        """Keep the ``final`` checkpoint being resumed from as ``iter_N`` (dropped if that already exists:
        both are the state after iteration N)."""
        final, numbered = self.path / "checkpoints" / "final", self.path / "checkpoints" / f"iter_{iteration:06d}"
        if numbered.exists():
            shutil.rmtree(final)
        else:
            os.replace(final, numbered)

    def create(self) -> "RunFolder":
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def write_json(self, name: str, data: Any) -> Path:
        target = self.path / name
        _atomic_write(target, json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")
        return target

    def log(self, row: Dict[str, float]) -> None:
        """Append one iteration's flat metrics and rewrite ``progress.csv``."""
        self.rows.append(row)
        columns: List[str] = []
        for r in self.rows:
            columns.extend(k for k in r if k not in columns)
        with tempfile.NamedTemporaryFile("w", dir=self.path, delete=False, suffix=".tmp", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(f.name, self.path / "progress.csv")

    def checkpoint(self, algo, name: str) -> Path:
        target = self.path / "checkpoints" / name
        algo.save_to_path(str(target))
        return target

    def plot_success(self, result: Dict[str, float], title: str, name: str = "plot.png") -> Path:
        """Bar chart of per-task and overall success."""
        values = {k.split("/")[0]: result[k] for k in sorted(result) if k.endswith("/success")}
        values["overall"] = result.get("success", math.nan)
        return _bar_chart(values, title, self.path / name)

    def plot(self, metric_names: Sequence[str], title: str, name: str = "plot.png") -> Path:
        """Plot every ``<agent>/<metric>`` column for the given metric names against iterations."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(metric_names), figsize=(5 * len(metric_names), 3.6), squeeze=False)
        x_key = "steps" if any("steps" in r for r in self.rows) else "training_iteration"
        for ax, metric in zip(axes[0], metric_names):
            for key in sorted({k for r in self.rows for k in r if k == metric or k.endswith("/" + metric)}):
                points = [(r[x_key], r[key]) for r in self.rows if key in r and not math.isnan(r[key])]
                if not points:
                    continue
                ax.plot(*zip(*points), marker="." if len(points) < 30 else None,
                        label=key.split("/")[0] if "/" in key else "overall")
            ax.set_xlabel("gradient steps" if x_key == "steps" else "training iteration")
            ax.set_ylabel(metric)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(title)
        fig.tight_layout()
        target = self.path / name
        fig.savefig(target, dpi=110)
        plt.close(fig)
        return target


def _bar_chart(values: Dict[str, float], title: str, target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.bar(list(values), list(values.values()), color="tab:blue")
    ax.set_ylim(0, 1)
    ax.set_ylabel("success rate")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


def _number(text: str) -> float:
    """A CSV cell back as written: int, float, or NaN for an empty cell."""
    if text in ("", None):
        return math.nan
    try:
        return int(text)
    except ValueError:
        return float(text)


def _atomic_write(target: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=target.parent, delete=False, suffix=".tmp") as f:
        f.write(text)
    os.replace(f.name, target)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return sorted(value, key=str) if isinstance(value, set) else list(value)
    if isinstance(value, type) or callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    if hasattr(value, "item"):
        return value.item()
    return repr(value)
