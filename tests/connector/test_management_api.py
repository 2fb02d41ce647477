"""The provider's management API over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from provider_node import ADMIN, open_provider_node, serve

from hansa.node import Node

POLICY = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Set",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}
            ],
        }
    ],
}


@pytest.fixture
def node(database_url: str, tmp_path: Path) -> Iterator[Node]:
    node = open_provider_node(database_url, tmp_path)
    yield node
    node.close()


@pytest.fixture
def client(node: Node) -> Iterator[httpx.Client]:
    with serve(node) as client:
        yield client


def test_assets_policies_offers_over_http(client: httpx.Client) -> None:
    asset = client.post(
        "/assets",
        json={
            "id": "weather",
            "title": "Weather",
            "keywords": ["weather"],
            "contentType": "text/csv",
            "dataAddress": {"type": "File", "path": "weather.csv"},
        },
        headers=ADMIN,
    )
    assert asset.status_code == 201, asset.text
    assert asset.json()["dataAddress"] == {"type": "File", "path": "weather.csv"}
    assert client.get("/assets/weather", headers=ADMIN).json()["contentType"] == "text/csv"
    assert [a["id"] for a in client.get("/assets", headers=ADMIN).json()] == ["weather"]

    policy = client.post("/policies", json={"id": "research", "policy": POLICY}, headers=ADMIN)
    assert policy.status_code == 201, policy.text
    assert "research" in " ".join(policy.json()["description"])
    assert client.get("/policies/research", headers=ADMIN).json()["policy"] == POLICY
    assert len(client.get("/policies", headers=ADMIN).json()) == 1

    offer = client.post(
        "/offers",
        json={
            "assetId": "weather",
            "policyId": "research",
            "price": {"amount": "9.90", "currency": "EUR"},
        },
        headers=ADMIN,
    )
    assert offer.status_code == 201, offer.text
    offer_id = offer.json()["id"]
    assert offer_id.startswith("urn:uuid:")
    assert client.get(f"/offers/{offer_id}", headers=ADMIN).json()["price"] == {
        "amount": "9.90",
        "currency": "EUR",
    }
    assert len(client.get("/offers", params={"assetId": "weather"}, headers=ADMIN).json()) == 1
    assert client.get("/offers", params={"assetId": "other"}, headers=ADMIN).json() == []

    in_use = client.delete("/assets/weather", headers=ADMIN)
    assert in_use.status_code == 409
    assert in_use.json()["code"] == "asset.in_use"
    assert client.delete(f"/offers/{offer_id}", headers=ADMIN).status_code == 204
    assert client.delete("/policies/research", headers=ADMIN).status_code == 204
    assert client.delete("/assets/weather", headers=ADMIN).status_code == 204
    gone = client.get("/assets/weather", headers=ADMIN)
    assert gone.status_code == 404
    assert gone.json()["code"] == "asset.not_found"


def test_management_needs_the_admin_key(client: httpx.Client) -> None:
    for method, path in (
        ("GET", "/assets"),
        ("POST", "/assets"),
        ("GET", "/policies/x"),
        ("DELETE", "/offers/x"),
    ):
        missing = client.request(method, path, json={})
        assert missing.status_code == 401, path
        assert missing.json()["code"] == "auth.missing_credentials"
        wrong = client.request(method, path, headers={"Authorization": "Bearer nope"}, json={})
        assert wrong.json()["code"] == "auth.invalid_credentials"


def test_bad_input_is_refused_with_codes_and_pointers(client: httpx.Client) -> None:
    traversal = client.post(
        "/assets", json={"dataAddress": {"type": "File", "path": "../../etc/passwd"}}, headers=ADMIN
    )
    assert traversal.status_code == 422
    assert traversal.headers["content-type"] == "application/problem+json"
    problem = traversal.json()
    assert (problem["code"], problem["pointer"]) == (
        "data_address.path_traversal",
        "/dataAddress/path",
    )

    http = client.post(
        "/assets",
        json={"dataAddress": {"type": "HttpData", "baseUrl": "ftp://x.example"}},
        headers=ADMIN,
    )
    assert (http.json()["code"], http.json()["pointer"]) == (
        "data_address.url_not_https",
        "/dataAddress/baseUrl",
    )

    extra = client.post("/assets", json={"dataAddress": {}, "color": "red"}, headers=ADMIN)
    assert extra.status_code == 422
    assert extra.json()["code"] == "request.validation_failed"
    assert extra.json()["pointer"] == "/color"

    bad_policy = client.post(
        "/policies",
        json={
            "id": "bad",
            "policy": {
                "permission": [{"action": "use", "constraint": [{"leftOperand": "purpose"}]}]
            },
        },
        headers=ADMIN,
    )
    assert bad_policy.status_code == 422
    body = bad_policy.json()
    assert body["code"].startswith("policy.")
    assert all(e["pointer"].startswith("/") for e in body["errors"])
    assert client.get("/policies/bad", headers=ADMIN).status_code == 404  # nothing stored

    price = client.post(
        "/offers",
        json={"assetId": "a", "policyId": "p", "price": {"amount": "1", "currency": "EURO"}},
        headers=ADMIN,
    )
    assert (price.json()["code"], price.json()["pointer"]) == (
        "offer.price_invalid",
        "/price/currency",
    )
    unknown = client.post("/offers", json={"assetId": "a", "policyId": "p"}, headers=ADMIN)
    assert (unknown.json()["code"], unknown.json()["pointer"]) == (
        "offer.unknown_asset",
        "/assetId",
    )
    missing = client.post("/offers", json={"policyId": "p"}, headers=ADMIN)
    assert (missing.status_code, missing.json()["pointer"]) == (422, "/assetId")

    deep: dict[str, object] = {"type": "HttpData", "baseUrl": "https://x.example"}
    nested: dict[str, object] = {}
    cursor = nested
    for _ in range(80):
        cursor["a"] = {}
        cursor = cursor["a"]  # type: ignore[assignment]
    deep["extra"] = nested
    too_deep = client.post("/assets", json={"dataAddress": deep}, headers=ADMIN)
    assert too_deep.json()["code"] == "request.too_deep"
