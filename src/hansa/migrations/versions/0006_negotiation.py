"""contract negotiation: negotiations, the protocol outbox, processed inbound messages

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-27 10:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hansa.db

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("negotiation",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connector_outbox",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("process_id", sa.String(length=256), nullable=False),
        sa.Column("message_type", sa.String(length=128), nullable=False),
        sa.Column("target_url", sa.String(length=2048), nullable=False),
        sa.Column("audience", sa.String(length=512), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", hansa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", hansa.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_connector_outbox_due", "connector_outbox", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(
        op.f("ix_connector_outbox_process_id"), "connector_outbox", ["process_id"], unique=False
    )
    op.create_table(
        "connector_processed_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender", sa.String(length=512), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("process_id", sa.String(length=256), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender", "digest"),
    )
    op.create_index(
        op.f("ix_connector_processed_messages_process_id"),
        "connector_processed_messages",
        ["process_id"],
        unique=False,
    )
    op.create_table(
        "contract_negotiations",
        sa.Column("id", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("counterparty_did", sa.String(length=512), nullable=False),
        sa.Column("counterparty_pid", sa.String(length=256), nullable=True),
        sa.Column("counterparty_address", sa.String(length=2048), nullable=False),
        sa.Column("offer_id", sa.String(length=256), nullable=True),
        sa.Column("dataset_id", sa.String(length=256), nullable=True),
        sa.Column("offer", sa.JSON(), nullable=False),
        sa.Column("requested_offer", sa.JSON(), nullable=True),
        sa.Column("agreement", sa.JSON(), nullable=True),
        sa.Column("agreement_id", sa.String(length=256), nullable=True),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("error_reason", sa.Text(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hansa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("role", "counterparty_did", "counterparty_pid"),
    )
    op.create_index(
        op.f("ix_contract_negotiations_agreement_id"),
        "contract_negotiations",
        ["agreement_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contract_negotiations_state"), "contract_negotiations", ["state"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_contract_negotiations_state"), table_name="contract_negotiations")
    op.drop_index(op.f("ix_contract_negotiations_agreement_id"), table_name="contract_negotiations")
    op.drop_table("contract_negotiations")
    op.drop_index(
        op.f("ix_connector_processed_messages_process_id"),
        table_name="connector_processed_messages",
    )
    op.drop_table("connector_processed_messages")
    op.drop_index(op.f("ix_connector_outbox_process_id"), table_name="connector_outbox")
    op.drop_index("ix_connector_outbox_due", table_name="connector_outbox")
    op.drop_table("connector_outbox")
