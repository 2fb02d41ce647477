"""Supersede, expiry, revocation and deletion: what leaves search, and the change feed."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from catalogue_factories import ADMIN_KEY, NOW, Federation, Party, offering

from hansa.catalogue.api import delete_nonce
from hansa.catalogue.service import CatalogueService
from hansa.errors import Conflict


@pytest.fixture
def provider(federation: Federation) -> Party:
    return federation.party("provider")


def publish(
    federation: Federation,
    catalogue: CatalogueService,
    provider: Party,
    credential: dict[str, object],
) -> tuple[str, str]:
    """Publish one offering as its provider: (entry id, label id)."""
    token = provider.sign(credential)
    label_id, label = federation.label([token])
    published = catalogue.ingest_presentation(provider.present([token, label], catalogue.node_did))
    return published[0].id, label_id


def names(catalogue: CatalogueService, **kwargs: object) -> list[str]:
    from hansa.catalogue.search import build_query

    result = catalogue.search(build_query("", {}), **kwargs)  # type: ignore[arg-type]
    return [item["name"] for item in result["items"]]


def test_newer_credential_supersedes_and_older_is_refused(
    federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    subject = "urn:example:weather"
    first = offering(provider, "Weather v1", subject=subject, valid_from=NOW - timedelta(hours=2))
    second = offering(provider, "Weather v2", subject=subject, valid_from=NOW - timedelta(hours=1))
    entry_id, _ = publish(federation, catalogue, provider, first)
    assert publish(federation, catalogue, provider, second)[0] == entry_id
    assert names(catalogue) == ["Weather v2"]
    assert [c.kind for c in catalogue.changes_since(0)] == ["insert", "supersede"]
    with pytest.raises(Conflict) as refused:
        publish(federation, catalogue, provider, first)
    assert refused.value.code == "catalogue.stale_credential"
    assert catalogue.entry(entry_id)["name"] == "Weather v2"


def test_expired_entry_leaves_search_then_the_recheck_records_it(
    federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    ends = NOW + timedelta(hours=1)
    entry_id, _ = publish(
        federation, catalogue, provider, offering(provider, "Short-lived", valid_until=ends)
    )
    publish(federation, catalogue, provider, offering(provider, "Lasting"))
    later = ends + timedelta(minutes=1)
    assert sorted(names(catalogue)) == ["Lasting", "Short-lived"]
    assert names(catalogue, now=later) == ["Lasting"]
    report = catalogue.recheck_statuses(later)
    assert (report.checked, report.expired, report.revoked) == (2, 1, 0)
    assert catalogue.entry(entry_id)["state"] == "expired"
    assert catalogue.changes_since(0)[-1].kind == "expire"


def test_revoked_label_and_distrusted_issuer_take_entries_out(
    federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    revoked_id, label_id = publish(federation, catalogue, provider, offering(provider, "Revoked"))
    publish(federation, catalogue, provider, offering(provider, "Kept"))
    assert catalogue.recheck_statuses().revoked == 0
    assert len(list(catalogue.sparql('SELECT ?s WHERE { ?s schema:name "Revoked" }'))) == 1
    federation.node.identity.set_credential_status(label_id, "revoked")
    report = catalogue.recheck_statuses()
    assert (report.checked, report.revoked) == (2, 1)
    assert names(catalogue) == ["Kept"]
    detail = catalogue.entry(revoked_id)
    assert detail["state"] == "revoked"
    assert "vc.revoked" in detail["stateReason"]
    assert not list(catalogue.sparql('SELECT ?s WHERE { ?s schema:name "Revoked" }'))

    federation.node.identity.trust.remove_issuer(federation.node.identity.did)
    assert catalogue.recheck_statuses().revoked == 1
    assert names(catalogue) == []
    assert [c.kind for c in catalogue.changes_since(0)][-2:] == ["revoke", "revoke"]


def test_unreachable_status_lists_keep_entries_until_the_next_round(
    federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    entry_id, label_id = publish(federation, catalogue, provider, offering(provider, "Weather"))
    federation.offline = True
    federation.node.identity.set_credential_status(label_id, "revoked")
    report = catalogue.recheck_statuses()
    assert (report.checked, report.unavailable, report.revoked) == (1, 1, 0)
    assert catalogue.entry(entry_id)["state"] == "active"
    federation.offline = False
    assert catalogue.recheck_statuses().revoked == 1


def test_owner_deletes_others_learn_nothing(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    entry_id, _ = publish(federation, catalogue, provider, offering(provider, "Weather"))
    path = f"/catalogue/entries/{entry_id}"
    other = federation.party("other")

    missing = client.delete(path)
    assert missing.status_code == 401
    assert missing.json()["code"] == "auth.missing_credentials"

    foreign = other.present([], catalogue.node_did, nonce=delete_nonce(entry_id))
    response = client.delete(path, headers={"Authorization": f"Bearer {foreign}"})
    assert response.status_code == 404
    assert response.json()["code"] == "catalogue.entry_not_found"
    unknown = other.present([], catalogue.node_did, nonce=delete_nonce("0" * 32))
    response = client.delete(
        "/catalogue/entries/" + "0" * 32, headers={"Authorization": f"Bearer {unknown}"}
    )
    assert (
        response.json()["detail"].replace("0" * 32, entry_id)
        == client.delete(path, headers={"Authorization": f"Bearer {foreign}"}).json()["detail"]
    )

    wrong_nonce = provider.present([], catalogue.node_did, nonce=delete_nonce("another"))
    response = client.delete(path, headers={"Authorization": f"Bearer {wrong_nonce}"})
    assert response.status_code == 401
    assert response.json()["code"] == "vp.nonce_mismatch"

    own = provider.present([], catalogue.node_did, nonce=delete_nonce(entry_id))
    assert client.delete(path, headers={"Authorization": f"Bearer {own}"}).status_code == 204
    assert client.get(path).status_code == 404
    assert [c.kind for c in catalogue.changes_since(0)] == ["insert", "delete"]
    assert client.get("/catalogue/changes", params={"since": 1}).json()["changes"][0]["kind"] == (
        "delete"
    )


def test_admin_deletes_any_entry(
    client: httpx.Client, federation: Federation, catalogue: CatalogueService, provider: Party
) -> None:
    entry_id, _ = publish(federation, catalogue, provider, offering(provider, "Weather"))
    path = f"/catalogue/entries/{entry_id}"
    wrong = client.delete(path, headers={"Authorization": "Bearer not-the-key"})
    assert wrong.json()["code"] == "auth.invalid_credentials"
    assert client.delete(path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 204
    assert names(catalogue) == []
