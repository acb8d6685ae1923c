"""Web Push on SQLite and PostgreSQL, against a real push service on 127.0.0.1.

The subscriber is made as a browser makes it (its own P-256 key pair and auth secret); rujuk's
push is decrypted with them (aes128gcm) and its VAPID signature verified with the key rujuk
publishes. Subscriptions are kept per user and facility, validated naming the field, audited
without keys; a new referral reaches the destination once (even with two workers ticking at the
same moment), an answer reaches the sender, a 410 forgets the subscription; no notice names the
patient.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import wait
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from service.database import AuditEntry, PushSubscription, ReferralEvent
from service.errors import InputError
from service.notifications import notifier as notifier_module
from service.notifications.notifier import build_notifier
from service.notifications.subscriptions import MAX_PER_USER, check_endpoint
from service.notifications.vapid import KEY_FILE, VapidKey
from service.referrals.escalation import escalation_tick
from tests.service.conftest import Api, create, letter_body
from tests.service.notifications.conftest import drain, notifier
from tests.service.notifications.helpers import PATIENT_STRINGS, Browser, Recorder, b64url, b64url_decode

PEMANGKAT = "6101033"


@pytest.fixture
def subscribe(push_api: Api, push_service: Recorder) -> Iterator[Any]:
    """Subscribe a new browser of a user; every subscription made is deleted after the test."""
    made: list[tuple[str, int]] = []

    def sub(user: str) -> Browser:
        b = Browser.at(push_service)
        r = push_api.post("/api/push/subscriptions", user, json=b.subscription())
        assert r.status_code == 201, r.text
        made.append((user, r.json()["id"]))
        return b

    drain(push_api)  # what earlier tests left is claimed before this one's browsers exist
    yield sub
    for user, sid in made:
        push_api.client.delete(f"/api/push/subscriptions/{sid}", headers=push_api.h(user))


def _sent(api: Api, **over: Any) -> str:
    r = create(api, body=letter_body(now=api.clock.now, **over))
    assert r.status_code == 201, r.text
    rid = str(r.json()["id"])
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    return rid


def _audits(api: Api, action: str) -> list[AuditEntry]:
    with api.rt.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _row(api: Api, endpoint: str) -> PushSubscription | None:
    with api.rt.sessions() as s:
        return s.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))


# ------------------------------------------------------------------------------------- the key


def test_the_key_is_a_p256_point_made_once_and_kept_0600(push_api: Api) -> None:
    r = push_api.get("/api/push/key", "dispatch")  # any signed-in user
    assert r.status_code == 200, r.text
    key = r.json()["public_key"]
    raw = b64url_decode(key)
    assert len(raw) == 65 and raw[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # a point of the curve
    path = push_api.rt.settings.data_dir / KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert VapidKey.from_file(path).public_key == key  # kept: the next start signs with the same key
    assert push_api.client.get("/api/push/key").status_code == 401


def test_a_configured_key_is_used_and_a_bad_one_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    assert VapidKey.from_raw(raw).public_key == VapidKey(key).public_key
    for bad in ("", "abc", b64url(b"\0" * 32), b64url(b"x" * 31)):
        with pytest.raises(ValueError, match="RUJUK_VAPID_PRIVATE_KEY"):
            VapidKey.from_raw(bad)


# ------------------------------------------------------------------------------- subscriptions


def test_a_subscription_is_kept_listed_and_deleted_audited_without_keys(
    push_api: Api, push_service: Recorder
) -> None:
    b = Browser.at(push_service)
    body = b.subscription()
    r = push_api.post("/api/push/subscriptions", "pemangkat", json=body)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["endpoint"] == b.endpoint and sub["facility_id"] == PEMANGKAT and sub["failures"] == 0
    assert "keys" not in sub and "p256dh" not in sub and "auth" not in sub
    listed = push_api.get("/api/push/subscriptions", "pemangkat").json()
    assert [s["id"] for s in listed if s["endpoint"] == b.endpoint] == [sub["id"]]
    assert all(s["endpoint"] != b.endpoint for s in push_api.get("/api/push/subscriptions", "sambas").json())

    # the same browser again: the same subscription, its keys renewed
    again = push_api.post("/api/push/subscriptions", "pemangkat", json=b.subscription()).json()
    assert again["id"] == sub["id"]

    # another facility's staff cannot delete it (as if it did not exist); its owner can
    url = f"/api/push/subscriptions/{sub['id']}"
    assert push_api.client.delete(url, headers=push_api.h("sambas")).status_code == 404
    r = push_api.client.delete(url, headers=push_api.h("pemangkat"))
    assert r.status_code == 200, r.text
    assert push_api.client.delete(url, headers=push_api.h("pemangkat")).status_code == 404
    assert _row(push_api, b.endpoint) is None

    made = [a for a in _audits(push_api, "push.subscribe") if a.entity_id == str(sub["id"])]
    gone = [a for a in _audits(push_api, "push.unsubscribe") if a.entity_id == str(sub["id"])]
    assert len(made) == 2 and len(gone) == 1
    for a in [*made, *gone]:
        text = str(a.detail)
        assert a.detail["push_service"] == f"http://127.0.0.1:{push_service.port}"
        assert b.path not in text and body["keys"]["p256dh"] not in text and body["keys"]["auth"] not in text


def test_an_admin_deletes_anyones_subscription(push_api: Api, push_service: Recorder) -> None:
    sid = push_api.post(
        "/api/push/subscriptions", "sambas", json=Browser.at(push_service).subscription()
    ).json()["id"]
    r = push_api.client.delete(f"/api/push/subscriptions/{sid}", headers=push_api.h("admin"))
    assert r.status_code == 200, r.text


def test_a_browser_subscribed_by_another_user_becomes_theirs(push_api: Api, push_service: Recorder) -> None:
    b = Browser.at(push_service)  # a shared desk: one browser, two accounts in turn
    first = push_api.post("/api/push/subscriptions", "pemangkat", json=b.subscription()).json()
    second = push_api.post("/api/push/subscriptions", "telukkeramat", json=b.subscription()).json()
    assert second["id"] == first["id"] and second["facility_id"] == "6101137"
    assert all(s["id"] != first["id"] for s in push_api.get("/api/push/subscriptions", "pemangkat").json())
    push_api.client.delete(f"/api/push/subscriptions/{first['id']}", headers=push_api.h("telukkeramat"))


def test_a_user_keeps_the_newest_subscriptions(push_api: Api, push_service: Recorder) -> None:
    ids = []
    for _ in range(MAX_PER_USER + 2):
        push_api.clock.advance(seconds=1)
        r = push_api.post("/api/push/subscriptions", "tebas", json=Browser.at(push_service).subscription())
        ids.append(r.json()["id"])
    kept = [s["id"] for s in push_api.get("/api/push/subscriptions", "tebas").json()]
    assert kept == ids[::-1][:MAX_PER_USER]
    for sid in kept:
        push_api.client.delete(f"/api/push/subscriptions/{sid}", headers=push_api.h("tebas"))


@pytest.mark.parametrize("user", ["dispatch", "planner", "admin"])
def test_only_staff_of_a_facility_subscribe(push_api: Api, push_service: Recorder, user: str) -> None:
    r = push_api.post("/api/push/subscriptions", user, json=Browser.at(push_service).subscription())
    assert r.status_code == 403, r.text
    assert (
        push_api.client.post(
            "/api/push/subscriptions", json=Browser.at(push_service).subscription()
        ).status_code
        == 401
    )


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = {**body, "keys": dict(body["keys"])}
    *parents, leaf = path.split(".")
    target = out
    for p in parents:
        target = target[p]
    if value is ...:
        del target[leaf]
    else:
        target[leaf] = value
    return out


NOT_ON_CURVE = b64url(b"\x04" + b"\x01" * 64)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("endpoint", "http://push.example.com/x", "body.endpoint"),  # https only
        ("endpoint", "ftp://push.example.com/x", "body.endpoint"),
        ("endpoint", "https://10.1.2.3/x", "body.endpoint"),  # not into the operator's network
        ("endpoint", "https://169.254.169.254/latest", "body.endpoint"),
        ("endpoint", "https://[fd00::1]/x", "body.endpoint"),
        ("endpoint", "https://printer.local/x", "body.endpoint"),
        ("endpoint", "https://intranet/x", "body.endpoint"),
        ("endpoint", "https://127.1/x", "body.endpoint"),  # an address written as a name
        ("endpoint", "https://[oops/x", "body.endpoint"),
        ("endpoint", "https://push.example.com:8443/x", "body.endpoint"),
        ("endpoint", "https://push.example.com:99999/x", "body.endpoint"),
        ("endpoint", "https://user:pw@push.example.com/x", "body.endpoint"),
        ("endpoint", "https://push.example.com/a b", "body.endpoint"),
        ("endpoint", "https://push.example.com/" + "x" * 1100, "body.endpoint"),
        ("endpoint", "", "body.endpoint"),
        ("endpoint", 12, "body.endpoint"),
        ("keys.p256dh", b64url(b"\x04" + b"\x01" * 63), "body.keys.p256dh"),  # 64 bytes
        ("keys.p256dh", b64url(b"\x03" + b"\x01" * 64), "body.keys.p256dh"),  # not uncompressed
        ("keys.p256dh", NOT_ON_CURVE, "body.keys.p256dh"),
        ("keys.p256dh", "not base64!", "body.keys.p256dh"),
        ("keys.auth", b64url(b"\x01" * 15), "body.keys.auth"),
        ("keys.auth", "", "body.keys.auth"),
        ("keys.auth", ..., "body.keys.auth"),
        ("keys", ..., "body.keys"),
        ("extra", 1, "body.extra"),
    ],
)
def test_a_bad_subscription_is_refused_naming_the_field(
    push_api: Api, push_service: Recorder, path: str, value: Any, field: str
) -> None:
    body = _with(Browser.at(push_service).subscription(), path, value)
    r = push_api.post("/api/push/subscriptions", "pemangkat", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field, r.json()


def test_loopback_endpoints_are_for_tests_only() -> None:
    check_endpoint("http://127.0.0.1:9999/push/x", allow_insecure=True)
    for url in ("http://127.0.0.1:9999/push/x", "https://127.0.0.1/push/x", "https://localhost/x"):
        with pytest.raises(InputError) as exc:
            check_endpoint(url)
        assert exc.value.field == "body.endpoint"
    check_endpoint("https://fcm.googleapis.com/fcm/send/abc:APA91b")
    check_endpoint("https://updates.push.services.mozilla.com/wpush/v2/gAAAA")
    check_endpoint("https://web.push.apple.com/QGuQyavXutnMPQ:443")


# --------------------------------------------------------------------------- sending, for real


def _one(push_service: Recorder, b: Browser) -> tuple[dict[str, str], dict[str, Any], bytes]:
    got = push_service.at(b.path)
    assert len(got) == 1, got
    plain, payload = b.open(got[0].body)
    return got[0].headers, payload, plain


def test_a_sent_referral_reaches_the_destination_once_encrypted_and_signed(
    push_api: Api, push_service: Recorder, subscribe: Any, caplog: pytest.LogCaptureFixture
) -> None:
    er = subscribe("pemangkat")
    sender = subscribe("segarau")
    caplog.set_level(logging.INFO, logger="rujuk")
    rid = _sent(push_api)
    before = int(time.time())
    drain(push_api)
    drain(push_api)  # nothing twice
    headers, payload, plain = _one(push_service, er)
    assert push_service.at(sender.path) == []  # a send tells the destination only

    assert payload == {
        "kind": "send",
        "referral_id": rid,
        "title": "Rujukan baru dari Puskesmas Segarau",
        "body": "Gawat darurat · O72.1",
        "url": "/terima",
        "emergency": True,
    }
    for s in PATIENT_STRINGS:
        assert s.encode() not in plain
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["ttl"] == "3600"
    assert headers["urgency"] == "high"

    # VAPID (RFC 8292): signed with the key the browser subscribed with, for this push service
    scheme, _, params = headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(p.split("=", 1) for p in params.split(","))
    assert parts["k"] == push_api.get("/api/push/key", "pemangkat").json()["public_key"]
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(parts["k"]))
    claims = jwt.decode(
        parts["t"], public, algorithms=["ES256"], audience=f"http://127.0.0.1:{push_service.port}"
    )
    assert claims["sub"] == "mailto:rujuk@localhost"
    assert before < claims["exp"] <= int(time.time()) + 24 * 3600

    row = _row(push_api, er.endpoint)
    assert row is not None and row.last_ok_at is not None and row.failures == 0
    # the logs name the notice and the subscription's id, never its endpoint or keys
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"to subscription {row.id}: 201" in logged
    assert er.path not in logged and b64url(er.auth) not in logged


def test_an_outpatient_referral_sends_no_notice(
    push_api: Api, push_service: Recorder, subscribe: Any
) -> None:
    er = subscribe("pemangkat")
    _sent(push_api, service_type="rawat_jalan", emergency=False)  # accepted as it is sent
    drain(push_api)
    assert push_service.at(er.path) == []


def test_answers_reach_the_sender(push_api: Api, push_service: Recorder, subscribe: Any) -> None:
    sender = subscribe("segarau")
    rid = _sent(push_api)
    drain(push_api)
    r = push_api.post(
        f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "ICU penuh, hubungi dr. Budi"}
    )
    assert r.status_code == 200, r.text
    drain(push_api)
    _, payload, plain = _one(push_service, sender)
    assert payload["kind"] == "decline" and payload["referral_id"] == rid and payload["url"] == "/rujuk"
    assert payload["title"] == "Rujukan ditolak RSUD Pemangkat"
    assert payload["body"].startswith("Gawat darurat · O72.1 · ")
    assert b"Budi" not in plain and b"ICU penuh" not in plain  # the free-text reason stays in rujuk

    rid = _sent(push_api)
    assert push_api.post(f"/api/referrals/{rid}/accept", "pemangkat").status_code == 200
    drain(push_api)
    accepted = [sender.open(r.body)[1] for r in push_service.at(sender.path)][1:]
    assert [(p["kind"], p["title"]) for p in accepted] == [("accept", "Rujukan diterima RSUD Pemangkat")]


def test_an_escalation_tells_both_sides(push_api: Api, push_service: Recorder, subscribe: Any) -> None:
    er, sender = subscribe("pemangkat"), subscribe("segarau")
    rid = _sent(push_api)
    push_api.clock.advance(minutes=push_api.rt.answer_within_min + 1)
    assert rid in escalation_tick(push_api.rt)
    drain(push_api)
    to_er = [p for r in push_service.at(er.path) if (p := er.open(r.body)[1])["referral_id"] == rid]
    to_sender = [
        p for r in push_service.at(sender.path) if (p := sender.open(r.body)[1])["referral_id"] == rid
    ]
    assert [p["kind"] for p in to_er] == ["send", "escalated"]
    assert to_er[1]["title"] == "Rujukan dari Puskesmas Segarau belum dijawab"
    assert [(p["kind"], p["title"], p["url"]) for p in to_sender] == [
        ("escalated", "RSUD Pemangkat belum menjawab rujukan", "/rujuk")
    ]
    assert "usulan tujuan berikutnya: " in to_sender[0]["body"]


def test_a_subscription_the_push_service_calls_gone_is_deleted_and_failures_are_counted(
    push_api: Api, push_service: Recorder, subscribe: Any
) -> None:
    gone, failing = subscribe("pemangkat"), subscribe("pemangkat")
    push_service.answers[gone.path] = [410]
    push_service.answers[failing.path] = [500]
    _sent(push_api)
    drain(push_api)
    assert len(push_service.at(gone.path)) == 1
    assert _row(push_api, gone.endpoint) is None
    audits = [
        a for a in _audits(push_api, "push.unsubscribe") if a.detail.get("reason") == "push service 410"
    ]
    assert len(audits) == 1 and audits[0].actor_id is None
    row = _row(push_api, failing.endpoint)
    assert row is not None and row.failures == 1 and row.last_ok_at is None
    push_service.answers[failing.path] = [201]
    _sent(push_api)
    drain(push_api)
    row = _row(push_api, failing.endpoint)
    assert row is not None and row.failures == 0 and row.last_ok_at is not None


def test_an_unreachable_push_service_is_counted_not_fatal(push_api: Api, subscribe: Any) -> None:
    working = subscribe("pemangkat")  # (claims what earlier tests left first)
    sub = Browser("http://127.0.0.1:9/push/down").subscription()  # a push service that is down
    r = push_api.post("/api/push/subscriptions", "pemangkat", json=sub)
    assert r.status_code == 201
    try:
        _sent(push_api)
        drain(push_api)
        row = _row(push_api, sub["endpoint"])
        assert row is not None and row.failures == 1
        assert _row(push_api, working.endpoint).failures == 0  # type: ignore[union-attr]
    finally:
        push_api.client.delete(f"/api/push/subscriptions/{r.json()['id']}", headers=push_api.h("pemangkat"))


def _tick_together(workers: list[Any], ticks: int) -> list[Any]:
    """``ticks`` ticks at the same moment, spread over the workers' notifiers; their sends' futures."""
    start = threading.Barrier(ticks)
    futures: list[Any] = []
    lock = threading.Lock()

    def tick(n: Any) -> None:
        start.wait()
        got = n.tick()
        with lock:
            futures.extend(got)

    threads = [threading.Thread(target=tick, args=(workers[i % len(workers)],)) for i in range(ticks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return futures


def test_two_workers_ticking_at_once_send_each_notice_once(
    push_api: Api, push_service: Recorder, subscribe: Any
) -> None:
    er = subscribe("pemangkat")
    workers = [notifier(push_api), build_notifier(push_api.rt)]  # a second worker's notifier
    try:
        for _ in range(3):
            _sent(push_api)
            wait(_tick_together(workers, 4), timeout=60)
        kinds = [er.open(r.body)[1]["kind"] for r in push_service.at(er.path)]
        assert kinds == ["send"] * 3
    finally:
        workers[1].close()


def test_a_gap_in_the_event_ids_is_waited_for(
    push_api: Api, push_service: Recorder, subscribe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if push_api.backend != "postgresql":
        pytest.skip("only PostgreSQL makes ids visible out of order (SQLite writes one at a time)")
    er = subscribe("pemangkat")
    first, second = (
        create(push_api, body=letter_body(now=push_api.clock.now)).json()["id"] for _ in range(2)
    )
    drain(push_api)

    def sent(rid: str) -> ReferralEvent:
        return ReferralEvent(referral_id=rid, at=push_api.clock.now, actor_id=None, kind="send",
                             from_status="created", to_status="sent", origin_id="PKM-SEGARAU",
                             destination_id=PEMANGKAT, note="")  # fmt: skip

    # a transaction takes an id and is still committing when a later one is visible
    slow = push_api.rt.sessions()
    slow.add(sent(first))
    slow.flush()
    with push_api.rt.sessions() as s:
        s.add(sent(second))
        s.commit()
    drain(push_api)
    assert push_service.at(er.path) == []  # the later event waits for the earlier one
    slow.commit()
    slow.close()
    drain(push_api)
    assert [er.open(r.body)[1]["referral_id"] for r in push_service.at(er.path)] == [first, second]

    # a rolled-back insert leaves a gap for good: passed once it is old enough
    monkeypatch.setattr(notifier_module, "GAP_WAIT_S", 0.3)
    with push_api.rt.sessions() as lost:
        lost.add(sent(first))
        lost.flush()
        lost.rollback()
    with push_api.rt.sessions() as s:
        s.add(sent(second))
        s.commit()
    drain(push_api)
    assert len(push_service.at(er.path)) == 2
    time.sleep(0.4)
    drain(push_api)
    assert len(push_service.at(er.path)) == 3


def test_news_older_than_an_hour_is_not_pushed(push_api: Api, push_service: Recorder, subscribe: Any) -> None:
    er = subscribe("pemangkat")
    _sent(push_api)
    push_api.clock.advance(hours=2)  # the service was down meanwhile
    drain(push_api)
    assert push_service.at(er.path) == []
    _sent(push_api)
    drain(push_api)
    assert len(push_service.at(er.path)) == 1


def test_no_subscription_no_request(push_api: Api, push_service: Recorder) -> None:
    drain(push_api)
    n = len(push_service.received)
    _sent(push_api, destination_id="6101022")  # RSUD Sambas: nobody subscribed there
    drain(push_api)
    assert len(push_service.received) == n
