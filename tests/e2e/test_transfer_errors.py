"""Bad input to the transfer process and the data endpoint between real nodes: clear errors."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from transfer_helpers import (
    Gate,
    Registry,
    agree,
    publish_file,
    transfer,
    wait_for,
    write_asset_file,
)

from hansa.connector import dsp_messages as dsp
from hansa.connector.credential_service import SecureTokenService, wallet_signer
from hansa.connector.transfer_models import TransferProcessRecord
from hansa.dataplane.backends import (
    DataAddress,
    ObjectInfo,
    ReadStream,
    StorageBackend,
)
from hansa.dataplane.errors import BackendFailed
from hansa.dataplane.tokens import DataGrant, DataTokenAuthority
from hansa.demo.federation import LocalFederation, RunningNode

DSP = "/dsp/2025-1"


def _dcp(sender: RunningNode, receiver: RunningNode) -> dict[str, str]:
    sts = SecureTokenService(sender.did, wallet_signer(sender.did, sender.node.identity.wallet))
    return {"Authorization": f"Bearer {sts.id_token(receiver.did)}"}


def _request(agreement_id: str, fmt: str = "HttpData-PULL", **extra: Any) -> dict[str, Any]:
    body = dsp.transfer_request_message(
        consumer_pid=f"urn:uuid:{uuid.uuid4()}",
        agreement_id=agreement_id,
        format=fmt,
        callback_address="https://localhost:1/dsp/2025-1/callback",
    )
    body.update(extra)
    return body


@pytest.fixture(scope="module")
def agreement(federation: LocalFederation) -> str:
    path, _ = write_asset_file(federation["provider"], 10_000)
    return agree(federation, publish_file(federation, path))


@pytest.mark.parametrize(
    ("sender", "agreement_id", "fmt", "status", "code"),
    [
        ("clearing-house", None, "HttpData-PULL", 404, "transfer.agreement_not_found"),
        (
            "consumer",
            "urn:uuid:no-such-agreement",
            "HttpData-PULL",
            404,
            "transfer.agreement_not_found",
        ),
        ("consumer", None, "Carrier-Pigeon", 400, "transfer.format_unsupported"),
    ],
)
def test_transfer_request_needs_the_callers_finalized_agreement(
    federation: LocalFederation,
    agreement: str,
    sender: str,
    agreement_id: str | None,
    fmt: str,
    status: int,
    code: str,
) -> None:
    provider = federation["provider"]
    with provider.client(federation.ca_file, admin=False) as client:
        answer = client.post(
            f"{DSP}/transfers/request",
            json=_request(agreement_id or agreement, fmt),
            headers=_dcp(federation[sender], provider),
        )
    assert answer.status_code == status, answer.text
    assert answer.json()["@type"] == "TransferError"
    assert answer.json()["code"] == code


def test_unknown_transfer_is_404_for_everyone(federation: LocalFederation) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    with provider.client(federation.ca_file, admin=False) as client:
        answer = client.get(f"{DSP}/transfers/urn:uuid:nothing", headers=_dcp(consumer, provider))
    assert answer.status_code == 404
    assert answer.json()["code"] == "transfer.not_found"


def test_access_count_limit_refuses_the_second_transfer(federation: LocalFederation) -> None:
    path, _ = write_asset_file(federation["provider"], 5000)
    once = {
        "@context": "http://www.w3.org/ns/odrl.jsonld",
        "@type": "Set",
        "permission": [
            {
                "action": "use",
                "constraint": [{"leftOperand": "count", "operator": "lteq", "rightOperand": 1}],
            }
        ],
    }
    agreement_id = agree(federation, publish_file(federation, path, once))
    assert transfer(federation, agreement_id)["state"] == "COMPLETED"
    second = transfer(federation, agreement_id)
    assert second["state"] == "TERMINATED"
    assert second["error"]["code"] == "dataplane.access_limit_reached"


def test_a_symlink_swapped_out_of_the_file_root_is_refused(federation: LocalFederation) -> None:
    provider = federation["provider"]
    path, _ = write_asset_file(provider, 5000)
    agreement_id = agree(federation, publish_file(federation, path))
    target = provider.settings.data_dir / "files" / path
    target.unlink()
    outside = provider.settings.data_dir / "outside.bin"
    outside.write_bytes(b"not yours")
    os.symlink(outside, target)
    view = transfer(federation, agreement_id)
    assert view["state"] == "TERMINATED"
    assert view["error"]["code"] == "dataplane.path_traversal"


# --- the data endpoint with a running transfer's token -----------------------------------


@pytest.fixture
def gated(federation: LocalFederation, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A pull held after its first chunk; its transfer view and data address."""
    consumer = federation["consumer"]
    transfers = consumer.node.transfers
    assert transfers is not None
    gate = Gate(transfers.backends.for_type("File"))
    monkeypatch.setattr(transfers, "backends", Registry(transfers.backends, gate))
    path, _ = write_asset_file(federation["provider"], 32 * 1_048_576)
    agreement_id = agree(federation, publish_file(federation, path))
    view = transfer(
        federation,
        agreement_id,
        destination={"type": "Gate", "path": f"transfers/e-{agreement_id[-8:]}"},
        states=("STARTED", "TERMINATED", "COMPLETED"),
    )
    assert gate.first_chunk.wait(60)
    with consumer.node.sessions() as session:
        record = session.scalars(
            select(TransferProcessRecord).where(TransferProcessRecord.id == view["id"])
        ).one()
        address = dict(record.data_address or {})
    yield {"view": view, "address": address, "agreement": agreement_id, "gate": gate}
    gate.release.set()
    with consumer.client(federation.ca_file) as client:
        wait_for(client, f"/management/transfers/{view['id']}", ("COMPLETED", "TERMINATED"))


