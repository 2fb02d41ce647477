"""The credentials a node holds about itself (compliance label, membership, ...), as vc+jwt.

The store keeps each token exactly as its issuer signed it, with the fields a query selects
on (id, types, issuer, subject, end of validity) beside it. It checks nothing itself:
:class:`hansa.connector.credential_service.CredentialService` verifies a credential before
handing it here.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.models import HeldCredential
from hansa.connector.presentation_query import credential_types
from hansa.db import transaction
from hansa.errors import NotFound
from hansa.identity.frozen import freeze
from hansa.identity.jose import decode_unverified
from hansa.identity.validity import parse_datetime


@dataclass(frozen=True)
class StoredCredential:
    """A held credential: its token and the decoded payload (verified when it was stored)."""

    id: str
    types: list[str]
    issuer: str
    subject: str | None
    token: str
    valid_until: datetime | None
    stored_at: datetime

    @property
    def credential(self) -> dict[str, Any]:
        return decode_unverified(self.token)[1]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.types,
            "issuer": self.issuer,
            "subject": self.subject,
            "validUntil": self.valid_until.isoformat() if self.valid_until else None,
            "stored": self.stored_at.isoformat(),
        }


def credential_id(token: str, credential: Mapping[str, Any]) -> str:
    """The credential's ``id``, or a name derived from the token when it has none."""
    identifier = credential.get("id")
    if isinstance(identifier, str) and identifier:
        return identifier
    return "urn:sha256:" + hashlib.sha256(token.encode("ascii")).hexdigest()


def _subject_id(credential: Mapping[str, Any]) -> str | None:
    subject = credential.get("credentialSubject")
    first = subject[0] if isinstance(subject, list) and subject else subject
    identifier = first.get("id") if isinstance(first, dict) else None
    return identifier if isinstance(identifier, str) else None


def _info(row: HeldCredential) -> StoredCredential:
    return StoredCredential(
        id=row.id,
        types=list(row.types),
        issuer=row.issuer,
        subject=row.subject,
        token=row.token,
        valid_until=row.valid_until,
        stored_at=row.stored_at,
    )


#: Every credential still valid at ``:now``, oldest first: what a presentation query selects from.
_PRESENTABLE = (
    select(HeldCredential.token)
    .where(or_(HeldCredential.valid_until.is_(None), HeldCredential.valid_until > bindparam("now")))
    .order_by(HeldCredential.stored_at, HeldCredential.id)
)
#: Decoded payloads remembered (by token) for answering queries; a node holds a handful.
_MAX_DECODED = 256


@dataclass(frozen=True)
class PresentableCredential:
    """A held ``vc+jwt`` and its payload (shared and read-only), as a query selects on it."""

    token: str
    credential: dict[str, Any]


class CredentialStore:
    """Held credentials in the ``held_credentials`` table."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        with sessions() as session:
            self._engine = session.get_bind().engine
        self._decoded: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def presentable(self, now: datetime) -> list[PresentableCredential]:
        """Every held credential valid at ``now`` with its payload, oldest first (one query).

        This runs for every presentation query: one Core statement on a pooled connection,
        and each token's payload decoded once (a token's payload never changes).
        """
        with self._engine.connect() as connection:
            tokens = list(connection.execute(_PRESENTABLE, {"now": now}).scalars())
        return [PresentableCredential(token, self._payload(token)) for token in tokens]

    def _payload(self, token: str) -> dict[str, Any]:
        with self._lock:
            payload = self._decoded.get(token)
        if payload is None:
            payload = freeze(decode_unverified(token)[1])
            with self._lock:
                if len(self._decoded) >= _MAX_DECODED:
                    self._decoded.clear()
                self._decoded[token] = payload
        return payload

    def put(self, token: str, credential: Mapping[str, Any], issuer: str) -> StoredCredential:
        """Store (or replace, by id) a verified ``vc+jwt`` and its decoded ``credential``."""
        valid_until = None
        if isinstance(credential.get("validUntil"), str):
            valid_until = parse_datetime(credential["validUntil"], "/validUntil")
        identifier = credential_id(token, credential)
        with transaction(self._sessions) as session:
            row = session.get(HeldCredential, identifier)
            if row is None:
                row = HeldCredential(id=identifier)
                session.add(row)
            row.types = credential_types(credential)
            row.issuer = issuer
            row.subject = _subject_id(credential)
            row.token = token
            row.valid_until = valid_until
            session.flush()
            return _info(row)

    def list_all(self) -> list[StoredCredential]:
        """Every held credential, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(HeldCredential).order_by(HeldCredential.stored_at, HeldCredential.id)
            )
            return [_info(row) for row in rows]

    def get(self, identifier: str) -> StoredCredential:
        with self._sessions() as session:
            row = session.get(HeldCredential, identifier)
            if row is None:
                raise NotFound(
                    f"this node holds no credential {identifier!r}", code="dcp.credential_not_found"
                )
            return _info(row)

    def remove(self, identifier: str) -> None:
        with transaction(self._sessions) as session:
            row = session.get(HeldCredential, identifier)
            if row is None:
                raise NotFound(
                    f"this node holds no credential {identifier!r}", code="dcp.credential_not_found"
                )
            session.delete(row)


__all__ = ["CredentialStore", "PresentableCredential", "StoredCredential", "credential_id"]
