"""``hansa connector``: what this node offers over the Dataspace Protocol.

hansa connector asset create --data-address '{"type": "HttpData", "baseUrl": "https://..."}'
hansa connector policy create policy.json
hansa connector offer create --asset A --policy P --price 12.50 --currency EUR
hansa connector negotiate --provider https://provider.example --offer O --wait
hansa connector negotiations
hansa connector transfer --agreement ID --type HttpData-PULL --wait
hansa connector agreement revoke ID
hansa connector usage --agreement ID
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hansa.cli.common import cli_errors, console, open_node, print_json, read_json_or_text
from hansa.connector.assets import AssetService, parse_price
from hansa.connector.catalog import DSP_BASE_PATH
from hansa.connector.data_address import DataAddressRules
from hansa.connector.negotiation_lookup import find_offer
from hansa.connector.negotiation_management_api import dsp_address
from hansa.connector.negotiations import NegotiationService
from hansa.connector.transfers import TransferService
from hansa.errors import BadRequest
from hansa.identity.did import did_web_from_url
from hansa.node import Node

app = typer.Typer(help="Assets, usage policies and offers of this node.", no_args_is_help=True)
asset_app = typer.Typer(help="Datasets and where their data lives.", no_args_is_help=True)
policy_app = typer.Typer(help="ODRL usage policies (checked when stored).", no_args_is_help=True)
offer_app = typer.Typer(help="Assets offered under a policy.", no_args_is_help=True)
app.add_typer(asset_app, name="asset")
app.add_typer(policy_app, name="policy")
app.add_typer(offer_app, name="offer")


def provider_service(node: Node) -> AssetService:
    """The node's asset service (built from its settings until the node carries one)."""
    service: AssetService | None = getattr(node, "assets", None)
    if service is not None:
        return service
    rules = DataAddressRules(
        file_root=node.settings.data_dir / "files",
        allow_http_on_loopback=node.settings.http.allow_http_on_loopback,
    )
    return AssetService(node.sessions, rules)


def _json_argument(value: str, what: str) -> Any:
    """Inline JSON, '@file', a file path or '-' (stdin)."""
    text = value.strip()
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequest(
                f"{what} is not valid JSON: {exc}", code="request.malformed_json"
            ) from None
    source = text[1:] if text.startswith("@") else text
    if source != "-" and not Path(source).is_file():
        raise BadRequest(f"{what}: no such file {source!r}", code="cli.file_not_found")
    loaded = read_json_or_text(source)
    if not isinstance(loaded, dict):
        raise BadRequest(f"{what} must be a JSON object", code="request.malformed_json")
    return loaded


# --- assets -----------------------------------------------------------------------------


@asset_app.command("create")
def create_asset(
    data_address: str = typer.Option(
        ..., "--data-address", help="JSON object, or a file holding it ('-' for stdin)"
    ),
    asset_id: str | None = typer.Option(None, "--id", help="dataset @id (default: urn:uuid)"),
    title: str | None = typer.Option(None, "--title"),
    description: str | None = typer.Option(None, "--description"),
    keywords: list[str] = typer.Option([], "--keyword", help="repeat for several"),
    content_type: str | None = typer.Option(None, "--content-type"),
) -> None:
    """Register an asset; File paths are relative to the node's file root (DATA_DIR/files)."""
    with cli_errors(), open_node() as node:
        asset = provider_service(node).create_asset(
            _json_argument(data_address, "--data-address"),
            id=asset_id,
            title=title,
            description=description,
            keywords=keywords,
            content_type=content_type,
        )
        print_json(asset.to_json())


@asset_app.command("list")
def list_assets() -> None:
    """List the assets."""
    with cli_errors(), open_node() as node:
        table = Table("id", "title", "type", "keywords")
        for asset in provider_service(node).list_assets():
            kind = str(asset.data_address.get("type", ""))
            table.add_row(asset.id, asset.title or "", kind, ", ".join(asset.keywords))
        console.print(table)


@asset_app.command("show")
def show_asset(asset_id: str) -> None:
    """Print one asset as JSON."""
    with cli_errors(), open_node() as node:
        print_json(provider_service(node).get_asset(asset_id).to_json())


@asset_app.command("delete")
def delete_asset(asset_id: str) -> None:
    """Delete an asset that no offer uses."""
    with cli_errors(), open_node() as node:
        provider_service(node).delete_asset(asset_id)


# --- policies ---------------------------------------------------------------------------


