"""push: Web Push subscriptions, and the notifier's cursor over the referral events

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 08:00:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=1024), nullable=False),
        sa.Column("p256dh", sa.String(length=100), nullable=False),
        sa.Column("auth", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint"),
    )
    op.create_index("ix_push_subscriptions_facility", "push_subscriptions", ["facility_id"])
    op.create_index("ix_push_subscriptions_user", "push_subscriptions", ["user_id"])
    cursor = op.create_table(
        "notifier_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # notices start with the events after this upgrade: what happened before is not news
    last = op.get_bind().execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM referral_events")).scalar_one()
    op.bulk_insert(cursor, [{"id": 1, "last_event_id": int(last), "updated_at": dt.datetime.now(dt.UTC)}])


def downgrade() -> None:
    op.drop_table("notifier_cursor")
    op.drop_index("ix_push_subscriptions_user", table_name="push_subscriptions")
    op.drop_index("ix_push_subscriptions_facility", table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
