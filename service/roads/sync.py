"""Every worker's routing engine follows the stored road conditions (created, lifted or expired on
any worker), checked every ``road_sync_s`` seconds."""  # noqa: D205, D209

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from fastapi.concurrency import run_in_threadpool

from service.roads import conditions

if TYPE_CHECKING:
    from service.runtime import Runtime

log = logging.getLogger(__name__)


def sync_once(rt: Runtime) -> tuple[int, int]:
    """Bring this worker's engine to the stored conditions (blocking)."""

    def read() -> list[Any]:
        with rt.sessions() as s:
            rows = conditions.active(s, rt.clock())
            s.expunge_all()
        return rows

    return conditions.sync(rt.matcher.engine, read)


async def road_sync_loop(rt: Runtime) -> None:
    """Every ``road_sync_s``: conditions created, lifted or expired anywhere are in force here."""
    while True:
        try:
            applied, removed = await run_in_threadpool(sync_once, rt)
            if applied or removed:
                log.info("road conditions synced: %d applied, %d removed", applied, removed)
        except Exception:  # a database hiccup must not stop the loop
            log.exception("road conditions sync failed")
        await asyncio.sleep(rt.settings.road_sync_s)
