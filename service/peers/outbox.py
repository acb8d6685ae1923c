"""The outbox: referrals handed to another rujuk deployment, and their answers brought back.

A referral sent (or redirected) to a facility of a peer gets a ``Delivery`` row in the same
transaction as the send (``service.referrals.store``). Every ``delivery_interval_s`` each
worker claims due rows one at a time (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two workers
never work the same row) and:

- **pending**: POSTs the letter as a FHIR transaction Bundle to the peer's ``/fhir/R4``, with an
  ``Idempotency-Key`` of this delivery, so a retry after a lost answer finds the referral made
  the first time rather than making a second. The other side down, slow or failing (network
  error, 408, 429, 5xx): retried, waiting twice as long each time, up to
  ``delivery_backoff_max_s``; the sender sees "waiting to be delivered" and why. The other side
  refusing the letter (4xx: its rule pack, a facility it does not know, a sign-in refused):
  ``refused``, with its words, for the sender to choose another destination.
- **delivered**: reads the referral's ``Task`` there, and applies here what its receiver did
  (accepted, declined with the reason, arrived, completed), recorded without a local actor.
- a delivered referral redirected or cancelled here: cancels it there
  (``POST /api/referrals/{id}/cancel``, as its sender).

Nothing of the patient is logged (only the referral id, the peer, HTTP statuses).
Blocking (database, HTTP): run from a worker thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from service.audit import audit
from service.database import Delivery, Referral
from service.fhir.systems import MEDIA_TYPE
from service.fhir.transaction import letter_bundle
from service.referrals import store
from service.referrals.creation import terms
from service.referrals.lifecycle import RULES, Action, Side, Status
from service.referrals.views import referral_json

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.orm import Session

    from service.peers.config import Peer
    from service.runtime import Runtime

log = logging.getLogger(__name__)

#: a remote state, and the actions that bring the referral here to it (each applied if allowed)
_CATCH_UP: dict[str, tuple[Action, ...]] = {
    Status.ACCEPTED.value: (Action.ACCEPT,),
    Status.DECLINED.value: (Action.DECLINE,),
    Status.DISPATCHED.value: (Action.ACCEPT,),
    Status.IN_TRANSIT.value: (Action.ACCEPT,),
    Status.ARRIVED.value: (Action.ACCEPT, Action.ARRIVE),
    Status.COMPLETED.value: (Action.ACCEPT, Action.ARRIVE, Action.COMPLETE),
}
#: remote states after which there is nothing more to follow
_FINAL = frozenset({Status.COMPLETED.value, Status.CANCELLED.value})
#: answers worth trying again later (the other side busy or failing, not refusing)
_TRANSIENT = frozenset({408, 425, 429})
#: rows worked per tick and worker (the rest wait for the next tick)
BATCH = 50


class PeerError(Exception):
    """A delivery step that did not work: what kind (``Delivery.problem``) and the detail."""

    def __init__(self, problem: str, detail: str) -> None:
        self.problem = problem
        super().__init__(detail)


class PeerUnavailableError(PeerError):
    """The other side could not be reached (``unreachable``) or failed (``failing``): try again later."""


class PeerRefusedError(PeerError):
    """The other side refused, for good (``sign_in``, ``refused``): its status and words."""


def _http_error() -> type[Exception]:
    """Httpx's base error, imported with the client (see ``delivery_loop``)."""
    import httpx  # noqa: PLC0415

    return httpx.HTTPError


@dataclass
class PeerClient:
    """HTTP to one peer, signed in as the account it gave this deployment (the token kept)."""

    peer: Peer
    http: httpx.Client
    token: str | None = field(default=None, repr=False)

    def _sign_in(self) -> str:
        try:
            r = self.http.post(
                f"{self.peer.url}/api/token",
                data={"username": self.peer.username, "password": self.peer.password()},
                timeout=self.peer.timeout_s,
            )
        except _http_error() as exc:
            raise PeerUnavailableError("unreachable", f"sign-in: {type(exc).__name__}") from None
        if r.status_code != 200:
            _raise_for(r, "sign-in", problem="sign_in")
        self.token = str(r.json()["access_token"])
        return self.token

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:  # noqa: ANN401
        """A request to the peer, signing in (again) when its token is missing or expired."""
        for attempt in range(2):
            token = self.token or self._sign_in()
            try:
                r = self.http.request(
                    method,
                    f"{self.peer.url}{path}",
                    timeout=self.peer.timeout_s,
                    headers={"Authorization": f"Bearer {token}", **kw.pop("headers", {})},
                    **kw,
                )
            except _http_error() as exc:
                raise PeerUnavailableError(
                    "unreachable", f"{method} {path.split('?', maxsplit=1)[0]}: {type(exc).__name__}"
                ) from None
            if r.status_code == 401 and attempt == 0:
                self.token = None
                continue
            return r
        return r


