"""A provider node for tests: its asset and catalog services, a test DSP authenticator, HTTP."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from hansa.app import create_app
from hansa.connector.assets import AssetService
from hansa.connector.catalog import CatalogService, DspEndpoint
from hansa.connector.catalog_api import router as catalog_router
from hansa.connector.catalog_api import well_known_router
from hansa.connector.data_address import DataAddressRules
from hansa.connector.management_api import router as management_router
from hansa.errors import Unauthorized
from hansa.node import Node
from hansa.policy.api import router as policy_router
from hansa.serving import BackgroundServer
from hansa.settings import Settings

ADMIN = {"Authorization": "Bearer test-admin-key"}
BASE_URL = "https://provider.example.eu"
TEST_SECRET = "dsp-test-secret"


@dataclass(frozen=True)
class HeaderCaller:
    did: str


class HeaderAuthenticator:
    """Stands in for DCP: accepts 'Authorization: Test <secret> <did>' and names the DID."""

    def authenticate(self, authorization: str | None) -> HeaderCaller:
        if not authorization:
            raise Unauthorized("send a token", code="dcp.token_missing")
        scheme, _, rest = authorization.partition(" ")
        secret, _, did = rest.partition(" ")
        if scheme != "Test" or not hmac.compare_digest(secret, TEST_SECRET) or not did:
            raise Unauthorized("the token is not valid", code="dcp.token_invalid")
        return HeaderCaller(did)


def caller(did: str = "did:web:consumer.example.eu") -> dict[str, str]:
    """Headers of an authenticated DSP request from ``did``."""
    return {"Authorization": f"Test {TEST_SECRET} {did}"}


def open_provider_node(
    database_url: str, data_dir: Path, *, page_size: int = 50, with_auth: bool = True
) -> Node:
    """A node with the provider services attached (as node.py will construct them)."""
    settings = Settings(
        name="provider",
        data_dir=data_dir,
        database_url=database_url,
        base_url=BASE_URL,
        admin_api_key="test-admin-key",  # type: ignore[arg-type]
        wallet_secret="a wallet secret for tests",  # type: ignore[arg-type]
    )
    node = Node.open(settings)
    (data_dir / "files").mkdir(exist_ok=True)
    assets = AssetService(node.sessions, DataAddressRules(file_root=data_dir / "files"))
    endpoint = DspEndpoint(participant_id=node.identity.did, base_url=BASE_URL)
    node.assets = assets  # type: ignore[attr-defined]
    node.catalog = CatalogService(assets, endpoint, page_size=page_size)  # type: ignore[attr-defined]
    node.dsp_auth = HeaderAuthenticator() if with_auth else None  # type: ignore[attr-defined]
    return node


def provider_app(node: Node) -> FastAPI:
    """The node's app with the provider routers (unless create_app mounts them already)."""
    app = create_app(node.settings, node)
    paths = {getattr(route, "path", None) for route in app.routes}
    for router, path in (
        (management_router, "/assets"),
        (catalog_router, "/dsp/2025-1/catalog/request"),
        (well_known_router, "/.well-known/dspace-version"),
        (policy_router, "/policies/evaluate"),
    ):
        if path not in paths:
            app.include_router(router)
    return app


@contextmanager
def serve(node: Node) -> Iterator[httpx.Client]:
    """Real HTTP on loopback to the node's app (port chosen by the OS)."""
    server = BackgroundServer(provider_app(node), port=0).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.bound_port()}") as client:
            yield client
    finally:
        server.stop()
