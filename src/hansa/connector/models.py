"""Tables of the connector domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hansa.db import Base, UTCDateTime, utcnow


class HeldCredential(Base):
    """A ``vc+jwt`` this node holds about itself, released by its DCP credential service."""

    __tablename__ = "held_credentials"

    id: Mapped[str] = mapped_column(String(512), primary_key=True)
    """The credential's ``id``, or ``urn:sha256:<digest of the token>`` when it has none."""
    types: Mapped[list[str]] = mapped_column(JSON)
    issuer: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str | None] = mapped_column(String(512), nullable=True)
    token: Mapped[str] = mapped_column(Text)
    """The compact ``vc+jwt`` exactly as the issuer signed it."""
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
