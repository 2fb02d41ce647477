"""Tables of the connector's protocol processes: negotiations, the outbox, processed messages.

The outbox and the processed-message log are generic (a ``topic`` / ``scope`` names the
process kind), so that the transfer process reuses them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hansa.db import Base, UTCDateTime, utcnow


class ContractNegotiationRecord(Base):
    """One contract negotiation as this node sees it (as provider or as consumer)."""

    __tablename__ = "contract_negotiations"
    __table_args__ = (
        # A counterparty's pid names one negotiation with it (initial messages are idempotent).
        UniqueConstraint("role", "counterparty_did", "counterparty_pid"),
    )

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    """Our pid: ``providerPid`` when we are the provider, ``consumerPid`` otherwise."""
    role: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    counterparty_did: Mapped[str] = mapped_column(String(512))
    counterparty_pid: Mapped[str | None] = mapped_column(String(256), nullable=True)
    counterparty_address: Mapped[str] = mapped_column(String(2048))
    """Provider: the consumer's callback address. Consumer: the provider's DSP endpoint."""
    offer_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    dataset_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    offer: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The offer on the table now (the latest request or offer)."""
    requested_offer: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """Consumer: the offer it asked for; an agreement must grant exactly that."""
    agreement: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    agreement_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    error_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    error_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    history: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    """Each state reached, with when: ``[{"state": "REQUESTED", "at": "..."}]``."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """A protocol message to deliver, written in the transaction of the change that causes it.

    ``id`` is the message's stable id: every retry sends the same body under it. A worker
    claims a row by setting ``lease_owner`` and ``lease_expires_at``; a row whose lease
    expired (its worker died) can be claimed by any other.
    """

    __tablename__ = "connector_outbox"
    __table_args__ = (Index("ix_connector_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))
    """Which handler delivers it: ``negotiation``, ``transfer``."""
    process_id: Mapped[str] = mapped_column(String(256), index=True)
    message_type: Mapped[str] = mapped_column(String(128))
    target_url: Mapped[str] = mapped_column(String(2048))
    audience: Mapped[str] = mapped_column(String(512))
    """The recipient's DID: the audience of the DCP ID token sent with the message."""
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    """DCP scopes the recipient may read from our credential service with this message."""
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, ``delivered`` or ``failed``."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProcessedMessage(Base):
    """An inbound protocol message already applied, with the answer it got (idempotency)."""

    __tablename__ = "connector_processed_messages"
    __table_args__ = (UniqueConstraint("sender", "digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(512))
    """The authenticated sender's DID: one party's message never answers another's."""
    digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the endpoint path and the canonical JSON body."""
    process_id: Mapped[str] = mapped_column(String(256), index=True)
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
