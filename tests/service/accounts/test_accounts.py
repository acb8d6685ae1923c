"""Accounts on SQLite and PostgreSQL: sign-in, short-lived tokens, who creates users."""

from __future__ import annotations

from tests.service.conftest import Api

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
