"""Benchmark the sent list's search over sealed patient data (``service/referrals/lists.py``).

    python scripts/bench_lists.py [--database-url postgresql+psycopg://...] [--rows 6000]

One Puskesmas's outbox of ``--rows`` referrals (one written through the API, the rest copies of
it with their own names, a minute apart, each patient block sealed as the service seals it); then
``GET /api/referrals?q=zzz`` (matches nothing: the worst case, every row examined up to the bound)
with the bound set to 500, 2,000 (the service's) and 5,000 rows, and a page of 50 without a search.
Median of 5 requests each, through the app in-process (no network). Without ``--database-url``:
SQLite in a temporary directory. The database must be empty (a scratch one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geodata.dataset import bundled_dataset_path, load_dataset
from service.app import create_app
from service.database import Referral
from service.referrals import lists
from service.settings import Settings
from tests.service.conftest import Api, Clock, _seed, create


def _median_ms(api: Api, url: str) -> float:
    times = []
    for _ in range(5):
        t = time.perf_counter()
        r = api.get(url, "segarau")
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--rows", type=int, default=6000)
    a = ap.parse_args()
    url = a.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    clock = Clock()
    cfg = Settings(data_dir=Path(tempfile.mkdtemp()), database_url=url, secret_key="b" * 40)
    app = create_app(cfg, dataset=load_dataset(bundled_dataset_path("sambas")), clock=clock)
    with TestClient(app) as c:
        api = Api(c, clock, url.split(":")[0])
        _seed(api.rt)
        rid = create(api).json()["id"]
        with api.rt.sessions() as s:
            r = s.get(Referral, rid)
            assert r is not None
            cols = {k: getattr(r, k) for k in Referral.__table__.columns.keys()}  # noqa: SIM118
            for i in range(a.rows - 1):
                # each letter its own number (the numbers are unique: ``uq_referrals_number``)
                row = {
                    **cols,
                    "id": str(uuid.uuid4()),
                    "idempotency_key": None,
                    "number": f"{i + 2:05d}/BENCH",
                }
                row["created_at"] = r.created_at - dt.timedelta(minutes=i + 1)
                row["patient"] = {**r.patient, "name": f"Pasien {i}"}
                s.add(Referral(**row))
            s.commit()
        print(f"{api.backend}, {a.rows} referrals in one outbox")
        for bound in (500, 2000, 5000):
            lists.SCAN_MAX = bound
            print(
                f"  search matching nothing, {bound:>5} rows examined: {_median_ms(api, '/api/referrals?q=zzz'):6.0f} ms"
            )
        print(
            f"  a page of 50 without a search:               {_median_ms(api, '/api/referrals?limit=50'):6.0f} ms"
        )


if __name__ == "__main__":
    main()
