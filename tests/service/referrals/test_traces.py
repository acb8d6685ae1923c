"""The traces a referral leaves where it was sent before (``referral_traces``), and the inbox and
the report that read them answer exactly what the queries over the events answered before.

- Through the API (SQLite and PostgreSQL): a referral declined, redirected, declined again and
  redirected back leaves a trace where it is not any more and none where it is.
- On a seeded national database (PostgreSQL, every state, redirects after declines and
  escalations, back-referrals): the traces the seeder wrote are those migration 0016's backfill
  computes from the events; every facility's inbox (receiving and referring staff, paged by
  cursor, with and without a date range) and monthly "received" are the same rows, in the same
  order, as the statements the code sent before revision 0016.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, or_, select, text, union
from sqlalchemy.orm import Session

from scripts.seed_national import DEFAULT_END, SYNTHETIC_KEYRING, prepare, seed
from service.auth import Principal, Role
from service.database import Referral, ReferralEvent, ReferralTrace, make_engine, session_factory
from service.referrals import reports
from service.referrals.lists import Filters, Position, list_referrals
from service.referrals.queries import SENT_KINDS, ever_sent_to
from service.referrals.reports import UNSENT, month_bounds
from tests.servers import scratch_database
from tests.service.conftest import Api, create

PEMANGKAT, SAMBAS = "6101033", "6101022"
TIMEZONE = "Asia/Jakarta"
MIGRATION = Path(__file__).parents[3] / "service/migrations/versions/0016_referral_traces.py"


def _definition(s: Session) -> set[tuple[str, str]]:
    """(facility, referral): a send or redirect event named the facility, and it is not the
    referral's destination now."""
    q = (
        select(ReferralEvent.destination_id, ReferralEvent.referral_id)
        .join(Referral, Referral.id == ReferralEvent.referral_id)
        .where(ReferralEvent.kind.in_(SENT_KINDS), ReferralEvent.destination_id != Referral.destination_id)
    )
    return {(f, r) for f, r in s.execute(q)}


def _traces(s: Session) -> set[tuple[str, str]]:
    return {(f, r) for f, r in s.execute(select(ReferralTrace.facility_id, ReferralTrace.referral_id))}


def _inbox(api: Api, user: str) -> list[str]:
    return [j["id"] for j in api.get("/api/referrals?box=inbox", user).json()]


