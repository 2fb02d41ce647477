"""The identity role of a node: its DID, its keys, what it issues, and how it verifies."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from hansa.errors import BadRequest, Forbidden, NotFound
from hansa.identity import data_integrity, vc_jose
from hansa.identity.did import (
    DID_CONTEXT,
    JWS2020_CONTEXT,
    DidDocument,
    DidResolver,
    verification_method_entry,
)
from hansa.identity.did_web import resolution_result
from hansa.identity.frozen import freeze
from hansa.identity.pki import load_certificates_pem
from hansa.identity.status_service import StatusListService
from hansa.identity.trust import TrustAnchorService
from hansa.identity.validity import format_datetime
from hansa.identity.vc_jose import check_credential_shape as check_vcdm2_shape
from hansa.identity.vc_jose import enveloped_credential
from hansa.identity.verifier import CredentialCheck, CredentialVerifier, PresentationCheck
from hansa.identity.wallet import KeyInfo, Wallet

DCP_CONTEXT = "https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"
Securing = Literal["vc-jose", "eddsa-rdfc-2022"]
CredentialState = Literal["revoked", "suspended", "active"]


@dataclass(frozen=True)
class NodeIdentity:
    did: str
    base_url: str


class IdentityService:
    """Issues and verifies on behalf of one node, under the node's DID."""

    def __init__(
        self,
        *,
        identity: NodeIdentity,
        wallet: Wallet,
        status_lists: StatusListService,
        trust: TrustAnchorService,
        verifier: CredentialVerifier,
        resolver: DidResolver,
        services: list[dict[str, Any]] | None = None,
    ) -> None:
        self.did = identity.did
        self.base_url = identity.base_url.rstrip("/")
        self.wallet = wallet
        self.status_lists = status_lists
        self.trust = trust
        self.verifier = verifier
        self.resolver = resolver
        self.services = list(services or [])
        """DID document ``service`` entries (e.g. the DCP credential service)."""
        self._document: DidDocument | None = None
        self._lock = threading.Lock()

    # --- DID document and keys ---------------------------------------------------------

    def ensure_signing_key(self) -> KeyInfo:
        """The active Ed25519 key, created on first start."""
        keys = [k for k in self.wallet.list_keys(include_retired=False) if k.key_type == "Ed25519"]
        return keys[-1] if keys else self.create_key("Ed25519")

    def did_document(self) -> DidDocument:
        """The node's DID document: every key, retired ones for verifying old signatures only.

        Shared and read-only (as a resolver's cached documents are); rebuilt when a key changes.
        """
        with self._lock:
            if self._document is None:
                self._document = freeze(self._build_did_document())
            return self._document

    def _build_did_document(self) -> DidDocument:
        methods, active = [], []
        for key in self.wallet.list_keys():
            entry = verification_method_entry(self.did, key.id, key.public_key)
            if key.certificate_chain:
                entry["publicKeyJwk"]["x5u"] = f"{self.base_url}/.well-known/x509/{key.id}.pem"
            methods.append(entry)
            if key.status == "active":
                active.append(entry["id"])
        document: DidDocument = {
            "@context": [DID_CONTEXT, JWS2020_CONTEXT],
            "id": self.did,
            "verificationMethod": methods,
            # Retired keys keep verifying what they signed, but authenticate nothing new.
            "assertionMethod": [m["id"] for m in methods],
            "authentication": active,
            "capabilityInvocation": active,
        }
        if self.services:
            document["@context"].append(DCP_CONTEXT)
            document["service"] = self.services
        return document

    def _changed(self) -> None:
        with self._lock:
            self._document = None

    def create_key(self, key_type: str = "Ed25519", key_id: str | None = None) -> KeyInfo:
        info = self.wallet.create_key(key_type, key_id)
        self._changed()
        return info

    def rotate_key(self, key_id: str) -> KeyInfo:
        info = self.wallet.rotate(key_id)
        self._changed()
        return info

    def attach_certificate_chain(self, key_id: str, chain_pem: str) -> KeyInfo:
        """Bind a key to a root CA: the chain's leaf must certify exactly this key."""
        key = self.wallet.get(key_id)
        chain = load_certificates_pem(chain_pem.encode())
        self.trust.verify_key_chain(chain, key.public_key, datetime.now(UTC))
        info = self.wallet.set_certificate_chain(key_id, chain_pem)
        self._changed()
        return info

    def certificate_chain(self, key_id: str) -> str:
        chain = self.wallet.get(key_id).certificate_chain
        if chain is None:
            raise NotFound(f"key {key_id!r} has no certificate chain", code="key.no_certificate")
        return chain

    def resolution_result(self, did: str) -> dict[str, Any]:
        return resolution_result(did, self.resolver)

    # --- issuing ---------------------------------------------------------------------------

    def issue_credential(
        self,
        credential: dict[str, Any],
        *,
        securing: Securing = "vc-jose",
        with_status: bool = True,
    ) -> dict[str, Any]:
        """Sign ``credential`` as this node; returns an enveloped vc+jwt or a DI-secured object."""
        if "proof" in credential:
            raise BadRequest(
                "the credential to issue already has a proof; send it unsigned",
                code="vc.invalid_credential",
                pointer="/proof",
            )
        credential = dict(credential)
        credential.setdefault("issuer", self.did)
        issuer_id = check_vcdm2_shape(credential)
        if issuer_id != self.did:
            raise Forbidden(
                f"this node issues only as {self.did}, not as {issuer_id}",
                code="vc.issuer_not_self",
                pointer="/issuer",
            )
        credential.setdefault("id", f"urn:uuid:{uuid.uuid4()}")
        credential.setdefault("validFrom", format_datetime(datetime.now(UTC)))
        key_type = "Ed25519" if securing == "eddsa-rdfc-2022" else None
        key, private = self.wallet.signing_key(key_type)
        kid = f"{self.did}#{key.id}"
        if securing == "eddsa-rdfc-2022":
            # Fail on a JSON-LD problem before a status entry is spent on it.
            data_integrity.add_proof(credential, private, kid)
        if with_status:
            subject = credential["credentialSubject"]
            subject_id = subject.get("id") if isinstance(subject, dict) else None
            types = (
                credential["type"] if isinstance(credential["type"], list) else [credential["type"]]
            )
            credential["credentialStatus"] = self.status_lists.allocate(
                str(credential["id"]), subject=subject_id, types=[str(t) for t in types]
            )
        if securing == "eddsa-rdfc-2022":
            return data_integrity.add_proof(credential, private, kid)
        return enveloped_credential(vc_jose.issue_vc_jwt(credential, private, kid))

    def sign_jwt_credential(self, credential: dict[str, Any]) -> str:
        """A bare ``vc+jwt`` of ``credential`` with this node's key (no status, no checks)."""
        key, private = self.wallet.signing_key()
        return vc_jose.issue_vc_jwt(credential, private, f"{self.did}#{key.id}")

    def issue_presentation(
        self,
        credentials: list[str],
        *,
        audience: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """A ``vp+jwt`` of ``credentials`` (vc+jwt tokens) held by this node."""
        key, private = self.wallet.signing_key()
        return vc_jose.issue_vp_jwt(
            credentials, self.did, private, f"{self.did}#{key.id}", audience=audience, nonce=nonce
        )

    # --- status ------------------------------------------------------------------------------

    def set_credential_status(self, credential_id: str, state: CredentialState) -> None:
        if state == "revoked":
            self.status_lists.revoke(credential_id)
        elif state == "suspended":
            self.status_lists.suspend(credential_id)
        else:
            self.status_lists.unsuspend(credential_id)

    def status_list_credential(self, list_id: str) -> str:
        return self.status_lists.status_list_credential(list_id, self.sign_jwt_credential)

    # --- verifying ----------------------------------------------------------------------------

    def verify_credential(
        self, vc: dict[str, Any] | str, *, trusted_issuer: bool = False, x509: bool = False
    ) -> CredentialCheck:
        return self.verifier.verify_credential(vc, trusted_issuer=trusted_issuer, x509=x509)

    def verify_presentation(
        self,
        vp: dict[str, Any] | str,
        *,
        challenge: str | None = None,
        domain: str | None = None,
        trusted_issuer: bool = False,
        x509: bool = False,
    ) -> PresentationCheck:
        return self.verifier.verify_presentation(
            vp, challenge=challenge, domain=domain, trusted_issuer=trusted_issuer, x509=x509
        )

    # --- trust anchors ---------------------------------------------------------------------

    def list_trust_anchors(self) -> list[dict[str, Any]]:
        roots = [
            {
                "id": root.fingerprint,
                "kind": "root_ca",
                "subject": root.subject,
                "fingerprint": root.fingerprint,
                "label": root.label,
                "configured": root.configured,
            }
            for root in self.trust.list_roots()
        ]
        issuers = [
            {
                "id": issuer.did,
                "kind": "issuer",
                "did": issuer.did,
                "label": issuer.label,
                "configured": issuer.configured,
            }
            for issuer in self.trust.list_issuers()
        ]
        return roots + issuers

    def add_root_ca(self, pem: str, label: str | None) -> dict[str, Any]:
        root = self.trust.add_root(pem, label)
        return {"id": root.fingerprint, "kind": "root_ca", "subject": root.subject, "label": label}

    def add_trusted_issuer(self, did: str, label: str | None) -> dict[str, Any]:
        issuer = self.trust.add_issuer(did, label)
        return {"id": issuer.did, "kind": "issuer", "did": issuer.did, "label": label}

    def remove_trust_anchor(self, anchor_id: str) -> None:
        """Remove a trusted issuer (by DID) or root CA (by SHA-256 fingerprint)."""
        if anchor_id.startswith("did:"):
            self.trust.remove_issuer(anchor_id)
        else:
            self.trust.remove_root(anchor_id)
