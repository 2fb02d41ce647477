"""Builders for compliance tests: a test PKI, participants with did:web-style DID documents
whose keys chain to a test root CA, Gaia-X 25.11 credentials as plain dicts, signed as
``vc+jwt`` and presented as ``vp+jwt``.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hansa.errors import NotFound
from hansa.identity.did import DID_CONTEXT, JWS2020_CONTEXT, DidDocument, verification_method_entry
from hansa.identity.keys import PrivateKey, generate_private_key
from hansa.identity.pki import certificates_to_pem, create_root_ca, issue_key_certificate
from hansa.identity.validity import format_datetime
from hansa.identity.vc_jose import CREDENTIALS_V2, issue_vc_jwt, issue_vp_jwt

GX = "https://w3id.org/gaia-x/development#"
CONTEXT = [CREDENTIALS_V2, GX]
#: The T&C hash the Gaia-X 25.11 shapes accept (gx:IssuerShape's sh:in).
GAIA_X_TERMS_HASH = "4bd7554097444c960292b4726c2efa1373485e8a5565d94d41195214c5e0ceb3"
OLD_GAIA_X_TERMS_HASH = "067dcac5efd18c1927deb1ffed3feab6d0ad044c0a9a263e6d5d8bdc43224515"

# Every LegalDocument subclass the Compliance Document asks a standard-compliance offering
# to declare (criteria.yaml, loire_evidence).
DECLARED_DOCUMENTS = (
    "gx:LegallyBindingAct",
    "gx:AccessControlManagement",
    "gx:AssetsManagement",
    "gx:BusinessContinuityMeasures",
    "gx:ChangeAndConfigurationManagement",
    "gx:ComplianceAssurance",
    "gx:CopyrightAndIntellectualPropertyDocument",
    "gx:CustomerAuditingRights",
    "gx:CustomerDataAccessTerms",
    "gx:CustomerDataProcessingTerms",
    "gx:DevelopmentCycleSecurity",
    "gx:DocumentChangeProcedures",
    "gx:EmployeeResponsibilities",
    "gx:EnvironmentalImpactReport",
    "gx:GovernmentInvestigationManagement",
    "gx:InformationSecurityOrganization",
    "gx:InformationSecurityPolicies",
    "gx:InformationSecurityRiskManagement",
    "gx:OperationalSecurity",
    "gx:PhysicalSecurity",
    "gx:ProcurementManagementSecurity",
    "gx:ProductSecurity",
    "gx:RoleAndResponsibilities",
    "gx:SecurityIncidentManagement",
    "gx:UserDocumentationMaintenance",
)


class StaticResolver:
    """A DID resolver over documents the test publishes (as did:web would serve them)."""

    def __init__(self) -> None:
        self.documents: dict[str, DidDocument] = {}

    def resolve(self, did: str) -> DidDocument:
        try:
            return self.documents[did]
        except KeyError:
            raise NotFound(f"{did} is not published", code="did.not_found") from None


@dataclass
class Party:
    """A DID with one Ed25519 signing key (``#key-1``), certified by a CA."""

    did: str
    key: PrivateKey
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def kid(self) -> str:
        return f"{self.did}#key-1"

    def document(self) -> DidDocument:
        entry = verification_method_entry(self.did, "key-1", self.key)
        if self.chain:
            entry["publicKeyJwk"]["x5c"] = [
                base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                for c in self.chain
            ]
        return {
            "@context": [DID_CONTEXT, JWS2020_CONTEXT],
            "id": self.did,
            "verificationMethod": [entry],
            "assertionMethod": [entry["id"]],
            "authentication": [entry["id"]],
        }

    def sign(self, credential: dict[str, Any]) -> str:
        return issue_vc_jwt(credential, self.key, self.kid)

    def present(self, tokens: Iterable[str], *, now: datetime | None = None) -> str:
        return issue_vp_jwt(list(tokens), self.did, self.key, self.kid, now=now)


class TestPki:
    """A root CA and the parties it certifies, published in one resolver."""

    __test__ = False

    def __init__(self, name: str = "Federation test root") -> None:
        self.ca_key, self.ca_cert = create_root_ca(name)
        self.resolver = StaticResolver()

    @property
    def root_pem(self) -> str:
        return certificates_to_pem([self.ca_cert]).decode()

    def party(self, did: str, *, certified: bool = True) -> Party:
        key = generate_private_key("Ed25519")
        party = Party(did, key)
        if certified:
            leaf = issue_key_certificate(self.ca_key, self.ca_cert, did, key.public_key())
            party.chain = [leaf, self.ca_cert]
        self.resolver.documents[did] = party.document()
        return party


def _dates(now: datetime | None = None, days: int = 365) -> dict[str, str]:
    now = now or datetime.now(UTC)
    return {
        "validFrom": format_datetime(now - timedelta(minutes=5)),
        "validUntil": format_datetime(now + timedelta(days=days)),
    }


def _base(party: Party, name: str, gx_type: str) -> dict[str, Any]:
    base = f"https://{party.did.split(':')[2]}/credentials/{name}"
    return {
        "@context": list(CONTEXT),
        # The Gaia-X type goes on the subject: the 25.11 shapes are closed, so a credential
        # node typed gx:LegalPerson would fail them for its issuer, validFrom, ...
        "type": ["VerifiableCredential"],
        "id": base,
        "issuer": party.did,
        **_dates(),
        "credentialSubject": {"id": f"{base}#cs", "type": gx_type},
    }


def registration_credential(
    notary: Party, subject_id: str, vat_id: str = "DE129273398"
) -> dict[str, Any]:
    """A notary's gx:VatID credential for ``subject_id`` (as the Loire notary issues it)."""
    credential = _base(notary, "vat-id", "gx:VatID")
    credential["credentialSubject"] = {
        "id": subject_id,
        "type": "gx:VatID",
        "vatID": vat_id,
        "countryCode": vat_id[:2],
    }
    return credential


def address(country: str = "DE", subdivision: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "gx:Address", "countryCode": country}
    if subdivision is not None:
        node["countrySubdivisionCode"] = subdivision
    return node


def legal_person(participant: Party, registration_subject: str) -> dict[str, Any]:
    credential = _base(participant, "legal-person", "gx:LegalPerson")
    credential["credentialSubject"].update(
        {
            "registrationNumber": {"id": registration_subject},
            "legalAddress": address(),
            "headquartersAddress": address(),
        }
    )
    return credential


def issuer_credential(participant: Party, terms_hash: str = GAIA_X_TERMS_HASH) -> dict[str, Any]:
    credential = _base(participant, "issuer", "gx:Issuer")
    credential["credentialSubject"]["gaiaxTermsAndConditions"] = terms_hash
    return credential


def _document(cls: str, provider_subject: str) -> dict[str, Any]:
    return {
        "type": cls,
        "url": f"https://provider.example/legal/{cls.removeprefix('gx:').lower()}.pdf",
        "governingLawCountries": ["DE"],
        "involvedParties": {"id": provider_subject},
    }


def service_offering(
    participant: Party, provider_subject: str, registration_subject: str
) -> dict[str, Any]:
    """A gx:ServiceOffering declaring what standard compliance asks for."""
    credential = _base(participant, "offering", "gx:ServiceOffering")
    documents = [_document(cls, provider_subject) for cls in DECLARED_DOCUMENTS]
    credential["credentialSubject"].update(
        {
            "providedBy": {"id": provider_subject},
            "serviceOfferingTermsAndConditions": [
                {
                    "type": "gx:TermsAndConditions",
                    "url": "https://provider.example/terms.pdf",
                    "hash": "0" * 64,
                }
            ],
            "legalDocuments": documents,
            "dataAccountExport": [
                {
                    "type": "gx:DataAccountExport",
                    "requestType": "email",
                    "accessType": "digital",
                    "formatType": "application/json",
                }
            ],
            "aggregationOfResources": [{"id": "https://provider.example/resources/pop#cs"}],
            "cryptographicSecurityStandards": ["RFC9142"],
            "customerInstructions": [
                {
                    "type": "gx:CustomerInstructions",
                    "terms": [_document("gx:LegalDocument", provider_subject)],
                    "means": [_document("gx:LegalDocument", provider_subject)],
                }
            ],
            "dataPortability": [
                {
                    "type": "gx:DataPortability",
                    "resource": "customer data",
                    "means": "export API",
                    "documentations": ["https://provider.example/docs/export"],
                    "legalDocument": _document("gx:LegalDocument", provider_subject),
                    "deletionMethods": "crypto-shredding",
                    "deletionTimeframe": "30 days",
                    "formats": ["application/json"],
                    "pricing": "https://provider.example/pricing",
                }
            ],
            "possiblePersonalDataTransfers": [
                {
                    "type": "gx:SubProcessorDataTransfer",
                    "subProcessor": {"id": provider_subject},
                    "reason": "support by a sub-processor",
                    "scope": "support tickets",
                    "subProcessorManagement": _document("gx:LegalDocument", provider_subject),
                }
            ],
            "providerContactInformation": {
                "type": "gx:ContactInformation",
                "email": "support@provider.example",
                "url": "https://provider.example/contact",
            },
            "requiredMeasures": [
                {
                    "type": "gx:Measure",
                    "description": "encryption at rest",
                    "legalDocuments": [_document("gx:LegalDocument", provider_subject)],
                }
            ],
            "subContractors": [
                {
                    "type": "gx:SubContractor",
                    "legalName": "Sub GmbH",
                    "applicableJurisdiction": "DE",
                    "communicationMethods": [_document("gx:LegalDocument", provider_subject)],
                    "informationDocuments": [_document("gx:LegalDocument", provider_subject)],
                }
            ],
        }
    )
    # The resource the offering is hosted at (P3.1.10's point of presence), maintained by an
    # internet service provider (a LegalPerson, as the 25.11 shapes want it).
    isp = {
        "id": "https://isp.example/legal-person#cs",
        "type": "gx:InternetServiceProvider",
        "registrationNumber": {"id": registration_subject},
        "legalAddress": address(),
        "headquartersAddress": address(),
    }
    credential["credentialSubject"]["aggregationOfResources"] = [
        {
            "type": "gx:PointOfPresence",
            "id": "https://provider.example/resources/pop#cs",
            "name": "Frankfurt PoP",
            "location": [address("DE")],
            "maintainedBy": [isp],
            "interconnectedParticipants": [{"id": provider_subject}],
            "interconnectionPointIdentifier": {
                "type": "gx:InterconnectionPointIdentifier",
                "completeIPI": "DE-FRA-PoP-1",
                "ipiType": "Other",
            },
        }
    ]
    return credential


def certificate(body: Party, about: str, title: str = "BSI C5") -> dict[str, Any]:
    """A conformity-assessment body's gx:StandardConformity credential about ``about``."""
    credential = _base(body, f"cert-{title.replace(' ', '-').lower()}", "gx:StandardConformity")
    credential["credentialSubject"] = {
        "id": f"{about.split('#')[0]}#{title.replace(' ', '-').lower()}",
        "type": "gx:StandardConformity",
        "title": title,
        "standardReference": "https://www.bsi.bund.de/c5",
    }
    return credential


@dataclass
class Federation:
    """A PKI with a participant, a notary and a conformity-assessment body."""

    pki: TestPki
    participant: Party
    notary: Party
    assessor: Party

    @classmethod
    def create(cls) -> Federation:
        pki = TestPki()
        return cls(
            pki=pki,
            participant=pki.party("did:web:provider.example"),
            notary=pki.party("did:web:notary.example"),
            assessor=pki.party("did:web:assessor.example"),
        )

    def participant_credentials(
        self, terms_hash: str = GAIA_X_TERMS_HASH
    ) -> dict[str, dict[str, Any]]:
        registration_subject = "https://provider.example/credentials/vat-id#cs"
        return {
            "legal_person": legal_person(self.participant, registration_subject),
            "registration": registration_credential(self.notary, registration_subject),
            "issuer": issuer_credential(self.participant, terms_hash),
        }

    def offering_credentials(self) -> dict[str, dict[str, Any]]:
        credentials = self.participant_credentials()
        provider = credentials["legal_person"]["credentialSubject"]["id"]
        registration = credentials["registration"]["credentialSubject"]["id"]
        credentials["offering"] = service_offering(self.participant, provider, registration)
        return credentials

    def sign_all(self, credentials: dict[str, dict[str, Any]]) -> list[str]:
        signers = {"registration": self.notary}
        return [
            signers.get(name, self.assessor if name.startswith("cert") else self.participant).sign(
                credential
            )
            for name, credential in credentials.items()
        ]

    def presentation(self, credentials: dict[str, dict[str, Any]]) -> str:
        return self.participant.present(self.sign_all(credentials))


def variant(credential: dict[str, Any], **subject: Any) -> dict[str, Any]:
    """A deep copy of ``credential`` with subject fields replaced (None deletes one)."""
    changed = copy.deepcopy(credential)
    for key, value in subject.items():
        key = key.replace("__", ":")
        if value is None:
            changed["credentialSubject"].pop(key, None)
        else:
            changed["credentialSubject"][key] = value
    return changed
