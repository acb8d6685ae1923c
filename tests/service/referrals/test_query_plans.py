"""At national volume the inbox, the lists, the reports, escalation and the outboxes stay
index-bound: PostgreSQL's plans for the statements the code itself sends, on a seeded database.

The database is seeded by ``scripts/seed_national.py`` (the same generator as the 10-million-row
run of docs/scale.md, here 200,000 referrals over 13,000 synthetic facilities), analysed, then
each query path is run through the service's own functions while its SQL is captured
(``scripts/national_queries.py``) and explained. No plan may read a big table whole (a Seq Scan
on referrals, referral_events or deliveries); run, the inbox's statements may read no more than a
page's rows (``PAGE_BOUND``, at the busiest hospital too), a report no more than its facility's
month, any other path no more than its facility's rows.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import random
import shutil
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from scripts.national_queries import BIG_TABLES, TIMEZONE, Case, Statement, cases, examined, nodes
from scripts.seed_national import DEFAULT_END, SYNTHETIC_KEYRING, Facilities, prepare, seed
from service.database import make_engine
from service.referrals.reports import month_bounds
from tests.servers import scratch_database

COUNT = 200_000
#: the month cases() asks the reports for
REPORT_MONTH = (DEFAULT_END - dt.timedelta(days=40)).strftime("%Y-%m")
#: a small Puskesmas: it sends a little and receives only its patients back
SMALL = "SYN-PKM-00002"

if not (
    os.environ.get("RUJUK_TEST_DATABASE_URL")
    or shutil.which("initdb")
    or glob.glob("/usr/lib/postgresql/*/bin/initdb")
):
    pytest.skip("query plans are PostgreSQL's: no RUJUK_TEST_DATABASE_URL and no PostgreSQL binaries", allow_module_level=True)  # fmt: skip


@pytest.fixture(scope="module")
def national(postgres_url: str) -> Iterator[str]:
    """A database of its own with COUNT referrals, migrated, seeded and analysed."""
    with scratch_database(postgres_url, "rujuk_plans") as url:
        prepare(url, fresh=False)
        seed(url, COUNT)
        yield url


@pytest.fixture(scope="module")
def engine(national: str) -> Iterator[Engine]:
    e = make_engine(national, keyring=SYNTHETIC_KEYRING)
    yield e
    e.dispose()


def _volume(url: str, facility: str) -> int:
    """The facility's own rows: referrals it sent or received, events addressed to it."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM referrals WHERE origin_id = %(f)s OR destination_id = %(f)s)"
            " + (SELECT count(*) FROM referral_events WHERE destination_id = %(f)s)",
            {"f": facility},
        ).fetchone()
    assert row is not None
    return int(row[0])


def _problem(conn: psycopg.Connection[Any], case: Case, st: Statement, bound: int) -> str | None:
    """Why this statement's plan is not index-bound (None: it is): run with EXPLAIN ANALYZE."""
    row = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {st.sql}", st.params).fetchone()
    conn.rollback()  # (an UPDATE of the escalation tick ran: undone)
    assert row is not None
    plan = row[0][0]["Plan"]
    seq = {n["Relation Name"] for n in nodes(plan) if n["Node Type"] == "Seq Scan"} & BIG_TABLES
    rows = examined(plan)
    if seq or rows > bound:
        return (
            f"{case.name} ({case.facility}): seq scan of {sorted(seq)}, {rows} rows read > {bound}: {st.sql}"
        )
    return None


def _month(url: str) -> int:
    """The referrals of the month the reports are asked for, nationally."""
    start, end = month_bounds(REPORT_MONTH, TIMEZONE)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM referrals WHERE created_at >= %s AND created_at < %s", (start, end)
        ).fetchone()
    assert row is not None
    return int(row[0])


#: the paths whose statements read a page, whatever the facility's history: each of the inbox's
#: two ordered walks (the facility's referrals, its traces) stops at a page and one more row (51),
#: then the page's referrals are read by id; ties on the date and unsent drafts add a few
PAGED = frozenset({"inbox", "back-referrals received (referring staff)"})
PAGE_BOUND = 400


def _month_volume(url: str, facility: str) -> int:
    """The facility's rows in the report's month: referrals it sent or received, its traces, and
    the events of those referrals."""
    start, end = month_bounds(REPORT_MONTH, TIMEZONE)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "WITH mine AS (SELECT id FROM referrals WHERE (origin_id = %(f)s OR destination_id = %(f)s)"
            "   AND created_at >= %(s)s AND created_at < %(e)s"
            " UNION SELECT referral_id FROM referral_traces WHERE facility_id = %(f)s"
            "   AND created_at >= %(s)s AND created_at < %(e)s)"
            " SELECT (SELECT count(*) FROM mine)"
            " + (SELECT count(*) FROM referral_events WHERE referral_id IN (SELECT id FROM mine))",
            {"f": facility, "s": start, "e": end},
        ).fetchone()
    assert row is not None
    return int(row[0])


def _bound(url: str, case: Case) -> int:
    """A page for the inbox; the facility's month for its report (four times its rows there: each
    half of a union, then each referral by id); otherwise at most four times the facility's own
    rows, and a page or two of the open ones nationally."""
    if case.name in PAGED:
        return PAGE_BOUND
    if case.name == "monthly report":
        return 4 * _month_volume(url, case.facility) + 100
    return 4 * _volume(url, case.facility) + 1000


def _paths(engine: Engine) -> list[Case]:
    busy = Facilities.make(random.Random(1)).busiest_hospital()  # seed() draws the facilities first
    return [
        *cases(engine, busy, now=DEFAULT_END),
        *cases(engine, busy, now=DEFAULT_END, page=3),
        *cases(engine, SMALL, now=DEFAULT_END),
    ]


def test_every_query_path_is_index_bound(national: str, engine: Engine) -> None:
    paths = _paths(engine)
    assert len(paths) == 48
    bounds = {(c.name, c.facility): _bound(national, c) for c in paths}
    problems = []
    with psycopg.connect(national) as conn:
        for case in paths:
            assert case.statements, f"{case.name}: no SQL captured"
            problems += [
                p
                for st in case.statements
                if (p := _problem(conn, case, st, bounds[case.name, case.facility]))
            ]
    assert problems == []


def test_the_check_sees_a_full_read(national: str, engine: Engine) -> None:
    """Without the facility indexes the lists and the reports lean on, the same check fails."""
    paths = cases(engine, SMALL, now=DEFAULT_END)
    bounds = {c.name: _bound(national, c) for c in paths}  # (before the DROP locks the table)
    with psycopg.connect(national) as conn:
        conn.execute("DROP INDEX ix_referrals_destination")
        conn.execute("DROP INDEX ix_referrals_back_destination")
        conn.execute("SAVEPOINT dropped")
        failing = set()
        for case in paths:
            for st in case.statements:
                row = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {st.sql}", st.params).fetchone()
                conn.execute("ROLLBACK TO SAVEPOINT dropped")
                assert row is not None
                plan = row[0][0]["Plan"]
                seq = {n["Relation Name"] for n in nodes(plan) if n["Node Type"] == "Seq Scan"} & BIG_TABLES
                if seq or examined(plan) > bounds[case.name]:
                    failing.add(case.name)
        conn.rollback()  # (the index comes back: DDL is transactional)
    assert failing == {
        "inbox",
        "inbox, completed last 30 days",
        "back-referrals received (referring staff)",
        "monthly report",
    }
