"""The operator's gateway: every notice POSTed as signed JSON, for it to send as SMS or WhatsApp.

rujuk does not speak to an SMS or WhatsApp provider itself: each has its own contract, account and
cost. The operator runs a small gateway that takes this webhook and sends the message (the contract,
with a signature check to copy: docs/notifications.md). rujuk signs the raw body with HMAC-SHA256
and the shared secret (``X-Rujuk-Signature: sha256=<hex>``), names the notice in
``X-Rujuk-Event-Id`` (the same on every retry: the gateway sends each one once), and retries a
failed delivery a few times with a growing wait: on a network error, a 5xx, 408 or 429. Any other
4xx is the gateway's refusal: not retried. Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from service.notifications.notices import Notice

log = logging.getLogger("rujuk")

#: seconds waited before each retry (a delivery is tried at most 1 + len(RETRY_DELAYS_S) times)
RETRY_DELAYS_S = (2.0, 10.0, 30.0)
TIMEOUT_S = 10.0
#: statuses worth another try
_TRANSIENT = frozenset({0, 408, 429})


def signature(secret: str, body: bytes) -> str:
    """The ``X-Rujuk-Signature`` of a body: ``sha256=`` and the hex HMAC-SHA256 with the secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (3xx), not somewhere else to send the notice."""

    def redirect_request(self, *_: object, **__: object) -> None:
        return None


class WebhookChannel:
    """Notices to the operator's SMS / WhatsApp gateway."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        delays_s: Sequence[float] = RETRY_DELAYS_S,
        timeout_s: float = TIMEOUT_S,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.delays_s = tuple(delays_s)
        self.timeout_s = timeout_s
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait  # a stopping service does not wait out a retry
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, notice: Notice) -> None:
        """POST the notice (``deliver``); what failed is logged, never raised."""
        self.deliver(notice)

    def deliver(self, notice: Notice) -> bool:
        """POST the notice, retrying transient failures; True once the gateway answered 2xx."""
        body = orjson.dumps(notice.webhook_payload())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "rujuk-notifier",
            "X-Rujuk-Event-Id": notice.key,
            "X-Rujuk-Signature": signature(self.secret, body),
        }
        status = 0
        for attempt, delay in enumerate((0.0, *self.delays_s), start=1):
            if delay:
                self.sleep(delay)
            if self._stop.is_set():
                break
            status = self._post(body, headers)
            if 200 <= status < 300:
                log.info("webhook %s (%s): %d after %d attempt(s)", notice.key, notice.kind, status, attempt)
                return True
            if status not in _TRANSIENT and status < 500:
                break
        log.warning(
            "webhook %s (%s) not delivered: last answer %s", notice.key, notice.kind, status or "none"
        )
        return False

    def close(self) -> None:
        """Stop waiting to retry (the service is stopping)."""
        self._stop.set()

    def _post(self, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310  http(s) checked in Settings
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return 0
