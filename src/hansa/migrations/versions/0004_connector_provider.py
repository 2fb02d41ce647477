"""connector provider side: assets, policies, offers

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hansa.db

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("connector_provider",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connector_assets",
        sa.Column("id", sa.String(length=256), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("content_type", sa.String(length=256), nullable=True),
        sa.Column("data_address", sa.JSON(), nullable=False),
        sa.Column("created_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "connector_policies",
        sa.Column("id", sa.String(length=256), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "connector_offers",
        sa.Column("id", sa.String(length=256), nullable=False),
        sa.Column("asset_id", sa.String(length=256), nullable=False),
        sa.Column("policy_id", sa.String(length=256), nullable=False),
        sa.Column("price_amount", sa.String(length=32), nullable=True),
        sa.Column("price_currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["connector_assets.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["policy_id"], ["connector_policies.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_connector_offers_asset_id"), "connector_offers", ["asset_id"], unique=False
    )
    op.create_index(
        op.f("ix_connector_offers_policy_id"), "connector_offers", ["policy_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_connector_offers_policy_id"), table_name="connector_offers")
    op.drop_index(op.f("ix_connector_offers_asset_id"), table_name="connector_offers")
    op.drop_table("connector_offers")
    op.drop_table("connector_policies")
    op.drop_table("connector_assets")
