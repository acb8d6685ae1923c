"""With nobody to tell (no push subscription, no webhook) the notifier builds no notice and moves
its cursor on only every ``IDLE_ADVANCE_S``: one write then, not one a second (on SQLite those
writes queued behind the referral writes)."""

from __future__ import annotations

from sqlalchemy import select

from service.database import NotifierCursor, ReferralEvent
from service.notifications.notifier import IDLE_ADVANCE_S
from tests.service.conftest import Api, create, letter_body
from tests.service.notifications.conftest import notifier


def _cursor(api: Api) -> int:
    with api.rt.sessions() as s:
        return int(s.scalar(select(NotifierCursor.last_event_id)) or 0)


def _newest(api: Api) -> int:
    with api.rt.sessions() as s:
        return max(e.id for e in s.scalars(select(ReferralEvent)))


def _sent(api: Api) -> None:
    rid = create(api, body=letter_body(now=api.clock.now)).json()["id"]
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200


def test_with_nobody_to_tell_the_cursor_moves_on_only_now_and_then(api: Api) -> None:
    n = notifier(api)
    _sent(api)
    assert n.claim() == []  # no notice built for nobody
    assert _cursor(api) == _newest(api)  # moved on (the first time at once)
    before = _cursor(api)
    _sent(api)
    assert n.claim() == []
    assert _cursor(api) == before  # not again within IDLE_ADVANCE_S: no write
    n._idle_since -= IDLE_ADVANCE_S + 1
    assert n.claim() == []
    assert _cursor(api) == _newest(api) > before
