"""``hansa catalogue`` on a node's database: search, show, reindex, recheck, delete."""

from __future__ import annotations

import json

import pytest
from catalogue_factories import Federation, offering
from typer.testing import CliRunner

from hansa.catalogue.service import CatalogueService
from hansa.cli.catalogue import app
from hansa.cli.common import state
from hansa.node import Node

runner = CliRunner()


def test_catalogue_commands(
    node: Node, federation: Federation, catalogue: CatalogueService, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = federation.party("provider")
    token = provider.sign(offering(provider, "Traffic flow Berlin", keywords=("mobility",)))
    _, label = federation.label([token])
    entry_id = catalogue.ingest_presentation(provider.present([token, label], catalogue.node_did))[
        0
    ].id
    monkeypatch.setattr(state, "data_dir", node.settings.data_dir)
    env = {
        "HANSA_DATABASE_URL": node.settings.sqlalchemy_url(),
        "HANSA_BASE_URL": node.settings.base_url,
        "HANSA_WALLET_SECRET": "a wallet secret for tests",
    }

    def hansa(*args: str) -> str:
        """What the command printed: results on stdout, or its message on stderr."""
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.stdout or result.stderr

    found = json.loads(hansa("search", "mobil", "--country", "DE", "--json"))
    assert [item["id"] for item in found["items"]] == [entry_id]
    assert "Traffic flow Berlin" in hansa("search", "traffic")
    assert json.loads(hansa("show", entry_id))["name"] == "Traffic flow Berlin"
    assert "reindexed 1 entries" in hansa("reindex")
    assert json.loads(hansa("recheck"))["checked"] == 1
    assert json.loads(hansa("delete", entry_id))["kind"] == "delete"
    missing = runner.invoke(app, ["show", entry_id], env=env)
    assert missing.exit_code == 1
    assert "catalogue.entry_not_found" in missing.stderr
