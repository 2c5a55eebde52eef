"""Cluster use: `rllib-ext submit` against a real two-node Ray cluster on 127.0.0.1, and fast errors.

The cluster is started with `ray start` (a head with 1 CPU and a second node with 2 CPUs, its own
temp dirs and token) and stopped by PID at the end; nothing else on the machine is touched. Its
nodes run this venv, so jobs go with `--no-requirements`: the default pip runtime env builds a
fresh virtualenv per node with every requirement, torch included (minutes and ~2 GB per node,
measured by hand, not in CI).
"""

import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.jobs import MAX_WORKING_DIR_BYTES, PROJECT_ROOT, project_runtime_env
from local_cluster import LocalCluster, free_ports
from rllib_ext.app.cli import main
from rllib_ext.app.run_folder import RunFolder

CLI = [sys.executable, "-m", "rllib_ext.app.cli"]
SMALL_IPD = ["--env", "ipd", "--set", "num_envs_per_env_runner=32"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = LocalCluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start_head(num_cpus=1)
        c.add_node(num_cpus=2)
        yield c
    finally:
        c.stop()
        assert not c.pids(), "the test cluster's processes outlived stop()"


def submit(cluster, *args, timeout=420):
    return subprocess.run([*CLI, "submit", "--address", cluster.dashboard, *args], env=cluster.env,
                          capture_output=True, text=True, timeout=timeout)


def test_stopped_job_leaves_a_checkpoint_and_resumes_as_a_job(cluster, tmp_path):
    """`submit stop` sends SIGTERM: the training job ends its iteration with a final checkpoint and
    result.json (Ray's default 3 s before SIGKILL would not allow it), and a `resume` job continues; a job
    that waits streams its progress lines back, and `submit logs` / `submit status` find it afterwards."""
    out = tmp_path / "run"
    started = submit(cluster, "--no-requirements", "--no-wait", "--", "train", "ppo", *SMALL_IPD,
                     "--iterations", "1000", "--out", str(out))
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    job_id = re.search(r"submitted job (\S+):", started.stdout).group(1)
    deadline = time.time() + 240
    while len(RunFolder.read_rows(out) if (out / "progress.csv").exists() else []) < 3:
        assert time.time() < deadline, "the job logged no third iteration"
        time.sleep(0.5)
    assert submit(cluster, "stop", job_id).returncode == 0
    while not (out / "result.json").exists():
        assert time.time() < deadline, "the stopped job wrote no result.json"
        time.sleep(0.5)
    while "STOPPED" not in submit(cluster, "status", job_id).stdout:  # once the job's Ray has shut down
        assert time.time() < deadline, "the job was not reported STOPPED"
    stopped = json.loads((out / "result.json").read_text())
    done = int(stopped["training_iteration"])
    assert stopped["stopped_early"] is True and done >= 3
    assert (out / "checkpoints" / "final" / "rllib_checkpoint.json").exists()
    resumed = submit(cluster, "--no-requirements", "--", "resume", str(out), "--iterations", str(done + 1))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    last_line = f"iter {done + 1:>4}/{done + 1}"
    assert last_line in resumed.stdout  # the job's own progress lines, streamed back
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert [int(float(r["training_iteration"])) for r in rows] == list(range(1, done + 2))

    job_id = re.search(r"submitted job (\S+):", resumed.stdout).group(1)
    assert f"job {job_id}: SUCCEEDED (exit code 0)" in resumed.stdout
    logs = submit(cluster, "logs", job_id, timeout=60)
    assert logs.returncode == 0 and last_line in logs.stdout
    status = submit(cluster, "status", job_id, timeout=60)
    assert status.returncode == 0 and "SUCCEEDED" in status.stdout


def test_failing_job_is_reported_with_its_exit_code(cluster, tmp_path):
    done = submit(cluster, "--no-requirements", "--", "eval", str(tmp_path / "no-such-checkpoint"))
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"job \S+: FAILED \(exit code 2\)", done.stdout)
    assert "is not an RLlib checkpoint" in done.stderr  # among the job's last log lines


