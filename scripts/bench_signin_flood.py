"""Login flood on loopback: does a signed-in user's GET stay fast while 16 clients guess passwords?

    .venv/bin/python scripts/bench_signin_flood.py            # about 1 minute

Starts its own server (``rujuk serve``, one worker, a fresh SQLite and the embedded Redis under
a temporary directory, the bundled Sambas data), creates a referrer with 20 referrals, then for
each mode:

1. unloaded: the referrer lists their referrals (``GET /api/referrals``) in a closed loop for
   ``--seconds`` and the median and p99 latency are taken;
2. flooded: the same, while ``--clients`` clients send wrong passwords to ``POST /api/token``
   as fast as they are answered (half for the referrer's own username, half for random ones),
   from the same loopback address.

Modes: ``limits`` (the default sign-in limits: after 50 refused sign-ins from one address, 429
until the window frees) and ``pool-only`` (limits set out of reach, so every guess costs an
argon2 check and only the sign-in pool of its own protects the other routes). Prints one table
row per mode and the commit, and exits non-zero if a flooded median is above 2x its unloaded one.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.service.conftest import letter_body

RUJUK = str(ROOT / ".venv" / "bin" / "rujuk")
PASSWORD = "sandi-bench-yang-panjang-7"
MODES = {
    "limits": {},
    "pool-only": {
        "RUJUK_SIGNIN_ACCOUNT_LIMIT": "1000000 per minute",
        "RUJUK_SIGNIN_ADDRESS_LIMIT": "1000000 per minute",
    },
}


def call(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def start(data: Path, port: int, env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RUJUK_DATA_DIR": str(data), **env_extra}
    proc = subprocess.Popen(
        [RUJUK, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            if call(port, "GET", "/api/ping")[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    msg = "server did not start"
    raise SystemExit(msg)


def token(port: int, username: str, password: str) -> tuple[int, str]:
    form = urllib.parse.urlencode({"username": username, "password": password}).encode()
    status, body = call(
        port, "POST", "/api/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    return status, json.loads(body).get("access_token", "") if status == 200 else ""


def measure_gets(port: int, bearer: str, seconds: float) -> list[float]:
    """Closed-loop GETs on one keep-alive connection; latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        conn.request("GET", "/api/referrals", headers={"Authorization": f"Bearer {bearer}"})
        r = conn.getresponse()
        r.read()
        out.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            msg = f"GET /api/referrals answered {r.status}"
            raise SystemExit(msg)
        time.sleep(0.02)
    conn.close()
    return out


def flood(port: int, user: str, stop: threading.Event, seed: int, statuses: collections.Counter[int]) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    while not stop.is_set():
        name = user if rng.random() < 0.5 else f"tebakan{rng.randrange(10**6)}"
        form = urllib.parse.urlencode({"username": name, "password": f"salah{rng.randrange(10**9)}"})
        try:
            conn.request("POST", "/api/token", body=form, headers=headers)
            r = conn.getresponse()
            r.read()
            statuses[r.status] += 1
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            statuses[0] += 1


def run_mode(mode: str, port: int, clients: int, seconds: float, seed: int) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="rujuk-flood-"))
    try:
        subprocess.run(
            [
                RUJUK,
                "users",
                "create",
                "bidan",
                "--role",
                "referrer",
                "--facility",
                "PKM-SEGARAU",
                "--password-stdin",
            ],
            input=PASSWORD.encode(),
            env={**os.environ, "RUJUK_DATA_DIR": str(data)},
            check=True,
            capture_output=True,
        )
        proc = start(data, port, MODES[mode])
        try:
            status, bearer = token(port, "bidan", PASSWORD)
            assert status == 200, status
            auth = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
            for _ in range(20):
                body = json.dumps(letter_body(now=dt.datetime.now(dt.UTC))).encode()
                st, _ = call(
                    port, "POST", "/api/referrals", body, {**auth, "Idempotency-Key": uuid.uuid4().hex}
                )
                assert st == 201, st
            # warm, and past the service's warm-ups (1 s after start, then 1-3 s holding the GIL:
            # routes' models, region codes, the dummy hash, numba), which are not the flood's cost
            measure_gets(port, bearer, 6.0)
            idle = measure_gets(port, bearer, seconds)
            stop = threading.Event()
            statuses: collections.Counter[int] = collections.Counter()
            threads = [
                threading.Thread(target=flood, args=(port, "bidan", stop, seed + i, statuses))
                for i in range(clients)
            ]
            for t in threads:
                t.start()
            time.sleep(0.5)
            loaded = measure_gets(port, bearer, seconds)
            stop.set()
            for t in threads:
                t.join()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(data, ignore_errors=True)

    def p(xs: list[float], q: float) -> float:
        return statistics.quantiles(xs, n=100)[int(q) - 1]

    return {
        "idle_p50": statistics.median(idle),
        "idle_p99": p(idle, 99),
        "flood_p50": statistics.median(loaded),
        "flood_p99": p(loaded, 99),
        "gets": len(loaded),
        "attempts": sum(statuses.values()),
        "401": statuses[401],
        "429": statuses[429],
        "other": sum(v for k, v in statuses.items() if k not in (401, 429)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8850)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    args = ap.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(f"commit {commit}; {args.clients} clients of wrong passwords for {args.seconds:.0f} s; one worker")
    print(
        "| mode | GET p50 unloaded | GET p50 flooded | ratio | GET p99 unloaded / flooded | sign-in attempts (401 / 429 / other) |"
    )
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for mode in args.modes:
        r = run_mode(mode, args.port, args.clients, args.seconds, args.seed)
        ratio = r["flood_p50"] / r["idle_p50"]
        worst = max(worst, ratio)
        print(
            f"| {mode} | {r['idle_p50']:.1f} ms | {r['flood_p50']:.1f} ms | {ratio:.2f}x | "
            f"{r['idle_p99']:.1f} / {r['flood_p99']:.1f} ms | "
            f"{r['attempts']:.0f} ({r['401']:.0f} / {r['429']:.0f} / {r['other']:.0f}) |",
            flush=True,
        )
    sys.exit(0 if worst <= 2.0 else 1)


if __name__ == "__main__":
    main()
