"""The OpenAPI document is valid, and a live server answers as the document says, to every role.

* ``test_openapi_document_is_valid``: ``openapi-spec-validator`` on the ``/openapi.json`` a running
  server publishes.
* ``test_responses_conform[<role>]``: ``schemathesis`` generates requests for every operation from
  the same document (valid ones, invalid ones, and valid ones aimed at objects that exist) and sends
  them to a real uvicorn server on 127.0.0.1 (SQLite in a temp dir, the test Redis), once per role
  the service has (``service.auth.Role``: a user holding that role alone) and once with no token
  (``anonymous``). Every answer's status code must be one the operation documents, its content type
  one documented for that status, and its body must match the documented schema; a 5xx is never
  documented, so it fails too. All mismatches of one role are collected, then reported together,
  one line per kind.

No operation is left out. The /stream feeds get bounded query parameters (STREAM_QUERY) and the
planning bodies capped sizes (PLAN_CEILINGS), so that every request ends quickly.

Bounded: the requests are generated once (a few derandomized cases per operation and variant, no
shrinking) and the same ones are sent as each role, so a role costs only its requests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import redis
import requests
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate as validate_spec
from pydicom.data import get_testdata_file
from schemathesis import GenerationMode
from schemathesis.core.control import SkipTest
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.openapi.checks import JsonSchemaError, UndefinedContentType, UndefinedStatusCode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from geodata.dataset import Dataset
from service.app import create_app
from service.auth import Role
from service.settings import Settings
from tests.service.conftest import PASSWORD, letter_body

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]

EXAMPLES = 6  # generated cases per operation and variant (each is sent once per role)
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
REFERRER_FACILITY = "PKM-SEGARAU"  # a puskesmas: refers
RECEIVER_FACILITY = "6101033"  # a hospital: receives the seeded referral, homes the ambulance
# One account per role, holding that role alone: username and the facility it is bound to.
ACCOUNTS: dict[Role, tuple[str, str | None]] = {
    Role.ADMIN: ("admin", None),
    Role.REFERRER: ("segarau", REFERRER_FACILITY),
    Role.RECEIVER: ("pemangkat", RECEIVER_FACILITY),
    Role.DISPATCHER: ("dispatch", None),
    Role.PLANNER: ("planner", None),
    Role.PEER: ("peer-kab", None),
}
ANONYMOUS = "anonymous"  # no Authorization header at all
ROLES = [*(role.value for role in Role), ANONYMOUS]  # every generated request is sent as each
AMBULANCE = "AMB-FUZZ-1"
# Bounded query parameters for the server-sent-event feeds (paths ending in /stream), which stream
# until the client leaves unless told otherwise.
STREAM_QUERY = {"after": 0, "timeout_s": 0.05, "max_events": 1}
# The planning endpoints run synthetic demand and an optimiser sized by the request: the schema allows
# 200 000 referrals over ten years and a 120 s solver budget, and an absent field means 10 000 referrals
# over a year. These fields are set to at most these ceilings (where the operation has them) so a run
# stays bounded; everything else in those bodies is left as generated.
PLAN_CEILINGS: dict[str, dict[str, float]] = {
    "/api/plan/simulate": {"referrals": 50, "days": 3},
    "/api/plan/compare": {"referrals": 50, "days": 3},
    "/api/plan/optimise": {"referrals": 50, "time_limit_s": 0.5},
    "/api/plan/map": {"referrals": 50},
}
# Seconds the server may take to stop at the end.
STOP_WITHIN_S = 10
# Each feed costs up to half a second per request even when bounded: fewer examples there.
STREAM_EXAMPLES = 2


def _store_create_user() -> Callable[..., Any]:
    """``create_user`` from wherever the accounts store lives (it is moving to ``service.accounts``)."""
    for name in ("service.accounts.store", "service.store"):
        try:
            fn: Callable[..., Any] = importlib.import_module(name).create_user
        except (ImportError, AttributeError):
            continue
        return fn
    raise ImportError("no create_user in service.accounts.store or service.store")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    """A running server, a token per role and ids of objects that exist."""

    base: str
    app: FastAPI
    http: requests.Session
    tokens: dict[str, str] = field(default_factory=dict)  # role -> a token of its account
    known: dict[str, list[str]] = field(default_factory=dict)  # path parameter -> existing ids

    def sign_in(self, role: Role) -> None:
        username = ACCOUNTS[role][0]
        r = self.http.post(
            f"{self.base}/api/token", data={"username": username, "password": PASSWORD}, timeout=30
        )
        assert r.status_code == 200, r.text
        self.tokens[role.value] = r.json()["access_token"]

    def auth(self, role: str) -> dict[str, str]:
        """The headers that sign a request in as ``role`` (none for ANONYMOUS)."""
        return {} if role == ANONYMOUS else {"Authorization": f"Bearer {self.tokens[role]}"}


def _seed(live: Live) -> None:
    """An admin straight in the store (someone has to be first); the rest over HTTP as that admin.

    Every account signs in here, before any request is generated: the fuzzed sign-ins soon use up
    the refused sign-ins allowed from 127.0.0.1, after which no one could sign in.
    """
    assert set(ACCOUNTS) == set(Role), "every role needs an account here"
    rt = live.app.state.runtime
    with rt.sessions() as s:
        _store_create_user()(
            s, username=ACCOUNTS[Role.ADMIN][0], password=PASSWORD, roles=[Role.ADMIN.value],
            facility_id=None, known_facilities=rt.facility_ids, actor=None, now=rt.clock(),
        )  # fmt: skip
        s.commit()
    live.sign_in(Role.ADMIN)
    admin = live.auth(Role.ADMIN)
    for role, (username, facility) in ACCOUNTS.items():
        if role is Role.ADMIN:
            continue
        user = {"username": username, "password": PASSWORD, "roles": [role.value], "facility_id": facility}
        r = live.http.post(f"{live.base}/api/users", json=user, headers=admin, timeout=30)
        assert r.status_code == 201, r.text
        live.sign_in(role)
    amb = {"id": AMBULANCE, "home_facility_id": RECEIVER_FACILITY, "kind": "emergency"}
    r = live.http.post(f"{live.base}/api/ambulances", json=amb, headers=admin, timeout=30)
    assert r.status_code == 201, r.text
    # a referral from the referrer's puskesmas to the receiver's hospital, sent: both may see it
    headers = {**live.auth(Role.REFERRER), "Idempotency-Key": uuid.uuid4().hex}
    r = live.http.post(
        f"{live.base}/api/referrals",
        json=letter_body(now=dt.datetime.now(dt.UTC), destination_id=RECEIVER_FACILITY),
        headers=headers,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    referral = str(r.json()["id"])
    r = live.http.post(
        f"{live.base}/api/referrals/{referral}/send", headers=live.auth(Role.REFERRER), timeout=30
    )
    assert r.status_code == 200, r.text
    # a CT study attached to it: the viewer's routes decode a real file whatever they are asked
    study = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
    r = live.http.post(
        f"{live.base}/api/referrals/{referral}/attachments",
        files={"file": ("ct.dcm", study, "application/dicom")},
        headers=live.auth(Role.REFERRER),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    live.known = {
        "facility_id": [REFERRER_FACILITY, RECEIVER_FACILITY],
        "referral_id": [referral],
        "ambulance_id": [AMBULANCE],
        "attachment_id": [str(r.json()["id"])],
        "frame": ["1"],
    }


@pytest.fixture(scope="module")
def live(sambas: Dataset, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The app under uvicorn on a free local port, in a background thread, seeded."""
    prefix = f"rujuk:{{openapi-{uuid.uuid4().hex[:10]}}}:"
    cfg = Settings(
        data_dir=tmp_path_factory.mktemp("openapi"),
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        escalation_interval_s=3600,
        redis_url=redis_url,
        redis_prefix=prefix,
        threads=4,
    )
    app = create_app(cfg, dataset=sambas)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", access_log=False, ws="none")
    )
    thread = threading.Thread(target=server.run, name="openapi-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the server stopped during start-up"
        assert time.monotonic() < deadline, "the server did not start within 60 s"
        time.sleep(0.05)
    http = requests.Session()
    try:
        live = Live(base=f"http://127.0.0.1:{port}", app=app, http=http)
        _seed(live)
        yield live
    finally:
        http.close()
        server.should_exit = True
        thread.join(timeout=STOP_WITHIN_S)
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
    # a server stops in well under a second once its connections are closed; one that hangs in
    # shutdown leaves something open (a client the lifespan never closes, say)
    assert not thread.is_alive(), f"the server did not stop within {STOP_WITHIN_S} s"


def test_openapi_document_is_valid(live: Live) -> None:
    r = live.http.get(f"{live.base}/openapi.json", timeout=30)
    assert r.status_code == 200
    validate_spec(r.json())


# --------------------------------------------------------------------------- response conformance


def _summary_status(response: schemathesis.Response) -> str:
    """The status code, with the kind an error body names (worth seeing next to an undocumented status)."""
    status = str(response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 and isinstance(body, dict):
        status += f" ({body['type']})" if isinstance(body.get("type"), str) else " (body without type)"
    return status


def _summary(response: schemathesis.Response, f: Failure) -> str:
    """One line per kind of mismatch (no generated values in it, so repeats collapse)."""
    status = _summary_status(response)
    if isinstance(f, UndefinedStatusCode):
        return f"{status}: undocumented status (documented: {', '.join(f.defined_status_codes)})"
    if isinstance(f, UndefinedContentType):
        return f"{status}: undocumented content type {f.content_type} (documented: {', '.join(f.defined_content_types)})"
    if isinstance(f, JsonSchemaError):
        where = "/".join(map(str, f.instance_path)) or "<root>"
        keyword = str(f.schema_path[-1]) if f.schema_path else ""
        schema = f.schema if isinstance(f.schema, dict) else {}
        wanted = json.dumps(schema.get(keyword), default=str)[:80] if keyword in schema else ""
        return f"{status}: body at {where} fails {keyword} {wanted}".rstrip()
    return f"{status}: {f.title}"


def _bound(case: Case) -> None:
    """Keep the costly planning requests small (see PLAN_CEILINGS)."""
    ceilings = PLAN_CEILINGS.get(case.operation.path, {})
    if not ceilings or not isinstance(case.body, dict):
        return
    for name, ceiling in ceilings.items():
        value = case.body.get(name)
        if name not in case.body or (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value > ceiling
        ):
            case.body[name] = ceiling


def _schema(live: Live, mode: GenerationMode) -> schemathesis.BaseSchema:
    """The live document, generating in one mode only.

    With one mode configured, schemathesis skips at once an operation that has nothing to make
    invalid, instead of searching for an invalid request that cannot exist.
    """
    schema = schemathesis.openapi.from_url(f"{live.base}/openapi.json")
    schema.config.generation.update(modes=[mode])
    return schema


@dataclass(frozen=True)
class Sample:
    """A generated request: the operation it is for and how it was made (shown when it fails)."""

    label: str
    variant: str
    case: Case


def _known(live: Live, operation: Operation) -> list[dict[str, str]]:
    """Every combination of existing ids for the operation's path parameters (none: nothing known)."""
    names = [name for name in live.known if name in operation.path_parameters]
    if not names:
        return []
    return [dict(zip(names, ids, strict=True)) for ids in itertools.product(*(live.known[n] for n in names))]


def _generate(variant: str, operation: Operation, path_parameters: dict[str, str] | None) -> list[Case]:
    """A few derandomized requests for one operation in one variant, bounded (STREAM_QUERY, _bound)."""
    streams = operation.path.endswith("/stream")
    strategy = operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE if variant == "negative" else GenerationMode.POSITIVE,
        query={k: v for k, v in STREAM_QUERY.items() if k in operation.query} if streams else None,
        path_parameters=path_parameters,
    )
    cases: list[Case] = []

    @hypothesis.settings(
        max_examples=STREAM_EXAMPLES if streams else EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # nothing is raised, so nothing to shrink
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Case) -> None:
        _bound(case)
        cases.append(case)

    # SkipTest: nothing to make invalid (negative); Unsatisfiable: no request fits at all
    with contextlib.suppress(SkipTest, Unsatisfiable):
        run()
    return cases


@pytest.fixture(scope="module")
def samples(live: Live) -> list[Sample]:
    """The requests for every operation, generated once and then sent as each role.

    Generating costs more than sending, so the roles share one set of requests.
    """
    positive, negative = _schema(live, GenerationMode.POSITIVE), _schema(live, GenerationMode.NEGATIVE)
    out: list[Sample] = []
    for result in positive.get_all_operations():
        if not isinstance(result, Ok):
            pytest.fail(f"an operation schemathesis cannot read: {result.err()}")
        op = result.ok()
        variants: list[tuple[str, Operation, dict[str, str] | None]] = [
            ("positive", op, None),
            ("negative", negative[op.path][op.method.upper()], None),
        ]
        variants += [("existing ids", op, ids) for ids in _known(live, op)]
        for variant, operation, ids in variants:
            out.extend(Sample(op.label, variant, case) for case in _generate(variant, operation, ids))
    assert out, "schemathesis generated no request"
    return out


def _mismatches(case: Case, response: schemathesis.Response, headers: dict[str, str]) -> list[str]:
    """What is wrong with this answer, one summary line per kind (none: it is as documented)."""
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except FailureGroup as group:
        failures: list[Failure] = list(group.exceptions)
    except Failure as failure:
        failures = [failure]
    else:
        failures = []
    kinds = [_summary(response, f) for f in failures]
    if response.status_code >= 500:  # even where documented (503): the test Redis is up
        kinds.append(f"{_summary_status(response)}: a server error")
    return kinds


def _request(sample: Sample, response: schemathesis.Response) -> str:
    """The request that showed a mismatch, short: variant, method, URL and the start of its body."""
    sent = response.request
    body = sent.body.decode(errors="replace") if isinstance(sent.body, bytes) else sent.body
    shown = f"{sample.variant}: {sent.method} {sent.url}"[:200]
    return f"{shown} body={body[:200]!r}" if body else shown


@pytest.mark.parametrize("role", ROLES)
def test_responses_conform(live: Live, samples: list[Sample], role: str) -> None:
    """Every generated request, sent as ``role``, is answered as the document says, and never 5xx."""
    headers = live.auth(role)
    mismatches: dict[str, dict[str, str]] = {}  # operation -> kind of mismatch -> a request showing it
    for sample in samples:
        response = sample.case.call(session=live.http, headers=headers, timeout=30)
        for kind in _mismatches(sample.case, response, headers):
            mismatches.setdefault(sample.label, {}).setdefault(kind, _request(sample, response))
    kinds = sum(map(len, mismatches.values()))
    lines = [
        f"as {role}: {kinds} kinds of mismatch on {len(mismatches)} operations ({len(samples)} requests):"
    ]
    for label, found in mismatches.items():
        lines.append(label)
        lines.extend(f"    {kind}  [e.g. {example}]" for kind, example in sorted(found.items()))
    assert not mismatches, "\n".join(lines)
