"""Benchmark creating a referral: the JSON API (create + send) against one FHIR transaction Bundle.

    python scripts/bench_fhir_create.py [--requests 200] [--seed 7]

In-process (no network), SQLite in a temporary directory, the bundled Sambas data. Every letter
is distinct: origin (each Puskesmas has a referrer), destination (a receiving hospital), ICD-10
code from bench_matching's mix, patient (name, NIK built from a drawn birth date and sex, record
number), vital signs; the two ways alternate on the same letters. Prints p50 / p99 / max in
milliseconds and the commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.accounts import store
from service.app import create_app
from service.fhir.transaction import letter_bundle
from service.referrals.schemas import ReferralIn
from service.settings import Settings
from tests.service.conftest import PASSWORD, letter_body

CODES = ["O72.1", "P07.3", "I21.9", "S06.5", "R11", "J18.9", "A97.1", "K35.8", "N18.5", "T07", "I10", "O14.1"]


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def letter(rng: np.random.Generator, origin: str, destination: str, now: dt.datetime) -> dict[str, Any]:
    code = str(rng.choice(CODES))
    female = code.startswith("O") or rng.random() < 0.5
    born = dt.date(int(rng.integers(1950, 2006)), int(rng.integers(1, 13)), int(rng.integers(1, 29)))
    nik = f"610101{born.day + (40 if female else 0):02d}{born.month:02d}{born.year % 100:02d}{int(rng.integers(1, 9999)):04d}"
    body = letter_body(now=now, destination_id=destination, emergency=bool(rng.random() < 0.4))
    body["service_type"] = (
        "gawat_darurat" if body["emergency"] else str(rng.choice(["rawat_inap", "rawat_jalan"]))
    )
    body["patient"] |= {"name": f"Pasien {uuid.uuid4().hex[:8]}", "nik": nik, "date_of_birth": born.isoformat(),
                        "sex": "female" if female else "male", "medical_record_number": f"RM-{rng.integers(1, 10**6)}"}  # fmt: skip
    body["medical"] |= {"icd10": [code], "diagnosis_text": f"diagnosis {code}",
                        "vital_signs": {"pulse": int(rng.integers(50, 150)), "spo2": int(rng.integers(85, 100))}}  # fmt: skip
    return body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    tmp = Path(tempfile.mkdtemp())
    app = create_app(
        Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'rujuk.sqlite3'}", secret_key="b" * 40)
    )
    with TestClient(app) as c:
        rt = app.state.runtime
        puskesmas = [f.id for f in rt.dataset.facilities if not f.receiving]
        hospitals = sorted(rt.receiving_ids)
        heads: dict[str, dict[str, str]] = {}
        with rt.sessions() as s:
            for fid in puskesmas:
                store.create_user(s, username=f"u-{fid.lower()}", password=PASSWORD, roles=["referrer"], facility_id=fid,
                                  known_facilities=rt.facility_ids, actor=None, now=dt.datetime.now(dt.UTC))  # fmt: skip
            s.commit()
        for fid in puskesmas:
            tok = c.post("/api/token", data={"username": f"u-{fid.lower()}", "password": PASSWORD}).json()
            heads[fid] = {"Authorization": f"Bearer {tok['access_token']}"}
        # past the service's warm-ups (1 s after start-up, then 1-3 s holding the GIL: the routes'
        # models, region codes, the dummy hash, numba), which put 150-320 ms into the first
        # seconds' requests: not the cost of a letter
        time.sleep(6.0)
        times: dict[str, list[float]] = {"json": [], "fhir": []}
        for i in range(args.requests + 2):
            origin = str(rng.choice(puskesmas))
            body = letter(rng, origin, str(rng.choice(hospitals)), dt.datetime.now(dt.UTC))
            h = heads[origin]
            way = "json" if i % 2 == 0 else "fhir"
            t0 = time.perf_counter()
            if way == "json":
                r = c.post("/api/referrals", json=body, headers={**h, "Idempotency-Key": uuid.uuid4().hex})
                ok = (
                    r.status_code == 201
                    and c.post(f"/api/referrals/{r.json()['id']}/send", headers=h).status_code == 200
                )
            else:
                bundle = letter_bundle(
                    ReferralIn.model_validate(body).model_dump(mode="json"), origin_id=origin
                )
                r = c.post(
                    "/fhir/R4",
                    content=json.dumps(bundle),
                    headers={**h, "Content-Type": "application/fhir+json"},
                )
                ok = r.status_code == 200
            if not ok:
                print(f"refused ({way}): {r.status_code} {r.text[:300]}")
                continue
            if i >= 2:  # the first of each way warms up
                times[way].append((time.perf_counter() - t0) * 1000)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=False).stdout.strip()  # fmt: skip
        print(f"commit {commit or '?'}; {args.requests} distinct letters, seed {args.seed}")
        for way, xs in times.items():
            label = "JSON create+send" if way == "json" else "FHIR transaction"
            print(
                f"{label:17} n={len(xs):4}  p50 {statistics.median(xs):6.1f} ms  p99 {pct(xs, 99):6.1f}  max {max(xs):6.1f}"
            )


if __name__ == "__main__":
    main()
