"""Sign-in limits: 429 + Retry-After and a temporary lockout, per account and per client address,
shared through Redis by every worker; audited; skipped (not fatal) when Redis is down."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from geodata.dataset import Dataset
from service.app import create_app
from service.database import AuditEntry
from service.runtime import Runtime
from service.settings import Settings
from tests.service.conftest import PASSWORD, Api, _seed

WRONG = "bukan-sandi-yang-benar"


def _token(c: TestClient, user: str, password: str) -> tuple[int, dict[str, str], dict[str, str]]:
    r = c.post("/api/token", data={"username": user, "password": password})
    return r.status_code, dict(r.headers), r.json()


def test_an_account_is_locked_after_its_failures_whatever_the_password(api: Api) -> None:
    limit = 10  # the default: 10 per 15 minutes
    for i in range(limit):
        status, _, _ = _token(api.client, "tebas", WRONG)
        assert status == 401, i
    status, headers, body = _token(api.client, "tebas", WRONG)
    assert status == 429
    assert body["type"] == "too_many_requests"
    assert "account" in body["detail"]
    assert 1 <= int(headers["retry-after"]) <= 15 * 60
    # locked: the right password is refused too, without a password check
    assert _token(api.client, "tebas", PASSWORD)[0] == 429
    # another account from the same address is not locked
    assert _token(api.client, "segarau", PASSWORD)[0] == 200
    with api.rt.sessions() as s:
        locks = s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.lockout")).all()
    assert [(e.entity_id, e.detail["scope"]) for e in locks] == [("tebas", "account")]
    assert all(WRONG not in str(e.detail) for e in locks)


def test_unknown_usernames_are_limited_like_known_ones(api: Api) -> None:
    for _ in range(10):
        assert _token(api.client, "tidak-ada-akun-ini", WRONG)[0] == 401
    assert _token(api.client, "tidak-ada-akun-ini", WRONG)[0] == 429


def test_a_right_password_forgets_the_accounts_failures(api: Api) -> None:
    for _ in range(9):
        assert _token(api.client, "planner", WRONG)[0] == 401
    assert _token(api.client, "planner", PASSWORD)[0] == 200
    for _ in range(9):
        assert _token(api.client, "planner", WRONG)[0] == 401
    assert _token(api.client, "planner", PASSWORD)[0] == 200


@contextlib.contextmanager
def _worker(root: Path, sambas: Dataset, address: str, **settings: str) -> Iterator[TestClient]:
    """One more worker of the same deployment (same database and Redis), seen from ``address``."""
    cfg = Settings(
        data_dir=root / "var",
        database_url=f"sqlite:///{root / 'rujuk.sqlite3'}",
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        escalation_interval_s=3600,
        **settings,  # type: ignore[arg-type]
    )
    with TestClient(create_app(cfg, dataset=sambas), client=(address, 50000)) as c:
        yield c


@pytest.fixture
def deployment(tmp_path: Path, sambas: Dataset, redis_url: str) -> Iterator[dict[str, str]]:
    """Settings of a deployment on the real Redis with small limits; its users seeded."""
    settings = {
        "redis_url": redis_url,
        "redis_prefix": f"rujuk:{{t{uuid.uuid4().hex[:8]}}}:",
        "signin_account_limit": "4 per minute",
        "signin_address_limit": "6 per minute",
    }
    with _worker(tmp_path, sambas, "10.0.0.1", **settings) as c:
        rt: Runtime = c.app.state.runtime  # type: ignore[attr-defined]
        _seed(rt)
    yield settings
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=settings["redis_prefix"] + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_workers_share_the_limits_through_redis(
    tmp_path: Path, sambas: Dataset, deployment: dict[str, str]
) -> None:
    with (
        _worker(tmp_path, sambas, "10.0.0.1", **deployment) as one,
        _worker(tmp_path, sambas, "10.0.0.2", **deployment) as two,
    ):
        # four failures for one account, split between two workers and two addresses
        for c in (one, two, one, two):
            assert _token(c, "pemangkat", WRONG)[0] == 401
        assert _token(one, "pemangkat", PASSWORD)[0] == 429
        status, headers, _ = _token(two, "pemangkat", PASSWORD)
        assert status == 429
        assert 1 <= int(headers["retry-after"]) <= 60


def test_an_address_is_limited_across_accounts(
    tmp_path: Path, sambas: Dataset, deployment: dict[str, str]
) -> None:
    users = ["segarau", "tebas", "sambas", "dispatch", "planner", "admin"]
    with (
        _worker(tmp_path, sambas, "10.0.0.3", **deployment) as flood,
        _worker(tmp_path, sambas, "10.0.0.4", **deployment) as other,
    ):
        for user in users:  # six failures from one address, one per account: no account is locked
            assert _token(flood, user, WRONG)[0] == 401
        status, headers, body = _token(flood, "pemangkat", PASSWORD)
        assert status == 429
        assert "address" in body["detail"]
        assert int(headers["retry-after"]) >= 1
        # the same accounts from another address are not locked
        assert _token(other, "segarau", PASSWORD)[0] == 200
        rt: Runtime = flood.app.state.runtime  # type: ignore[attr-defined]
        with rt.sessions() as s:
            scopes = s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.lockout")).all()
        assert [e.detail["scope"] for e in scopes] == ["address"]


def test_sign_in_still_works_when_redis_is_down(
    tmp_path: Path, sambas: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    down = {"redis_url": "redis://127.0.0.1:1/0", "signin_account_limit": "1 per minute"}
    with _worker(tmp_path, sambas, "10.0.0.5", **down) as c:
        rt: Runtime = c.app.state.runtime  # type: ignore[attr-defined]
        _seed(rt)
        with caplog.at_level(logging.WARNING, logger="service.accounts.throttle"):
            assert _token(c, "segarau", WRONG)[0] == 401
            assert _token(c, "segarau", PASSWORD)[0] == 200
        assert "sign-in limits skipped" in caplog.text


def test_a_limit_that_is_not_one_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="signin_account_limit"):
        Settings(signin_account_limit="banyak sekali")
