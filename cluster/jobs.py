"""Run any ``rllib-ext`` command on a Ray cluster through the Ray Jobs API.

``submit_command(address, ["train", "ppo", "--env", "ipd"])`` uploads this project as the job's
``working_dir`` (without ``.git``, virtual environments, run folders and datasets: Ray refuses a
working_dir over 100 MiB with an HTTP 413 that does not say why, so the size is checked here
first), asks the cluster to install the project's requirements on top of its own Ray (a
``pip`` runtime env; ``requirements=False`` skips it for clusters whose image has the project
installed), runs ``python -m rllib_ext.app.cli ARGS`` there, streams the logs and returns the job's
exit code. Inside the job, ``RAY_ADDRESS`` points at the cluster, so the command's own Ray work
runs on it.

The address is the cluster's dashboard (``http://HEAD:8265``), from ``--address`` or
``RAY_ADDRESS``. A cluster with Ray's token authentication (on by default in Ray 2.60 once a
token exists) needs the token on the client: ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or
``~/.ray/auth_token``; when one is present and ``RAY_AUTH_MODE`` is unset, it is used.
"""

import asyncio
import fnmatch
import os
import shlex
import sys
import time
import tomllib
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from rllib_ext.utils.ray_runtime import check_reachable

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXCLUDES = [".git", ".venv", "venv", "runs", "data", "*.npz", "__pycache__", ".pytest_cache", "*.egg-info"]
MAX_WORKING_DIR_BYTES = 100 * 2**20
"""Ray's limit on an uploaded working_dir."""
FAILED_LOG_LINES = 20
HTTP_TIMEOUT_S = 20.0
"""Seconds each request to the dashboard may wait to connect, and then for each part of the answer (uploads
and log streams are not cut short while data flows)."""


def project_requirements(root: Path = PROJECT_ROOT) -> List[str]:
    """The project's dependencies from ``pyproject.toml``, without Ray (the cluster's own Ray runs the job)."""
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d for d in deps if not d.replace(" ", "").lower().startswith("ray[") and d.split("=")[0].strip() != "ray"]


def working_dir_size(root: Path = PROJECT_ROOT, excludes: Sequence[str] = EXCLUDES) -> Dict[str, int]:
    """Bytes uploaded per top-level entry of ``root`` after ``excludes``."""
    sizes: Dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _excluded(d, excludes)]
        for f in filenames:
            if _excluded(f, excludes):
                continue
            path = Path(dirpath, f)
            top = path.relative_to(root).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return sizes


STOP_WAIT = "RAY_JOB_STOP_WAIT_TIME_S"


def project_runtime_env(
    root: Path = PROJECT_ROOT,
    requirements: bool = True,
    env_vars: Optional[Dict[str, str]] = None,
) -> dict:
    """The job's runtime_env: the project as working_dir (size-checked), its requirements, env vars.

    ``RAY_JOB_STOP_WAIT_TIME_S`` (default here 600 s; Ray's own is 3) is how long ``submit stop``'s
    SIGTERM is given before SIGKILL: a training job finishes its iteration and writes its checkpoint
    and results in that time (``rllib-ext resume`` continues it)."""
    sizes = working_dir_size(root)
    total = sum(sizes.values())
    if total > MAX_WORKING_DIR_BYTES:
        largest = ", ".join(f"{k} ({v / 2**20:.0f} MiB)" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:5])
        raise ValueError(f"the project folder {root} would upload {total / 2**20:.0f} MiB, over Ray's "
                         f"{MAX_WORKING_DIR_BYTES // 2**20} MiB working_dir limit; largest entries: {largest}. "
                         "Move data out of the project folder or into an excluded one (runs/, data/).")
    env: dict = {"working_dir": str(root), "excludes": list(EXCLUDES)}
    if requirements:
        env["pip"] = {"packages": project_requirements(root), "pip_check": False}
    env["env_vars"] = {STOP_WAIT: "600", **(env_vars or {})}
    return env


