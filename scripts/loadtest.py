"""Bounded load test of a running rujuk server on loopback (Sambas data).

    # a server to test (2 workers, its own SQLite under /tmp/rujuk-load):
    RUJUK_DATA_DIR=/tmp/rujuk-load .venv/bin/rujuk serve --workers 2 --port 8800 &
    .venv/bin/python scripts/loadtest.py --url http://127.0.0.1:8800 --data-dir /tmp/rujuk-load

Three runs, each bounded in count and time:

(a) suggestions at a steady open-loop rate (default 200/s for 30 s): requests are sent on a fixed
    schedule whatever the server does, and latency counts from the scheduled time, so a slow
    server cannot hide its queueing (no coordinated omission);
(b) maximum suggestion throughput with 50 concurrent closed-loop clients (20 s), next to the
    trivial ``GET /api/ping`` (``async def``, returns ``{"ok": true}``) of the same app measured
    the same way in the same run; with Debian's ``wrk`` (C, 2 threads) when installed, else with
    the Python generator below (which then measures itself too);
(c) referral creates at an open-loop 50/s (20 s), each with its own Idempotency-Key.

The generator is asyncio over raw HTTP/1.1 keep-alive connections in one process (cheap enough
at these rates); it prints p50/p90/p99/max, throughput and the error count of each run, and for
an open-loop run its send lag. It shares the machine's cores with the server, and a generator
that wakes late sends late and measures itself, so:

- it runs ahead of the server in the CPU queue: real-time ``SCHED_FIFO`` (``--realtime``, priority
  1, as root; its children, wrk and ``rujuk``, go back to normal), else ``--nice`` (-10). A nice
  value alone left it waiting a few milliseconds for a core once it was woken (it only weighs
  against the tasks of its own session's autogroup, and the kernel's EEVDF does not always
  preempt for it);
- its event loop waits on ``select()``, whose timeout is in microseconds, not on asyncio's default
  epoll, whose timeout is whole milliseconds rounded up (and on CPython 3.11 sometimes rounded up
  twice, e.g. 18 ms sleeps 19): a sleep of about 19 ms, (c)'s, woke up to 2 ms late, past the
  millisecond of margin the scheduler kept;
- its garbage collector is off during an open-loop run.

Set-up (users) is done with ``rujuk users create`` against the same data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import os
import selectors
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
from request_mix import positions_near, request_json, requests

from geodata.dataset import bundled_dataset_path, load_dataset
from tests.service.conftest import letter_body

PASSWORD = "load-test-password"
#: every Puskesmas of the bundled data (each with its own account)
ORIGINS = [f.id for f in load_dataset(bundled_dataset_path()).facilities if f.kind.value == "puskesmas"]


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


#: connections the generator keeps open at most (``select()`` takes descriptors below 1,024): more
#: requests than this in flight at once means a stalled server, and each one past it is an error
MAX_OPEN = 900


class Pool:
    #: connections open in all pools (each a descriptor in the event loop's ``select()``)
    open = 0

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Conn] = []

    async def connect(self) -> Conn:
        if Pool.open >= MAX_OPEN:
            raise ConnectionError(f"{MAX_OPEN} connections already open: the server has stalled")
        conn = Conn(*await asyncio.open_connection(self.host, self.port))
        Pool.open += 1
        return conn

    @staticmethod
    def close(conn: Conn) -> None:
        conn.w.close()
        Pool.open -= 1

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        reused = bool(self.idle)
        conn = self.idle.pop() if reused else await self.connect()
        try:
            out = await conn.request(raw)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close(conn)
            if not reused:
                raise
            # the server closed an idle keep-alive connection: retry once on a new one, as HTTP
            # clients do (safe here: suggestions are reads, creates carry an Idempotency-Key)
            conn = await self.connect()
            try:
                out = await conn.request(raw)
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close(conn)
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


def report(
    name: str, lat: list[float], errors: int, elapsed: float, target: str = "", lag: list[float] | None = None
) -> dict:
    n = len(lat)
    out = {
        "run": name, "requests": n + errors, "errors": errors, "seconds": round(elapsed, 2),
        "throughput_rps": round(n / elapsed, 1) if elapsed else 0,
        "p50_ms": round(pct(lat, 50), 2), "p90_ms": round(pct(lat, 90), 2), "p99_ms": round(pct(lat, 99), 2),
        "max_ms": round(max(lat), 2) if lat else None, "target": target,
    }  # fmt: skip
    if lag is not None:  # how late the generator sent (it must stay well under the latencies)
        out |= {"send_lag_p50_ms": round(pct(lag, 50), 3), "send_lag_p99_ms": round(pct(lag, 99), 3),
                "send_lag_max_ms": round(max(lag), 3) if lag else None}  # fmt: skip
    print(json.dumps(out))
    return out


#: how long before a request is due the open-loop scheduler stops sleeping and polls (seconds), at
#: most a tenth of the interval: a margin for the time it takes to be woken (on this virtual
#: machine up to a millisecond or two when the host is busy)
SPIN = 0.001


async def open_loop(
    pool: Pool, make: callable, rate: float, seconds: float
) -> tuple[list[float], int, float, list[float]]:
    """Send ``make(i)`` at ``rate`` per second for ``seconds``, each on its schedule.

    One scheduler starts each request's task at its time (a task per request made then, not all
    up front: thousands of waiting tasks made the first second's requests 200-300 ms late). It
    sleeps to ``SPIN`` (at most a tenth of the interval) before the next time (the loop's timer is precise to well under that: see
    ``event_loop``) and yields to the running requests until then. Latency counts from the
    scheduled time; the send lag (when the request was handed to its connection, minus its
    scheduled time) is returned so a run can show it measured the server, not itself.
    """
    n = int(rate * seconds)
    raws = [make(i) for i in range(n)]  # made before the clock starts
    spin = min(SPIN, 0.1 / rate)
    lat: list[float] = []
    lag: list[float] = []
    errors = 0
    tasks: set[asyncio.Task] = set()

    async def one(raw: bytes, scheduled: float) -> None:
        nonlocal errors
        lag.append((time.perf_counter() - scheduled) * 1000)
        try:
            status, body = await pool.request(raw)
            if status >= 400:
                errors += 1
                print(f"error: HTTP {status} {body[:200]!r}", file=sys.stderr)
                return
        except Exception as exc:
            errors += 1
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return
        lat.append((time.perf_counter() - scheduled) * 1000)

    gc.disable()  # no collection pauses the scheduler during a run (the garbage is small: see below)
    t0 = time.perf_counter() + 0.05
    for i, raw in enumerate(raws):
        scheduled = t0 + i / rate
        while (delay := scheduled - time.perf_counter()) > 0:  # noqa: ASYNC110  a clock, not an event
            # sleep to `spin` before, then yield to the requests in flight until it is time
            await asyncio.sleep(delay - spin if delay > spin else 0)
        task = asyncio.ensure_future(one(raw, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(0)  # the task starts now: it writes its request before the next is due
    while tasks:
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    gc.enable()
    gc.collect()
    return lat, errors, elapsed, lag


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


def wrk_run(
    url: str,
    name: str,
    raws: list[bytes] | None,
    clients: int,
    seconds: float,
    target: str = "",
    path: str = "/api/ping",
) -> dict:
    """Closed-loop run with wrk; ``raws`` are whole HTTP requests to rotate through (None: GET /api/ping)."""
    lua = ""
    if raws is not None:
        reqs = []
        for raw in raws:
            head, _, body = raw.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ")
            hdrs = {
                k: v.strip()
                for k, _, v in (ln.partition(":") for ln in lines[1:])
                if k not in ("Host", "Content-Length")
            }
            hl = ", ".join(f'["{k}"]="{v}"' for k, v in hdrs.items())
            reqs.append(f'wrk.format("{method}", "{path}", {{{hl}}}, [[{body.decode()}]])')
        lua = "local reqs = {}\ninit = function(args)\n" + "".join(
            f"  reqs[{i + 1}] = {r}\n" for i, r in enumerate(reqs)
        )
        lua += "end\nlocal i = 0\nrequest = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n"
    script = Path("/tmp/rujuk-loadtest.lua")
    script.write_text(lua, encoding="utf-8")
    target_url = url + ("/api/suggestions" if raws is not None else path)
    cmd = ["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--latency", target_url]
    if raws is not None:
        cmd[1:1] = ["-s", str(script)]
    # wrk at the server's priority, not the generator's (see raise_priority): (b) compares throughputs
    reset = (lambda: os.setpriority(os.PRIO_PROCESS, 0, 0)) if os.getuid() == 0 else None
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, preexec_fn=reset).stdout

    def grab(prefix: str) -> str:
        return next((ln.split()[1] for ln in out.splitlines() if ln.strip().startswith(prefix)), "nan")

    def ms(v: str) -> float:
        return (
            float(v[:-2])
            if v.endswith("ms")
            else float(v[:-2]) / 1000
            if v.endswith("us")
            else float(v[:-1]) * 1000
        )

    rps = float(next(ln.split()[1] for ln in out.splitlines() if ln.startswith("Requests/sec")))
    total = int(next(ln.split()[0] for ln in out.splitlines() if "requests in" in ln))
    non2xx = next((int(ln.split()[-1]) for ln in out.splitlines() if "Non-2xx" in ln), 0)
    sockerr = sum(
        int(x.strip(",")) for ln in out.splitlines() if "Socket errors" in ln for x in ln.split()[3::2]
    )
    res = {
        "run": name,
        "requests": total,
        "errors": non2xx + sockerr,
        "seconds": seconds,
        "throughput_rps": rps,
        "p50_ms": ms(grab("50%")),
        "p90_ms": ms(grab("90%")),
        "p99_ms": ms(grab("99%")),
        "target": target,
    }
    print(json.dumps(res))
    return res


#: hospitals that report live status during the test (about a third, as on SIRANAP); the others
#: are ranked on registered capacity with the "no live status" penalty
REPORTING = {
    "6101022": {
        "beds_available": {"icu": 2, "maternity": 4, "general": 12},
        "specialists_on_duty": ["obgyn", "anak", "penyakit_dalam"],
    },
    "6101033": {
        "beds_available": {"maternity": 0, "general": 5},
        "specialists_on_duty": ["obgyn"],
        "specialists_on_call": {"bedah": 25},
    },
    "6101137": {"beds_available": {"general": 3}, "equipment_out_of_order": ["ct"]},
    "6172011": {
        "beds_available": {"icu": 0, "nicu": 1, "general": 20},
        "specialists_on_duty": ["jantung_dan_pembuluh_darah", "anak"],
    },
}


def ensure_users(data_dir: str) -> None:
    env = {**os.environ, "RUJUK_DATA_DIR": data_dir}
    rujuk = str(Path(sys.executable).with_name("rujuk"))
    for origin in ORIGINS:
        name = "load-" + origin.lower()
        subprocess.run([rujuk, "users", "create", name, "--role", "referrer", "--facility", origin, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, env=env, capture_output=True, check=False)  # fmt: skip
    for hospital in REPORTING:
        subprocess.run([rujuk, "users", "create", f"load-rs-{hospital}", "--role", "receiver", "--facility", hospital, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, env=env, capture_output=True, check=False)  # fmt: skip


def report_statuses(url: str) -> None:
    """Each reporting hospital's staff post its live status (fresh at the start of the runs)."""
    for hospital, figures in REPORTING.items():
        body = json.dumps(figures).encode()
        req = urllib.request.Request(f"{url}/api/facilities/{hospital}/status", data=body, method="PATCH",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {token(url, f'load-rs-{hospital}')}"})  # fmt: skip
        with urllib.request.urlopen(req) as r:
            assert r.status == 200


def token(url: str, user: str) -> str:
    data = urllib.parse.urlencode({"username": user, "password": PASSWORD}).encode()
    with urllib.request.urlopen(f"{url}/api/token", data=data) as r:
        return json.loads(r.read())["access_token"]


async def closed_runs(
    a: argparse.Namespace, host: str, port: int, suggestion: callable, ping: callable
) -> None:
    """(b): the ping ceiling and the suggestions' throughput, closed loop, and their ratio."""
    if shutil.which("wrk"):
        base = wrk_run(a.url, "(b) GET /api/ping [wrk]", None, a.clients, a.closed_seconds)
        wrk_run(
            a.url, "(b) GET /api/ping-sync [wrk]", None, a.clients, a.closed_seconds, path="/api/ping-sync"
        )
        bodies = [suggestion(i) for i in range(120)]
        sug = wrk_run(
            a.url, "(b) suggestions [wrk]", bodies, a.clients, a.closed_seconds, ">= 50% of the ping ceiling"
        )
    else:
        # a closed loop keeps the generator busy: real-time, it would take a core from the server
        with ordinary_priority():
            lat, err, el = await closed_loop(host, port, ping, a.clients, a.closed_seconds)
            base = report(f"(b) GET /api/ping, {a.clients} clients", lat, err, el)
            lat, err, el = await closed_loop(host, port, suggestion, a.clients, a.closed_seconds)
            sug = report(f"(b) suggestions, {a.clients} clients", lat, err, el, ">= 50% of the ping ceiling")
    ratio = round(sug["throughput_rps"] / base["throughput_rps"], 3)
    print(json.dumps({"run": "(b) ratio", "suggestions_vs_ping": ratio}))


async def main_async(a: argparse.Namespace) -> None:
    u = urllib.parse.urlparse(a.url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    hostport = f"{host}:{port}"
    tokens = {o: token(a.url, "load-" + o.lower()) for o in ORIGINS}
    report_statuses(a.url)

    # the realistic mix (scripts/request_mix.py), every request different; half sent from a
    # phone's position on a road near the Puskesmas, half from the Puskesmas itself
    rng = np.random.default_rng(a.seed)
    ds = load_dataset(bundled_dataset_path())  # the server runs on the bundled data
    mix = requests(rng, ORIGINS, 50_000)
    where = positions_near(ds.roads, {f.id: (f.location.lon, f.location.lat) for f in ds.facilities},
                           [r.origin_id for r in mix], rng)  # fmt: skip

    def suggestion(i: int) -> bytes:
        r = mix[i % len(mix)]
        body = request_json(r, *where[i % len(mix)]) if i % 2 else request_json(r)
        return http("POST", "/api/suggestions", hostport, tokens[r.origin_id], body)

    def ping(_: int) -> bytes:
        return http("GET", "/api/ping", hostport, None)

    letter = letter_body(now=dt.datetime.now(dt.UTC))

    def create(i: int) -> bytes:
        return http("POST", "/api/referrals", hostport, tokens["PKM-SEGARAU"], letter,
                    {"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip

    results = []
    # the generator's own start-up objects out of the collector's scans: a full collection while
    # the 6,000 requests of (a) are being scheduled stalled the first of them by ~200 ms on the
    # client's side (seen as the server's "max" until found)
    gc.collect()
    gc.freeze()
    # warm-up: every worker loads its engines before the runs
    pool = Pool(host, port)
    await open_loop(pool, suggestion, 50, 2)
    if "a" in a.only:
        lat, err, el, lag = await open_loop(pool, suggestion, a.rate, a.seconds)
        results.append(
            report(f"(a) suggestions open-loop {a.rate:g}/s", lat, err, el, "p99 <= 25 ms, 0 errors", lag)
        )
    if "b" in a.only:
        await closed_runs(a, host, port, suggestion, ping)
    if "c" in a.only:
        lat, err, el, lag = await open_loop(Pool(host, port), create, a.create_rate, a.closed_seconds)
        results.append(
            report(
                f"(c) referral creates open-loop {a.create_rate:g}/s",
                lat,
                err,
                el,
                "p99 <= 30 ms, 0 errors",
                lag,
            )
        )


def raise_priority(nice: int, realtime: int = 0) -> str:
    """The generator ahead of the server in the CPU queue (they share this machine's cores): a
    generator waiting for a core sends late and measures itself.

    ``realtime`` above 0: ``SCHED_FIFO`` at that priority, which runs as soon as it is woken ahead
    of every normal task; its children (wrk, ``rujuk users``) start at normal priority
    (``SCHED_RESET_ON_FORK``). Otherwise, or without the right to, ``nice`` (below 0 needs root).
    """
    why = ""
    if realtime > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(realtime))
        except (PermissionError, AttributeError) as exc:  # not root, or not Linux
            why = f"; SCHED_FIFO refused ({type(exc).__name__})"
        else:
            return f"generator at SCHED_FIFO priority {realtime} (the server at its own)"
    if nice == 0:
        return "generator priority unchanged (--nice 0)" + why
    try:
        os.nice(nice)
    except PermissionError:
        return f"generator priority unchanged: nice {nice} needs root" + why
    return f"generator at nice {os.nice(0)} (the server at its own)" + why


@contextlib.contextmanager
def ordinary_priority() -> Iterator[None]:
    """The generator at normal priority within, if it was real-time (see ``raise_priority``)."""
    policy = os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else None
    if policy is None or policy & ~os.SCHED_RESET_ON_FORK != os.SCHED_FIFO:
        yield
        return
    param = os.sched_getparam(0)
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    try:
        yield
    finally:
        os.sched_setscheduler(0, policy, param)


def event_loop() -> asyncio.AbstractEventLoop:
    """asyncio over ``select()``: timers to the microsecond.

    asyncio's default epoll waits whole milliseconds, rounded up (on CPython 3.11 sometimes twice:
    a timeout of 18 ms waits 19), so a sleep meant to end ``SPIN`` before a request is due could end
    up to 2 ms late; ``select()`` takes its timeout in microseconds. It watches at most 1,024
    descriptors, hence ``MAX_OPEN``.
    """
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


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
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--only", default="abc", help="which runs, e.g. 'c' or 'ac' (default: all three, in order)"
    )
    ap.add_argument(
        "--realtime",
        type=int,
        default=1,
        help="the generator's SCHED_FIFO priority (root only; 0: none, use --nice)",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="the generator's niceness without --realtime (below 0: root only)",
    )
    a = ap.parse_args()
    if not a.only or set(a.only) - set("abc"):
        ap.error("--only takes some of the letters a, b, c")
    print(json.dumps({"setup": raise_priority(a.nice, a.realtime)}))
    ensure_users(a.data_dir)
    with asyncio.Runner(loop_factory=event_loop) as runner:
        runner.run(main_async(a))


if __name__ == "__main__":
    main()
