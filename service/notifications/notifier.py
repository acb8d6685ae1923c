"""The notifier: every worker reads the new referral events, one claims them, its channels send.

The events table is the feed (``referral_events``, append-only, ordered). A one-row cursor
(``notifier_cursor``) says up to which event the notices were claimed; a worker claims the next
events with a conditional ``UPDATE ... WHERE last_event_id = <what it read>``, so with any number
of workers on any number of hosts each event's notices go out once (at most once: a worker that
dies between its claim and its sends loses those; the live feed and the stations still show
everything). The claim is a short database step on the request thread pool; the sending (HTTP,
retries) runs on the notifier's own threads, so a slow push service or gateway never holds a
request nor the event loop: each channel has a few lanes, one thread each, and a facility's
notices always take the same lane, so they arrive in the order of the events (a phone shows the
escalation after the new referral, not before), while other facilities' go out alongside.

On PostgreSQL an event id can become visible after a higher one (two transactions committing in
the other order); a gap in the ids is therefore waited for up to ``GAP_WAIT_S`` before it is taken
for a rolled-back insert and passed. Events older than ``STALE_AFTER_S`` (a service that was down)
are passed without a notice: the inbox tells those.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from service.database import NotifierCursor, PushSubscription, ReferralEvent
from service.notifications.notices import Notice, facility_names, notices_of
from service.notifications.vapid import vapid_key
from service.notifications.webhook import WebhookChannel
from service.notifications.webpush import WebPushChannel

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping, Sequence

    from sqlalchemy.orm import Session, sessionmaker

    from service.notifications.channels import Channel
    from service.notifications.vapid import VapidKey
    from service.runtime import Runtime

log = logging.getLogger("rujuk")

#: events claimed at most per tick
BATCH = 200
#: seconds a gap in the event ids is waited for (a transaction still committing) before it is passed
GAP_WAIT_S = 3.0
#: an event older than this (seconds, service clock) is news for the inbox, not for a phone
STALE_AFTER_S = 3600.0
#: with nobody to tell (no push subscription, no webhook), the cursor is moved on at most this
#: often, seconds: one write then instead of one a second, which on SQLite queued behind the
#: referral writes (creates' p99 rose by a few ms, once to 31 ms, in scripts/loadtest.py (c))
IDLE_ADVANCE_S = 30.0
#: sending lanes per channel and worker: a facility's notices go out in their order on one lane,
#: other facilities' on the others at the same time
LANES = 4
_CURSOR_ID = 1


class Notifier:
    """Claims new events' notices (once across workers) and hands them to its channels."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        names: Mapping[str, str],
        channels: Sequence[Channel],
        key: VapidKey,
        clock: Callable[[], dt.datetime],
        lanes: int = LANES,
    ) -> None:
        self.sessions = sessions
        self.names = names
        self.channels = tuple(channels)
        self.key = key
        self.clock = clock
        self._lanes = [
            [ThreadPoolExecutor(1, thread_name_prefix=f"rujuk-{ch.name}") for _ in range(lanes)]
            for ch in self.channels
        ]
        self._gaps: dict[int, float] = {}  # first missing id -> when first seen (monotonic)
        self._lock = threading.Lock()
        self._webhook = any(isinstance(ch, WebhookChannel) for ch in self.channels)
        self._idle_since = -IDLE_ADVANCE_S  # monotonic time of the last idle move of the cursor

    @property
    def public_key(self) -> str:
        """The application server key browsers subscribe with."""
        return self.key.public_key

    def _contiguous(self, after: int, events: Sequence[ReferralEvent]) -> list[ReferralEvent]:
        """The events up to the first gap in the ids that is still young."""
        out: list[ReferralEvent] = []
        expected, now = after + 1, time.monotonic()
        with self._lock:
            for e in events:
                if e.id != expected and now - self._gaps.setdefault(expected, now) < GAP_WAIT_S:
                    break
                out.append(e)
                expected = e.id + 1
            for k in [k for k in self._gaps if k < expected]:
                del self._gaps[k]
        return out

    def _cursor(self, s: Session) -> int | None:
        last = s.scalar(select(NotifierCursor.last_event_id).where(NotifierCursor.id == _CURSOR_ID))
        if last is not None:
            return int(last)
        # the migration makes the row; should it be missing, notices start from now
        newest = int(s.scalar(select(func.coalesce(func.max(ReferralEvent.id), 0))) or 0)
        try:
            with s.begin_nested():
                s.add(NotifierCursor(id=_CURSOR_ID, last_event_id=newest, updated_at=self.clock()))
            s.commit()
        except IntegrityError:
            s.rollback()
        return None

    def claim(self) -> list[Notice]:
        """The notices of the events after the cursor, claimed for this worker alone.

        [] when there is nothing new, or another worker claimed it first.
        """
        with self.sessions() as s:
            after = self._cursor(s)
            if after is None:
                return []
            events = s.scalars(
                select(ReferralEvent).where(ReferralEvent.id > after).order_by(ReferralEvent.id).limit(BATCH)
            ).all()
            taken = self._contiguous(after, events)
            if not taken:
                return []
            if not self._webhook and s.scalar(select(PushSubscription.id).limit(1)) is None:
                # nobody to tell: no notice to build, and the cursor moves on only now and then
                if time.monotonic() - self._idle_since < IDLE_ADVANCE_S:
                    return []
                self._idle_since = time.monotonic()
                taken = taken[-1:]
                s.execute(
                    update(NotifierCursor)
                    .where(NotifierCursor.id == _CURSOR_ID, NotifierCursor.last_event_id == after)
                    .values(last_event_id=taken[-1].id, updated_at=self.clock())
                )
                s.commit()
                return []
            now = self.clock()
            claimed = s.execute(
                update(NotifierCursor)
                .where(NotifierCursor.id == _CURSOR_ID, NotifierCursor.last_event_id == after)
                .values(last_event_id=taken[-1].id, updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if claimed != 1:
                s.rollback()
                return []
            notices = [
                n for n in notices_of(s, taken, self.names) if (now - n.at).total_seconds() <= STALE_AFTER_S
            ]
            s.commit()
        return notices

    def tick(self) -> list[Future[None]]:
        """Claim what is new and start sending it (blocking only for the claim); the sends' futures."""
        notices = self.claim()
        sends = []
        for channel, lanes in zip(self.channels, self._lanes, strict=True):
            for n in notices:
                lane = lanes[zlib.crc32(n.facility_id.encode()) % len(lanes)]
                sends.append(lane.submit(self._send, channel, n))
        return sends

    def _send(self, channel: Channel, notice: Notice) -> None:
        try:
            channel.send(notice)
        except Exception:  # one channel's failure must not stop the others
            log.exception("%s: notice %s failed", channel.name, notice.key)

    def close(self) -> None:
        """Stop sending (what is queued is dropped; a send under way finishes without its retries)."""
        for channel in self.channels:
            channel.close()
        for lanes in self._lanes:
            for lane in lanes:
                lane.shutdown(wait=False, cancel_futures=True)


def build_notifier(rt: Runtime) -> Notifier:
    """The notifier of this worker: the VAPID key (made on first start), Web Push, and the webhook if set."""
    cfg = rt.settings
    key = vapid_key(cfg.vapid_private_key, cfg.private_data_dir())

    def clock() -> dt.datetime:
        return rt.clock()  # read at each use: tests move the runtime's clock

    channels: list[Channel] = [
        WebPushChannel(rt.sessions, key, subject=cfg.vapid_subject, ttl_s=cfg.push_ttl_s, clock=clock)
    ]
    if cfg.notify_webhook_url:
        channels.append(WebhookChannel(cfg.notify_webhook_url, cfg.notify_webhook_secret))
    return Notifier(
        sessions=rt.sessions, names=facility_names(rt.dataset), channels=channels, key=key, clock=clock
    )


async def notifier_loop(rt: Runtime, notifier: Notifier) -> None:
    """Every ``notify_interval_s``: claim on the request thread pool, send on the notifier's threads."""
    while True:
        await asyncio.sleep(rt.settings.notify_interval_s)
        try:
            sends = await run_in_threadpool(notifier.tick)
            if sends:
                log.debug("notifier: %d send(s) started", len(sends))
        except Exception:  # the loop must survive a database hiccup
            log.exception("notifier tick failed")
