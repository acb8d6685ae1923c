"""Sign-in: the limits first, then the password check off the shared thread pool.

An account or a client address that used up its refused attempts is answered 429 without a
password check (``service.accounts.throttle``), after a pause of a second that slows guessing
tools and costs the service nothing. Password checks (argon2, ~35 ms of CPU
each) run on a small pool of their own, so a flood of wrong passwords queues there and cannot
starve the routes that read and write referrals: one thread per worker, so a flood takes at most
one core of the host per worker.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from service.accounts.store import authenticate, record_failure, record_lockout
from service.errors import TooManyRequestsError, UnauthorizedError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from service.auth import Principal
    from service.runtime import Runtime

#: seconds a refused attempt on a locked account or address waits for its answer: a guessing tool
#: that waits for answers (as they all do) gets one try per second per connection, at no cost here
LOCKED_DELAY_S = 1.0
#: threads for password checks, per worker
SIGN_IN_THREADS = 1
_POOL = ThreadPoolExecutor(max_workers=SIGN_IN_THREADS, thread_name_prefix="rujuk-sign-in")
_REFUSED = {
    "account": "too many wrong passwords for this account: wait {s} s before trying again",
    "address": "too many refused sign-ins from this address: wait {s} s before trying again",
}


def _check(rt: Runtime, username: str, password: str) -> Principal | None:
    with rt.sessions() as s:
        p = authenticate(s, username, password)
        if p is not None:
            s.commit()  # a hash redone with today's parameters
        return p


def _audit(rt: Runtime, username: str, client: str, locked: Sequence[str]) -> None:
    with rt.sessions() as s:
        record_failure(s, username, client=client, now=rt.clock())
        for scope in locked:
            record_lockout(s, username, client=client, scope=scope, now=rt.clock())
        s.commit()


async def sign_in(rt: Runtime, username: str, password: str, *, client: str) -> Principal:
    """The principal for these credentials, checked on the sign-in pool.

    Raises TooManyRequestsError (429) while the account or address is locked, UnauthorizedError
    (401) for wrong credentials; every refusal for wrong credentials is audited.
    """
    throttle = rt.throttle
    if throttle is not None:
        refusal = await throttle.refusal(username, client)
        if refusal is not None:
            detail = _REFUSED[refusal.scope].format(s=refusal.retry_after_s)
            await asyncio.sleep(LOCKED_DELAY_S)
            raise TooManyRequestsError(detail, retry_after_s=refusal.retry_after_s)
    loop = asyncio.get_running_loop()
    p = await loop.run_in_executor(_POOL, _check, rt, username, password)
    if p is None:
        locked = await throttle.failed(username, client) if throttle is not None else []
        await loop.run_in_executor(_POOL, _audit, rt, username, client, locked)
        raise UnauthorizedError("wrong username or password")
    if throttle is not None:
        await throttle.succeeded(username, client)
    return p
