"""catalogue tables: verified entries and the change feed

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-27 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hansa.db

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("catalogue",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_entries",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("owner", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.String(length=512), nullable=False),
        sa.Column("credential_token", sa.Text(), nullable=False),
        sa.Column("label_id", sa.String(length=512), nullable=False),
        sa.Column("label_token", sa.Text(), nullable=False),
        sa.Column("label_issuer", sa.String(length=512), nullable=False),
        sa.Column("label_level", sa.String(length=8), nullable=False),
        sa.Column("evidence_tokens", sa.JSON(), nullable=False),
        sa.Column("issued_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", hansa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.String(length=512), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("subject"),
    )
    op.create_index(
        "ix_catalogue_entries_owner_kind", "catalogue_entries", ["owner", "kind"], unique=False
    )
    op.create_table(
        "catalogue_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("credential_id", sa.String(length=512), nullable=True),
        sa.Column("at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_catalogue_changes_entry_id"), "catalogue_changes", ["entry_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_catalogue_changes_entry_id"), table_name="catalogue_changes")
    op.drop_table("catalogue_changes")
    op.drop_index("ix_catalogue_entries_owner_kind", table_name="catalogue_entries")
    op.drop_table("catalogue_entries")
