"""transfer: who moves a STARTED transfer's data, under a lease

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hansa.db

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("transfer_processes", sa.Column("mover", sa.String(length=256), nullable=True))
    op.add_column(
        "transfer_processes",
        sa.Column("lease_until", hansa.db.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("transfer_processes") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("mover")
