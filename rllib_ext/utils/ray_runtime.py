"""The Ray runtime a command runs on: a cluster it is pointed at, or a local one it starts and stops."""

import contextlib
import os
import socket
from typing import Iterator, Optional
from urllib.parse import urlparse

import ray

CONNECT_TIMEOUT_S = 5.0


HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
"""An HTTP/2 client preface and empty SETTINGS frame: a gRPC server (Ray's GCS) answers with its own SETTINGS."""


def check_reachable(address: str, default_port: int, timeout: float = CONNECT_TIMEOUT_S, grpc: bool = False) -> None:
    """Raise ConnectionError within ``timeout`` seconds if nothing listens at ``address``; with ``grpc``, also
    if what listens does not answer as a gRPC server (``ray.init`` would wait for it for ever)."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    host, port = parsed.hostname, parsed.port or default_port
    if not host:
        raise ValueError(f"bad cluster address {address!r}")
    try:
        conn = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        raise ConnectionError(f"nothing answers at {address} ({host}:{port}: {e.strerror or e}); "
                              "is the cluster up, and is this its address?") from None
    with conn:
        if not grpc or os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return
        try:
            conn.sendall(HTTP2_HELLO)
            reply = conn.recv(9)
        except socket.timeout:
            raise ConnectionError(f"{address} accepted the connection but sent no answer within {timeout:g} s; "
                                  "is it the Ray cluster's GCS port (6379 by default)?") from None
        except OSError:
            reply = b""
        if len(reply) < 4 or reply[3] != 0x04:  # not an HTTP/2 SETTINGS frame
            raise ConnectionError(f"{address} answers, but not as a Ray cluster (whose GCS speaks gRPC); "
                                  "give the head's GCS address, HEAD:6379")


@contextlib.contextmanager
def ray_runtime(address: Optional[str] = None) -> Iterator[None]:
    """Use the running Ray (``address``/``RAY_ADDRESS``, or one already initialised) or start one.

    ``auto`` finds a cluster started on this machine with ``ray start``; a ``host:port`` that does
    not answer is a ConnectionError within seconds (``ray.init`` itself would retry for minutes).
    """
    address = address or os.environ.get("RAY_ADDRESS")
    if address and address != "auto" and "://" not in address:
        check_reachable(address, default_port=6379, grpc=True)
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
