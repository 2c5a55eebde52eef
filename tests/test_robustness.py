"""Runs that die the way long runs die on clusters (SIGKILL, a damaged or half-copied checkpoint, a lost env
runner, a lost node, a silent server) lose at most one checkpoint interval of work, and user mistakes get a
one-line error before Ray starts."""

import csv
import json
import math
import os
import re
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
    """Run ``rllib-ext ARGV`` as a driver of the tests' Ray (as a job on a cluster) and SIGKILL it (its process
    group) once it prints a line that starts with ``line_start``; return what it printed."""
    import ray

    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    proc = subprocess.Popen([*CLI, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=env)
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
    assert json.loads((tmp_path / "eval" / "result.json").read_text())["checkpoint"] == \
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


def test_lost_env_runner_costs_no_iteration(tmp_path, ray_session, capsys):
    """The only env runner's process is SIGKILLed after iteration 2; RLlib restarts it (here after 1 s) and the
    iterations that sampled nothing meanwhile are run again: 5 real iterations, no NaN row."""
    from rllib_ext.algorithms.registry import build_config
    from rllib_ext.app.training import train

    config = build_config("ppo", "ipd", ["naive", "naive"], "small", [
        "num_envs_per_env_runner=32", "num_env_runners=1", "delay_between_env_runner_restarts_s=1.0"], 0)
    killed = []

    def kill_the_env_runner(algorithm, result, **kwargs):
        if result["training_iteration"] == 2 and not killed:
            (pid,) = algorithm.env_runner_group.foreach_env_runner(lambda r: os.getpid(), local_env_runner=False)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    config.callbacks(on_train_result=kill_the_env_runner)
    out = tmp_path / "run"
    result = train(config, 5, out, checkpoint_every=0, checkpoint_minutes=0)
    assert killed and result["training_iteration"] == 5
    assert "iteration 3 sampled nothing (an env runner was lost" in capsys.readouterr().out
    rows = rows_of(out)
    assert [int(r["training_iteration"]) for r in rows] == [1, 2, 3, 4, 5]
    assert [float(r["env_steps"]) for r in rows] == [32 * 32 * i for i in range(1, 6)]
    assert all(v != "" and math.isfinite(float(v)) for r in rows for v in r.values())


@pytest.mark.parametrize("argv, message", [
    (["train", "ppo", "--env", "ipd", "--out", "{file}/run"], "is under {file}, which is a file; give a folder"),
    (["train", "ppo", "--env", "ipd", "--out", "{file}"], "--out {file} is a file; give a folder"),
    (["eval", "{checkpoint}", "--out", "{file}"], "--out {file} is a file; give a folder"),
    (["train", "ppo", "--env", "ipd", "--set", "lr=1e308"], "bad value for 'lr': 1e+308 is not a finite float32"),
    (["train", "ppo", "--env", "ipd", "--checkpoint-every", "-1"], "--checkpoint-every and --checkpoint-minutes "
     "must be >= 0 (0 turns that trigger off), got -1 and 10"),
    (["train", "ppo", "--env", "ipd", "--checkpoint-minutes", "-5"], "got 10 and -5"),
    (["tune", "ppo", "--env", "ipd", "--metric", "env_runners/game/player_1/cooperation"],
     "--metric 'env_runners/game/player_1/cooperation' is not a result PPO reports here; for example: "
     "env_runners/episode_return_mean, env_runners/game/player_0/cooperation_rate"),
    (["tune", "gcbc", "--dataset", "pointmaze-medium-navigate-v0", "--data", "{dataset}", "--metric", "success"],
     "--metric 'success' is not a result GCBC reports here; for example: evaluation/success"),
    (["train", "gcbc", "--dataset", "pointmaze-medium-navigate-v0", "--data", "{file}"],
     "{file} is not a readable .npz archive: it is not a zip of named arrays"),
    (["train", "gcbc", "--dataset", "cube-single-play-v0", "--data", "{dataset}"],
     "dataset file {dataset}: its observations are 2 wide, but those of cube-single-play-v0's env are 28"),
])
def test_user_mistakes_get_one_line_before_ray_starts(argv, message, tmp_path, no_ray_start, capsys):
    from saw_data import write_dataset

    names = {"file": tmp_path / "notes.txt", "checkpoint": tmp_path / "checkpoint",
             "dataset": tmp_path / "pointmaze-medium-navigate-v0.npz"}
    names["file"].write_text("a text file\n")
    names["checkpoint"].mkdir()
    (names["checkpoint"] / "rllib_checkpoint.json").write_text("{}")
    write_dataset(names["dataset"], [60, 41])
    fill = lambda text: text.format(**names)
    assert main([fill(a) for a in argv]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after RLlib's own warnings, if any
    assert last.startswith(f"rllib-ext {argv[0]}: error: ") and fill(message) in last, last


def test_silent_or_foreign_servers_are_a_clear_error(monkeypatch, no_ray_start, capsys):
    """A socket that accepts connections and never answers: for `submit` an error after HTTP_TIMEOUT_S (2 s
    here, 20 s by default), as a Ray address for `train` after 5 s (ray.init would wait for ever); an HTTP
    server that is not a Ray dashboard: an error at once."""
    import http.server
    import socket
    import threading
    import time

    import cluster.jobs

    monkeypatch.setattr(cluster.jobs, "HTTP_TIMEOUT_S", 2.0)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel accepts; nobody reads or answers

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>a web page</html>")

        def log_message(self, *args):
            pass

    web = http.server.HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        start = time.perf_counter()
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        assert main(["submit", "--address", silent_url, "status", "raysubmit_1"]) == 2
        assert time.perf_counter() - start < 10
        assert (f"rllib-ext submit: error: {silent_url} accepted the connection but sent no answer to GET "
                "/api/version within 2 s") in capsys.readouterr().err
        start = time.perf_counter()
        assert main(["train", "ppo", "--env", "ipd", "--address", silent_url.split("//")[1]]) == 2
        assert time.perf_counter() - start < 15
        assert (f"rllib-ext train: error: {silent_url.split('//')[1]} accepted the connection but sent no answer "
                "within 5 s") in capsys.readouterr().err
        web_url = f"http://127.0.0.1:{web.server_address[1]}"
        assert main(["submit", "--address", web_url, "--", "train", "ppo", "--env", "ipd"]) == 2
        assert f"rllib-ext submit: error: {web_url} answers, but not as a Ray dashboard" in capsys.readouterr().err
    finally:
        web.shutdown()
        silent.close()


def test_killed_offline_run_restarts_or_resumes(tmp_path, ray_session, capsys):
    """GCBC, 6 iterations of 4 gradient steps, checkpoints every 2: killed after iteration 1 (before any
    checkpoint), the same command starts it again in the same --out; killed again after iteration 3, resume
    redoes iteration 3 only, and eval of a damaged `final` falls back to `iter_000004`."""
    from saw_data import DATASET, write_dataset

    data = write_dataset(tmp_path / f"{DATASET}.npz", [60, 41, 80])
    out = tmp_path / "run"
    argv = ["train", "gcbc", "--dataset", DATASET, "--data", data, "--steps", "24", "--eval-episodes", "1",
            "--set", "num_steps_per_iteration=4", "--set", "train_batch_size_per_learner=16",
            "--set", "evaluation_interval=3", "--checkpoint-every", "2", "--out", str(out)]
    kill_during(argv, "iter    1/6")
    assert not (out / "checkpoints").exists() or not any((out / "checkpoints").iterdir())
    assert main(["resume", str(out)]) == 2
    assert "holds no checkpoint: the run stopped before its first; run its train command again with the same " \
           "--out" in capsys.readouterr().err
    printed = kill_during(argv, "iter    3/6")
    assert f"note: {out} holds a run killed before its first checkpoint; starting it again" in printed
    assert [int(r["training_iteration"]) for r in rows_of(out)] == [1, 2, 3]
    assert main(["resume", str(out)]) == 0
    assert "from iter_000002 (iteration 2) to iteration 6" in capsys.readouterr().out
    rows = rows_of(out)
    assert [int(r["training_iteration"]) for r in rows] == list(range(1, 7))
    assert [int(r["steps"]) for r in rows] == [4 * i for i in range(1, 7)]
    checkpoints = out / "checkpoints"
    truncate(next((checkpoints / "final" / "learner_group").rglob("module_state.pkl")))
    assert main(["eval", str(checkpoints / "final"), "--episodes", "1", "--out", str(tmp_path / "eval")]) == 0
    assert f"warning: checkpoint {checkpoints / 'final'} cannot be loaded (learner_group/" in capsys.readouterr().err
    assert json.loads((tmp_path / "eval" / "result.json").read_text())["checkpoint"] == \
        str(checkpoints / "iter_000004")


def test_implausible_data_warns(tmp_path, no_ray_start, capsys):
    """Medium-maze data named as the large maze: most positions fall in the large maze's walls; actions scaled
    out of [-1, 1]: a warning with the share and the largest |action|. Data that fits gets no warning."""
    import numpy as np

    from envs.ogbench.datagen import generate_dataset
    from envs.ogbench.dataset import check_fits_env, load_dataset

    medium = tmp_path / "medium.npz"
    generate_dataset("pointmaze-medium-navigate-v0", 4, medium, num_workers=1, progress=False, episode_length=200)
    data = load_dataset(medium)
    assert check_fits_env(data, "pointmaze-medium-navigate-v0") == []
    (walls,) = check_fits_env(data, "pointmaze-large-navigate-v0")
    assert re.fullmatch(r"\d+% of its x-y positions lie in walls of pointmaze-large-navigate-v0's maze or outside "
                        r"it: is it another maze's data\?", walls) and int(walls.split("%")[0]) >= 20, walls
    scaled = {**data, "actions": np.where(np.arange(len(data["actions"]))[:, None] % 4 == 0, 3.0, 1.0) * data["actions"]}
    (actions,) = check_fits_env(scaled, "pointmaze-medium-navigate-v0")
    share = (np.abs(scaled["actions"]) > 1 + 1e-4).any(axis=1).mean()
    assert actions.startswith(f"{share:.1%} of its actions lie outside the action space [-1, 1] (largest |action| 3)")
    # through the CLI: the warning, then the run goes on (here to a bad --mode, so that Ray never starts)
    assert main(["tune", "gcbc", "--dataset", "pointmaze-large-navigate-v0", "--data", str(medium),
                 "--mode", "best"]) == 2
    err = capsys.readouterr().err
    assert f"warning: dataset file {medium}: {walls}" in err and "mode must be 'max' or 'min'" in err
