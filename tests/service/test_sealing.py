"""Patient data sealed at rest: the keyring, what the database holds, NIK lookups, key rotation."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from service.sealing import Keyring, KeyringError, key_id_of, keyring_for, new_key
from tests.service.conftest import Api, create

SECRETS = (
    "Siti Contoh",
    "6101014107980001",
    "081234567890",
    "Dusun Segarau Parit",
    "0001234567890",
    "RM-000123",
)
NIK = "6101014107980001"


def test_a_sealed_value_opens_only_with_its_key_and_its_column(tmp_path: Path) -> None:
    ring = Keyring.from_file(tmp_path / "patient.keys")
    sealed = ring.seal_text('{"name": "Siti"}', aad=b"referrals.patient")
    assert sealed.startswith("rujuk1.k1.")
    assert "Siti" not in sealed
    assert ring.open_text(sealed, aad=b"referrals.patient") == '{"name": "Siti"}'
    with pytest.raises(KeyringError, match="does not open"):
        ring.open_text(sealed, aad=b"attachments.data")  # moved to another column
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(KeyringError, match="does not open"):
        ring.open_text(tampered, aad=b"referrals.patient")
    other = Keyring.from_file(tmp_path / "other.keys")  # another deployment, also "k1"
    with pytest.raises(KeyringError, match="does not open"):
        other.open_text(sealed, aad=b"referrals.patient")
    # two seals of one value differ (a fresh nonce each time)
    assert ring.seal(b"x", aad=b"a") != ring.seal(b"x", aad=b"a")


def test_the_key_file_is_private_and_made_once(tmp_path: Path) -> None:
    path = tmp_path / "patient.keys"
    first = Keyring.from_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Keyring.from_file(path)
    assert again.keys == first.keys
    assert again.lookup_hash(NIK) == first.lookup_hash(NIK) != NIK
    assert Keyring.from_file(tmp_path / "x.keys").lookup_hash(NIK) != first.lookup_hash(NIK)  # keyed


def test_keys_from_the_settings_are_checked(tmp_path: Path) -> None:
    good = new_key()
    ring = keyring_for(f"k7:{good},k6:{new_key()}", new_key(), tmp_path)
    assert ring.current == "k7"
    assert not (tmp_path / "patient.keys").exists()
    bad = [
        ("k1", "expected 'id:base64'"),
        (f"k1:{base64.b64encode(b'short').decode()}", "must be 32 bytes"),
        ("k1:not base64!", "not base64"),
        (f"bad.id:{good}", "key id"),
    ]
    for spec, problem in bad:
        with pytest.raises(KeyringError, match=problem):
            keyring_for(spec, good, tmp_path)
    with pytest.raises(KeyringError, match="RUJUK_LOOKUP_KEY"):
        keyring_for(f"k1:{good}", "", tmp_path)


def _raw(api: Api, sql: str, **params: Any) -> Any:
    with api.rt.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_the_database_holds_no_patient_identity_in_clear(api: Api) -> None:
    r = create(api)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    up = api.post(f"/api/referrals/{rid}/attachments", "segarau",
                  files={"file": ("lab.txt", b"Hb 6,1 NIK 6101014107980001", "text/plain")}, data={"kind": "lab"})  # fmt: skip
    assert up.status_code == 201, up.text
    patient = _raw(api, "SELECT patient FROM referrals WHERE id = :id", id=rid)
    stored = json.dumps(patient) if not isinstance(patient, str) else patient
    lab = bytes(_raw(api, "SELECT data FROM attachments WHERE id = :id", id=up.json()["id"]))
    for secret in SECRETS:
        assert secret not in stored, secret
    assert NIK.encode() not in lab
    assert key_id_of(stored.strip('"')) == "k1"
    assert _raw(api, "SELECT nik_hash FROM referrals WHERE id = :id", id=rid) != NIK
    # and the service reads them back
    got = api.get(f"/api/referrals/{rid}", "segarau").json()["patient"]
    assert got["nik"] == NIK
    assert got["name"] == "Siti Contoh"
    dl = api.get(f"/api/referrals/{rid}/attachments/{up.json()['id']}", "segarau")
    assert dl.content == b"Hb 6,1 NIK 6101014107980001"


def test_a_patients_referrals_are_found_by_nik(api: Api) -> None:
    rid = create(api).json()["id"]
    found = api.get(f"/api/referrals?nik={NIK}", "segarau").json()
    assert rid in [r["id"] for r in found]
    assert all(r["patient"]["nik"] == NIK for r in found)
    assert api.get("/api/referrals?nik=6101014107990009", "segarau").json() == []  # possible, nobody's
    # another facility's box does not show them
    assert rid not in [r["id"] for r in api.get(f"/api/referrals?nik={NIK}", "tebas").json()]
    for query, field in (("nik=12345", "query.nik"), (f"box=transport&nik={NIK}", "query.nik")):
        user = "dispatch" if "transport" in query else "segarau"
        bad = api.get(f"/api/referrals?{query}", user)
        assert bad.status_code == 422, bad.text
        assert bad.json()["errors"][0]["field"] == field


def _rujuk(api: Api, *args: str) -> str:
    cfg = api.rt.settings
    env = {**os.environ, "RUJUK_DATA_DIR": str(cfg.data_dir), "RUJUK_DATABASE_URL": cfg.database_url}
    out = subprocess.run(
        [sys.executable, "-c", "from service.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout


def test_keys_rotate_reseals_everything_and_the_running_service_follows(api: Api) -> None:
    before = create(api).json()["id"]
    status = _rujuk(api, "keys", "status")
    assert "current key: k1" in status
    assert "k2" not in status
    out = _rujuk(api, "keys", "rotate")
    assert "new key k2" in out
    status = _rujuk(api, "keys", "status")
    assert "current key: k2" in status
    assert "k1:" not in status  # nothing sealed with k1 any more
    # the running service opens what was re-sealed, and seals new values with k2
    assert api.get(f"/api/referrals/{before}", "segarau").json()["patient"]["nik"] == NIK
    after = create(api).json()["id"]
    stored = _raw(api, "SELECT patient FROM referrals WHERE id = :id", id=after)
    assert key_id_of((stored if isinstance(stored, str) else json.dumps(stored)).strip('"')) == "k2"
    # re-sealing again finds nothing to do
    assert "referrals.patient: 0 re-sealed" in _rujuk(api, "keys", "rotate", "--no-new")


def test_the_service_will_not_start_with_malformed_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUK_")}
    env.update(RUJUK_DATA_DIR=str(tmp_path), RUJUK_PATIENT_KEYS="k1:bukan-kunci", RUJUK_LOOKUP_KEY=new_key())
    out = subprocess.run(
        [sys.executable, "-c", "from service.cli import main; main()", "serve", "--port", "8879"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "RUJUK_PATIENT_KEYS" in out.stderr
    assert "not base64" in out.stderr
