"""Tables of the identity domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hansa.db import Base, UTCDateTime, utcnow


class WalletKey(Base):
    """A key pair of this node; the private half only ever stored encrypted."""

    __tablename__ = "wallet_keys"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    """The key's name, used as the DID URL fragment (``did:web:...#<id>``)."""
    key_type: Mapped[str] = mapped_column(String(16))
    """``Ed25519`` or ``P-256``."""
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="active")
    """``active`` keys sign and are published; ``retired`` ones are published but never sign."""
    certificate_chain: Mapped[str | None] = mapped_column(Text, nullable=True)
    """PEM chain binding the key to a trusted root (leaf first), served as the key's ``x5u``."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StatusList(Base):
    """A Bitstring Status List this node issues (one purpose per list)."""

    __tablename__ = "status_lists"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    """``revocation`` or ``suspension``."""
    length: Mapped[int] = mapped_column(Integer)
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    next_index: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IssuedCredential(Base):
    """What this node issued with a status entry, so that it can be revoked by id."""

    __tablename__ = "issued_credentials"
    __table_args__ = (UniqueConstraint("status_list_id", "status_index"),)

    id: Mapped[str] = mapped_column(String(512), primary_key=True)
    status_list_id: Mapped[str] = mapped_column(ForeignKey("status_lists.id"))
    status_index: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(String(512), nullable=True)
    types: Mapped[list[str]] = mapped_column(JSON, default=list)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrustAnchor(Base):
    """A root CA certificate or an issuer DID this node trusts."""

    __tablename__ = "trust_anchors"
    __table_args__ = (UniqueConstraint("kind", "fingerprint"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``root_ca`` (value: PEM certificate) or ``issuer`` (value: DID)."""
    value: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(128))
    """SHA-256 of the DER certificate, or the DID itself."""
    label: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsedTokenId(Base):
    """A ``jti`` already accepted; its primary key makes replay checks atomic."""

    __tablename__ = "used_token_ids"

    jti: Mapped[str] = mapped_column(String(256), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
