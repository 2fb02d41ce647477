"""Trust anchors: the root CAs and issuer DIDs this node trusts, and X.509 key-chain checks.

Gaia-X requires that the key behind a credential chains to a trust anchor: the
issuer's DID document publishes its key with an ``x5u`` URL (a PEM chain) or an
``x5c`` array (base64 DER), and the chain must end at a root CA the federation
trusts. :func:`verify_key_chain` checks exactly that, with
``cryptography.x509.verification`` doing the path validation.

Anchors come from two places: the node's settings (read-only here) and the
``trust_anchors`` table (managed at run time through :class:`TrustAnchorService`).
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hansa.db import transaction
from hansa.errors import BadRequest, ConfigurationError, Conflict, Forbidden, NotFound
from hansa.identity.did import did_method, split_did_url
from hansa.identity.keys import PublicKey
from hansa.identity.models import TrustAnchor
from hansa.identity.pki import fingerprint_sha256

MAX_CHAIN_LENGTH = 8
"""More certificates than this in an x5u/x5c chain are refused before any parsing work."""
_MAX_FINGERPRINT = 128  # width of trust_anchors.fingerprint, which holds an issuer's DID

AnchorKind = Literal["root_ca", "issuer"]


# --- reading chains -----------------------------------------------------------------------


def _invalid(detail: str, pointer: str | None = None) -> BadRequest:
    return BadRequest(detail, code="trust.invalid_certificate", pointer=pointer)


def parse_pem_chain(data: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM document (an ``x5u`` target), leaf first."""
    if data.count(b"-----BEGIN CERTIFICATE-----") > MAX_CHAIN_LENGTH:
        raise BadRequest(
            f"the certificate chain has more than {MAX_CHAIN_LENGTH} certificates",
            code="trust.chain_too_long",
        )
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise _invalid(f"not a PEM certificate chain: {exc}") from exc
    return chain


def chain_from_x5c(x5c: object) -> list[x509.Certificate]:
    """The certificates of a JOSE ``x5c`` value: standard base64 (not base64url) DER, leaf first."""
    if not isinstance(x5c, list) or not x5c:
        raise _invalid("x5c must be a non-empty array of base64 DER certificates", "/x5c")
    if len(x5c) > MAX_CHAIN_LENGTH:
        raise BadRequest(
            f"x5c has more than {MAX_CHAIN_LENGTH} certificates",
            code="trust.chain_too_long",
            pointer="/x5c",
        )
    chain = []
    for position, item in enumerate(x5c):
        pointer = f"/x5c/{position}"
        if not isinstance(item, str):
            raise _invalid("an x5c entry must be a base64 string", pointer)
        try:
            chain.append(x509.load_der_x509_certificate(base64.b64decode(item, validate=True)))
        except (ValueError, binascii.Error) as exc:
            raise _invalid(
                f"x5c entry {position} is not a base64 DER certificate", pointer
            ) from exc
    return chain


