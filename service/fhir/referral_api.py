"""The FHIR operations on referrals: read a ServiceRequest, Task, Patient or Condition; search the first two.

Access is the JSON API's, by its own code: a referral is read through
``service.referrals.queries.get_referral`` (what ``GET /api/referrals/{id}`` answers), and its
patient shown only where ``queries.sees_patient`` allows; anything else is answered exactly like
a resource that does not exist (404). A search runs over the referrals ``queries.can_read``
lets the caller read (SQL narrows the rows to those that might be: their facility's, sent to it
once, accepted for a dispatcher). No patient data is logged here.

Blocking (database): called from the thread pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import false, or_, select
from sqlalchemy.orm import load_only

from service.auth import Role
from service.database import Referral, keyring_of
from service.errors import NotFoundError as ReferralNotFoundError
from service.fhir import referrals as ref
from service.fhir.api import page_links
from service.fhir.outcome import NotFoundError
from service.fhir.resources import FHIR_ID
from service.fhir.search import ReferralRow, parse
from service.referrals import queries

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from fhir_core.fhirabstractmodel import FHIRAbstractModel
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from service.auth import Principal
    from service.runtime import Runtime

#: the referral types searched, and those only read (derived from one referral, no search yet)
TYPES = ("ServiceRequest", "Task")
READ_ONLY = ("Patient", "Condition")
#: what a search reads of every row it examines (never the sealed patient: that is read for the
#: page's rows the caller may see, when their resource is built)
_SCANNED = (
    Referral.id, Referral.number, Referral.status, Referral.origin_id, Referral.destination_id,
    Referral.created_at, Referral.sent_at, Referral.accepted_at, Referral.back_referral_of,
    Referral.tried, Referral.nik_hash,
)  # fmt: skip


def _names(rt: Runtime) -> Callable[[str], str | None]:
    """A facility id's name (None: not in the dataset)."""

    def name(fid: str) -> str | None:
        return rt.dataset.facility(fid).name if fid in rt.facility_ids else None

    return name


def _referral(s: Session, p: Principal, resource_type: str, resource_id: str, referral_id: str) -> Referral:
    """The referral, if the caller may read it (the JSON API's rule); a FHIR 404 otherwise."""
    if not FHIR_ID.fullmatch(resource_id) or len(referral_id) > 36:
        raise NotFoundError(resource_type, resource_id)
    try:
        return queries.get_referral(s, p, referral_id)
    except ReferralNotFoundError:
        raise NotFoundError(resource_type, resource_id) from None


def read(rt: Runtime, p: Principal, resource_type: str, resource_id: str) -> FHIRAbstractModel:
    """One resource of a referral the caller may read (404 OperationOutcome otherwise)."""
    names = _names(rt)
    with rt.sessions() as s:
        if resource_type == "Condition":
            parsed = ref.parse_condition_id(resource_id)
            if parsed is None:
                raise NotFoundError(resource_type, resource_id)
            r = _referral(s, p, resource_type, resource_id, parsed[0])
            if parsed[1] > len(r.icd10 or ()):
                raise NotFoundError(resource_type, resource_id)
            return ref.condition(r, parsed[1], with_patient=queries.sees_patient(p, r))
        r = _referral(s, p, resource_type, resource_id, resource_id)
        with_patient = queries.sees_patient(p, r)
        if resource_type == "Patient":
            if not with_patient:
                raise NotFoundError(resource_type, resource_id)
            return ref.patient(r, names=names)
        if resource_type == "Task":
            return ref.task(r, with_patient=with_patient, names=names)
        return ref.service_request(r, with_patient=with_patient, names=names)


def _might_read(p: Principal) -> ColumnElement[bool] | None:
    """SQL narrowing the referrals to those ``queries.can_read`` might allow (None: all, an admin).

    A superset on purpose: the rule itself is applied to every row afterwards.
    """
    if p.is_admin:
        return None
    parts: list[ColumnElement[bool]] = []
    if p.facility_id is not None:
        parts += [
            Referral.origin_id == p.facility_id,
            Referral.destination_id == p.facility_id,
            Referral.id.in_(queries.ever_sent_to(p.facility_id)),
        ]
    if p.has(Role.DISPATCHER):
        parts.append(Referral.accepted_at.is_not(None))
    if p.has(Role.PEER):
        parts.append(Referral.created_by == p.user_id)
    return or_(*parts) if parts else false()


def readable(s: Session, p: Principal, *, zone: ZoneInfo) -> list[ReferralRow]:
    """Every referral the caller may read, newest first (by the letter's date, then id)."""
    q = select(Referral).options(load_only(*_SCANNED))
    where = _might_read(p)
    if where is not None:
        q = q.where(where)
    rows = s.scalars(q.order_by(Referral.created_at.desc(), Referral.id)).all()
    lookup = keyring_of(s.get_bind().dialect).lookup_hash
    return [ReferralRow(r, queries.sees_patient(p, r), lookup, zone) for r in rows if queries.can_read(p, r)]


def search(
    rt: Runtime, p: Principal, resource_type: str, items: Sequence[tuple[str, str]], *, base: str
) -> Bundle:
    """A searchset Bundle of ServiceRequests or Tasks the caller may read: a page, the total, links."""
    q = parse(resource_type, items)
    names = _names(rt)
    with rt.sessions() as s:
        matches = [row for row in readable(s, p, zone=ZoneInfo(rt.dataset.timezone)) if q.matches(row)]
        page = matches[q.offset : q.offset + q.count]
        if page:  # the page's rows read whole (the scan read only what it decides on)
            s.scalars(select(Referral).where(Referral.id.in_([row.referral.id for row in page]))).all()
        build = ref.task if resource_type == "Task" else ref.service_request
        entries = [
            {
                "fullUrl": f"{base}/{resource_type}/{row.referral.id}",
                "resource": build(row.referral, with_patient=row.patient, names=names),
                "search": {"mode": "match"},
            }
            for row in page
        ]
    links = page_links(base, resource_type, q, len(matches))
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": rt.clock().isoformat(),
            "total": len(matches),
            "link": links,
            "entry": entries or None,
        }
    )
