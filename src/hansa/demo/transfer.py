"""The demo's data steps: the consumer pulls the dataset it negotiated, then the agreement is
revoked and the next pull is refused; both sides show their usage logs."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from hansa.demo.federation import LocalFederation, RunningNode

DATASET_PATH = "datasets/hamburg-traffic-2026.bin"
DATASET_SIZE = 8 * 1_048_576


class TransferStepFailed(Exception):
    """A data step did not do what it should."""


def demo_dataset(provider: RunningNode) -> dict[str, str]:
    """A few MiB of data in the provider's file root (made once), as a File data address."""
    path = provider.settings.data_dir / "files" / DATASET_PATH
    if not path.exists() or path.stat().st_size != DATASET_SIZE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(DATASET_SIZE))
    return {"type": "File", "path": DATASET_PATH, "contentType": "application/octet-stream"}


def _json(response: httpx.Response, status: int, what: str) -> Any:
    if response.status_code != status:
        raise TransferStepFailed(f"{what}: expected HTTP {status}, got {response.text[:300]}")
    return response.json()


def _latest_agreement(consumer: RunningNode, ca: Path) -> str:
    with consumer.client(ca) as client:
        finalized = _json(
            client.get("/management/negotiations", params={"state": "FINALIZED"}),
            200,
            "listing the negotiations",
        )
    if not finalized:
        raise TransferStepFailed("the consumer holds no FINALIZED agreement to transfer under")
    return str(finalized[0]["agreementId"])


def _transfer(consumer: RunningNode, ca: Path, agreement_id: str) -> dict[str, Any]:
    with consumer.client(ca) as client:
        view = _json(
            client.post(
                "/management/transfers",
                json={"agreementId": agreement_id, "type": "HttpData-PULL"},
            ),
            201,
            "starting the transfer",
        )
        result: dict[str, Any] = _json(
            client.get(
                f"/management/transfers/{view['id']}",
                params={"waitFor": "COMPLETED,TERMINATED", "timeout": 60},
            ),
            200,
            "following the transfer",
        )
    return result


def pull_dataset(federation: LocalFederation, state: dict[str, Any]) -> str:
    """The consumer pulls the negotiated dataset over HTTPS; size, MB/s, SHA-256 checked."""
    ca = federation.ca_file
    provider, consumer = federation["provider"], federation["consumer"]
    agreement_id = _latest_agreement(consumer, ca)
    state["agreement"] = agreement_id
    started = time.perf_counter()
    view = _transfer(consumer, ca, agreement_id)
    elapsed = time.perf_counter() - started
    if view["state"] != "COMPLETED":
        raise TransferStepFailed(f"the transfer ended {view['state']}: {view.get('error')}")
    received = consumer.settings.data_dir / "files" / view["destination"]["path"]
    original = provider.settings.data_dir / "files" / DATASET_PATH
    digest = hashlib.sha256(received.read_bytes()).hexdigest()
    if digest != view["sha256"] or digest != hashlib.sha256(original.read_bytes()).hexdigest():
        raise TransferStepFailed("the received file's SHA-256 differs from the provider's")
    history = view["history"]
    moving = (
        datetime.fromisoformat(history[-1]["at"]) - datetime.fromisoformat(history[1]["at"])
    ).total_seconds()
    size = view["size"]
    return (
        f"{consumer.spec.label} requests HttpData-PULL under {agreement_id}\n"
        f"the provider starts it with a data token; the consumer downloads "
        f"{size / 1_048_576:.1f} MiB from {provider.base_url}/data/… "
        f"({size / max(moving, 1e-6) / 1e6:.0f} MB/s, {elapsed * 1000:.0f} ms end to end)\n"
        f"sha256 {digest[:16]}… verified (X-Content-SHA256 and the completion message); "
        f"saved as {received.relative_to(consumer.settings.data_dir)}"
    )


def _usage_lines(node: RunningNode, ca: Path, agreement_id: str) -> list[str]:
    with node.client(ca) as client:
        events = _json(
            client.get("/management/usage", params={"agreement": agreement_id}), 200, "usage"
        )
    return [
        f"  {e['time']}  {e['type'].rsplit('.', 1)[-1]:<7} {e['data']['outcome']:<9} "
        f"{e['data']['bytes']:>9} B  {e['data']['counterparty']}"
        + (f"  ({e['data']['error']})" if e["data"].get("error") else "")
        for e in events
    ]


def revoke_and_refuse(federation: LocalFederation, state: dict[str, Any]) -> str:
    """The provider revokes the agreement; the consumer's next pull is refused."""
    ca = federation.ca_file
    provider, consumer = federation["provider"], federation["consumer"]
    agreement_id = state["agreement"]
    with provider.client(ca) as client:
        _json(
            client.post(
                f"/management/agreements/{agreement_id}/revoke",
                json={"reason": "the demo revokes it"},
            ),
            200,
            "revoking the agreement",
        )
    view = _transfer(consumer, ca, agreement_id)
    code = (view.get("error") or {}).get("code")
    if view["state"] != "TERMINATED" or code != "dataplane.agreement_revoked":
        raise TransferStepFailed(f"a pull under a revoked agreement ended {view['state']} ({code})")
    return "\n".join(
        [
            f"{provider.spec.label} revokes {agreement_id}",
            f"{consumer.spec.label} asks again → refused (403 {code})",
            f"{provider.spec.label}'s usage log:",
            *_usage_lines(provider, ca, agreement_id),
            f"{consumer.spec.label}'s usage log:",
            *_usage_lines(consumer, ca, agreement_id),
        ]
    )
