"""A catalogue node and its federation for tests: real keys, certificates, labels, status lists.

The node is the federation's clearing house: it issues compliance labels with its own status
list and trusts itself as compliance issuer. Participants are did:web parties whose keys
chain (x5c) to the federation's root CA; their DID documents are answered from a dict, and
the node's own x5u chain and status lists are read from its database: no network.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization

from hansa.catalogue.ingest import digest_sri
from hansa.catalogue.service import CatalogueService, open_catalogue
from hansa.errors import NotFound, UpstreamUnavailable
from hansa.identity.did import DidDocument, build_did_document
from hansa.identity.keys import PrivateKey, generate_private_key
from hansa.identity.pki import certificates_to_pem, create_root_ca, issue_key_certificate
from hansa.identity.status_service import StatusChecker
from hansa.identity.validity import format_datetime
from hansa.identity.vc_jose import CREDENTIALS_V2, issue_vc_jwt, issue_vp_jwt, verify_vc_jwt
from hansa.identity.verifier import CredentialVerifier
from hansa.node import Node

ADMIN_KEY = "test-admin-key"
GX_CONTEXT = "https://w3id.org/gaia-x/development#"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Party:
    """A participant: a did:web, one key bound to the federation CA by an x5c chain."""

    did: str
    key: PrivateKey = field(default_factory=generate_private_key)
    key_id: str = "key-1"

    @property
    def kid(self) -> str:
        return f"{self.did}#{self.key_id}"

    def sign(self, credential: dict[str, Any]) -> str:
        return issue_vc_jwt(credential, self.key, self.kid)

    def present(self, tokens: list[str], audience: str | None, nonce: str | None = None) -> str:
        return issue_vp_jwt(tokens, self.did, self.key, self.kid, audience=audience, nonce=nonce)


class Federation:
    """The root CA, the parties' DID documents, and a verifier for the catalogue node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.ca_key, self.ca_cert = create_root_ca("Test federation root")
        node.identity.add_root_ca(certificates_to_pem([self.ca_cert]).decode(), "test root")
        key = node.identity.ensure_signing_key()
        chain = [
            issue_key_certificate(self.ca_key, self.ca_cert, node.identity.did, key.public_key),
            self.ca_cert,
        ]
        node.identity.attach_certificate_chain(key.id, certificates_to_pem(chain).decode())
        node.identity.add_trusted_issuer(node.identity.did, "the clearing house")
        self.documents: dict[str, DidDocument] = {}
        self.offline = False
        """When set, status lists and certificate chains cannot be fetched."""

    # --- parties ---------------------------------------------------------------------------

    def party(self, name: str, *, certified: bool = True) -> Party:
        party = Party(f"did:web:{name}.example.eu")
        document = build_did_document(party.did, [(party.key_id, party.key)])
        if certified:
            leaf = issue_key_certificate(
                self.ca_key, self.ca_cert, party.did, party.key.public_key()
            )
            document["verificationMethod"][0]["publicKeyJwk"]["x5c"] = [
                base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                for c in (leaf, self.ca_cert)
            ]
        self.documents[party.did] = document
        return party

    def resolve(self, did: str) -> DidDocument:
        if did in self.documents:
            return self.documents[did]
        if did == self.node.identity.did:
            return self.node.identity.did_document()
        raise NotFound(f"no DID document for {did}", code="did.not_found")

    def fetch(self, url: str) -> bytes:
        if self.offline:
            raise UpstreamUnavailable(f"{url} cannot be reached", code="fetch.unreachable")
        base = self.node.settings.base_url.rstrip("/")
        if url.startswith(base + "/status/"):
            return self.node.identity.status_list_credential(url[len(base + "/status/") :]).encode()
        if url.startswith(base + "/.well-known/x509/"):
            key_id = url[len(base + "/.well-known/x509/") :].removesuffix(".pem")
            return self.node.identity.certificate_chain(key_id).encode()
        raise NotFound(f"nothing at {url}", code="fetch.not_found")

    def verifier(self) -> CredentialVerifier:
        def verify_list(token: str) -> tuple[dict[str, Any], str]:
            verified = verify_vc_jwt(token, self)
            return verified.credential, verified.issuer

        # ttl 0: each check reads the list as it is now (revocations take effect at once).
        status = StatusChecker(self.fetch, verify_list, 0.0)
        return CredentialVerifier(self, status.check, self.node.identity.trust, self.fetch)

    def catalogue(self) -> CatalogueService:
        catalogue = open_catalogue(
            self.node.engine,
            self.node.sessions,
            self.verifier(),
            node_did=self.node.identity.did,
            is_compliance_issuer=self.node.identity.trust.is_trusted_issuer,
            rdf_path=None,
            cursor_secret=b"test cursor secret",
        )
        self.node.catalogue = catalogue  # type: ignore[attr-defined]
        return catalogue

    # --- credentials -----------------------------------------------------------------------

    def label(
        self,
        tokens: list[str],
        *,
        level: str = "SC",
        issuer: Party | None = None,
        valid_until: datetime | None = None,
        types: list[str] | None = None,
    ) -> tuple[str, str]:
        """A label covering ``tokens`` (vc+jwt), issued by the node or ``issuer``: (id, token)."""
        compliant = []
        for index, token in enumerate(tokens):
            payload = _payload(token)
            kind = (types or [])[index] if types else _subject_type(payload)
            compliant.append(
                {
                    "id": payload["id"],
                    "type": "gx:CompliantCredential",
                    "gx:credentialType": kind,
                    "cred:digestSRI": digest_sri(token),
                }
            )
        label_id = f"urn:uuid:{uuid.uuid4()}"
        credential: dict[str, Any] = {
            "@context": [CREDENTIALS_V2, GX_CONTEXT],
            "id": label_id,
            "type": ["VerifiableCredential", "gx:LabelCredential"],
            "issuer": issuer.did if issuer else self.node.identity.did,
            "validFrom": format_datetime(NOW - timedelta(minutes=5)),
            "credentialSubject": {
                "id": f"{label_id}#subject",
                "type": "gx:LabelCredential",
                "gx:labelLevel": level,
                "gx:rulesVersion": "25.11",
                "gx:engineVersion": "hansa-test",
                "gx:validatedCriteria": ["https://w3id.org/gaia-x/criteria#P1.1.1"],
                "gx:compliantCredentials": compliant,
            },
        }
        if valid_until is not None:
            credential["validUntil"] = format_datetime(valid_until)
        if issuer is not None:
            return label_id, issuer.sign(credential)
        issued = self.node.identity.issue_credential(credential)
        return label_id, str(issued["id"]).split(",", 1)[1]


