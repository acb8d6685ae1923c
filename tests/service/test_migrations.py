"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL,
and an upgrade keeps what was stored."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select, text

from service.database import Attachment, Base, Referral, make_engine, session_factory
from service.migrate import HEAD, alembic_config, current_revision, upgrade
from service.sealing import Keyring, KeyringError
from tests.servers import scratch_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    keys = Keyring.from_file(tmp_path_factory.mktemp("keys") / "patient.keys")
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path_factory.mktemp('mig') / 'm.sqlite3'}", keyring=keys)
        yield e
        e.dispose()
        return
    with scratch_database(request.getfixturevalue("postgres_url"), "rujuk_mig") as url:
        e = make_engine(url, keyring=keys)
        try:
            yield e
        finally:
            e.dispose()


def test_the_head_known_without_alembic_is_alembics_head() -> None:
    """``service.migrate.HEAD`` (start-up's check) is the newest revision, or a new one is skipped."""
    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() == HEAD


def test_an_old_database_is_upgraded_and_one_at_head_left_alone(engine: Engine) -> None:
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    upgrade(engine)
    assert current_revision(engine) == HEAD
    upgrade(engine)  # at head: nothing to do, nothing fails
    assert current_revision(engine) == HEAD


def test_head_matches_the_models(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_from_the_first_revision_keeps_stored_rows(engine: Engine) -> None:
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, roles, facility_id, active, created_at) "
                "VALUES ('kept', 'h', '[\"admin\"]', NULL, true, :t)"
            ),
            {"t": now},
        )
    upgrade(engine)
    assert current_revision(engine) == "0015"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username FROM users")).scalars().all() == ["kept"]
        # an account made before names were recorded has none (its letters say so), not NULL
        assert conn.execute(text("SELECT full_name, profession FROM users")).one() == ("", "")
        assert conn.execute(text("SELECT count(*) FROM letter_counters")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM ambulances")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM stations")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM push_subscriptions")).scalar_one() == 0
        assert conn.execute(text("SELECT last_event_id FROM notifier_cursor")).scalars().all() == [0]
        assert conn.execute(text("SELECT count(*) FROM trips")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM road_conditions")).scalar_one() == 0


PATIENT = {
    "name": "Siti Contoh",
    "nik": "6101014107980001",
    "phone": "081234567890",
    "date_of_birth": "1998-07-01",
}
LAB = b"Hb 6,1 g/dL; NIK 6101014107980001"


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _referral_at_0003(engine: Engine) -> None:
    """A referral and its attachment as revision 0003 stored them: in clear."""
    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, password_hash, roles, facility_id, active, created_at) "
                "VALUES (1, 'bidan', 'h', '[\"referrer\"]', 'PKM-SEGARAU', true, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO referrals (id, request_hash, origin_id, destination_id, receiving_unit, status, "
                "service_type, emergency, payer, icd10, non_specialist, tacc, patient, medical, reason, consent, "
                "offline, offline_note, suggestion, tried, created_by, created_at, decline_count, "
                "escalation_count, updated_at, version) VALUES ('r1', 'x', 'PKM-SEGARAU', '6101033', 'IGD', "
                "'sent', 'gawat_darurat', true, 'jkn_pbi', '[\"O72.1\"]', false, '', :patient, '{}', 'r', '{}', "
                "false, '', '{}', '[]', 1, :t, 0, 0, :t, 1)"
            ),
            {"t": now, "patient": json.dumps(PATIENT)},
        )
        conn.execute(
            text(
                "INSERT INTO attachments (referral_id, kind, filename, content_type, size, data, uploaded_by, "
                "uploaded_at) VALUES ('r1', 'lab', 'lab.txt', 'text/plain', :n, :d, 1, :t)"
            ),
            {"t": now, "n": len(LAB), "d": LAB},
        )


def test_the_upgrade_seals_stored_patient_data_and_the_downgrade_opens_it(engine: Engine) -> None:
    upgrade(engine, "0003")
    _referral_at_0003(engine)
    upgrade(engine)
    with engine.connect() as conn:
        raw_patient, nik_hash = conn.execute(text("SELECT patient, nik_hash FROM referrals")).one()
        raw_lab = bytes(conn.execute(text("SELECT data FROM attachments")).scalar_one())
    if raw_patient.startswith('"'):  # SQLite gives the JSON text, psycopg the JSON string it holds
        raw_patient = json.loads(raw_patient)
    assert raw_patient.startswith("rujuk1.k1.")
    assert raw_lab.startswith(b"rujuk1.k1.")
    for secret in ("Siti", "6101014107980001", "081234567890"):
        assert secret not in raw_patient
        assert secret.encode() not in raw_lab
    keys = engine.dialect.rujuk_keyring  # type: ignore[attr-defined]
    assert nik_hash == keys.lookup_hash("6101014107980001")
    with session_factory(engine)() as s:
        r = s.get(Referral, "r1")
        assert r is not None
        assert r.patient == PATIENT
        assert s.scalars(select(Attachment.data)).one() == LAB
    upgrade_to_0003 = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        upgrade_to_0003.attributes["connection"] = conn
        command.downgrade(upgrade_to_0003, "0003")
    with engine.connect() as conn:
        assert _json(conn.execute(text("SELECT patient FROM referrals")).scalar_one()) == PATIENT
        assert bytes(conn.execute(text("SELECT data FROM attachments")).scalar_one()) == LAB


def test_an_engine_without_keys_cannot_seal_what_is_stored(tmp_path_factory: pytest.TempPathFactory) -> None:
    e = make_engine(f"sqlite:///{tmp_path_factory.mktemp('nokeys') / 'm.sqlite3'}")
    upgrade(e, "0003")
    _referral_at_0003(e)
    with pytest.raises(KeyringError, match="no patient keys"):
        upgrade(e)
    assert current_revision(e) == "0003"  # nothing half-done
    with e.connect() as conn:
        assert _json(conn.execute(text("SELECT patient FROM referrals")).scalar_one()) == PATIENT
    e.dispose()