def load_root_certificate(pem: bytes | str) -> x509.Certificate:
    """Exactly one CA certificate from PEM (a root to trust)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise _invalid(f"not a PEM certificate: {exc}") from exc
    if len(certificates) != 1:
        raise _invalid(f"give exactly one root certificate, not {len(certificates)}")
    certificate = certificates[0]
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise BadRequest(
            "the certificate is not a CA certificate (basicConstraints cA is not true)",
            code="trust.not_a_ca",
        )
    return certificate


# --- verifying a chain ---------------------------------------------------------------------


def _refuse_ca_leaf(
    _policy: Policy, _cert: x509.Certificate, ext: x509.BasicConstraints | None
) -> None:
    if ext is not None and ext.ca:
        raise ValueError("the leaf is a CA certificate; a signing key needs an end-entity one")


def _leaf_policy() -> ExtensionPolicy:
    # The WebPKI end-entity policy demands serverAuth/clientAuth EKUs and a SAN; a key
    # certificate for a DID (or a TLS certificate reused as one) need not have them.
    # Only refuse a CA certificate as the leaf.
    return ExtensionPolicy.permit_all().may_be_present(
        x509.BasicConstraints, Criticality.AGNOSTIC, _refuse_ca_leaf
    )


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_key_chain(
    chain: Sequence[x509.Certificate],
    expected_public_key: PublicKey,
    roots: Sequence[x509.Certificate],
    now: datetime | None = None,
) -> list[x509.Certificate]:
    """Check that ``chain`` (leaf first) is valid at ``now``, ends at one of ``roots``,
    and certifies ``expected_public_key``; return the validated path (leaf to root).

    Error codes: ``trust.chain_invalid`` (empty chain, bad signature, a constraint
    broken), ``trust.certificate_expired`` / ``trust.certificate_not_yet_valid``,
    ``trust.untrusted_root``, ``trust.chain_key_mismatch``.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if not chain:
        raise Forbidden("the certificate chain is empty", code="trust.chain_invalid")
    for position, certificate in enumerate(chain):
        subject = certificate.subject.rfc4514_string()
        if now > certificate.not_valid_after_utc:
            raise Forbidden(
                f"certificate {position} of the chain ({subject}) expired on "
                f"{certificate.not_valid_after_utc.isoformat()}",
                code="trust.certificate_expired",
            )
        if now < certificate.not_valid_before_utc:
            raise Forbidden(
                f"certificate {position} of the chain ({subject}) is valid only from "
                f"{certificate.not_valid_before_utc.isoformat()}",
                code="trust.certificate_not_yet_valid",
            )
    root_prints = {fingerprint_sha256(root) for root in roots}
    top = chain[-1]
    ends_at_root = fingerprint_sha256(top) in root_prints
    if not ends_at_root and not any(
        root.subject == top.issuer and _issued_by(top, root) for root in roots
    ):
        raise Forbidden(
            f"the chain does not end at a trusted root CA (its top is issued by "
            f"{top.issuer.rfc4514_string()}); add the federation's root as a trust anchor",
            code="trust.untrusted_root",
        )
    intermediates = list(chain[1:-1] if ends_at_root else chain[1:])
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(now)
        .max_chain_depth(MAX_CHAIN_LENGTH)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_leaf_policy()
        )
        .build_client_verifier()
    )
    try:
        path = verifier.verify(chain[0], intermediates).chain
    except VerificationError as exc:
        raise Forbidden(
            f"the certificate chain does not validate: {exc}", code="trust.chain_invalid"
        ) from exc
    if _spki(chain[0].public_key()) != _spki(expected_public_key):
        raise Forbidden(
            "the chain's leaf certificate certifies a different key than the one that signed",
            code="trust.chain_key_mismatch",
        )
    return path


# --- the anchors --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedRoot:
    fingerprint: str
    """SHA-256 of the DER certificate, lower-case hex."""
    subject: str
    certificate: x509.Certificate
    label: str | None
    configured: bool
    """True when it comes from the node's settings (and cannot be removed at run time)."""


@dataclass(frozen=True)
class TrustedIssuer:
    did: str
    label: str | None
    configured: bool


def _root(certificate: x509.Certificate, label: str | None, configured: bool) -> TrustedRoot:
    return TrustedRoot(
        fingerprint=fingerprint_sha256(certificate),
        subject=certificate.subject.rfc4514_string(),
        certificate=certificate,
        label=label,
        configured=configured,
    )


def _read_configured_roots(paths: Sequence[Path]) -> list[TrustedRoot]:
    roots: list[TrustedRoot] = []
    for path in paths:
        try:
            data = path.read_bytes()
            certificates = x509.load_pem_x509_certificates(data)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot read trusted root CA file {path}: {exc}", code="trust.invalid_settings"
            ) from exc
        roots.extend(_root(cert, path.name, configured=True) for cert in certificates)
    return roots


def _check_issuer_did(did: str) -> str:
    did_method(did)  # raises did.invalid
    if split_did_url(did)[1] is not None:
        raise BadRequest(
            "give the issuer's DID without a fragment", code="did.invalid", pointer="/did"
        )
    if len(did) > _MAX_FINGERPRINT:
        raise BadRequest(
            f"issuer DIDs longer than {_MAX_FINGERPRINT} characters cannot be stored",
            code="trust.did_too_long",
            pointer="/did",
        )
    return did


