"""The TCK's transfer process scenarios replayed over HTTPS against running Hansa nodes.

Like the negotiation replay: for provider scenarios (``TP:*``) the test is the consumer,
sending messages to the provider node's DSP endpoints with DCP tokens and taking the
provider's messages at a callback server of its own; for consumer scenarios (``TP_C:*``)
it is the provider, answering the consumer node's request at a DSP endpoint of its own and
sending messages to the consumer's callback address. What the connector under test sends
on its own initiative is asked for through its service (start, suspend, resume, complete,
terminate; the provider does not start by itself here). The agreement each transfer names
is a FINALIZED negotiation written straight into the node's database.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from tck import ACK, ERROR, Exchange, Ids, Scenario, build_message, endpoint_for, load_catalogue

from hansa.connector import dsp_messages as m
from hansa.connector.credential_service import SecureTokenService, wallet_signer
from hansa.connector.dsp_schemas import validate_message
from hansa.connector.process_models import ContractNegotiationRecord
from hansa.db import transaction
from hansa.demo.federation import LocalFederation, RunningNode
from hansa.errors import Conflict
from hansa.serving import BackgroundServer
from ports import free_port_block

DSP = "/dsp/2025-1"
SCENARIOS = [s for s in load_catalogue() if s.area.startswith("transfer")]
PROVIDER_SCENARIOS = [s for s in SCENARIOS if s.hansa_role == "provider"]
CONSUMER_SCENARIOS = [s for s in SCENARIOS if s.hansa_role == "consumer"]


@dataclass
class Counterparty:
    """The TCK's own HTTPS endpoint: records what the node under test sends, answers it."""

    provider_pid: str = "urn:uuid:tck-provider"
    received: queue.Queue[tuple[str, dict[str, Any]]] = field(default_factory=queue.Queue)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def take(path: str, request: Request) -> JSONResponse:
            body = await request.json()
            if path.endswith("/token"):
                # A consumer resuming a pull asks for a token (Hansa): none to give here.
                address = {
                    "@type": "DataAddress",
                    "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
                }
                return JSONResponse({"dataAddress": address})
            self.received.put(("/" + path, body))
            initial = path.endswith("transfers/request")
            ack = m.transfer_process(
                provider_pid=body.get("providerPid") or self.provider_pid,
                consumer_pid=body.get("consumerPid", ""),
                state="REQUESTED" if initial else "STARTED",
            )
            return JSONResponse(ack, status_code=201 if initial else 200)

        return app

    def expect(self, message: str, path: str) -> dict[str, Any]:
        got_path, body = self.received.get(timeout=30)
        validate_message(body)
        assert body["@type"] == message, f"expected {message}, the connector sent {body['@type']}"
        assert got_path.endswith(path), f"{message} went to {got_path}, not to ...{path}"
        return body


@dataclass
class Setup:
    federation: LocalFederation
    tck: Counterparty
    tck_url: str


def _agreement(
    node: RunningNode, role: str, agreement_id: str, other: RunningNode, address: str
) -> None:
    """A FINALIZED negotiation holding ``agreement_id``, as ``role``, with ``other``."""
    provider, consumer = (node, other) if role == "provider" else (other, node)
    agreement = m.agreement(
        agreement_id,
        target="ds",
        assigner=provider.did,
        assignee=consumer.did,
        timestamp=datetime.now(UTC),
        permission=[m.rule("use")],
    )
    with transaction(node.node.sessions) as session:
        session.add(
            ContractNegotiationRecord(
                id=f"urn:uuid:{uuid.uuid4()}",
                role=role,
                state="FINALIZED",
                counterparty_did=other.did,
                counterparty_pid=f"urn:uuid:{uuid.uuid4()}",
                counterparty_address=address,
                offer_id="offer",
                dataset_id="ds",
                offer={},
                agreement=agreement,
                agreement_id=agreement_id,
                history=[],
            )
        )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root: Path = tmp_path_factory.mktemp("tck-transfer")
    with LocalFederation(root, base_port=free_port_block()) as federation:
        provider, consumer = federation["provider"], federation["consumer"]
        assets = provider.node.assets
        assert assets is not None
        files = provider.settings.data_dir / "files"
        files.mkdir(parents=True, exist_ok=True)
        (files / "ds.bin").write_bytes(b"tck data\n")
        assets.create_asset({"type": "File", "path": "ds.bin"}, id="ds")
        assert provider.node.transfers is not None
        provider.node.transfers.auto_start = False  # every move is the test's
        tck = Counterparty()
        server = BackgroundServer(
            tck.app(),
            port=free_port_block(1),
            certfile=consumer.settings.tls_cert_file,
            keyfile=consumer.settings.tls_key_file,
        ).start()
        try:
            yield Setup(federation, tck, f"https://localhost:{server.port}")
        finally:
            for running in federation.nodes.values():
                running.node.http.close()
            server.stop()


def _token(sender: RunningNode, receiver: RunningNode) -> dict[str, str]:
    sts = SecureTokenService(sender.did, wallet_signer(sender.did, sender.node.identity.wallet))
    return {"Authorization": f"Bearer {sts.id_token(receiver.did)}"}


