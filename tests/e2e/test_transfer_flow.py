"""The transfer process between the federation's provider and consumer, over HTTPS with DCP."""

from __future__ import annotations

import hashlib
from typing import Any

from transfer_helpers import agree, publish_file, transfer, write_asset_file

from hansa.demo.federation import LocalFederation


def _consumer_file(federation: LocalFederation, view: dict[str, Any]) -> bytes:
    consumer = federation["consumer"]
    return (consumer.settings.data_dir / "files" / view["destination"]["path"]).read_bytes()


def test_pull_completes_with_checked_sha256_and_usage_on_both_sides(
    federation: LocalFederation,
) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    path, content = write_asset_file(provider, 3 * 1_048_576 + 17)
    agreement_id = agree(federation, publish_file(federation, path))
    view = transfer(federation, agreement_id)
    assert view["state"] == "COMPLETED", view
    assert [h["state"] for h in view["history"]] == ["REQUESTED", "STARTED", "COMPLETED"]
    assert view["sha256"] == hashlib.sha256(content).hexdigest()
    assert view["size"] == len(content)
    assert _consumer_file(federation, view) == content

    with provider.client(federation.ca_file) as client:
        theirs = client.get(f"/management/transfers/{view['providerPid']}?waitFor=COMPLETED")
        assert theirs.json()["state"] == "COMPLETED"
        assert theirs.json()["sha256"] == view["sha256"]
        events = client.get("/management/usage", params={"agreement": agreement_id}).json()
    assert [e["data"]["outcome"] for e in events] == ["completed"]
    assert events[0]["data"]["bytes"] == len(content)
    assert events[0]["data"]["counterparty"] == consumer.did
    with consumer.client(federation.ca_file) as client:
        mine = client.get("/management/usage", params={"agreement": agreement_id}).json()
    assert [(e["type"], e["data"]["outcome"]) for e in mine] == [
        ("dev.hansa.dataplane.receipt", "completed")
    ]
    assert mine[0]["data"]["counterparty"] == provider.did


def test_revoked_agreement_refuses_the_next_transfer_and_the_old_token(
    federation: LocalFederation,
) -> None:
    provider = federation["provider"]
    path, _ = write_asset_file(provider, 100_000)
    agreement_id = agree(federation, publish_file(federation, path))
    first = transfer(federation, agreement_id)
    assert first["state"] == "COMPLETED", first

    with provider.client(federation.ca_file) as client:
        revoked = client.post(
            f"/management/agreements/{agreement_id}/revoke", json={"reason": "contract ended"}
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked"] is True
    second = transfer(federation, agreement_id)
    assert second["state"] == "TERMINATED"
    assert second["error"]["code"] == "dataplane.agreement_revoked"
