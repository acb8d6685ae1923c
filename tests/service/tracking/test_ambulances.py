"""The ambulance registry and per-device tokens, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from service.database import Ambulance, AuditEntry
from tests.service.conftest import Api

SAMBAS, PEMANGKAT = "6101022", "6101033"


def register(api: Api, amb_id: str, home: str = SAMBAS, **over: object) -> dict:
    body = {
        "id": amb_id,
        "home_facility_id": home,
        "kind": "emergency",
        "plate": "KB 1 SA",
        "crew": ["perawat"],
    }
    r = api.post("/api/ambulances", "admin", json={**body, **over})
    assert r.status_code == 201, r.text
    return r.json()


def uid() -> str:
    return "AMB-" + uuid.uuid4().hex[:8]


def dev(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_each_device_has_its_own_token(api: Api) -> None:
    a, b = register(api, uid()), register(api, uid(), home=PEMANGKAT, kind="transport")
    assert a["device_token"] != b["device_token"]
    assert a["status"] == "available" and a["device_token_active"] is True
    me_a = api.client.get("/api/device/me", headers=dev(a["device_token"])).json()
    me_b = api.client.get("/api/device/me", headers=dev(b["device_token"])).json()
    assert (me_a["id"], me_b["id"]) == (a["id"], b["id"])
    assert me_b["kind"] == "transport" and me_b["home_facility_id"] == PEMANGKAT
    assert "device_token" not in me_a
    # only a hash is stored
    with api.rt.sessions() as s:
        row = s.get(Ambulance, a["id"])
        assert row is not None and row.token_hash is not None
        assert a["device_token"] not in row.token_hash


def test_staff_and_device_tokens_are_not_interchangeable(api: Api) -> None:
    a = register(api, uid())
    staff = api.h("dispatch")
    assert api.client.get("/api/device/me", headers=staff).status_code == 401
    assert api.client.get("/api/referrals", headers=dev(a["device_token"])).status_code == 401
    assert api.client.get("/api/ambulances", headers=dev(a["device_token"])).status_code == 401
    assert api.client.get("/api/device/me").status_code == 401
    r = api.client.get("/api/device/me", headers=dev("rjk_amb_" + "x" * 43))
    assert r.status_code == 401 and r.json()["type"] == "unauthorized"


def test_rotate_and_revoke(api: Api) -> None:
    a = register(api, uid())
    old = a["device_token"]
    r = api.post(f"/api/ambulances/{a['id']}/token", "admin")
    assert r.status_code == 200
    new = r.json()["device_token"]
    assert new != old
    assert api.client.get("/api/device/me", headers=dev(old)).status_code == 401
    assert api.client.get("/api/device/me", headers=dev(new)).status_code == 200
    r = api.client.delete(f"/api/ambulances/{a['id']}/token", headers=api.h("admin"))
    assert r.status_code == 200 and r.json()["device_token_active"] is False
    assert api.client.get("/api/device/me", headers=dev(new)).status_code == 401


def test_only_admins_manage_and_staff_see_their_own(api: Api) -> None:
    a = register(api, uid(), home=SAMBAS)
    b = register(api, uid(), home=PEMANGKAT)
    for user in ("dispatch", "sambas", "segarau", "planner"):
        r = api.post(
            "/api/ambulances", user, json={"id": uid(), "home_facility_id": SAMBAS, "kind": "emergency"}
        )
        assert r.status_code == 403, user
        assert api.post(f"/api/ambulances/{a['id']}/token", user).status_code == 403, user
    seen = {x["id"] for x in api.get("/api/ambulances", "dispatch").json()}
    assert {a["id"], b["id"]} <= seen
    own = {x["id"] for x in api.get("/api/ambulances", "sambas").json()}
    assert a["id"] in own and b["id"] not in own
    assert api.get(f"/api/ambulances/{b['id']}", "sambas").status_code == 404
    assert api.get(f"/api/ambulances/{b['id']}", "pemangkat").status_code == 200
    assert api.get("/api/ambulances/AMB-NOPE", "dispatch").status_code == 404
    assert all("device_token" not in x for x in api.get("/api/ambulances", "dispatch").json())


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"home_facility_id": "RS-NOWHERE"}, "home_facility_id"),
        ({"kind": "helicopter"}, "body.kind"),
        ({"id": "bad id with spaces"}, "body.id"),
        ({"id": ""}, "body.id"),
        ({"crew": ["x" * 101]}, "body.crew.0"),
        ({"crew": ["a"] * 11}, "body.crew"),
        ({"plate": "p" * 21}, "body.plate"),
        ({"colour": "white"}, "body.colour"),
    ],
)
def test_bad_registrations_name_the_field_and_store_nothing(api: Api, over: dict, field: str) -> None:
    amb_id = over.get("id", uid())
    body = {"id": amb_id, "home_facility_id": SAMBAS, "kind": "emergency", **over}
    r = api.post("/api/ambulances", "admin", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    with api.rt.sessions() as s:
        assert s.get(Ambulance, str(amb_id)) is None


def test_duplicate_id_is_a_conflict_and_keeps_the_first(api: Api) -> None:
    a = register(api, uid())
    r = api.post(
        "/api/ambulances", "admin", json={"id": a["id"], "home_facility_id": PEMANGKAT, "kind": "transport"}
    )
    assert r.status_code == 409 and r.json()["type"] == "conflict"
    assert api.get(f"/api/ambulances/{a['id']}", "dispatch").json()["home_facility_id"] == SAMBAS
    assert api.client.get("/api/device/me", headers=dev(a["device_token"])).status_code == 200


def test_changes_are_audited_without_tokens(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    a = register(api, uid())
    new = api.post(f"/api/ambulances/{a['id']}/token", "admin").json()["device_token"]
    api.client.delete(f"/api/ambulances/{a['id']}/token", headers=api.h("admin"))
    with api.rt.sessions() as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == a["id"]).order_by(AuditEntry.id)
        ).all()
        actions = [r.action for r in rows]
        blob = json.dumps([r.detail for r in rows])
    assert actions == ["ambulance.register", "ambulance.token_rotate", "ambulance.token_revoke"]
    assert all(r.actor_id is not None for r in rows)
    for token in (a["device_token"], new):
        assert token not in blob
        assert token not in caplog.text


def test_cli_registers_and_prints_the_token_once(tmp_path: Path) -> None:
    env = {**os.environ, "RUJUK_DATA_DIR": str(tmp_path)}
    rujuk = [str(Path(sys.executable).with_name("rujuk"))]
    ok = subprocess.run([*rujuk, "ambulances", "register", "AMB-CLI-1", "--home", SAMBAS, "--crew", "perawat"],
                        capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    token = ok.stdout.strip().rsplit(" ", 1)[-1]
    assert token.startswith("rjk_amb_")
    again = subprocess.run([*rujuk, "ambulances", "register", "AMB-CLI-1", "--home", SAMBAS],
                           capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert again.returncode == 2 and "already registered" in again.stderr
    bad = subprocess.run([*rujuk, "ambulances", "register", "AMB-CLI-2", "--home", "RS-NOWHERE"],
                         capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert bad.returncode == 2 and "home_facility_id" in bad.stderr
    bad_kind = subprocess.run([*rujuk, "ambulances", "register", "AMB-CLI-3", "--home", SAMBAS, "--kind", "boat"],
                              capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert bad_kind.returncode == 2 and "kind" in bad_kind.stderr