@policy_app.command("create")
def create_policy(
    policy: str = typer.Argument(..., help="the ODRL policy: a JSON file, '-' or inline JSON"),
    policy_id: str | None = typer.Option(None, "--id"),
    title: str | None = typer.Option(None, "--title"),
) -> None:
    """Store a policy after checking it (every problem is printed with its JSON pointer)."""
    with cli_errors(), open_node() as node:
        stored = provider_service(node).create_policy(
            _json_argument(policy, "the policy"), id=policy_id, title=title
        )
        print_json(stored.to_json())


@policy_app.command("list")
def list_policies() -> None:
    """List the stored policies with their first rule in words."""
    with cli_errors(), open_node() as node:
        table = Table("id", "title", "says")
        for policy in provider_service(node).list_policies():
            words = policy.to_json()["description"]
            table.add_row(policy.id, policy.title or "", words[0] if words else "")
        console.print(table)


@policy_app.command("show")
def show_policy(policy_id: str) -> None:
    """Print one policy, and what it says in words."""
    with cli_errors(), open_node() as node:
        print_json(provider_service(node).get_policy(policy_id).to_json())


@policy_app.command("delete")
def delete_policy(policy_id: str) -> None:
    """Delete a policy that no offer uses."""
    with cli_errors(), open_node() as node:
        provider_service(node).delete_policy(policy_id)


# --- offers -----------------------------------------------------------------------------


@offer_app.command("create")
def create_offer(
    asset_id: str = typer.Option(..., "--asset"),
    policy_id: str = typer.Option(..., "--policy"),
    offer_id: str | None = typer.Option(None, "--id", help="offer @id (default: urn:uuid)"),
    price: str | None = typer.Option(None, "--price", help="e.g. 12.50"),
    currency: str = typer.Option("EUR", "--currency", help="ISO 4217"),
) -> None:
    """Offer an asset under a policy, optionally at a price."""
    with cli_errors(), open_node() as node:
        offer = provider_service(node).create_offer(
            asset_id,
            policy_id,
            id=offer_id,
            price=parse_price(price, currency) if price is not None else None,
        )
        print_json(offer.to_json())


@offer_app.command("list")
def list_offers(asset_id: str | None = typer.Option(None, "--asset")) -> None:
    """List offers (of one asset with --asset)."""
    with cli_errors(), open_node() as node:
        table = Table("id", "asset", "policy", "price")
        for offer in provider_service(node).list_offers(asset_id):
            price = f"{offer.price.amount} {offer.price.currency}" if offer.price else ""
            table.add_row(offer.id, offer.asset_id, offer.policy_id, price)
        console.print(table)


@offer_app.command("show")
def show_offer(offer_id: str) -> None:
    """Print one offer as JSON."""
    with cli_errors(), open_node() as node:
        print_json(provider_service(node).get_offer(offer_id).to_json())


@offer_app.command("delete")
def delete_offer(offer_id: str) -> None:
    """Withdraw an offer."""
    with cli_errors(), open_node() as node:
        provider_service(node).delete_offer(offer_id)


# --- negotiations -----------------------------------------------------------------------


def _negotiations(node: Node) -> NegotiationService:
    if node.negotiations is None or node.outbox is None or node.sts is None:
        raise BadRequest(
            "this node does not negotiate contracts; add 'connector' to HANSA_ROLES",
            code="negotiation.disabled",
        )
    return node.negotiations


@app.command("negotiate")
def negotiate(
    provider: str = typer.Option(..., "--provider", help="the provider's base URL or DSP endpoint"),
    offer_id: str = typer.Option(..., "--offer", help="an offer @id from the provider's catalog"),
    provider_did: str | None = typer.Option(None, "--provider-did", help="default: its did:web"),
    wait: bool = typer.Option(False, "--wait", help="wait until FINALIZED or TERMINATED"),
    timeout: float = typer.Option(60.0, "--timeout", help="seconds to wait with --wait"),
) -> None:
    """Negotiate a provider's offer (the node's server must run to take the provider's answers)."""
    with cli_errors(), open_node() as node:
        service = _negotiations(node)
        address = dsp_address(provider)
        did = provider_did or did_web_from_url(address.removesuffix(DSP_BASE_PATH))
        assert node.sts is not None
        assert node.outbox is not None
        offer = find_offer(node.http, node.sts, address, did, offer_id)
        view = service.start(provider_address=address, provider_did=did, offer=offer)
        node.outbox.run_pending()  # the request leaves from here; the server does the rest
        if wait:
            view = service.wait(view["id"], ("FINALIZED", "TERMINATED"), timeout)
        else:
            view = service.view(view["id"])
        print_json(view)
        if view["state"] == "TERMINATED":
            raise typer.Exit(1)


