"""Random lifecycles, and after every step every principal on every route that returns referral data.

``test_visibility.py`` walks nine fixed lifecycles; this Hypothesis state machine walks random
ones. It creates referrals (each with an attachment from its sender) from Puskesmas and hospitals
to hospitals, then has random principals, right and wrong ones, send, accept, decline, redirect,
dispatch, depart, arrive, complete, cancel and attach. A wrong actor gets exactly the 4xx it is
owed (404 when it may not read the referral, 403 when the action is not its side's, 409 when the
state does not allow it, 422 for a redirect to nowhere) and the referral stays as it was, byte for
byte; nothing ever answers a 5xx.

The model is written from what actually happened (only successful actions change it): where the
referral went, which facilities it was sent to, whether it was ever accepted. After every step an
invariant compares with the rule of docs/security.md "Who may see what", computed from the model
and not from the columns the service reads:

- every principal's inbox, outbox, transport list and live feed;
- every referral as every principal (the referral, its events, letter, attachment list and
  download), each time anything happened to it. In between, the admin's view of it (referral,
  events, attachments) must stay byte for byte the same: nothing else can change what anyone sees
  of it, and checking it anew after every step would take minutes.

Reads go through an ASGI client on the app's own event loop (a third of the TestClient's cost).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.service.conftest import Api, create, letter_body

#: the principals checked (those of test_visibility) and their facilities
PRINCIPALS = ("admin", "segarau", "pemangkat", "sambas", "tebas", "dispatch", "planner")
FACILITY = {"segarau": "PKM-SEGARAU", "tebas": "PKM-TEBAS", "pemangkat": "6101033", "sambas": "6101022"}
#: staff holding the receiver role (all facility staff may refer)
RECEIVER_ROLE = frozenset({"pemangkat", "sambas"})
#: who creates referrals, and to where
ROUTES = tuple((who, to) for who in ("segarau", "tebas", "pemangkat", "sambas")
               for to in ("6101033", "6101022") if FACILITY[who] != to)  # fmt: skip
#: where a redirect may be aimed (a Puskesmas is no receiving facility: 422)
REDIRECT_TARGETS = ("6101033", "6101022", "PKM-TEBAS", "PKM-SEGARAU")

#: the lifecycle (SPEC section 1), written out here rather than read from the service:
#: action -> (from these states, by these sides, to this state)
LIFECYCLE: dict[str, tuple[frozenset[str], frozenset[str], str]] = {
    "send": (frozenset({"created"}), frozenset({"sender"}), "sent"),
    "accept": (frozenset({"sent"}), frozenset({"receiver"}), "accepted"),
    "decline": (frozenset({"sent"}), frozenset({"receiver"}), "declined"),
    "redirect": (frozenset({"sent", "declined"}), frozenset({"sender"}), "sent"),
    "dispatch": (frozenset({"accepted"}), frozenset({"sender", "dispatcher"}), "dispatched"),
    "depart": (frozenset({"accepted", "dispatched"}), frozenset({"sender", "dispatcher"}), "in_transit"),
    "arrive": (
        frozenset({"accepted", "dispatched", "in_transit"}),
        frozenset({"receiver", "dispatcher"}),
        "arrived",
    ),
    "complete": (frozenset({"arrived"}), frozenset({"receiver"}), "completed"),
    "cancel": (frozenset({"created", "sent", "declined", "accepted"}), frozenset({"sender"}), "cancelled"),
}
#: referrals needing transport: the dispatchers' list
NEEDS_TRANSPORT = frozenset({"accepted", "dispatched", "in_transit"})
#: the patient's identity in letter_body() and the attachment: never shown to those who may not see it
IDENTITY = ("6101014107980001", "Siti Contoh", "RM-000123", "081234567890", "0001234567890", "Segarau Parit")
ATTACHMENT = b"Hb 6,1 NIK 6101014107980001"
#: a referral that does not exist: what may not be read is answered exactly like it
GHOST = str(uuid.UUID(int=0))
#: referrals per example; also the lists' page: newest first, so this example's are all on it
MAX_REFERRALS = 3
#: the single-referral routes: (path suffix, shows the patient's data); {a} is its first attachment
ROUTES_OF_ONE = (("", False), ("/events", False), ("/letter", True), ("/attachments", True),
                 ("/attachments/{a}", True))  # fmt: skip


@dataclass
class Ref:
    """What happened to one referral, as the test saw it."""

    id: str
    origin: str
    destination: str
    outpatient: bool
    attachments: list[int]
    status: str = "created"
    sent_to: set[str] = field(default_factory=set)
    accepted: bool = False
    version: int = 1
    events: int = 1

    def state(self) -> tuple[Any, ...]:
        return (self.status, self.destination, frozenset(self.sent_to), self.accepted, self.version,
                tuple(self.attachments))  # fmt: skip


def sides(who: str, r: Ref) -> frozenset[str]:
    """The principal's relation to the referral, from the model."""
    out = set()
    fac = FACILITY.get(who)
    if fac is not None and fac == r.origin:
        out.add("sender")
    if who in RECEIVER_ROLE and fac == r.destination and fac in r.sent_to:
        out.add("receiver")
    if who == "dispatch":
        out.add("dispatcher")
    return frozenset(out)


