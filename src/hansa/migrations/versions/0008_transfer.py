"""transfer: transfer processes and revoked agreements

Revision ID: 0008
Revises: 0001
Create Date: 2026-11-27 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hansa.db

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("transfer",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transfer_processes",
        sa.Column("id", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("counterparty_did", sa.String(length=512), nullable=False),
        sa.Column("counterparty_pid", sa.String(length=256), nullable=True),
        sa.Column("counterparty_address", sa.String(length=2048), nullable=False),
        sa.Column("agreement_id", sa.String(length=256), nullable=False),
        sa.Column("asset_id", sa.String(length=256), nullable=False),
        sa.Column("transfer_type", sa.String(length=64), nullable=False),
        sa.Column("data_address", sa.JSON(), nullable=True),
        sa.Column("destination", sa.JSON(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("error_reason", sa.Text(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", hansa.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", hansa.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("role", "counterparty_did", "counterparty_pid"),
    )
    op.create_index(
        op.f("ix_transfer_processes_state"), "transfer_processes", ["state"], unique=False
    )
    op.create_index(
        op.f("ix_transfer_processes_agreement_id"),
        "transfer_processes",
        ["agreement_id"],
        unique=False,
    )
    op.create_table(
        "connector_agreement_revocations",
        sa.Column("agreement_id", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("revoked_at", hansa.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agreement_id"),
    )


def downgrade() -> None:
    op.drop_table("connector_agreement_revocations")
    op.drop_index(op.f("ix_transfer_processes_agreement_id"), table_name="transfer_processes")
    op.drop_index(op.f("ix_transfer_processes_state"), table_name="transfer_processes")
    op.drop_table("transfer_processes")
