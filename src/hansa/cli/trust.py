"""``hansa trust``: the root CAs and issuer DIDs this node trusts."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hansa.cli.common import cli_errors, console, open_node, print_json

app = typer.Typer(help="Manage trusted root CAs and issuers.", no_args_is_help=True)


@app.command("list")
def list_anchors() -> None:
    """List trust anchors."""
    with cli_errors(), open_node() as node:
        table = Table("id", "kind", "value", "label")
        for anchor in node.identity.list_trust_anchors():
            value = anchor.get("did") or anchor.get("fingerprint") or ""
            table.add_row(str(anchor["id"]), anchor["kind"], str(value), anchor.get("label") or "")
        console.print(table)


@app.command("add-root")
def add_root(pem_file: Path, label: str | None = typer.Option(None)) -> None:
    """Trust a root CA certificate (PEM file)."""
    with cli_errors(), open_node() as node:
        print_json(node.identity.add_root_ca(pem_file.read_text(), label))


@app.command("add-issuer")
def add_issuer(did: str, label: str | None = typer.Option(None)) -> None:
    """Trust an issuer DID."""
    with cli_errors(), open_node() as node:
        print_json(node.identity.add_trusted_issuer(did, label))


@app.command("remove")
def remove(anchor_id: str) -> None:
    """Stop trusting an anchor."""
    with cli_errors(), open_node() as node:
        node.identity.remove_trust_anchor(anchor_id)
