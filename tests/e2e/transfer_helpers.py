"""Shared steps of the transfer tests: publish a file asset, negotiate it, follow a transfer."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx

from hansa.dataplane.backends import (
    DataAddress,
    ObjectInfo,
    ReadStream,
    StorageBackend,
    WriteResult,
)
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


class Gate:
    """A file destination whose first write stops after one chunk until ``release``."""

    def __init__(self, inner: StorageBackend) -> None:
        self.inner = inner
        self.first_chunk = threading.Event()
        self.release = threading.Event()
        self.writes = 0

    def write(
        self, address: DataAddress, chunks: Iterable[bytes], *, content_type: str | None = None
    ) -> WriteResult:
        self.writes += 1
        gated = self.writes == 1

        def held() -> Iterator[bytes]:
            for index, chunk in enumerate(chunks):
                yield chunk
                if gated and index == 0:
                    self.first_chunk.set()
                    assert self.release.wait(60)

        return self.inner.write({**address, "type": "File"}, held(), content_type=content_type)

    def open(
        self, address: DataAddress, *, offset: int = 0, length: int | None = None
    ) -> AbstractContextManager[ReadStream]:
        return self.inner.open(address, offset=offset, length=length)

    def stat(self, address: DataAddress) -> ObjectInfo:
        return self.inner.stat(address)


class Registry:
    """A node's backends with one type (``Gate`` by default) answered by ``backend``."""

    def __init__(self, original: Any, backend: Any, kind: str = "Gate") -> None:
        self.original, self.backend, self.kind = original, backend, kind

    def for_type(self, kind: str) -> StorageBackend:
        if kind == self.kind:
            return self.backend  # type: ignore[no-any-return]
        return self.original.for_type(kind)  # type: ignore[no-any-return]

    def for_address(self, address: DataAddress) -> StorageBackend:
        return self.for_type(str(address.get("type")))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)
