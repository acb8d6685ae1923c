"""Creating a referral by FHIR: ``POST /fhir/R4`` with a ``transaction`` Bundle (docs/fhir.md).

The Bundle is read into the JSON API's letter (``service.fhir.transaction``) and created by the
same code as ``POST /api/referrals`` (``service.referrals.creation``): the same checks, the
same number, event and audit entry; ``ServiceRequest.status`` ``active`` sends it at once.
Idempotent: an ``Idempotency-Key`` header (a retry with the same key and Bundle answers the
referral made the first time; another Bundle under that key is a 409), or the
ServiceRequest entry's ``request.ifNoneExist`` (``identifier=system|value``: a referral already
made from that facility under that identifier is answered, not made again).

Who: the referring facility's staff, for their own facility (``requester``); or another rujuk
deployment's ``peer`` account, for the facilities the peers file lets it refer from.
Blocking (database, matching): called from the thread pool.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from service.auth import Principal, Role
from service.database import Referral
from service.errors import InputError
from service.fhir import referrals as ref
from service.fhir.outcome import FhirError, Issue, OutcomeError
from service.fhir.transaction import Transaction, expression_of, read_transaction
from service.referrals import creation

if TYPE_CHECKING:
    from service.runtime import Runtime


def _acting(rt: Runtime, p: Principal, origin_id: str) -> Principal:
    """Who creates the referral: the caller for their own facility; a peer as the facility it refers from."""
    if p.has(Role.PEER):
        if rt.peers is None or origin_id not in rt.peers.origins_of(p.username):
            msg = f"this deployment's account may not refer from {origin_id!r} (the peers file's origins)"
            raise FhirError(403, msg, expression="ServiceRequest.requester")
        return Principal(p.user_id, p.username, frozenset({Role.REFERRER}), origin_id)
    if not p.has(Role.REFERRER, Role.RECEIVER) or p.facility_id is None:
        raise FhirError(
            403, "only a facility's staff create referrals", expression="ServiceRequest.requester"
        )
    if p.facility_id != origin_id:
        msg = f"the requester must be your facility, Organization/{p.facility_id}"
        raise FhirError(403, msg, expression="ServiceRequest.requester")
    return p


def _key(idempotency_key: str | None, tx: Transaction) -> str | None:
    if idempotency_key is not None:
        if not 8 <= len(idempotency_key) <= 128:
            raise FhirError(400, "Idempotency-Key: 8 to 128 characters", expression="Idempotency-Key")
        return idempotency_key
    if tx.if_none_exist is None:
        return None
    return "ifNoneExist:" + hashlib.sha256(tx.if_none_exist.encode()).hexdigest()[:48]


def answer(r: Referral, order: tuple[str, ...], *, created: bool) -> Bundle:
    """The transaction-response: one entry per entry sent, in order, with where each now is.

    The Task (the referral's lifecycle) is ``Task/{id}`` of the ServiceRequest's id. Observations,
    Procedures and the Consent are kept in the letter, not served as resources: no location.
    """
    status = "201 Created" if created else "200 OK"
    n_condition, entries = 0, []
    for kind in order:
        location = None
        if kind in {"ServiceRequest", "Patient"}:
            location = f"{kind}/{r.id}"
        elif kind == "Condition":
            n_condition += 1
            location = f"Condition/{ref.condition_id(r, n_condition)}"
        entries.append({"response": {"status": status, **({"location": location} if location else {})}})
    return Bundle.model_validate({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})


def create(rt: Runtime, p: Principal, body: bytes, *, idempotency_key: str | None) -> Bundle:
    """Create (and send) the referral a transaction Bundle describes; the transaction-response."""
    try:
        raw: Any = json.loads(body)
    except ValueError:
        raise FhirError(400, "the body is not JSON", expression="Bundle") from None
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        raise FhirError(
            400, "POST to the base takes a Bundle of type 'transaction'", expression="resourceType"
        )
    tx = read_transaction(raw)
    actor = _acting(rt, p, tx.origin_id)
    key = _key(idempotency_key, tx)
    where = {kind: tx.order.index(kind) for kind in set(tx.order)}
    with rt.sessions() as db:
        if tx.if_none_exist is not None and idempotency_key is None:
            prior = db.scalar(
                select(Referral).where(Referral.origin_id == tx.origin_id, Referral.idempotency_key == key)
            )
            if prior is not None:
                return answer(prior, tx.order, created=False)
        try:
            res = creation.create(rt, db, actor, tx.letter, idempotency_key=key, send=tx.send)
        except InputError as exc:
            raise OutcomeError(
                [Issue("invalid", f"{exc.field}: {exc}", expression_of(exc.field, where))]
            ) from None
        db.commit()
        return answer(res.referral, tx.order, created=res.created)
