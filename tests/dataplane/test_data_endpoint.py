"""The provider's data endpoint over real HTTP: tokens, ranges, enforcement between chunks, usage.

A uvicorn server on 127.0.0.1 serves the router with a memory backend (1 MiB chunks) and
the File backend; the agreement check is a test object whose answer can flip mid-stream.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from hansa.dataplane.backend_files import FileBackend
from hansa.dataplane.backends import (
    BackendRegistry,
    DataAddress,
    DataPlaneConfig,
    MemoryBackend,
    ReadStream,
)
from hansa.dataplane.errors import TRANSFER_NOT_FOUND, AgreementNotInForce, BackendFailed
from hansa.dataplane.server import DataEndpoint, TransferTarget, data_router
from hansa.dataplane.tokens import DataGrant, DataTokenAuthority
from hansa.dataplane.usage import SqlUsageLog
from hansa.errors import Forbidden, NotFound
from hansa.identity.keys import generate_private_key
from hansa.serving import BackgroundServer
from hansa.web import install_error_handlers

MIB = 1_048_576
DATA = os.urandom(3 * MIB + 99)
PROVIDER = "did:web:provider.test"
CONSUMER = "did:web:consumer.test"


class Usage:
    """A usage log that lets a test wait for the event a response writes when it ends."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()

    def record(self, event: dict[str, Any]) -> None:
        if self.inner is not None:
            self.inner.record(event)
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait(self, count: int = 1) -> list[dict[str, Any]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.events) >= count, timeout=15)
            return list(self.events)


@dataclass
class Agreements:
    """The connector's check: fails once ``allowed`` calls are used (None: never)."""

    allowed: int | None = None
    code: str = "dataplane.agreement_revoked"
    calls: int = 0
    pause_after: int | None = None
    resume: threading.Event = field(default_factory=threading.Event)

    def __call__(self, agreement_id: str, consumer_did: str, asset_id: str) -> None:
        self.calls += 1
        if self.pause_after is not None and self.calls > self.pause_after:
            self.resume.wait(15)
            threading.Event().wait(0.02)  # gives the server's loop time to see a hang-up
        if self.allowed is not None and self.calls > self.allowed:
            # A connector may raise any HansaError with an agreement code, not only the class.
            kind = AgreementNotInForce if self.code.endswith("revoked") else Forbidden
            raise kind("the agreement is not in force", code=self.code)


class FailingBackend(MemoryBackend):
    """Serves the first chunk, then the storage breaks."""

    @contextmanager
    def open(
        self, address: DataAddress, *, offset: int = 0, length: int | None = None
    ) -> Iterator[ReadStream]:
        def chunks() -> Iterator[bytes]:
            yield DATA[:MIB]
            raise BackendFailed("the disk went away")

        yield ReadStream(chunks(), len(DATA), 0, len(DATA))


