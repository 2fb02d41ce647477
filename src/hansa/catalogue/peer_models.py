"""Tables of catalogue federation: the peers a catalogue follows, and where entries came from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hansa.db import Base, UTCDateTime, utcnow


class CataloguePeer(Base):
    """A catalogue this one follows: its change feed is pulled from ``cursor`` on."""

    __tablename__ = "catalogue_peers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(512), unique=True)
    """The peer's base URL (``https://ch.example.eu``); its feed is ``/catalogue/changes``."""
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    """The last change seq of the peer's feed applied here."""
    status: Mapped[str] = mapped_column(String(16), default="new")
    """``new``, ``healthy``, ``unreachable`` (no answer) or ``unhealthy`` (a bad answer)."""
    error: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the peer first failed in the current run of failures (None: it answers)."""
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hidden: Mapped[bool] = mapped_column(default=False)
    """The peer's entries are out of search (it failed longer than the grace period)."""
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CatalogueOrigin(Base):
    """Which peer an entry was learnt from (entries published here have no row)."""

    __tablename__ = "catalogue_entry_origins"

    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    peer_url: Mapped[str] = mapped_column(String(512), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
