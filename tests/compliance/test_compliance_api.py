"""The clearing house's compliance and registry API over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from compliance_helpers import (
    GAIA_X_TERMS_HASH,
    OLD_GAIA_X_TERMS_HASH,
    Federation,
    address,
    variant,
)

from hansa.app import create_app
from hansa.compliance.api import router as compliance_router
from hansa.compliance.registry import Registry
from hansa.compliance.service import ComplianceService
from hansa.compliance.shapes import ShapeValidator
from hansa.identity.keys import b64url_decode
from hansa.identity.pki import certificates_to_pem, create_root_ca
from hansa.identity.verifier import CredentialVerifier
from hansa.node import Node
from hansa.serving import BackgroundServer
from hansa.settings import Settings

ADMIN = {"Authorization": "Bearer test-admin-key"}
VP_JWT = {"Content-Type": "application/vp+jwt"}


def _no_status(credential: dict[str, Any], issuer: str | None) -> None:
    raise AssertionError("the submitted test credentials carry no status entry")


def _no_fetch(url: str) -> bytes:
    raise AssertionError(f"nothing is fetched in these tests ({url})")


@pytest.fixture(scope="module")
def federation() -> Federation:
    return Federation.create()


@pytest.fixture
def node(database_url: str, tmp_path: Path, federation: Federation) -> Iterator[Node]:
    settings = Settings(
        name="clearing-house",
        data_dir=tmp_path,
        database_url=database_url,
        base_url="https://clearing.example",
        roles=["identity", "clearing-house"],
        admin_api_key="test-admin-key",  # type: ignore[arg-type]
        wallet_secret="a wallet secret for tests",  # type: ignore[arg-type]
    )
    node = Node.open(settings)
    node.identity.ensure_signing_key()
    node.identity.trust.add_root(federation.pki.root_pem, "federation root")
    registry = Registry(node.sessions, node.identity.trust)
    # What node.py will do for the clearing-house role (see the report of this change).
    node.compliance = ComplianceService(  # type: ignore[attr-defined]
        verifier=CredentialVerifier(
            federation.pki.resolver, _no_status, node.identity.trust, _no_fetch
        ),
        shapes=ShapeValidator.builtin(),
        registry=registry,
        issue=node.identity.issue_credential,
    )
    yield node
    node.close()


@pytest.fixture
def client(node: Node) -> Iterator[httpx.Client]:
    app = create_app(node.settings, node)
    app.include_router(compliance_router)
    server = BackgroundServer(app, port=0).start()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.bound_port()}", timeout=30) as client:
        yield client
    server.stop()


def _set_up_registry(client: httpx.Client, federation: Federation) -> None:
    terms = client.post(
        "/registry/terms-and-conditions",
        json={"version": "25.11", "text": "Gaia-X terms", "sha256": GAIA_X_TERMS_HASH},
        headers=ADMIN,
    )
    assert terms.status_code == 201, terms.text
    for role, did in (
        ("notary", federation.notary.did),
        ("conformity_assessment_body", federation.assessor.did),
    ):
        added = client.post(f"/registry/trust-anchors/{role}", json={"did": did}, headers=ADMIN)
        assert added.status_code == 201, added.text


def test_label_for_a_participant_over_http(client: httpx.Client, federation: Federation) -> None:
    _set_up_registry(client, federation)
    presentation = federation.presentation(federation.participant_credentials())
    answer = client.post(
        "/v2/api/credential-offers/standard-compliance",
        params={"vcid": "https://clearing.example/labels/1"},
        content=presentation,
        headers=VP_JWT,
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"].startswith("application/vc+jwt")
    label = json.loads(b64url_decode(answer.text.split(".")[1]))
    assert label["id"] == "https://clearing.example/labels/1"
    assert label["credentialSubject"]["gx:labelLevel"] == "SC"


def test_violations_as_problem_json(client: httpx.Client, federation: Federation) -> None:
    _set_up_registry(client, federation)
    credentials = federation.participant_credentials(terms_hash=OLD_GAIA_X_TERMS_HASH)
    credentials["legal_person"] = variant(credentials["legal_person"], legalAddress=address("ZZ"))
    answer = client.post(
        "/v2/api/credential-offers/standard-compliance",
        content=federation.presentation(credentials),
        headers=VP_JWT,
    )
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] == "compliance.violations"
    where = {(e["rule"], e["credential"], e["path"]) for e in problem["errors"]}
    assert (
        "rule.tandc_hash",
        "https://provider.example/credentials/issuer",
        "/credentialSubject/gaiaxTermsAndConditions",
    ) in where
    assert (
        "rule.address.country",
        "https://provider.example/credentials/legal-person",
        "/credentialSubject/legalAddress/countryCode",
    ) in where
    assert all(e["message"] and e["fix"] for e in problem["errors"])


def test_vp_jwt_under_the_gaia_x_media_type(client: httpx.Client, federation: Federation) -> None:
    _set_up_registry(client, federation)
    answer = client.post(
        "/v2/api/credential-offers/standard-compliance",
        content=federation.presentation(federation.participant_credentials()),
        headers={"Content-Type": "application/vc+ld+json+jwt"},
    )
    assert answer.status_code == 201, answer.text


def test_json_ld_body_and_bad_requests(client: httpx.Client, federation: Federation) -> None:
    _set_up_registry(client, federation)
    unsigned = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": federation.participant.did,
        "verifiableCredential": [],
    }
    refused = client.post("/v2/api/credential-offers/label-level-1", json=unsigned)
    assert refused.status_code == 400
    assert refused.json()["code"] == "vc.proof_missing"
    wrong_type = client.post(
        "/v2/api/credential-offers/standard-compliance",
        content="x",
        headers={"Content-Type": "application/xml"},
    )
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (
        415,
        "compliance.unsupported_media_type",
    )
    level = client.post(
        "/v2/api/credential-offers/label-level-7",
        content=federation.presentation(federation.participant_credentials()),
        headers=VP_JWT,
    )
    assert (level.status_code, level.json()["code"]) == (404, "compliance.unknown_level")
    garbage = client.post(
        "/v2/api/credential-offers/standard-compliance", content="not-a-jwt", headers=VP_JWT
    )
    assert garbage.status_code in (400, 401)
    too_large = client.post(
        "/v2/api/credential-offers/standard-compliance",
        content="a" * 2_000_000,
        headers=VP_JWT,
    )
    assert (too_large.status_code, too_large.json()["code"]) == (413, "request.too_large")


def test_registry_reads_are_public_and_changes_need_the_admin_key(
    client: httpx.Client, federation: Federation
) -> None:
    assert client.get("/registry/terms-and-conditions").json()["code"] == "registry.no_terms"
    refused = client.post("/registry/trust-anchors/notary", json={"did": federation.notary.did})
    assert refused.status_code == 401
    _set_up_registry(client, federation)

    anchors = client.get("/registry/trust-anchors").json()
    assert [r["label"] for r in anchors["rootCAs"]] == ["federation root"]
    assert [p["did"] for p in anchors["notaries"]] == [federation.notary.did]
    current = client.get("/registry/terms-and-conditions").json()
    assert (current["version"], current["sha256"]) == ("25.11", GAIA_X_TERMS_HASH)

    added = client.post(
        "/registry/terms-and-conditions",
        json={"version": "26.01", "text": "New terms", "current": False},
        headers=ADMIN,
    ).json()
    versions = client.get("/registry/terms-and-conditions/versions").json()
    assert [(v["version"], v["current"]) for v in versions] == [("25.11", True), ("26.01", False)]
    switched = client.put(
        "/registry/terms-and-conditions/current", json={"version": "26.01"}, headers=ADMIN
    )
    assert switched.json()["sha256"] == added["sha256"]
    one = client.get("/registry/terms-and-conditions/versions/26.01").json()
    assert one["text"] == "New terms"

    types = client.get("/registry/credential-types").json()
    assert {"gx:LegalPerson", "gx:Issuer", "gx:ServiceOffering"} <= set(types)

    turtle = "@prefix sh: <http://www.w3.org/ns/shacl#> .\n"
    installed = client.post(
        "/registry/shapes",
        json={"name": "federation-extra", "version": "1", "turtle": turtle},
        headers=ADMIN,
    )
    assert installed.status_code == 201
    assert [s["name"] for s in client.get("/registry/shapes").json()] == ["federation-extra"]
    served = client.get("/registry/shapes/federation-extra")
    assert served.headers["content-type"].startswith("text/turtle")
    assert served.text == turtle

    criteria = client.get("/registry/criteria").json()
    assert len(criteria["criteria"]) == 67
    replaced = client.put(
        "/registry/criteria",
        json={"version": "fed-1", "document": {"criteria": criteria["criteria"][:0]}},
        headers=ADMIN,
    )
    assert replaced.json() == {"version": "fed-1", "criteria": 0}
    bad = client.put(
        "/registry/criteria",
        json={"version": "fed-2", "document": {"criteria": [{"id": "X", "required_at": ["L9"]}]}},
        headers=ADMIN,
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "criteria.invalid")

    _, other_root = create_root_ca("Another federation")
    added_root = client.post(
        "/registry/trust-anchors/root-cas",
        json={"pem": certificates_to_pem([other_root]).decode(), "label": "partner"},
        headers=ADMIN,
    )
    assert added_root.status_code == 201, added_root.text
    labels = [r["label"] for r in client.get("/registry/trust-anchors").json()["rootCAs"]]
    assert sorted(labels) == ["federation root", "partner"]
    dropped = client.delete(
        f"/registry/trust-anchors/root-cas/{added_root.json()['fingerprint']}", headers=ADMIN
    )
    assert dropped.status_code == 204

    removed = client.delete(
        f"/registry/trust-anchors/notary/{federation.notary.did}", headers=ADMIN
    )
    assert removed.status_code == 204
    unknown_role = client.post(
        "/registry/trust-anchors/oracle", json={"did": "did:web:x.example"}, headers=ADMIN
    )
    assert (unknown_role.status_code, unknown_role.json()["code"]) == (
        404,
        "registry.unknown_role",
    )
