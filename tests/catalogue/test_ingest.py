"""Publishing: what verifies is stored; every refusal has its code and stores nothing."""

from __future__ import annotations

import json

import httpx
import pytest
from catalogue_factories import ADMIN_KEY, Federation, Party, legal_person, offering

from hansa.catalogue.service import CatalogueService
from hansa.identity.keys import b64url, b64url_decode


def publish_vp(client: httpx.Client, vp: str) -> httpx.Response:
    return client.post("/catalogue/entries", json={"verifiablePresentation": vp})


def test_provider_publishes_offering_with_its_label(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService
) -> None:
    provider = federation.party("provider")
    participant = provider.sign(legal_person(provider, "Acme Mobility GmbH"))
    token = provider.sign(
        offering(provider, "Traffic flow Berlin", keywords=("mobility", "traffic"))
    )
    _, label = federation.label([participant, token])
    vp = provider.present([participant, token, label], audience=catalogue.node_did)
    response = publish_vp(client, vp)
    assert response.status_code == 201, response.text
    entries = response.json()["entries"]
    assert [e["change"] for e in entries] == ["insert", "insert"]
    assert {e["type"] for e in entries} == {"LegalPerson", "ServiceOffering"}
    again = publish_vp(
        client, provider.present([participant, token, label], audience=catalogue.node_did)
    )
    assert again.status_code == 200
    assert [e["change"] for e in again.json()["entries"]] == ["unchanged", "unchanged"]


# --- refusals: each with its own code, and nothing stored ----------------------------------


def tamper(token: str) -> str:
    """The same signature over a changed payload (the name of the offering)."""
    header, payload, signature = token.split(".")
    data = json.loads(b64url_decode(payload))
    data["credentialSubject"]["schema:name"] = "Something else entirely"
    return f"{header}.{b64url(json.dumps(data).encode())}.{signature}"


def refused(
    client: httpx.Client,
    catalogue: CatalogueService,
    response: httpx.Response,
    code: str,
    status: int,
) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert catalogue.changes_since(0) == []
    assert client.get("/catalogue/search").json()["total"] == 0


@pytest.fixture
def provider(federation: Federation) -> Party:
    return federation.party("provider")


def test_unsigned_submissions_are_refused(
    client: httpx.Client, catalogue: CatalogueService, provider: Party
) -> None:
    not_a_token = json.dumps(offering(provider, "Unsigned"))
    response = client.post("/catalogue/entries", json={"verifiablePresentation": not_a_token})
    refused(client, catalogue, response, "vp.invalid_presentation", 400)
    response = client.post(
        "/catalogue/entries",
        json={"verifiableCredentials": [not_a_token]},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    refused(client, catalogue, response, "vc.invalid_credential", 400)


def test_bare_credentials_need_the_admin_key(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    token = provider.sign(offering(provider, "Weather"))
    _, label = federation.label([token])
    response = client.post("/catalogue/entries", json={"verifiableCredentials": [token, label]})
    refused(client, catalogue, response, "auth.missing_credentials", 401)
    response = client.post(
        "/catalogue/entries",
        json={"verifiableCredentials": [token, label]},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert response.status_code == 201, response.text


def test_tampered_credential_is_refused(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    token = provider.sign(offering(provider, "Weather"))
    _, label = federation.label([token])
    vp = provider.present([tamper(token), label], audience=catalogue.node_did)
    refused(client, catalogue, publish_vp(client, vp), "vc.signature_invalid", 400)


def test_digest_mismatch_is_refused(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    credential = offering(provider, "Weather")
    _, label = federation.label([provider.sign(credential)])
    credential["credentialSubject"]["schema:name"] = "Weather, renamed after the check"
    vp = provider.present([provider.sign(credential), label], audience=catalogue.node_did)
    refused(client, catalogue, publish_vp(client, vp), "catalogue.digest_mismatch", 422)


def test_credential_not_covered_by_the_label_is_refused(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    covered = provider.sign(offering(provider, "Weather"))
    uncovered = provider.sign(offering(provider, "Traffic"))
    _, label = federation.label([covered])
    vp = provider.present([covered, uncovered, label], audience=catalogue.node_did)
    refused(client, catalogue, publish_vp(client, vp), "catalogue.not_covered", 422)


def test_label_from_an_untrusted_issuer_is_refused(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    rogue = federation.party("rogue-compliance")
    token = provider.sign(offering(provider, "Weather"))
    _, label = federation.label([token], issuer=rogue)
    vp = provider.present([token, label], audience=catalogue.node_did)
    refused(client, catalogue, publish_vp(client, vp), "catalogue.untrusted_compliance_issuer", 403)


def test_revoked_label_is_refused(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    token = provider.sign(offering(provider, "Weather"))
    label_id, label = federation.label([token])
    federation.node.identity.set_credential_status(label_id, "revoked")
    vp = provider.present([token, label], audience=catalogue.node_did)
    refused(client, catalogue, publish_vp(client, vp), "vc.revoked", 403)


def test_no_label_and_no_offering_are_refused(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    token = provider.sign(offering(provider, "Weather"))
    vp = provider.present([token], audience=catalogue.node_did)
    refused(client, catalogue, publish_vp(client, vp), "catalogue.no_label", 422)
    terms = provider.sign(
        {**legal_person(provider, "Acme"), "type": ["VerifiableCredential", "gx:Issuer"]}
        | {"credentialSubject": {"id": provider.did, "type": "gx:Issuer"}}
    )
    _, label = federation.label([terms])
    vp = provider.present([terms, label], audience=catalogue.node_did)
    refused(client, catalogue, publish_vp(client, vp), "catalogue.nothing_to_publish", 422)


def test_only_the_provider_publishes_its_offering(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    other = federation.party("other")
    token = provider.sign(offering(provider, "Weather"))
    _, label = federation.label([token])
    vp = other.present([token, label], audience=catalogue.node_did)
    refused(client, catalogue, publish_vp(client, vp), "catalogue.not_owner", 403)


def test_presentation_for_another_audience_is_refused(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    token = provider.sign(offering(provider, "Weather"))
    _, label = federation.label([token])
    vp = provider.present([token, label], audience="did:web:elsewhere.example.eu")
    refused(client, catalogue, publish_vp(client, vp), "vp.audience_mismatch", 401)


def test_keys_without_a_chain_to_the_federation_root_are_refused(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService
) -> None:
    uncertified = federation.party("uncertified", certified=False)
    token = uncertified.sign(offering(uncertified, "Weather"))
    _, label = federation.label([token])
    vp = uncertified.present([token, label], audience=catalogue.node_did)
    refused(client, catalogue, publish_vp(client, vp), "trust.no_certificate_chain", 403)


def test_a_subject_belongs_to_its_first_provider(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    token = provider.sign(offering(provider, "Weather", subject="urn:example:weather"))
    _, label = federation.label([token])
    assert (
        publish_vp(client, provider.present([token, label], catalogue.node_did)).status_code == 201
    )
    squatter = federation.party("squatter")
    token = squatter.sign(offering(squatter, "Weather", subject="urn:example:weather"))
    _, label = federation.label([token])
    response = publish_vp(client, squatter.present([token, label], catalogue.node_did))
    assert response.status_code == 409
    assert response.json()["code"] == "catalogue.subject_taken"


def test_clearing_house_publishes_what_it_labelled(
    federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    token = provider.sign(offering(provider, "Weather"))
    check = catalogue.verifier.verify_credential(token, x509=True)
    _, label = federation.label([token])
    published = catalogue.ingest_verified([check], label)
    assert [p.change for p in published] == ["insert"]
    assert catalogue.changes_since(0)[0].kind == "insert"
