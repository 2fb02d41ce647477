"""Tables of the clearing house's registry: trusted parties by role, T&C versions, shapes, criteria.

Root CAs and trusted issuer DIDs stay in the identity domain's ``trust_anchors`` table
(:class:`hansa.identity.trust.TrustAnchorService`); these tables add what only a clearing
house needs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hansa.db import Base, UTCDateTime, utcnow


class TrustedParty(Base):
    """A DID the federation trusts in one role: notary, compliance issuer, assessment body."""

    __tablename__ = "compliance_trusted_parties"
    __table_args__ = (UniqueConstraint("role", "did"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    """``notary``, ``compliance_issuer`` or ``conformity_assessment_body``."""
    did: Mapped[str] = mapped_column(String(512))
    label: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TermsVersion(Base):
    """One version of the terms and conditions an issuer accepts by their SHA-256."""

    __tablename__ = "compliance_terms"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    """Lower-case hex SHA-256 of the UTF-8 text, as ``gx:gaiaxTermsAndConditions`` carries it."""
    current: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InstalledShapes(Base):
    """A SHACL shapes graph installed in the registry (Turtle), served to anyone who asks."""

    __tablename__ = "compliance_shapes"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    turtle: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CriteriaSet(Base):
    """A version of the Compliance Document criteria table; the current one is checked."""

    __tablename__ = "compliance_criteria_sets"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The criteria document as parsed from YAML (``meta`` and ``criteria``)."""
    current: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
