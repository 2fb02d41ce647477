"""``hansa federation``: a federation's root CA, trust-anchor DID and node certificates."""

from __future__ import annotations

from pathlib import Path

import typer

from hansa.cli.common import cli_errors, console, open_node
from hansa.errors import BadRequest
from hansa.identity.federation import init_federation, load_federation

app = typer.Typer(help="Create and run a federation's root of trust.", no_args_is_help=True)

DEFAULT_NODES = [
    "clearing-house=https://localhost:8440",
    "provider=https://localhost:8441",
    "consumer=https://localhost:8442",
]


@app.command("init")
def init(
    directory: Path = typer.Argument(..., help="where the federation's files go"),
    name: str = typer.Option("demo-eu", help="the federation's name"),
    node: list[str] = typer.Option(
        DEFAULT_NODES, help="NAME=HTTPS-BASE-URL of a node; repeat for each node"
    ),
    trust_anchor: str = typer.Option(
        "clearing-house", help="the node whose DID is the trust anchor"
    ),
) -> None:
    """Create a root CA, the trust-anchor DID and TLS certificates for the nodes."""
    with cli_errors():
        nodes = {}
        for entry in node:
            node_name, sep, url = entry.partition("=")
            if not sep or not url.startswith("https://"):
                raise BadRequest(
                    f"--node {entry!r}: write NAME=https://host:port", code="federation.invalid"
                )
            nodes[node_name] = url
        federation = init_federation(directory, name, nodes, trust_anchor=trust_anchor)
        console.print(f"Federation [bold]{name}[/] in {directory}")
        console.print(f"  root CA            {federation.ca_cert_file}")
        console.print(f"  trust-anchor DID   {federation.trust_anchor_did}")
        for entry_ in federation.nodes.values():
            console.print(f"  node {entry_.name:<14}{entry_.base_url}  {entry_.did}")


@app.command("certify")
def certify(
    directory: Path = typer.Argument(..., help="the federation directory (holds the root CA)"),
) -> None:
    """Bind this node's signing key to the federation's root CA (its x5u chain)."""
    with cli_errors(), open_node() as local:
        federation = load_federation(directory)
        key = local.identity.ensure_signing_key()
        chain = federation.certify_key(local.identity.did, key.public_key)
        local.identity.attach_certificate_chain(key.id, chain)
        console.print(f"key {key.id} of {local.identity.did} certified by {federation.name}")
