"""How fast each web page is ready on a weak connection, and how many bytes it costs.

    # a server with the four users (see docs/web.md), then:
    RUJUK_DATA_DIR=/tmp/rujuk-pages .venv/bin/rujuk serve --port 8600 &
    .venv/bin/python scripts/bench_pages.py --url http://127.0.0.1:8600

Debian's headless Chromium (through Playwright) loads each page signed in, with the network
throttled by the DevTools protocol, first with an empty cache ("cold") and then again in the same
browser ("warm"). "Ready" is the page's own mark (``body[data-ready]``): its data loaded and its
map drawn. Each line of output is one JSON object: page, profile, cold / warm seconds to ready,
bytes over the wire (compressed), and requests. Targets (docs/web.md): on the ``3g`` profile every
page ready in <= 3 s cold; on ``slow-3g`` in <= 8 s cold and every page under 150 kB on the wire.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from typing import Any

import httpx2 as httpx
from playwright.sync_api import sync_playwright

#: (latency ms, download bytes/s, upload bytes/s): DevTools' usual presets
PROFILES = {
    "3g": (150, 1_600_000 // 8, 750_000 // 8),
    "slow-3g": (400, 400_000 // 8, 400_000 // 8),
}
PAGES = {
    "/rujuk": "segarau",
    "/terima": "pemangkat",
    "/dispatch": "dispatch",
    "/insiden": "dispatch",
    "/rencana": "planner",
}


def token(url: str, user: str, password: str) -> str:
    r = httpx.post(f"{url}/api/token", data={"username": user, "password": password}, timeout=10)
    r.raise_for_status()
    return str(r.json()["access_token"])


def load(page: Any, cdp: Any, url: str) -> tuple[float, int, int]:
    """Seconds to ready, bytes on the wire, requests."""
    sizes: list[int] = []
    cdp.on("Network.loadingFinished", lambda e: sizes.append(int(e["encodedDataLength"])))
    page.goto(url, wait_until="commit")
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=120_000)
    ready = page.evaluate("performance.now()") / 1000
    page.wait_for_timeout(200)
    return ready, sum(sizes), len(sizes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8600")
    ap.add_argument("--password", default="rahasia-yang-panjang")
    ap.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    ap.add_argument("--repeat", type=int, default=3, help="cold/warm pairs per page and profile (median)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    tokens = {user: token(args.url, user, args.password) for user in set(PAGES.values())}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
        for profile in args.profiles:
            latency, down, up = PROFILES[profile]
            for path, user in PAGES.items():
                cold, warm, sizes, counts, warm_sizes = [], [], [], [], []
                for _ in range(args.repeat):
                    ctx = browser.new_context()
                    ctx.add_init_script(f"sessionStorage.setItem('rujuk.token', {json.dumps(tokens[user])})")
                    page = ctx.new_page()
                    cdp = ctx.new_cdp_session(page)
                    cdp.send("Network.enable")
                    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": latency,
                             "downloadThroughput": down, "uploadThroughput": up})  # fmt: skip
                    t, size, n = load(page, cdp, args.url + path)
                    cold.append(t)
                    sizes.append(size)
                    counts.append(n)
                    t, size, _ = load(page, cdp, args.url + path)
                    warm.append(t)
                    warm_sizes.append(size)
                    ctx.close()
                print(json.dumps({
                    "page": path, "profile": profile, "cold_s": round(statistics.median(cold), 2),
                    "warm_s": round(statistics.median(warm), 2), "cold_bytes": int(statistics.median(sizes)),
                    "warm_bytes": int(statistics.median(warm_sizes)), "requests": int(statistics.median(counts)),
                }), flush=True)  # fmt: skip
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
