"""The wallet: this node's key pairs, private halves encrypted at rest, never handed out."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hansa.db import transaction, utcnow
from hansa.errors import BadRequest, Conflict, NotFound
from hansa.files import read_or_create_secret
from hansa.identity.keys import (
    KEY_TYPES,
    KeyCipher,
    KeyType,
    PrivateKey,
    PublicKey,
    generate_private_key,
    multikey_encode,
    public_jwk,
    public_key_from_jwk,
)
from hansa.identity.models import WalletKey

KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class KeyInfo:
    """The public view of a wallet key: everything but the private key."""

    id: str
    key_type: KeyType
    status: str
    public_jwk: dict[str, str]
    public_key_multibase: str
    created_at: datetime
    retired_at: datetime | None
    certificate_chain: str | None

    @property
    def public_key(self) -> PublicKey:
        return public_key_from_jwk(self.public_jwk)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "type": self.key_type,
            "status": self.status,
            "publicKeyJwk": self.public_jwk,
            "publicKeyMultibase": self.public_key_multibase,
            "created": self.created_at.isoformat(),
            "retired": self.retired_at.isoformat() if self.retired_at else None,
            "hasCertificate": self.certificate_chain is not None,
        }


def _info(row: WalletKey) -> KeyInfo:
    key_type: KeyType = "Ed25519" if row.key_type == "Ed25519" else "P-256"
    return KeyInfo(
        id=row.id,
        key_type=key_type,
        status=row.status,
        public_jwk=dict(row.public_jwk),
        public_key_multibase=multikey_encode(public_key_from_jwk(row.public_jwk)),
        created_at=row.created_at,
        retired_at=row.retired_at,
        certificate_chain=row.certificate_chain,
    )


def load_or_create_wallet_secret(data_dir: Path) -> str:
    """The wallet secret kept in ``data_dir/wallet.secret`` (mode 0600), made on first use.

    Used only when the settings give no ``wallet_secret``: an embedded node still
    never stores a private key in clear.
    """
    return read_or_create_secret(data_dir / "wallet.secret")


class Wallet:
    """Create, list, rotate and use this node's keys."""

    def __init__(self, sessions: sessionmaker[Session], cipher: KeyCipher) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._cache: dict[str, PrivateKey] = {}
        # The active keys, read once per few seconds: every token and credential the node
        # signs needs the newest one. This process's changes clear it at once.
        self._active: tuple[float, list[KeyInfo]] | None = None
        self._active_ttl = 5.0

    def create_key(self, key_type: str = "Ed25519", key_id: str | None = None) -> KeyInfo:
        if key_type not in KEY_TYPES:
            raise BadRequest(
                f"unknown key type {key_type!r}; use one of {', '.join(KEY_TYPES)}",
                code="key.unsupported_type",
                pointer="/type",
            )
        key_id = key_id or f"key-{secrets.token_hex(4)}"
        if not KEY_ID_PATTERN.match(key_id):
            raise BadRequest(
                "a key id is 1-64 characters of letters, digits, '.', '_' or '-'",
                code="key.invalid_id",
                pointer="/id",
            )
        private = generate_private_key(key_type)
        with transaction(self._sessions) as session:
            if session.get(WalletKey, key_id) is not None:
                raise Conflict(f"a key named {key_id!r} exists already", code="key.exists")
            row = WalletKey(
                id=key_id,
                key_type=key_type,
                public_jwk=public_jwk(private),
                private_key_encrypted=self._cipher.encrypt(private, key_id),
                status="active",
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            info = _info(row)
        self._cache[key_id] = private
        self._active = None
        return info

    def list_keys(self, *, include_retired: bool = True) -> list[KeyInfo]:
        with self._sessions() as session:
            query = select(WalletKey).order_by(WalletKey.created_at, WalletKey.id)
            if not include_retired:
                query = query.where(WalletKey.status == "active")
            return [_info(row) for row in session.scalars(query)]

    def get(self, key_id: str) -> KeyInfo:
        with self._sessions() as session:
            row = session.get(WalletKey, key_id)
            if row is None:
                raise NotFound(f"no key named {key_id!r} in this wallet", code="key.not_found")
            return _info(row)

    def signing_key(self, key_type: str | None = None) -> tuple[KeyInfo, PrivateKey]:
        """The newest active key (of ``key_type`` if given) and its private half."""
        active = [k for k in self._active_keys() if key_type is None or k.key_type == key_type]
        if not active:
            raise NotFound(
                "this wallet has no active signing key"
                + (f" of type {key_type}" if key_type else "")
                + "; create one with 'hansa keys create'",
                code="key.none_active",
            )
        info = active[-1]
        return info, self.private_key(info.id)

    def _active_keys(self) -> list[KeyInfo]:
        now = time.monotonic()
        cached = self._active
        if cached is not None and now - cached[0] < self._active_ttl:
            return cached[1]
        keys = self.list_keys(include_retired=False)
        self._active = (now, keys)
        return keys

    def private_key(self, key_id: str) -> PrivateKey:
        """The private key, for signing inside this process only."""
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        with self._sessions() as session:
            row = session.get(WalletKey, key_id)
            if row is None:
                raise NotFound(f"no key named {key_id!r} in this wallet", code="key.not_found")
            if row.status != "active":
                raise Conflict(
                    f"key {key_id!r} is retired and signs nothing any more",
                    code="key.retired",
                )
            private = self._cipher.decrypt(row.private_key_encrypted, key_id)
        self._cache[key_id] = private
        return private

    def rotate(self, key_id: str) -> KeyInfo:
        """Retire ``key_id`` and create a new key of the same type.

        The retired key stays in the DID document, so that what it signed still
        verifies, but it never signs again.
        """
        old = self.get(key_id)
        if old.status != "active":
            raise Conflict(f"key {key_id!r} is already retired", code="key.retired")
        new = self.create_key(old.key_type)
        with transaction(self._sessions) as session:
            row = session.get(WalletKey, key_id)
            assert row is not None
            row.status = "retired"
            row.retired_at = utcnow()
        self._cache.pop(key_id, None)
        self._active = None
        return new

    def set_certificate_chain(self, key_id: str, chain_pem: str) -> KeyInfo:
        """Attach the PEM chain that binds ``key_id`` to a root CA (checked by the caller)."""
        with transaction(self._sessions) as session:
            row = session.get(WalletKey, key_id)
            if row is None:
                raise NotFound(f"no key named {key_id!r} in this wallet", code="key.not_found")
            row.certificate_chain = chain_pem
            session.flush()
            info = _info(row)
        self._active = None
        return info
