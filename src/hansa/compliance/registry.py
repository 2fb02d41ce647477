"""The clearing house's registry: whom the federation trusts, for what, and under which rules.

- Root CAs and trusted issuer DIDs: the identity domain's
  :class:`~hansa.identity.trust.TrustAnchorService` (reused, not copied).
- Trusted parties by role (``notary``, ``compliance_issuer``,
  ``conformity_assessment_body``): the ``compliance_trusted_parties`` table.
- Terms and conditions: versions with their text and SHA-256; exactly one is current, and
  a ``gx:Issuer`` credential must carry the current one's hash.
- Installed shapes (Turtle, served as they were installed) and the criteria table.

Reads are public; changes go through the admin API. Each change is one transaction.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hansa.compliance.criteria import CriteriaSet, builtin_criteria, load_criteria
from hansa.compliance.models import CriteriaSet as CriteriaRow
from hansa.compliance.models import InstalledShapes, TermsVersion, TrustedParty
from hansa.db import transaction, utcnow
from hansa.errors import BadRequest, Conflict, NotFound
from hansa.identity.did import did_method
from hansa.identity.trust import TrustAnchorService

Role = Literal["notary", "compliance_issuer", "conformity_assessment_body"]
ROLES: tuple[str, ...] = get_args(Role)
MAX_TERMS_BYTES = 1_048_576
MAX_SHAPES_BYTES = 16 * 1_048_576
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Party:
    role: str
    did: str
    label: str | None

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "did": self.did, "label": self.label}


@dataclass(frozen=True)
class Terms:
    version: str
    sha256: str
    current: bool
    text: str

    def to_json(self, with_text: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": self.version,
            "sha256": self.sha256,
            "current": self.current,
            "textMatchesHash": terms_hash(self.text) == self.sha256,
        }
        if with_text:
            data["text"] = self.text
        return data


@dataclass(frozen=True)
class ShapesInfo:
    name: str
    version: str
    sha256: str
    active: bool
    installed_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "active": self.active,
            "installedAt": self.installed_at.isoformat(),
        }


def terms_hash(text: str) -> str:
    """The SHA-256 (lower-case hex) of the terms' UTF-8 text, as ``gx:Issuer`` carries it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise NotFound(
            f"no trusted-party role {role!r}; roles are {', '.join(ROLES)}",
            code="registry.unknown_role",
            pointer="role",
        )
    return role


def _check_did(did: str) -> str:
    try:
        did_method(did)
    except BadRequest as exc:
        raise BadRequest(
            f"{did[:80]!r} is not a DID; a trusted party is named by its DID",
            code="registry.invalid_did",
            pointer="/did",
        ) from exc
    if len(did) > 512:
        raise BadRequest("the DID is longer than 512 characters", code="registry.invalid_did")
    return did


def _terms(row: TermsVersion) -> Terms:
    return Terms(row.version, row.sha256, row.current, row.text)


