"""incidents: mass-casualty incidents, their casualties, and referrals marked as part of one

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-11 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_T = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("origin_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", _T, nullable=False),
        sa.Column("declared_by", sa.Integer(), nullable=False),
        sa.Column("declared_at", _T, nullable=False),
        sa.Column("closed_at", _T, nullable=True),
        sa.Column("updated_at", _T, nullable=False),
        sa.ForeignKeyConstraint(["declared_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "incident_casualties",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("triage", sa.String(length=10), nullable=False),
        sa.Column("age_years", sa.Integer(), nullable=False),
        sa.Column("sex", sa.String(length=10), nullable=False),
        sa.Column("icd10", sa.JSON(), nullable=False),
        sa.Column("bed", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("plan_hospital_id", sa.String(length=64), nullable=True),
        sa.Column("plan_travel_s", sa.Float(), nullable=True),
        sa.Column("plan_by", sa.String(length=10), nullable=True),
        sa.Column("plan_note", sa.Text(), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", _T, nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "label", name="uq_casualty_label"),
    )
    op.create_index("ix_incident_casualties_incident_id", "incident_casualties", ["incident_id"])
    # a plain ADD COLUMN (SQLite too): no copy of the referrals table, which others refer to
    op.add_column("referrals", sa.Column("incident_id", sa.String(length=36), nullable=True))
    op.create_index("ix_referrals_incident_id", "referrals", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_referrals_incident_id", table_name="referrals")
    op.drop_column("referrals", "incident_id")
    op.drop_index("ix_incident_casualties_incident_id", table_name="incident_casualties")
    op.drop_table("incident_casualties")
    op.drop_table("incidents")
