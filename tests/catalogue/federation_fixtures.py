"""Catalogue nodes that follow each other over loopback HTTP, for the federation tests.

Node A is the federation's clearing house (it labels offerings); B and C are catalogues of
the same federation: they trust its root CA and A as compliance issuer, and resolve DIDs
and fetch status lists as A's federation does (from a dict and A's database: no network).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from catalogue_factories import ADMIN_KEY, Federation, Party, offering
from starlette.types import ASGIApp, Receive, Scope, Send

from hansa.app import create_app
from hansa.catalogue.api import router
from hansa.catalogue.federation import CatalogueFederation
from hansa.catalogue.search import build_query
from hansa.catalogue.service import CatalogueService
from hansa.fetch import GuardedClient
from hansa.identity.did import DidDocument
from hansa.identity.pki import certificates_to_pem
from hansa.node import Node
from hansa.serving import BackgroundServer
from hansa.settings import HttpSettings, Settings

LOOPBACK = HttpSettings(allow_loopback=True, allow_http_on_loopback=True, timeout_seconds=5)


class Follower(Federation):
    """A catalogue node of A's federation: same root CA, A trusted as compliance issuer."""

    def __init__(self, node: Node, home: Federation) -> None:
        self.node = node
        self.home = home
        self.ca_key, self.ca_cert = home.ca_key, home.ca_cert
        self.documents = home.documents
        self.offline = False
        node.identity.add_root_ca(certificates_to_pem([home.ca_cert]).decode(), "test root")
        node.identity.add_trusted_issuer(home.node.identity.did, "the clearing house")

    def resolve(self, did: str) -> DidDocument:
        return self.home.resolve(did)

    def fetch(self, url: str) -> bytes:
        return self.home.fetch(url)


class Switch:
    """ASGI wrapper: while ``down``, every request answers 503 (a peer that is offline)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.down = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.down and scope["type"] == "http":
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"down"})
            return
        await self.app(scope, receive, send)


class Clock:
    """An injectable clock for grace periods."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class CatalogueNode:
    name: str
    node: Node
    federation: Federation
    catalogue: CatalogueService
    peers: CatalogueFederation
    server: BackgroundServer
    switch: Switch

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.bound_port()}"

    def total(self, text: str = "") -> int:
        return int(self.catalogue.search(build_query(text, {}))["total"])

    def close(self) -> None:
        self.server.stop()
        http = self.peers.http
        if isinstance(http, GuardedClient):
            http.close()
        self.node.close()


def open_node(
    name: str,
    tmp_path: Path,
    make_federation: Callable[[Node], Federation],
    clock: Clock,
    database_url: str | None = None,
    **limits: Any,
) -> CatalogueNode:
    settings = Settings(
        name=name,
        data_dir=tmp_path / name,
        database_url=database_url or f"sqlite:///{tmp_path / name}.db",
        base_url=f"https://{name}.example.eu",
        admin_api_key=ADMIN_KEY,  # type: ignore[arg-type]
        wallet_secret="a wallet secret for tests",  # type: ignore[arg-type]
    )
    (tmp_path / name).mkdir(exist_ok=True)
    node = Node.open(settings)
    federation = make_federation(node)
    catalogue = federation.catalogue()
    peers = CatalogueFederation(catalogue, GuardedClient(LOOPBACK), clock=clock, **limits)
    catalogue.federation = peers
    app = create_app(node.settings, node)
    app.include_router(router)
    switch = Switch(app)
    server = BackgroundServer(switch, port=0).start()
    return CatalogueNode(name, node, federation, catalogue, peers, server, switch)


def publish(home: CatalogueNode, provider: Party, name: str, **kwargs: Any) -> tuple[str, str]:
    """``provider`` publishes one offering at the clearing house A: (entry id, label id)."""
    tokens = [provider.sign(offering(provider, name, **kwargs))]
    label_id, label = home.federation.label(tokens)
    published = home.catalogue.ingest_presentation(
        provider.present([*tokens, label], home.catalogue.node_did)
    )
    return published[0].id, label_id
