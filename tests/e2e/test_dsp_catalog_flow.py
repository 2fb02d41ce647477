"""The consumer reads the provider's DSP catalog over HTTPS, authenticated by DCP."""

from __future__ import annotations

import uuid

from hansa.demo.federation import LocalFederation

POLICY = {
    "@context": "https://w3id.org/dspace/2025/1/context.jsonld",
    "@type": "Offer",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}
            ],
        }
    ],
}


def test_catalog_over_dsp_with_dcp_tokens(federation: LocalFederation) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    asset_id = f"urn:uuid:{uuid.uuid4()}"
    with provider.client(federation.ca_file) as admin:
        created = admin.post(
            "/assets",
            json={
                "id": asset_id,
                "title": "Hamburg traffic sensors 2025",
                "keywords": ["traffic", "hamburg"],
                "dataAddress": {"type": "HttpData", "baseUrl": "https://data.example.eu/x.csv"},
            },
        )
        assert created.status_code == 201, created.text
        policy = admin.post("/policies", json={"policy": POLICY})
        assert policy.status_code == 201, policy.text
        offer = admin.post("/offers", json={"assetId": asset_id, "policyId": policy.json()["id"]})
        assert offer.status_code == 201, offer.text

    request = {
        "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
        "@type": "CatalogRequestMessage",
        "filter": [{"keyword": "traffic"}],
    }
    assert consumer.node.sts is not None
    with consumer.client(federation.ca_file, admin=False) as client:
        token = consumer.node.sts.id_token(provider.did)
        catalog = client.post(
            f"{provider.base_url}/dsp/2025-1/catalog/request",
            json=request,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert catalog.status_code == 200, catalog.text
        datasets = catalog.json()["dataset"]
        assert [d["@id"] for d in datasets] == [asset_id]
        assert "dataAddress" not in str(datasets)
        # The same token again is a replay; no token at all is refused too.
        replayed = client.post(
            f"{provider.base_url}/dsp/2025-1/catalog/request",
            json=request,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert replayed.status_code == 401
        assert replayed.json()["code"] == "dcp.token_replayed"
        anonymous = client.post(f"{provider.base_url}/dsp/2025-1/catalog/request", json=request)
        assert anonymous.status_code == 401
        version = client.get(f"{provider.base_url}/.well-known/dspace-version")
        assert version.status_code == 200
