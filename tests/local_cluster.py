"""A real Ray cluster on 127.0.0.1 for tests: a head node and extra nodes started with ``ray start``.

Everything it starts lives under its own folder (one ``--temp-dir`` per node), so ``stop()`` finds exactly its own
processes (by that path in their command line, plus their children) and stops only those;
``ray stop`` would stop every Ray on the machine. Token authentication is on, with a token of
its own (``RAY_AUTH_TOKEN_PATH``), so the cluster does not depend on ``~/.ray``; ``env`` is the
environment a client (``rllib-ext submit``) needs to reach it.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Set

RAY = str(Path(sys.executable).parent / "ray")


def free_ports(n: int) -> List[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class LocalCluster:
    def __init__(self, root: Path):
        # Short: Ray's unix sockets live under it and their paths may not exceed 107 bytes.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray-test-", dir="/tmp"))
        token = Path(root) / "auth_token"
        token.write_text(secrets.token_hex(16))
        self.env: Dict[str, str] = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token),
            "OMP_NUM_THREADS": "1",
        }
        self.env.pop("RAY_ADDRESS", None)
        self.gcs_port = self.dashboard_port = None
        self.nodes = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def start_head(self, num_cpus: int) -> None:
        ports = free_ports(9)
        self.gcs_port, self.dashboard_port = ports[0], ports[1]
        self._ray_start(["--head", f"--port={ports[0]}", "--dashboard-host=127.0.0.1", f"--dashboard-port={ports[1]}",
                         f"--ray-client-server-port={ports[2]}", "--include-dashboard=true"], num_cpus, ports[3:])

    def add_node(self, num_cpus: int) -> None:
        self._ray_start([f"--address={self.address}"], num_cpus, free_ports(6))

    def _ray_start(self, args: List[str], num_cpus: int, ports: List[int]) -> None:
        # Below the ephemeral range that free_ports() draws from, above Ray's default worker ports.
        base = 20000 + 400 * self.nodes + (os.getpid() % 14) * 800
        # Each node gets its own temp dir: nodes sharing one would share runtime_resources/ and
        # unpack a job's working_dir over each other's (the job then fails with a vanished cwd).
        node_dir = self.temp_dir / f"node{self.nodes}"
        cmd = [RAY, "start", *args, f"--num-cpus={num_cpus}", f"--temp-dir={node_dir}", "--disable-usage-stats",
               f"--node-manager-port={ports[0]}", f"--object-manager-port={ports[1]}",
               f"--dashboard-agent-listen-port={ports[2]}", f"--dashboard-agent-grpc-port={ports[3]}",
               f"--metrics-export-port={ports[4]}", f"--runtime-env-agent-port={ports[5]}",
               f"--min-worker-port={base}", f"--max-worker-port={base + 399}"]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"ray start failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        self.nodes += 1

    def pids(self, node: Optional[int] = None) -> Set[int]:
        """Processes whose command line names this cluster's temp dir (or that of its ``node``-th node: 0 is the
        head), and their descendants."""
        mine: Set[int] = set()
        parents: Dict[int, int] = {}
        marker = str(self.temp_dir if node is None else self.temp_dir / f"node{node}").encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if marker in (entry / "cmdline").read_bytes():
                    mine.add(int(entry.name))
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
        grew = True
        while grew:
            children = {pid for pid, ppid in parents.items() if ppid in mine} - mine
            mine |= children
            grew = bool(children)
        mine.discard(os.getpid())
        return mine

    def kill_node(self, node: int) -> Set[int]:
        """SIGKILL every process of the ``node``-th node (a machine lost); return their PIDs."""
        pids = self.pids(node)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM this cluster's processes, SIGKILL what is left after ``grace_s`` (gcs_server and raylet
        ignore SIGTERM for longer than that)."""
        pids = self.pids()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + grace_s
            while time.time() < deadline and any(_alive(p) for p in pids):
                time.sleep(0.2)
            pids = {p for p in pids if _alive(p)}
            if not pids:
                break
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
