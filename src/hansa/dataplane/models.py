"""The data plane's table: one row per access to the provider's data endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hansa.db import Base, UTCDateTime


class UsageEventRecord(Base):
    """A data access as a CloudEvent (``event``), with its facts in columns for queries."""

    __tablename__ = "dataplane_usage_events"
    __table_args__ = (Index("ix_dataplane_usage_events_agreement_time", "agreement_id", "time"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The CloudEvent ``id``."""
    type: Mapped[str] = mapped_column(String(128))
    time: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    transfer_id: Mapped[str] = mapped_column(String(256), index=True)
    agreement_id: Mapped[str] = mapped_column(String(256))
    counterparty: Mapped[str] = mapped_column(String(512))
    asset_id: Mapped[str] = mapped_column(String(256))
    bytes: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(32))
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The whole CloudEvent (structured JSON mode), as it is exported."""
