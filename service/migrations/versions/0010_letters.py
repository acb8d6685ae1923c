"""letters: a number per facility and month on every referral letter, and the staff's full name
and profession on their account (the letter names who wrote it)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letter_counters",
        sa.Column("facility_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("facility_id", "period"),
    )
    # plain ADD COLUMNs (SQLite too): no copy of the tables, which others refer to
    op.add_column("referrals", sa.Column("number", sa.String(length=100), nullable=True))
    op.create_index("uq_referrals_number", "referrals", ["number"], unique=True)
    op.add_column("users", sa.Column("full_name", sa.String(length=200), nullable=False, server_default=""))
    op.add_column("users", sa.Column("profession", sa.String(length=100), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("users", "profession")
    op.drop_column("users", "full_name")
    op.drop_index("uq_referrals_number", table_name="referrals")
    op.drop_column("referrals", "number")
    op.drop_table("letter_counters")