def _words(r: httpx.Response) -> str:
    """The other side's reason (an OperationOutcome's diagnostics, or the JSON API's detail)."""
    try:
        body = r.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return "; ".join(
            f"{', '.join(i.get('expression') or [])}: {i.get('diagnostics', '')}".lstrip(": ")
            for i in body.get("issue") or ()
        )[:1000]
    return str(body.get("detail", ""))[:1000] if isinstance(body, dict) else ""


def _raise_for(r: httpx.Response, what: str, *, problem: str = "refused") -> None:
    if r.status_code >= 500 or r.status_code in _TRANSIENT:
        raise PeerUnavailableError("failing", f"{what}: HTTP {r.status_code}")
    raise PeerRefusedError(problem, f"{what}: HTTP {r.status_code} {_words(r)}".strip())


def _backoff(rt: Runtime, attempts: int) -> dt.timedelta:
    s = rt.settings
    return dt.timedelta(seconds=min(s.delivery_backoff_max_s, s.delivery_interval_s * 2 ** min(attempts, 30)))


def _deliver(rt: Runtime, s: Session, d: Delivery, r: Referral, client: PeerClient) -> None:
    letter = referral_json(r, with_patient=True)
    bundle = letter_bundle(letter, origin_id=r.origin_id, send=True)
    res = client.request(
        "POST",
        "/fhir/R4",
        json=bundle,
        headers={"Content-Type": MEDIA_TYPE, "Idempotency-Key": f"{r.id}.{d.id}"},
    )
    if res.status_code not in {200, 201}:
        _raise_for(res, "delivery")
    locations = [str((e.get("response") or {}).get("location", "")) for e in res.json().get("entry") or ()]
    remote = next((loc.split("/")[1] for loc in locations if loc.startswith("ServiceRequest/")), None)
    if remote is None:
        raise PeerRefusedError("refused", "delivery: the answer names no ServiceRequest")
    d.remote_id, d.state, d.last_error, d.problem = remote, "delivered", "", None
    audit(
        s,
        actor=None,
        action="referral.delivered",
        entity="referral",
        entity_id=r.id,
        now=rt.clock(),
        peer=d.peer,
        destination=d.destination_id,
        attempts=d.attempts + 1,
    )


def _follow(rt: Runtime, s: Session, d: Delivery, r: Referral, client: PeerClient) -> None:
    """Read the Task there; apply here what the receiver did there."""
    res = client.request("GET", f"/fhir/R4/Task/{d.remote_id}")
    if res.status_code != 200:
        _raise_for(res, "status")
    task = res.json()
    codes = (task.get("businessStatus") or {}).get("coding") or [{}]
    remote = str(codes[0].get("code", ""))
    d.remote_status = remote
    reason = str((task.get("statusReason") or {}).get("text") or "")
    for action in _CATCH_UP.get(remote, ()):
        if Status(r.status) not in RULES[action].sources or r.destination_id != d.destination_id:
            continue
        note = reason if action is Action.DECLINE else f"melalui rujuk {d.peer}"
        store.act(
            s,
            None,
            r,
            action,
            now=rt.clock(),
            terms=terms(rt),
            note=note or "ditolak (tanpa alasan)",
            sides=frozenset({Side.RECEIVER}),
        )
        log.info("referral %s: %s at peer %s", r.id, action.value, d.peer)


