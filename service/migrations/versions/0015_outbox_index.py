"""outbox index: the delivery worker finds the next hand-over due among the open ones only

Its query asks ``(state IN ('pending', 'delivered') OR cancel_pending) AND next_attempt_at <= now``,
ordered by ``next_attempt_at``: the OR kept it off ``ix_deliveries_due`` (a scan of every
hand-over ever made, each tick); this partial index holds the open ones only.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_OPEN = sa.text("state IN ('pending', 'delivered') OR cancel_pending")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_open", "deliveries", ["next_attempt_at"], postgresql_where=_OPEN, sqlite_where=_OPEN
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_open", table_name="deliveries")
