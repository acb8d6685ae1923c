"""Accounts: create a user (argon2 hash, audited), check a password, the principal of a user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from service.audit import audit
from service.auth import (
    FACILITY_ROLES,
    Principal,
    Role,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from service.database import User
from service.errors import ConflictError, InputError

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Collection, Sequence

    from sqlalchemy.orm import Session


def create_user(
    s: Session,
    *,
    username: str,
    password: str,
    roles: Sequence[str],
    facility_id: str | None,
    known_facilities: Collection[str],
    actor: int | None,
    now: dt.datetime,
) -> User:
    """A new account; facility roles need a known facility."""
    problem = password_problem(password, username=username)
    if problem is not None:
        raise InputError("password", problem)
    rs = {Role(r) for r in roles}
    if Role.PEER in rs and (len(rs) > 1 or facility_id):
        raise InputError("roles", "a peer account (another rujuk deployment) has that role only, no facility")
    if rs & FACILITY_ROLES and not facility_id:
        raise InputError("facility_id", "referrer and receiver accounts must be bound to a facility")
    if facility_id is not None and facility_id not in known_facilities:
        raise InputError("facility_id", f"unknown facility {facility_id!r}", code="unknown_facility")
    if s.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"username {username!r} is taken")
    u = User(
        username=username,
        password_hash=hash_password(password),
        roles=sorted(r.value for r in rs),
        facility_id=facility_id,
        active=True,
        created_at=now,
    )
    s.add(u)
    s.flush()
    audit(
        s,
        actor=actor,
        action="user.create",
        entity="user",
        entity_id=str(u.id),
        now=now,
        username=username,
        roles=u.roles,
        facility=facility_id,
    )
    return u


def set_profile(
    s: Session, u: User, *, full_name: str, profession: str, actor: int | None, now: dt.datetime
) -> None:
    """The person behind an account, as the letters they write name them (audited)."""
    full_name, profession = " ".join(full_name.split()), " ".join(profession.split())
    if (u.full_name, u.profession) == (full_name, profession):
        return
    u.full_name, u.profession = full_name, profession
    audit(s, actor=actor, action="user.profile", entity="user", entity_id=str(u.id), now=now)


def profile_of(s: Session, user_id: int) -> tuple[str, str]:
    """An account's full name and profession ("", "" when not recorded)."""
    u = s.get(User, user_id)
    return (u.full_name, u.profession) if u is not None else ("", "")


def authenticate(s: Session, username: str, password: str) -> Principal | None:
    """The principal for these credentials, or None.

    A hash made with older parameters is redone with today's (the caller commits).
    """
    u = s.scalar(select(User).where(User.username == username))
    ok = verify_password(u.password_hash if u is not None else None, password)  # same time either way
    if u is None or not u.active or not ok:
        return None
    if needs_rehash(u.password_hash):
        u.password_hash = hash_password(password)
    return principal_of(u)


def record_failure(s: Session, username: str, *, client: str, now: dt.datetime) -> None:
    """Audit a refused sign-in (never the password)."""
    audit(s, actor=None, action="auth.fail", entity="user", entity_id=username[:64], now=now, client=client)


def record_lockout(s: Session, username: str, *, client: str, scope: str, now: dt.datetime) -> None:
    """Audit the start of a lockout (``scope``: the account or the client address)."""
    audit(
        s,
        actor=None,
        action="auth.lockout",
        entity="user",
        entity_id=username[:64],
        now=now,
        client=client,
        scope=scope,
    )


def principal_of(u: User) -> Principal:
    """The principal of a stored user."""
    return Principal(u.id, u.username, frozenset(Role(r) for r in u.roles), u.facility_id)
