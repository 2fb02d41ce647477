"""The SPARQL endpoint: read-only, a deadline, a result cap, the parser's message on errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pyoxigraph as ox
import pytest
from catalogue_factories import Federation, offering

from hansa.catalogue.service import CatalogueService
from hansa.catalogue.sparql import SparqlRunner, is_update
from hansa.errors import HansaError

SELECT = "SELECT ?name WHERE { ?s a gx:ServiceOffering ; schema:name ?name } ORDER BY ?name"


@pytest.fixture
def published(federation: Federation, catalogue: CatalogueService) -> list[str]:
    acme = federation.party("acme")
    tokens = [
        acme.sign(offering(acme, name, keywords=("traffic",)))
        for name in ("Traffic Hamburg", "Traffic Berlin")
    ]
    _, label = federation.label(tokens)
    catalogue.ingest_presentation(acme.present([*tokens, label], catalogue.node_did))
    return ["Traffic Berlin", "Traffic Hamburg"]


def test_select_as_sparql_json_over_get_and_post(
    client: httpx.Client, published: list[str]
) -> None:
    got = client.get("/catalogue/sparql", params={"query": SELECT})
    assert got.headers["content-type"].startswith("application/sparql-results+json")
    body = got.json()
    assert body["head"]["vars"] == ["name"]
    assert [b["name"]["value"] for b in body["results"]["bindings"]] == published
    posted = client.post(
        "/catalogue/sparql",
        content=SELECT,
        headers={"Content-Type": "application/sparql-query"},
    )
    assert posted.json() == body
    form = client.post("/catalogue/sparql", data={"query": SELECT})
    assert form.json() == body


def test_csv_tsv_ask_and_construct(client: httpx.Client, published: list[str]) -> None:
    csv = client.get("/catalogue/sparql", params={"query": SELECT}, headers={"Accept": "text/csv"})
    assert csv.text.splitlines() == ["name", *published]
    tsv = client.get(
        "/catalogue/sparql",
        params={"query": SELECT},
        headers={"Accept": "text/tab-separated-values"},
    )
    assert tsv.text.splitlines()[1] == '"Traffic Berlin"'
    ask = client.get("/catalogue/sparql", params={"query": 'ASK { ?s gx:keyword "traffic" }'})
    assert ask.json() == {"head": {}, "boolean": True}
    construct = client.get(
        "/catalogue/sparql",
        params={"query": "CONSTRUCT { ?s schema:name ?n } WHERE { ?s schema:name ?n }"},
        headers={"Accept": "text/turtle"},
    )
    assert construct.headers["content-type"].startswith("text/turtle")
    triples = list(ox.parse(construct.content, format=ox.RdfFormat.TURTLE))
    assert sorted(t.object.value for t in triples) == published


@pytest.mark.parametrize(
    "update",
    [
        'INSERT DATA { <urn:x> schema:name "injected" }',
        "PREFIX ex: <urn:ex:>\nDELETE WHERE { ?s ?p ?o }",
        "LOAD <https://example.org/data.ttl>",
        "CLEAR ALL",
    ],
)
def test_updates_are_refused_and_change_nothing(
    client: httpx.Client, published: list[str], update: str
) -> None:
    refused = client.get("/catalogue/sparql", params={"query": update})
    assert refused.status_code == 400
    assert refused.json()["code"] == "catalogue.sparql_update_refused"
    after = client.get("/catalogue/sparql", params={"query": SELECT}).json()
    assert [b["name"]["value"] for b in after["results"]["bindings"]] == published


def test_malformed_query_carries_the_parsers_message(client: httpx.Client) -> None:
    invalid = client.get("/catalogue/sparql", params={"query": "SELECT ?x WHERE { ?x"})
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "catalogue.sparql_invalid"
    assert "error at 1:" in invalid.json()["detail"]
    empty = client.get("/catalogue/sparql")
    assert empty.json()["code"] == "catalogue.sparql_invalid"
    wrong_type = client.post(
        "/catalogue/sparql", content=SELECT, headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.json()["code"] == "catalogue.sparql_invalid"


def test_is_update_never_runs_the_update() -> None:
    assert is_update("LOAD <https://192.0.2.1/never-fetched>")
    assert is_update("# comment\nBASE <urn:b/>\nPREFIX a: <urn:a:>\nDROP GRAPH <urn:g>")
    assert not is_update("SELECT * { ?s ?p ?o }")
    assert not is_update("nonsense")


def _store(triples: int) -> ox.Store:
    store = ox.Store()
    store.extend(
        ox.Quad(ox.NamedNode(f"urn:s:{i}"), ox.NamedNode("urn:p"), ox.Literal(str(i)))
        for i in range(triples)
    )
    return store


CROSS = "SELECT * { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def test_results_past_the_cap_are_cut_off() -> None:
    store = _store(50)
    runner = SparqlRunner(store.query, max_results=7)
    result = runner.run(CROSS)
    assert (len(result.rows), result.truncated) == (7, True)
    runner.close()


class SteppingClock:
    """A clock that moves one second each time it is read: a deadline is met after a few reads."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_an_endless_result_stream_stops_at_the_deadline() -> None:
    store = _store(200)  # 8 million solutions: it would run for minutes
    runner = SparqlRunner(store.query, seconds=5, clock=SteppingClock())
    with pytest.raises(HansaError) as stopped:
        runner.run(CROSS)
    assert (stopped.value.code, stopped.value.status_code) == ("catalogue.sparql_timeout", 503)
    runner.close()


def test_a_blocked_evaluation_times_out_and_further_queries_are_refused_while_it_runs() -> None:
    release = threading.Event()

    def slow(_: str) -> Iterator[Any]:
        release.wait(30)
        return iter(())

    runner = SparqlRunner(slow, seconds=0.05, max_running=1)
    with pytest.raises(HansaError) as late:
        runner.run("SELECT * { ?s ?p ?o }")
    assert late.value.code == "catalogue.sparql_timeout"
    with pytest.raises(HansaError) as busy:
        runner.run("SELECT * { ?s ?p ?o }")
    assert (busy.value.code, busy.value.status_code) == ("catalogue.sparql_busy", 503)
    release.set()
    runner.close()
