"""A whole federation on this machine: a clearing house and participant nodes over HTTPS.

Used by ``hansa demo`` and by the whole-federation tests: each node is a real
``create_app`` on its own uvicorn server and port, with its own database, wallet
and TLS certificate from the federation's root CA.
"""

from __future__ import annotations

import shutil
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hansa.app import create_app
from hansa.compliance.registry import terms_hash
from hansa.files import read_or_create_secret
from hansa.identity.federation import Federation, init_federation, load_federation
from hansa.node import Node
from hansa.serving import BackgroundServer
from hansa.settings import HttpSettings, Role, Settings, TrustSettings


@dataclass(frozen=True)
class NodeSpec:
    name: str
    label: str
    roles: tuple[Role, ...]


DEMO_NODES = (
    NodeSpec("clearing-house", "Clearing house", ("identity", "clearing-house", "catalogue")),
    NodeSpec("provider", "Acme Mobility GmbH", ("identity", "connector")),
    NodeSpec("consumer", "Nordlicht Analytics SE", ("identity", "connector")),
)


@dataclass
class RunningNode:
    spec: NodeSpec
    settings: Settings
    node: Node
    server: BackgroundServer
    admin_key: str

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def did(self) -> str:
        return self.node.identity.did

    def client(self, ca_file: Path, *, admin: bool = True) -> httpx.Client:
        """An HTTPS client to this node, trusting the federation CA, with the admin key."""
        headers = {"Authorization": f"Bearer {self.admin_key}"} if admin else {}
        return httpx.Client(
            base_url=self.base_url,
            verify=ssl.create_default_context(cafile=str(ca_file)),
            headers=headers,
            timeout=30,
        )


def _admin_key(directory: Path) -> str:
    return read_or_create_secret(directory / "admin-api-key")


DEMO_TERMS = Path(__file__).with_name("terms-and-conditions.txt")
DEMO_TERMS_VERSION = "demo-eu-1"


def set_up_clearing_house(node: Node) -> None:
    """Record the demo's terms and trust the clearing house as notary and compliance issuer.

    Idempotent: a restart finds the terms (by their SHA-256) and the parties recorded. The
    terms become current only when none is, so an operator's later choice is kept.
    """
    if node.compliance is None:
        return
    registry = node.compliance.registry
    text = DEMO_TERMS.read_text(encoding="utf-8")
    if terms_hash(text) not in registry.terms_snapshot()[1]:
        registry.add_terms(DEMO_TERMS_VERSION, text, current=registry.current_terms() is None)
    did = node.identity.did
    for role in ("notary", "compliance_issuer"):
        if not any(p.did == did for p in registry.list_parties(role)):
            registry.add_party(role, did, label="the demo's clearing house")


@dataclass
class LocalFederation:
    """Create (or reopen) and run a federation in ``root``."""

    root: Path
    base_port: int = 8440
    specs: tuple[NodeSpec, ...] = DEMO_NODES
    name: str = "demo-eu"
    status_ttl_seconds: float = 0.0
    nodes: dict[str, RunningNode] = field(default_factory=dict)
    federation: Federation | None = None

    def prepare(self, *, reset: bool = False) -> Federation:
        if reset and self.root.exists():
            shutil.rmtree(self.root)
        if (self.root / "federation.json").exists():
            self.federation = load_federation(self.root)
        else:
            urls = {
                spec.name: f"https://localhost:{self.base_port + i}"
                for i, spec in enumerate(self.specs)
            }
            self.federation = init_federation(
                self.root, self.name, urls, trust_anchor=self.specs[0].name
            )
        return self.federation

    def settings_for(self, spec: NodeSpec) -> Settings:
        federation = self.federation
        assert federation is not None
        entry = federation.node(spec.name)
        directory = self.root / "nodes" / spec.name
        port = int(entry.base_url.rsplit(":", 1)[1])
        return Settings(
            name=spec.name,
            data_dir=directory / "data",
            base_url=entry.base_url,
            roles=list(spec.roles),
            host="127.0.0.1",
            port=port,
            tls_cert_file=entry.tls_cert,
            tls_key_file=entry.tls_key,
            admin_api_key=_admin_key(directory),
            http=HttpSettings(allow_loopback=True, ca_bundle=federation.ca_cert_file),
            trust=TrustSettings(
                trusted_root_ca_files=[federation.ca_cert_file],
                trusted_issuers=[federation.trust_anchor_did],
                status_list_cache_ttl_seconds=self.status_ttl_seconds,
            ),
        )

    def start(self) -> dict[str, RunningNode]:
        federation = self.federation or self.prepare()
        for spec in self.specs:
            settings = self.settings_for(spec)
            node = Node.open(settings)
            set_up_clearing_house(node)
            key = node.identity.ensure_signing_key()
            if key.certificate_chain is None:
                # The federation's CA binds each node's key (Gaia-X: keys chain to an anchor).
                chain = federation.certify_key(node.identity.did, key.public_key)
                node.identity.attach_certificate_chain(key.id, chain)
            server = BackgroundServer(
                create_app(settings, node),
                host=settings.host,
                port=settings.port,
                certfile=settings.tls_cert_file,
                keyfile=settings.tls_key_file,
            )
            self.nodes[spec.name] = RunningNode(
                spec,
                settings,
                node,
                server,
                settings.admin_api_key.get_secret_value(),  # type: ignore[union-attr]
            )
            server.start()
            node.start_workers()
        return self.nodes

    def stop(self) -> None:
        # Close the nodes' outbound keep-alive connections first, so that no server
        # waits out its graceful-shutdown timeout on a peer's idle connection.
        for running in self.nodes.values():
            running.node.http.close()
        for running in self.nodes.values():
            running.server.stop()
            running.node.close()
        self.nodes.clear()

    @property
    def ca_file(self) -> Path:
        assert self.federation is not None
        return self.federation.ca_cert_file

    def __getitem__(self, name: str) -> RunningNode:
        return self.nodes[name]

    def __enter__(self) -> LocalFederation:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
