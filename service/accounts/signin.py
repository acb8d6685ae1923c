"""Sign-in off the shared thread pool: password checks (argon2, ~0.3 s of CPU each) run on a small
pool of their own, so a flood of wrong passwords queues there and cannot starve the routes that
read and write referrals."""  # noqa: D205, D209

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from service.accounts.store import authenticate, record_failure

if TYPE_CHECKING:
    from service.auth import Principal
    from service.runtime import Runtime

#: threads for password checks, per worker
SIGN_IN_THREADS = 2
_POOL = ThreadPoolExecutor(max_workers=SIGN_IN_THREADS, thread_name_prefix="rujuk-sign-in")


def _check(rt: Runtime, username: str, password: str, client: str) -> Principal | None:
    with rt.sessions() as s:
        p = authenticate(s, username, password)
        if p is None:
            record_failure(s, username, client=client, now=rt.clock())
            s.commit()
    return p


async def sign_in(rt: Runtime, username: str, password: str, *, client: str) -> Principal | None:
    """The principal for these credentials (None: refused, and audited), checked on the sign-in pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, _check, rt, username, password, client)
