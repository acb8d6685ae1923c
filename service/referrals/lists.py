"""The boxes as lists: a facility's sent and received referrals, filtered, searched and paged.

Who sees which row, and which row shows its patient, is ``queries``' rule; this module only
narrows and orders what that rule allows.

- **Order and paging**: newest first by the referral's date (``created_at``: when the letter was
  written, or when a paper referral happened), ties by id; a page ends with a :class:`Position`
  (an opaque cursor) from which the next page goes on. A position is a place in that order, not
  an offset, so referrals created meanwhile neither repeat nor shift a page.
- **Filters** (in SQL): the lifecycle state, a date range in the jurisdiction's local days.
- **Search**: the patient's identity is sealed at rest (``service.sealing``), so no SQL can look
  into it. A 16-digit NIK is found exactly through its keyed hash (``nik_hash``), in SQL. Any
  other text is matched in Python against each row the caller may read, after the filters, in
  order: every word typed must begin a word of the patient's name or medical record number (only
  on the rows whose patient the caller may see: a trace of a referral that moved on is never
  found by its patient), of the diagnosis written on the letter, of its ICD-10 codes, or of the
  codes' names in rujuk's clinical vocabulary (so "HPP" finds a referral coded O72.1). One
  request examines at most :data:`SCAN_MAX` rows; when it stops there, its page may be short and
  its cursor goes on from the last row examined, with the time reached (``searched_until``): the
  work per request is bounded, and the whole history can still be searched, page by page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, true, union
from sqlalchemy.orm import load_only

from rules import icd
from rules.errors import RulesError
from service.database import Referral, ReferralTrace, aware, keyring_of
from service.errors import InputError
from service.referrals.identity import impossible_nik
from service.referrals.lifecycle import Status
from service.referrals.queries import receives, sees_patient

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.orm import InstrumentedAttribute, Session

    from service.auth import Principal

#: rows a search examines in one request at most (each one's patient unsealed)
SCAN_MAX = 2000
#: rows read from the database at a time while searching
SCAN_BATCH = 250
#: what the transport list holds (dispatchers: accepted referrals that need an ambulance)
TRANSPORT_STATES = (Status.ACCEPTED.value, Status.DISPATCHED.value, Status.IN_TRANSIT.value)
_NIK = re.compile(r"^\d{16}$")
_NOT_A_WORD = re.compile(r"[^0-9a-z.]+")
#: what a search reads of each row it examines: who may see it, the patient, the diagnosis (the
#: rest of the rows it keeps is read afterwards, for those rows only)
_SCANNED = (
    Referral.id, Referral.created_at, Referral.origin_id, Referral.destination_id, Referral.sent_at,
    Referral.back_referral_of, Referral.tried, Referral.patient, Referral.icd10, Referral.medical,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Position:
    """A place in the lists' order (newest first, then by id): where the next page starts."""

    created_at: dt.datetime
    id: str

    @classmethod
    def of(cls, r: Referral) -> Position:
        """Just after this referral."""
        at = aware(r.created_at)
        assert at is not None
        return cls(at.astimezone(dt.UTC), r.id)

    def encode(self) -> str:
        """The cursor given to the client: opaque, URL-safe."""
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        """A cursor back to a position; an InputError naming ``query.cursor`` if it is not one."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            at, sep, rid = raw.partition("|")
            parsed = dt.datetime.fromisoformat(at)
            when = parsed.astimezone(dt.UTC) if parsed.tzinfo is not None else None
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
            when, sep, rid = None, "", ""
        if when is None or not sep or not rid or len(rid) > 36:
            raise InputError("query.cursor", "is not a cursor this service gave: start again without it")
        return cls(when, rid)


@dataclass(frozen=True, slots=True)
class Filters:
    """What narrows a list (all optional): a state, local days, text to search."""

    status: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    text: str | None = None
    nik: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page: its rows, where the next starts (None: the end), how far a search looked."""

    rows: Sequence[Referral]
    next: Position | None
    #: a search that stopped at SCAN_MAX: the date of the last row it examined (else None)
    searched_until: dt.datetime | None = None


def fold(text: str) -> str:
    """Lower case, accents and punctuation off, single spaces (``Nur'aini`` -> ``nur aini``)."""
    t = text.casefold()
    if not t.isascii():
        t = "".join(ch for ch in unicodedata.normalize("NFKD", t) if not unicodedata.combining(ch))
    return " ".join(_NOT_A_WORD.sub(" ", t).split())


@lru_cache(maxsize=4096)
def code_words(code: str) -> str:
    """A code's searchable words: itself (with and without its dot), its names and abbreviations
    in the vocabulary and its category's (O72.1 is found by "HPP"), WHO's English title."""  # noqa: D205, D209
    terms = {t.code: t for t in icd.vocabulary()}
    names = [w for t in (terms.get(code), terms.get(code[:3])) if t for w in (t.name, *t.also)]
    try:
        title = icd.description(code)
    except RulesError:
        title = ""
    return fold(" ".join((code, code.replace(".", ""), *names, title)))


