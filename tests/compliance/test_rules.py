"""Rules across credentials and the criteria of each level, as pure functions over plain data."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from compliance_helpers import (
    GAIA_X_TERMS_HASH,
    OLD_GAIA_X_TERMS_HASH,
    Federation,
    address,
    certificate,
    variant,
)

from hansa.compliance.criteria import builtin_criteria, check_criteria
from hansa.compliance.rules import (
    RuleContext,
    Submission,
    Submitted,
    check_rules,
    digest_sri,
)
from hansa.compliance.violations import Violation

PARTICIPANT = "did:web:provider.example"
NOTARY = "did:web:notary.example"
ASSESSOR = "did:web:assessor.example"


@pytest.fixture(scope="module")
def federation() -> Federation:
    return Federation.create()


def submission(credentials: dict[str, dict[str, Any]]) -> Submission:
    return Submission(
        holder=PARTICIPANT,
        credentials=tuple(
            Submitted.of(index, credential, credential["issuer"])
            for index, credential in enumerate(credentials.values())
        ),
    )


def context(
    credentials: dict[str, dict[str, Any]], *, notaries: tuple[str, ...] = (NOTARY,)
) -> RuleContext:
    return RuleContext(
        submission=submission(credentials),
        terms_hash=GAIA_X_TERMS_HASH,
        terms_version="25.11",
        known_terms={GAIA_X_TERMS_HASH: "25.11", OLD_GAIA_X_TERMS_HASH: "22.10"},
        is_notary=lambda did: did in notaries,
        is_assessment_body=lambda did: did == ASSESSOR,
    )


def only(violations: list[Violation]) -> Violation:
    assert len(violations) == 1, violations
    return violations[0]


def test_a_complete_participant_breaks_no_rule(federation: Federation) -> None:
    assert check_rules(context(federation.participant_credentials())) == []
    assert check_rules(context(federation.offering_credentials())) == []


def test_registration_number_from_an_untrusted_notary(federation: Federation) -> None:
    violation = only(check_rules(context(federation.participant_credentials(), notaries=())))
    assert violation.rule == "rule.registration_number.notary"
    assert violation.credential == "https://notary.example/credentials/vat-id"
    assert violation.path == "/issuer"
    assert "trusted notary" in violation.fix


def test_legal_person_must_cite_the_notarised_number(federation: Federation) -> None:
    credentials = federation.participant_credentials()
    credentials["legal_person"] = variant(
        credentials["legal_person"], registrationNumber={"id": "urn:uuid:other"}
    )
    violation = only(check_rules(context(credentials)))
    assert violation.rule == "rule.registration_number.names_participant"
    assert violation.credential == "https://provider.example/credentials/legal-person"
    assert violation.path == "/credentialSubject/registrationNumber"


def test_issuer_credential_with_another_terms_version(federation: Federation) -> None:
    credentials = federation.participant_credentials(terms_hash=OLD_GAIA_X_TERMS_HASH)
    violation = only(check_rules(context(credentials)))
    assert violation.rule == "rule.tandc_hash"
    assert violation.path == "/credentialSubject/gaiaxTermsAndConditions"
    assert "version 22.10" in violation.message
    assert GAIA_X_TERMS_HASH in violation.fix


def test_issuer_credential_with_an_unknown_hash(federation: Federation) -> None:
    violation = only(check_rules(context(federation.participant_credentials(terms_hash="ab"))))
    assert violation.rule == "rule.tandc_hash"
    assert "no known T&C version" in violation.message


def test_missing_participant_credentials_point_at_the_presentation(
    federation: Federation,
) -> None:
    credentials = federation.participant_credentials()
    del credentials["issuer"]
    violation = only(check_rules(context(credentials)))
    assert (violation.rule, violation.credential, violation.path) == (
        "rule.issuer.missing",
        "#presentation",
        "/verifiableCredential",
    )


def test_participant_credentials_signed_by_someone_else(federation: Federation) -> None:
    credentials = federation.participant_credentials()
    credentials["legal_person"]["issuer"] = "did:web:someone.example"
    rules = {v.rule for v in check_rules(context(credentials))}
    assert "rule.legal_person.self_signed" in rules


@pytest.mark.parametrize(
    ("node", "rule", "field"),
    [
        (address("XX"), "rule.address.country", "countryCode"),
        (address("germany"), "rule.address.country", "countryCode"),
        (address("DE", "DE-XX"), "rule.address.subdivision", "countrySubdivisionCode"),
        (address("FR", "DE-BE"), "rule.address.subdivision", "countrySubdivisionCode"),
    ],
)
def test_addresses_are_iso_3166(
    federation: Federation, node: dict[str, Any], rule: str, field: str
) -> None:
    credentials = federation.participant_credentials()
    credentials["legal_person"] = variant(credentials["legal_person"], legalAddress=node)
    violation = only(check_rules(context(credentials)))
    assert violation.rule == rule
    assert violation.path == f"/credentialSubject/legalAddress/{field}"


def test_valid_iso_3166_forms_pass(federation: Federation) -> None:
    credentials = federation.participant_credentials()
    for node in (address("DEU"), address("276"), address("DE", "DE-BE")):
        credentials["legal_person"] = variant(credentials["legal_person"], legalAddress=node)
        assert check_rules(context(credentials)) == []


def test_personal_data_needs_a_legitimate_interest(federation: Federation) -> None:
    credentials = federation.offering_credentials()
    resource = {"type": "gx:DataResource", "containsPII": True}
    credentials["offering"] = variant(credentials["offering"], aggregationOfResources=[resource])
    violation = only(check_rules(context(credentials)))
    assert violation.rule == "rule.personal_data.legitimate_interest"
    assert violation.path == "/credentialSubject/aggregationOfResources/0/legitimateInterest"
    resource["legitimateInterest"] = {
        "type": "gx:LegitimateInterest",
        "legalBasis": "GDPR Art. 6(1)(b)",
        "dataProtectionContact": "dpo@provider.example",
    }
    assert check_rules(context(credentials)) == []


def test_offering_provider_must_be_in_the_presentation(federation: Federation) -> None:
    credentials = federation.offering_credentials()
    credentials["offering"] = variant(
        credentials["offering"], providedBy={"id": "https://elsewhere.example/lp#cs"}
    )
    violation = only(check_rules(context(credentials)))
    assert violation.rule == "rule.offering.provider"
    assert violation.path == "/credentialSubject/providedBy"


def test_offering_signed_by_another_key_than_its_provider(federation: Federation) -> None:
    credentials = federation.offering_credentials()
    credentials["offering"]["issuer"] = "did:web:reseller.example"
    violation = only(check_rules(context(credentials)))
    assert violation.rule == "rule.offering.signed_by_provider"
    assert violation.path == "/issuer"


def test_digest_is_sri_of_the_token_bytes() -> None:
    expected = base64.b64encode(hashlib.sha256(b"a.b.c").digest()).decode()
    assert digest_sri("a.b.c", {}) == f"sha256-{expected}"
    assert digest_sri(None, {"b": 1, "a": 2}) == digest_sri(None, {"a": 2, "b": 1})


# --- criteria -----------------------------------------------------------------------------


def test_standard_compliance_of_a_participant(federation: Federation) -> None:
    met, unmet = check_criteria(
        context(federation.participant_credentials()), builtin_criteria(), "SC"
    )
    assert unmet == []
    assert [c.id for c in met] == ["PA1.1"]


def test_standard_compliance_of_an_offering(federation: Federation) -> None:
    met, unmet = check_criteria(
        context(federation.offering_credentials()), builtin_criteria(), "SC"
    )
    assert unmet == []
    ids = {c.id for c in met}
    assert {"P1.1.1", "P3.1.1", "P4.1.1", "PA1.1"} <= ids
    assert "P1.3.1" not in ids  # required from L1 on


def test_a_missing_declaration_names_the_criterion(federation: Federation) -> None:
    credentials = federation.offering_credentials()
    documents = credentials["offering"]["credentialSubject"]["legalDocuments"]
    documents[:] = [d for d in documents if d["type"] != "gx:PhysicalSecurity"]
    met, unmet = check_criteria(context(credentials), builtin_criteria(), "SC")
    violation = only(unmet)
    assert violation.rule == "criterion.P3.1.6"
    assert violation.credential == "https://provider.example/credentials/offering"
    assert violation.path == "/credentialSubject"
    assert "gx:PhysicalSecurity" in violation.fix
    assert "P3.1.6" not in {c.id for c in met}


def test_label_levels_need_an_offering(federation: Federation) -> None:
    met, unmet = check_criteria(
        context(federation.participant_credentials()), builtin_criteria(), "L1"
    )
    assert met == []
    assert only(unmet).rule == "criteria.out_of_scope"


def test_level_2_wants_certificates_from_a_trusted_body(federation: Federation) -> None:
    credentials = federation.offering_credentials()
    criteria = builtin_criteria()
    _, unmet = check_criteria(context(credentials), criteria, "L2")
    rules = {v.rule for v in unmet}
    assert "criterion.P3.1.1" in rules
    security = next(v for v in unmet if v.rule == "criterion.P3.1.1")
    assert "BSI C5" in security.fix
    assert "certification" in security.message

    offering_id = credentials["offering"]["credentialSubject"]["id"]
    credentials["cert"] = certificate(federation.assessor, offering_id, "BSI C5")
    _, unmet = check_criteria(context(credentials), criteria, "L2")
    assert "criterion.P3.1.1" not in {v.rule for v in unmet}

    # The same certificate from a body the registry does not trust counts for nothing.
    credentials["cert"]["issuer"] = "did:web:self-assessed.example"
    _, unmet = check_criteria(context(credentials), criteria, "L2")
    assert "criterion.P3.1.1" in {v.rule for v in unmet}


def _data_product(federation: Federation, provider: str) -> dict[str, Any]:
    base = "https://provider.example/credentials/data-product"
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://w3id.org/gaia-x/development#",
        ],
        "type": ["VerifiableCredential"],
        "id": base,
        "issuer": federation.participant.did,
        "credentialSubject": {
            "id": f"{base}#cs",
            "type": "gx:DataProduct",
            "digitalServiceOfferingProvider": {"id": provider},
        },
    }


def test_data_products_are_held_to_the_data_exchange_criteria(federation: Federation) -> None:
    credentials = federation.participant_credentials()
    provider = credentials["legal_person"]["credentialSubject"]["id"]
    credentials["product"] = _data_product(federation, provider)
    assert check_rules(context(credentials)) == []
    met, unmet = check_criteria(context(credentials), builtin_criteria(), "SC")
    assert unmet == []
    assert {c.id for c in met} == {"D1.1.1", "D1.1.2a", "PA1.1"}

    credentials["product"]["credentialSubject"]["digitalServiceOfferingProvider"] = {
        "id": "https://elsewhere.example/lp#cs"
    }
    violation = only(check_rules(context(credentials)))
    assert violation.rule == "rule.offering.provider"
    assert violation.path == "/credentialSubject/digitalServiceOfferingProvider"
