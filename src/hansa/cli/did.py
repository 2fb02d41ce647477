"""``hansa did``: this node's DID document, and resolution of any DID."""

from __future__ import annotations

import typer

from hansa.cli.common import cli_errors, open_node, print_json

app = typer.Typer(help="Show this node's DID, resolve DIDs.", no_args_is_help=True)


@app.command("show")
def show() -> None:
    """Print this node's DID document (served at /.well-known/did.json)."""
    with cli_errors(), open_node() as node:
        print_json(node.identity.did_document())


@app.command("resolve")
def resolve(did: str) -> None:
    """Resolve DID (did:web over the guarded HTTPS client, did:key locally)."""
    with cli_errors(), open_node() as node:
        result = node.identity.resolution_result(did)
        print_json(result)
        if result["didResolutionMetadata"].get("error"):
            raise typer.Exit(1)
