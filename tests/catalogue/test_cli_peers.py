"""``hansa catalogue peer add/list/remove`` and ``hansa catalogue sync``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hansa.cli.catalogue import app
from hansa.cli.common import state
from hansa.node import Node

runner = CliRunner()


def test_peer_commands(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "data_dir", node.settings.data_dir)
    env = {
        "HANSA_DATABASE_URL": node.settings.sqlalchemy_url(),
        "HANSA_BASE_URL": node.settings.base_url,
        "HANSA_WALLET_SECRET": "a wallet secret for tests",
    }

    def hansa(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.stdout or result.stderr

    added = json.loads(hansa("peer", "add", "https://ch.example.eu/"))
    assert (added["url"], added["status"]) == ("https://ch.example.eu", "new")
    assert [p["url"] for p in json.loads(hansa("peer", "list"))] == ["https://ch.example.eu"]
    # The guarded client refuses the unresolvable host; the peer is recorded, not the CLI hurt.
    [report] = json.loads(hansa("sync"))
    assert report["status"] in ("unreachable", "unhealthy")
    assert json.loads(hansa("peer", "list"))[0]["error"]
    assert "removed https://ch.example.eu and 0 entries" in hansa(
        "peer", "remove", "https://ch.example.eu"
    )
    assert "catalogue.no_peer" in hansa("peer", "remove", "https://ch.example.eu", code=1)
    assert "catalogue.invalid_peer" in hansa("peer", "add", "not a url", code=1)
