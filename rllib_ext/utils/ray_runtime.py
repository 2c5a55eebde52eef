"""The Ray runtime a command runs on: a cluster it is pointed at, or a local one it starts and stops."""

import contextlib
import os
import socket
from typing import Iterator, Optional
from urllib.parse import urlparse

import ray

CONNECT_TIMEOUT_S = 5.0


def check_reachable(address: str, default_port: int, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ConnectionError within ``timeout`` seconds if nothing listens at ``address``."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    host, port = parsed.hostname, parsed.port or default_port
    if not host:
        raise ValueError(f"bad cluster address {address!r}")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ConnectionError(f"nothing answers at {address} ({host}:{port}: {e.strerror or e}); "
                              "is the cluster up, and is this its address?") from None


@contextlib.contextmanager
def ray_runtime(address: Optional[str] = None) -> Iterator[None]:
    """Use the running Ray (``address``/``RAY_ADDRESS``, or one already initialised) or start one.

    ``auto`` finds a cluster started on this machine with ``ray start``; a ``host:port`` that does
    not answer is a ConnectionError within seconds (``ray.init`` itself would retry for minutes).
    """
    address = address or os.environ.get("RAY_ADDRESS")
    if address and address != "auto" and "://" not in address:
        check_reachable(address, default_port=6379)
    if ray.is_initialized():
        yield
        return
    if address:
        ray.init(address=address)
    else:
        ray.init(address="local", include_dashboard=False, configure_logging=True, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()