@lru_cache(maxsize=4096)
def diagnosis_words(text: str, codes: tuple[str, ...]) -> str:
    """A letter's diagnosis as searchable words: what was written, and its codes' words."""
    return " ".join((fold(text), *(code_words(c) for c in codes)))


def _identity_words(r: Referral) -> str:
    pt = r.patient or {}
    return fold(f"{pt.get('name', '')} {pt.get('medical_record_number', '')}")


def matcher(p: Principal, text: str) -> Callable[[Referral], bool]:
    """Whether a row answers the text: every word typed begins a word of its diagnosis or (for
    those who see it) of its patient."""  # noqa: D205, D209
    starts = [re.compile(rf"(?:^| ){re.escape(w)}") for w in fold(text).split()]

    def match(r: Referral) -> bool:
        written = str((r.medical or {}).get("diagnosis_text", ""))
        hay = diagnosis_words(written, tuple(str(c) for c in r.icd10 or ()))
        if sees_patient(p, r):
            hay = f"{hay} {_identity_words(r)}"
        return all(w.search(hay) for w in starts)

    return match


def day_bounds(f: Filters, timezone: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The local days ``since``..``until`` (inclusive) as UTC instants (None: no bound)."""
    tz = ZoneInfo(timezone)

    def start(d: dt.date) -> dt.datetime | None:
        try:
            return dt.datetime.combine(d, dt.time(), tzinfo=tz).astimezone(dt.UTC)
        except OverflowError:  # a day at the calendar's edge: no bound there
            return None

    end = None
    if f.until is not None and f.until < dt.date.max:
        end = start(f.until + dt.timedelta(days=1))
    return (start(f.since) if f.since else None), end


def check(f: Filters, box: str) -> None:
    """The filters make sense together (an InputError naming the parameter otherwise)."""
    if f.since and f.until and f.until < f.since:
        raise InputError("query.until", "is before 'since': the range would be empty")
    if box == "transport" and (f.nik or f.text):
        field = "query.nik" if f.nik else "query.q"
        raise InputError(field, "the transport list carries no patient identity: it is not searched")
    impossible = impossible_nik(f.nik) if f.nik else None
    if impossible is not None:  # no KTP carries it: a typo, said rather than answered with nothing
        raise InputError("query.nik", impossible.message, code=impossible.code)


def _box(p: Principal, box: str, status: str | None) -> _Rows:
    """What the box holds for this user: conditions on the referrals and, for a facility's inbox
    with no state asked, on its traces (``traces``: referrals sent here that moved on since)."""  # noqa: D205, D209
    if box == "inbox":
        if not p.is_admin:
            here = [Referral.destination_id == p.facility_id, Referral.sent_at.is_not(None)]
            # the traces of referrals that moved on are history: listed only without a status filter
            gone = None if status else [ReferralTrace.facility_id == p.facility_id]
            if not receives(p, back_referral=False):  # referring staff receive back-referrals only
                here.append(Referral.back_referral_of.is_not(None))
                # (= true, not IS TRUE: PostgreSQL matches the former to the partial ix_traces_back)
                gone = None if gone is None else [*gone, ReferralTrace.back_referral == true()]
            return _Rows(here, gone)
    elif box == "outbox":
        if not p.is_admin:
            return _Rows([Referral.origin_id == p.facility_id])
    elif box == "transport":
        return _Rows([Referral.status.in_(TRANSPORT_STATES)])
    return _Rows([])


#: the lists' order: newest first, ties by id
_ORDER = (Referral.created_at.desc(), Referral.id)


@dataclass(slots=True)
class _Rows:
    """A list's rows in order: the referrals its conditions keep, and their traces.

    Traces (``traces`` not None) are listed in a facility's inbox without a state asked.
    """

    where: list[ColumnElement[bool]]
    traces: list[ColumnElement[bool]] | None = None

    def also(self, on_referral: ColumnElement[bool], on_trace: ColumnElement[bool] | None = None) -> None:
        """One more condition, said of the referral and (where traces are listed) of its trace."""
        self.where.append(on_referral)
        if self.traces is not None:
            assert on_trace is not None
            self.traces.append(on_trace)

    def page(self, after: Position | None, n: int) -> Select[Referral]:
        """The first ``n`` rows after ``after``, in order.

        With traces, the facility's referrals and its traces are each walked in order from their
        own index and cut at ``n`` (the first ``n`` of the two together are among these), then
        merged: a page costs a page, whatever the facility's history.
        """
        here = [*self.where, *_after(Referral.created_at, Referral.id, after)]
        if self.traces is None:
            return select(Referral).where(*here).order_by(*_ORDER).limit(n)
        t = ReferralTrace
        mine = select(Referral.id).where(*here).order_by(*_ORDER).limit(n).subquery()
        gone = (
            select(t.referral_id)
            .where(*self.traces, *_after(t.created_at, t.referral_id, after))
            .order_by(t.created_at.desc(), t.referral_id)
            .limit(n)
            .subquery()
        )
        ids = union(select(mine.c.id), select(gone.c.referral_id))
        return select(Referral).where(Referral.id.in_(ids)).order_by(*_ORDER).limit(n)


def list_referrals(
    s: Session,
    p: Principal,
    *,
    box: str,
    filters: Filters,
    timezone: str,
    limit: int,
    after: Position | None = None,
    before: dt.datetime | None = None,
) -> Page:
    """A page of the caller's outbox (sent by its facility) or inbox (received), newest first.

    The inbox holds what was sent to the facility and, when no status is asked for, the traces
    of referrals it declined or let be escalated away (read-only, without the patient).
    """
    f = filters
    rows = _box(p, box, f.status)
    if f.status:
        rows.also(Referral.status == f.status)
    lo, hi = day_bounds(f, timezone)
    t = ReferralTrace
    if lo is not None:
        rows.also(Referral.created_at >= lo, t.created_at >= lo)
    if hi is not None:
        rows.also(Referral.created_at < hi, t.created_at < hi)
    if before is not None:
        rows.also(Referral.created_at < before, t.created_at < before)
    text = (f.text or "").strip()
    nik = f.nik or (text if _NIK.match(text) else None)
    accept: Callable[[Referral], bool] | None = None
    if nik is not None:  # exactly, by its keyed hash; found only where the patient is shown
        h = keyring_of(s.get_bind().dialect).lookup_hash(nik)
        rows.also(
            Referral.nik_hash == h, t.referral_id.in_(select(Referral.id).where(Referral.nik_hash == h))
        )
        accept = lambda r: sees_patient(p, r)  # noqa: E731
    if fold(text) and nik != text:  # (punctuation alone searches nothing)
        words = matcher(p, text)
        accept = words if accept is None else (lambda r: sees_patient(p, r) and words(r))
    return _walk(s, rows, accept, limit=limit, after=after)


def _after(
    created: ColumnElement[dt.datetime] | InstrumentedAttribute[dt.datetime],
    ident: ColumnElement[str] | InstrumentedAttribute[str],
    at: Position | None,
) -> list[ColumnElement[bool]]:
    """Conditions for the rows after a position (by a date column and an id column)."""
    if at is None:
        return []
    same_time = and_(created == at.created_at, ident > at.id)
    # (the first bound says the same again, as an index range: a deep page seeks, not walks)
    return [created <= at.created_at, or_(created < at.created_at, same_time)]


def _walk(
    s: Session,
    q: _Rows,
    accept: Callable[[Referral], bool] | None,
    *,
    limit: int,
    after: Position | None,
) -> Page:
    """Rows in order from ``after``, kept when ``accept`` says so, until a page and one more are
    found, the rows end, or (filtering in Python) ``SCAN_MAX`` rows were examined."""  # noqa: D205, D209
    if accept is None:
        rows = s.scalars(q.page(after, limit + 1)).all()
        more = len(rows) > limit  # one more than a page: there is a next one, from the page's end
        return Page(rows[:limit], Position.of(rows[limit - 1]) if more else None)
    found: list[Referral] = []
    last, examined = after, 0
    while True:
        n = min(SCAN_BATCH, SCAN_MAX - examined)
        batch = s.scalars(q.page(last, n).options(load_only(*_SCANNED))).all()
        for r in batch:
            if accept(r):
                found.append(r)
                if len(found) > limit:
                    return _whole(s, Page(found[:limit], Position.of(found[limit - 1])))
            last = Position.of(r)
            examined += 1
        if len(batch) < n:
            return _whole(s, Page(found, None))
        if examined >= SCAN_MAX:
            assert last is not None
            return _whole(s, Page(found, last, searched_until=last.created_at))


def _whole(s: Session, page: Page) -> Page:
    """The page's rows read whole (a search read only what it matches on)."""
    if page.rows:
        s.scalars(select(Referral).where(Referral.id.in_([r.id for r in page.rows]))).all()
    return page


def age_years(patient: dict[str, Any], today: dt.date) -> int | None:
    """The patient's age in whole years on ``today`` (an unidentified casualty: the estimate)."""
    dob = patient.get("date_of_birth")
    if isinstance(dob, str) and dob:
        try:
            born = dt.date.fromisoformat(dob)
        except ValueError:
            return None
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    est = patient.get("age_estimate_years")
    return est if isinstance(est, int) else None
