"""Search: prefix words, ranking, facets, filters, pages and cursors, highlights, detail."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from catalogue_factories import Federation, Party, legal_person, offering

from hansa.catalogue.service import CatalogueService

POLICY = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Offer",
    "uid": "urn:uuid:policy-1",
    "permission": [{"action": "use", "assigner": "did:web:provider.example.eu"}],
}


def publish_all(
    federation: Federation,
    catalogue: CatalogueService,
    provider: Party,
    *credentials: dict[str, Any],
) -> list[str]:
    tokens = [provider.sign(c) for c in credentials]
    _, label = federation.label(tokens, level="L1")
    published = catalogue.ingest_presentation(
        provider.present([*tokens, label], catalogue.node_did)
    )
    return [p.id for p in published]


@pytest.fixture
def populated(federation: Federation, catalogue: CatalogueService) -> dict[str, str]:
    acme = federation.party("provider")
    nord = federation.party("nordlicht")
    ids = publish_all(
        federation,
        catalogue,
        acme,
        legal_person(acme, "Acme Mobility GmbH"),
        offering(
            acme,
            "Traffic flow Berlin",
            description="Live traffic counts from road sensors in Berlin, every minute.",
            keywords=("mobility", "traffic"),
            formats=("text/csv",),
            policy=POLICY,
        ),
        offering(
            acme,
            "Parking <b>occupancy</b>",
            description="Free parking spaces in Hamburg garages.",
            keywords=("mobility", "parking"),
            country="DE-HH",
            price_model="pay-per-use",
        ),
    )
    ids += publish_all(
        federation,
        catalogue,
        nord,
        offering(
            nord,
            "Wind forecast North Sea",
            description="Hourly wind forecasts for offshore parks; mobility of air masses.",
            keywords=("energy", "weather"),
            kind="gx:DataProduct",
            country="NL",
            licence="ODbL-1.0",
            price_model="free",
        ),
    )
    return {"acme": ids[0], "traffic": ids[1], "parking": ids[2], "wind": ids[3], "nord": nord.did}


def search(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/catalogue/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_prefix_words_rank_and_highlight(client: httpx.Client, populated: dict[str, str]) -> None:
    result = search(client, q="mobil")
    names = [item["name"] for item in result["items"]]
    # Keyword and name matches outrank a word deep in a description.
    assert names[-1] == "Wind forecast North Sea"
    assert set(names) == {
        "Acme Mobility GmbH",
        "Traffic flow Berlin",
        "Parking <b>occupancy</b>",
        "Wind forecast North Sea",
    }
    traffic = next(i for i in result["items"] if i["name"] == "Traffic flow Berlin")
    assert "<mark>mobility</mark>" in traffic["highlights"]["keywords"]
    assert traffic["provider"] == {
        "id": "did:web:provider.example.eu",
        "name": "Acme Mobility GmbH",
        "reference": "did:web:provider.example.eu",
    }
    assert traffic["label"] == "L1"

    parking = search(client, q="occup")["items"][0]
    # Text from credentials is escaped; only the marks are HTML.
    assert parking["highlights"]["name"] == "Parking &lt;b&gt;<mark>occupancy</mark>&lt;/b&gt;"
    assert search(client, q="berlin sensors")["total"] == 1
    assert search(client, q="berlin hamburg")["total"] == 0
    assert search(client, q='"unbalanced AND OR ( *')["total"] == 0


def test_facets_count_and_filter(client: httpx.Client, populated: dict[str, str]) -> None:
    everything = search(client)
    assert everything["total"] == 4
    facets = {
        name: {v["value"]: v["count"] for v in values}
        for name, values in everything["facets"].items()
    }
    assert facets["type"] == {"ServiceOffering": 2, "DataProduct": 1, "LegalPerson": 1}
    assert facets["keyword"]["mobility"] == 2
    assert facets["country"] == {"DE": 3, "NL": 1}
    assert facets["price_model"] == {"subscription": 1, "pay-per-use": 1, "free": 1}
    assert facets["label"] == {"L1": 4}
    assert facets["licence"]["ODbL-1.0"] == 1
    assert facets["format"]["text/csv"] == 1

    mobility = search(client, q="mobil", keyword="Mobility")  # keywords: any case
    assert mobility["total"] == 2
    assert {v["value"]: v["count"] for v in mobility["facets"]["keyword"]} == {
        "mobility": 2,
        "traffic": 1,
        "parking": 1,
    }
    assert search(client, provider=populated["nord"])["total"] == 1
    assert search(client, type=["gx:DataProduct", "LegalPerson"])["total"] == 2
    assert search(client, country="DE", price_model="free")["total"] == 0
    unknown = client.get("/catalogue/search", params={"colour": "blue"})
    assert unknown.status_code == 200  # unknown parameters are ignored, like any web API


def test_pages_and_cursors(client: httpx.Client, populated: dict[str, str]) -> None:
    first = search(client, size=3)
    assert len(first["items"]) == 3
    assert first["next"]
    second = search(client, size=3, cursor=first["next"])
    assert len(second["items"]) == 1
    assert second["next"] is None
    seen = [i["id"] for i in first["items"] + second["items"]]
    assert sorted(seen) == sorted(v for k, v in populated.items() if k != "nord")
    assert [i["id"] for i in search(client, size=3, page=2)["items"]] == [second["items"][0]["id"]]

    for cursor in ("forged", first["next"][:-2] + "AA"):
        bad = client.get("/catalogue/search", params={"size": 3, "cursor": cursor})
        assert bad.status_code == 400
        assert bad.json()["code"] == "catalogue.invalid_cursor"
    # A cursor belongs to its query.
    moved = client.get(
        "/catalogue/search", params={"size": 3, "q": "mobil", "cursor": first["next"]}
    )
    assert moved.json()["code"] == "catalogue.invalid_cursor"
    assert (
        client.get("/catalogue/search", params={"page": 0}).json()["code"]
        == "catalogue.invalid_page"
    )
    assert (
        client.get("/catalogue/search", params={"size": 500}).json()["code"]
        == "catalogue.invalid_page"
    )


def test_offering_detail(client: httpx.Client, populated: dict[str, str]) -> None:
    detail = client.get(f"/catalogue/entries/{populated['traffic']}").json()
    assert detail["provider"]["name"] == "Acme Mobility GmbH"
    assert detail["labels"][0]["level"] == "L1"
    assert detail["dspEndpoint"] == "https://provider.example.eu/api/dsp"
    assert detail["price"] == {
        "priceModel": "subscription",
        "amount": "10.00",
        "currency": "EUR",
    }
    words = detail["policies"][0]["inWords"]
    assert words == ["Use is permitted."]
    assert detail["credential"].count(".") == 2
    assert detail["labelCredential"].count(".") == 2
    missing = client.get("/catalogue/entries/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "catalogue.entry_not_found"


def test_sparql_on_the_rdf_projection(
    catalogue: CatalogueService, populated: dict[str, str]
) -> None:
    rows = catalogue.sparql(
        'SELECT ?name WHERE { ?s a gx:ServiceOffering ; gx:keyword "mobility" ; schema:name ?name }'
    )
    assert sorted(row["name"].value for row in rows) == [
        "Parking <b>occupancy</b>",
        "Traffic flow Berlin",
    ]


def test_reindex_rebuilds_the_same_projections(
    catalogue: CatalogueService, populated: dict[str, str]
) -> None:
    from hansa.catalogue.search import build_query

    def snapshot() -> tuple[Any, ...]:
        found = catalogue.search(build_query("mobil", {}))
        everything = catalogue.search(build_query("", {}))
        quads = sorted(str(q) for q in catalogue.rdf.entry_quads())
        return found["items"], found["facets"], everything["facets"], quads

    before = snapshot()
    assert catalogue.reindex() == 4
    assert snapshot() == before
