"""Identity and access: argon2 password hashes, short-lived signed tokens, roles and facility scope."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: argon2id with OWASP's parameters (Password Storage Cheat Sheet: 19 MiB, 2 passes, 1 lane), about
#: 35 ms of one core per check; hashes made with other parameters are redone at the next sign-in
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
ALGORITHM = "HS256"
MIN_PASSWORD = 10


class Role(StrEnum):
    """What a user does."""

    REFERRER = "referrer"
    RECEIVER = "receiver"
    DISPATCHER = "dispatcher"
    PLANNER = "planner"
    ADMIN = "admin"
    #: another rujuk deployment, sending referrals here through the FHIR API (``service.peers``)
    PEER = "peer"


#: Roles that act for one facility and must be bound to it.
FACILITY_ROLES = frozenset({Role.REFERRER, Role.RECEIVER})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user of a request."""

    user_id: int
    username: str
    roles: frozenset[Role]
    facility_id: str | None

    def has(self, *roles: Role) -> bool:
        """True if the user holds any of these roles."""
        return bool(self.roles & set(roles))

    @property
    def is_admin(self) -> bool:
        """Administrators see everything."""
        return Role.ADMIN in self.roles


#: a password must score at least this on zxcvbn's 0-4 scale ("safely unguessable" from 3)
MIN_STRENGTH = 3
#: words an attacker would try first here, on top of zxcvbn's dictionaries
_LOCAL_WORDS = ("rujuk", "sisrute", "sambas", "puskesmas", "rsud", "rumahsakit", "bidan", "perawat",
                "dokter", "admin", "indonesia", "password", "rahasia", "sandi", "katasandi")  # fmt: skip


def password_problem(password: str, *, username: str = "") -> str | None:
    """Why a password is too guessable (zxcvbn, with the username and local words), or None."""
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    from zxcvbn import zxcvbn  # noqa: PLC0415  its dictionaries load at the first password, not at start-up

    result = zxcvbn(password[:100], user_inputs=[username, *_LOCAL_WORDS])
    if result["score"] >= MIN_STRENGTH:
        return None
    hint = " ".join(
        filter(None, [result["feedback"].get("warning"), *result["feedback"].get("suggestions", [])])
    )
    return f"too easy to guess ({hint or 'add more unusual words'})"


@functools.cache
def dummy_hash() -> str:
    """A hash verified for unknown usernames, so that they take as long as known ones to refuse.

    Made once, at the first need or by the worker's warm-up (``service.app.warm_up``), not at
    import: hashing takes tens of milliseconds of the worker's start.
    """
    return _HASHER.hash("rujuk: no such user")


def hash_password(password: str) -> str:
    """An argon2id hash."""
    return _HASHER.hash(password)


def needs_rehash(password_hash: str) -> bool:
    """True if the hash was made with other parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if the password matches (constant-time in argon2); None (no such user) checks a
    dummy hash and is False, in the same time."""  # noqa: D205, D209
    if password_hash is None:
        with contextlib.suppress(VerificationError, InvalidHashError):
            _HASHER.verify(dummy_hash(), password)
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class TokenError(ValueError):
    """A token that is not valid: damaged, signed with another key, incomplete or expired."""


def load_tokens() -> None:
    """Import the token library (0.1 s: it loads X.509 support it never uses here), which the
    first sign-in or signed-in request would otherwise pay for; the warm-up calls this."""  # noqa: D205, D209
    import jwt  # noqa: F401, PLC0415


def issue_token(p: Principal, *, key: str, minutes: int, now: dt.datetime) -> str:
    """A signed access token that expires after ``minutes``."""
    import jwt  # noqa: PLC0415  not before the first answer after start-up (``load_tokens``)

    claims = {
        "sub": str(p.user_id),
        "usr": p.username,
        "roles": sorted(r.value for r in p.roles),
        "fac": p.facility_id,
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(minutes=minutes)).timestamp()),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_token(token: str, *, key: str, now: dt.datetime) -> tuple[Principal, int]:
    """The principal of a valid token and when it expires (POSIX seconds); ``TokenError`` otherwise
    (expired included).

    Expiry is checked against the service's clock (``now``), not the library's.
    """  # noqa: D205
    import jwt  # noqa: PLC0415  not before the first answer after start-up (``load_tokens``)

    try:
        c = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"], "verify_exp": False}
        )
    except jwt.InvalidTokenError as exc:
        raise TokenError(str(exc)) from None
    exp = int(c["exp"])
    if exp <= int(now.timestamp()):
        msg = "the token has expired: sign in again"
        raise TokenError(msg)
    principal = Principal(int(c["sub"]), str(c["usr"]), frozenset(Role(r) for r in c["roles"]), c.get("fac"))
    return principal, exp
