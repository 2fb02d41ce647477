"""``hansa catalogue``: search, show, reindex and delete entries of this node's catalogue.

Mount in ``hansa.cli.main`` with ``app.add_typer(catalogue.app, name="catalogue")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from hansa.catalogue.federation import CatalogueFederation
from hansa.catalogue.search import build_query
from hansa.catalogue.service import CatalogueService, open_catalogue
from hansa.cli.common import cli_errors, console, open_node, print_json
from hansa.node import Node

app = typer.Typer(help="Search and maintain this node's federated catalogue.", no_args_is_help=True)


def catalogue_of(node: Node) -> CatalogueService:
    """The node's catalogue: the one it built, or one opened on its database and data dir."""
    service = getattr(node, "catalogue", None)
    if isinstance(service, CatalogueService):
        return service
    return open_catalogue(
        node.engine,
        node.sessions,
        node.identity.verifier,
        node_did=node.identity.did,
        is_compliance_issuer=node.identity.trust.is_trusted_issuer,
        rdf=False,  # the running node keeps its graph; it catches up from the change feed
    )


@contextmanager
def open_catalogue_of_node() -> Iterator[CatalogueService]:
    with cli_errors(), open_node() as node:
        yield catalogue_of(node)


@app.command("search")
def search(
    query: str = typer.Argument("", help="words; each also matches as a prefix"),
    type_: list[str] = typer.Option([], "--type", help="ServiceOffering, DataProduct, ..."),
    provider: list[str] = typer.Option([], help="provider DID"),
    label: list[str] = typer.Option([], help="label level: SC, L1, L2, L3"),
    keyword: list[str] = typer.Option([]),
    format_: list[str] = typer.Option([], "--format", help="media type"),
    country: list[str] = typer.Option([], help="ISO 3166 country code"),
    licence: list[str] = typer.Option([]),
    price_model: list[str] = typer.Option([], help="free, subscription, pay-per-use, ..."),
    page: int = typer.Option(1, min=1),
    size: int = typer.Option(20, min=1, max=100),
    as_json: bool = typer.Option(False, "--json", help="print the whole answer as JSON"),
) -> None:
    """Full-text search with facet filters."""
    filters = {
        "type": type_,
        "provider": provider,
        "label": label,
        "keyword": keyword,
        "format": format_,
        "country": country,
        "licence": licence,
        "price_model": price_model,
    }
    with open_catalogue_of_node() as catalogue:
        result = catalogue.search(
            build_query(query, {k: v for k, v in filters.items() if v}, size=size), page=page
        )
    if as_json:
        print_json(result)
        return
    table = Table("id", "type", "name", "provider", "label", title=f"{result['total']} found")
    for item in result["items"]:
        provider_name = item["provider"]["name"] or item["provider"]["id"]
        table.add_row(item["id"], item["type"], item["name"], provider_name, item["label"])
    Console(width=200).print(table)  # results on stdout, messages on stderr


@app.command("show")
def show(entry_id: str) -> None:
    """One entry in full (JSON), with its signed originals."""
    with open_catalogue_of_node() as catalogue:
        print_json(catalogue.entry(entry_id))


@app.command("reindex")
def reindex() -> None:
    """Rebuild the full-text index and facets from the signed originals.

    A running node rebuilds its (in-memory) RDF graph from the change feed when it starts.
    """
    with open_catalogue_of_node() as catalogue:
        count = catalogue.reindex()
    console.print(f"reindexed {count} entries")


@app.command("delete")
def delete(entry_id: str) -> None:
    """Delete an entry (as the node's operator)."""
    with open_catalogue_of_node() as catalogue:
        change = catalogue.delete(entry_id, None)
    print_json(change.to_json())


@app.command("recheck")
def recheck() -> None:
    """Re-verify every active entry now (expiry, status lists, issuer trust)."""
    with open_catalogue_of_node() as catalogue:
        report = catalogue.recheck_statuses()
    print_json(vars(report))


peer_app = typer.Typer(help="The catalogues this one follows.", no_args_is_help=True)
app.add_typer(peer_app, name="peer")


@contextmanager
def open_federation() -> Iterator[CatalogueFederation]:
    with cli_errors(), open_node() as node:
        catalogue = catalogue_of(node)
        yield catalogue.federation or CatalogueFederation(catalogue, node.http)


@peer_app.command("add")
def peer_add(url: str = typer.Argument(..., help="the peer catalogue's base URL")) -> None:
    """Follow another catalogue (its entries arrive with the next sync)."""
    with open_federation() as federation:
        print_json(federation.add_peer(url))


@peer_app.command("list")
def peer_list() -> None:
    """The peers, their cursor and health."""
    with open_federation() as federation:
        print_json(federation.peers())


@peer_app.command("remove")
def peer_remove(url: str) -> None:
    """Stop following a catalogue; the entries learnt from it are deleted."""
    with open_federation() as federation:
        removed = federation.remove_peer(url)
    console.print(f"removed {url} and {removed} entries learnt from it")


@app.command("sync")
def sync() -> None:
    """Read every peer's change feed now (the node also does this every 30 s)."""
    with open_federation() as federation:
        print_json([report.to_json() for report in federation.sync()])
