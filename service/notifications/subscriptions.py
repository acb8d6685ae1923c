"""Push subscriptions: a staff member's browser asks to be told, with the page closed.

A subscription belongs to its user and reaches their facility's notices. The endpoint is the push
service's URL for that browser: https on the default port of a host on the internet (no private
address, so a subscription cannot aim rujuk's requests into the operator's own network). It is a
capability: stored, answered to its owner, never logged nor audited (the push service's origin
is). The same endpoint subscribed again (a shared desk, another sign-in) is taken over by the new
user. A push service answering 404 or 410 means the browser dropped it: the row goes.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from service.audit import audit
from service.database import PushSubscription, User
from service.errors import ForbiddenError, InputError, NotFoundError
from service.referrals.views import iso

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from service.auth import Principal
    from service.notifications.schemas import PushSubscriptionIn

#: subscriptions one user keeps (a phone, a desk, a tablet...); past it, the oldest goes
MAX_PER_USER = 10
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
_FIELD = "body.endpoint"


def push_service(endpoint: str) -> str:
    """The push service of an endpoint (scheme, host, port): what may be logged and audited."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def check_endpoint(url: str, *, allow_insecure: bool = False) -> None:
    """InputError (naming ``body.endpoint``) unless ``url`` is a push service's https URL.

    ``allow_insecure`` (tests) admits http and https on the loopback, any port.
    """
    try:
        parts = urlsplit(url)
        port, host = parts.port, (parts.hostname or "").lower()
    except ValueError:  # a bracketed host that is no IPv6 address, a port out of range
        raise InputError(_FIELD, "is not a URL (its host or port cannot be read)") from None
    if _BAD_CHARS.search(url) or parts.username is not None or parts.password is not None or parts.fragment:
        raise InputError(_FIELD, "must be a plain URL (no spaces, credentials or fragment)")
    if allow_insecure and host in _LOOPBACK and parts.scheme in ("http", "https"):
        return
    if parts.scheme != "https" or not host:
        raise InputError(_FIELD, "must be an https URL of a push service")
    if port not in (None, 443):
        raise InputError(_FIELD, "must use the default https port")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        local = host == "localhost" or host.endswith((".localhost", ".local", ".internal")) or "." not in host
        # a name whose last label is a number is an address in disguise (127.1, 0x7f.1)
        if local or host.rsplit(".", 1)[-1].isdigit() or host.startswith("0x"):
            raise InputError(_FIELD, "must be a push service on the internet, not a local name") from None
        return
    if not address.is_global:
        raise InputError(_FIELD, "must be a push service on the internet, not a private address")


def subscription_json(row: PushSubscription) -> dict[str, Any]:
    """A subscription as its owner sees it (never its keys)."""
    return {
        "id": row.id,
        "facility_id": row.facility_id,
        "endpoint": row.endpoint,
        "created_at": iso(row.created_at),
        "last_ok_at": iso(row.last_ok_at),
        "failures": row.failures,
    }


def _by_endpoint(s: Session, endpoint: str) -> PushSubscription | None:
    return s.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))


def subscribe(
    s: Session, p: Principal, body: PushSubscriptionIn, *, now: dt.datetime, allow_insecure: bool = False
) -> PushSubscription:
    """Keep the browser's subscription for the user's facility (the caller commits)."""
    if p.facility_id is None:
        raise ForbiddenError("notifications reach a facility's staff: this account has no facility")
    check_endpoint(body.endpoint, allow_insecure=allow_insecure)
    row = _by_endpoint(s, body.endpoint)
    taken_over = row is not None and row.user_id != p.user_id
    if row is None:
        row = PushSubscription(
            user_id=p.user_id,
            facility_id=p.facility_id,
            endpoint=body.endpoint,
            p256dh=body.keys.p256dh,
            auth=body.keys.auth,
            created_at=now,
            failures=0,
        )
        try:
            with s.begin_nested():
                s.add(row)
                s.flush()
        except IntegrityError:  # the same browser, subscribed by a request running alongside
            row = _by_endpoint(s, body.endpoint)
            if row is None:
                raise
    if taken_over:
        row.created_at = now
    row.user_id, row.facility_id = p.user_id, p.facility_id
    row.p256dh, row.auth, row.failures = body.keys.p256dh, body.keys.auth, 0
    s.flush()
    audit(
        s,
        actor=p.user_id,
        action="push.subscribe",
        entity="push",
        entity_id=str(row.id),
        now=now,
        facility=row.facility_id,
        push_service=push_service(row.endpoint),
        taken_over=taken_over,
    )
    _keep_the_newest(s, p, now=now)
    return row


def _keep_the_newest(s: Session, p: Principal, *, now: dt.datetime) -> None:
    ids = s.scalars(
        select(PushSubscription.id)
        .where(PushSubscription.user_id == p.user_id)
        .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
        .offset(MAX_PER_USER)
    ).all()
    for sid in ids:
        s.execute(delete(PushSubscription).where(PushSubscription.id == sid))
        audit(s, actor=p.user_id, action="push.unsubscribe", entity="push", entity_id=str(sid), now=now,
              reason="limit")  # fmt: skip


def own(s: Session, p: Principal) -> Sequence[PushSubscription]:
    """The user's subscriptions, newest first."""
    return s.scalars(
        select(PushSubscription)
        .where(PushSubscription.user_id == p.user_id)
        .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
    ).all()


def unsubscribe(s: Session, p: Principal, subscription_id: int, *, now: dt.datetime) -> PushSubscription:
    """Forget one of the user's subscriptions (an admin: anyone's); another's is a 404."""
    row = s.get(PushSubscription, subscription_id)
    if row is None or not (p.is_admin or row.user_id == p.user_id):
        raise NotFoundError(f"no push subscription {subscription_id}")
    s.delete(row)
    audit(
        s,
        actor=p.user_id,
        action="push.unsubscribe",
        entity="push",
        entity_id=str(row.id),
        now=now,
        facility=row.facility_id,
        push_service=push_service(row.endpoint),
    )
    return row


# ------------------------------------------------------------------------------- the sender's side


def recipients(s: Session, facility_id: str) -> Sequence[PushSubscription]:
    """The subscriptions of a facility's staff whose accounts are active."""
    return s.scalars(
        select(PushSubscription)
        .join(User, User.id == PushSubscription.user_id)
        .where(PushSubscription.facility_id == facility_id, User.active.is_(True))
        .order_by(PushSubscription.id)
    ).all()


def delivered(s: Session, subscription_id: int, *, now: dt.datetime) -> None:
    """The push service took a notice for this subscription."""
    s.execute(
        update(PushSubscription)
        .where(PushSubscription.id == subscription_id)
        .values(last_ok_at=now, failures=0)
    )


def failed(s: Session, subscription_id: int) -> None:
    """The push service did not take a notice (counted; the subscription stays)."""
    s.execute(
        update(PushSubscription)
        .where(PushSubscription.id == subscription_id)
        .values(failures=PushSubscription.failures + 1)
    )


def gone(s: Session, subscription_id: int, *, status: int, now: dt.datetime) -> bool:
    """The push service says the browser dropped it (404, 410): forgotten, audited (False: already)."""
    row = s.get(PushSubscription, subscription_id)
    if row is None:
        return False
    s.delete(row)
    audit(
        s,
        actor=None,
        action="push.unsubscribe",
        entity="push",
        entity_id=str(subscription_id),
        now=now,
        facility=row.facility_id,
        push_service=push_service(row.endpoint),
        reason=f"push service {status}",
    )
    return True
