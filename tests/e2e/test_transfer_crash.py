"""A consumer process dies mid-pull; the pull finishes without anyone asking (SQLite, PostgreSQL).

The provider offers data from a *slow source* (an HTTP server in the test) that sends
2 MiB at once and then trickles until the test releases it, so that the pull is surely
running when its process is killed (SIGKILL). Every node runs as its own process; the
consumer node as one or two processes on one database, with a short transfer lease (2-3 s):

- restart: the killed process is started again and moves the pull once the lease has run
  out (with a fresh data token: the old one is made to look expired while it is down); a
  transfer that was SUSPENDED when it died stays SUSPENDED;
- takeover (PostgreSQL): a second process of the node, running all along, takes the pull
  over once the killed process's lease has run out.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from transfer_helpers import OPEN_POLICY, agree

from hansa.connector.transfer_data import EXPIRES_PROPERTY
from hansa.connector.transfer_models import TransferProcessRecord as Record
from hansa.db import make_engine, make_session_factory, transaction
from hansa.demo.federation import LocalFederation, NodeSpec, RunningNode
from hansa.demo.processes import NodeProcess
from hansa.settings import ConnectorSettings, Settings
from ports import free_port_block

MIB = 1_048_576
SIZE = 32 * MIB
HEAD = 2 * MIB
TRICKLE = 128 * 1024
SPECS = (
    NodeSpec("provider", "Provider", ("identity", "connector")),
    NodeSpec("consumer", "Consumer", ("identity", "connector")),
)


class SlowSource:
    """An HTTP source: each object's first 2 MiB at once, then 128 KiB per 50 ms until
    :attr:`released`, then the rest at once. Counts the requests per object."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.released = threading.Event()
        self.requests: Counter[str] = Counter()
        source = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                content = source.objects.get(name)
                if content is None:
                    self.send_error(404)
                    return
                source.requests[name] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(content)))
                self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()[:16]}"')
                self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                try:
                    while sent < len(content):
                        if sent < HEAD or source.released.is_set():
                            step = HEAD - sent if sent < HEAD else len(content) - sent
                        else:
                            step = TRICKLE
                            time.sleep(0.05)
                        self.wfile.write(content[sent : sent + step])
                        sent += step
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the provider stopped reading (its consumer died or stopped)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@dataclass
class CrashFederation(LocalFederation):
    """The consumer on ``consumer_database_url`` with a short lease; the provider reads
    http:// sources on loopback (the slow source)."""

    consumer_database_url: str = ""
    lease_seconds: float = 2.0

    def settings_for(self, spec: NodeSpec) -> Settings:
        settings = super().settings_for(spec)
        if spec.name == "consumer":
            return settings.model_copy(
                update={
                    "database_url": self.consumer_database_url,
                    "connector": ConnectorSettings(transfer_lease_seconds=self.lease_seconds),
                }
            )
        http = settings.http.model_copy(update={"allow_http_on_loopback": True})
        return settings.model_copy(update={"http": http})


@dataclass
class Scene:
    federation: CrashFederation
    source: SlowSource
    consumer: RunningNode
    """The consumer's settings and admin key (its in-process node is stopped)."""
    provider: RunningNode
    agreements: dict[str, str]
    engine: Engine
    processes: list[NodeProcess]

    def process(self, log: Path, **overrides: Any) -> NodeProcess:
        """A process of the consumer node."""
        started = NodeProcess(self.consumer.settings, log_file=log, **overrides).start(
            self.federation.ca_file
        )
        self.processes.append(started)
        return started

    def client(self, process: NodeProcess, node: RunningNode | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=process.url,
            verify=ssl.create_default_context(cafile=str(self.federation.ca_file)),
            headers={"Authorization": f"Bearer {(node or self.consumer).admin_key}"},
            timeout=90,
        )

    def record(self, pid: str) -> Record:
        with make_session_factory(self.engine)() as session:
            record = session.get(Record, pid)
            assert record is not None
            return record

    @property
    def transfers_dir(self) -> Path:
        return self.consumer.settings.data_dir / "files" / "transfers"

    def partial_files(self) -> list[Path]:
        return sorted(self.transfers_dir.glob(".hansa-*.part"))


