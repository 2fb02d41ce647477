"""The clearing house's catalogue over HTTPS: a labelled data product found by search,
SPARQL and DCAT, and mirrored by a second catalogue that verifies every entry itself."""

from __future__ import annotations

from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest

from hansa.catalogue.dcat import DCAT, DCT
from hansa.catalogue.search import build_query
from hansa.demo.federation import LocalFederation
from hansa.demo.onboarding import onboard_participants
from hansa.demo.publishing import publish_offering, search_offerings
from hansa.node import Node
from hansa.settings import HttpSettings, Settings, TrustSettings

NAME = "Traffic counts Hamburg"


@pytest.fixture(scope="module")
def published(federation: LocalFederation) -> str:
    onboard_participants(federation)
    return publish_offering(federation)


def _house(federation: LocalFederation) -> httpx.Client:
    return federation["clearing-house"].client(federation.ca_file, admin=False)


def test_search_finds_the_labelled_data_product(
    federation: LocalFederation, published: str
) -> None:
    assert "label SC from the clearing house" in published
    assert "→ 1 result" in search_offerings(federation)
    with _house(federation) as client:
        found = client.get("/catalogue/search", params={"q": "traffic hamburg"}).json()
    [item] = [i for i in found["items"] if i["name"] == NAME]
    assert (item["type"], item["label"]) == ("DataProduct", "SC")
    assert item["provider"]["name"] == "Acme Mobility GmbH"
    assert found["peers"] == []


def test_sparql_and_dcat_over_https(federation: LocalFederation, published: str) -> None:
    with _house(federation) as client:
        rows = client.get(
            "/catalogue/sparql",
            params={"query": "SELECT ?s WHERE { ?s a gx:DataProduct ; gx:keyword 'hamburg' }"},
        ).json()["results"]["bindings"]
        refused = client.post(
            "/catalogue/sparql",
            content="DROP ALL",
            headers={"Content-Type": "application/sparql-query"},
        )
        turtle = client.get("/catalogue/dcat", params={"size": 500}).content
    assert len(rows) == 1
    assert refused.json()["code"] == "catalogue.sparql_update_refused"
    store = ox.Store()
    store.load(turtle, format=ox.RdfFormat.TURTLE)
    titles = [
        q.subject
        for q in store.quads_for_pattern(None, ox.NamedNode(DCT + "title"), ox.Literal(NAME))
    ]
    assert len(titles) == 1
    kinds = store.quads_for_pattern(
        titles[0],  # type: ignore[arg-type]
        ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
        ox.NamedNode(DCAT + "Dataset"),
    )
    assert len(list(kinds)) == 1


def test_a_second_catalogue_mirrors_the_clearing_house_verifying_everything(
    federation: LocalFederation, published: str, tmp_path: Path
) -> None:
    house = federation["clearing-house"]
    settings = Settings(
        name="mirror",
        data_dir=tmp_path,
        base_url="https://mirror.example.eu",
        roles=["identity", "catalogue"],
        wallet_secret="a wallet secret for tests",  # type: ignore[arg-type]
        http=HttpSettings(allow_loopback=True, ca_bundle=federation.ca_file),
        trust=TrustSettings(
            trusted_root_ca_files=[federation.ca_file], trusted_issuers=[house.did]
        ),
    )
    mirror = Node.open(settings)
    try:
        assert mirror.catalogue is not None
        assert mirror.catalogue.federation is not None
        peers = mirror.catalogue.federation
        peers.add_peer(house.base_url)
        [report] = peers.sync()
        assert report.status == "healthy", report.to_json()
        assert report.stored >= 3  # two participants' LegalPersons and the data product
        found = mirror.catalogue.search(build_query("traffic hamburg", {"type": ["DataProduct"]}))
        assert [i["name"] for i in found["items"]] == [NAME]
        [again] = peers.sync()
        assert (again.status, again.stored) == ("healthy", 0)
    finally:
        mirror.close()
