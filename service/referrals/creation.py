"""Creating a referral letter, for every way one arrives: the JSON API and FHIR transactions.

Checks the letter against the deployment (destination, times, identity, the rule pack), stores
it with its number, event and audit entry, and, asked to, sends it. The caller commits.
Blocking (database, matching): called from the thread pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.errors import RulesError
from service.errors import ForbiddenError, InputError
from service.referrals import store
from service.referrals.lifecycle import Action
from service.referrals.registry import identity_check

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.auth import Principal
    from service.referrals.schemas import ReferralIn
    from service.runtime import Runtime


def terms(rt: Runtime) -> store.Terms:
    """What the lifecycle needs to know of this deployment."""
    return store.Terms(
        answer_within_min=rt.answer_within_min,
        answer_within_by_origin=rt.answer_within_by_origin,
        receiving_ids=rt.receiving_ids,
        facility_ids=rt.facility_ids,
        peers=rt.peers.destinations if rt.peers is not None else None,
    )


def create(
    rt: Runtime,
    db: Session,
    p: Principal,
    body: ReferralIn,
    *,
    idempotency_key: str | None,
    send: bool = False,
) -> store.Created:
    """Check and store a new letter from the caller's facility (and send it when ``send``)."""
    if p.facility_id is None:
        raise ForbiddenError("your account is not bound to a facility")
    if body.back_referral_of is None and body.destination_id not in rt.receiving_ids:
        raise InputError(
            "destination_id", f"{body.destination_id!r} is not a receiving facility", code="not_receiving"
        )
    if body.destination_id not in rt.facility_ids:  # a back-referral goes to any facility (Pasal 11(2))
        raise InputError(
            "destination_id", f"{body.destination_id!r} is not a facility", code="unknown_facility"
        )
    if body.destination_id == p.facility_id:
        raise InputError("destination_id", "a facility cannot refer to itself", code="same_facility")
    now = rt.clock()
    store.check_times(body, now)
    checked = identity_check(rt.population_registry, body.patient)  # before anything is written
    referred_from = store.referred_from(db, body, p.facility_id)
    req = store.domain_request(body, p.facility_id, now.date(), referred_from=referred_from)
    try:
        s = rt.matcher.suggest(req, statuses=rt.statuses.read(db), now=now)
    except RulesError as exc:
        field = getattr(exc, "field", "medical.icd10")
        raise InputError(field.replace("icd10", "medical.icd10"), getattr(exc, "message", str(exc))) from exc
    res = store.create_referral(db, body, principal=p, origin_id=p.facility_id,
                                idempotency_key=idempotency_key, suggestion=s, now=now,
                                timezone=rt.dataset.timezone)  # fmt: skip
    if res.created:
        store.note_identity(res.referral, checked)
        if send and res.referral.status == "created":
            store.act(db, p, res.referral, Action.SEND, now=now, terms=terms(rt))
    return res
