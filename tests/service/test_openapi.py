"""The OpenAPI document is valid, and a live server answers as the document says.

* ``test_openapi_document_is_valid``: ``openapi-spec-validator`` on the ``/openapi.json`` a running
  server publishes.
* ``test_responses_conform``: ``schemathesis`` generates requests for every operation from the same
  document (valid ones, invalid ones, and valid ones aimed at objects that exist) and sends them to a
  real uvicorn server on 127.0.0.1 (SQLite in a temp dir, the test Redis), signed in as an admin and
  as a referrer of Puskesmas Segarau. Every answer's status code must be one the operation
  documents, its content type one documented for that status, and its body must match the
  documented schema. All mismatches are collected, then reported together, one line per kind.

No operation is left out. The /stream feeds get bounded query parameters (STREAM_QUERY) and the
planning bodies capped sizes (PLAN_CEILINGS), so that every request ends quickly.

Bounded: a few derandomized cases per operation and variant, no shrinking (about 25 s of CPU).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from service.settings import Settings
from tests.service.conftest import PASSWORD, letter_body

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]

EXAMPLES = 6  # generated cases per operation and variant (each is sent as every user)
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
FACILITY = "PKM-SEGARAU"
REFERRER = "segarau"
USERS = ("admin", REFERRER)  # every generated request is sent as each
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
    """A running server, tokens per user and ids of objects that exist."""

    base: str
    app: FastAPI
    http: requests.Session
    tokens: dict[str, str] = field(default_factory=dict)
    known: dict[str, str] = field(default_factory=dict)  # path parameter -> an existing id

    def token(self, user: str) -> str:
        if user not in self.tokens:
            r = self.http.post(
                f"{self.base}/api/token", data={"username": user, "password": PASSWORD}, timeout=30
            )
            assert r.status_code == 200, r.text
            self.tokens[user] = r.json()["access_token"]
        return self.tokens[user]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}


def _seed(live: Live) -> None:
    """An admin straight in the store (someone has to be first); the rest over HTTP as that admin."""
    rt = live.app.state.runtime
    with rt.sessions() as s:
        _store_create_user()(
            s, username="admin", password=PASSWORD, roles=["admin"], facility_id=None,
            known_facilities=rt.facility_ids, actor=None, now=rt.clock(),
        )  # fmt: skip
        s.commit()
    user = {"username": REFERRER, "password": PASSWORD, "roles": ["referrer"], "facility_id": FACILITY}
    r = live.http.post(f"{live.base}/api/users", json=user, headers=live.auth("admin"), timeout=30)
    assert r.status_code == 201, r.text
    amb = {"id": AMBULANCE, "home_facility_id": "6101022", "kind": "emergency"}
    r = live.http.post(f"{live.base}/api/ambulances", json=amb, headers=live.auth("admin"), timeout=30)
    assert r.status_code == 201, r.text
    headers = {**live.auth(REFERRER), "Idempotency-Key": uuid.uuid4().hex}
    r = live.http.post(
        f"{live.base}/api/referrals",
        json=letter_body(now=dt.datetime.now(dt.UTC)),
        headers=headers,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    live.known = {"facility_id": FACILITY, "referral_id": str(r.json()["id"]), "ambulance_id": AMBULANCE}


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
        thread.join(timeout=30)
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def test_openapi_document_is_valid(live: Live) -> None:
    r = live.http.get(f"{live.base}/openapi.json", timeout=30)
    assert r.status_code == 200
    validate_spec(r.json())


# --------------------------------------------------------------------------- response conformance


def _summary(response: schemathesis.Response, f: Failure) -> str:
    """One line per kind of mismatch (no generated values in it, so repeats collapse)."""
    status = str(response.status_code)
    try:  # the service's error bodies name their kind: worth seeing next to an undocumented status
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 and isinstance(body, dict):
        status += f" ({body['type']})" if isinstance(body.get("type"), str) else " (body without type)"
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


@dataclass
class Finding:
    """One kind of mismatch on one operation: who met it, and one request that showed it."""

    users: set[str]
    example: str


def _known(live: Live, operation: Operation) -> dict[str, str]:
    return {name: value for name, value in live.known.items() if name in operation.path_parameters}


def _exercise(live: Live, variant: str, operation: Operation, found: dict[str, Finding]) -> int:
    """Send each generated request as every user; add what does not conform to ``found``.

    Generating costs more than sending, so each case is generated once and sent once per user.
    """
    streams = operation.path.endswith("/stream")
    strategy = operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE if variant == "negative" else GenerationMode.POSITIVE,
        query={k: v for k, v in STREAM_QUERY.items() if k in operation.query} if streams else None,
        path_parameters=_known(live, operation) if variant == "existing ids" else None,
    )
    sent = 0

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
        nonlocal sent
        _bound(case)
        for user in USERS:
            headers = live.auth(user)
            response = case.call(session=live.http, headers=headers, timeout=30)
            sent += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as group:
                failures: list[Failure] = list(group.exceptions)
            except Failure as failure:
                failures = [failure]
            else:
                failures = []
            for f in failures:
                request = f"{variant}: {case.method} {response.request.url}"
                finding = found.setdefault(_summary(response, f), Finding(set(), request[:160]))
                finding.users.add(user)

    # SkipTest: nothing to make invalid (negative); Unsatisfiable: no request fits at all
    with contextlib.suppress(SkipTest, Unsatisfiable):
        run()
    return sent


def test_responses_conform(live: Live) -> None:
    positive, negative = _schema(live, GenerationMode.POSITIVE), _schema(live, GenerationMode.NEGATIVE)
    mismatches: dict[str, dict[str, Finding]] = {}
    sent = 0
    for result in positive.get_all_operations():
        if not isinstance(result, Ok):
            pytest.fail(f"an operation schemathesis cannot read: {result.err()}")
        op = result.ok()
        variants = [("positive", op), ("negative", negative[op.path][op.method.upper()])]
        if _known(live, op):
            variants.append(("existing ids", op))
        found: dict[str, Finding] = {}
        sent += sum(_exercise(live, variant, operation, found) for variant, operation in variants)
        if found:
            mismatches[op.label] = found
    assert sent > 0
    kinds = sum(map(len, mismatches.values()))
    lines = [f"{kinds} kinds of mismatch on {len(mismatches)} operations ({sent} requests):"]
    for label, found in mismatches.items():
        lines.append(label)
        lines.extend(
            f"    {kind}  [as {', '.join(sorted(f.users))}; e.g. {f.example}]"
            for kind, f in sorted(found.items())
        )
    assert not mismatches, "\n".join(lines)
