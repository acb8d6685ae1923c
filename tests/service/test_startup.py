"""Start-up: the garbage collector is off while ``rujuk serve`` starts and on again once it has."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from service import GC_OFF_UNTIL_STARTED

if TYPE_CHECKING:
    from pathlib import Path

CHILD = """
import gc, sys
import service
off_at_import = not gc.isenabled()
from fastapi.testclient import TestClient
from service.app import create_app
from service.settings import Settings
cfg = Settings(data_dir=sys.argv[1], secret_key="test-secret-key-that-is-long-enough-for-hs256")
still_off = not gc.isenabled()
with TestClient(create_app(cfg)) as c:
    assert c.get("/health").status_code == 200
    on_when_serving = gc.isenabled()
print(off_at_import, still_off, on_when_serving)
"""


def run(tmp_path: Path, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "var")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip()


def test_the_collector_is_off_during_start_up_and_on_once_serving(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUK_")}
    assert run(tmp_path, {**env, GC_OFF_UNTIL_STARTED: "1"}) == "True True True"
    # without the variable (tests, the other commands) the service leaves the collector alone
    assert run(tmp_path, env) == "False False True"
