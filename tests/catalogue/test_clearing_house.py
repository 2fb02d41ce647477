"""A label from the real clearing house (ComplianceService) reaches the catalogue as issued.

The compliance tests' builders make Gaia-X 25.11 credentials that pass the official shapes;
the clearing house checks them and signs the label; the catalogue takes the same credentials
directly (``ingest_verified``) and from the provider's own presentation.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from catalogue_factories import Federation

from hansa.catalogue.search import build_query
from hansa.catalogue.service import CatalogueService
from hansa.compliance.registry import Registry
from hansa.compliance.service import ComplianceService
from hansa.compliance.shapes import ShapeValidator
from hansa.identity.vc_jose import issue_vp_jwt
from hansa.identity.verifier import CredentialVerifier


def _compliance_helpers() -> ModuleType:
    """The compliance tests' credential builders (one place that knows the 25.11 shapes)."""
    if "compliance_helpers" in sys.modules:
        return sys.modules["compliance_helpers"]
    path = Path(__file__).parents[1] / "compliance" / "compliance_helpers.py"
    spec = importlib.util.spec_from_file_location("compliance_helpers", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compliance_helpers"] = module
    spec.loader.exec_module(module)
    return module


def _no_status(credential: dict[str, Any], issuer: str | None) -> None:
    raise AssertionError("the submitted test credentials carry no status entry")


def _no_fetch(url: str) -> bytes:
    raise AssertionError(f"nothing is fetched by the clearing house here ({url})")


@pytest.fixture
def clearing_house(federation: Federation) -> tuple[ComplianceService, Any]:
    helpers = _compliance_helpers()
    parties = helpers.Federation.create()
    node = federation.node
    node.identity.trust.add_root(parties.pki.root_pem, "compliance test root")
    registry = Registry(node.sessions, node.identity.trust)
    registry.add_terms("25.11", "Gaia-X terms and conditions", sha256=helpers.GAIA_X_TERMS_HASH)
    registry.add_party("notary", parties.notary.did)
    registry.add_party("conformity_assessment_body", parties.assessor.did)
    # The catalogue resolves the same parties (their keys chain to the compliance test root).
    federation.documents.update(parties.pki.resolver.documents)
    service = ComplianceService(
        verifier=CredentialVerifier(
            parties.pki.resolver, _no_status, node.identity.trust, _no_fetch
        ),
        shapes=ShapeValidator.builtin(),
        registry=registry,
        issue=node.identity.issue_credential,
    )
    return service, parties


def test_labelled_offering_reaches_the_catalogue_without_a_second_upload(
    catalogue: CatalogueService, clearing_house: tuple[ComplianceService, Any]
) -> None:
    service, parties = clearing_house
    tokens = parties.sign_all(parties.offering_credentials())
    issued = service.issue_label(parties.participant.present(tokens), "SC")

    published = catalogue.ingest_verified(issued.result.credentials, issued.token)
    kinds = {p.kind: p for p in published}
    assert set(kinds) == {"LegalPerson", "ServiceOffering"}
    assert {p.change for p in published} == {"insert"}

    offering = catalogue.entry(kinds["ServiceOffering"].id)
    assert offering["provider"]["id"] == parties.participant.did
    assert offering["provider"]["reference"].endswith("/legal-person#cs")
    assert offering["labels"][0]["level"] == "SC"
    assert offering["countries"] == ["DE"]
    found = catalogue.search(build_query("", {"provider": [parties.participant.did]}))
    assert found["total"] == 2

    # The provider presenting the same credentials and label changes nothing.
    participant = parties.participant
    vp = issue_vp_jwt(
        [*tokens, issued.token],
        participant.did,
        participant.key,
        participant.kid,
        audience=catalogue.node_did,
    )
    assert {p.change for p in catalogue.ingest_presentation(vp)} == {"unchanged"}
