"""Bounded tracking benchmark on loopback: position ingestion and nearest-available, with a
redis-py baseline of the same Redis commands in the same run.

    # a server on its own Redis database (2 workers):
    RUJUK_DATA_DIR=/tmp/rujuk-track RUJUK_REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/rujuk serve --workers 2 --port 8900 &
    .venv/bin/python scripts/bench_tracking.py --url http://127.0.0.1:8900 --data-dir /tmp/rujuk-track \\
        --redis redis://127.0.0.1:6379/14

Runs, each bounded in count and time:
(0) set-up: 1,000 ambulances registered through the admin API, each with a first position
    somewhere in Kabupaten Sambas;
(1) raw: the ingestion script (EVALSHA, batches of 100 fixes of one ambulance) issued straight
    from redis-py with pipelines, and the plain commands it wraps (ZADD, XADD, HSET, GEOADD, SET per
    fix) pipelined, 10 s each: the ceiling without HTTP;
(2) batch API: 8 concurrent clients posting batches of 100 fixes, 15 s;
(3) single positions: one fix per request, with wrk (2 threads, 50 connections, 15 s, every
    request a new fix of one of the 1,000 ambulances);
(4) nearest available among the 1,000 ambulances: 500 sequential queries from random pickups.
Each run prints throughput, latency percentiles and the error count as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loadtest import Pool, pct
from loadtest import http as raw_request

from geodata.dataset import bundled_dataset_path, load_dataset
from service.tracking.tracker import _INGEST

PASSWORD = "bench-tracking-password"
N_AMB = 1000
BATCH = 100
#: road nodes of the bundled Sambas network: ambulances and pickups are near roads (within ~300 m)
_ROADS = load_dataset(bundled_dataset_path("sambas")).roads
NODES = list(zip(_ROADS.lon.tolist(), _ROADS.lat.tolist(), strict=True))


def rand_point(rng: random.Random) -> tuple[float, float]:
    lon, lat = NODES[rng.randrange(len(NODES))]
    return lon + rng.uniform(-0.002, 0.002), lat + rng.uniform(-0.002, 0.002)


def post(url: str, path: str, body: dict, token: str) -> dict:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def token(url: str, user: str) -> str:
    data = urllib.parse.urlencode({"username": user, "password": PASSWORD}).encode()
    with urllib.request.urlopen(f"{url}/api/token", data=data) as r:
        return json.loads(r.read())["access_token"]


def setup(url: str, data_dir: str, run: str) -> tuple[dict[str, str], str]:
    env = {**os.environ, "RUJUK_DATA_DIR": data_dir}
    rujuk = str(Path(sys.executable).with_name("rujuk"))
    for user, role in (("bench-admin", "admin"), ("bench-dispatch", "dispatcher")):
        subprocess.run([rujuk, "users", "create", user, "--role", role, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, env=env, capture_output=True, check=False)  # fmt: skip
    admin = token(url, "bench-admin")
    tokens = {}
    t0 = time.perf_counter()
    for i in range(N_AMB):
        amb = f"B{run}-{i:04d}"
        out = post(url, "/api/ambulances", {"id": amb, "home_facility_id": "6101022",
                                            "kind": "emergency" if i % 3 else "transport"}, admin)  # fmt: skip
        tokens[amb] = out["device_token"]
    print(
        json.dumps(
            {"run": "(0) registered", "ambulances": N_AMB, "seconds": round(time.perf_counter() - t0, 1)}
        )
    )
    return tokens, token(url, "bench-dispatch")


def raw_baseline(redis_url: str, seconds: float) -> tuple[float, float]:
    """Fixes/s through the ingestion script from redis-py, and through the plain commands."""
    r = redis.Redis.from_url(redis_url)
    script = r.register_script(_INGEST)
    prefix = "bench:{raw}:"
    rng = random.Random(1)
    now_ms = int(time.time() * 1000)
    n, t_end, t0 = 0, time.perf_counter() + seconds, time.perf_counter()
    seq = 0
    while time.perf_counter() < t_end:
        pipe = r.pipeline(transaction=False)
        for _ in range(20):  # 20 batches of 100 fixes per round trip
            amb = f"R{rng.randrange(N_AMB)}"
            # the script's fixed arguments as ``service.tracking.tracker`` passes them: member,
            # track length, oldest fix kept, received, channel, publish command, confirm (no WAIT)
            args = [amb, "86400", str(now_ms - 86_400_000), str(now_ms), prefix + "events", "PUBLISH", "0"]
            for _ in range(BATCH):
                seq += 1
                lon, lat = rand_point(rng)
                args += [str(now_ms - 3_600_000 + seq), repr(lat), repr(lon), "10.0", "90.0", "5.0"]
            keys = [
                prefix + "amb:geo",
                f"{prefix}amb:last:{amb}",
                f"{prefix}amb:track:{amb}",
                f"{prefix}amb:seen:{amb}",
                f"{prefix}amb:pos:{amb}",
                prefix + "sync",
            ]
            script(keys=keys, args=args, client=pipe)
            n += BATCH
        pipe.execute()
    script_rate = n / (time.perf_counter() - t0)
    n, t_end, t0 = 0, time.perf_counter() + seconds, time.perf_counter()
    while time.perf_counter() < t_end:
        pipe = r.pipeline(transaction=False)
        for _ in range(2000):
            seq += 1
            amb = f"R{rng.randrange(N_AMB)}"
            lon, lat = rand_point(rng)
            ts = str(now_ms - 3_600_000 + seq)
            pipe.zadd(f"{prefix}amb:seen:{amb}", {ts: ts}, nx=True)
            pipe.xadd(
                f"{prefix}amb:track:{amb}",
                {"ts": ts, "lat": lat, "lon": lon, "speed": 10.0},
                maxlen=86400,
                approximate=True,
            )
            pipe.hset(f"{prefix}amb:last:{amb}", mapping={"ts": ts, "lat": lat, "lon": lon})
            pipe.geoadd(prefix + "amb:geo", (lon, lat, amb))
            pipe.set(f"{prefix}amb:pos:{amb}", f"{ts},{lat},{lon},10.0,,,{ts}")
            n += 1
        pipe.execute()
    plain_rate = n / (time.perf_counter() - t0)
    for key in r.scan_iter(prefix + "*", count=1000):
        r.delete(key)
    return script_rate, plain_rate


async def batch_api(url: str, tokens: dict[str, str], clients: int, seconds: float) -> dict:
    u = urllib.parse.urlparse(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    ids = list(tokens)
    lat_ms: list[float] = []
    errors = 0
    fixes = 0
    base = time.time() - 3000
    counter = 0

    async def client(k: int) -> None:
        nonlocal errors, fixes, counter
        pool = Pool(host, port)
        rng = random.Random(k)
        while time.perf_counter() < t_end:
            amb = ids[rng.randrange(len(ids))]
            batch = []
            for _ in range(BATCH):
                counter += 1
                lon, lat = rand_point(rng)
                batch.append(
                    {
                        "lat": lat,
                        "lon": lon,
                        "timestamp": round(base + counter * 0.001, 3),
                        "speed": 12.0,
                        "heading": 45.0,
                    }
                )
            raw = raw_request(
                "POST",
                f"/api/ambulances/{amb}/positions",
                f"{host}:{port}",
                tokens[amb],
                {"positions": batch},
            )
            t = time.perf_counter()
            try:
                status, body = await pool.request(raw)
            except Exception:
                errors += 1
                continue
            if status != 200:
                errors += 1
                print(f"error: {status} {body[:200]!r}", file=sys.stderr)
                continue
            lat_ms.append((time.perf_counter() - t) * 1000)
            fixes += BATCH

    t_end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    el = time.perf_counter() - t0
    return {"run": f"(2) batch API, {clients} clients x {BATCH} fixes", "requests": len(lat_ms) + errors, "errors": errors,
            "positions_per_s": round(fixes / el), "p50_ms": round(pct(lat_ms, 50), 2), "p99_ms": round(pct(lat_ms, 99), 2)}  # fmt: skip


def single_wrk(url: str, tokens: dict[str, str], seconds: float) -> dict:
    ids = list(tokens)
    lines = ["local ids = {", *[f'  {{"{a}", "{tokens[a]}"}},' for a in ids], "}"]
    base_ms = int((time.time() - 900) * 1000)
    lua = (
        "\n".join(lines)
        + f"""