@pytest.fixture
def scene(tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> Iterator[Scene]:
    """Provider (in this process) and consumer agree on two offers of the slow source; then
    the consumer's in-process node stops, so that the test runs it as processes."""
    lease = getattr(request, "param", 2.0)
    source = SlowSource({"t1": os.urandom(SIZE), "t2": os.urandom(SIZE)})
    federation = CrashFederation(
        tmp_path / "federation",
        base_port=free_port_block(3),
        specs=SPECS,
        consumer_database_url=database_url,
        lease_seconds=lease,
    )
    federation.start()
    engine = make_engine(database_url)
    processes: list[NodeProcess] = []
    try:
        provider = federation["provider"]
        assert provider.node.assets is not None
        agreements = {}
        for name in ("t1", "t2"):
            suffix = uuid.uuid4().hex[:8]
            asset = provider.node.assets.create_asset(
                {"type": "HttpData", "baseUrl": source.url(name)}, id=f"urn:asset:{suffix}"
            )
            provider.node.assets.create_policy(OPEN_POLICY, id=f"urn:policy:{suffix}")
            provider.node.assets.create_offer(
                asset.id, f"urn:policy:{suffix}", id=f"urn:offer:{suffix}"
            )
            agreements[name] = agree(federation, f"urn:offer:{suffix}")
        # From here every node is its own process (its outbound connections closed first, so
        # that no server waits for a peer's idle connection).
        for running in federation.nodes.values():
            running.node.http.close()
        for running in federation.nodes.values():
            running.server.stop()
            running.node.close()
        consumer, provider = federation.nodes.pop("consumer"), federation.nodes.pop("provider")
        processes.append(
            NodeProcess(provider.settings, log_file=tmp_path / "provider.log").start(
                federation.ca_file
            )
        )
        yield Scene(federation, source, consumer, provider, agreements, engine, processes)
    finally:
        for process in reversed(processes):  # the provider last: no idle peer keeps it
            process.stop()
        source.close()
        engine.dispose()
        federation.stop()


def _until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _pull(client: httpx.Client, agreement_id: str) -> dict[str, Any]:
    started = client.post(
        "/management/transfers", json={"agreementId": agreement_id, "type": "HttpData-PULL"}
    )
    assert started.status_code == 201, started.text
    view: dict[str, Any] = client.get(
        f"/management/transfers/{started.json()['id']}",
        params={"waitFor": "STARTED,COMPLETED,TERMINATED", "timeout": 60},
    ).json()
    assert view["state"] == "STARTED", view
    return view


def _finished(client: httpx.Client, pid: str) -> dict[str, Any]:
    view: dict[str, Any] = client.get(
        f"/management/transfers/{pid}",
        params={"waitFor": "COMPLETED,TERMINATED", "timeout": 60},
    ).json()
    return view


def _mid_transfer(scene: Scene, count: int) -> Callable[[], bool]:
    """``count`` pulls are writing: their temporary files have bytes in them."""

    def writing() -> bool:
        sizes = []
        for part in scene.partial_files():
            try:
                sizes.append(part.stat().st_size)
            except FileNotFoundError:
                continue
        return len([s for s in sizes if s > 0]) >= count

    return writing


def _check_received(scene: Scene, view: dict[str, Any], name: str) -> None:
    content = scene.source.objects[name]
    assert view["state"] == "COMPLETED", view
    assert view["sha256"] == hashlib.sha256(content).hexdigest()
    assert [h["state"] for h in view["history"]] == ["REQUESTED", "STARTED", "COMPLETED"]
    received = scene.consumer.settings.data_dir / "files" / view["destination"]["path"]
    assert hashlib.sha256(received.read_bytes()).hexdigest() == view["sha256"]
    record = scene.record(view["id"])
    assert (record.mover, record.lease_until) == (None, None)


@pytest.mark.slow
def test_a_restarted_consumer_finishes_its_pull_and_leaves_a_suspended_one(
    scene: Scene, tmp_path: Path
) -> None:
    a = scene.process(tmp_path / "a.log")
    assert a.process is not None
    with scene.client(a) as client:
        running = _pull(client, scene.agreements["t1"])
        suspended = _pull(client, scene.agreements["t2"])
        _until(_mid_transfer(scene, 2), "both pulls to be writing")
        paused = client.post(f"/management/transfers/{suspended['id']}/suspend")
        assert paused.json()["state"] == "SUSPENDED", paused.text
    mover = scene.record(running["id"]).mover
    assert mover is not None
    assert f":{a.process.pid}:" in mover  # A moves the data of the running pull
    assert scene.record(suspended["id"]).mover is None

    a.kill()
    # While A is down its data token runs out: the restarted pull must ask for a new one.
    with transaction(make_session_factory(scene.engine)) as session:
        record = session.get(Record, running["id"])
        assert record is not None
        address = dict(record.data_address or {})
        address["endpointProperties"] = [
            *[
                p
                for p in address["endpointProperties"]
                if p["name"] not in ("authorization", EXPIRES_PROPERTY)
            ],
            {"@type": "EndpointProperty", "name": "authorization", "value": "expired"},
            {
                "@type": "EndpointProperty",
                "name": EXPIRES_PROPERTY,
                "value": datetime(2020, 1, 1, tzinfo=UTC).isoformat(),
            },
        ]
        record.data_address = address
    scene.source.released.set()

    again = scene.process(tmp_path / "a-again.log")
    with scene.client(again) as client:
        view = _finished(client, running["id"])
        _check_received(scene, view, "t1")
        assert client.get(f"/management/transfers/{suspended['id']}").json()["state"] == (
            "SUSPENDED"
        )
    address = scene.record(running["id"]).data_address or {}
    token = {p["name"]: p["value"] for p in address["endpointProperties"]}
    assert token["authorization"] != "expired"
    # Moved twice (A, then again after the restart); the suspended one only by A.
    assert scene.source.requests == {"t1": 2, "t2": 1}
    assert scene.record(suspended["id"]).mover is None

    with scene.client(scene.processes[0], scene.provider) as client:
        theirs = client.get(
            f"/management/transfers/{view['providerPid']}",
            params={"waitFor": "COMPLETED,TERMINATED", "timeout": 60},
        ).json()
        assert theirs["state"] == "COMPLETED", theirs
        paused = client.get(f"/management/transfers/{suspended['providerPid']}").json()
        assert paused["state"] == "SUSPENDED", paused
    # A's temporary files are removed once they are surely stale.
    _until(lambda: scene.partial_files() == [], "the dead pulls' temporary files to go")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("scene", [3.0], indirect=True)
def test_a_second_process_takes_over_the_pull_of_a_killed_one(scene: Scene, tmp_path: Path) -> None:
    # A at the node's base URL (it takes the provider's start, so it pulls), B beside it.
    a = scene.process(tmp_path / "a.log")
    b = scene.process(tmp_path / "b.log", port=scene.consumer.settings.port + 1)
    assert a.process is not None
    assert b.process is not None
    with scene.client(a) as client:
        running = _pull(client, scene.agreements["t1"])
    _until(_mid_transfer(scene, 1), "A's pull to be writing")
    mover = scene.record(running["id"]).mover
    assert mover is not None
    assert f":{a.process.pid}:" in mover

    a.kill()
    scene.source.released.set()
    with scene.client(b) as client:
        view = _finished(client, running["id"])
    _check_received(scene, view, "t1")
    assert scene.source.requests["t1"] == 2  # A's pull, then B's
