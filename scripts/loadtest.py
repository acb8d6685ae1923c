"""Bounded load test of a running rujuk server on loopback (Sambas data).

    # a server to test (2 workers, its own SQLite under /tmp/rujuk-load):
    RUJUK_DATA_DIR=/tmp/rujuk-load .venv/bin/rujuk serve --workers 2 --port 8800 &
    .venv/bin/python scripts/loadtest.py --url http://127.0.0.1:8800 --data-dir /tmp/rujuk-load

Three runs, each bounded in count and time:

(a) suggestions at a steady open-loop rate (default 200/s for 30 s): requests are sent on a fixed
    schedule whatever the server does, and latency counts from the scheduled time, so a slow
    server cannot hide its queueing (no coordinated omission);
(b) maximum suggestion throughput with 50 concurrent closed-loop clients (20 s), next to the
    trivial ``GET /api/ping`` of the same app measured the same way in the same run;
(c) referral creates at an open-loop 50/s (20 s), each with its own Idempotency-Key.

The generator is asyncio over raw HTTP/1.1 keep-alive connections in one process (cheap enough
at these rates); it prints p50/p90/p99/max, throughput and the error count of each run.
Set-up (users) is done with ``rujuk users create`` against the same data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.service.conftest import letter_body

PASSWORD = "load-test-password"
ORIGINS = ["PKM-SEGARAU", "PKM-TEBAS", "PKM-SAMBAS", "PKM-PALOH", "PKM-SELAKAU", "PKM-GALING"]
CODES = ["O72.1", "P07.3", "I21.9", "S06.5", "R11", "J18.9", "A97.1", "K35.8", "T07", "O14.1"]


class Conn:
    """A minimal HTTP/1.1 keep-alive client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.w.write(raw)
        await self.w.drain()
        head = await self.r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        chunked = False
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.lower() == "content-length":
                length = int(v)
            elif k.lower() == "transfer-encoding" and "chunked" in v:
                chunked = True
        if chunked:
            body = b""
            while True:
                size = int((await self.r.readline()).strip(), 16)
                if size == 0:
                    await self.r.readline()
                    break
                body += await self.r.readexactly(size + 2)
            return status, body
        return status, await self.r.readexactly(length)


class Pool:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Conn] = []

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        conn = self.idle.pop() if self.idle else Conn(*await asyncio.open_connection(self.host, self.port))
        try:
            out = await conn.request(raw)
        except Exception:
            conn.w.close()
            raise
        self.idle.append(conn)
        return out


def http(
    method: str, path: str, host: str, token: str | None, body: dict | None = None, extra: dict | None = None
) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    h = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if token:
        h.append(f"Authorization: Bearer {token}")
    if body is not None:
        h += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    for k, v in (extra or {}).items():
        h.append(f"{k}: {v}")
    return ("\r\n".join(h) + "\r\n\r\n").encode() + data


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else float("nan")


def report(name: str, lat: list[float], errors: int, elapsed: float, target: str = "") -> dict:
    n = len(lat)
    out = {
        "run": name, "requests": n + errors, "errors": errors, "seconds": round(elapsed, 2),
        "throughput_rps": round(n / elapsed, 1) if elapsed else 0,
        "p50_ms": round(pct(lat, 50), 2), "p90_ms": round(pct(lat, 90), 2), "p99_ms": round(pct(lat, 99), 2),
        "max_ms": round(max(lat), 2) if lat else None, "target": target,
    }  # fmt: skip
    print(json.dumps(out))
    return out


async def open_loop(
    pool: Pool, make: callable, rate: float, seconds: float
) -> tuple[list[float], int, float]:
    n = int(rate * seconds)
    lat: list[float] = []
    errors = 0
    t0 = time.perf_counter() + 0.05

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            status, _ = await pool.request(make(i))
            if status >= 400:
                errors += 1
                return
        except Exception:
            errors += 1
            return
        lat.append((time.perf_counter() - scheduled) * 1000)

    await asyncio.gather(*(one(i) for i in range(n)))
    return lat, errors, time.perf_counter() - t0


