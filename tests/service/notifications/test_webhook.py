"""The SMS / WhatsApp hook: every notice POSTed to the operator's gateway (a real HTTP server on
127.0.0.1), signed with HMAC-SHA256, named by an id that is the same on every retry, retried on a
5xx with a growing wait, never naming the patient; the contract's own verification example (from
docs/notifications.md) accepts what rujuk signs and refuses anything else."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from service.database import ReferralEvent
from service.notifications.notices import Notice, facility_names, notices_of
from service.notifications.notifier import build_notifier
from service.notifications.webhook import WebhookChannel
from service.settings import Settings
from tests.service.conftest import Api, create, letter_body
from tests.service.notifications.conftest import drain
from tests.service.notifications.helpers import PATIENT_STRINGS, recorder

SECRET = "rahasia-gateway-yang-cukup-panjang"
DOC = Path(__file__).parents[3] / "docs" / "notifications.md"
#: the payload's fields, as docs/notifications.md lists them
FIELDS = {"event_id", "kind", "referral_id", "facility_id", "to", "title", "body", "emergency", "at"}


def _notices(api: Api) -> list[Notice]:
    """The notices of a referral Segarau has just sent to RSUD Pemangkat."""
    r = create(api, body=letter_body(now=api.clock.now))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    with api.rt.sessions() as s:
        events = s.scalars(select(ReferralEvent).where(ReferralEvent.referral_id == rid)).all()
        return notices_of(s, events, facility_names(api.rt.dataset))


def _doc_verify() -> Any:
    """The signature check docs/notifications.md gives the gateway's authors, as written there."""
    blocks = re.findall(r"```python\n(.*?)\n *```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    code = textwrap.dedent(next(b for b in blocks if "def verify(" in b))
    scope: dict[str, Any] = {}
    exec(code, scope)
    return scope["verify"]


def test_a_notice_is_signed_named_and_retried_until_the_gateway_takes_it(push_api: Api) -> None:
    (notice,) = _notices(push_api)
    slept: list[float] = []
    with recorder() as gateway:
        gateway.answers["/hook"] = [500, 503, 200]
        channel = WebhookChannel(gateway.url("/hook"), SECRET, delays_s=(0.5, 2.0, 8.0), sleep=slept.append)
        assert channel.deliver(notice) is True
        got = gateway.at("/hook")
    assert len(got) == 3 and slept == [0.5, 2.0]  # two retries, each after a longer wait
    assert {r.headers["x-rujuk-event-id"] for r in got} == {f"{notice.event_id}:destination"}
    assert len({r.body for r in got}) == 1  # the same body each time: the gateway sends it once
    verify = _doc_verify()
    for r in got:
        expected = "sha256=" + hmac.new(SECRET.encode(), r.body, hashlib.sha256).hexdigest()
        assert r.headers["x-rujuk-signature"] == expected
        assert r.headers["content-type"] == "application/json"
        assert verify(SECRET, r.body, r.headers["x-rujuk-signature"]) is True
    assert verify("another-secret-entirely", got[0].body, got[0].headers["x-rujuk-signature"]) is False
    assert verify(SECRET, got[0].body + b" ", got[0].headers["x-rujuk-signature"]) is False
    payload = json.loads(got[0].body)
    assert set(payload) == FIELDS
    assert payload["event_id"] == notice.event_id and payload["referral_id"] == notice.referral_id
    assert payload["facility_id"] == "6101033" and payload["to"] == "destination"
    assert payload["kind"] == "send" and payload["emergency"] is True
    assert payload["title"] == "Rujukan baru dari Puskesmas Segarau"
    assert payload["body"] == "Gawat darurat · O72.1"
    for s in PATIENT_STRINGS:
        assert s.encode() not in got[0].body


@pytest.mark.parametrize("status", [400, 401, 404, 301])
def test_a_refusal_is_not_retried(push_api: Api, status: int) -> None:
    (notice,) = _notices(push_api)
    slept: list[float] = []
    with recorder() as gateway:
        gateway.answers["/hook"] = [status]
        assert WebhookChannel(gateway.url("/hook"), SECRET, sleep=slept.append).deliver(notice) is False
        assert len(gateway.at("/hook")) == 1
    assert slept == []


def test_an_unreachable_gateway_is_retried_then_given_up(push_api: Api) -> None:
    (notice,) = _notices(push_api)
    slept: list[float] = []
    channel = WebhookChannel("http://127.0.0.1:9/hook", SECRET, delays_s=(1.0, 3.0), sleep=slept.append)
    assert channel.deliver(notice) is False
    assert slept == [1.0, 3.0]


def test_a_stopping_service_does_not_wait_out_a_retry(push_api: Api) -> None:
    (notice,) = _notices(push_api)
    with recorder() as gateway:
        gateway.answers["/hook"] = [503]
        channel = WebhookChannel(gateway.url("/hook"), SECRET, delays_s=(30.0, 30.0))
        result: list[bool] = []
        worker = threading.Thread(target=lambda: result.append(channel.deliver(notice)))
        t0 = time.monotonic()
        worker.start()
        while not gateway.at("/hook"):
            time.sleep(0.01)
        channel.close()
        worker.join(timeout=10)
        assert result == [False] and time.monotonic() - t0 < 5
        assert len(gateway.at("/hook")) == 1


def test_the_settings_add_the_webhook_to_the_notifier(push_api: Api) -> None:
    drain(push_api)
    with recorder() as gateway:
        cfg = push_api.rt.settings.model_copy(
            update={"notify_webhook_url": gateway.url("/hook"), "notify_webhook_secret": SECRET}
        )
        n = build_notifier(dataclasses.replace(push_api.rt, settings=cfg))
        try:
            assert [c.name for c in n.channels] == ["webpush", "webhook"]
            (notice,) = _notices(push_api)
            drain(push_api, n)
        finally:
            n.close()
        (got,) = gateway.at("/hook")
    assert got.headers["x-rujuk-event-id"] == notice.key
    assert json.loads(got.body)["title"] == "Rujukan baru dari Puskesmas Segarau"


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"notify_webhook_url": "https://gateway.example/hook"}, "notify_webhook_secret"),
        ({"notify_webhook_url": "https://gateway.example/hook", "notify_webhook_secret": "short"}, "16"),
        ({"notify_webhook_url": "ftp://gateway.example/hook", "notify_webhook_secret": SECRET}, "http"),
        ({"vapid_subject": "admin@example.org"}, "mailto"),
    ],
)
def test_settings_refuse_an_unsigned_or_odd_hook(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(**env)  # type: ignore[arg-type]
