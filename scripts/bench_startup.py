"""How soon does ``rujuk serve`` answer after it starts, and how much memory does each worker take?

    python scripts/bench_startup.py [--runs 3] [--workers 1] [--dataset DIR] [--data-dir DIR]

Does what ``make serve`` does, on the bundled data with the embedded defaults (SQLite and the
tree cache under a scratch data directory, a private redis-server): ``rujuk data check``, then
``rujuk serve`` on a free port, polled every 20 ms until ``/health`` answers 200 (uvicorn accepts
no request before the app's start-up, which loads the dataset, the rule pack and the routing
engine with its facility trees, is done) and then ``/api/network`` too. Reports the seconds from
the start of ``rujuk serve`` to that first answer, per run and the median, and each worker's RSS
and PSS (PSS counts a page shared by n processes as 1/n: the memory-mapped facility trees shared
by the workers of a host show there), and the CPU seconds the server's processes had used when it
first answered (less sensitive to other load on the machine than the wall-clock time). The first run of a fresh data directory also computes and
writes the tree cache; later runs read it. Python's bytecode cache is written as usual (the
first start after a change compiles the changed modules).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

RUJUK = str(Path(sys.executable).with_name("rujuk"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def workers_of(proc: psutil.Process, n: int) -> list[psutil.Process]:
    """The Python processes serving requests: the process itself with one worker, else its children."""
    if n == 1:
        return [proc]
    kids = [p for p in proc.children(recursive=True) if "python" in p.name().lower()]
    return [p for p in kids if "spawn_main" in " ".join(p.cmdline())]  # not the resource tracker


def one_run(
    env: dict[str, str], workers: int, timeout_s: float
) -> tuple[float, float, list[tuple[float, float]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [RUJUK, "serve", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        while not ok(f"{url}/health"):
            if proc.poll() is not None:
                msg = f"rujuk serve exited ({proc.returncode}) before answering"
                raise SystemExit(msg)
            if time.perf_counter() - t0 > timeout_s:
                msg = f"no answer within {timeout_s} s"
                raise SystemExit(msg)
            time.sleep(0.02)
        if not ok(f"{url}/api/network"):
            msg = "/health answered but /api/network did not"
            raise SystemExit(msg)
        first = time.perf_counter() - t0
        me = psutil.Process(proc.pid)
        cpu = sum(sum(p.cpu_times()[:2]) for p in [me, *me.children(recursive=True)])
        # every worker up (each answers /health with its pid) before memory is read
        deadline = time.perf_counter() + timeout_s
        procs = workers_of(psutil.Process(proc.pid), workers)
        while len(procs) < workers and time.perf_counter() < deadline:
            time.sleep(0.2)
            procs = workers_of(psutil.Process(proc.pid), workers)
        for _ in range(4 * workers):
            ok(f"{url}/health")
        time.sleep(1.0 if workers > 1 else 0.0)
        mem = []
        for p in procs:
            info = p.memory_full_info()
            mem.append((info.rss / 2**20, info.pss / 2**20))
        return first, cpu, mem
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--dataset", type=Path, help="dataset directory (default: the bundled Sambas data)")
    ap.add_argument("--data-dir", type=Path, help="RUJUK_DATA_DIR (default: a scratch directory)")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rujuk-startup-") as tmp:
        # as a user's shell runs it: Python keeps the bytecode it compiles (a session that sets
        # PYTHONDONTWRITEBYTECODE would compile every module of rujuk again at every start)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("RUJUK_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        env["RUJUK_DATA_DIR"] = str(args.data_dir or Path(tmp) / "var")
        if args.dataset is not None:
            env["RUJUK_DATASET_PATH"] = str(args.dataset)
        t0 = time.perf_counter()
        subprocess.run([RUJUK, "data", "check"], env=env, check=True, capture_output=True)
        print(f"rujuk data check: {time.perf_counter() - t0:.2f} s")
        firsts = []
        for i in range(args.runs):
            first, cpu, mem = one_run(env, args.workers, args.timeout)
            firsts.append(first)
            per = ", ".join(f"RSS {r:.0f} MB / PSS {p:.0f} MB" for r, p in mem)
            print(
                f"run {i + 1}: first answer after {first:.2f} s ({cpu:.2f} CPU s so far); "
                f"{len(mem)} worker(s): {per}",
                flush=True,
            )
    print(
        f"commit {git_commit()}, {args.workers} worker(s): first answer median {statistics.median(firsts):.2f} s "
        f"(min {min(firsts):.2f}, max {max(firsts):.2f}) over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
