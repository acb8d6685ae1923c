"""calls: video calls inside a referral between its two facilities, and their WebRTC signalling

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_T = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("caller_side", sa.String(length=10), nullable=False),
        sa.Column("destination_id", sa.String(length=64), nullable=False),
        sa.Column("started_by", sa.Integer(), nullable=False),
        sa.Column("started_at", _T, nullable=False),
        sa.Column("answered_at", _T, nullable=True),
        sa.Column("ended_at", _T, nullable=True),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("audio_only", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"]),
        sa.ForeignKeyConstraint(["started_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_calls_referral_id", "calls", ["referral_id"])
    op.create_table(
        "call_signals",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("call_id", sa.String(length=36), nullable=False),
        sa.Column("at", _T, nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_call_signals_call", "call_signals", ["call_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_call_signals_call", table_name="call_signals")
    op.drop_table("call_signals")
    op.drop_index("ix_calls_referral_id", table_name="calls")
    op.drop_table("calls")
