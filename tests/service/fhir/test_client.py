"""A real FHIR client (fhirpy, from PyPI) reads facilities and creates a referral on a real ``rujuk serve``.

The server is the command an operator runs (one worker, SQLite, its private Redis); the client
follows the Bundles' next links itself; every resource it reads validates with fhir.resources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from geodata.dataset import Dataset
from geodata.models import Service
from service.fhir.transaction import letter_bundle
from service.referrals.schemas import ReferralIn
from tests.service.conftest import letter_body
from tests.service.test_deploy import Server, make_env

LIVE = "https://rujuk.invalid/fhir/StructureDefinition/live-status"
PEMANGKAT = "6101033"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(make_env(tmp_path_factory.mktemp("fhir")), workers=1)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> SyncFHIRClient:
    return SyncFHIRClient(f"{server.url}/fhir/R4")


def valid(resource: Any) -> Any:
    body = resource.serialize()
    return get_fhir_model_class(body["resourceType"]).model_validate(body)


def test_reads_a_hospital(client: SyncFHIRClient, sambas: Dataset) -> None:
    f = sambas.facility(PEMANGKAT)
    org = client.reference("Organization", PEMANGKAT).to_resource()
    assert valid(org).name == f.name
    loc = client.reference("Location", PEMANGKAT).to_resource()
    assert float(valid(loc).position.latitude) == f.location.lat
    assert loc["managingOrganization"]["reference"] == f"Organization/{PEMANGKAT}"


def test_searches_every_page(client: SyncFHIRClient, sambas: Dataset) -> None:
    orgs = client.resources("Organization").limit(7).fetch_all()
    assert [o["id"] for o in orgs] == [f.id for f in sambas.facilities]
    for o in orgs:
        valid(o)
    obgyn = client.resources("HealthcareService").search(**{"service-type": "obgyn"}).limit(3).fetch_all()
    assert [s["providedBy"]["reference"] for s in obgyn] == [
        f"Organization/{f.id}" for f in sambas.facilities if Service.OBGYN in f.services
    ]
    for s in obgyn:
        valid(s)
    (loc,) = client.resources("Location").search(organization=PEMANGKAT).fetch()
    assert loc["id"] == PEMANGKAT


def test_refusals_reach_the_client_as_outcomes(client: SyncFHIRClient) -> None:
    with pytest.raises(ResourceNotFound):
        client.reference("Organization", "PKM-NOWHERE").to_resource()
    with pytest.raises(OperationOutcome) as err:
        client.resources("Organization").search(colour="blue").fetch()
    assert err.value.resource["issue"][0]["expression"] == ["colour"]


def test_signed_in_client_sees_live_status(server: Server) -> None:
    authorization = server.token("pemangkat")["Authorization"]
    signed_in = SyncFHIRClient(f"{server.url}/fhir/R4", authorization=authorization)
    loc = signed_in.reference("Location", PEMANGKAT).to_resource()
    valid(loc)
    (live,) = [e for e in loc["extension"] if e["url"] == LIVE]
    assert {"url": "accepting", "valueBoolean": True} in live["extension"]
    anonymous = SyncFHIRClient(f"{server.url}/fhir/R4").reference("Location", PEMANGKAT).to_resource()
    assert all(e["url"] != LIVE for e in anonymous.get("extension", []))


def test_client_creates_a_referral_by_transaction_and_follows_its_task(server: Server) -> None:
    """fhirpy POSTs the transaction Bundle, searches for the referral, and follows its Task to accepted."""
    sender = SyncFHIRClient(f"{server.url}/fhir/R4", authorization=server.token("segarau")["Authorization"])
    receiver = SyncFHIRClient(
        f"{server.url}/fhir/R4", authorization=server.token("pemangkat")["Authorization"]
    )
    letter = ReferralIn.model_validate(letter_body(now=dt.datetime.now(dt.UTC))).model_dump(mode="json")
    bundle = letter_bundle(
        letter, origin_id="PKM-SEGARAU", identifier=("https://pkm.example/sid/rujukan", "R-7")
    )
    answer = sender.execute("", method="post", data=bundle)
    assert answer["type"] == "transaction-response"
    rid = next(
        e["response"]["location"]
        for e in answer["entry"]
        if e["response"].get("location", "").startswith("ServiceRequest/")
    ).split("/")[1]
    again = sender.execute("", method="post", data=bundle)  # ifNoneExist: the same referral
    assert [e["response"].get("location") for e in again["entry"]] == [
        e["response"].get("location") for e in answer["entry"]
    ]
    found = (
        sender.resources("ServiceRequest")
        .search(**{"patient.identifier": "https://fhir.kemkes.go.id/id/nik|6101014107980001"})
        .fetch_all()
    )
    assert rid in [valid(sr).id for sr in found]
    task = sender.reference("Task", rid).to_resource()
    assert valid(task).status == "requested"
    patient = valid(sender.reference("Patient", rid).to_resource())
    assert patient.identifier[0].value == "6101014107980001"
    inbox = receiver.resources("Task").search(owner=PEMANGKAT, status="requested").fetch_all()
    assert rid in [t["id"] for t in inbox]
    r = httpx.post(f"{server.url}/api/referrals/{rid}/accept", headers=server.token("pemangkat"), timeout=10)
    assert r.status_code == 200, r.text
    task = sender.reference("Task", rid).to_resource()
    assert valid(task).status == "accepted"
    assert task["businessStatus"]["coding"][0]["code"] == "accepted"
