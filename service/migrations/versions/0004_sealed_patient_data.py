"""patient data sealed at rest (AES-GCM, key id per value) and a keyed hash of the NIK

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 05:00:00

Every stored patient block and attachment is sealed in this migration, in the same transaction as
the new column, with the keys of the engine that runs it (``service.sealing``). The patient
column stays JSON: it now holds one JSON string, the sealed value.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from service.database import ATTACHMENT_AAD, PATIENT_AAD, keyring_of

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BATCH = 200
_referrals = sa.table(
    "referrals", sa.column("id", sa.String), sa.column("patient", sa.JSON), sa.column("nik_hash", sa.String)
)
_attachments = sa.table("attachments", sa.column("id", sa.Integer), sa.column("data", sa.LargeBinary))


def _batches(conn: sa.Connection, table: Any, column: str) -> Any:  # noqa: ANN401  SQLAlchemy rows
    """Rows (id, value) in batches by id, so a big table is never held in memory at once."""
    last: Any = None
    while True:
        q = sa.select(table.c.id, table.c[column]).order_by(table.c.id).limit(_BATCH)
        if last is not None:
            q = q.where(table.c.id > last)
        rows = conn.execute(q).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("referrals") as batch:
        batch.add_column(sa.Column("nik_hash", sa.String(length=64), nullable=True))
    op.create_index("ix_referrals_nik_hash", "referrals", ["nik_hash"])
    for rows in _batches(conn, _referrals, "patient"):
        ring = keyring_of(conn.dialect)
        for rid, patient in rows:
            clear = patient if isinstance(patient, dict) else json.loads(patient)
            sealed = ring.seal_text(json.dumps(clear), aad=PATIENT_AAD.encode())
            nik = ring.lookup_hash(str(clear.get("nik", "")))
            conn.execute(
                sa.update(_referrals).where(_referrals.c.id == rid).values(patient=sealed, nik_hash=nik)
            )
    for rows in _batches(conn, _attachments, "data"):
        ring = keyring_of(conn.dialect)
        for aid, data in rows:
            sealed_data = ring.seal(bytes(data), aad=ATTACHMENT_AAD.encode())
            conn.execute(sa.update(_attachments).where(_attachments.c.id == aid).values(data=sealed_data))


def downgrade() -> None:
    conn = op.get_bind()
    for rows in _batches(conn, _referrals, "patient"):
        ring = keyring_of(conn.dialect)
        for rid, sealed in rows:
            clear = json.loads(ring.open_text(sealed, aad=PATIENT_AAD.encode()))
            conn.execute(sa.update(_referrals).where(_referrals.c.id == rid).values(patient=clear))
    for rows in _batches(conn, _attachments, "data"):
        ring = keyring_of(conn.dialect)
        for aid, data in rows:
            content = ring.open(bytes(data), aad=ATTACHMENT_AAD.encode())
            conn.execute(sa.update(_attachments).where(_attachments.c.id == aid).values(data=content))
    op.drop_index("ix_referrals_nik_hash", table_name="referrals")
    op.drop_column("referrals", "nik_hash")
