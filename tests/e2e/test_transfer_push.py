"""Push transfers between real nodes: HttpData-PUSH to an HTTPS receiver, AmazonS3-PUSH to moto."""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import select
from transfer_helpers import agree, publish_file, transfer, wait_for, write_asset_file

from hansa.connector.process_models import OutboxMessage
from hansa.connector.transfer_models import TransferProcessRecord
from hansa.dataplane.backends import BackendRegistry, S3Config, config_from_settings
from hansa.db import transaction, utcnow
from hansa.demo.federation import LocalFederation, RunningNode

HTTP = "https://w3id.org/idsa/v4.1/HTTP"


@dataclass
class Receiver:
    port: int
    bodies: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"https://localhost:{self.port}{path}"


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    body = bytearray()
    while True:
        size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            handler.rfile.readline()
            return bytes(body)
        body += handler.rfile.read(size)
        handler.rfile.readline()


@pytest.fixture(scope="module")
def receiver(federation: LocalFederation) -> Iterator[Receiver]:
    """An HTTPS server taking PUTs, with the consumer's certificate (the federation CA's)."""
    consumer = federation["consumer"]
    received = Receiver(0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_PUT(self) -> None:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                body = _read_chunked(self)
            else:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
            received.bodies[self.path] = body
            received.headers[self.path] = {k.lower(): v for k, v in self.headers.items()}
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(
        str(consumer.settings.tls_cert_file), str(consumer.settings.tls_key_file)
    )
    server.socket = context.wrap_socket(server.socket, server_side=True)
    received.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received
    server.shutdown()
    server.server_close()


def _push_address(url: str, token: str | None = None) -> dict[str, Any]:
    address: dict[str, Any] = {"@type": "DataAddress", "endpointType": HTTP, "endpoint": url}
    if token:
        address["endpointProperties"] = [
            {"@type": "EndpointProperty", "name": "authorization", "value": token}
        ]
    return address


def test_http_push_arrives_whole_and_completes_with_its_sha256(
    federation: LocalFederation, receiver: Receiver
) -> None:
    provider = federation["provider"]
    path, content = write_asset_file(provider, 2 * 1_048_576 + 5)
    agreement_id = agree(federation, publish_file(federation, path))
    view = transfer(
        federation,
        agreement_id,
        "HttpData-PUSH",
        destination=_push_address(receiver.url(f"/in/{agreement_id[-8:]}"), "secret-1"),
    )
    assert view["state"] == "COMPLETED", view
    assert receiver.bodies[f"/in/{agreement_id[-8:]}"] == content
    assert receiver.headers[f"/in/{agreement_id[-8:]}"]["authorization"] == "Bearer secret-1"
    assert view["sha256"] == hashlib.sha256(content).hexdigest()
    assert view["size"] == len(content)
    with provider.client(federation.ca_file) as client:
        theirs = client.get(f"/management/transfers/{view['providerPid']}").json()
    assert theirs["state"] == "COMPLETED"
    assert theirs["sha256"] == view["sha256"]


def test_a_push_whose_process_died_is_sent_again_by_the_sweep(
    federation: LocalFederation, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = federation["provider"]
    transfers = provider.node.transfers
    assert transfers is not None
    dropped: list[str] = []
    spawn = transfers._spawn

    def first_run_dies(move: Callable[[str, str], None], pid: str, run: str) -> None:
        if not dropped:
            dropped.append(pid)  # claimed, then the process "died" before sending a byte
            return
        spawn(move, pid, run)

    monkeypatch.setattr(transfers, "_spawn", first_run_dies)
    path, content = write_asset_file(provider, 1_048_576 + 3)
    agreement_id = agree(federation, publish_file(federation, path))
    target = f"/in/again-{agreement_id[-8:]}"
    started = transfer(
        federation,
        agreement_id,
        "HttpData-PUSH",
        destination=_push_address(receiver.url(target)),
        states=("STARTED", "COMPLETED", "TERMINATED"),
    )
    assert started["state"] == "STARTED", started
    pid = started["providerPid"]

    def start_delivered() -> bool:
        with provider.node.sessions() as session:
            status = session.scalar(
                select(OutboxMessage.status).where(
                    OutboxMessage.process_id == pid,
                    OutboxMessage.message_type == "TransferStartMessage",
                )
            )
        return status == "delivered"

    deadline = time.monotonic() + 60
    while not (dropped and start_delivered()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dropped == [pid]
    with transaction(provider.node.sessions) as session:
        record = session.get(TransferProcessRecord, pid)
        assert record is not None
        assert record.state == "STARTED"
        assert record.mover is not None  # the dead run's claim, still on the row
        record.lease_until = utcnow() - timedelta(seconds=1)  # ... until its lease runs out
    transfers.sweep.wake()
    with federation["consumer"].client(federation.ca_file) as client:
        view = wait_for(
            client, f"/management/transfers/{started['id']}", ("COMPLETED", "TERMINATED")
        )
    assert view["state"] == "COMPLETED", view
    assert receiver.bodies[target] == content
    assert view["sha256"] == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize("url", ["https://10.1.2.3/in", "https://192.168.0.7:8443/in"])
def test_push_target_on_a_private_network_is_refused(federation: LocalFederation, url: str) -> None:
    path, _ = write_asset_file(federation["provider"], 1000)
    agreement_id = agree(federation, publish_file(federation, path))
    view = transfer(federation, agreement_id, "HttpData-PUSH", destination=_push_address(url))
    assert view["state"] == "TERMINATED"
    assert view["error"]["code"] == "transfer.push_target_refused"


def test_push_without_a_data_address_is_refused_at_once(federation: LocalFederation) -> None:
    path, _ = write_asset_file(federation["provider"], 1000)
    agreement_id = agree(federation, publish_file(federation, path))
    consumer = federation["consumer"]
    with consumer.client(federation.ca_file) as client:
        answer = client.post(
            "/management/transfers", json={"agreementId": agreement_id, "type": "HttpData-PUSH"}
        )
    assert answer.status_code == 400
    assert answer.json()["code"] == "transfer.data_address_missing"


# --- AmazonS3-PUSH into the consumer's bucket (moto's S3 server) -------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-central-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(
        Bucket="consumer-inbox", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    yield endpoint
    server.stop()


def _with_s3(node: RunningNode, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = S3Config(
        access_key_id="test", secret_access_key="test", endpoint_url=endpoint, region="eu-central-1"
    )
    registry = BackendRegistry(
        config_from_settings(node.settings, s3=config, http_client=node.node.http)
    )
    assert node.node.transfers is not None
    monkeypatch.setattr(node.node.transfers, "backends", registry)


def test_s3_push_writes_the_consumers_bucket_and_the_consumer_checks_it(
    federation: LocalFederation, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    for node in (provider, consumer):
        _with_s3(node, s3_endpoint, monkeypatch)
    path, content = write_asset_file(provider, 9 * 1_048_576)
    agreement_id = agree(federation, publish_file(federation, path))
    key = f"deliveries/{agreement_id[-8:]}.bin"
    destination = {
        "@type": "DataAddress",
        "endpointType": "AmazonS3",
        "endpointProperties": [
            {"@type": "EndpointProperty", "name": "bucket", "value": "consumer-inbox"},
            {"@type": "EndpointProperty", "name": "key", "value": key},
            {"@type": "EndpointProperty", "name": "region", "value": "eu-central-1"},
        ],
    }
    view = transfer(federation, agreement_id, "AmazonS3-PUSH", destination=destination)
    assert view["state"] == "COMPLETED", view
    assert view["sha256"] == hashlib.sha256(content).hexdigest()
    stored = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="eu-central-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).get_object(Bucket="consumer-inbox", Key=key)
    assert stored["Body"].read() == content
    with provider.client(federation.ca_file) as client:
        theirs = wait_for(client, f"/management/transfers/{view['providerPid']}", ("COMPLETED",))
    assert theirs["state"] == "COMPLETED"