def job_client(address: Optional[str] = None):
    """A ``JobSubmissionClient`` for the dashboard at ``address`` (or ``RAY_ADDRESS``), checked to answer."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ValueError("no cluster given: pass --address http://HEAD:8265 (the dashboard) or set RAY_ADDRESS")
    if "://" not in address:
        address = f"http://{address}"
    check_reachable(address, default_port=8265)
    _use_token_if_present()
    try:
        return _client_class()(address)
    except ConnectionError:
        raise
    except Exception as e:  # what a server that is not a Ray dashboard answers: 404s, HTML, other JSON
        detail = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        raise ConnectionError(f"{address} answers, but not as a Ray dashboard ({detail}); give the cluster's "
                              "dashboard address, http://HEAD:8265") from None


def _client_class():
    """``JobSubmissionClient`` whose every HTTP request times out after ``HTTP_TIMEOUT_S`` (Ray's requests have
    no timeout: a server that accepts the connection and never answers would hang ``submit`` for ever)."""
    import requests
    from ray.job_submission import JobSubmissionClient

    class TimedJobSubmissionClient(JobSubmissionClient):
        def _do_request(self, method, endpoint, **kwargs):
            kwargs.setdefault("timeout", HTTP_TIMEOUT_S)
            try:
                return super()._do_request(method, endpoint, **kwargs)
            except requests.exceptions.Timeout:
                raise ConnectionError(f"{self._address} accepted the connection but sent no answer to {method} "
                                      f"{endpoint} within {HTTP_TIMEOUT_S:g} s; is it the cluster's dashboard "
                                      "(http://HEAD:8265), and is the cluster healthy?") from None

    return TimedJobSubmissionClient


def submit_command(
    client,
    argv: Sequence[str],
    runtime_env: dict,
    wait: bool = True,
) -> int:
    """Submit ``rllib-ext ARGV`` as a job; with ``wait``, stream its logs and return its exit code."""
    entrypoint = "python -m rllib_ext.app.cli " + shlex.join(argv)
    job_id = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)
    print(f"submitted job {job_id}: {entrypoint}", flush=True)
    if not wait:
        print(f"follow it with: rllib-ext submit logs {job_id} --follow; status: rllib-ext submit status {job_id}")
        return 0
    return follow(client, job_id)


def follow(client, job_id: str) -> int:
    """Stream a job's logs until it ends; print its final status; return its exit code."""

    async def stream() -> None:
        async for lines in client.tail_job_logs(job_id):
            print(lines, end="", flush=True)

    try:
        asyncio.run(stream())
    except KeyboardInterrupt:
        print(f"\nstopped following; the job goes on (rllib-ext submit stop {job_id} stops it)", file=sys.stderr)
        return 130
    return report_status(client, job_id, wait=True)


def report_status(client, job_id: str, wait: bool = False) -> int:
    """Print the job's status (and its last log lines if it failed); return its exit code."""
    from ray.job_submission import JobStatus

    info = client.get_job_info(job_id)
    while wait and not info.status.is_terminal():
        time.sleep(0.5)
        info = client.get_job_info(job_id)
    code = info.driver_exit_code
    if info.status == JobStatus.SUCCEEDED:
        exit_code = 0
    elif info.status.is_terminal():
        exit_code = code if code else 1
    else:
        exit_code = 0
    detail = f" (exit code {code})" if code is not None else ""
    print(f"job {job_id}: {info.status.value}{detail}" + (f": {info.message}" if info.message else ""), flush=True)
    if info.status in (JobStatus.FAILED, JobStatus.STOPPED):
        tail = client.get_job_logs(job_id).rstrip().splitlines()[-FAILED_LOG_LINES:]
        print(f"last {len(tail)} log lines:\n" + "\n".join(tail), file=sys.stderr)
    return exit_code


def _excluded(name: str, excludes: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in excludes)


def _use_token_if_present() -> None:
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token")).expanduser()
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
