"""Tables of the connector's provider side: what it offers (assets), on which terms (policies)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hansa.db import Base, UTCDateTime, utcnow


class ConnectorAsset(Base):
    """A dataset this node can share; it appears in the DSP catalog once it has an offer."""

    __tablename__ = "connector_assets"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    """The dataset's ``@id`` in the catalog."""
    title: Mapped[str | None] = mapped_column(String(512), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    content_type: Mapped[str | None] = mapped_column(String(256), nullable=True)
    data_address: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Where the data lives (validated per type); never shown in the DSP catalog."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConnectorPolicy(Base):
    """An ODRL policy, stored only after ``hansa.policy.parse_policy`` accepted it."""

    __tablename__ = "connector_policies"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    title: Mapped[str | None] = mapped_column(String(512), nullable=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConnectorOffer(Base):
    """An asset offered under a policy, optionally at a price: one ``odrl:Offer`` in the catalog."""

    __tablename__ = "connector_offers"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    """The offer's ``@id``; consumers name it in their contract requests."""
    asset_id: Mapped[str] = mapped_column(
        ForeignKey("connector_assets.id", ondelete="RESTRICT"), index=True
    )
    policy_id: Mapped[str] = mapped_column(
        ForeignKey("connector_policies.id", ondelete="RESTRICT"), index=True
    )
    price_amount: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """A decimal as text (SQLite has no exact decimal type)."""
    price_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
