"""Shared steps of the transfer tests: publish a file asset, negotiate it, follow a transfer."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import httpx

from hansa.demo.federation import LocalFederation, RunningNode

OPEN_POLICY: dict[str, Any] = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Set",
    "permission": [{"action": "use"}],
}


def write_asset_file(
    provider: RunningNode, size: int, name: str | None = None
) -> tuple[str, bytes]:
    """A file of ``size`` random bytes under the provider's file root; (relative path, bytes)."""
    name = name or f"datasets/{uuid.uuid4().hex[:8]}.bin"
    path = provider.settings.data_dir / "files" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    content = os.urandom(size)
    path.write_bytes(content)
    return name, content


def publish_file(
    federation: LocalFederation, path: str, policy: dict[str, Any] | None = None
) -> str:
    """The provider offers the file at ``path``; the offer id."""
    provider = federation["provider"]
    suffix = uuid.uuid4().hex[:8]
    with provider.client(federation.ca_file) as client:
        for url, body in (
            (
                "/assets",
                {
                    "id": f"urn:asset:{suffix}",
                    "title": "Traffic counts",
                    "dataAddress": {"type": "File", "path": path},
                },
            ),
            ("/policies", {"id": f"urn:policy:{suffix}", "policy": policy or OPEN_POLICY}),
            (
                "/offers",
                {
                    "id": f"urn:offer:{suffix}",
                    "assetId": f"urn:asset:{suffix}",
                    "policyId": f"urn:policy:{suffix}",
                },
            ),
        ):
            answer = client.post(url, json=body)
            assert answer.status_code == 201, answer.text
    return f"urn:offer:{suffix}"


def wait_for(
    client: httpx.Client, url: str, states: tuple[str, ...], deadline_s: float = 60
) -> dict[str, Any]:
    """Follow a process until it reaches one of ``states`` (generous deadline, no timing)."""
    deadline = time.monotonic() + deadline_s
    while True:
        view: dict[str, Any] = client.get(url).json()
        if view["state"] in states or time.monotonic() > deadline:
            return view
        time.sleep(0.05)


def agree(federation: LocalFederation, offer_id: str) -> str:
    """Negotiate ``offer_id`` as the consumer; the FINALIZED agreement's id."""
    provider, consumer = federation["provider"], federation["consumer"]
    with consumer.client(federation.ca_file) as client:
        started = client.post(
            "/management/negotiations",
            json={"providerAddress": provider.base_url, "offerId": offer_id},
        )
        assert started.status_code == 201, started.text
        view = wait_for(
            client,
            f"/management/negotiations/{started.json()['id']}",
            ("FINALIZED", "TERMINATED"),
        )
    assert view["state"] == "FINALIZED", view
    return str(view["agreementId"])


def transfer(
    federation: LocalFederation,
    agreement_id: str,
    kind: str = "HttpData-PULL",
    destination: dict[str, Any] | None = None,
    states: tuple[str, ...] = ("COMPLETED", "TERMINATED"),
) -> dict[str, Any]:
    """Start a transfer as the consumer and follow it to one of ``states``."""
    consumer = federation["consumer"]
    with consumer.client(federation.ca_file) as client:
        body: dict[str, Any] = {"agreementId": agreement_id, "type": kind}
        if destination is not None:
            body["destination"] = destination
        started = client.post("/management/transfers", json=body)
        assert started.status_code == 201, started.text
        return wait_for(client, f"/management/transfers/{started.json()['id']}", states)
