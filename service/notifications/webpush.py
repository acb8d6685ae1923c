"""Web Push (RFC 8030, 8291, 8292) with pywebpush: a notice to every browser subscribed for the facility.

Each push is encrypted to the browser's keys (aes128gcm), so the push service (Google's, Mozilla's,
Apple's) carries it without reading it, and signed with the server's VAPID key. It lives
``push_ttl_s`` at the push service for a device off the network; an emergency asks for high urgency
(a phone in power saving wakes for it). A 404 or 410 from the push service means the browser
dropped the subscription: it is deleted. Any other failure is counted on the subscription.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import orjson
from py_vapid import Vapid02

from service.notifications import subscriptions
from service.notifications.subscriptions import push_service

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

    import requests
    from sqlalchemy.orm import Session, sessionmaker

    from service.notifications.notices import Notice
    from service.notifications.vapid import VapidKey

log = logging.getLogger("rujuk")

#: seconds the VAPID signature stays valid (RFC 8292: at most 24 hours)
CLAIM_LIFETIME_S = 12 * 3600
#: seconds to wait for a push service (they answer in well under one)
TIMEOUT_S = 5.0
#: the push service's answers that mean the subscription is gone for good
GONE = frozenset({404, 410})


class WebPushChannel:
    """Notices to the browsers of a facility's staff."""

    name = "webpush"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        key: VapidKey,
        *,
        subject: str,
        ttl_s: int,
        clock: Callable[[], dt.datetime],
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.sessions = sessions
        self.vapid = Vapid02(private_key=key.private_key)
        self.subject = subject
        self.ttl_s = ttl_s
        self.clock = clock
        self.timeout_s = timeout_s
        self._local = threading.local()  # a requests.Session per sending thread (keep-alive)

    def _http(self) -> requests.Session:
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            import requests  # noqa: PLC0415  at the first push, not at start-up

            http = self._local.http = requests.Session()
        return http

    def send(self, notice: Notice) -> None:
        """Push the notice to every subscription of its facility, one after the other."""
        with self.sessions() as s:
            targets = [
                (r.id, r.endpoint, r.p256dh, r.auth) for r in subscriptions.recipients(s, notice.facility_id)
            ]
        data = orjson.dumps(notice.push_payload()).decode()
        for sid, endpoint, p256dh, auth in targets:
            status = self.push(endpoint, p256dh, auth, data, emergency=notice.emergency)
            with self.sessions() as s:
                if 200 <= status < 300:
                    subscriptions.delivered(s, sid, now=self.clock())
                elif status in GONE:
                    subscriptions.gone(s, sid, status=status, now=self.clock())
                else:
                    subscriptions.failed(s, sid)
                s.commit()
            log.info(
                "push %s (%s) to subscription %d: %s", notice.key, notice.kind, sid, status or "unreachable"
            )

    def close(self) -> None:
        """Nothing waits here beyond one request's timeout."""

    def push(self, endpoint: str, p256dh: str, auth: str, data: str, *, emergency: bool) -> int:
        """One push: the push service's status (0 when it could not be reached or signed for)."""
        claims: dict[str, Any] = {
            "sub": self.subject,
            "aud": push_service(endpoint),
            "exp": int(time.time()) + CLAIM_LIFETIME_S,  # the push service checks it on the real clock
        }
        from pywebpush import WebPushException, webpush  # noqa: PLC0415  with aiohttp: half a second to import

        try:
            response = webpush(
                subscription_info={"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
                data=data,
                vapid_private_key=self.vapid,
                vapid_claims=claims,
                ttl=self.ttl_s,
                timeout=self.timeout_s,
                headers={"Urgency": "high" if emergency else "normal"},
                requests_session=self._http(),
            )
        except WebPushException as exc:
            return int(exc.response.status_code) if exc.response is not None else 0
        except Exception as exc:  # noqa: BLE001  unreachable, or keys that do not encrypt: counted, not fatal
            log.warning("push to %s failed: %s", push_service(endpoint), type(exc).__name__)
            return 0
        return int(response.status_code)
