"""data plane: the usage log of data accesses (CloudEvents)

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-27 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hansa.db

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("dataplane",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataplane_usage_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("time", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("transfer_id", sa.String(length=256), nullable=False),
        sa.Column("agreement_id", sa.String(length=256), nullable=False),
        sa.Column("counterparty", sa.String(length=512), nullable=False),
        sa.Column("asset_id", sa.String(length=256), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_dataplane_usage_events_agreement_time",
        "dataplane_usage_events",
        ["agreement_id", "time"],
        unique=False,
    )
    op.create_index(
        op.f("ix_dataplane_usage_events_transfer_id"),
        "dataplane_usage_events",
        ["transfer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_dataplane_usage_events_transfer_id"), table_name="dataplane_usage_events"
    )
    op.drop_index("ix_dataplane_usage_events_agreement_time", table_name="dataplane_usage_events")
    op.drop_table("dataplane_usage_events")
