"""referral traces: the inbox and the report read a facility's "was sent here" from their own index

A referral sent to a facility that has moved on since (redirected after a decline or an
escalation) stays in that facility's inbox as a read-only trace, and in its monthly report as
received. Finding those meant looking through every event ever addressed to the facility, then
sorting the facility's whole history for one page (docs/scale.md). ``referral_traces`` holds one
row per (facility, referral) sent there and gone elsewhere, with the referral's date, so the
inbox is two ordered index walks cut at the page and the report reads the month of each.

The backfill writes exactly the pairs the events say: a ``send`` or ``redirect`` event to a
facility that is not the referral's destination now. ``ix_referrals_back_destination`` does the
same for the back-referrals a facility received (its referring staff's inbox), which otherwise
walked the facility's whole history to find the few back-referrals in it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_BACK = sa.text("back_referral_of IS NOT NULL")
_BACK_TRACE = sa.text("back_referral")

#: every (facility, referral) sent there once and elsewhere now, from the events; only a redirect
#: moves a referral, so only the referrals that have one are read
BACKFILL = """
INSERT INTO referral_traces (facility_id, referral_id, created_at, back_referral)
SELECT DISTINCT e.destination_id, e.referral_id, r.created_at,
       CASE WHEN r.back_referral_of IS NULL THEN false ELSE true END
FROM (SELECT DISTINCT referral_id FROM referral_events WHERE kind = 'redirect') AS moved
JOIN referrals AS r ON r.id = moved.referral_id
JOIN referral_events AS e ON e.referral_id = moved.referral_id
WHERE e.kind IN ('send', 'redirect') AND e.destination_id <> r.destination_id
"""


def upgrade() -> None:
    op.create_table(
        "referral_traces",
        sa.Column("facility_id", sa.String(64), nullable=False),
        sa.Column("referral_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("back_referral", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"]),
        sa.PrimaryKeyConstraint("facility_id", "referral_id"),
    )
    op.execute(BACKFILL)
    op.create_index("ix_traces_facility", "referral_traces", ["facility_id", "created_at"])
    op.create_index(
        "ix_traces_back",
        "referral_traces",
        ["facility_id", "created_at"],
        postgresql_where=_BACK_TRACE,
        sqlite_where=_BACK_TRACE,
    )
    op.create_index(
        "ix_referrals_back_destination",
        "referrals",
        ["destination_id", "created_at"],
        postgresql_where=_BACK,
        sqlite_where=_BACK,
    )
    if op.get_bind().dialect.name == "postgresql":  # the planner's figures for the new table, now
        op.execute("ANALYZE referral_traces")


def downgrade() -> None:
    op.drop_index("ix_referrals_back_destination", table_name="referrals")
    op.drop_index("ix_traces_back", table_name="referral_traces")
    op.drop_index("ix_traces_facility", table_name="referral_traces")
    op.drop_table("referral_traces")
