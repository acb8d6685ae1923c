"""The request dependencies every route module uses, defined once.

Sign-in is one plain dependency (``principal`` or ``require``), not FastAPI's security classes:
each dependency costs about ten microseconds, and every authenticated request would pay for
four. ``service.app`` names the OAuth2 password flow in the OpenAPI document on every operation
that depends on them (the ``needs_sign_in`` mark).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service.auth import Principal, Role, TokenError, read_token
from service.database import Referral
from service.errors import ForbiddenError, UnauthorizedError
from service.referrals.queries import get_referral
from service.runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

#: The OAuth2 password-flow scheme named in the OpenAPI document.
SECURITY_SCHEME = "OAuth2PasswordBearer"


async def runtime(request: Request) -> Runtime:
    """The runtime of the app serving this request."""
    rt: Runtime = request.app.state.runtime
    return rt


Rt = Annotated[Runtime, Depends(runtime)]


async def session(rt: Rt) -> AsyncIterator[Session]:
    """One session per request; rolled back if the request fails before committing.

    An async dependency on purpose: making a Session does no I/O (it connects lazily, inside the
    endpoint's worker thread), and a sync generator dependency would cost two thread hops.
    """
    s = rt.sessions()
    try:
        yield s
    finally:
        s.close()


def authenticate(rt: Runtime, authorization: str | None) -> Principal:
    """The user of an ``Authorization: Bearer`` header (401 without a valid, unexpired token).

    A signature is checked once per token; the verified principal is cached until it expires.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("sign in first (Bearer token)")
    now = rt.clock()
    hit = rt.token_cache.get(token)
    if hit is not None and hit[1] > now.timestamp():
        return hit[0]
    try:
        p, expires = read_token(token, key=rt.secret, now=now)
    except TokenError as exc:
        raise UnauthorizedError(f"invalid token: {exc}") from None
    if len(rt.token_cache) > 10_000:
        rt.token_cache.clear()
    rt.token_cache[token] = (p, float(expires))
    return p


def check_role(p: Principal, *roles: Role) -> None:
    """403 unless the user holds one of ``roles`` (admins always may)."""
    if not (p.is_admin or p.has(*roles)):
        raise ForbiddenError(f"needs the role {' or '.join(r.value for r in roles)}")


def own_facility(p: Principal, facility_id: str) -> None:
    """403 unless the user is staff of this facility (or an admin)."""
    if not p.is_admin and p.facility_id != facility_id:
        raise ForbiddenError("only this facility's own staff may do this")


async def principal(request: Request) -> Principal:
    """The signed-in user (async: a cached token check takes microseconds, a thread hop more)."""
    return authenticate(request.app.state.runtime, request.headers.get("authorization"))


principal.needs_sign_in = True  # type: ignore[attr-defined]


def require(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting users with any of ``roles`` (admins always)."""

    async def dep(request: Request) -> Principal:
        p = authenticate(request.app.state.runtime, request.headers.get("authorization"))
        check_role(p, *roles)
        return p

    dep.needs_sign_in = True  # type: ignore[attr-defined]  # read by service.app's OpenAPI
    return dep


Db = Annotated[Session, Depends(session)]
AnyUser = Annotated[Principal, Depends(principal)]
Staff = Annotated[Principal, Depends(require(Role.REFERRER, Role.RECEIVER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Dispatcher = Annotated[Principal, Depends(require(Role.DISPATCHER))]
Planner = Annotated[Principal, Depends(require(Role.PLANNER))]


def current_referral(referral_id: str, db: Db, p: AnyUser) -> Referral:
    """The referral named in the path, if the caller may read it (404 otherwise: no hint it exists)."""
    return get_referral(db, p, referral_id)


CurrentReferral = Annotated[Referral, Depends(current_referral)]
