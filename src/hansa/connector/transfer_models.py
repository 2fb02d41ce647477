"""Tables of the transfer process: transfers (both sides) and revoked agreements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hansa.db import Base, UTCDateTime, utcnow


class TransferProcessRecord(Base):
    """One transfer process as this node sees it (as provider or as consumer)."""

    __tablename__ = "transfer_processes"
    __table_args__ = (UniqueConstraint("role", "counterparty_did", "counterparty_pid"),)

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    """Our pid: ``providerPid`` when we are the provider, ``consumerPid`` otherwise."""
    role: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    counterparty_did: Mapped[str] = mapped_column(String(512))
    counterparty_pid: Mapped[str | None] = mapped_column(String(256), nullable=True)
    counterparty_address: Mapped[str] = mapped_column(String(2048))
    """Provider: the consumer's callback address. Consumer: the provider's DSP endpoint."""
    agreement_id: Mapped[str] = mapped_column(String(256), index=True)
    asset_id: Mapped[str] = mapped_column(String(256))
    transfer_type: Mapped[str] = mapped_column(String(64))
    """The DSP ``format``: ``HttpData-PULL``, ``HttpData-PUSH``, ``AmazonS3-PUSH``."""
    data_address: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """Provider: the consumer's push target. Consumer: where to pull (with the token)."""
    destination: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """Consumer: the backend address a pull writes into."""
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    error_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    history: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    mover: Mapped[str | None] = mapped_column(String(256), nullable=True)
    """The run (process and attempt) that moves the data of a STARTED transfer now."""
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """Until when ``mover``'s claim holds; after it, any process may move the data again."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgreementRevocation(Base):
    """An agreement the provider revoked: no data flows under it any more."""

    __tablename__ = "connector_agreement_revocations"

    agreement_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
