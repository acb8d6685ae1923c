"""Key rotation of the sealed patient data: which key seals how many values, and re-sealing.

``rujuk keys rotate`` adds a key (first in the key file, so every worker seals with it from its
next write) and re-seals with it every value sealed with another key, in batches of their own
transactions: interrupted, it leaves values under the old and the new key, all of which open;
run again, it finishes. Patient blocks and files are never changed after they are written, so
re-sealing cannot overwrite a newer value.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from service.database import ATTACHMENT_AAD, MESSAGE_AAD, PATIENT_AAD, keyring_of
from service.sealing import key_id_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Engine

_BATCH = 200
#: the sealed columns, as plain tables (raw sealed values, not opened by the model's types)
_TABLES = {
    "referrals.patient": (
        sa.table("referrals", sa.column("id", sa.String), sa.column("patient", sa.JSON)),
        "patient",
        PATIENT_AAD,
    ),
    "messages.content": (
        sa.table("messages", sa.column("id", sa.BigInteger), sa.column("content", sa.JSON)),
        "content",
        MESSAGE_AAD,
    ),
    "attachments.data": (
        sa.table("attachments", sa.column("id", sa.Integer), sa.column("data", sa.LargeBinary)),
        "data",
        ATTACHMENT_AAD,
    ),
}


def _batches(engine: Engine, table: Any, column: str) -> Iterator[list[Any]]:  # noqa: ANN401
    last: Any = None
    while True:
        q = sa.select(table.c.id, table.c[column]).order_by(table.c.id).limit(_BATCH)
        if last is not None:
            q = q.where(table.c.id > last)
        with engine.connect() as conn:
            rows = list(conn.execute(q).all())
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def key_counts(engine: Engine) -> dict[str, dict[str, int]]:
    """For each sealed column, how many values each key id seals."""
    out: dict[str, dict[str, int]] = {}
    for name, (table, column, _) in _TABLES.items():
        counts: collections.Counter[str] = collections.Counter()
        for rows in _batches(engine, table, column):
            counts.update(key_id_of(v if isinstance(v, str) else bytes(v)) for _, v in rows)
        out[name] = dict(counts)
    return out


def reseal(engine: Engine) -> dict[str, int]:
    """Re-seal with the current key every value sealed with another; how many, per column."""
    ring = keyring_of(engine.dialect)
    ring.reload()
    current = ring.current
    done: dict[str, int] = {}
    for name, (table, column, label) in _TABLES.items():
        aad = label.encode()
        n = 0
        for rows in _batches(engine, table, column):
            with engine.begin() as conn:
                for rid, value in rows:
                    if isinstance(value, str):
                        if key_id_of(value) == current:
                            continue
                        new: str | bytes = ring.seal_text(ring.open_text(value, aad=aad), aad=aad)
                    else:
                        raw = bytes(value)
                        if key_id_of(raw) == current:
                            continue
                        new = ring.seal(ring.open(raw, aad=aad), aad=aad)
                    conn.execute(sa.update(table).where(table.c.id == rid).values({column: new}))
                    n += 1
        done[name] = n
    return done
