"""Fixtures: a catalogue node on SQLite and PostgreSQL, its federation, and HTTP to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from catalogue_factories import ADMIN_KEY, Federation

from hansa.app import create_app
from hansa.catalogue.api import router
from hansa.catalogue.service import CatalogueService
from hansa.node import Node
from hansa.serving import BackgroundServer
from hansa.settings import Settings


@pytest.fixture
def node(database_url: str, tmp_path: Path) -> Iterator[Node]:
    settings = Settings(
        name="catalogue",
        data_dir=tmp_path,
        database_url=database_url,
        base_url="https://catalogue.example.eu",
        admin_api_key=ADMIN_KEY,  # type: ignore[arg-type]
        wallet_secret="a wallet secret for tests",  # type: ignore[arg-type]
    )
    node = Node.open(settings)
    yield node
    node.close()


@pytest.fixture
def federation(node: Node) -> Federation:
    return Federation(node)


@pytest.fixture
def catalogue(federation: Federation) -> CatalogueService:
    return federation.catalogue()


@pytest.fixture
def client(node: Node, catalogue: CatalogueService) -> Iterator[httpx.Client]:
    """Real HTTP on loopback to the node's app with the catalogue router mounted."""
    app = create_app(node.settings, node)
    app.include_router(router)
    server = BackgroundServer(app, port=0).start()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.bound_port()}") as client:
        yield client
    server.stop()