async def closed_loop(
    host: str, port: int, make: callable, clients: int, seconds: float
) -> tuple[list[float], int, float]:
    lat: list[float] = []
    errors = 0
    t_end = time.perf_counter() + seconds
    counter = 0

    async def client() -> None:
        nonlocal errors, counter
        pool = Pool(host, port)
        while time.perf_counter() < t_end:
            counter += 1
            t = time.perf_counter()
            try:
                status, _ = await pool.request(make(counter))
                if status >= 400:
                    errors += 1
                    continue
            except Exception:
                errors += 1
                continue
            lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return lat, errors, time.perf_counter() - t0


def ensure_users(data_dir: str) -> None:
    env = {**os.environ, "RUJUK_DATA_DIR": data_dir}
    rujuk = str(Path(sys.executable).with_name("rujuk"))
    for origin in ORIGINS:
        name = "load-" + origin.lower()
        subprocess.run([rujuk, "users", "create", name, "--role", "referrer", "--facility", origin, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, env=env, capture_output=True, check=False)  # fmt: skip


def token(url: str, user: str) -> str:
    data = urllib.parse.urlencode({"username": user, "password": PASSWORD}).encode()
    with urllib.request.urlopen(f"{url}/api/token", data=data) as r:
        return json.loads(r.read())["access_token"]


async def main_async(a: argparse.Namespace) -> None:
    u = urllib.parse.urlparse(a.url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    hostport = f"{host}:{port}"
    tokens = {o: token(a.url, "load-" + o.lower()) for o in ORIGINS}

    def suggestion(i: int) -> bytes:
        o = ORIGINS[i % len(ORIGINS)]
        code = CODES[i % len(CODES)]
        body = {"origin_id": o, "age_years": 0.01 if code.startswith("P") else 30, "sex": "female",
                "icd10": [code], "emergency": i % 3 == 0}  # fmt: skip
        return http("POST", "/api/suggestions", hostport, tokens[o], body)

    def ping(_: int) -> bytes:
        return http("GET", "/api/ping", hostport, None)

    letter = letter_body()

    def create(i: int) -> bytes:
        return http("POST", "/api/referrals", hostport, tokens["PKM-SEGARAU"], letter,
                    {"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip

    results = []
    # warm-up: every worker loads its engines before the runs
    await open_loop(Pool(host, port), suggestion, 50, 2)
    lat, err, el = await open_loop(Pool(host, port), suggestion, a.rate, a.seconds)
    results.append(report(f"(a) suggestions open-loop {a.rate:g}/s", lat, err, el, "p99 <= 25 ms, 0 errors"))
    lat, err, el = await closed_loop(host, port, ping, a.clients, a.closed_seconds)
    base = report(f"(b) GET /api/ping, {a.clients} clients", lat, err, el)
    lat, err, el = await closed_loop(host, port, suggestion, a.clients, a.closed_seconds)
    sug = report(f"(b) suggestions, {a.clients} clients", lat, err, el, ">= 50% of the ping ceiling")
    print(
        json.dumps(
            {
                "run": "(b) ratio",
                "suggestions_vs_ping": round(sug["throughput_rps"] / base["throughput_rps"], 3),
            }
        )
    )
    lat, err, el = await open_loop(Pool(host, port), create, a.create_rate, a.closed_seconds)
    results.append(
        report(f"(c) referral creates open-loop {a.create_rate:g}/s", lat, err, el, "p99 <= 30 ms, 0 errors")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8800")
    ap.add_argument(
        "--data-dir", default="/tmp/rujuk-load", help="the server's RUJUK_DATA_DIR (to create users)"
    )
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--closed-seconds", type=float, default=20)
    ap.add_argument("--create-rate", type=float, default=50)
    a = ap.parse_args()
    ensure_users(a.data_dir)
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
