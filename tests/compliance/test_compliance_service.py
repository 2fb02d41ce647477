"""The compliance service end to end in-process: real signatures, chains, shapes, database."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from compliance_helpers import (
    CONTEXT,
    GAIA_X_TERMS_HASH,
    OLD_GAIA_X_TERMS_HASH,
    Federation,
    TestPki,
    address,
    certificate,
    variant,
)
from sqlalchemy import func, select

from hansa.compliance.registry import Registry
from hansa.compliance.service import ComplianceLimits, ComplianceService
from hansa.compliance.shapes import ShapeValidator
from hansa.compliance.violations import ComplianceFailed
from hansa.errors import HansaError
from hansa.identity import data_integrity
from hansa.identity.jose import sign_compact
from hansa.identity.keys import b64url_decode, generate_private_key
from hansa.identity.models import IssuedCredential
from hansa.identity.vc_jose import enveloped_credential, issue_vc_jwt
from hansa.identity.verifier import CredentialVerifier
from hansa.node import Node
from hansa.settings import Settings

SHAPES = ShapeValidator.builtin()


def _no_status(credential: dict[str, Any], issuer: str | None) -> None:
    raise AssertionError("the submitted test credentials carry no status entry")


def _no_fetch(url: str) -> bytes:
    raise AssertionError(f"nothing is fetched in these tests ({url})")


@pytest.fixture(scope="module")
def federation() -> Federation:
    return Federation.create()


@pytest.fixture
def node(database_url: str, tmp_path: Path) -> Iterator[Node]:
    settings = Settings(
        name="clearing-house",
        data_dir=tmp_path,
        database_url=database_url,
        base_url="https://clearing.example",
        roles=["identity", "clearing-house"],
        wallet_secret="a wallet secret for tests",  # type: ignore[arg-type]
    )
    node = Node.open(settings)
    node.identity.ensure_signing_key()
    yield node
    node.close()


def make_service(
    node: Node, federation: Federation, limits: ComplianceLimits | None = None
) -> ComplianceService:
    node.identity.trust.add_root(federation.pki.root_pem, "federation root")
    registry = Registry(node.sessions, node.identity.trust)
    registry.add_terms("25.11", "Gaia-X terms and conditions", sha256=GAIA_X_TERMS_HASH)
    registry.add_terms("22.10", "Older terms", sha256=OLD_GAIA_X_TERMS_HASH, current=False)
    registry.add_party("notary", federation.notary.did)
    registry.add_party("conformity_assessment_body", federation.assessor.did)
    verifier = CredentialVerifier(
        federation.pki.resolver, _no_status, node.identity.trust, _no_fetch
    )
    return ComplianceService(
        verifier=verifier,
        shapes=SHAPES,
        registry=registry,
        issue=node.identity.issue_credential,
        limits=limits,
    )


@pytest.fixture
def service(node: Node, federation: Federation) -> ComplianceService:
    return make_service(node, federation)


def payload(token: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return result


def issued_count(node: Node) -> int:
    with node.sessions() as session:
        return session.scalar(select(func.count()).select_from(IssuedCredential)) or 0


def sri(token: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(token.encode()).digest()).decode()


# --- success ------------------------------------------------------------------------------


def test_standard_compliance_of_a_participant(
    service: ComplianceService, node: Node, federation: Federation
) -> None:
    tokens = federation.sign_all(federation.participant_credentials())
    issued = service.issue_label(
        federation.participant.present(tokens),
        "standard-compliance",
        vcid="https://clearing.example/labels/provider",
    )
    label = payload(issued.token)
    assert label["type"] == ["VerifiableCredential", "gx:LabelCredential"]
    assert label["id"] == "https://clearing.example/labels/provider"
    assert label["issuer"] == node.identity.did
    subject = label["credentialSubject"]
    assert subject["gx:labelLevel"] == "SC"
    assert subject["gx:validatedCriteria"] == [
        "https://docs.gaia-x.eu/policy-rules-committee/compliance-document/25.10/"
        "criteria_participant/#PA1.1"
    ]
    assert subject["gx:rulesVersion"].startswith("CD24.11+CD25.10/")
    # The label is itself a valid gx:LabelCredential: the 25.11 shapes (closed) want the
    # digest as VC 2.0's digestSRI (cred:digestSRI), not a gx: property.
    assert SHAPES.validate([(label["id"], label)]) == []
    listed = {c["id"]: c["digestSRI"] for c in subject["gx:compliantCredentials"]}
    assert listed == {payload(t)["id"]: sri(t) for t in tokens}
    valid_from = datetime.fromisoformat(label["validFrom"])
    valid_until = datetime.fromisoformat(label["validUntil"])
    assert valid_until - valid_from == timedelta(days=90)
    assert {e["statusPurpose"] for e in label["credentialStatus"]} == {
        "revocation",
        "suspension",
    }
    # The label verifies as the clearing house's, and the clearing house can revoke it.
    assert node.identity.verify_credential(issued.token).issuer == node.identity.did
    assert not node.identity.status_lists.status_of(label["id"]).revoked
    node.identity.set_credential_status(label["id"], "revoked")
    assert node.identity.status_lists.status_of(label["id"]).revoked


def test_standard_compliance_of_a_service_offering(
    service: ComplianceService, federation: Federation
) -> None:
    presentation = federation.presentation(federation.offering_credentials())
    result = service.check(presentation, "SC")
    ids = {c.id for c in result.criteria}
    assert {"P1.1.1", "P1.2.9", "P3.1.10", "P4.1.1", "P6.1.1", "PA1.1"} <= ids
    assert len(result.credentials) == 4


def test_json_ld_presentation_with_a_data_integrity_proof(
    service: ComplianceService, federation: Federation
) -> None:
    tokens = federation.sign_all(federation.participant_credentials())
    participant = federation.participant
    presentation = data_integrity.add_proof(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": participant.did,
            "verifiableCredential": [enveloped_credential(t) for t in tokens],
        },
        participant.key,
        participant.kid,
        proof_purpose="authentication",
    )
    assert service.issue_label(presentation, "SC").result.level == "SC"


def test_level_2_lists_each_missing_certificate(
    service: ComplianceService, node: Node, federation: Federation
) -> None:
    credentials = federation.offering_credentials()
    offering_id = credentials["offering"]["credentialSubject"]["id"]
    credentials["cert"] = certificate(federation.assessor, offering_id, "BSI C5")
    with pytest.raises(ComplianceFailed) as failed:
        service.issue_label(federation.presentation(credentials), "label-level-2")
    rules = {v.rule for v in failed.value.violations}
    assert "criterion.P3.1.1" not in rules  # BSI C5 covers it
    assert "criterion.P5.1.1" in rules  # EU-only processing: no certificate given
    assert all(v.fix for v in failed.value.violations)
    assert issued_count(node) == 0


# --- violations: a broken variant of every credential type ------------------------------


def _failing(
    service: ComplianceService, federation: Federation, credentials: dict[str, Any]
) -> ComplianceFailed:
    with pytest.raises(ComplianceFailed) as failed:
        service.check(federation.presentation(credentials), "SC")
    problem = failed.value.to_problem()
    assert problem["status"] == 409
    for error in problem["errors"]:
        assert set(error) == {"credential", "path", "rule", "message", "fix"}
        assert error["path"].startswith("/")
        assert "_:" not in error["path"]  # a JSON path, never a blank node
    return failed.value


def _find(failed: ComplianceFailed, rule: str) -> tuple[str, str]:
    match = [v for v in failed.violations if v.rule == rule]
    assert match, [v.rule for v in failed.violations]
    return match[0].credential, match[0].path


def test_broken_legal_person(service: ComplianceService, federation: Federation) -> None:
    credentials = federation.participant_credentials()
    credentials["legal_person"] = variant(credentials["legal_person"], legalAddress=address("XX"))
    failed = _failing(service, federation, credentials)
    assert _find(failed, "rule.address.country") == (
        "https://provider.example/credentials/legal-person",
        "/credentialSubject/legalAddress/countryCode",
    )


def test_broken_registration_number(service: ComplianceService, federation: Federation) -> None:
    credentials = federation.participant_credentials()
    credentials["registration"] = variant(credentials["registration"], vatID=None)
    failed = _failing(service, federation, credentials)
    credential, path = failed.violations[0].credential, failed.violations[0].path
    assert credential == "https://notary.example/credentials/vat-id"
    assert path.startswith("/credentialSubject")


def test_registration_number_from_an_untrusted_notary(
    service: ComplianceService, federation: Federation
) -> None:
    impostor = federation.pki.party("did:web:impostor-notary.example")
    credentials = federation.participant_credentials()
    credentials["registration"]["issuer"] = impostor.did
    tokens = [
        impostor.sign(c) if name == "registration" else federation.participant.sign(c)
        for name, c in credentials.items()
    ]
    with pytest.raises(ComplianceFailed) as failed:
        service.check(federation.participant.present(tokens), "SC")
    assert _find(failed.value, "rule.registration_number.notary")[1] == "/issuer"


def test_issuer_with_the_terms_of_another_version(
    service: ComplianceService, node: Node, federation: Federation
) -> None:
    credentials = federation.participant_credentials(terms_hash=OLD_GAIA_X_TERMS_HASH)
    failed = _failing(service, federation, credentials)
    violation = next(v for v in failed.violations if v.rule == "rule.tandc_hash")
    assert violation.path == "/credentialSubject/gaiaxTermsAndConditions"
    assert "version 22.10" in violation.message
    assert issued_count(node) == 0


def test_broken_service_offering(service: ComplianceService, federation: Federation) -> None:
    credentials = federation.offering_credentials()
    credentials["offering"] = variant(credentials["offering"], providedBy=None)
    failed = _failing(service, federation, credentials)
    assert _find(failed, "rule.offering.provider") == (
        "https://provider.example/credentials/offering",
        "/credentialSubject/providedBy",
    )
    shape_rules = [v for v in failed.violations if v.rule.startswith("gx:ServiceOffering")]
    assert shape_rules


def test_broken_certificate(service: ComplianceService, federation: Federation) -> None:
    credentials = federation.offering_credentials()
    offering_id = credentials["offering"]["credentialSubject"]["id"]
    credentials["cert"] = variant(
        certificate(federation.assessor, offering_id), standardReference=None
    )
    failed = _failing(service, federation, credentials)
    assert any(
        v.credential == credentials["cert"]["id"] and v.rule.startswith("gx:StandardConformity")
        for v in failed.violations
    )


# --- bad input: each refused with its own code, nothing issued ----------------------------


def _refused(
    service: ComplianceService, presentation: str | dict[str, Any], level: str = "SC"
) -> HansaError:
    with pytest.raises(HansaError) as caught:
        service.issue_label(presentation, level)
    return caught.value


def test_presentation_without_a_proof(
    service: ComplianceService, node: Node, federation: Federation
) -> None:
    tokens = federation.sign_all(federation.participant_credentials())
    unsigned = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": federation.participant.did,
        "verifiableCredential": [enveloped_credential(t) for t in tokens],
    }
    assert _refused(service, unsigned).code == "vc.proof_missing"
    assert issued_count(node) == 0


def test_presentation_signed_by_a_foreign_key(
    service: ComplianceService, node: Node, federation: Federation
) -> None:
    tokens = federation.sign_all(federation.participant_credentials())
    stranger = federation.pki.party("did:web:stranger.example")
    now = int(datetime.now(UTC).timestamp())
    forged = sign_compact(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": federation.participant.did,
            "verifiableCredential": [enveloped_credential(t) for t in tokens],
            "iat": now,
            "exp": now + 600,
        },
        stranger.key,
        kid=stranger.kid,
        typ="vp+jwt",
    )
    assert _refused(service, forged).code == "vp.holder_mismatch"
    assert issued_count(node) == 0


def test_credential_signed_by_a_key_not_in_the_did_document(
    service: ComplianceService, federation: Federation
) -> None:
    credentials = federation.participant_credentials()
    rogue = issue_vc_jwt(
        credentials.pop("legal_person"),
        generate_private_key("Ed25519"),
        f"{federation.participant.did}#key-2",
    )
    tokens = [rogue, *federation.sign_all(credentials)]
    error = _refused(service, federation.participant.present(tokens))
    assert error.code == "did.key_not_found"
    assert error.pointer is not None
    assert error.pointer.startswith("/verifiableCredential/0")


def test_key_chained_to_an_untrusted_root(
    service: ComplianceService, federation: Federation
) -> None:
    elsewhere = TestPki("Some other root")
    outsider = elsewhere.party("did:web:provider.example")
    federation.pki.resolver.documents[outsider.did] = outsider.document()
    try:
        credentials = federation.participant_credentials()
        del credentials["registration"]
        tokens = [outsider.sign(c) for c in credentials.values()]
        assert _refused(service, outsider.present(tokens)).code == "trust.untrusted_root"
    finally:
        federation.pki.resolver.documents[outsider.did] = federation.participant.document()


def test_key_without_a_certificate(service: ComplianceService, federation: Federation) -> None:
    bare = federation.pki.party("did:web:uncertified.example", certified=False)
    token = bare.sign(
        {
            "@context": CONTEXT,
            "type": ["VerifiableCredential"],
            "issuer": bare.did,
            "credentialSubject": {"id": "urn:x", "type": "gx:LegalPerson"},
        }
    )
    assert _refused(service, bare.present([token])).code == "trust.no_certificate_chain"


def test_duplicated_credential(service: ComplianceService, federation: Federation) -> None:
    tokens = federation.sign_all(federation.participant_credentials())
    error = _refused(service, federation.participant.present([*tokens, tokens[0]]))
    assert (error.code, error.pointer) == (
        "compliance.duplicate_credential",
        "/verifiableCredential/3",
    )


def test_conflicting_credentials(service: ComplianceService, federation: Federation) -> None:
    credentials = federation.participant_credentials()
    other = variant(credentials["legal_person"], legalAddress=address("FR"))
    other["id"] = "https://provider.example/credentials/legal-person-2"
    credentials["legal_person_2"] = other
    error = _refused(service, federation.presentation(credentials))
    assert error.code == "compliance.conflicting_credentials"


def test_unknown_types_are_listed(service: ComplianceService, federation: Federation) -> None:
    credentials = federation.participant_credentials()
    credentials["issuer"]["credentialSubject"]["type"] = "gx:Spaceship"
    error = _refused(service, federation.presentation(credentials))
    assert error.code == "compliance.unknown_type"
    assert isinstance(error, ComplianceFailed)
    assert [(v.credential, v.path) for v in error.violations] == [
        ("https://provider.example/credentials/issuer", "/credentialSubject/type")
    ]


def test_id_that_is_no_iri(service: ComplianceService, federation: Federation) -> None:
    credentials = federation.participant_credentials()
    credentials["issuer"]["credentialSubject"]["id"] = "https://provider.example/a#b#c"
    assert _refused(service, federation.presentation(credentials)).code == (
        "compliance.unreadable_credential"
    )


def test_huge_presentation(service: ComplianceService) -> None:
    assert _refused(service, "a." + "b" * 1_100_000 + ".c").code == "compliance.too_large"


def test_deeply_nested_credential(service: ComplianceService, federation: Federation) -> None:
    credentials = federation.participant_credentials()
    nested: dict[str, Any] = {"type": "gx:Address", "countryCode": "DE"}
    for _ in range(40):
        nested = {"type": "gx:Address", "gps": nested}
    credentials["legal_person"]["credentialSubject"]["legalAddress"] = nested
    error = _refused(service, federation.presentation(credentials))
    assert (error.code, error.pointer) == ("compliance.too_deep", "/verifiableCredential/0")


def test_too_many_credentials(node: Node, federation: Federation) -> None:
    service = make_service(node, federation, ComplianceLimits(max_credentials=2))
    error = _refused(service, federation.presentation(federation.participant_credentials()))
    assert error.code == "compliance.too_many_credentials"


def test_empty_presentation(service: ComplianceService, federation: Federation) -> None:
    assert _refused(service, federation.participant.present([])).code == (
        "compliance.empty_presentation"
    )


def test_unknown_level_and_bad_vcid(service: ComplianceService, federation: Federation) -> None:
    presentation = federation.presentation(federation.participant_credentials())
    assert _refused(service, presentation, "label-level-9").code == "compliance.unknown_level"
    with pytest.raises(HansaError) as bad:
        service.issue_label(presentation, "SC", vcid="not an iri")
    assert bad.value.code == "compliance.invalid_vcid"


def test_no_terms_configured_is_a_configuration_error(node: Node, federation: Federation) -> None:
    node.identity.trust.add_root(federation.pki.root_pem)
    registry = Registry(node.sessions, node.identity.trust)
    service = ComplianceService(
        verifier=CredentialVerifier(
            federation.pki.resolver, _no_status, node.identity.trust, _no_fetch
        ),
        shapes=SHAPES,
        registry=registry,
        issue=node.identity.issue_credential,
    )
    presentation = federation.presentation(federation.participant_credentials())
    error = _refused(service, presentation)
    assert (error.code, error.status_code) == ("compliance.no_terms", 500)


def test_same_label_id_twice_is_refused(service: ComplianceService, federation: Federation) -> None:
    presentation = federation.presentation(federation.participant_credentials())
    service.issue_label(presentation, "SC", vcid="urn:uuid:label-1")
    with pytest.raises(HansaError) as again:
        service.issue_label(presentation, "SC", vcid="urn:uuid:label-1")
    assert again.value.code == "status.duplicate_credential"


def test_clock_decides_the_label_validity(node: Node, federation: Federation) -> None:
    service = make_service(node, federation)
    fixed = datetime.now(UTC).replace(microsecond=0)
    service._clock = lambda: fixed
    issued = service.issue_label(
        federation.presentation(federation.participant_credentials()), "SC"
    )
    label = payload(issued.token)
    assert datetime.fromisoformat(label["validUntil"]) == fixed + timedelta(days=90)


STRICTER_ISSUER_SHAPES = """
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix gx: <https://w3id.org/gaia-x/development#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

