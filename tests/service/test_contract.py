"""The API's contract on SQLite and PostgreSQL: documented operations, no 500 on bad input."""

from __future__ import annotations

import json

import pytest

from tests.service.conftest import Api, letter_body, new_key

PEMANGKAT, SAMBAS, TELUK_KERAMAT = "6101033", "6101022", "6101137"


def test_openapi_is_complete(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("description"), f"{method} {path} undocumented"
    schemas = spec["components"]["schemas"]
    for name in ("ReferralIn", "ReferralRequestIn", "StatusUpdateIn"):
        assert schemas[name].get("examples"), name
    # the sign-in scheme is named on exactly the operations that need a token
    assert spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"]
    signed = {(m, p) for p, ops in spec["paths"].items() for m, op in ops.items() if op.get("security")}
    assert ("post", "/api/suggestions") in signed
    assert ("post", "/api/referrals") in signed
    assert ("patch", "/api/facilities/{facility_id}/status") in signed
    assert ("post", "/api/token") not in signed
    assert ("get", "/api/facilities") not in signed
    assert ("get", "/health") not in signed


@pytest.mark.parametrize(
    ("method", "url", "payload"),
    [
        ("post", "/api/suggestions", b"{not json"),
        ("post", "/api/suggestions", b"[1, 2, 3]"),
        ("post", "/api/suggestions", b'{"origin_id": null}'),
        ("post", "/api/suggestions", b'{"origin_id": "PKM-SEGARAU", "age_years": 1e400, "sex": "female"}'),
        ("post", "/api/referrals", b'{"destination_id": "6101033\\u0000"}'),
        ("post", "/api/referrals", json.dumps(letter_body(reason="a\u0000b")).encode()),
        ("post", "/api/referrals", json.dumps({**letter_body(), "patient": "x" * 100_000}).encode()),
        ("patch", f"/api/facilities/{PEMANGKAT}/status", b'{"beds_available": {"icu": "many"}}'),
        ("patch", f"/api/facilities/{PEMANGKAT}/status", b"{}"),
        ("post", "/api/referrals/not-a-referral/accept", b"{}"),
    ],
)
def test_bad_input_is_never_a_500(api: Api, method: str, url: str, payload: bytes) -> None:
    user = "pemangkat" if "facilities" in url or "accept" in url else "segarau"
    headers = {**api.h(user), "Content-Type": "application/json", "Idempotency-Key": new_key()}
    r = api.client.request(method.upper(), url, content=payload, headers=headers)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    assert body["type"] and body["detail"]


@pytest.mark.parametrize(
    ("url", "size"),
    [
        ("/api/suggestions", 64 * 1024 + 1),
        ("/api/referrals", 256 * 1024 + 1),
        ("/api/users", 10 * 1024 * 1024),
    ],
)
def test_bodies_over_their_route_limit_are_refused_unread(api: Api, url: str, size: int) -> None:
    before = len(api.get("/api/referrals?box=outbox&limit=200", "segarau").json())
    headers = {**api.h("segarau"), "Content-Type": "application/json", "Idempotency-Key": new_key()}
    r = api.client.post(url, content=b"{" + b" " * (size - 2) + b"}", headers=headers)
    assert r.status_code == 413, r.text
    assert r.json()["type"] == "too_large"
    # sent in chunks, with no declared length: counted and cut off all the same
    chunks = (b" " * 65536 for _ in range(size // 65536 + 1))
    r = api.client.post(url, content=chunks, headers=headers)
    assert r.status_code == 413, r.text
    assert len(api.get("/api/referrals?box=outbox&limit=200", "segarau").json()) == before


def test_a_body_within_its_limit_is_read_as_before(api: Api) -> None:
    body = json.dumps({"origin_id": "PKM-SEGARAU", "age_years": 28, "sex": "female", "icd10": ["O72.1"]})
    chunks = (body[i : i + 10].encode() for i in range(0, len(body), 10))
    r = api.client.post(
        "/api/suggestions", content=chunks, headers={**api.h("segarau"), "Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
