"""Two processes of one consumer node on one PostgreSQL database; one dies mid-negotiation.

Process A starts a negotiation; its outbox worker leases the ContractRequestMessage and
sends it through a gate that holds the connection. A is killed (SIGKILL) while the row is
leased to it and the gate drops what A sent, so the message is lost with A. Process B
(same settings, the node's base URL) claims the row once A's lease has expired, sends it
again under the same message id, takes the provider's callbacks and finishes the
negotiation: FINALIZED.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select, text

from hansa.connector.negotiation_lookup import find_offer
from hansa.connector.process_models import OutboxMessage
from hansa.db import make_engine, make_session_factory
from hansa.demo.federation import LocalFederation, NodeSpec
from hansa.demo.processes import NodeProcess
from hansa.settings import Settings
from ports import free_port_block

POSTGRES_URL = os.environ.get("HANSA_TEST_POSTGRES_URL")
LEASE_NODE = str(Path(__file__).with_name("lease_node.py"))
SPECS = (
    NodeSpec("provider", "Provider", ("identity", "connector")),
    NodeSpec("consumer", "Consumer", ("identity", "connector")),
)


class Gate:
    """A TCP relay to ``target_port`` that holds connections until opened, then drops them."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.opened = threading.Event()
        self.held: list[socket.socket] = []
        self.relayed: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.opened.is_set():
                self.held.append(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.relayed += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def open(self) -> None:
        """Drop what was held (lost with its sender), relay from now on."""
        self.opened.set()
        for held in self.held:
            held.close()

    def close(self) -> None:
        self.listener.close()
        for relayed in self.relayed:
            with contextlib.suppress(OSError):
                relayed.shutdown(socket.SHUT_RDWR)
            relayed.close()


@dataclass
class ConsumerOnPostgres(LocalFederation):
    consumer_database_url: str = ""

    def settings_for(self, spec: NodeSpec) -> Settings:
        settings = super().settings_for(spec)
        if spec.name == "consumer":
            settings = settings.model_copy(update={"database_url": self.consumer_database_url})
        return settings


@pytest.fixture
def postgres_database() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("needs PostgreSQL: set HANSA_TEST_POSTGRES_URL")
    name = f"hansa_crash_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _until(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_second_process_finishes_what_a_killed_one_leased(
    tmp_path: Path, postgres_database: str
) -> None:
    base = free_port_block(3)
    federation = ConsumerOnPostgres(
        tmp_path / "federation",
        base_port=base,
        specs=SPECS,
        consumer_database_url=postgres_database,
    )
    federation.start()  # both in-process first: keys, certificates, tables
    processes: list[NodeProcess] = []
    gate: Gate | None = None
    engine: Engine | None = None
    try:
        provider, consumer = federation["provider"], federation["consumer"]
        assert provider.node.assets is not None
        provider.node.assets.create_asset(
            {"type": "HttpData", "baseUrl": "https://data.example.eu/x"}, id="a1"
        )
        provider.node.assets.create_policy(
            {"@context": "http://www.w3.org/ns/odrl.jsonld", "permission": [{"action": "use"}]},
            id="p1",
        )
        provider.node.assets.create_offer("a1", "p1", id="o1")
        assert consumer.node.sts is not None
        offer = find_offer(
            consumer.node.http,
            consumer.node.sts,
            provider.base_url + "/dsp/2025-1",
            provider.did,
            "o1",
        )
        # From here every node is its own process: the provider as it is, the consumer as
        # two processes, A on a spare port and B at the node's base URL.
        for running in federation.nodes.values():
            running.node.http.close()  # first, so no server waits for a peer's idle connection
        for running in federation.nodes.values():
            running.server.stop()
            running.node.close()
        running = federation.nodes.pop("consumer")
        provider_settings = federation.nodes.pop("provider").settings
        processes.append(
            NodeProcess(provider_settings, log_file=tmp_path / "provider.log").start(
                federation.ca_file
            )
        )
        gate = Gate(provider.settings.port)
        argv = [sys.executable, LEASE_NODE, "3", "0.3"]
        a = NodeProcess(
            running.settings, log_file=tmp_path / "a.log", argv=argv, port=base + 2
        ).start(federation.ca_file)
        processes.append(a)
        verify = ssl.create_default_context(cafile=str(federation.ca_file))
        admin = {"Authorization": f"Bearer {running.admin_key}"}
        with httpx.Client(base_url=a.url, verify=verify, headers=admin, timeout=30) as client:
            started = client.post(
                "/management/negotiations",
                json={
                    "providerAddress": f"https://localhost:{gate.port}/dsp/2025-1",
                    "providerDid": provider.did,
                    "offer": offer,
                },
            )
        assert started.status_code == 201, started.text
        pid = started.json()["id"]

        engine = make_engine(postgres_database)
        sessions = make_session_factory(engine)

        def request_row() -> OutboxMessage | None:
            with sessions() as session:
                return session.scalars(
                    select(OutboxMessage).where(OutboxMessage.process_id == pid)
                ).first()

        def leased_by_a() -> bool:
            row = request_row()
            owner = row.lease_owner if row is not None else None
            return owner is not None and gate is not None and len(gate.held) > 0

        _until(leased_by_a, "A to lease and send the request")
        row = request_row()
        assert row is not None
        assert row.lease_owner is not None
        assert a.process is not None
        assert f":{a.process.pid}:" in row.lease_owner
        leased_id = row.id

        b = NodeProcess(running.settings, log_file=tmp_path / "b.log", argv=argv).start(
            federation.ca_file
        )
        processes.append(b)
        a.kill()
        gate.open()

        with httpx.Client(base_url=b.url, verify=verify, headers=admin, timeout=90) as client:
            view = client.get(
                f"/management/negotiations/{pid}",
                params={"waitFor": "FINALIZED,TERMINATED", "timeout": 60},
            ).json()
        assert view["state"] == "FINALIZED", view
        assert view["agreementId"]

        def leased_row() -> OutboxMessage | None:
            # The leased row itself (a finished negotiation has more outbox rows).
            with sessions() as session:
                return session.get(OutboxMessage, leased_id)

        # The provider answers the request after its agreement left, so B can reach
        # FINALIZED before it has recorded that answer: wait for it.
        _until(
            lambda: (row := leased_row()) is not None and row.status == "delivered",
            "B to record the request as delivered",
        )
        delivered = leased_row()
        assert delivered is not None  # the same message id, sent again by B
        assert delivered.status == "delivered"
        assert delivered.lease_owner is None

        def all_delivered() -> bool:
            with sessions() as session:
                states = session.scalars(
                    select(OutboxMessage.status).where(OutboxMessage.process_id == pid)
                ).all()
            return set(states) == {"delivered"}

        # The provider's FINALIZED event can arrive before the HTTP answer to the
        # consumer's verification, so that row turns "delivered" a moment after.
        _until(all_delivered, "every outbox row of the negotiation to be delivered", 30)
    finally:
        if engine is not None:
            engine.dispose()
        for process in processes:
            process.stop()
        if gate is not None:
            gate.close()
        federation.stop()
