"""DCAT-AP 3 output: parses with pyoxigraph, carries the mandatory properties, pages."""

from __future__ import annotations

import json

import httpx
import pyoxigraph as ox
import pytest
from catalogue_factories import Federation, legal_person, offering

from hansa.catalogue.dcat import COUNTRY, DCAT, DCT, HYDRA, IANA, SPDX
from hansa.catalogue.service import CatalogueService

RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
DSP = "https://acme.example.eu/api/dsp"


@pytest.fixture
def published(federation: Federation, catalogue: CatalogueService) -> None:
    acme = federation.party("acme")
    tokens = [acme.sign(legal_person(acme, "Acme Mobility GmbH"))] + [
        acme.sign(
            offering(
                acme,
                f"Traffic Hamburg {n}",
                description="Road sensor counts",
                kind="gx:DataProduct",
                keywords=("traffic", "hamburg"),
                formats=("text/csv",),
                licence="CC-BY-4.0",
                dsp=DSP,
            )
        )
        for n in range(3)
    ]
    _, label = federation.label(tokens)
    catalogue.ingest_presentation(acme.present([*tokens, label], catalogue.node_did))


def _graph(body: bytes, rdf_format: ox.RdfFormat = ox.RdfFormat.TURTLE) -> ox.Store:
    store = ox.Store()
    store.load(body, format=rdf_format)
    return store


def _objects(store: ox.Store, subject: ox.NamedNode, predicate: str) -> list[str]:
    return [q.object.value for q in store.quads_for_pattern(subject, ox.NamedNode(predicate), None)]


def _of_type(store: ox.Store, kind: str) -> list[ox.NamedNode]:
    return [
        q.subject  # type: ignore[misc]
        for q in store.quads_for_pattern(None, RDF_TYPE, ox.NamedNode(kind))
    ]


def test_dcat_ap_catalogue_with_the_required_properties(
    client: httpx.Client, published: None
) -> None:
    response = client.get("/catalogue/dcat")
    assert response.headers["content-type"].startswith("text/turtle")
    store = _graph(response.content)
    [catalog] = _of_type(store, DCAT + "Catalog")
    for required in (DCT + "title", DCT + "description", DCT + "publisher"):
        assert _objects(store, catalog, required), required
    datasets = _of_type(store, DCAT + "Dataset")
    assert sorted(_objects(store, catalog, DCAT + "dataset")) == sorted(d.value for d in datasets)
    assert len(datasets) == 3  # offerings only; the LegalPerson is the publisher
    for dataset in datasets:
        assert _objects(store, dataset, DCT + "title")[0].startswith("Traffic Hamburg")
        assert _objects(store, dataset, DCT + "description") == ["Road sensor counts"]
        assert sorted(_objects(store, dataset, DCAT + "keyword")) == ["hamburg", "traffic"]
        assert _objects(store, dataset, DCT + "spatial") == [COUNTRY + "DEU"]
        [publisher] = _objects(store, dataset, DCT + "publisher")
        assert _objects(store, ox.NamedNode(publisher), "http://xmlns.com/foaf/0.1/name") == [
            "Acme Mobility GmbH"
        ]
        [distribution] = _objects(store, dataset, DCAT + "distribution")
        node = ox.NamedNode(distribution)
        assert _objects(store, node, DCAT + "mediaType") == [IANA + "text/csv"]
        assert _objects(store, node, DCT + "format") == [IANA + "text/csv"]
        assert _objects(store, node, DCT + "license") == [SPDX + "CC-BY-4.0"]
        assert _objects(store, node, DCAT + "accessURL") == [DSP]
        [service] = _objects(store, node, DCAT + "accessService")
        assert _objects(store, ox.NamedNode(service), DCAT + "endpointURL") == [DSP]


def test_json_ld_by_accept(client: httpx.Client, published: None) -> None:
    response = client.get("/catalogue/dcat", headers={"Accept": "application/ld+json"})
    assert response.headers["content-type"].startswith("application/ld+json")
    json.loads(response.content)
    store = _graph(response.content, ox.RdfFormat.JSON_LD)
    assert len(_of_type(store, DCAT + "Dataset")) == 3


def test_pages_link_with_hydra(client: httpx.Client, published: None) -> None:
    first = _graph(client.get("/catalogue/dcat", params={"size": 2}).content)
    [view] = _of_type(first, HYDRA + "PartialCollectionView")
    [following] = _objects(first, view, HYDRA + "next")
    assert following.endswith("/catalogue/dcat?page=2")
    assert _objects(first, view, HYDRA + "last")[0].endswith("page=2")
    second = _graph(client.get("/catalogue/dcat", params={"size": 2, "page": 2}).content)
    [view] = _of_type(second, HYDRA + "PartialCollectionView")
    assert _objects(second, view, HYDRA + "previous")[0].endswith("page=1")
    assert not _objects(second, view, HYDRA + "next")
    assert len(_of_type(second, DCAT + "Dataset")) == 1
    past = client.get("/catalogue/dcat", params={"size": 2, "page": 3})
    assert (past.status_code, past.json()["code"]) == (400, "catalogue.invalid_page")


def test_an_empty_catalogue_is_still_a_catalogue(
    client: httpx.Client, catalogue: CatalogueService
) -> None:
    store = _graph(client.get("/catalogue/dcat").content)
    [catalog] = _of_type(store, DCAT + "Catalog")
    assert _objects(store, catalog, DCT + "title")
    assert not _of_type(store, DCAT + "Dataset")
