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