class Registry:
    """Trust anchors, trusted parties, T&C, shapes and criteria of one clearing house."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        trust: TrustAnchorService,
        *,
        cache_seconds: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self.trust = trust
        # The compliance check reads these on every request. Writes here invalidate them at
        # once; another process's writes (a second API worker) are seen within
        # ``cache_seconds``.
        self._lock = threading.Lock()
        self._cache_seconds = cache_seconds
        self._cache_expires = 0.0
        self._parties: dict[str, frozenset[str]] | None = None
        self._criteria: CriteriaSet | None = None
        self._terms: tuple[Terms | None, dict[str, str]] | None = None

    def _expire_stale(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now >= self._cache_expires:
                self._parties = self._criteria = self._terms = None
                self._cache_expires = now + self._cache_seconds

    # --- trusted parties -------------------------------------------------------------------

    def add_party(self, role: str, did: str, label: str | None = None) -> Party:
        """Trust ``did`` in ``role`` (409 ``registry.duplicate`` if it already is)."""
        _check_role(role)
        _check_did(did)
        try:
            with transaction(self._sessions) as session:
                session.add(TrustedParty(id=uuid.uuid4().hex, role=role, did=did, label=label))
        except IntegrityError as exc:
            raise Conflict(
                f"{did} is already trusted as {role}", code="registry.duplicate", pointer="/did"
            ) from exc
        self._invalidate()
        return Party(role, did, label)

    def remove_party(self, role: str, did: str) -> None:
        _check_role(role)
        with transaction(self._sessions) as session:
            result = session.execute(
                delete(TrustedParty).where(TrustedParty.role == role, TrustedParty.did == did)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"{did} is not trusted as {role}", code="registry.unknown_party")
        self._invalidate()

    def list_parties(self, role: str | None = None) -> list[Party]:
        query = select(TrustedParty).order_by(TrustedParty.role, TrustedParty.did)
        if role is not None:
            query = query.where(TrustedParty.role == _check_role(role))
        with self._sessions() as session:
            return [Party(p.role, p.did, p.label) for p in session.scalars(query)]

    def is_trusted(self, role: str, did: str) -> bool:
        """Whether ``did`` is trusted as ``role`` (cached briefly)."""
        self._expire_stale()
        with self._lock:
            parties = self._parties
        if parties is None:
            loaded: dict[str, set[str]] = {r: set() for r in ROLES}
            for party in self.list_parties():
                loaded.setdefault(party.role, set()).add(party.did)
            parties = {r: frozenset(d) for r, d in loaded.items()}
            with self._lock:
                self._parties = parties
        return did in parties.get(role, frozenset())

    def _invalidate(self) -> None:
        with self._lock:
            self._parties = None
            self._criteria = None
            self._terms = None

    def trust_anchors(self) -> dict[str, Any]:
        """The public view of every anchor: root CAs, trusted issuers, parties by role."""
        parties = self.list_parties()
        return {
            "rootCAs": [
                {"fingerprint": r.fingerprint, "subject": r.subject, "label": r.label}
                for r in self.trust.list_roots()
            ],
            "trustedIssuers": [{"did": i.did, "label": i.label} for i in self.trust.list_issuers()],
            **{_camel(role): [p.to_json() for p in parties if p.role == role] for role in ROLES},
        }

    # --- terms and conditions ----------------------------------------------------------------

    def add_terms(
        self, version: str, text: str, *, sha256: str | None = None, current: bool = True
    ) -> Terms:
        """Record a T&C version; make it current unless told not to.

        The hash is computed from ``text``. ``sha256`` may be given for a version known by
        its published hash (Gaia-X publishes the hash; the exact bytes hashed are not
        always published with it): it is stored as given, and ``textMatchesHash`` says so.
        """
        if not version or len(version) > 64:
            raise BadRequest("a T&C version is 1 to 64 characters", code="registry.invalid_terms")
        if not text.strip() or len(text.encode("utf-8")) > MAX_TERMS_BYTES:
            raise BadRequest(
                f"the T&C text must be non-empty and at most {MAX_TERMS_BYTES} bytes",
                code="registry.invalid_terms",
                pointer="/text",
            )
        if sha256 is not None and not _HEX64.fullmatch(sha256):
            raise BadRequest(
                "sha256 is 64 lower-case hex digits",
                code="registry.invalid_terms",
                pointer="/sha256",
            )
        digest = sha256 or terms_hash(text)
        try:
            with transaction(self._sessions) as session:
                if current:
                    session.execute(update(TermsVersion).values(current=False))
                session.add(
                    TermsVersion(version=version, text=text, sha256=digest, current=current)
                )
        except IntegrityError as exc:
            raise Conflict(
                f"T&C version {version} (or the same text under another version) exists",
                code="registry.duplicate",
                pointer="/version",
            ) from exc
        self._invalidate()
        return Terms(version, digest, current, text)

    def set_current_terms(self, version: str) -> Terms:
        with transaction(self._sessions) as session:
            row = session.get(TermsVersion, version)
            if row is None:
                raise NotFound(f"no T&C version {version}", code="registry.unknown_terms")
            session.execute(update(TermsVersion).values(current=False))
            row.current = True
            terms = _terms(row)
        self._invalidate()
        return terms

    def list_terms(self) -> list[Terms]:
        with self._sessions() as session:
            rows = session.scalars(select(TermsVersion).order_by(TermsVersion.created_at))
            return [_terms(row) for row in rows]

    def terms(self, version: str) -> Terms:
        with self._sessions() as session:
            row = session.get(TermsVersion, version)
            if row is None:
                raise NotFound(f"no T&C version {version}", code="registry.unknown_terms")
            return _terms(row)

    def current_terms(self) -> Terms | None:
        with self._sessions() as session:
            row = session.scalars(select(TermsVersion).where(TermsVersion.current)).first()
            return _terms(row) if row is not None else None

    def terms_snapshot(self) -> tuple[Terms | None, dict[str, str]]:
        """The current terms and ``sha256 -> version`` of all (cached briefly)."""
        self._expire_stale()
        with self._lock:
            cached = self._terms
        if cached is not None:
            return cached
        every = self.list_terms()
        snapshot = (
            next((t for t in every if t.current), None),
            {t.sha256: t.version for t in every},
        )
        with self._lock:
            self._terms = snapshot
        return snapshot

    # --- shapes -----------------------------------------------------------------------------

    def install_shapes(self, name: str, version: str, turtle: str) -> ShapesInfo:
        """Store a shapes graph (Turtle) under ``name``, replacing an older one of that name."""
        if not name or len(name) > 128 or "/" in name:
            raise BadRequest(
                "a shapes name is 1 to 128 characters without '/'",
                code="registry.invalid_shapes",
                pointer="/name",
            )
        data = turtle.encode("utf-8")
        if not data.strip() or len(data) > MAX_SHAPES_BYTES:
            raise BadRequest(
                f"the shapes must be non-empty Turtle of at most {MAX_SHAPES_BYTES} bytes",
                code="registry.invalid_shapes",
                pointer="/turtle",
            )
        digest = hashlib.sha256(data).hexdigest()
        with transaction(self._sessions) as session:
            row = session.get(InstalledShapes, name)
            if row is None:
                row = InstalledShapes(name=name, version=version, sha256=digest, turtle=turtle)
                session.add(row)
            else:
                row.version, row.sha256, row.turtle, row.active = version, digest, turtle, True
                row.installed_at = utcnow()
            session.flush()
            return ShapesInfo(name, version, digest, True, row.installed_at)

    def list_shapes(self) -> list[ShapesInfo]:
        with self._sessions() as session:
            rows = session.scalars(select(InstalledShapes).order_by(InstalledShapes.name))
            return [ShapesInfo(r.name, r.version, r.sha256, r.active, r.installed_at) for r in rows]

    def newest_shapes(self) -> str | None:
        """The Turtle of the most recently installed active shapes graph, if any."""
        with self._sessions() as session:
            row = session.scalars(
                select(InstalledShapes)
                .where(InstalledShapes.active)
                .order_by(InstalledShapes.installed_at.desc())
                .limit(1)
            ).first()
            return row.turtle if row is not None else None

    def shapes_turtle(self, name: str) -> str:
        with self._sessions() as session:
            row = session.get(InstalledShapes, name)
            if row is None:
                raise NotFound(f"no shapes named {name!r}", code="registry.unknown_shapes")
            return row.turtle

    # --- criteria ---------------------------------------------------------------------------

    def set_criteria(self, version: str, document: dict[str, Any]) -> CriteriaSet:
        """Install a criteria table (validated first) and make it the one checked."""
        criteria = load_criteria(document, version)
        with transaction(self._sessions) as session:
            session.execute(update(CriteriaRow).values(current=False))
            row = session.get(CriteriaRow, version)
            if row is None:
                session.add(CriteriaRow(version=version, document=document, current=True))
            else:
                row.document, row.current = document, True
        self._invalidate()
        return criteria

    def criteria(self) -> CriteriaSet:
        """The current criteria table: the installed one, else the built-in one."""
        self._expire_stale()
        with self._lock:
            cached = self._criteria
        if cached is not None:
            return cached
        with self._sessions() as session:
            row = session.scalars(select(CriteriaRow).where(CriteriaRow.current)).first()
            loaded = (
                load_criteria(row.document, row.version) if row is not None else builtin_criteria()
            )
        with self._lock:
            self._criteria = loaded
        return loaded


_PLURAL = {
    "notary": "notaries",
    "compliance_issuer": "complianceIssuers",
    "conformity_assessment_body": "conformityAssessmentBodies",
}


def _camel(role: str) -> str:
    return _PLURAL[role]
