"""Publishing: what verifies is stored; every refusal has its code and stores nothing."""

from __future__ import annotations

import httpx
from catalogue_factories import Federation, legal_person, offering

from hansa.catalogue.service import CatalogueService


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
