"""Runs that die the way long runs die on clusters (SIGKILL, a damaged or half-copied checkpoint, a lost env
runner, a lost node, a silent server) lose at most one checkpoint interval of work, and user mistakes get a
one-line error before Ray starts."""

import csv
import math
import os
import shutil
import signal
import subprocess
import sys

import pytest

from rllib_ext.app.cli import main

CLI = [sys.executable, "-m", "rllib_ext.app.cli"]


def rows_of(run):
    with open(run / "progress.csv", newline="") as f:
        return list(csv.DictReader(f))


def kill_during(argv, line_start):
    """Run ``rllib-ext ARGV`` and SIGKILL it (and its process group: its local Ray) once it prints a line that
    starts with ``line_start``; return what it printed."""
    proc = subprocess.Popen([*CLI, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if line.startswith(line_start):
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(printed)[-3000:]
    return "".join(printed)


def truncate(path):
    """Cut a real file to half its length; return ``(new, old)`` sizes."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    return size // 2, size


GAME = ["train", "reciprocator", "--env", "ipd", "--agents", "reciprocator,naive",
        "--set", "num_envs_per_env_runner=32"]


def test_killed_game_run_resumes_and_damaged_checkpoints_fall_back(tmp_path, ray_session, capsys):
    """SIGKILL between periodic checkpoints: resume redoes at most the interval (3 iterations) and progress.csv
    has every iteration once. Then a truncated file in `final` and a checkpoint folder cut mid-copy: eval and
    resume skip each with a warning naming it and use the next older one."""
    out = tmp_path / "run"
    kill_during([*GAME, "--iterations", "8", "--checkpoint-every", "3", "--out", str(out)], "iter    5/8")
    checkpoints = out / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["iter_000003"]
    assert main(["resume", str(out)]) == 0
    assert f"resuming {out} from iter_000003 (iteration 3) to iteration 8" in capsys.readouterr().out
    rows = rows_of(out)
    assert [int(r["training_iteration"]) for r in rows] == list(range(1, 9))
    assert [float(r["env_steps"]) for r in rows] == [32 * 32 * i for i in range(1, 9)]
    assert sorted(p.name for p in checkpoints.iterdir()) == ["final", "iter_000003", "iter_000006"]

    cut_to, size = truncate(checkpoints / "final" / "learner_group" / "learner" / "state.pkl")
    assert main(["eval", str(checkpoints / "final"), "--episodes", "4", "--out", str(tmp_path / "eval")]) == 0
    err = capsys.readouterr().err
    assert (f"warning: checkpoint {checkpoints / 'final'} cannot be loaded (learner_group/learner/state.pkl has "
            f"{cut_to} of its {size} bytes); using the older {checkpoints / 'iter_000006'}") in err, err
    assert __import__("json").loads((tmp_path / "eval" / "result.json").read_text())["checkpoint"] == \
        str(checkpoints / "iter_000006")

    cut = checkpoints / "iter_000007"  # as a copy or a save without atomic rename leaves it: JSON first
    shutil.copytree(checkpoints / "iter_000006", cut)
    shutil.rmtree(cut / "learner_group" / "learner")
    (cut / "checkpoint_files.json").unlink()
    assert main(["resume", str(out), "--iterations", "10"]) == 0
    captured = capsys.readouterr()
    assert f"warning: checkpoint {checkpoints / 'final'} cannot be loaded" in captured.err
    assert (f"warning: checkpoint {cut} cannot be loaded (no checkpoint_files.json: it was cut before its save "
            f"completed); using the older {checkpoints / 'iter_000006'}") in captured.err
    assert "from iter_000006 (iteration 6) to iteration 10" in captured.out
    rows = rows_of(out)
    assert [int(r["training_iteration"]) for r in rows] == list(range(1, 11))
    assert [float(r["env_steps"]) for r in rows] == [32 * 32 * i for i in range(1, 11)]