@app.command("negotiations")
def negotiations(state: str | None = typer.Option(None, "--state", help="e.g. FINALIZED")) -> None:
    """List this node's contract negotiations, newest first."""
    with cli_errors(), open_node() as node:
        table = Table("id", "role", "state", "counterparty", "offer", "agreement")
        for view in _negotiations(node).list(state):
            table.add_row(
                view["id"],
                view["role"],
                view["state"],
                view["counterpartyDid"],
                view["offerId"] or "",
                view["agreementId"] or "",
            )
        console.print(table)


# --- transfers, agreements, usage --------------------------------------------------------


def _transfers(node: Node) -> TransferService:
    if node.transfers is None or node.outbox is None:
        raise BadRequest(
            "this node does not transfer data; add 'connector' to HANSA_ROLES",
            code="transfer.disabled",
        )
    return node.transfers


@app.command("transfer")
def start_transfer(
    agreement_id: str = typer.Option(..., "--agreement", help="a FINALIZED agreement we hold"),
    kind: str = typer.Option("HttpData-PULL", "--type", help="HttpData-PULL, HttpData-PUSH, ..."),
    destination: str | None = typer.Option(
        None, "--destination", help="JSON: a backend address (PULL) or a DSP DataAddress (PUSH)"
    ),
    wait: bool = typer.Option(False, "--wait", help="wait until COMPLETED or TERMINATED"),
    timeout: float = typer.Option(300.0, "--timeout", help="seconds to wait with --wait"),
) -> None:
    """Start a transfer under an agreement (the node's server must run to move the data)."""
    with cli_errors(), open_node() as node:
        service = _transfers(node)
        target = _json_argument(destination, "--destination") if destination else None
        view = service.start(agreement_id=agreement_id, transfer_type=kind, destination=target)
        assert node.outbox is not None
        node.outbox.run_pending()  # the request leaves from here; the server does the rest
        if wait:
            view = service.wait(view["id"], ("COMPLETED", "TERMINATED"), timeout)
        print_json(view)
        if view["state"] == "TERMINATED":
            raise typer.Exit(1)


@app.command("transfers")
def list_transfers(
    state: str | None = typer.Option(None, "--state", help="e.g. COMPLETED"),
) -> None:
    """List this node's transfers, newest first."""
    with cli_errors(), open_node() as node:
        table = Table("id", "role", "type", "state", "agreement", "bytes", "error")
        for view in _transfers(node).list(state):
            error = view["error"]["code"] if view["error"] else ""
            table.add_row(
                view["id"],
                view["role"],
                view["type"],
                view["state"],
                view["agreementId"],
                str(view["size"] or ""),
                error,
            )
        console.print(table)


agreement_app = typer.Typer(help="Agreements this node granted as provider.", no_args_is_help=True)
app.add_typer(agreement_app, name="agreement")


@agreement_app.command("revoke")
def revoke_agreement(
    agreement_id: str,
    reason: str | None = typer.Option(None, "--reason", help="told to the consumer"),
) -> None:
    """Revoke an agreement: every later data request (and running pull) is refused."""
    with cli_errors(), open_node() as node:
        print_json(_transfers(node).agreements.revoke(agreement_id, reason))


@agreement_app.command("show")
def show_agreement(agreement_id: str) -> None:
    """An agreement we granted, and whether it is revoked."""
    with cli_errors(), open_node() as node:
        print_json(_transfers(node).agreements.view(agreement_id))


@app.command("usage")
def usage(
    agreement_id: str | None = typer.Option(None, "--agreement", help="one agreement only"),
    as_json: bool = typer.Option(False, "--json", help="the CloudEvents as JSON"),
) -> None:
    """Who used what: the usage log (data accesses as provider, receipts as consumer)."""
    with cli_errors(), open_node() as node:
        events = _transfers(node).usage.events(agreement_id=agreement_id)
        if as_json:
            print_json(events)
            return
        table = Table("time", "type", "agreement", "counterparty", "bytes", "outcome", "error")
        for event in events:
            data = event["data"]
            table.add_row(
                event["time"],
                event["type"].rsplit(".", 1)[-1],
                data["agreement"],
                data["counterparty"],
                str(data["bytes"]),
                data["outcome"],
                data.get("error") or "",
            )
        console.print(table)
