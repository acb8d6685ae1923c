"""road conditions: closures and slowdowns as live data, applied by every worker

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_T = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "road_conditions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("factor", sa.Float(), nullable=True),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", _T, nullable=False),
        sa.Column("expires_at", _T, nullable=True),
        sa.Column("lifted_at", _T, nullable=True),
        sa.Column("lifted_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", _T, nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["lifted_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_road_conditions_active", "road_conditions", ["lifted_at", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_road_conditions_active", table_name="road_conditions")
    op.drop_table("road_conditions")
