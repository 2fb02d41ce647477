"""Peers that lie, flood or go away: batches rejected whole, entries hidden, then dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from catalogue_factories import Federation, offering
from federation_fixtures import CatalogueNode, Clock, Follower, open_node, publish
from starlette.types import Receive, Scope, Send

from hansa.node import Node
from hansa.serving import BackgroundServer


class FakePeer:
    """A catalogue peer that answers its change feed from 0 with whatever the test sets
    (and past it with an empty page)."""

    def __init__(self) -> None:
        self.body = b'{"changes": [], "last": 0}'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        since = int(parse_qs(scope["query_string"].decode()).get("since", ["0"])[0])
        body = self.body if since == 0 else json.dumps({"changes": [], "last": since}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pair(
    tmp_path: Path, database_url: str, clock: Clock
) -> Iterator[tuple[CatalogueNode, CatalogueNode]]:
    """A (clearing house) and B on the test database, B with small page limits."""
    a = open_node("a", tmp_path, Federation, clock)

    def follower(node: Node) -> Federation:
        return Follower(node, a.federation)

    b = open_node(
        "b",
        tmp_path,
        follower,
        clock,
        database_url,
        page_size=5,
        max_page_bytes=64 * 1024,
        hide_after=timedelta(hours=1),
        drop_after=timedelta(days=1),
    )
    yield a, b
    b.close()
    a.close()


@pytest.fixture
def fake() -> Iterator[tuple[FakePeer, str]]:
    peer = FakePeer()
    server = BackgroundServer(peer, port=0).start()
    yield peer, f"http://127.0.0.1:{server.bound_port()}"
    server.stop()


def _change(seq: int, originals: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"seq": seq, "entry": f"{seq:032x}", "kind": "insert", **extra}
    if originals is not None:
        item["originals"] = originals
    return item


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    return ".".join([header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]])


def _garbage(case: str, real: list[dict[str, Any]]) -> bytes:
    """The fake peer's answer for ``case``; ``real`` is A's true feed (two live entries)."""
    good = real[0]["originals"]
    pages: dict[str, Any] = {
        "not json": b"<html>hello</html>",
        "not a page": {"changes": "everything", "last": 1},
        "seq goes back": {"changes": [_change(2, good), _change(1, good)], "last": 1},
        "last forged": {"changes": [_change(1, good)], "last": 5000},
        "too many": {"changes": [_change(i) for i in range(1, 8)], "last": 7},
        "unknown kind": {"changes": [_change(1, good, kind="teleport")], "last": 1},
        "not a token": {"changes": [_change(1, {**good, "label": "hello"})], "last": 1},
        "oversized": {"changes": [_change(1, good)], "last": 1, "pad": "x" * 100_000},
        "forged signature": {
            "changes": [
                {**real[0], "seq": 1},
                _change(2, {**real[1]["originals"], "credential": _tamper(good["credential"])}),
            ],
            "last": 2,
        },
        "label of another offering": {
            "changes": [_change(1, {**good, "label": real[1]["originals"]["label"]})],
            "last": 1,
        },
    }
    page = pages[case]
    return page if isinstance(page, bytes) else json.dumps(page).encode()


CODES = {
    "not json": "net.invalid_json",
    "oversized": "net.too_large",
    "forged signature": "catalogue.peer_entry_invalid",
    "label of another offering": "catalogue.peer_entry_invalid",
}


@pytest.mark.parametrize(
    "case",
    [
        "not json",
        "not a page",
        "seq goes back",
        "last forged",
        "too many",
        "unknown kind",
        "not a token",
        "oversized",
        "forged signature",
        "label of another offering",
    ],
)
def test_a_peer_sending_garbage_is_unhealthy_and_nothing_of_its_batch_is_stored(
    pair: tuple[CatalogueNode, CatalogueNode], fake: tuple[FakePeer, str], case: str
) -> None:
    a, b = pair
    provider = a.federation.party("acme")
    publish(a, provider, "Traffic Hamburg")
    publish(a, provider, "Parking Hamburg")
    peer, url = fake
    peer.body = _garbage(case, httpx.get(f"{a.url}/catalogue/changes").json()["changes"])
    b.peers.add_peer(url)
    [report] = b.peers.sync()
    assert report.status == "unhealthy"
    assert f"[{CODES.get(case, 'catalogue.peer_garbage')}]" in (report.error or "")
    assert b.total() == 0
    [listed] = b.peers.peers()
    assert (listed["status"], listed["cursor"]) == ("unhealthy", 0)
    found = httpx.get(f"{b.url}/catalogue/search").json()
    assert [(p["url"], p["status"]) for p in found["peers"]] == [(url, "unhealthy")]


def test_an_offline_peers_entries_are_hidden_after_the_grace_period_then_dropped(
    pair: tuple[CatalogueNode, CatalogueNode], clock: Clock
) -> None:
    a, b = pair
    entry_id, _ = publish(a, a.federation.party("acme"), "Traffic Hamburg")
    b.peers.add_peer(a.url)
    assert [r.status for r in b.peers.sync()] == ["healthy"]
    assert b.total() == 1

    a.switch.down = True
    assert [r.status for r in b.peers.sync()] == ["unreachable"]
    assert b.total() == 1  # within the grace period
    found = httpx.get(f"{b.url}/catalogue/search").json()
    assert [(p["url"], p["status"]) for p in found["peers"]] == [(a.url, "unreachable")]
    assert found["peers"][0]["since"] == clock.now.isoformat()

    clock.advance(timedelta(hours=1))
    b.peers.sync()
    assert b.total() == 0
    assert b.catalogue.entry(entry_id)["state"] == "hidden"
    assert not list(b.catalogue.sparql('SELECT ?s WHERE { ?s schema:name "Traffic Hamburg" }'))

    a.switch.down = False
    assert [r.status for r in b.peers.sync()] == ["healthy"]
    assert b.total() == 1
    assert httpx.get(f"{b.url}/catalogue/search").json()["peers"] == []

    a.switch.down = True
    b.peers.sync()
    clock.advance(timedelta(days=1))
    b.peers.sync()
    with pytest.raises(Exception, match="no catalogue entry"):
        b.catalogue.entry(entry_id)

    a.switch.down = False  # back after it was dropped: read again from the start
    b.peers.sync()
    assert b.total() == 1


def test_entries_sharing_a_label_are_judged_together_and_one_forgery_rejects_the_page(
    pair: tuple[CatalogueNode, CatalogueNode], fake: tuple[FakePeer, str]
) -> None:
    a, b = pair
    acme = a.federation.party("acme")
    tokens = [acme.sign(offering(acme, f"Traffic {n}")) for n in range(3)]
    _, label = a.federation.label(tokens)
    a.catalogue.ingest_presentation(acme.present([*tokens, label], a.catalogue.node_did))
    real = httpx.get(f"{a.url}/catalogue/changes").json()
    peer, url = fake
    forged = json.loads(json.dumps(real))
    originals = forged["changes"][2]["originals"]
    originals["credential"] = _tamper(originals["credential"])
    peer.body = json.dumps(forged).encode()
    b.peers.add_peer(url)
    [report] = b.peers.sync()
    assert report.status == "unhealthy"
    assert "[catalogue.peer_entry_invalid]" in (report.error or "")
    assert "change 3 " in (report.error or "")
    assert b.total() == 0

    peer.body = json.dumps(real).encode()  # the peer mends its ways
    [report] = b.peers.sync()
    assert (report.status, report.stored) == ("healthy", 3)
    assert b.total() == 3


def test_pages_too_large_are_asked_for_in_fewer_changes(
    tmp_path: Path, clock: Clock, pair: tuple[CatalogueNode, CatalogueNode]
) -> None:
    a, _ = pair
    acme = a.federation.party("acme")
    for n in range(3):
        publish(a, acme, f"Traffic {n}")
    one = len(httpx.get(f"{a.url}/catalogue/changes", params={"limit": 1}).content)

    def follower(node: Node) -> Federation:
        return Follower(node, a.federation)

    # Room for one change per page and not for two.
    c = open_node("c", tmp_path, follower, clock, page_size=8, max_page_bytes=one + 200)
    try:
        c.peers.add_peer(a.url)
        [report] = c.peers.sync()
        assert (report.status, report.stored) == ("healthy", 3)
    finally:
        c.close()
