"""trips: an ambulance's steps for a referral (at pickup, transporting, at hospital, handed over)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09 08:00:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_T = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("ambulances", sa.Column("status_reason", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "trips",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ambulance_id", sa.String(length=64), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("pickup_id", sa.String(length=64), nullable=False),
        sa.Column("destination_id", sa.String(length=64), nullable=False),
        sa.Column("dispatched_at", _T, nullable=False),
        sa.Column("dispatched_by", sa.String(length=20), nullable=False),
        sa.Column("at_pickup_at", _T, nullable=True),
        sa.Column("at_pickup_by", sa.String(length=20), nullable=True),
        sa.Column("transporting_at", _T, nullable=True),
        sa.Column("transporting_by", sa.String(length=20), nullable=True),
        sa.Column("at_hospital_at", _T, nullable=True),
        sa.Column("at_hospital_by", sa.String(length=20), nullable=True),
        sa.Column("ended_at", _T, nullable=True),
        sa.Column("ended_by", sa.String(length=20), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["ambulance_id"], ["ambulances.id"]),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trips_ambulance", "trips", ["ambulance_id", "dispatched_at"])
    op.create_index("ix_trips_referral", "trips", ["referral_id"])
    # ambulances on a referral at the upgrade get their trip, from what the referral recorded
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT a.id, a.status, r.id, r.origin_id, r.destination_id, r.dispatched_at, r.in_transit_at,"
            " r.arrived_at FROM ambulances a JOIN referrals r ON r.id = a.referral_id"
        )
    ).all()
    now = dt.datetime.now(dt.UTC)
    for amb, status, rid, origin, dest, dispatched, in_transit, arrived in rows:
        bind.execute(
            sa.text(
                "INSERT INTO trips (ambulance_id, referral_id, pickup_id, destination_id, dispatched_at,"
                " dispatched_by, transporting_at, transporting_by, at_hospital_at, at_hospital_by, end_reason)"
                " VALUES (:a, :r, :o, :d, :t0, 'migration', :t1, :b1, :t2, :b2, '')"
            ),
            {"a": amb, "r": rid, "o": origin, "d": dest, "t0": dispatched or now,
             "t1": in_transit if status in ("transporting", "at_hospital") else None,
             "b1": "migration" if status in ("transporting", "at_hospital") else None,
             "t2": arrived if status == "at_hospital" else None,
             "b2": "migration" if status == "at_hospital" else None},
        )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_trips_referral", table_name="trips")
    op.drop_index("ix_trips_ambulance", table_name="trips")
    op.drop_table("trips")
    op.drop_column("ambulances", "status_reason")