gx:IssuerShape a sh:NodeShape ;
    sh:targetClass gx:Issuer ;
    sh:property [ sh:path gx:gaiaxTermsAndConditions ; sh:minCount 1 ] ,
        [ sh:path gx:url ; sh:minCount 1 ] .
gx:LegalPersonShape a sh:NodeShape ; sh:targetClass gx:LegalPerson .
gx:VatIDShape a sh:NodeShape ; sh:targetClass gx:VatID .
"""


def test_installed_shapes_are_checked_from_then_on(node: Node, federation: Federation) -> None:
    service = make_service(node, federation)
    presentation = federation.presentation(federation.participant_credentials())
    service.check(presentation, "SC")
    service._compile = ShapeValidator
    with pytest.raises(HansaError) as invalid:
        service.install_shapes("broken", "1", "this is not turtle")
    assert invalid.value.code == "shapes.invalid"
    assert service.registry.list_shapes() == []

    service.install_shapes("federation", "2026-1", STRICTER_ISSUER_SHAPES)
    assert "gx:ServiceOffering" not in service.known_types()
    with pytest.raises(ComplianceFailed) as failed:
        service.check(presentation, "SC")
    assert [(v.credential, v.rule) for v in failed.value.violations] == [
        ("https://provider.example/credentials/issuer", "gx:IssuerShape/gx:url")
    ]
    # A clearing house that starts later checks with the newest installed shapes.
    restarted = ComplianceService(
        verifier=CredentialVerifier(
            federation.pki.resolver, _no_status, node.identity.trust, _no_fetch
        ),
        shapes=SHAPES,
        registry=service.registry,
        issue=node.identity.issue_credential,
        compile_shapes=ShapeValidator,
    )
    assert restarted.known_types() == service.known_types()