def test_submitted_search_spreads_over_the_nodes_and_survives_a_lost_one(cluster, tmp_path):
    """`submit -- tune`: a third node (2 CPUs) joins; 4 concurrent 1-CPU trials do not fit on the head (1 CPU) and
    node 1 (2 CPUs), so at least one runs there. Once a trial running there has reported iteration 3 (so Tune holds
    its checkpoint of iteration 2 at least) and is at most at iteration 8 of 12, that node's processes are SIGKILLed
    (by PID): Tune restarts the lost trials from their checkpoints on the nodes left, every trial completes and the
    job succeeds. Progress is read from the trials' result.json files, written by the search's driver as each result
    arrives, and each trial's node from the PID its results carry (the log lines streamed back by `submit` lag behind
    by seconds, longer than a trial takes for its last iterations)."""
    cluster.add_node(num_cpus=2)
    node = cluster.nodes - 1
    log = tmp_path / "submit.log"
    argv = [*CLI, "submit", "--address", cluster.dashboard, "--no-requirements", "--", "tune", "ppo", *SMALL_IPD,
            "--samples", "4", "--iterations", "12", "--max-concurrent", "4", "--grace-period", "12",
            "--checkpoint-every", "1", "--storage", str(tmp_path), "--name", "lost"]
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=cluster.env)
        deadline = time.time() + 300
        while True:
            on_node = cluster.pids(node)
            there = {r["trial_id"]: r["training_iteration"] for r in _last_results(tmp_path / "lost")
                     if r["pid"] in on_node and r["training_iteration"] < 12}
            lost = {t for t, i in there.items() if 3 <= i <= 8}
            if lost:
                break
            assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        cluster.kill_node(node)
        assert proc.wait(timeout=400) == 0, log.read_text()[-3000:]
    assert re.search(r"job \S+: SUCCEEDED \(exit code 0\)", log.read_text())
    with open(tmp_path / "lost" / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(int(r["iterations"]) == 12 and not r["error"] for r in rows), rows
    last = _last_results(tmp_path / "lost")
    restored = {r["trial_id"] for r in last if r["iterations_since_restore"] < r["training_iteration"]}
    assert lost <= restored <= set(there), (lost, there, last)  # the lost trials, and only they, continued
    # a lost trial continues from iteration 2's checkpoint or later (an earlier trial of that node from any)
    assert all(r["iterations_since_restore"] <= 10 for r in last if r["trial_id"] in lost)


def _last_results(search: Path) -> list:
    """The last complete result of every trial of the search folder ``search`` that has reported one."""
    last = []
    for f in search.glob("*/result.json"):
        for line in reversed(f.read_text().splitlines()):
            try:
                last.append(json.loads(line))
                break
            except json.JSONDecodeError:  # a line still being written
                continue
    return last


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_unreachable_cluster_is_an_error_within_seconds(capsys, tmp_path, monkeypatch, ray_session):
    """Even with a Ray already running in this process (an explicit address is never ignored)."""
    monkeypatch.chdir(tmp_path)
    (port,) = free_ports(1)
    start = time.perf_counter()
    assert main(["submit", "--address", f"http://127.0.0.1:{port}", "--", "train", "ppo", "--env", "ipd"]) == 2
    assert main(["train", "ppo", "--env", "ipd", "--address", f"127.0.0.1:{port}"]) == 2
    assert main(["tune", "ppo", "--env", "ipd", "--address", f"127.0.0.1:{port}"]) == 2
    assert time.perf_counter() - start < 30
    err = capsys.readouterr().err
    assert err.count("nothing answers at") == 3 and str(port) in err
    assert not any(tmp_path.iterdir())  # no run folder, no search folder


@pytest.mark.usefixtures("no_ray_start")
@pytest.mark.parametrize("job, message", [
    (["train", "ppo", "--env", "chess"], "unknown env 'chess'"),
    (["train", "ppo", "--env", "ipd", "--set", "lrr=0.1"], "unknown setting 'lrr'"),
    (["submit", "--", "train", "ppo"], "submit inside submit"),
    (["tune", "ppo", "--env", "ipd", "--samples", "0"], "samples and iterations must be >= 1"),
    (["tune", "ppo", "--env", "ipd", "--mode", "best"], "mode must be 'max' or 'min'"),
    ([], "nothing to submit"),
])
def test_bad_job_is_refused_before_contacting_the_cluster(job, message, capsys):
    # Port 9 (discard) on loopback answers nothing: an error about the address would mean the job
    # was not checked first.
    assert main(["submit", "--address", "http://127.0.0.1:9", "--", *job]) == 2
    assert message in capsys.readouterr().err


def test_runtime_env_uploads_the_project_without_bulk_and_with_its_requirements():
    env = project_runtime_env(env_vars={"OMP_NUM_THREADS": "1"})
    assert env["working_dir"] == str(PROJECT_ROOT)
    assert {".git", ".venv", "runs", "data", "*.npz"} <= set(env["excludes"])
    packages = env["pip"]["packages"]
    assert any(p.startswith("torch") for p in packages) and any(p.startswith("optuna") for p in packages)
    assert not any(p.startswith("ray") for p in packages)  # the cluster's own Ray runs the job
    assert env["env_vars"] == {"OMP_NUM_THREADS": "1", "RAY_JOB_STOP_WAIT_TIME_S": "600"}
    assert "pip" not in project_runtime_env(requirements=False)


def test_oversized_working_dir_is_refused_before_upload(tmp_path):
    (tmp_path / "pyproject.toml").write_text((PROJECT_ROOT / "pyproject.toml").read_text())
    (tmp_path / "results").mkdir()
    with open(tmp_path / "results" / "big.bin", "wb") as f:  # sparse: no disk used
        f.truncate(MAX_WORKING_DIR_BYTES + 1)
    with open(tmp_path / "data.npz", "wb") as f:  # excluded, whatever its size
        f.truncate(10 * MAX_WORKING_DIR_BYTES)
    with pytest.raises(ValueError, match=r"over Ray's 100 MiB working_dir limit; largest entries: results \(100 MiB\)"):
        project_runtime_env(tmp_path)