def test_a_redirect_leaves_a_trace_where_the_referral_was(api: Api) -> None:
    rid = create(api).json()["id"]
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    with api.rt.sessions() as s:
        assert (PEMANGKAT, rid) not in _traces(s)
    assert api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "penuh"}).status_code == 200
    r = api.post(f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": SAMBAS})
    assert r.status_code == 200, r.text
    with api.rt.sessions() as s:
        mine = {t for t in _traces(s) if t[1] == rid}
        assert mine == {(PEMANGKAT, rid)}
        assert _traces(s) == _definition(s)
        trace = s.get(ReferralTrace, (PEMANGKAT, rid))
        assert trace is not None
        assert trace.back_referral is False
    assert rid in _inbox(api, "pemangkat")  # a trace
    assert rid in _inbox(api, "sambas")
    # declined there too, then back where it was first: the trace moves with it
    assert api.post(f"/api/referrals/{rid}/decline", "sambas", json={"reason": "penuh"}).status_code == 200
    r = api.post(f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": PEMANGKAT})
    assert r.status_code == 200, r.text
    with api.rt.sessions() as s:
        assert {t for t in _traces(s) if t[1] == rid} == {(SAMBAS, rid)}
        assert _traces(s) == _definition(s)
    assert _inbox(api, "pemangkat").count(rid) == 1
    assert rid in _inbox(api, "sambas")


def test_a_redirect_to_where_it_is_leaves_no_trace(api: Api) -> None:
    """After an escalation the sender may ask the same facility again: it has not moved."""
    rid = create(api).json()["id"]
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    r = api.post(f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": PEMANGKAT})
    assert r.status_code == 200, r.text
    with api.rt.sessions() as s:
        assert {t for t in _traces(s) if t[1] == rid} == set()
        assert _traces(s) == _definition(s)
    assert _inbox(api, "pemangkat").count(rid) == 1


# -- the national seeded database: the same answers as before 0016 ---------------------------------

COUNT = 40_000


@pytest.fixture(scope="module")
def national(postgres_url: str) -> Iterator[str]:
    with scratch_database(postgres_url, "rujuk_traces") as url:
        prepare(url, fresh=False)
        seed(url, COUNT)
        yield url


@pytest.fixture(scope="module")
def engine(national: str) -> Iterator[Engine]:
    e = make_engine(national, keyring=SYNTHETIC_KEYRING)
    yield e
    e.dispose()


def _old_inbox(s: Session, facility: str, *, back_only: bool, lo: dt.datetime | None) -> list[str]:
    """The whole inbox without a state asked, as the code before 0016 read it (from the events)."""
    here = select(Referral.id).where(Referral.destination_id == facility, Referral.sent_at.is_not(None))
    q = select(Referral.id).where(Referral.id.in_(union(here, ever_sent_to(facility))))
    if back_only:
        q = q.where(Referral.back_referral_of.is_not(None))
    if lo is not None:
        q = q.where(Referral.created_at >= lo)
    return list(s.scalars(q.order_by(Referral.created_at.desc(), Referral.id)))


def _old_received(s: Session, facility: str, month: str) -> list[str]:
    """The report's referrals received in a month, as the code before 0016 read them."""
    start, end = month_bounds(month, TIMEZONE)
    in_month = (Referral.created_at >= start, Referral.created_at < end)
    here = select(Referral.id).where(
        Referral.destination_id == facility, *in_month, or_(Referral.status.notin_(UNSENT), Referral.offline)
    )
    q = select(Referral.id).where(*in_month, Referral.id.in_(union(here, ever_sent_to(facility))))
    return sorted(s.scalars(q))


def _paged(s: Session, p: Principal, *, since: dt.date | None, limit: int) -> list[str]:
    """Every page of the inbox, by its cursor."""
    out: list[str] = []
    after: Position | None = None
    while True:
        page = list_referrals(
            s, p, box="inbox", filters=Filters(since=since), timezone=TIMEZONE, limit=limit, after=after
        )
        out += [r.id for r in page.rows]
        if page.next is None:
            return out
        after = page.next


def _facilities(url: str) -> list[str]:
    """Every facility with a trace, and the ten that received most."""
    with psycopg.connect(url) as conn:
        traced = [f for (f,) in conn.execute("SELECT DISTINCT facility_id FROM referral_traces ORDER BY 1")]
        busy = [
            f
            for (f,) in conn.execute(
                "SELECT destination_id FROM referrals GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 10"
            )
        ]
    return sorted({*traced, *busy})


def test_the_seeded_data_has_what_the_comparison_needs(national: str) -> None:
    with psycopg.connect(national) as conn:
        states = {s for (s,) in conn.execute("SELECT DISTINCT status FROM referrals")}
        kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM referral_events")}
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE back_referral) FROM referral_traces"
        ).fetchone()
    assert states >= {"created", "sent", "accepted", "declined", "arrived", "completed", "cancelled"}
    assert kinds == {"send", "decline", "escalated", "redirect"}
    assert row is not None
    assert row[0] > 1000
    assert row[1] > 0  # back-referrals redirected too


def test_the_backfill_computes_the_traces_the_service_writes(national: str, engine: Engine) -> None:
    spec = importlib.util.spec_from_file_location("m0016", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    m0016: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0016)
    with session_factory(engine)() as s:
        written = {tuple(r) for r in s.execute(select(ReferralTrace.__table__))}
        assert _traces(s) == _definition(s)
        s.execute(ReferralTrace.__table__.delete())
        s.execute(text(m0016.BACKFILL))
        assert {tuple(r) for r in s.execute(select(ReferralTrace.__table__))} == written
        s.rollback()


def test_every_inbox_is_what_it_was(national: str, engine: Engine) -> None:
    since = (DEFAULT_END - dt.timedelta(days=90)).date()
    lo = dt.datetime.combine(since, dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=7))).astimezone(dt.UTC)
    facilities = _facilities(national)
    assert len(facilities) > 500
    compared = 0
    with session_factory(engine)() as s:
        for f in facilities:
            receiver = Principal(user_id=1, username="r", roles=frozenset({Role.RECEIVER}), facility_id=f)
            referrer = Principal(user_id=1, username="s", roles=frozenset({Role.REFERRER}), facility_id=f)
            for p, back_only in ((receiver, False), (referrer, True)):
                old = _old_inbox(s, f, back_only=back_only, lo=None)
                assert _paged(s, p, since=None, limit=7) == old, (f, p.roles)
                assert _paged(s, p, since=since, limit=50) == _old_inbox(s, f, back_only=back_only, lo=lo)
                compared += len(old)
    assert compared > COUNT / 20


def test_every_monthly_report_receives_what_it_did(national: str, engine: Engine) -> None:
    months = [(DEFAULT_END - dt.timedelta(days=d)).strftime("%Y-%m") for d in (1, 40, 200)]
    n = 0
    with session_factory(engine)() as s:
        for f in _facilities(national):
            for month in months:
                _sent, received = reports._month_rows(s, f, month, TIMEZONE)
                got = sorted(r.id for r in received)
                assert got == _old_received(s, f, month), (f, month)
                n += len(got)
    assert n > 1000


def test_a_trace_keeps_the_referrals_date(engine: Engine) -> None:
    with session_factory(engine)() as s:
        wrong = s.execute(
            select(ReferralTrace.referral_id)
            .join(Referral, Referral.id == ReferralTrace.referral_id)
            .where(
                or_(
                    ReferralTrace.created_at != Referral.created_at,
                    ReferralTrace.back_referral != Referral.back_referral_of.is_not(None),
                    ReferralTrace.facility_id == Referral.destination_id,
                )
            )
        ).all()
    assert wrong == []
