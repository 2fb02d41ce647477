"""DSP catalog endpoints and version metadata over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from provider_node import ADMIN, caller, open_provider_node, serve

from hansa.connector.dsp_schemas import DSP_CONTEXT, schema_errors
from hansa.node import Node

CATALOG = "/dsp/2025-1/catalog/request"
REQUEST = {"@context": [DSP_CONTEXT], "@type": "CatalogRequestMessage", "filter": []}
POLICY = {
    "@type": "Set",
    "permission": [
        {
            "action": "use",
            "constraint": [{"leftOperand": "spatial", "operator": "eq", "rightOperand": "EU"}],
        }
    ],
}


@pytest.fixture
def node(database_url: str, tmp_path: Path) -> Iterator[Node]:
    node = open_provider_node(database_url, tmp_path, page_size=2)
    yield node
    node.close()


@pytest.fixture
def client(node: Node) -> Iterator[httpx.Client]:
    with serve(node) as client:
        yield client


def offer_assets(client: httpx.Client, count: int) -> None:
    assert client.post("/policies", json={"id": "eu", "policy": POLICY}, headers=ADMIN).is_success
    for i in range(count):
        created = client.post(
            "/assets",
            json={
                "id": f"dataset-{i}",
                "title": f"Dataset {i}",
                "keywords": ["weather" if i % 2 else "traffic"],
                "dataAddress": {"type": "HttpData", "baseUrl": f"https://data.example.eu/{i}"},
            },
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        offer = {"id": f"offer-{i}", "assetId": f"dataset-{i}", "policyId": "eu"}
        assert client.post("/offers", json=offer, headers=ADMIN).status_code == 201


def next_link(response: httpx.Response, rel: str) -> str | None:
    for match in re.finditer(r'<([^>]+)>;\s*rel="([^"]+)"', response.headers.get("link", "")):
        if match.group(2) == rel:
            return match.group(1)
    return None


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_catalog_pages_through_link_headers(client: httpx.Client) -> None:
    offer_assets(client, 5)
    seen: list[str] = []
    response = client.post(CATALOG, json=REQUEST, headers=caller())
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        catalog = response.json()
        assert schema_errors(catalog, "Catalog") == []
        assert catalog["participantId"] == "did:web:provider.example.eu"
        seen += [d["@id"] for d in catalog["dataset"]]
        pages += 1
        link = next_link(response, "next")
        if link is None:
            break
        assert link.startswith("https://provider.example.eu/dsp/2025-1/catalog/request?")
        response = client.post(relative(link), json=REQUEST, headers=caller())
    assert pages == 3
    assert seen == [f"dataset-{i}" for i in range(5)]
    assert next_link(response, "previous") is not None
    back = client.post(
        relative(next_link(response, "previous") or ""), json=REQUEST, headers=caller()
    )
    assert [d["@id"] for d in back.json()["dataset"]] == ["dataset-2", "dataset-3"]
    first = client.post(CATALOG, json=REQUEST, headers=caller())
    assert next_link(first, "previous") is None


def test_dataset_endpoint_and_offers(client: httpx.Client) -> None:
    offer_assets(client, 1)
    dataset = client.get("/dsp/2025-1/catalog/datasets/dataset-0", headers=caller())
    assert dataset.status_code == 200
    assert dataset.headers["content-type"] == "application/json"
    body = dataset.json()
    assert schema_errors(body, "Dataset") == []
    assert body["hasPolicy"][0]["@id"] == "offer-0"
    assert body["hasPolicy"][0]["permission"] == POLICY["permission"]
    assert body["distribution"][0]["accessService"]["endpointURL"] == (
        "https://provider.example.eu/dsp/2025-1"
    )
    missing = client.get("/dsp/2025-1/catalog/datasets/nope", headers=caller())
    assert missing.status_code == 404
    error = missing.json()
    assert schema_errors(error, "CatalogError") == []
    assert error["code"] == "catalog.dataset_not_found"
    # An asset without offers is not in the catalog at all.
    client.post(
        "/assets",
        json={"id": "draft", "dataAddress": {"type": "HttpData", "baseUrl": "https://x.example"}},
        headers=ADMIN,
    )
    assert client.get("/dsp/2025-1/catalog/datasets/draft", headers=caller()).status_code == 404


def test_filters(client: httpx.Client) -> None:
    offer_assets(client, 4)

    def ids(filter: list[Any]) -> list[str]:
        response = client.post(CATALOG, json={**REQUEST, "filter": filter}, headers=caller())
        assert response.status_code == 200, response.text
        return [d["@id"] for d in response.json().get("dataset", [])]

    assert ids([{"keyword": "weather"}]) == ["dataset-1", "dataset-3"]
    assert ids([{"id": "dataset-2"}]) == ["dataset-2"]
    assert ids([{"keyword": "nothing-like-it"}]) == []
    unsupported = client.post(
        CATALOG, json={**REQUEST, "filter": [{"sparql": "SELECT *"}]}, headers=caller()
    )
    assert unsupported.status_code == 400
    assert unsupported.json()["code"] == "catalog.filter_unsupported"
    assert unsupported.json()["@type"] == "CatalogError"


def test_protocol_endpoints_need_an_authenticated_caller(client: httpx.Client) -> None:
    offer_assets(client, 1)
    for response in (
        client.post(CATALOG, json=REQUEST),
        client.get("/dsp/2025-1/catalog/datasets/dataset-0"),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "dcp.token_missing"
        assert response.json()["@type"] == "CatalogError"
        assert response.headers["www-authenticate"] == "Bearer"
    forged = client.post(
        CATALOG, json=REQUEST, headers={"Authorization": "Test wrong did:web:x.example"}
    )
    assert forged.status_code == 401
    assert forged.json()["code"] == "dcp.token_invalid"


def test_a_node_without_dcp_refuses_protocol_requests(database_url: str, tmp_path: Path) -> None:
    node = open_provider_node(database_url, tmp_path, with_auth=False)
    try:
        with serve(node) as client:
            response = client.post(CATALOG, json=REQUEST, headers=caller())
            assert response.status_code == 401
            assert response.json()["code"] == "dcp.token_missing"
            assert "DCP" in response.json()["reason"][0]
            # The version endpoint stays open: it is unauthenticated by the spec.
            assert client.get("/.well-known/dspace-version").status_code == 200
    finally:
        node.close()


def test_bad_catalog_requests_answer_catalog_errors(client: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            "request.malformed_json",
        ),
        ({"json": {**REQUEST, "@type": "DatasetRequestMessage"}}, "dsp.unexpected_message_type"),
        ({"json": {"@type": "CatalogRequestMessage"}}, "dsp.invalid_message"),
        ({"json": {**REQUEST, "filter": "weather"}}, "dsp.invalid_message"),
        ({"json": [1, 2]}, "dsp.invalid_message"),
    ]
    for kwargs, code in cases:
        headers = {**caller(), **kwargs.pop("headers", {})}
        response = client.post(CATALOG, headers=headers, **kwargs)
        assert response.status_code == 400, (code, response.text)
        body = response.json()
        assert body["code"] == code
        assert body["@type"] == "CatalogError"
        assert schema_errors(body, "CatalogError") == []
    token = client.post(CATALOG + "?continuationToken=forged", json=REQUEST, headers=caller())
    assert token.status_code == 400
    assert token.json()["code"] == "catalog.invalid_continuation_token"


def test_version_metadata(client: httpx.Client) -> None:
    response = client.get("/.well-known/dspace-version")
    assert response.status_code == 200
    body = response.json()
    assert schema_errors(body, "VersionResponse") == []
    (version,) = body["protocolVersions"]
    assert version["version"] == "2025-1"
    assert version["path"] == "/dsp/2025-1"
    assert version["binding"] == "HTTPS"
    assert version["auth"]["protocol"] == "DCP"