local n = 0
local base = {base_ms}
request = function()
  n = n + 1
  local a = ids[(n % #ids) + 1]
  local body = string.format('{{"lat": %.6f, "lon": %.6f, "timestamp": %d, "speed": 11.0}}',
    1.05 + (n % 997) / 1000.0, 108.95 + (n % 773) / 1000.0, base + n * 2)
  return wrk.format("POST", "/api/ambulances/" .. a[1] .. "/positions",
    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. a[2]}}, body)
end
"""
    )
    script = Path("/tmp/rujuk-bench-positions.lua")
    script.write_text(lua, encoding="utf-8")
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{int(seconds)}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    rps = float(next(ln.split()[1] for ln in out.splitlines() if ln.startswith("Requests/sec")))
    total = int(next(ln.split()[0] for ln in out.splitlines() if "requests in" in ln))
    non2xx = next((int(ln.split()[-1]) for ln in out.splitlines() if "Non-2xx" in ln), 0)

    def ms(v: str) -> float:
        return (
            float(v[:-2])
            if v.endswith("ms")
            else float(v[:-2]) / 1000
            if v.endswith("us")
            else float(v[:-1]) * 1000
        )

    p = {
        q: ms(next(ln.split()[1] for ln in out.splitlines() if ln.strip().startswith(q)))
        for q in ("50%", "99%")
    }
    return {"run": "(3) single positions [wrk, 50 connections]", "requests": total, "errors": non2xx,
            "requests_per_s": rps, "p50_ms": p["50%"], "p99_ms": p["99%"]}  # fmt: skip


def nearest(url: str, dispatcher: str, n: int) -> dict:
    """Sequential queries on one keep-alive connection (the client's own cost stays small)."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port or 80, timeout=10)
    rng = random.Random(7)
    lat_ms = []
    errors = 0
    considered = []
    for _ in range(n):
        lon, lat = rand_point(rng)
        q = urllib.parse.urlencode({"lon": lon, "lat": lat, "k": 3})
        t = time.perf_counter()
        conn.request("GET", f"/api/dispatch/nearest?{q}", headers={"Authorization": f"Bearer {dispatcher}"})
        resp = conn.getresponse()
        raw = resp.read()
        elapsed = (time.perf_counter() - t) * 1000
        if resp.status != 200:
            errors += 1
            print(f"error: {resp.status} {raw[:200]!r}", file=sys.stderr)
            continue
        lat_ms.append(elapsed)
        considered.append(json.loads(raw)["considered"])
    conn.close()
    return {"run": f"(4) nearest available among {N_AMB}, {n} queries", "errors": errors,
            "p50_ms": round(pct(lat_ms, 50), 2), "p99_ms": round(pct(lat_ms, 99), 2), "max_ms": round(max(lat_ms), 2),
            "candidates_by_road_median": sorted(considered)[len(considered) // 2] if considered else None}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8900")
    ap.add_argument("--data-dir", default="/tmp/rujuk-track")
    ap.add_argument(
        "--redis", default="redis://127.0.0.1:6379/14", help="the server's Redis (for the raw baseline)"
    )
    ap.add_argument("--seconds", type=float, default=15)
    a = ap.parse_args()
    run = str(int(time.time()))[-6:]
    tokens, dispatcher = setup(a.url, a.data_dir, run)
    # first positions: every ambulance somewhere, fresh
    rng = random.Random(3)
    now = time.time()
    for amb, tok in tokens.items():
        lon, lat = rand_point(rng)
        post(a.url, f"/api/ambulances/{amb}/positions", {"lat": lat, "lon": lon, "timestamp": now}, tok)
    script_rate, plain_rate = raw_baseline(a.redis, 10)
    print(json.dumps({"run": "(1) raw redis-py pipelines", "ingest_script_fixes_per_s": round(script_rate),
                      "plain_commands_fixes_per_s": round(plain_rate)}))  # fmt: skip
    b = asyncio.run(batch_api(a.url, tokens, 8, a.seconds))
    print(json.dumps(b))
    print(json.dumps({"run": "(2) ratio", "batch_api_vs_raw_script": round(b["positions_per_s"] / script_rate, 3),
                      "batch_api_vs_plain_commands": round(b["positions_per_s"] / plain_rate, 3)}))  # fmt: skip
    print(json.dumps(single_wrk(a.url, tokens, a.seconds)))
    # fresh positions again (the runs above moved clocks forward only within the last minutes)
    now = time.time()
    for amb, tok in tokens.items():
        lon, lat = rand_point(rng)
        post(a.url, f"/api/ambulances/{amb}/positions", {"lat": lat, "lon": lon, "timestamp": now}, tok)
    print(json.dumps(nearest(a.url, dispatcher, 500)))


if __name__ == "__main__":
    main()
