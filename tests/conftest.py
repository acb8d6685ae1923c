"""Shared fixtures: reference data location, real Redis and PostgreSQL servers, the bundled dataset."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from geodata.dataset import Dataset, bundled_dataset_path, load_dataset
from tests.servers import postgres_server, redis_server, scratch_database
from tests.synthetic_regency import build as build_two_regencies

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``RUJUK_SHARED_DATA``); tests that need it skip where it is absent."""
    path = Path(os.environ.get("RUJUK_SHARED_DATA", ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"reference data not found at {path} (set RUJUK_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def sambas() -> Dataset:
    return load_dataset(bundled_dataset_path("sambas"))


@pytest.fixture(scope="session")
def two_regencies(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """Sambas plus the SYNTHETIC regency "Contoh Sintetis" joined by road (``tests.synthetic_regency``)."""
    return load_dataset(build_two_regencies(tmp_path_factory.mktemp("two-regencies")))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on a database flushed before and after the test."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on a real PostgreSQL server, dropped after the session."""
    with postgres_server() as admin_url, scratch_database(admin_url, "rujuk_test") as url:
        yield url
