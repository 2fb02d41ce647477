"""connector: credentials held for the DCP credential service

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hansa.db

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("connector",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "held_credentials",
        sa.Column("id", sa.String(length=512), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=True),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("valid_until", hansa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stored_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("held_credentials")
