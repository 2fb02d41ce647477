"""Compliance across real nodes: did:web over HTTPS, keys chained by x5u to the federation CA.

The provider signs its LegalPerson and Issuer credentials and presents them with a
registration number the clearing house notarised; the clearing house's compliance service
resolves every DID over HTTPS, fetches each key's x5u chain, and issues the label.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compliance"))

from compliance_helpers import (
    GAIA_X_TERMS_HASH,
    Party,
    issuer_credential,
    legal_person,
    registration_credential,
)

from hansa.compliance.service import ComplianceService
from hansa.compliance.shapes import ShapeValidator
from hansa.compliance.violations import ComplianceFailed
from hansa.demo.federation import LocalFederation, RunningNode
from hansa.identity.keys import b64url_decode, generate_private_key


def _named(node: RunningNode) -> Party:
    # The builders read only the DID; the node's wallet signs.
    return Party(node.did, generate_private_key("Ed25519"))


@pytest.fixture(scope="module")
def compliance(federation: LocalFederation) -> Iterator[ComplianceService]:
    clearing = federation["clearing-house"].node
    # The node's own registry: a second Registry object would leave the node's cache stale.
    assert clearing.compliance is not None
    registry = clearing.compliance.registry
    before = registry.current_terms()
    # The node may already be set up (by its own start-up or another test): add what is not.
    if GAIA_X_TERMS_HASH not in registry.terms_snapshot()[1]:
        registry.add_terms(
            f"25.11-{uuid.uuid4().hex[:8]}", "Gaia-X terms and conditions", sha256=GAIA_X_TERMS_HASH
        )
    current = registry.current_terms()
    if current is None or current.sha256 != GAIA_X_TERMS_HASH:
        registry.set_current_terms(registry.terms_snapshot()[1][GAIA_X_TERMS_HASH])
    if not registry.is_trusted("notary", clearing.identity.did):
        registry.add_party("notary", clearing.identity.did)
    yield ComplianceService(
        verifier=clearing.identity.verifier,
        shapes=ShapeValidator.builtin(),
        registry=registry,
        issue=clearing.identity.issue_credential,
    )
    # Later tests on the shared federation (the demo's onboarding) expect its own terms.
    if before is not None and before.sha256 != GAIA_X_TERMS_HASH:
        registry.set_current_terms(before.version)


def _presentation(federation: LocalFederation, credentials: dict[str, dict[str, Any]]) -> str:
    provider = federation["provider"].node.identity
    notary = federation["clearing-house"].node.identity
    tokens = [
        (notary if name == "registration" else provider).sign_jwt_credential(credential)
        for name, credential in credentials.items()
    ]
    return provider.issue_presentation(tokens)


def _credentials(federation: LocalFederation) -> dict[str, dict[str, Any]]:
    provider = _named(federation["provider"])
    notary = _named(federation["clearing-house"])
    subject = f"{federation['provider'].base_url}/credentials/vat-id#cs"
    return {
        "legal_person": legal_person(provider, subject),
        "registration": registration_credential(notary, subject),
        "issuer": issuer_credential(provider),
    }


def test_provider_gets_a_label_over_https(
    federation: LocalFederation, compliance: ComplianceService
) -> None:
    presentation = _presentation(federation, _credentials(federation))
    issued = compliance.issue_label(presentation, "standard-compliance")
    label = json.loads(b64url_decode(issued.token.split(".")[1]))
    assert label["issuer"] == federation["clearing-house"].did
    assert label["credentialSubject"]["gx:labelLevel"] == "SC"
    assert len(label["credentialSubject"]["gx:compliantCredentials"]) == 3
    # Anyone in the federation can verify the label, with its status, over HTTPS.
    consumer = federation["consumer"].node.identity
    assert consumer.verify_credential(issued.token, x509=True).issuer == label["issuer"]


def test_registration_number_the_provider_notarised_itself(
    federation: LocalFederation, compliance: ComplianceService
) -> None:
    credentials = _credentials(federation)
    credentials["registration"]["issuer"] = federation["provider"].did
    provider = federation["provider"].node.identity
    tokens = [provider.sign_jwt_credential(c) for c in credentials.values()]
    with pytest.raises(ComplianceFailed) as failed:
        compliance.check(provider.issue_presentation(tokens), "SC")
    assert [v.rule for v in failed.value.violations] == ["rule.registration_number.notary"]