def _payload(token: str) -> dict[str, Any]:
    from hansa.identity.jose import decode_unverified

    return decode_unverified(token)[1]


def _subject_type(payload: dict[str, Any]) -> str:
    subject_type = payload["credentialSubject"].get("type", "gx:ServiceOffering")
    return str(subject_type[0] if isinstance(subject_type, list) else subject_type)


def offering(
    provider: Party,
    name: str,
    *,
    subject: str | None = None,
    description: str = "",
    keywords: tuple[str, ...] = (),
    kind: str = "gx:ServiceOffering",
    formats: tuple[str, ...] = ("application/json",),
    country: str = "DE",
    licence: str = "CC-BY-4.0",
    price_model: str = "subscription",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    policy: dict[str, Any] | None = None,
    dsp: str | None = "https://provider.example.eu/api/dsp",
) -> dict[str, Any]:
    """An offering credential in the Gaia-X 25.11 vocabulary (unsigned)."""
    subject_id = subject or f"{provider.did}:offerings:{uuid.uuid4().hex[:8]}"
    credential_subject: dict[str, Any] = {
        "id": subject_id,
        "type": kind,
        "gx:providedBy": {"id": provider.did},
        "schema:name": name,
        "schema:description": description,
        "gx:keyword": list(keywords),
        "gx:formatType": list(formats),
        "gx:dataAccountExport": {"gx:requestType": "API", "gx:formatType": "application/json"},
        "gx:location": {"gx:countryCode": country},
        "gx:license": licence,
        "hansa:price": {
            "hansa:priceModel": price_model,
            "hansa:amount": "10.00",
            "hansa:currency": "EUR",
        },
    }
    if policy is not None:
        credential_subject["gx:servicePolicy"] = policy
    if dsp is not None:
        credential_subject["gx:endpoint"] = {
            "gx:endpointURL": dsp,
            "gx:standardConformity": "Dataspace Protocol 2025-1",
        }
    credential: dict[str, Any] = {
        "@context": [CREDENTIALS_V2, GX_CONTEXT],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", kind],
        "issuer": provider.did,
        "validFrom": format_datetime(valid_from or NOW - timedelta(minutes=10)),
        "credentialSubject": credential_subject,
    }
    if valid_until is not None:
        credential["validUntil"] = format_datetime(valid_until)
    return credential


def legal_person(party: Party, name: str, country: str = "DE") -> dict[str, Any]:
    return {
        "@context": [CREDENTIALS_V2, GX_CONTEXT],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", "gx:LegalPerson"],
        "issuer": party.did,
        "validFrom": format_datetime(NOW - timedelta(minutes=10)),
        "credentialSubject": {
            "id": party.did,
            "type": "gx:LegalPerson",
            "schema:name": name,
            "gx:legalAddress": {"gx:countryCode": country},
        },
    }
