"""catalogue federation: peers and entry origins

Revision ID: 0009
Revises: 0001
Create Date: 2026-11-27 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hansa.db

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("catalogue_peers",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_peers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=1024), nullable=True),
        sa.Column("failing_since", hansa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", hansa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("added_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.create_table(
        "catalogue_entry_origins",
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("peer_url", sa.String(length=512), nullable=False),
        sa.Column("received_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    op.create_index("ix_catalogue_entry_origins_peer_url", "catalogue_entry_origins", ["peer_url"])


def downgrade() -> None:
    op.drop_index("ix_catalogue_entry_origins_peer_url", table_name="catalogue_entry_origins")
    op.drop_table("catalogue_entry_origins")
    op.drop_table("catalogue_peers")
