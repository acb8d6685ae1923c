"""HTTP routes of push notifications: the server's key, and the signed-in user's subscriptions.

A browser subscribes with ``GET /api/push/key`` (the application server key) and posts what its
``pushManager.subscribe()`` gave; from then on the notices of the user's facility reach it with
the page closed (``service.notifications``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from service.deps import AnyUser, Db, Rt, Staff
from service.http import doc
from service.notifications import subscriptions
from service.notifications.schemas import PushKeyOut, PushSubscriptionIn, PushSubscriptionOut
from service.schemas import MAX_ROW_ID

router = APIRouter(prefix="/api/push", tags=["notifications"])


@router.get("/key", **doc(PushKeyOut, 401))
async def key(rt: Rt, _: AnyUser) -> dict[str, Any]:
    """The server's VAPID public key: the ``applicationServerKey`` of ``pushManager.subscribe()``."""
    notifier = rt.notifier
    assert notifier is not None  # made at start-up
    return {"public_key": notifier.public_key}


@router.post("/subscriptions", **doc(PushSubscriptionOut, 401, 403, status=201))
def subscribe(body: PushSubscriptionIn, rt: Rt, db: Db, p: Staff) -> dict[str, Any]:
    """Keep this browser's push subscription: the facility's notices reach it with the page closed.

    The body is the browser's ``PushSubscription.toJSON()``. Staff bound to a facility only. The
    endpoint must be an https URL of a push service; subscribing the same browser again updates it
    (another user's: it becomes this user's).
    """
    row = subscriptions.subscribe(
        db, p, body, now=rt.clock(), allow_insecure=rt.settings.push_allow_insecure_endpoints
    )
    db.commit()
    return subscriptions.subscription_json(row)


@router.get("/subscriptions", **doc(list[PushSubscriptionOut], 401, 403))
def list_subscriptions(db: Db, p: Staff) -> list[dict[str, Any]]:
    """The signed-in user's subscriptions, newest first."""
    return [subscriptions.subscription_json(r) for r in subscriptions.own(db, p)]


@router.delete("/subscriptions/{subscription_id}", **doc(PushSubscriptionOut, 401, 403, 404))
def unsubscribe(
    subscription_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], rt: Rt, db: Db, p: Staff
) -> dict[str, Any]:
    """Forget a subscription of the user's (an admin: anyone's): no more notices to that browser."""
    row = subscriptions.unsubscribe(db, p, subscription_id, now=rt.clock())
    db.commit()
    return subscriptions.subscription_json(row)
