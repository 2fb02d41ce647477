"""Mid-transfer control between real nodes: revocation, suspension and resumption, termination.

The consumer pulls into a *gated* destination: a file backend that holds the download
after its first chunk until the test lets it go, so that the provider's move happens
while the transfer is running, without timing assumptions.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from transfer_helpers import (
    Gate,
    Registry,
    agree,
    publish_file,
    transfer,
    wait_for,
    write_asset_file,
)

from hansa.demo.federation import LocalFederation

SIZE = 64 * 1_048_576  # more than loopback socket buffers hold: the provider is mid-stream


@pytest.fixture
def gate(federation: LocalFederation, monkeypatch: pytest.MonkeyPatch) -> Gate:
    transfers = federation["consumer"].node.transfers
    assert transfers is not None
    gate = Gate(transfers.backends.for_type("File"))
    monkeypatch.setattr(transfers, "backends", Registry(transfers.backends, gate))
    yield gate
    gate.release.set()


def _start_gated(federation: LocalFederation, gate: Gate) -> tuple[str, bytes, dict[str, Any]]:
    path, content = write_asset_file(federation["provider"], SIZE)
    agreement_id = agree(federation, publish_file(federation, path))
    started = transfer(
        federation,
        agreement_id,
        destination={"type": "Gate", "path": f"transfers/gated-{agreement_id[-8:]}"},
        states=("STARTED", "COMPLETED", "TERMINATED"),
    )
    assert gate.first_chunk.wait(60)
    return agreement_id, content, started


def test_revocation_stops_a_running_pull(federation: LocalFederation, gate: Gate) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    agreement_id, _, started = _start_gated(federation, gate)
    with provider.client(federation.ca_file) as client:
        assert client.post(f"/management/agreements/{agreement_id}/revoke").status_code == 200
    gate.release.set()
    with consumer.client(federation.ca_file) as client:
        view = wait_for(
            client, f"/management/transfers/{started['id']}", ("TERMINATED", "COMPLETED")
        )
    assert view["state"] == "TERMINATED", view
    assert view["error"]["code"] == "dataplane.agreement_revoked"
    assert view["sha256"] is None  # nothing was reported complete
    assert not (consumer.settings.data_dir / "files" / started["destination"]["path"]).exists()
    with provider.client(federation.ca_file) as client:
        events = client.get("/management/usage", params={"agreement": agreement_id}).json()
    outcomes = [e["data"]["outcome"] for e in events]
    assert "revoked" in outcomes
    assert "completed" not in outcomes
    revoked = next(e for e in events if e["data"]["outcome"] == "revoked")
    assert 0 < revoked["data"]["bytes"] < SIZE


def test_suspend_and_resume_by_the_provider_completes_with_a_new_token(
    federation: LocalFederation, gate: Gate
) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    _, content, started = _start_gated(federation, gate)
    provider_pid = started["providerPid"]
    with provider.client(federation.ca_file) as client:
        suspended = client.post(f"/management/transfers/{provider_pid}/suspend")
        assert suspended.json()["state"] == "SUSPENDED", suspended.text
    with consumer.client(federation.ca_file) as client:
        url = f"/management/transfers/{started['id']}"
        assert wait_for(client, url, ("SUSPENDED",))["state"] == "SUSPENDED"
        first_address = client.get(url).json()
    gate.release.set()
    with provider.client(federation.ca_file) as client:
        assert client.post(f"/management/transfers/{provider_pid}/resume").status_code == 200
    with consumer.client(federation.ca_file) as client:
        view = wait_for(client, url, ("COMPLETED", "TERMINATED"))
    assert view["state"] == "COMPLETED", view
    assert [h["state"] for h in view["history"]] == [
        "REQUESTED",
        "STARTED",
        "SUSPENDED",
        "STARTED",
        "COMPLETED",
    ]
    assert view["sha256"] == hashlib.sha256(content).hexdigest()
    assert first_address["state"] == "SUSPENDED"
    received = consumer.settings.data_dir / "files" / view["destination"]["path"]
    assert received.stat().st_size == len(content)


def test_termination_by_the_consumer_mid_pull_is_never_completed(
    federation: LocalFederation, gate: Gate
) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    _, _, started = _start_gated(federation, gate)
    with consumer.client(federation.ca_file) as client:
        url = f"/management/transfers/{started['id']}"
        ended = client.post(f"{url}/terminate", json={"reason": "not needed any more"})
        assert ended.json()["state"] == "TERMINATED", ended.text
    gate.release.set()
    with provider.client(federation.ca_file) as client:
        theirs = wait_for(
            client, f"/management/transfers/{started['providerPid']}", ("TERMINATED",)
        )
    assert theirs["state"] == "TERMINATED"
    assert theirs["error"]["code"] == "transfer.terminated"
    with consumer.client(federation.ca_file) as client:
        assert client.get(url).json()["state"] == "TERMINATED"
    assert not (consumer.settings.data_dir / "files" / started["destination"]["path"]).exists()


def test_suspend_and_resume_by_the_consumer_asks_for_a_new_token(
    federation: LocalFederation, gate: Gate
) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    _, content, started = _start_gated(federation, gate)
    url = f"/management/transfers/{started['id']}"
    with consumer.client(federation.ca_file) as client:
        suspended = client.post(f"{url}/suspend", json={"reason": "maintenance window"})
        assert suspended.json()["state"] == "SUSPENDED", suspended.text
    with provider.client(federation.ca_file) as client:
        theirs = wait_for(client, f"/management/transfers/{started['providerPid']}", ("SUSPENDED",))
        assert theirs["state"] == "SUSPENDED"
    gate.release.set()
    with consumer.client(federation.ca_file) as client:
        # A token is renewed only for a running transfer.
        early = client.post(f"{url}/token")
        assert early.status_code == 409
        assert early.json()["code"] == "transfer.token_refused"
        assert early.json()["remote_code"] == "transfer.token_not_renewable"
        assert client.post(f"{url}/resume").status_code == 200
        view = wait_for(client, url, ("COMPLETED", "TERMINATED"))
        assert view["state"] == "COMPLETED", view
        fresh = client.post(f"{url}/token")
    assert view["sha256"] == hashlib.sha256(content).hexdigest()
    assert [h["state"] for h in view["history"]][-3:] == ["SUSPENDED", "STARTED", "COMPLETED"]
    # Once completed, no new token either.
    assert fresh.json()["code"] == "transfer.token_refused"
