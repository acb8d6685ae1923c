"""What one running service holds: settings, dataset, matcher, database, clock; and request deps.

Nothing here is state that only this process may hold: referrals, statuses, events and the
escalation schedule live in the database, so any number of workers can serve.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

from service.auth import Principal, Role, read_token

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from geodata.dataset import Dataset
    from service.matching import Matcher
    from service.settings import Settings


def utc_now() -> dt.datetime:
    """The real clock."""
    return dt.datetime.now(dt.UTC)


@dataclass
class Runtime:
    """The loaded service; tests may swap ``clock``."""

    settings: Settings
    dataset: Dataset
    matcher: Matcher
    engine: Engine
    sessions: sessionmaker[Any]
    secret: str
    clock: Callable[[], dt.datetime] = utc_now

    @property
    def receiving_ids(self) -> set[str]:
        """Facilities that receive referrals."""
        return {f.id for f in self.dataset.facilities if f.receiving}

    @property
    def facility_ids(self) -> set[str]:
        """Every facility id of the dataset."""
        return {f.id for f in self.dataset.facilities}


def runtime(request: Request) -> Runtime:
    """The runtime of the app serving this request."""
    rt: Runtime = request.app.state.runtime
    return rt


def session(rt: Annotated[Runtime, Depends(runtime)]) -> Iterator[Session]:
    """One session per request; rolled back if the request fails before committing."""
    with rt.sessions() as s:
        yield s


oauth2 = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)


def principal(
    rt: Annotated[Runtime, Depends(runtime)], token: Annotated[str | None, Depends(oauth2)]
) -> Principal:
    """The signed-in user (401 without a valid, unexpired token)."""
    if not token:
        raise HTTPException(
            401,
            {"type": "unauthorized", "detail": "sign in first (Bearer token)"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return read_token(token, key=rt.secret, now=rt.clock())
    except jwt.InvalidTokenError as exc:
        raise HTTPException(
            401,
            {"type": "unauthorized", "detail": f"invalid token: {exc}"},
            headers={"WWW-Authenticate": "Bearer"},
        ) from None


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting users with any of ``roles`` (admins always)."""

    def dep(p: Annotated[Principal, Depends(principal)]) -> Principal:
        if not (p.is_admin or p.has(*roles)):
            need = " or ".join(r.value for r in roles)
            raise HTTPException(403, {"type": "forbidden", "detail": f"needs the role {need}"})
        return p

    return dep


def own_facility(p: Principal, facility_id: str) -> None:
    """403 unless the user is staff of this facility (or an admin)."""
    if not p.is_admin and p.facility_id != facility_id:
        raise HTTPException(
            403, {"type": "forbidden", "detail": "only this facility's own staff may do this"}
        )
