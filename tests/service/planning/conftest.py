"""Fixtures of the planner's tests: the app with a planner and a referrer signed in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from geodata.dataset import Dataset


@pytest.fixture(scope="module")
def api_client(
    sambas: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, dict[str, str], dict[str, str]]]:
    from fastapi.testclient import TestClient

    from service.accounts import store
    from service.app import create_app
    from service.settings import Settings

    tmp = tmp_path_factory.mktemp("plan")
    cfg = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'db.sqlite3'}",
                   secret_key="test-secret-key-that-is-long-enough-for-hs256", escalation_interval_s=3600)  # fmt: skip
    with TestClient(create_app(cfg, dataset=sambas)) as c:
        rt = c.app.state.runtime  # type: ignore[attr-defined]
        import datetime as dt

        with rt.sessions() as s:
            for name, role, fac in (("planner", "planner", None), ("segarau", "referrer", "PKM-SEGARAU")):
                store.create_user(s, username=name, password="rahasia-yang-panjang", roles=[role], facility_id=fac,
                                  known_facilities=rt.facility_ids, actor=None, now=dt.datetime.now(dt.UTC))  # fmt: skip
            s.commit()

        def h(user: str) -> dict[str, str]:
            r = c.post("/api/token", data={"username": user, "password": "rahasia-yang-panjang"})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        yield c, h("planner"), h("segarau")
