"""Real Redis and PostgreSQL servers for tests: the ones named in the environment, or throwaway ones.

``RUJUK_TEST_REDIS_URL`` / ``RUJUK_TEST_DATABASE_URL`` point at running servers (``.ci/run``
sets them when the machine runs Redis and PostgreSQL on 127.0.0.1). Without them, a server is
started from the installed binaries in a temporary directory and stopped afterwards.
Never an in-memory stand-in.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before accepting connections")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not accept connections on port {port} within {timeout} s")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Yield a Redis URL."""
    url = os.environ.get("RUJUK_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "no RUJUK_TEST_REDIS_URL and no redis-server binary: install redis-server (apt-get install redis-server)"
        )
    with tempfile.TemporaryDirectory(prefix="rujuk-redis-") as tmp:
        port = free_port()
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port, proc, "redis-server")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"no RUJUK_TEST_DATABASE_URL and no PostgreSQL '{name}' binary: install postgresql "
            "(apt-get install postgresql)"
        )
    return found


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a PostgreSQL server (a maintenance database the caller may create databases on)."""
    url = os.environ.get("RUJUK_TEST_DATABASE_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    # PostgreSQL refuses to run as root: as root, run it as the 'postgres' system user.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    tmp = tempfile.mkdtemp(prefix="rujuk-pg-")
    if as_user:
        shutil.chown(tmp, "postgres")
    data = str(Path(tmp) / "data")
    port = free_port()
    subprocess.run(
        [*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, pg_ctl, "-D", data, "-o", opts, "-l", str(Path(tmp) / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], check=False, capture_output=True
        )
        shutil.rmtree(tmp, ignore_errors=True)


class RedisProcess:
    """A redis-server of the test's own, on a fixed port, that the test may kill and restart."""

    def __init__(self, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no redis-server binary: install redis-server (apt-get install redis-server)")
        self.binary = binary
        self.extra = extra  # more redis-server options, e.g. --replicaof 127.0.0.1 <port>
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="rujuk-redis-kill-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.tmp, *self.extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_port(self.port, self.proc, "redis-server")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``admin_url``; dropped afterwards."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_cluster_port(taken: set[int] | None = None) -> int:
    """A free loopback port whose cluster bus port (+10000) is free too, neither of them among
    ``taken`` (the ports, and bus ports, of the other nodes)."""
    taken = taken or set()
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535 or {port, port + 10000} & taken:
            continue
        with contextlib.suppress(OSError), socket.socket() as s:
            s.bind(("127.0.0.1", port + 10000))
            return port
    raise RuntimeError("no free port pair (port, port + 10000) on 127.0.0.1")


class RedisClusterProcesses:
    """A real Redis Cluster on loopback: ``masters`` primaries with ``replicas`` replicas each,
    created with ``redis-cli --cluster create``; a test may crash any node (``kill``).

    Nothing is kept on disk (no RDB, no AOF); ``node_timeout_ms`` is how long a silent primary
    stays a primary before its replica takes over (Redis's default is 15 s; short here)."""

    def __init__(self, *, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            raise RuntimeError("no redis-server / redis-cli binary: install redis-server")
        self.server, self.cli = server, cli
        self.node_timeout_ms = node_timeout_ms
        self.replicas = replicas
        self.ports: list[int] = []
        for _ in range(masters * (1 + replicas)):
            taken = {q for p in self.ports for q in (p, p + 10000)}
            self.ports.append(_free_cluster_port(taken))
        self.tmp = tempfile.mkdtemp(prefix="rujuk-redis-cluster-")
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """One node's URL: the client discovers the others."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def _cli(self, port: int, *args: str, timeout: float = 10.0) -> str:
        out = subprocess.run(
            [self.cli, "-h", "127.0.0.1", "-p", str(port), *args],
            check=True, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        return out.stdout

    def _launch(self, port: int) -> None:
        d = Path(self.tmp) / str(port)
        d.mkdir(exist_ok=True)
        self.procs[port] = subprocess.Popen(
            [self.server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout",
             str(self.node_timeout_ms), "--appendonly", "no", "--save", "", "--dir", str(d),
             "--logfile", str(d / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def start(self, *, timeout_s: float = 60.0) -> None:
        for port in self.ports:
            self._launch(port)
        for i in range(len(self.ports)):
            for attempt in range(3):
                port = self.ports[i]
                try:
                    _wait_for_port(port, self.procs[port], f"redis-server (cluster node {port})")
                    break
                except RuntimeError:
                    # its port (or bus port) taken by another process since it was chosen: a new pair
                    if attempt == 2 or self.procs[port].poll() is None:
                        raise
                    del self.procs[port]
                    taken = {q for p in self.ports for q in (p, p + 10000)}
                    self.ports[i] = _free_cluster_port(taken)
                    self._launch(self.ports[i])
        subprocess.run(
            [self.cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=timeout_s,
        )  # fmt: skip
        self.wait_ok(timeout_s=timeout_s)

    def alive(self) -> list[int]:
        """The ports of the nodes still running."""
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def wait_ok(self, *, timeout_s: float = 60.0) -> None:
        """Until every live node says ``cluster_state:ok``, knows every live node, and every live
        replica's link to its primary is up."""
        deadline = time.monotonic() + timeout_s
        while True:
            ready = True
            for port in self.alive():
                info = self._cli(port, "cluster", "info")
                repl = self._cli(port, "info", "replication")
                if "cluster_state:ok" not in info or f"cluster_known_nodes:{len(self.ports)}" not in info:
                    ready = False
                if "role:slave" in repl and "master_link_status:up" not in repl:
                    ready = False
            if ready:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Redis Cluster did not settle within {timeout_s} s")
            time.sleep(0.1)

    def role(self, port: int) -> str:
        """``master`` or ``slave``, as the node says."""
        return self._cli(port, "role").split()[0]

    def primary_of_key(self, key: str) -> int:
        """The port of the live primary that serves ``key``'s slot."""
        slot = int(self._cli(self.alive()[0], "cluster", "keyslot", key))
        for line in self._cli(self.alive()[0], "cluster", "nodes").splitlines():
            fields = line.split()
            if "master" in fields[2] and "fail" not in fields[2]:
                for r in fields[8:]:
                    lo, _, hi = r.partition("-")
                    if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                        return int(fields[1].split(":")[1].split("@")[0])
        raise RuntimeError(f"no live primary serves slot {slot}")

    def kill(self, port: int) -> None:
        """SIGKILL one node: a crash, no goodbye to the cluster."""
        proc = self.procs[port]
        proc.kill()
        proc.wait(timeout=10)

    def restart(self, port: int) -> None:
        """Start a killed node again, as a supervisor would: empty (nothing kept on disk), it
        rejoins from its cluster config file and becomes a replica of whoever took its slots."""
        self._launch(port)
        _wait_for_port(port, self.procs[port], f"redis-server (cluster node {port})")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
