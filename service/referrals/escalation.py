"""Escalation (Pasal 19(4)): a referral unanswered at its due time is escalated once.

The next candidate is proposed; any worker may run the tick, each referral is claimed by one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, update

from service.audit import audit
from service.database import Referral
from service.referrals.lifecycle import Status
from service.referrals.store import next_candidate, record_event

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session

    from service.runtime import Runtime

log = logging.getLogger("rujuk")


def escalate_due(s: Session, now: dt.datetime) -> list[str]:
    """Escalate every referral still unanswered at its due time, exactly once each.

    Safe with several workers: the conditional UPDATE claims a referral only if nobody else did.
    """
    due = s.scalars(
        select(Referral.id).where(
            Referral.status == Status.SENT.value, Referral.due_at <= now, Referral.escalated_at.is_(None)
        )
    ).all()
    done = []
    for rid in due:
        claimed = s.execute(
            update(Referral)
            .where(Referral.id == rid, Referral.status == Status.SENT.value, Referral.escalated_at.is_(None))
            .values(escalated_at=now, escalation_count=Referral.escalation_count + 1, updated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            continue
        r = s.get(Referral, rid)
        assert r is not None
        s.refresh(r)
        r.proposed_next_id = next_candidate(r)
        record_event(
            s,
            r,
            kind="escalated",
            frm=r.status,
            actor=None,
            now=now,
            note="tidak dijawab dalam batas waktu (Pasal 19 ayat (4))",  # the next: proposed_next_id
        )
        audit(
            s,
            actor=None,
            action="referral.escalate",
            entity="referral",
            entity_id=r.id,
            now=now,
            destination=r.destination_id,
            proposed_next=r.proposed_next_id,
        )
        done.append(rid)
    return done


def escalation_tick(rt: Runtime) -> list[str]:
    """Escalate what is due now (any worker may run it: each referral is claimed once)."""
    with rt.sessions() as s:
        done = escalate_due(s, rt.clock())
        s.commit()
    return done


async def escalation_loop(rt: Runtime) -> None:
    """Every ``escalation_interval_s``, in a worker thread; survives a database hiccup."""
    while True:
        await asyncio.sleep(rt.settings.escalation_interval_s)
        try:
            done = await run_in_threadpool(escalation_tick, rt)
            if done:
                log.info("escalated %d unanswered referral(s)", len(done))
        except Exception:  # the loop must survive a database hiccup
            log.exception("escalation tick failed")