def _withdraw(rt: Runtime, s: Session, d: Delivery, r: Referral, client: PeerClient) -> None:
    """Tell the other side the referral was redirected or cancelled here."""
    note = "dialihkan" if r.status != Status.CANCELLED.value else "dibatalkan"
    res = client.request(
        "POST", f"/api/referrals/{d.remote_id}/cancel", json={"note": f"{note} oleh pengirim"}
    )
    if res.status_code not in {200, 409}:  # 409: it is already over there
        _raise_for(res, "cancel")
    d.cancel_pending, d.state = False, "withdrawn"
    audit(
        s,
        actor=None,
        action="referral.withdrawn",
        entity="referral",
        entity_id=r.id,
        now=rt.clock(),
        peer=d.peer,
        destination=d.destination_id,
    )


def _claim(rt: Runtime, s: Session, skip: set[int]) -> Delivery | None:
    now = rt.clock()
    q = (
        select(Delivery)
        .where(
            Delivery.state.in_(store.OPEN_DELIVERY) | Delivery.cancel_pending,
            Delivery.next_attempt_at <= now,
            Delivery.id.not_in(skip) if skip else Delivery.id.is_not(None),
        )
        .order_by(Delivery.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return s.scalars(q).first()


def work_one(
    rt: Runtime, s: Session, d: Delivery, clients: dict[str, PeerClient], http: httpx.Client
) -> None:
    """One step of one delivery: deliver, follow or withdraw; the next attempt's time set."""
    now = rt.clock()
    peer = rt.peers.peer(d.peer) if rt.peers is not None else None
    r = s.get(Referral, d.referral_id)
    if peer is None or r is None:
        d.state, d.cancel_pending, d.last_error = "refused", False, f"peer {d.peer!r} is no longer configured"
        d.updated_at = now
        return
    client = clients.setdefault(peer.name, PeerClient(peer, http))
    try:
        if d.cancel_pending:
            _withdraw(rt, s, d, r, client)
        elif d.state == "pending":
            _deliver(rt, s, d, r, client)
        else:
            _follow(rt, s, d, r, client)
        d.next_attempt_at = now + dt.timedelta(seconds=rt.settings.delivery_interval_s)
        if d.state == "delivered" and (d.remote_status in _FINAL or r.status in _FINAL):
            d.state = "done"
    except PeerUnavailableError as exc:
        d.attempts += d.state == "pending"
        d.last_error, d.problem = str(exc), exc.problem
        d.next_attempt_at = now + _backoff(rt, d.attempts)
        log.warning("referral %s: peer %s unavailable (%s)", r.id, d.peer, exc)
    except PeerRefusedError as exc:
        if d.state == "pending":
            d.attempts += 1
            d.state = "refused"
            audit(
                s,
                actor=None,
                action="referral.delivery_refused",
                entity="referral",
                entity_id=r.id,
                now=now,
                peer=d.peer,
                destination=d.destination_id,
            )
        d.last_error, d.problem = str(exc), exc.problem
        d.next_attempt_at = now + _backoff(rt, d.attempts + 2)
        log.warning("referral %s: peer %s refused (%s)", r.id, d.peer, str(exc).split(" ", 3)[:3])
    d.updated_at = now


def outbox_tick(rt: Runtime, http: httpx.Client, clients: dict[str, PeerClient]) -> int:
    """Work the due deliveries (at most ``BATCH``), each in its own transaction; how many."""
    done: set[int] = set()
    while len(done) < BATCH:
        with rt.sessions() as s:
            d = _claim(rt, s, done)
            if d is None:
                return len(done)
            done.add(d.id)
            work_one(rt, s, d, clients, http)
            s.commit()
    return len(done)


async def delivery_loop(rt: Runtime) -> None:
    """Every ``delivery_interval_s``, when there are peers; survives a database or network hiccup."""
    if rt.peers is None or not rt.peers.peers:
        return
    import httpx  # noqa: PLC0415 (only a deployment with peers needs it: 40 ms of every start)

    clients: dict[str, PeerClient] = {}
    with httpx.Client(follow_redirects=False) as http:
        while True:
            await asyncio.sleep(rt.settings.delivery_interval_s)
            try:
                await run_in_threadpool(outbox_tick, rt, http, clients)
            except Exception:  # the loop must survive a database hiccup
                log.exception("outbox tick failed")
