"""Benchmark the referral letter: the HTML page and its PDF (WeasyPrint), through the API.

    python scripts/bench_letter.py [--requests 20]

One letter written through the API (SQLite in a temporary directory, the bundled Sambas data),
then ``GET /api/referrals/{id}/letter`` and ``/letter.pdf`` ``--requests`` times each (after one
warm-up), in-process (no network). Prints p50 / p90 / max in milliseconds, the answer's size and
the commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.accounts import store
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import PASSWORD, letter_body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20)
    n = ap.parse_args().requests
    tmp = Path(tempfile.mkdtemp())
    app = create_app(
        Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'rujuk.sqlite3'}", secret_key="b" * 40)
    )
    with TestClient(app) as c:
        rt = app.state.runtime
        with rt.sessions() as s:
            store.create_user(s, username="segarau", password=PASSWORD, roles=["referrer"], facility_id="PKM-SEGARAU",
                              known_facilities=rt.facility_ids, actor=None, now=dt.datetime.now(dt.UTC))  # fmt: skip
            s.commit()
        token = c.post("/api/token", data={"username": "segarau", "password": PASSWORD}).json()[
            "access_token"
        ]
        h = {"Authorization": f"Bearer {token}"}
        r = c.post("/api/referrals", json=letter_body(now=dt.datetime.now(dt.UTC)),
                   headers={**h, "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
        rid = r.json()["id"]
        # past the service's warm-ups (1 s after start-up, then 1-3 s holding the GIL), which are
        # not the cost of a letter
        time.sleep(6.0)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        print(f"commit {commit.stdout.strip() or '?'}; letter {r.json()['number']}; {n} requests each")
        for path in ("letter", "letter.pdf"):
            times, size = [], 0
            for i in range(n + 1):
                t0 = time.perf_counter()
                answer = c.get(f"/api/referrals/{rid}/{path}", headers=h)
                if i:
                    times.append((time.perf_counter() - t0) * 1000)
                answer.raise_for_status()
                size = len(answer.content)
            times.sort()
            p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
            print(
                f"{path:11} p50 {statistics.median(times):7.1f} ms  p90 {p90:7.1f}  max {times[-1]:7.1f}  {size:,} bytes"
            )


if __name__ == "__main__":
    main()