class FlakyBackend(MemoryBackend):
    """Breaks after the first chunk of the first read only (a connection that drops once)."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0

    @contextmanager
    def open(
        self, address: DataAddress, *, offset: int = 0, length: int | None = None
    ) -> Iterator[ReadStream]:
        self.opened += 1
        with super().open(address, offset=offset, length=length) as stream:
            if self.opened == 1:
                stream.chunks = _break_after_one(stream.chunks)
            yield stream


def _break_after_one(chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield next(chunks)
    raise BackendFailed("the connection dropped")


TARGETS = {
    "t1": TransferTarget("t1", "agr-1", CONSUMER, "asset-1", {"type": "Memory", "key": "a"}),
    "t-file": TransferTarget(
        "t-file", "agr-1", CONSUMER, "asset-1", {"type": "File", "path": "data.bin"}
    ),
    "t-escape": TransferTarget(
        "t-escape", "agr-1", CONSUMER, "asset-1", {"type": "File", "path": "../secret"}
    ),
    "t-broken": TransferTarget(
        "t-broken", "agr-1", CONSUMER, "asset-1", {"type": "Broken", "key": "a"}
    ),
    "t-flaky": TransferTarget(
        "t-flaky", "agr-1", CONSUMER, "asset-1", {"type": "Flaky", "key": "a"}
    ),
    "t-badhash": TransferTarget(
        "t-badhash", "agr-1", CONSUMER, "asset-1", {"type": "File", "path": "data.bin"}, "00" * 32
    ),
    "t-other": TransferTarget(
        "t-other", "agr-2", "did:web:other.test", "asset-2", {"type": "Memory", "key": "a"}
    ),
}


def resolve_transfer(transfer_id: str) -> TransferTarget:
    try:
        return TARGETS[transfer_id]
    except KeyError:
        raise NotFound(f"no transfer {transfer_id}", code=TRANSFER_NOT_FOUND) from None


@dataclass
class Node:
    url: str
    tokens: DataTokenAuthority
    agreements: Agreements
    usage: Usage

    def token(self, transfer_id: str = "t1", **changes: str) -> str:
        grant = {
            "agreement_id": "agr-1",
            "transfer_id": transfer_id,
            "consumer_did": CONSUMER,
            "asset_id": "asset-1",
            **changes,
        }
        return self.tokens.issue(DataGrant(**grant)).token

    def get(
        self, transfer_id: str = "t1", token: str | None = None, **headers: str
    ) -> httpx.Response:
        token = token if token is not None else self.token(transfer_id)
        return httpx.get(
            f"{self.url}/data/{transfer_id}",
            headers={"Authorization": f"Bearer {token}", **headers},
            timeout=15,
        )


@contextmanager
def running_node(tmp_path: Path, usage: Usage) -> Iterator[Node]:
    root = tmp_path / "files"
    root.mkdir()
    (root / "data.bin").write_bytes(DATA)
    (tmp_path / "secret").write_text("secret")
    memory = MemoryBackend()
    memory.write({"key": "a"}, [DATA], content_type="text/csv")
    flaky = FlakyBackend()
    flaky.write({"key": "a"}, [DATA])
    registry = BackendRegistry(
        DataPlaneConfig(),
        {
            "Memory": lambda c: memory,
            "File": lambda c: FileBackend(root),
            "Broken": lambda c: FailingBackend(),
            "Flaky": lambda c: flaky,
        },
    )
    tokens = DataTokenAuthority(
        generate_private_key(),
        kid=PROVIDER + "#key-1",
        issuer=PROVIDER,
        audience="https://provider.test/data",
    )
    agreements = Agreements()
    endpoint = DataEndpoint(
        tokens=tokens,
        backends=registry,
        resolve_transfer=resolve_transfer,
        check_agreement=agreements,
        usage=usage,
        source=PROVIDER + "/dataplane",
    )
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(data_router(endpoint))
    server = BackgroundServer(app, port=0).start()
    try:
        yield Node(f"http://127.0.0.1:{server.bound_port()}", tokens, agreements, usage)
    finally:
        server.stop()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with running_node(tmp_path, Usage()) as running:
        yield running


def drain(response: httpx.Response, into: bytearray) -> None:
    """Read the body into ``into``, keeping what arrived before an error."""
    for chunk in response.iter_bytes():
        into += chunk


def code(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["code"])


# --- happy paths ---------------------------------------------------------------------------


def test_whole_object(node: Node) -> None:
    response = node.get()
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["content-type"] == "text/csv"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["x-content-sha256"] == hashlib.sha256(DATA).hexdigest()
    assert response.headers["etag"]
    (event,) = node.usage.wait()
    assert event["specversion"] == "1.0"
    assert event["type"] == "dev.hansa.dataplane.access"
    assert event["source"] == PROVIDER + "/dataplane"
    assert event["subject"] == "t1"
    assert event["time"].endswith("Z")
    assert event["data"] == {
        "agreement": "agr-1",
        "counterparty": CONSUMER,
        "asset": "asset-1",
        "transfer": "t1",
        "bytes": len(DATA),
        "outcome": "completed",
        "range": None,
        "error": None,
    }
    # Checked at the start and before every read after the first (4 chunks, then the end).
    assert node.agreements.calls == 5


def test_file_backend_through_the_endpoint(node: Node) -> None:
    response = node.get("t-file", token=node.token("t-file"), Range="bytes=-100")
    assert response.status_code == 206
    assert response.content == DATA[-100:]
    assert (
        response.headers["content-range"] == f"bytes {len(DATA) - 100}-{len(DATA) - 1}/{len(DATA)}"
    )
    escape = node.get("t-escape", token=node.token("t-escape"))
    assert escape.status_code == 403
    assert code(escape) == "dataplane.path_traversal"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=1048570-", 1048570, len(DATA) - 1),
        ("bytes=-5", len(DATA) - 5, len(DATA) - 1),
        ("bytes=10-99999999", 10, len(DATA) - 1),
    ],
)
def test_ranges(node: Node, header: str, start: int, end: int) -> None:
    response = node.get(Range=header)
    assert response.status_code == 206
    assert response.content == DATA[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.headers["content-length"] == str(end - start + 1)
    (event,) = node.usage.wait()
    assert event["data"]["range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert event["data"]["bytes"] == end - start + 1


def test_if_range_serves_the_range_only_if_unchanged(node: Node) -> None:
    etag = node.get().headers["etag"]
    same = node.get(Range="bytes=0-9", **{"If-Range": etag})
    assert (same.status_code, same.content) == (206, DATA[:10])
    changed = node.get(Range="bytes=0-9", **{"If-Range": '"another-version"'})
    assert (changed.status_code, changed.content) == (200, DATA)
    weak = node.get(Range="bytes=0-9", **{"If-Range": "W/" + etag})
    assert weak.status_code == 200


def test_range_past_the_end_is_416(node: Node) -> None:
    response = node.get(Range=f"bytes={len(DATA)}-")
    assert response.status_code == 416
    assert code(response) == "dataplane.range_not_satisfiable"
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


# --- tokens ---------------------------------------------------------------------------------


def test_missing_forged_and_expired_tokens_are_401(node: Node) -> None:
    missing = httpx.get(f"{node.url}/data/t1")
    assert missing.status_code == 401
    assert code(missing) == "dataplane.token_invalid"
    assert missing.headers["www-authenticate"] == "Bearer"
    forger = DataTokenAuthority(
        generate_private_key(), kid=node.tokens.kid, issuer=PROVIDER, audience=node.tokens.audience
    )
    forged = forger.issue(DataGrant("agr-1", "t1", CONSUMER, "asset-1")).token
    assert code(node.get(token=forged)) == "dataplane.token_invalid"
    past = DataTokenAuthority(
        node.tokens._private_key,
        kid=node.tokens.kid,
        issuer=PROVIDER,
        audience=node.tokens.audience,
        clock=lambda: datetime.now(UTC) - timedelta(hours=1),
    )
    expired = past.issue(DataGrant("agr-1", "t1", CONSUMER, "asset-1")).token
    response = node.get(token=expired)
    assert response.status_code == 401
    assert code(response) == "dataplane.token_expired"
    assert node.agreements.calls == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"transfer_id": "t-other"},
        {"consumer_did": "did:web:other.test"},
        {"asset_id": "asset-2"},
        {"agreement_id": "agr-2"},
    ],
)
def test_token_for_another_transfer_asset_consumer_or_agreement_is_403(
    node: Node, changes: dict[str, str]
) -> None:
    response = node.get("t1", token=node.token(**changes))
    assert response.status_code == 403
    assert code(response) == "dataplane.token_mismatch"
    assert node.agreements.calls == 0


def test_unknown_transfer_is_404(node: Node) -> None:
    response = node.get("nope", token=node.token("nope"))
    assert response.status_code == 404
    assert code(response) == "dataplane.transfer_not_found"


# --- enforcement ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "refusal",
    [
        "dataplane.agreement_revoked",
        "dataplane.agreement_expired",
        "dataplane.access_limit_reached",
    ],
)
def test_agreement_not_in_force_is_403_and_logged(node: Node, refusal: str) -> None:
    node.agreements.allowed, node.agreements.code = 0, refusal
    response = node.get()
    assert response.status_code == 403
    assert code(response) == refusal
    (event,) = node.usage.wait()
    assert (event["data"]["outcome"], event["data"]["bytes"]) == ("refused", 0)
    assert event["data"]["error"] == refusal


@pytest.mark.parametrize(
    "refusal", ["dataplane.agreement_revoked", "dataplane.access_limit_reached"]
)
def test_revocation_between_chunks_cuts_the_stream(node: Node, refusal: str) -> None:
    node.agreements.allowed = 1  # the check at the start passes, the next one fails
    node.agreements.code = refusal
    received = bytearray()
    with httpx.stream(
        "GET", f"{node.url}/data/t1", headers={"Authorization": f"Bearer {node.token()}"}
    ) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            drain(response, received)
    assert bytes(received) == DATA[:MIB]
    (event,) = node.usage.wait()
    assert event["data"]["outcome"] == "revoked"
    assert event["data"]["bytes"] == MIB
    assert event["data"]["error"] == refusal


def test_backend_failing_mid_stream(node: Node) -> None:
    with httpx.stream(
        "GET",
        f"{node.url}/data/t-broken",
        headers={"Authorization": f"Bearer {node.token('t-broken')}"},
    ) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    (event,) = node.usage.wait()
    assert (event["data"]["outcome"], event["data"]["bytes"]) == ("failed", MIB)
    assert event["data"]["error"] == "dataplane.backend_failed"


def test_consumer_hanging_up_is_logged_as_aborted(node: Node) -> None:
    node.agreements.pause_after = 1  # the second check waits until the client is gone
    with httpx.stream(
        "GET", f"{node.url}/data/t1", headers={"Authorization": f"Bearer {node.token()}"}
    ) as response:
        first = next(response.iter_raw(1024))
        assert first == DATA[: len(first)]
    node.agreements.resume.set()
    (event,) = node.usage.wait()
    assert event["data"]["outcome"] == "aborted"
    assert 0 < event["data"]["bytes"] < len(DATA)


# --- the usage log in the database ----------------------------------------------------------


def test_usage_events_are_stored(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    stored = SqlUsageLog(sessions)
    with running_node(tmp_path, Usage(stored)) as node:
        assert node.get(Range="bytes=0-99").status_code == 206
        node.usage.wait(1)
        node.agreements.allowed = node.agreements.calls
        assert node.get().status_code == 403
        node.usage.wait(2)
    events = stored.events(agreement_id="agr-1")
    assert [e["data"]["outcome"] for e in events] == ["completed", "refused"]
    assert events[0]["data"]["bytes"] == 100
    assert stored.events(transfer_id="t1") == events
    assert stored.events(agreement_id="agr-2") == []
