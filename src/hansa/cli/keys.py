"""``hansa keys``: the node's key pairs (public halves only are ever shown)."""

from __future__ import annotations

import typer
from rich.table import Table

from hansa.cli.common import cli_errors, console, open_node, print_json

app = typer.Typer(help="Create, list and rotate this node's keys.", no_args_is_help=True)


@app.command("list")
def list_keys() -> None:
    """List the keys with their status and Multikey."""
    with cli_errors(), open_node() as node:
        table = Table("id", "type", "status", "publicKeyMultibase", "created", "x5u")
        for key in node.identity.wallet.list_keys():
            table.add_row(
                key.id,
                key.key_type,
                key.status,
                key.public_key_multibase,
                key.created_at.strftime("%Y-%m-%d %H:%M"),
                "yes" if key.certificate_chain else "",
            )
        console.print(table)


@app.command("create")
def create_key(
    key_type: str = typer.Option("Ed25519", "--type", help="Ed25519 or P-256"),
    key_id: str | None = typer.Option(None, "--id", help="name used as the DID URL fragment"),
) -> None:
    """Create a key pair; prints its public JWK."""
    with cli_errors(), open_node() as node:
        print_json(node.identity.create_key(key_type, key_id).to_json())


@app.command("rotate")
def rotate_key(key_id: str) -> None:
    """Retire KEY_ID and create its successor (the old key stays published for verification)."""
    with cli_errors(), open_node() as node:
        print_json(node.identity.rotate_key(key_id).to_json())


@app.command("export")
def export_key(key_id: str) -> None:
    """Print a key's public JWK and Multikey (never the private key)."""
    with cli_errors(), open_node() as node:
        print_json(node.identity.wallet.get(key_id).to_json())