def sees(who: str, r: Ref) -> tuple[bool, bool]:
    """(may read it, may see the patient, the letter and the attachments)."""
    if who == "admin":
        return True, True
    s = sides(who, r)
    if s & {"sender", "receiver"}:
        return True, True
    fac = FACILITY.get(who)
    if who in RECEIVER_ROLE and fac in r.sent_to and fac != r.destination:
        return True, False  # sent here once, gone elsewhere since: a trace without the patient
    return ("dispatcher" in s and r.accepted), False


def outcome(who: str, r: Ref, action: str, target: str | None, receiving: frozenset[str]) -> tuple[int, str]:
    """The answer the API owes this actor for this action, and the state after it."""
    if not sees(who, r)[0]:
        return 404, r.status
    sources, allowed, to = LIFECYCLE[action]
    if not sides(who, r) & allowed:
        return 403, r.status
    if r.status not in sources:
        return 409, r.status
    if action == "redirect" and (
        target not in receiving or target == r.origin or (target == r.destination and r.status == "declined")
    ):
        return 422, r.status
    if r.outpatient and to == "sent":  # Pasal 16(3): an outpatient referral needs no acceptance
        to = "accepted"
    return 200, to


def box_url(box: str) -> str:
    return f"/api/referrals?box={box}&limit={MAX_REFERRALS}"


def no_identity(text: str, *where: object) -> None:
    for s in IDENTITY:
        assert s not in text, (*where, "patient identity shown", s)


