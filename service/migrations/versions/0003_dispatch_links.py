"""the ambulance of a referral and the referral of an ambulance

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referrals") as batch:
        batch.add_column(sa.Column("ambulance_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("ambulances") as batch:
        batch.add_column(sa.Column("referral_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ambulances") as batch:
        batch.drop_column("referral_id")
    with op.batch_alter_table("referrals") as batch:
        batch.drop_column("ambulance_id")
