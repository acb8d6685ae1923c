"""How fast the planner's page (/rencana) shows its first map, and what the answers kept per worker save.

    RUJUK_DATA_DIR=/tmp/rujuk-plan .venv/bin/rujuk users create planner --role planner --password-stdin
    RUJUK_DATA_DIR=/tmp/rujuk-plan .venv/bin/rujuk serve --port 8600 --workers 1 &
    .venv/bin/python scripts/bench_planner.py --url http://127.0.0.1:8600 --password ...

Three figures, each a JSON line: the page's first map as the API answers it (the page's defaults,
computed at start-up and kept: from memory), the same map for demand it has not seen (another
seed: computed, what every first visit cost before), and the page itself in Debian's headless
Chromium at a desk's size, no network throttling: seconds from navigation to its own ready mark
(data loaded, map drawn). Medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time

import httpx2 as httpx
from playwright.sync_api import sync_playwright


def timed_map(client: httpx.Client, seed: int) -> float:
    t0 = time.perf_counter()
    r = client.post("/api/plan/map", json={"referrals": 5000, "seed": seed, "scenario": None})
    r.raise_for_status()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8600")
    ap.add_argument("--user", default="planner")
    ap.add_argument("--password", required=True)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    r = httpx.post(f"{a.url}/api/token", data={"username": a.user, "password": a.password}, timeout=10)
    r.raise_for_status()
    token = r.json()["access_token"]
    with httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        kept = [timed_map(c, 1) for _ in range(a.runs)]
        fresh = [timed_map(c, 100_000 + int(time.time()) % 100_000 + i) for i in range(a.runs)]
    print(json.dumps({"what": "POST /api/plan/map, the page's defaults (kept)", "median_s": round(statistics.median(kept), 3),
                      "runs": [round(x, 3) for x in kept]}))  # fmt: skip
    print(json.dumps({"what": "POST /api/plan/map, demand not seen (computed)", "median_s": round(statistics.median(fresh), 3),
                      "runs": [round(x, 3) for x in fresh]}))  # fmt: skip
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        ctx = browser.new_context(viewport={"width": 1366, "height": 900})
        ctx.add_init_script(f"sessionStorage.setItem('rujuk.token', {json.dumps(token)})")
        page = ctx.new_page()
        ready = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            page.goto(f"{a.url}/rencana", wait_until="commit")
            page.wait_for_selector("body[data-ready='1']", state="attached", timeout=120_000)
            ready.append(time.perf_counter() - t0)
        browser.close()
    print(json.dumps({"what": "/rencana ready (desk, no throttling)", "median_s": round(statistics.median(ready), 3),
                      "runs": [round(x, 3) for x in ready]}))  # fmt: skip


if __name__ == "__main__":
    main()
