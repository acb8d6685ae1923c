"""The planner's answers kept per worker, keyed by everything that decides them.

A simulation, comparison or map depends on the dataset, the rule pack, the road graph with the
conditions in force (the engine's version), and the request (demand size, seed, scenario). The
same question is answered from memory (the planner's page asks the same baseline map on every
visit); a road closure, a new rule pack or a new dataset changes the key. The baseline map the
page opens with is computed at start-up in the background, so the first visit is quick too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from service.runtime import Runtime

log = logging.getLogger(__name__)

#: answers kept per worker (a map is ~40 kB, a comparison ~150 kB)
MAX_ANSWERS = 32
_lock = threading.Lock()


def answer_key(rt: Runtime, kind: str, request: dict[str, Any]) -> str:
    """What decides an answer, hashed: the data, the rules, the roads now, the question."""
    m = rt.matcher
    decides = [
        kind,
        m.dataset.name,
        len(m.dataset.facilities),
        [(p.id, p.version) for p in m.jurisdictions.packs],
        m.engine.version,
        request,
    ]
    return hashlib.sha256(json.dumps(decides, sort_keys=True, default=str).encode()).hexdigest()


def cached(
    rt: Runtime, kind: str, request: dict[str, Any], compute: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The answer from memory, or computed and kept (blocking: call from a worker thread).

    Two requests for the same new answer at once may both compute it; both get the same result.
    """
    key = answer_key(rt, kind, request)
    with _lock:
        hit = rt.plan_cache.pop(key, None)
        if hit is not None:
            rt.plan_cache[key] = hit  # the most recently used last
            return hit  # type: ignore[no-any-return]
    value = compute()
    with _lock:
        rt.plan_cache[key] = value
        while len(rt.plan_cache) > MAX_ANSWERS:
            rt.plan_cache.pop(next(iter(rt.plan_cache)))
    return value
