"""The API with push endpoints on 127.0.0.1 allowed (a real push service run by the test) and the
notifier's loop asleep: the tests run its tick themselves, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import wait

import pytest
from fastapi.testclient import TestClient

from geodata.dataset import Dataset
from service.app import create_app
from service.notifications.notifier import Notifier
from service.settings import Settings
from tests.service.conftest import Api, Clock, _seed
from tests.service.notifications.helpers import Recorder, recorder


@pytest.fixture(scope="module")
def push_api(database_url: str, sambas: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    cfg = Settings(
        data_dir=tmp_path_factory.mktemp("var"),
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        escalation_interval_s=3600,
        notify_interval_s=3600,
        push_allow_insecure_endpoints=True,
    )
    clock = Clock()
    with TestClient(create_app(cfg, dataset=sambas, clock=clock)) as c:
        a = Api(c, clock, "sqlite" if database_url.startswith("sqlite") else "postgresql")
        _seed(a.rt)
        yield a


@pytest.fixture(scope="module")
def push_service() -> Iterator[Recorder]:
    with recorder() as rec:
        yield rec


def notifier(api: Api) -> Notifier:
    n = api.rt.notifier
    assert n is not None
    return n


def drain(api: Api, n: Notifier | None = None) -> None:
    """One tick of the notifier, its sends finished."""
    futures = (n or notifier(api)).tick()
    done, pending = wait(futures, timeout=60)
    assert not pending
    for f in done:
        f.result()


__all__ = ["drain", "notifier"]
