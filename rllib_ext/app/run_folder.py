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
"""A run folder's plan (iterations, checkpoint intervals, plot title), which ``resume`` continues."""
MANIFEST = "checkpoint_files.json"
"""Written last into every checkpoint saved here: the size of each of its files, so that a checkpoint with a file
cut short or missing is known to be bad before RLlib loads it (RLlib writes ``rllib_checkpoint.json`` first and
restores a checkpoint that lacks a component, such as the learner's weights, without a word)."""
CHECKPOINT_EVERY = 10
"""Default iterations between periodic checkpoints."""
CHECKPOINT_MINUTES = 10.0
"""Default wall-clock minutes between periodic checkpoints: a killed run loses at most this much work (plus the
iteration under way), or ``CHECKPOINT_EVERY`` iterations if those come sooner."""
KEEP_NUMBERED = 3
"""Periodic ``iter_N`` checkpoints kept (the newest ones) beside ``final``."""


class BadCheckpoint(Exception):
    """A checkpoint that is incomplete or damaged on disk; the message says how."""


class RunFolder:
    """Writes a run's artefacts into ``path``, which must be new, empty, or hold a run killed before its first
    checkpoint (started again): nothing of value is overwritten."""

    def __init__(self, path: os.PathLike):
        self.path = Path(path).absolute()
        existing = next(p for p in [self.path, *self.path.parents] if p.exists())
        if not existing.is_dir():
            where = "is a file" if existing == self.path else f"is under {existing}, which is a file"
            raise ValueError(f"--out {self.path} {where}; give a folder")
        self.rows: List[Dict[str, float]] = []
        self.restarted = self.path.exists() and any(self.path.iterdir())
        if self.restarted and not self.died_before_first_checkpoint():
            raise FileExistsError(f"run folder {self.path} already exists and is not empty; pick another --out")

    def died_before_first_checkpoint(self) -> bool:
        """A run folder of a run killed before its first checkpoint (nothing to resume: ``train`` starts it again)."""
        names = {p.name for p in self.path.iterdir()}
        return PLAN in names and names <= {PLAN, "config.json", "progress.csv", "checkpoints"} and not self.checkpoints()

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
        if not (run.path / PLAN).exists():
            raise FileNotFoundError(f"{run.path} is not a run folder to resume: it has no {PLAN}")
        run.rows = cls.read_rows(run.path) if (run.path / "progress.csv").exists() else []
        return run

    def checkpoints(self) -> List[Path]:
        """The run's checkpoints, newest first: ``final`` (the run ended or was stopped), then ``iter_N`` by N."""
        return checkpoints_newest_first(self.path / "checkpoints")

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
        """Make the folder (emptied first if it holds a run that died before its first checkpoint)."""
        if self.restarted:
            self.remove()
        self.made = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def remove(self) -> None:
        """Delete what this run wrote (the folder too if the run made it)."""
        for name in (PLAN, "config.json", "progress.csv", "checkpoints"):
            target = self.path / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        if getattr(self, "made", False) and not any(self.path.iterdir()):
            self.path.rmdir()

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
        """Save ``algo`` as ``checkpoints/NAME`` atomically: into ``checkpoints/.partial-NAME`` first, with its
        manifest last, then renamed into place; only the newest ``KEEP_NUMBERED`` ``iter_N`` are kept."""
        folder = self.path / "checkpoints"
        partial, target = folder / f".partial-{name}", folder / name
        shutil.rmtree(partial, ignore_errors=True)  # left by a save that was killed
        algo.save_to_path(str(partial))
        sizes = {str(f.relative_to(partial)): f.stat().st_size for f in sorted(partial.rglob("*")) if f.is_file()}
        _atomic_write(partial / MANIFEST, json.dumps(sizes, indent=0) + "\n")
        if target.exists():  # a `final` that failed to load, replaced by a new one
            old = folder / f".old-{name}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(partial, target)
            shutil.rmtree(old)
        else:
            os.replace(partial, target)
        for stale in [p for p in self.checkpoints() if p.name != "final"][KEEP_NUMBERED:]:
            shutil.rmtree(stale)
        return target


def checkpoints_newest_first(folder: Path) -> List[Path]:
    """``final`` and the ``iter_N`` folders in ``folder``, newest first (folders being saved are left out)."""
    numbered = sorted((p for p in folder.glob("iter_*") if p.is_dir()), key=lambda p: p.name, reverse=True)
    return [p for p in [folder / "final"] if p.is_dir()] + numbered


def check_checkpoint(path: Path, require_manifest: bool) -> None:
    """Raise :class:`BadCheckpoint` if ``path`` lacks ``rllib_checkpoint.json``, or a file its manifest lists
    is missing or of another size; ``require_manifest``: a checkpoint without a manifest is bad too (in a run
    folder whose checkpoints all get one, it was cut mid-copy or mid-save)."""
    if not (path / "rllib_checkpoint.json").is_file():
        raise BadCheckpoint("no rllib_checkpoint.json")
    if not (path / MANIFEST).is_file():
        if require_manifest:
            raise BadCheckpoint(f"no {MANIFEST}: it was cut before its save completed")
        return
    try:
        sizes = json.loads((path / MANIFEST).read_text())
    except ValueError:
        raise BadCheckpoint(f"its {MANIFEST} is damaged") from None
    for name, size in sizes.items():
        if not (path / name).is_file():
            raise BadCheckpoint(f"{name} is missing")
        if (path / name).stat().st_size != size:
            raise BadCheckpoint(f"{name} has {(path / name).stat().st_size} of its {size} bytes")


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
