"""A channel: one way a notice leaves rujuk (Web Push to browsers; the operator's SMS / WhatsApp gateway).

The notifier hands each notice to every channel, on threads of its own: ``send`` blocks (HTTP,
retries) and never runs on the event loop. A channel keeps its failures to itself (counted,
logged without the endpoint, keys or patient), so one that is down does not stop the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from service.notifications.notices import Notice


class Channel(Protocol):
    """Somewhere notices go."""

    #: for the logs: ``webpush``, ``webhook``
    name: str

    def send(self, notice: Notice) -> None:
        """Deliver one notice to whoever this channel reaches for ``notice.facility_id`` (blocking)."""
        ...

    def close(self) -> None:
        """The service stops: a send under way gives up waiting to retry."""
        ...