def _check_answer(exchange: Exchange, response: httpx.Response) -> None:
    if exchange.response == ERROR:
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["@type"] == "TransferError"
    elif exchange.response == ACK:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code in (200, 201), response.text
        assert response.json()["@type"] == exchange.response


ACTIONS = {
    "TransferStartMessage": "start",
    "TransferSuspensionMessage": "suspend",
    "TransferCompletionMessage": "complete",
    "TransferTerminationMessage": "terminate",
}


def _varied(message: dict[str, Any], seen: set[str]) -> dict[str, Any]:
    """A second start (a resumption) differs from the first, as a real one does (new token):
    an identical message is a retry, which the connector answers as before."""
    kind = message["@type"]
    if kind in seen and kind == "TransferStartMessage":
        nonce = {"@type": "EndpointProperty", "name": "nonce", "value": uuid.uuid4().hex}
        address = {"@type": "DataAddress", "endpointType": "https://w3id.org/idsa/v4.1/HTTP"}
        message = {**message, "dataAddress": {**address, "endpointProperties": [nonce]}}
    seen.add(kind)
    return message


def _act(node: RunningNode, pid: str, message: str) -> None:
    """Ask the node under test to send ``message``."""
    service = node.node.transfers
    assert service is not None
    deadline = time.monotonic() + 30
    while True:
        try:
            service.act(pid, ACTIONS[message])
            return
        except Conflict as exc:
            # The consumer learns the provider's pid from the answer to its request.
            if exc.code != "transfer.counterparty_pid_unknown" or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", PROVIDER_SCENARIOS, ids=lambda s: s.id)
def test_provider_scenario(setup: Setup, scenario: Scenario) -> None:
    federation, tck = setup.federation, setup.tck
    provider, consumer = federation["provider"], federation["consumer"]
    agreement_id = f"urn:uuid:{uuid.uuid4()}"
    _agreement(provider, "provider", agreement_id, consumer, setup.tck_url + "/callback")
    ids = Ids(
        consumer_pid=f"urn:uuid:{uuid.uuid4()}",
        agreement_id=agreement_id,
        callback=setup.tck_url + "/callback",
        provider=provider.did,
        consumer=consumer.did,
    )
    pid: str | None = None
    with provider.client(federation.ca_file, admin=False) as client:
        for exchange in scenario.protocol_exchanges:
            initial = pid is None
            if exchange.sender == "TCK":
                endpoint = endpoint_for(exchange.message, "provider", initial=initial)
                response = client.post(
                    DSP + endpoint.format(providerPid=ids.provider_pid),
                    json=build_message(exchange.message, ids, initial=initial),
                    headers=_token(consumer, provider),
                )
                _check_answer(exchange, response)
                if initial:
                    pid = response.json()["providerPid"]
                    ids = ids.with_pids(pid, ids.consumer_pid)
            else:
                assert pid is not None
                _act(provider, pid, exchange.message)
                endpoint = endpoint_for(exchange.message, "consumer", initial=False)
                body = tck.expect(exchange.message, endpoint.format(consumerPid=ids.consumer_pid))
                if exchange.message == "TransferStartMessage":
                    # A pull's start carries where to fetch, with a data token.
                    assert body["dataAddress"]["endpoint"].endswith(f"/data/{pid}")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", CONSUMER_SCENARIOS, ids=lambda s: s.id)
def test_consumer_scenario(setup: Setup, scenario: Scenario) -> None:
    federation, tck = setup.federation, setup.tck
    provider, consumer = federation["provider"], federation["consumer"]
    service = consumer.node.transfers
    assert service is not None
    tck.provider_pid = f"urn:uuid:{uuid.uuid4()}"
    agreement_id = f"urn:uuid:{uuid.uuid4()}"
    _agreement(consumer, "consumer", agreement_id, provider, setup.tck_url)
    # The signal: the consumer requests a transfer from the TCK (which signs as the provider).
    view = service.start(agreement_id=agreement_id, transfer_type="HttpData-PULL", destination=None)
    ids = Ids(
        provider_pid=tck.provider_pid,
        consumer_pid=view["id"],
        agreement_id=agreement_id,
        provider=provider.did,
        consumer=consumer.did,
    )
    callback = DSP + "/callback"
    seen: set[str] = set()
    with consumer.client(federation.ca_file, admin=False) as client:
        for number, exchange in enumerate(scenario.protocol_exchanges):
            if exchange.sender == "CUT":
                if number > 0:
                    _act(consumer, view["id"], exchange.message)
                endpoint = endpoint_for(exchange.message, "provider", initial=number == 0)
                tck.expect(exchange.message, endpoint.format(providerPid=ids.provider_pid))
                continue
            endpoint = endpoint_for(exchange.message, "consumer", initial=False)
            response = client.post(
                callback + endpoint.format(consumerPid=ids.consumer_pid),
                json=_varied(build_message(exchange.message, ids, initial=False), seen),
                headers=_token(provider, consumer),
            )
            _check_answer(exchange, response)