class TrustAnchorService:
    """The root CAs and issuer DIDs this node trusts: from settings plus the database."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings_roots: Sequence[Path] = (),
        settings_issuers: Sequence[str] = (),
        *,
        cache_seconds: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._cache_seconds = cache_seconds
        self._roots_cache: tuple[float, list[TrustedRoot]] | None = None
        self._configured_roots = _read_configured_roots(settings_roots)
        self._configured_issuers = [_check_issuer_did(did) for did in settings_issuers]

    # roots

    def add_root(self, pem: bytes | str, label: str | None = None) -> TrustedRoot:
        """Trust a root CA certificate (PEM); adding one already trusted changes nothing."""
        certificate = load_root_certificate(pem)
        fingerprint = fingerprint_sha256(certificate)
        value = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self._add("root_ca", fingerprint, value, label)
        self._roots_cache = None
        return _root(certificate, label, configured=False)

    def list_roots(self) -> list[TrustedRoot]:
        """Every trusted root: configured ones first, then those added at run time.

        Parsed roots are cached for a few seconds (every chain check needs them, and
        parsing them per check was half the cost of a compliance check); changes made
        through this service clear the cache at once, other processes' within the TTL.
        """
        now = time.monotonic()
        cached = self._roots_cache
        if cached is not None and now - cached[0] < self._cache_seconds:
            return list(cached[1])
        roots = self._load_roots()
        self._roots_cache = (now, roots)
        return list(roots)

    def _load_roots(self) -> list[TrustedRoot]:
        roots = list(self._configured_roots)
        with self._sessions() as session:
            rows = session.scalars(
                select(TrustAnchor)
                .where(TrustAnchor.kind == "root_ca")
                .order_by(TrustAnchor.created_at, TrustAnchor.id)
            ).all()
        known = {root.fingerprint for root in roots}
        for row in rows:
            if row.fingerprint not in known:
                roots.append(
                    _root(x509.load_pem_x509_certificate(row.value.encode()), row.label, False)
                )
        return roots

    def root_certificates(self) -> list[x509.Certificate]:
        return [root.certificate for root in self.list_roots()]

    def remove_root(self, fingerprint: str) -> None:
        """Stop trusting a root added at run time (by its SHA-256 fingerprint)."""
        fingerprint = fingerprint.lower().replace(":", "")
        if any(root.fingerprint == fingerprint for root in self._configured_roots):
            raise Conflict(
                "this root CA comes from the node's settings; remove it there",
                code="trust.configured_anchor",
            )
        self._remove("root_ca", fingerprint)
        self._roots_cache = None

    # issuers

    def add_issuer(self, did: str, label: str | None = None) -> TrustedIssuer:
        """Trust an issuer DID; adding one already trusted changes nothing."""
        did = _check_issuer_did(did)
        self._add("issuer", did, did, label)
        return TrustedIssuer(did, label, configured=False)

    def list_issuers(self) -> list[TrustedIssuer]:
        issuers = [TrustedIssuer(did, None, True) for did in self._configured_issuers]
        with self._sessions() as session:
            rows = session.scalars(
                select(TrustAnchor)
                .where(TrustAnchor.kind == "issuer")
                .order_by(TrustAnchor.created_at, TrustAnchor.id)
            ).all()
        issuers.extend(
            TrustedIssuer(row.value, row.label, False)
            for row in rows
            if row.value not in self._configured_issuers
        )
        return issuers

    def remove_issuer(self, did: str) -> None:
        if did in self._configured_issuers:
            raise Conflict(
                "this issuer comes from the node's settings; remove it there",
                code="trust.configured_anchor",
            )
        self._remove("issuer", did)

    def is_trusted_issuer(self, did: str) -> bool:
        did = split_did_url(did)[0]
        if did in self._configured_issuers:
            return True
        with self._sessions() as session:
            found = session.scalar(
                select(TrustAnchor.id).where(
                    TrustAnchor.kind == "issuer", TrustAnchor.fingerprint == did
                )
            )
        return found is not None

    # chains

    def verify_key_chain(
        self,
        chain: Sequence[x509.Certificate],
        expected_public_key: PublicKey,
        now: datetime | None = None,
    ) -> list[x509.Certificate]:
        """:func:`verify_key_chain` against this node's trusted roots."""
        return verify_key_chain(chain, expected_public_key, self.root_certificates(), now)

    # storage

    def _add(self, kind: AnchorKind, fingerprint: str, value: str, label: str | None) -> None:
        try:
            with transaction(self._sessions) as session:
                exists = session.scalar(
                    select(TrustAnchor.id).where(
                        TrustAnchor.kind == kind, TrustAnchor.fingerprint == fingerprint
                    )
                )
                if exists is None:
                    session.add(
                        TrustAnchor(
                            id=uuid.uuid4().hex,
                            kind=kind,
                            value=value,
                            fingerprint=fingerprint,
                            label=label,
                        )
                    )
        except IntegrityError:
            # A concurrent add of the same anchor won the race: the anchor is there.
            pass

    def _remove(self, kind: AnchorKind, fingerprint: str) -> None:
        with transaction(self._sessions) as session:
            result = session.execute(
                delete(TrustAnchor).where(
                    TrustAnchor.kind == kind, TrustAnchor.fingerprint == fingerprint
                )
            )
            removed = getattr(result, "rowcount", 0)
        if not removed:
            raise NotFound(
                f"no trust anchor {fingerprint!r} of kind {kind}", code="trust.unknown_anchor"
            )
