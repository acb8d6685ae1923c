"""Accounts on SQLite and PostgreSQL: sign-in, short-lived tokens, who creates users."""

from __future__ import annotations

import json
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from service.database import AuditEntry, User
from tests.service.conftest import PASSWORD, Api

PEMANGKAT, SAMBAS, TELUK_KERAMAT = "6101033", "6101022", "6101137"


# ------------------------------------------------------------------------------------------ auth


def test_sign_in_and_who_am_i(api: Api) -> None:
    me = api.get("/api/me", "segarau").json()
    assert me["roles"] == ["referrer"]
    assert me["facility"] == {"id": "PKM-SEGARAU", "name": "Puskesmas Segarau"}
    bad = api.client.post("/api/token", data={"username": "segarau", "password": "wrong-password!"})
    assert bad.status_code == 401
    assert bad.json()["type"] == "unauthorized"
    assert api.client.get("/api/me").status_code == 401
    assert api.client.get("/api/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def test_tokens_are_short_lived(api: Api) -> None:
    r = api.client.post("/api/token", data={"username": "planner", "password": "rahasia-yang-panjang"})
    token = r.json()["access_token"]
    assert r.json()["expires_in"] == 15 * 60
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/me", headers=headers).status_code == 200
    api.clock.advance(minutes=16)
    try:
        r = api.client.get("/api/me", headers=headers)
        assert r.status_code == 401
        assert "expired" in r.json()["detail"]
    finally:
        api.clock.advance(minutes=-16)


def test_only_admins_create_users(api: Api) -> None:
    body = {
        "username": "bidan.ani",
        "password": "kata-sandi-panjang",
        "roles": ["referrer"],
        "facility_id": "PKM-PALOH",
    }
    assert api.post("/api/users", "segarau", json=body).status_code == 403
    r = api.post("/api/users", "admin", json=body)
    assert r.status_code == 201
    assert api.post("/api/users", "admin", json=body).status_code == 409
    unbound = {**body, "username": "bidan.budi", "facility_id": None}
    r = api.post("/api/users", "admin", json=unbound)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "facility_id"


@pytest.mark.parametrize("password", ["1234567890", "password12", "sambas2025!", "lemah12345", "qwertyuiop"])
def test_guessable_passwords_are_refused(api: Api, password: str) -> None:
    body = {"username": "lemah", "password": password, "roles": ["planner"]}
    r = api.post("/api/users", "admin", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "password"
    assert "guess" in r.json()["detail"]


def test_refused_sign_ins_are_audited_without_the_password(api: Api) -> None:
    secret = "tebakan-salah-sekali-7"
    for user in ("segarau", "no-such-user"):
        assert api.client.post("/api/token", data={"username": user, "password": secret}).status_code == 401
    with api.rt.sessions() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.fail")).all()
        logged = {r.entity_id for r in rows}
        assert {"segarau", "no-such-user"} <= logged
        assert all(secret not in json.dumps(r.detail) for r in rows)


def test_unknown_and_known_users_take_as_long_to_refuse(api: Api) -> None:
    def median_s(user: str) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            api.client.post("/api/token", data={"username": user, "password": "bukan-ini-sandinya"})
            times.append(time.perf_counter() - t0)
        return sorted(times)[2]

    known, unknown = median_s("segarau"), median_s("tidak-ada-orangnya")
    # both pay for an argon2 check (hundreds of ms); without it the unknown one took ~10 ms
    assert unknown > known / 3, (known, unknown)


def test_a_hash_with_older_parameters_is_redone_at_sign_in(api: Api) -> None:
    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)  # the first wave's hashes
    with api.rt.sessions() as s:
        u = s.scalar(select(User).where(User.username == "telukkeramat"))
        assert u is not None
        u.password_hash = old.hash(PASSWORD)
        s.commit()
    r = api.client.post("/api/token", data={"username": "telukkeramat", "password": PASSWORD})
    assert r.status_code == 200, r.text
    with api.rt.sessions() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "telukkeramat"))
    assert stored is not None
    assert "m=19456,t=2,p=1" in stored
    assert (
        api.client.post("/api/token", data={"username": "telukkeramat", "password": PASSWORD}).status_code
        == 200
    )
