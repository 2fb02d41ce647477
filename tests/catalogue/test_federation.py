"""Catalogues following each other over loopback HTTP: a ring, deletions, revocations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from catalogue_factories import ADMIN_KEY, NOW, Federation, Party, offering
from federation_fixtures import CatalogueNode, Clock, Follower, open_node, publish

from hansa.node import Node


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ring(
    tmp_path: Path, database_url: str, clock: Clock
) -> Iterator[tuple[CatalogueNode, CatalogueNode, CatalogueNode]]:
    """A (the clearing house, on the test database), B and C; B follows A, C follows B,
    A follows C."""
    a = open_node("a", tmp_path, Federation, clock, database_url)

    def follower(node: Node) -> Federation:
        return Follower(node, a.federation)

    b = open_node("b", tmp_path, follower, clock)
    c = open_node("c", tmp_path, follower, clock)
    b.peers.add_peer(a.url)
    c.peers.add_peer(b.url)
    a.peers.add_peer(c.url)
    yield a, b, c
    for node in (c, b, a):
        node.close()


def sync_round(*nodes: CatalogueNode) -> None:
    for node in nodes:
        reports = node.peers.sync()
        assert [r.status for r in reports] == ["healthy"], [r.to_json() for r in reports]


def test_an_entry_published_at_a_reaches_b_and_c_once_and_does_not_loop(
    ring: tuple[CatalogueNode, CatalogueNode, CatalogueNode],
) -> None:
    a, b, c = ring
    provider: Party = a.federation.party("acme")
    entry_id, _ = publish(a, provider, "Traffic Hamburg", keywords=("traffic",))
    sync_round(b, c, a)
    assert [a.total("traffic"), b.total("traffic"), c.total("traffic")] == [1, 1, 1]
    assert b.catalogue.entry(entry_id)["name"] == "Traffic Hamburg"
    # A learnt nothing new from C: the entry came back unchanged and stopped there.
    assert [ch.kind for ch in a.catalogue.changes_since(0)] == ["insert"]
    feed = httpx.get(f"{b.url}/catalogue/changes").json()
    assert [(ch["kind"], ch["origin"]) for ch in feed["changes"]] == [("insert", a.url)]
    assert feed["changes"][0]["originals"]["credential"].count(".") == 2
    sync_round(b, c, a)
    assert [len(n.catalogue.changes_since(0)) for n in (a, b, c)] == [1, 1, 1]
    rows = list(c.catalogue.sparql('SELECT ?s WHERE { ?s schema:name "Traffic Hamburg" }'))
    assert len(rows) == 1


def test_deletion_and_revocation_propagate_around_the_ring(
    ring: tuple[CatalogueNode, CatalogueNode, CatalogueNode],
) -> None:
    a, b, c = ring
    provider = a.federation.party("acme")
    deleted, _ = publish(a, provider, "Parking Hamburg")
    revoked, label_id = publish(a, provider, "Weather Hamburg")
    sync_round(b, c, a)
    assert [n.total() for n in (a, b, c)] == [2, 2, 2]

    a.catalogue.delete(deleted, None)
    a.node.identity.set_credential_status(label_id, "revoked")
    assert a.catalogue.recheck_statuses().revoked == 1
    sync_round(b, c, a)
    assert [n.total() for n in (a, b, c)] == [0, 0, 0]
    assert [n.catalogue.entry(revoked)["state"] for n in (b, c)] == ["revoked", "revoked"]
    for node in (b, c):
        with pytest.raises(Exception, match="no catalogue entry"):
            node.catalogue.entry(deleted)


def test_an_entry_is_removed_only_by_the_peer_it_came_from(
    ring: tuple[CatalogueNode, CatalogueNode, CatalogueNode],
) -> None:
    a, b, c = ring
    provider = a.federation.party("acme")
    entry_id, _ = publish(a, provider, "Traffic Hamburg")
    sync_round(b, c)
    # C deletes its copy; A follows C, but A's own entry is not C's to delete.
    c.catalogue.delete(entry_id, None)
    sync_round(a)
    assert a.total() == 1


def test_peers_are_managed_over_the_admin_api(
    ring: tuple[CatalogueNode, CatalogueNode, CatalogueNode],
) -> None:
    a, b, _ = ring
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    publish(a, a.federation.party("acme"), "Traffic Hamburg")
    with httpx.Client(base_url=b.url, headers=admin) as client:
        assert client.get("/catalogue/peers", headers={"Authorization": ""}).status_code == 401
        listed = client.get("/catalogue/peers").json()["peers"]
        assert [(p["url"], p["status"]) for p in listed] == [(a.url, "new")]
        added = client.post("/catalogue/peers", json={"url": "ftp://nowhere"})
        assert added.json()["code"] == "catalogue.invalid_peer"
        synced = client.post("/catalogue/peers/sync").json()["peers"]
        assert [(p["status"], p["stored"]) for p in synced] == [("healthy", 1)]
        assert b.total() == 1
        removed = client.delete("/catalogue/peers", params={"url": a.url + "/"}).json()
        assert removed["removedEntries"] == 1
        assert b.total() == 0
        assert client.get("/catalogue/peers").json()["peers"] == []
        again = client.delete("/catalogue/peers", params={"url": a.url})
        assert again.json()["code"] == "catalogue.no_peer"


def test_a_cursor_past_the_feed_is_refused_and_the_follower_starts_over(
    ring: tuple[CatalogueNode, CatalogueNode, CatalogueNode],
) -> None:
    a, b, _ = ring
    refused = httpx.get(f"{a.url}/catalogue/changes", params={"since": 999})
    assert refused.status_code == 400
    assert refused.json()["code"] == "catalogue.invalid_cursor"

    publish(a, a.federation.party("acme"), "Traffic Hamburg")
    sync_round(b)
    from sqlalchemy import update

    from hansa.catalogue.peer_models import CataloguePeer

    with b.node.sessions() as session, session.begin():  # as if A's feed had been rebuilt
        session.execute(update(CataloguePeer).values(cursor=999))
    assert [r.status for r in b.peers.sync()] == ["reset"]
    assert b.peers.peers()[0]["cursor"] == 0
    sync_round(b)
    assert b.peers.peers()[0]["cursor"] == 1
    assert b.total() == 1


def test_a_version_published_locally_is_no_longer_the_peers_to_delete(
    ring: tuple[CatalogueNode, CatalogueNode, CatalogueNode],
) -> None:
    a, b, _ = ring
    provider = a.federation.party("acme")
    subject = f"{provider.did}:offerings:weather"
    entry_id, _ = publish(
        a, provider, "Weather v1", subject=subject, valid_from=NOW - timedelta(hours=2)
    )
    sync_round(b)
    assert httpx.get(f"{b.url}/catalogue/changes").json()["changes"][0]["origin"] == a.url
    # The provider publishes a newer version at B directly (labelled by A, trusted at B).
    token = provider.sign(
        offering(provider, "Weather v2", subject=subject, valid_from=NOW - timedelta(hours=1))
    )
    _, label = a.federation.label([token])
    b.catalogue.ingest_presentation(provider.present([token, label], b.catalogue.node_did))
    a.catalogue.delete(entry_id, None)
    sync_round(b)
    assert b.catalogue.entry(entry_id)["name"] == "Weather v2"
    assert httpx.get(f"{b.url}/catalogue/changes").json()["changes"][-1]["origin"] is None
