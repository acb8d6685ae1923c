"""scale indexes: the queries at national volume stay index-bound (docs/scale.md)

The waiting/escalation index only holds referrals in an open state (partial: a few thousand rows
nationally, not ten million); the facility's open referrals (the station's count, what is on the
way) likewise; the admins' list walks the date index; a referral's history and its
back-referrals are found by their referral.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: the states the waiting, escalation and transport queries ask for (service.database.OPEN_STATES)
_OPEN = sa.text("status IN ('sent', 'accepted', 'dispatched', 'in_transit')")
_BACK = sa.text("back_referral_of IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_referrals_due", table_name="referrals")
    op.create_index(
        "ix_referrals_due",
        "referrals",
        ["status", "due_at"],
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )
    op.create_index(
        "ix_referrals_open_destination",
        "referrals",
        ["destination_id", "status"],
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )
    op.create_index("ix_referrals_created", "referrals", ["created_at"])
    op.create_index(
        "ix_referrals_back_referral",
        "referrals",
        ["back_referral_of"],
        postgresql_where=_BACK,
        sqlite_where=_BACK,
    )
    op.create_index("ix_events_referral", "referral_events", ["referral_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_referral", table_name="referral_events")
    op.drop_index("ix_referrals_back_referral", table_name="referrals")
    op.drop_index("ix_referrals_created", table_name="referrals")
    op.drop_index("ix_referrals_open_destination", table_name="referrals")
    op.drop_index("ix_referrals_due", table_name="referrals")
    op.create_index("ix_referrals_due", "referrals", ["status", "due_at"])
