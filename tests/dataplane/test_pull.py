"""The consumer's pull from a provider's data endpoint over real HTTP, into the File backend."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_data_endpoint import DATA, MIB, Node, Usage, running_node

from hansa.chunk_buffers import BUFFERS
from hansa.connector.transfer_data import StoppableBackend
from hansa.dataplane.backend_files import FileBackend
from hansa.dataplane.backends import MemoryBackend
from hansa.dataplane.pull import pull
from hansa.errors import HansaError
from hansa.fetch import GuardedClient
from hansa.settings import HttpSettings


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with running_node(tmp_path / "provider", Usage()) as running:
        yield running


@pytest.fixture
def client() -> Iterator[GuardedClient]:
    settings = HttpSettings(allow_loopback=True, allow_http_on_loopback=True, timeout_seconds=5)
    with GuardedClient(settings) as guarded:
        yield guarded


@pytest.fixture
def consumer(tmp_path: Path) -> FileBackend:
    root = tmp_path / "consumer"
    root.mkdir()
    return FileBackend(root)


@pytest.fixture(autouse=True)
def provider_dir(tmp_path: Path) -> None:
    (tmp_path / "provider").mkdir()


DEST = {"type": "File", "path": "in/data.bin"}


def test_pull_whole_object_verified(
    node: Node, client: GuardedClient, consumer: FileBackend
) -> None:
    result = pull(client, f"{node.url}/data/t1", node.token(), consumer, DEST)
    assert (result.size, result.verified, result.resumes) == (len(DATA), True, 0)
    assert result.sha256 == hashlib.sha256(DATA).hexdigest() == result.write.sha256
    assert (consumer.root / "in" / "data.bin").read_bytes() == DATA


def test_pull_resumes_after_a_dropped_connection(
    node: Node, client: GuardedClient, consumer: FileBackend
) -> None:
    result = pull(client, f"{node.url}/data/t-flaky", node.token("t-flaky"), consumer, DEST)
    assert result.resumes == 1
    assert (consumer.root / "in" / "data.bin").read_bytes() == DATA
    outcomes = [(e["data"]["outcome"], e["data"]["bytes"]) for e in node.usage.wait(2)]
    assert outcomes == [("failed", MIB), ("completed", len(DATA) - MIB)]


def test_revocation_mid_pull_is_refused_and_nothing_is_kept(
    node: Node, client: GuardedClient, consumer: FileBackend
) -> None:
    node.agreements.allowed = 2
    with pytest.raises(HansaError) as caught:
        pull(client, f"{node.url}/data/t1", node.token(), consumer, DEST)
    assert caught.value.code == "dataplane.pull_refused"
    assert caught.value.extra["remote_code"] == "dataplane.agreement_revoked"
    assert caught.value.extra["upstream_status"] == 403
    assert list(consumer.root.rglob("*.bin")) == []
    assert not any(p.is_file() for p in consumer.root.rglob("*"))


def test_hash_mismatch_keeps_nothing(
    node: Node, client: GuardedClient, consumer: FileBackend
) -> None:
    with pytest.raises(HansaError) as caught:
        pull(client, f"{node.url}/data/t-badhash", node.token("t-badhash"), consumer, DEST)
    assert caught.value.code == "dataplane.integrity_failed"
    assert not any(p.is_file() for p in consumer.root.rglob("*"))


def test_bad_token_is_refused_with_the_providers_code(
    node: Node, client: GuardedClient, consumer: FileBackend
) -> None:
    with pytest.raises(HansaError) as caught:
        pull(client, f"{node.url}/data/t1", "not-a-token", consumer, DEST)
    assert caught.value.code == "dataplane.pull_refused"
    assert caught.value.extra["remote_code"] == "dataplane.token_invalid"
    assert caught.value.extra["upstream_status"] == 401


def test_pull_through_the_transfer_writer_thread_hashes_once_and_right(
    node: Node, client: GuardedClient, consumer: FileBackend
) -> None:
    # The writer thread takes the download's hash instead of hashing again.
    writer = StoppableBackend(consumer, lambda: True)
    result = pull(client, f"{node.url}/data/t-flaky", node.token("t-flaky"), writer, DEST)
    assert result.resumes == 1
    assert result.write.sha256 == result.sha256 == hashlib.sha256(DATA).hexdigest()
    assert (consumer.root / "in" / "data.bin").read_bytes() == DATA


def test_hash_mismatch_through_the_transfer_writer_thread_keeps_nothing(
    node: Node, client: GuardedClient, consumer: FileBackend
) -> None:
    writer = StoppableBackend(consumer, lambda: True)
    with pytest.raises(HansaError) as caught:
        pull(client, f"{node.url}/data/t-badhash", node.token("t-badhash"), writer, DEST)
    assert caught.value.code == "dataplane.integrity_failed"
    assert not any(p.is_file() for p in consumer.root.rglob("*"))


def test_a_download_receives_into_buffers_the_file_writer_gives_back(
    node: Node, client: GuardedClient, consumer: FileBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunk buffers go round: received into, written (in the writer thread), given back."""
    taken: list[object] = []
    real_take = BUFFERS.take

    def take(size: int) -> object:
        buffer = real_take(size)
        taken.append(buffer)
        return buffer

    monkeypatch.setattr(BUFFERS, "take", take)
    writer = StoppableBackend(consumer, lambda: True, depth=1)
    for _ in range(3):
        pull(client, f"{node.url}/data/t1", node.token(), writer, DEST)
        assert (consumer.root / "in" / "data.bin").read_bytes() == DATA
    assert len(taken) >= 3 * 3  # the chunks after what h11 read with the head
    assert len({id(buffer) for buffer in taken}) <= 4
    assert all(buffer.lent_view is None for buffer in taken)  # type: ignore[attr-defined]


def test_a_writer_that_keeps_the_chunks_keeps_them_intact(
    node: Node, client: GuardedClient
) -> None:
    """A backend that never gives a lent chunk back holds it as received, however long."""
    kept = MemoryBackend()
    result = pull(client, f"{node.url}/data/t1", node.token(), kept, DEST)
    assert result.verified
    assert kept.objects["in/data.bin"][0] == DATA