class Lifecycles(RuleBasedStateMachine):
    """The referrals of one example (the module's database holds earlier examples' too)."""

    api: Api
    #: (principal, path of a referral that does not exist) -> the answer
    ghosts: dict[tuple[str, str], httpx.Response]

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[Ref] = []
        #: per referral: the model's state when every principal last checked it, and the admin's view
        self.checked: dict[str, tuple[tuple[Any, ...], list[str]]] = {}
        self.roles_checked = False
        self.receiving = self.api.rt.receiving_ids
        # the live feed is read from here on: earlier examples' events are not this one's
        (head,) = self.fetch([("admin", "/api/events/stream?timeout_s=0.000001")])
        start = int(head.text.split(": connected after ")[1].split()[0])
        #: the feed since then, as one poll (the smallest timeout: no second poll half a second later)
        self.feed = f"/api/events/stream?after={start}&timeout_s=0.000001"

    def fetch(self, reqs: list[tuple[str, str]]) -> list[httpx.Response]:
        """GET each (principal, path), in order, on the app's event loop."""
        headers = {who: self.api.h(who) for who in {w for w, _ in reqs}}

        async def run() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=self.api.client.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return [await c.get(path, headers=headers[who]) for who, path in reqs]

        portal = self.api.client.portal
        assert portal is not None
        out = portal.call(run)
        for (who, path), r in zip(reqs, out, strict=True):
            assert r.status_code < 500, (who, path, r.status_code, r.text[:300])
        return out

    # ------------------------------------------------------------------------------ the walk

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """Create a referral (now and then), or act on one: mostly a move forward, else anything."""
        kinds = (
            ["forward"] * 6
            + ["any"] * 2
            + ["cancel"]
            + (["create"] if len(self.refs) < MAX_REFERRALS else [])
        )
        kind = data.draw(st.sampled_from(kinds), label="step") if self.refs else "create"
        if kind == "create":
            creator, destination = data.draw(st.sampled_from(ROUTES), label="from, to")
            outpatient = data.draw(st.sampled_from((False, False, False, True)), label="outpatient")
            self._create(creator, destination, outpatient=outpatient)
            return
        ref = data.draw(st.sampled_from(self.refs), label="referral")
        moves = [
            (a, who, t)
            for a in LIFECYCLE
            for who in reversed(PRINCIPALS)  # the dispatcher before the facilities: both may, it is rarer
            for t in (REDIRECT_TARGETS if a == "redirect" else (None,))
            if outcome(who, ref, a, t, self.receiving)[0] == 200 and (a == "cancel") is (kind == "cancel")
        ]
        if kind != "any" and moves:  # an action the model says is allowed, by someone allowed to
            action = data.draw(
                st.sampled_from([a for a in LIFECYCLE if any(m[0] == a for m in moves)]), label="action"
            )
            who, target = data.draw(
                st.sampled_from([(w, t) for a, w, t in moves if a == action]), label="by, to"
            )
        else:  # anything by anyone, mostly refused
            action = data.draw(st.sampled_from([*LIFECYCLE, "attach"]), label="action")
            who = data.draw(st.sampled_from(PRINCIPALS), label="by")
            target = (
                data.draw(st.sampled_from(REDIRECT_TARGETS), label="to") if action == "redirect" else None
            )
        if action == "attach":
            self._attach(ref, who)
        else:
            self._act(ref, action, who, target)

    def _create(self, creator: str, destination: str, *, outpatient: bool) -> None:
        self.api.clock.advance(seconds=1)  # the lists are newest first: this example's come first
        over: dict[str, Any] = {"destination_id": destination}
        if outpatient:
            over |= {"service_type": "rawat_jalan", "emergency": False}
        r = create(self.api, creator, body=letter_body(now=self.api.clock.now, **over))
        assert r.status_code == 201, r.text
        ref = Ref(r.json()["id"], FACILITY[creator], destination, outpatient, [])
        self.refs.append(ref)
        self._attach(ref, creator)
        assert ref.attachments, "the sender attaches a result to a new referral"

    def _act(self, ref: Ref, action: str, who: str, target: str | None) -> None:
        want, to = outcome(who, ref, action, target, self.receiving)
        body: dict[str, Any] | None = None
        if action == "decline":
            body = {"reason": "ICU penuh"}
        elif action == "redirect":
            body = {"destination_id": target}
        r = self.api.post(f"/api/referrals/{ref.id}/{action}", who, json=body)
        where = (who, action, target, ref.status, r.text[:300])
        assert r.status_code == want, (r.status_code, *where)
        if not sees(who, ref)[1]:
            no_identity(r.text, "the answer to an action", *where)
        if want != 200:
            return
        if action == "redirect":
            assert target is not None
            ref.destination = target
        if action in ("send", "redirect"):
            ref.sent_to.add(ref.destination)
        ref.accepted |= to == "accepted"
        ref.status = to
        ref.version += 1
        ref.events += 1
        got = r.json()
        assert (got["status"], got["destination_id"], got["version"]) == (to, ref.destination, ref.version), (
            where
        )
        assert ("patient" in got) is sees(who, ref)[1], ("the answer to an action", *where)

    def _attach(self, ref: Ref, who: str) -> None:
        if not sees(who, ref)[0]:
            want = 404
        elif "sender" not in sides(who, ref):
            want = 403
        elif ref.status in ("completed", "cancelled"):
            want = 409
        else:
            want = 201
        r = self.api.post(f"/api/referrals/{ref.id}/attachments", who,
                          files={"file": ("lab.txt", ATTACHMENT, "text/plain")}, data={"kind": "lab"})  # fmt: skip
        assert r.status_code == want, (who, "attach", ref.status, r.status_code, r.text[:300])
        if want == 201:
            ref.attachments.append(r.json()["id"])
        elif not sees(who, ref)[1]:
            no_identity(r.text, who, "attach")

    # ------------------------------------------------------------------------------ the rule

    @invariant()
    def every_principal_sees_what_the_rule_allows(self) -> None:
        if not self.refs:
            return
        reqs: list[tuple[str, str]] = []
        full = {ref.id for ref in self.refs if self.checked.get(ref.id, ((),))[0] != ref.state()}
        for ref in self.refs:
            urls = self._urls(ref)
            reqs += (
                [(who, u) for who in PRINCIPALS for u in urls]
                if ref.id in full
                else [("admin", u) for u in self._stable(ref)]
            )
            if ref.id in full and len(self.refs) > 1:  # another referral's attachment, through this one
                other = next(o for o in self.refs if o is not ref).attachments[0]
                reqs += [(who, f"/api/referrals/{ref.id}/attachments/{other}") for who in PRINCIPALS]
        for who in PRINCIPALS:
            reqs += [(who, box_url(box)) for box in self._boxes(who)]
            reqs.append((who, self.feed))
        got = dict(zip(reqs, self.fetch(reqs), strict=True))
        for ref in self.refs:
            urls = self._urls(ref)
            if ref.id in full:
                for who in PRINCIPALS:
                    self._check_referral(who, ref, [got[who, u] for u in urls])
                self.checked[ref.id] = (ref.state(), [got["admin", u].text for u in self._stable(ref)])
                self._check_foreign_attachment(ref, got)
            else:  # nothing happened to it: not a byte of it changed
                assert [got["admin", u].text for u in self._stable(ref)] == self.checked[ref.id][1], (
                    "changed though no action on it succeeded",
                    ref,
                )
        for who in PRINCIPALS:
            self._check_boxes(who, {box: got[who, box_url(box)] for box in self._boxes(who)})
            self._check_feed(who, got[who, self.feed])
        self.roles_checked = True

    @staticmethod
    def _urls(ref: Ref) -> list[str]:
        return [f"/api/referrals/{ref.id}{sfx.format(a=ref.attachments[0])}" for sfx, _ in ROUTES_OF_ONE]

    @staticmethod
    def _stable(ref: Ref) -> list[str]:
        """What stays byte for byte the same while nothing happens (the letter shows when it was printed)."""
        return [f"/api/referrals/{ref.id}{sfx}" for sfx in ("", "/events", "/attachments")]

    def _boxes(self, who: str) -> list[str]:
        """The lists to read: those the role may read, and (once) those it may not."""
        return [
            box
            for box in ("inbox", "outbox", "transport")
            if self._may_list(who, box) or not self.roles_checked
        ]

    @staticmethod
    def _may_list(who: str, box: str) -> bool:
        if who == "admin":
            return True
        return who == "dispatch" if box == "transport" else who in FACILITY

    def _hidden(self, who: str, path: str, ref: Ref, got: httpx.Response) -> None:
        """404, byte for byte as for a referral that does not exist."""
        key = (who, path.replace(ref.id, GHOST))
        if key not in self.ghosts:
            (self.ghosts[key],) = self.fetch([key])
        ghost = self.ghosts[key]
        assert ghost.status_code == 404, key
        assert (got.status_code, got.text) == (404, ghost.text.replace(GHOST, ref.id)), (
            who, path, got.status_code, ref,
        )  # fmt: skip

    def _check_referral(self, who: str, ref: Ref, got: list[httpx.Response]) -> None:
        read, patient = sees(who, ref)
        where = (who, ref)
        for (sfx, private), g, path in zip(ROUTES_OF_ONE, got, self._urls(ref), strict=True):
            if patient if private else read:
                assert g.status_code == 200, (g.status_code, sfx, *where)
            else:
                self._hidden(who, path, ref, g)
        if read:
            j = got[0].json()
            assert (j["status"], j["destination_id"], j["version"]) == (
                ref.status,
                ref.destination,
                ref.version,
            )
            assert ("patient" in j) is patient, where
            events = got[1].json()
            assert (len(events), events[-1]["to"]) == (ref.events, ref.status), ("events", *where)
        if patient:
            assert [a["id"] for a in got[3].json()] == ref.attachments, where
            assert got[4].content == ATTACHMENT, where
        else:
            no_identity("".join(g.text for g in got), *where)

    def _check_foreign_attachment(self, ref: Ref, got: dict[tuple[str, str], httpx.Response]) -> None:
        if len(self.refs) < 2:
            return
        other = next(o for o in self.refs if o is not ref).attachments[0]
        for who in PRINCIPALS:
            r = got[who, f"/api/referrals/{ref.id}/attachments/{other}"]
            assert r.status_code == 404, (who, "another referral's attachment", ref)
            no_identity(r.text, who, "another referral's attachment")

    def _check_boxes(self, who: str, got: dict[str, httpx.Response]) -> None:
        fac = FACILITY.get(who)
        for box, r in got.items():
            assert r.status_code == (200 if self._may_list(who, box) else 403), (who, box, r.status_code)
            if r.status_code != 200:
                continue
            rows = r.json()
            listed = {j["id"] for j in rows}
            for ref in self.refs:
                read, patient = sees(who, ref)
                where = (who, box, ref)
                if box == "transport":
                    assert ref.id not in listed or read, (*where, "listed without the right to read it")
                    assert (ref.id in listed) is (ref.status in NEEDS_TRANSPORT), where
                elif who == "admin":
                    assert ref.id in listed, where
                elif box == "outbox":
                    assert (ref.id in listed) is (fac == ref.origin), where
                else:
                    assert (ref.id in listed) is (fac in ref.sent_to), where  # a trace, once gone elsewhere
                    assert ref.id not in listed or patient is (fac == ref.destination), where
            if box == "transport":
                assert all("patient" not in j for j in rows), who
                no_identity(r.text, who, box)

    def _check_feed(self, who: str, r: httpx.Response) -> None:
        assert r.status_code == 200, (who, "feed", r.status_code)
        events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
        assert len(events) < 100, "one poll of the feed holds at most 100 events"
        no_identity(r.text, who, "feed")
        streamed = {e["referral_id"] for e in events}
        for ref in self.refs:
            # the facilities' feed; dispatchers follow the transport of what they may read (the
            # example's feed starts before the referral was made: its acceptance is in it)
            assert (ref.id in streamed) is sees(who, ref)[0], (who, "feed", ref)


def test_random_lifecycles_keep_the_visibility_rule(api: Api) -> None:
    class Machine(Lifecycles):
        pass

    Machine.api = api
    Machine.ghosts = {}
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: a failing walk is short already
        ),
    )
