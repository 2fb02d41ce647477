"""Tables of the catalogue: verified originals and the change feed.

The signed originals (``credential_token``, ``label_token``, ``evidence_tokens``) are the
source of truth. ``document``, the full-text index with its facet values (created by
:mod:`hansa.catalogue.fts`, not by a migration: FTS5 virtual tables are no SQLAlchemy models)
and the RDF graph (:mod:`hansa.catalogue.rdf_index`) are projections of them, rebuilt by
``hansa catalogue reindex``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hansa.db import Base, UTCDateTime, utcnow

EntryState = str
"""``active``, ``expired`` or ``revoked`` (a deleted entry has no row, only a change)."""


class CatalogueEntry(Base):
    """One catalogued subject (an offering or a participant) in its newest verified version."""

    __tablename__ = "catalogue_entries"
    # A participant's entries, and its own LegalPerson among them (the provider name of every
    # search hit is looked up by owner and kind).
    __table_args__ = (Index("ix_catalogue_entries_owner_kind", "owner", "kind"),)

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    """Integer key, also the rowid of the entry in the full-text index."""
    id: Mapped[str] = mapped_column(String(64), unique=True)
    """Public id: derived from the subject, so a new version keeps its address."""
    subject: Mapped[str] = mapped_column(String(512), unique=True)
    owner: Mapped[str] = mapped_column(String(512))
    """The participant DID that may replace or delete the entry (provider or participant)."""
    kind: Mapped[str] = mapped_column(String(64))
    credential_id: Mapped[str] = mapped_column(String(512))
    credential_token: Mapped[str] = mapped_column(Text)
    label_id: Mapped[str] = mapped_column(String(512))
    label_token: Mapped[str] = mapped_column(Text)
    label_issuer: Mapped[str] = mapped_column(String(512))
    label_level: Mapped[str] = mapped_column(String(8))
    evidence_tokens: Mapped[list[str]] = mapped_column(JSON)
    """Other covered credentials presented with it (the provider's LegalPerson, T&C)."""
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """The earlier of the credential's and the label's ``validUntil``."""
    state: Mapped[EntryState] = mapped_column(String(16), default="active")
    state_reason: Mapped[str | None] = mapped_column(String(512), nullable=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The searchable projection of the credential (:func:`hansa.catalogue.offering.project`)."""
    seq: Mapped[int] = mapped_column(Integer)
    """The change that last touched this entry."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CatalogueChange(Base):
    """The change feed: one row per insert, supersede, delete, revoke or expiry, in order.

    ``seq`` only grows: writers serialise on a lock (SQLite's write lock, a PostgreSQL
    advisory lock) before they take a number, so a reader never sees seq N+1 before N.
    """

    __tablename__ = "catalogue_changes"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))
    """``insert``, ``supersede``, ``delete``, ``revoke``, ``expire``."""
    credential_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