@contextmanager
def _data_client(federation: LocalFederation) -> Iterator[httpx.Client]:
    with federation["provider"].client(federation.ca_file, admin=False) as client:
        yield client


def _token(address: dict[str, Any]) -> str:
    return next(p["value"] for p in address["endpointProperties"] if p["name"] == "authorization")


def test_data_endpoint_refuses_bad_tokens_and_ranges(
    federation: LocalFederation, gated: dict[str, Any]
) -> None:
    provider = federation["provider"]
    endpoint = gated["address"]["endpoint"]
    token = _token(gated["address"])
    key, private = provider.node.identity.wallet.signing_key()
    authority = DataTokenAuthority(
        private,
        kid=f"{provider.did}#{key.id}",
        issuer=provider.did,
        audience=provider.base_url + "/data",
        clock=lambda: datetime.now(UTC) - timedelta(hours=1),
    )
    view = gated["view"]
    grant = DataGrant(
        view["agreementId"], view["providerPid"], federation["consumer"].did, view["assetId"]
    )
    authority.lifetime = timedelta(hours=2)  # still valid, but for someone else
    other_asset = authority.issue(
        DataGrant(grant.agreement_id, grant.transfer_id, grant.consumer_did, "urn:asset:other")
    )
    other_consumer = authority.issue(
        DataGrant(
            grant.agreement_id, grant.transfer_id, federation["clearing-house"].did, grant.asset_id
        )
    )
    authority.lifetime = timedelta(minutes=10)
    expired = authority.issue(grant)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    cases = [
        ({}, 401, "dataplane.token_invalid"),
        ({"Authorization": f"Bearer {forged}"}, 401, "dataplane.token_invalid"),
        ({"Authorization": f"Bearer {expired.token}"}, 401, "dataplane.token_expired"),
        ({"Authorization": f"Bearer {other_asset.token}"}, 403, "dataplane.token_mismatch"),
        ({"Authorization": f"Bearer {other_consumer.token}"}, 403, "dataplane.token_mismatch"),
        (
            {"Authorization": f"Bearer {token}", "Range": f"bytes={64 * 1_048_576}-"},
            416,
            "dataplane.range_not_satisfiable",
        ),
    ]
    with _data_client(federation) as client:
        for headers, status, code in cases:
            answer = client.get(endpoint, headers=headers)
            assert (answer.status_code, answer.json()["code"]) == (status, code), headers
        ranged = client.get(
            endpoint, headers={"Authorization": f"Bearer {token}", "Range": "bytes=0-9"}
        )
    assert ranged.status_code == 206
    assert len(ranged.content) == 10


def test_a_consumer_that_hangs_up_is_logged_as_aborted(
    federation: LocalFederation, gated: dict[str, Any]
) -> None:
    provider = federation["provider"]
    with (
        _data_client(federation) as client,
        client.stream(
            "GET",
            gated["address"]["endpoint"],
            headers={"Authorization": f"Bearer {_token(gated['address'])}"},
        ) as answer,
    ):
        assert answer.status_code == 200
        next(answer.iter_raw(65_536))
        # leaving the block closes the connection mid-body
    # The provider notices the hang-up at its next write; follow its log (generous deadline).
    events: list[dict[str, Any]] = []
    with provider.client(federation.ca_file) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events = client.get(
                "/management/usage", params={"agreement": gated["agreement"]}
            ).json()
            if any(e["data"]["outcome"] == "aborted" for e in events):
                break
            time.sleep(0.05)
    aborted = [e for e in events if e["data"]["outcome"] == "aborted"]
    assert aborted
    assert aborted[0]["data"]["bytes"] < 32 * 1_048_576


class FailingFiles:
    """The provider's file backend, failing after the first chunk of every read."""

    def __init__(self, inner: StorageBackend) -> None:
        self.inner = inner

    @contextmanager
    def open(
        self, address: DataAddress, *, offset: int = 0, length: int | None = None
    ) -> Iterator[ReadStream]:
        with self.inner.open(address, offset=offset, length=length) as stream:

            def broken() -> Iterator[bytes]:
                yield next(stream.chunks)
                raise BackendFailed("the disk went away")

            yield ReadStream(
                broken(),
                stream.size,
                stream.offset,
                stream.length,
                stream.content_type,
                stream.etag,
            )

    def stat(self, address: DataAddress) -> ObjectInfo:
        return self.inner.stat(address)

    def write(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.write(*args, **kwargs)


def test_a_backend_failing_mid_stream_never_completes(
    federation: LocalFederation, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = federation["provider"]
    endpoint = provider.node.data_endpoint
    assert endpoint is not None
    failing = FailingFiles(endpoint.backends.for_type("File"))
    monkeypatch.setattr(endpoint, "backends", Registry(endpoint.backends, failing, kind="File"))
    # Every response breaks after one chunk: the consumer resumes (three times), then gives up.
    path, _ = write_asset_file(provider, 8 * 1_048_576)
    agreement_id = agree(federation, publish_file(federation, path))
    view = transfer(federation, agreement_id)
    assert view["state"] == "TERMINATED", view
    assert view["error"]["code"] == "dataplane.backend_failed"
    assert view["sha256"] is None
    with provider.client(federation.ca_file) as client:
        events = client.get("/management/usage", params={"agreement": agreement_id}).json()
    assert {e["data"]["outcome"] for e in events} == {"failed"}
