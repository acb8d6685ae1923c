"""The queries the service runs for the inbox, the lists, the reports, escalation and the outboxes,
captured from the code itself on a seeded database (``seed_national``) and explained.

Each case calls the service's own function (``list_referrals``, ``events_after``, ``escalate_due``,
...) in a transaction that is rolled back, while a SQLAlchemy event records every statement sent
to PostgreSQL with its parameters; ``explain`` runs ``EXPLAIN`` on those statements. Used by
``tests/service/referrals/test_query_plans.py`` (the plans) and ``bench_national_queries.py``
(the times).
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from service.accounts.stations import StationAccess
from service.accounts.stations import waiting as station_waiting
from service.auth import Principal, Role
from service.database import Referral, session_factory
from service.peers.outbox import _claim
from service.referrals import queries, reports
from service.referrals.escalation import escalate_due
from service.referrals.lists import Filters, Position, list_referrals
from service.tracking.incoming import on_the_way

#: the tables a query must not read whole
BIG_TABLES = frozenset({"referrals", "referral_events", "deliveries"})
TIMEZONE = "Asia/Jakarta"


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement the code sent, with its parameters."""

    sql: str
    params: Any


@dataclass(frozen=True, slots=True)
class Case:
    """One thing the service does for a facility, and the statements it sent."""

    name: str
    facility: str
    statements: tuple[Statement, ...]


@contextmanager
def capturing(engine: Engine) -> Iterator[list[Statement]]:
    """Every SELECT/UPDATE sent through ``engine`` while inside."""
    seen: list[Statement] = []

    def record(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        if not many and sql.lstrip().upper().startswith(("SELECT", "UPDATE")):
            seen.append(Statement(sql, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _staff(facility: str, *roles: Role) -> Principal:
    return Principal(user_id=1, username="syn", roles=frozenset(roles), facility_id=facility)


def _one(engine: Engine, name: str, facility: str, run: Callable[[Session], object]) -> Case:
    with capturing(engine) as seen, session_factory(engine)() as s:
        try:
            run(s)
        finally:
            s.rollback()
    return Case(name, facility, tuple(seen))


def cases(engine: Engine, facility: str, *, now: dt.datetime, page: int = 0) -> list[Case]:
    """The statements of each query path, for one facility (``page``: how many pages deep)."""
    receiver = _staff(facility, Role.RECEIVER)
    referrer = _staff(facility, Role.REFERRER)
    admin = _staff(facility, Role.ADMIN)
    dispatcher = _staff(facility, Role.DISPATCHER)
    month = (now - dt.timedelta(days=40)).strftime("%Y-%m")
    since = (now - dt.timedelta(days=30)).date()

    def lst(p: Principal, box: str, f: Filters) -> Callable[[Session], object]:
        def run(s: Session) -> object:
            after: Position | None = None
            for _ in range(page + 1):
                got = list_referrals(s, p, box=box, filters=f, timezone=TIMEZONE, limit=50, after=after)
                if got.next is None:
                    break
                after = got.next
            return got

        return run

    def feed(s: Session) -> object:  # a client that starts now, and one that was away a while
        return queries.events_after(s, receiver, queries.latest_event_id(s) - 2000)

    def report(s: Session) -> object:
        _sent, received = reports._month_rows(s, facility, month, TIMEZONE)
        return reports._declined_by(s, facility, received)

    with session_factory(engine)() as s:
        rid = s.scalar(
            select(Referral.id)
            .where((Referral.destination_id == facility) | (Referral.origin_id == facility))
            .order_by(Referral.created_at.desc())
            .limit(1)
        )
    assert rid is not None, f"{facility} sent and received nothing"

    def detail(s: Session) -> object:
        return (
            queries.history(s, rid),
            queries.back_referrals_of(s, receiver, rid),
            queries.delivery_of(s, rid),
        )

    clock = types.SimpleNamespace(clock=lambda: now)
    access = StationAccess(id=1, name="syn", facility_id=facility, expires_at=now + dt.timedelta(days=1))
    return [
        _one(engine, "inbox", facility, lst(receiver, "inbox", Filters())),
        _one(engine, "inbox, waiting (status sent)", facility, lst(receiver, "inbox", Filters(status="sent"))),
        _one(engine, "inbox, completed last 30 days", facility,
             lst(receiver, "inbox", Filters(status="completed", since=since))),
        _one(engine, "outbox", facility, lst(referrer, "outbox", Filters())),
        _one(engine, "outbox, cancelled", facility, lst(referrer, "outbox", Filters(status="cancelled"))),
        _one(engine, "back-referrals received (referring staff)", facility, lst(referrer, "inbox", Filters())),
        _one(engine, "live feed (events after)", facility, feed),
        _one(engine, "station: waiting count and list", facility, lambda s: station_waiting(s, access)),
        _one(engine, "on the way here", facility, lambda s: on_the_way(s, receiver, facility)),
        _one(engine, "monthly report", facility, report),
        _one(engine, "a referral: history, back-referrals, delivery", facility, detail),
        _one(engine, "transport list (dispatcher)", facility, lst(dispatcher, "transport", Filters())),
        _one(engine, "admin: all referrals", facility, lst(admin, "inbox", Filters())),
        _one(engine, "admin: waiting (status sent)", facility, lst(admin, "outbox", Filters(status="sent"))),
        _one(engine, "escalation tick", facility, lambda s: escalate_due(s, now)),
        _one(engine, "peer outbox: next delivery", facility, lambda s: _claim(clock, s, set())),  # type: ignore[arg-type]
    ]  # fmt: skip


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A plan node and every node under it (init plans and subplans too)."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def explain(url: str, st: Statement, *, analyze: bool = False, jit: bool | None = None) -> dict[str, Any]:
    """The plan of a statement (JSON), run for real with ``analyze`` (an UPDATE rolled back);
    ``jit`` sets the session's ``jit`` (None: the server's setting)."""
    opts = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    options = "" if jit is None else f"-c jit={'on' if jit else 'off'}"
    with psycopg.connect(url, options=options) as conn:
        row = conn.execute(f"EXPLAIN ({opts}) {st.sql}", st.params).fetchone()  # type: ignore[arg-type]
        conn.rollback()
    assert row is not None
    out: dict[str, Any] = row[0][0]
    return out


def full_scan_cost(url: str, table: str) -> float:
    """What the planner would charge for reading the whole table (seq_page_cost x pages + cpu_tuple_cost x rows)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT relpages * current_setting('seq_page_cost')::float"
            " + reltuples * current_setting('cpu_tuple_cost')::float FROM pg_class WHERE relname = %s",
            (table,),
        ).fetchone()
    assert row is not None
    return float(row[0])


def examined(plan: dict[str, Any], tables: frozenset[str] = BIG_TABLES) -> int:
    """Rows a plan run with ANALYZE read from ``tables``: what each scan returned and what its
    filter and recheck threw away, over all its loops."""
    total = 0
    for n in nodes(plan):
        if n.get("Relation Name") in tables and "Scan" in n["Node Type"]:
            read = (
                n["Actual Rows"]
                + n.get("Rows Removed by Filter", 0)
                + n.get("Rows Removed by Index Recheck", 0)
            )
            total += read * n["Actual Loops"]
    return total
