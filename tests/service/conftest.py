"""The API on real storage: SQLite in a temp dir and a real PostgreSQL, users per role, a clock to move."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geodata.dataset import Dataset
from service.accounts import store
from service.app import create_app
from service.runtime import Runtime
from service.settings import Settings
from tests.servers import scratch_database

T0 = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)
PASSWORD = "rahasia-yang-panjang"
USERS = {
    "admin": (["admin"], None),
    "segarau": (["referrer"], "PKM-SEGARAU"),
    "tebas": (["referrer"], "PKM-TEBAS"),
    "telukkeramat": (["receiver", "referrer"], "6101137"),
    "pemangkat": (["receiver", "referrer"], "6101033"),
    "sambas": (["receiver", "referrer"], "6101022"),
    "dispatch": (["dispatcher"], None),
    "planner": (["planner"], None),
}


@dataclass
class Clock:
    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


@dataclass
class Api:
    client: TestClient
    clock: Clock
    backend: str
    tokens: dict[str, tuple[str, dt.datetime]] = field(default_factory=dict)

    @property
    def rt(self) -> Runtime:
        rt: Runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        return rt

    def h(self, user: str) -> dict[str, str]:
        cached = self.tokens.get(user)
        if cached is None or abs((self.clock.now - cached[1]).total_seconds()) > 600:
            r = self.client.post("/api/token", data={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            cached = self.tokens[user] = (r.json()["access_token"], self.clock.now)
        return {"Authorization": f"Bearer {cached[0]}"}

    def get(self, url: str, user: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.h(user), **kw)

    def post(self, url: str, user: str, **kw: Any) -> Any:
        headers = {**self.h(user), **kw.pop("headers", {})}
        return self.client.post(url, headers=headers, **kw)

    def patch(self, url: str, user: str, **kw: Any) -> Any:
        return self.client.patch(url, headers=self.h(user), **kw)

    def delete(self, url: str, user: str, **kw: Any) -> Any:
        return self.client.delete(url, headers=self.h(user), **kw)

    def put(self, url: str, user: str, **kw: Any) -> Any:
        return self.client.put(url, headers=self.h(user), **kw)


def _seed(rt: Runtime) -> None:
    with rt.sessions() as s:
        for name, (roles, fac) in USERS.items():
            store.create_user(
                s, username=name, password=PASSWORD, roles=roles, facility_id=fac,
                known_facilities=rt.facility_ids, actor=None, now=T0,
            )  # fmt: skip
        s.commit()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database per test module, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'rujuk.sqlite3'}"
        return
    with scratch_database(request.getfixturevalue("postgres_url"), "rujuk_api") as url:
        yield url


@contextmanager
def serving(database_url: str, sambas: Dataset, data_dir: Path, **settings: Any) -> Iterator[Api]:
    """The app on ``database_url`` with its users, the clock at T0; ``settings`` over the tests' own."""
    clock = Clock()
    cfg = Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        escalation_interval_s=3600,
        **settings,
    )
    with TestClient(create_app(cfg, dataset=sambas, clock=clock)) as c:
        a = Api(c, clock, "sqlite" if database_url.startswith("sqlite") else "postgresql")
        _seed(a.rt)
        yield a


@pytest.fixture(scope="module")
def api(database_url: str, sambas: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serving(database_url, sambas, tmp_path_factory.mktemp("var")) as a:
        yield a


#: a suggestion request: postpartum haemorrhage at Puskesmas Segarau, an emergency
PPH_REQUEST: dict[str, Any] = {
    "origin_id": "PKM-SEGARAU",
    "age_years": 28,
    "sex": "female",
    "icd10": ["O72.1"],
    "emergency": True,
}


def letter_body(*, now: dt.datetime | None = None, **over: Any) -> dict[str, Any]:
    """A complete referral letter: postpartum haemorrhage from Puskesmas Segarau.

    Consent was given five minutes before ``now`` (the tests' clock T0 unless given: a server on
    the real clock needs ``now=`` the real time).
    """
    body: dict[str, Any] = {
        "destination_id": "6101033",
        "receiving_unit": "IGD Kebidanan",
        "patient": {
            "name": "Siti Contoh",
            "nik": "6101014107980001",
            "medical_record_number": "RM-000123",
            "date_of_birth": "1998-07-01",
            "sex": "female",
            "address": "Dusun Segarau Parit, Tebas",
            "phone": "081234567890",
            "jkn_number": "0001234567890",
        },
        "medical": {
            "history": "P1A0, partus spontan 2 jam lalu, perdarahan terus",
            "vital_signs": {"bp_systolic": 85, "bp_diastolic": 50, "pulse": 124, "spo2": 95, "gcs": 14},
            "diagnosis_text": "Perdarahan postpartum",
            "icd10": ["O72.1"],
            "therapy": "Oksitosin 10 IU IM, infus RL 2 jalur",
            "stabilisation": "Kompresi bimanual, 2 jalur infus, kateter",
        },
        "reason": "Perlu transfusi dan penanganan spesialis Obgyn",
        "consent": {
            "given": True,
            "given_by": "representative",
            "representative_relation": "suami",
            "explained_by": "Bidan Ani",
            "explained_items": dict.fromkeys("abcdefgh", True),
            "form": "written",
            "at": ((now or T0) - dt.timedelta(minutes=5)).isoformat(),
        },
        "service_type": "gawat_darurat",
        "emergency": True,
        "payer": "jkn_pbi",
    }
    body.update(over)
    return body


@pytest.fixture
def letter() -> dict[str, Any]:
    return letter_body()


def nik_for(born: dt.date, *, female: bool = True, serial: int = 1) -> str:
    """A NIK of kecamatan Sambas (61 01 01) whose birth digits say ``born`` (a woman's day + 40)."""
    return f"610101{born.day + (40 if female else 0):02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


def new_key() -> str:
    return uuid.uuid4().hex


def create(
    api: Api, user: str = "segarau", body: dict[str, Any] | None = None, key: str | None = None
) -> Any:
    return api.post(
        "/api/referrals", user, json=body or letter_body(), headers={"Idempotency-Key": key or new_key()}
    )


__all__ = [
    "PASSWORD",
    "PPH_REQUEST",
    "T0",
    "Api",
    "Clock",
    "create",
    "letter_body",
    "new_key",
    "nik_for",
    "serving",
]
_ = Path
