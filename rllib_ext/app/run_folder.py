"""One folder per run: resolved config, progress CSV, checkpoints, plots and ``result.json``; only files here."""

import csv
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

PLAN = "run.json"
"""A run folder's plan (iterations, checkpoint interval, plot title), which ``resume`` continues."""


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
