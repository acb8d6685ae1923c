"""The referral lifecycle (SPEC section 1, Pasal 16-20): states, transitions and who may make them.

Pure: no storage; its errors are the service's (409, 403). ``transition`` says whether an
action is allowed from a state for an actor's side of the referral, and what the new state is;
the store applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from service.errors import ForbiddenError, TransitionError


class Status(StrEnum):
    """Where a referral is."""

    CREATED = "created"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    DISPATCHED = "dispatched"
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Action(StrEnum):
    """What someone does to a referral."""

    SEND = "send"
    ACCEPT = "accept"
    DECLINE = "decline"
    REDIRECT = "redirect"  # the sender asks another facility (after a decline or an escalation)
    DISPATCH = "dispatch"
    DEPART = "depart"  # in transit
    ARRIVE = "arrive"  # arrived / handed over
    RELEASE = "release"  # the ambulance was taken off before the patient was aboard: wait for another
    COMPLETE = "complete"
    CANCEL = "cancel"


class Side(StrEnum):
    """The actor's relation to the referral."""

    SENDER = "sender"  # staff of the origin facility
    RECEIVER = "receiver"  # staff of the destination facility
    DISPATCHER = "dispatcher"


@dataclass(frozen=True, slots=True)
class Rule:
    """From these states, these sides may take the action, reaching ``to``."""

    sources: frozenset[Status]
    sides: frozenset[Side]
    to: Status


_S, _R, _D = Side.SENDER, Side.RECEIVER, Side.DISPATCHER
RULES: dict[Action, Rule] = {
    Action.SEND: Rule(frozenset({Status.CREATED}), frozenset({_S}), Status.SENT),
    Action.ACCEPT: Rule(frozenset({Status.SENT}), frozenset({_R}), Status.ACCEPTED),
    Action.DECLINE: Rule(frozenset({Status.SENT}), frozenset({_R}), Status.DECLINED),
    Action.REDIRECT: Rule(frozenset({Status.SENT, Status.DECLINED}), frozenset({_S}), Status.SENT),
    Action.DISPATCH: Rule(frozenset({Status.ACCEPTED}), frozenset({_S, _D}), Status.DISPATCHED),
    Action.DEPART: Rule(
        frozenset({Status.ACCEPTED, Status.DISPATCHED}), frozenset({_S, _D}), Status.IN_TRANSIT
    ),
    Action.ARRIVE: Rule(
        frozenset({Status.ACCEPTED, Status.DISPATCHED, Status.IN_TRANSIT}),
        frozenset({_R, _D}),
        Status.ARRIVED,
    ),
    Action.RELEASE: Rule(frozenset({Status.DISPATCHED}), frozenset({_D}), Status.ACCEPTED),
    Action.COMPLETE: Rule(frozenset({Status.ARRIVED}), frozenset({_R}), Status.COMPLETED),
    Action.CANCEL: Rule(
        frozenset({Status.CREATED, Status.SENT, Status.DECLINED, Status.ACCEPTED}),
        frozenset({_S}),
        Status.CANCELLED,
    ),
}

#: States in which the receiver sees the referral in its inbox.
VISIBLE_TO_RECEIVER = frozenset(Status) - {Status.CREATED}


def transition(action: Action, status: Status, sides: frozenset[Side], *, outpatient: bool = False) -> Status:
    """The state after ``action``; raises TransitionError (409) or ForbiddenError (403).

    An outpatient referral needs no acceptance (Pasal 16(3), 18(3)): sending it makes it accepted.
    """
    rule = RULES[action]
    if not sides & rule.sides:
        msg = f"only the {' or '.join(sorted(s.value for s in rule.sides))} may {action.value} a referral"
        raise ForbiddenError(msg)
    if status not in rule.sources:
        raise TransitionError(f"cannot {action.value} a referral that is {status.value}")
    if outpatient and rule.to is Status.SENT:
        return Status.ACCEPTED
    return rule.to
