"""The TCK's negotiation scenarios replayed over HTTPS against running Hansa nodes.

The test plays the TCK: for provider scenarios (``CN:*``) it is the consumer, sending
messages to the provider node's DSP endpoints with DCP tokens and taking the provider's
messages at a callback server of its own; for consumer scenarios (``CN_C:*``) it is the
provider, answering the consumer node's requests at a DSP endpoint of its own and sending
messages to the consumer's callback address. What the connector under test sends on its
own initiative is asked for through its management API (agree, offer, finalize, accept,
request, verify, terminate: the nodes do not accept automatically here). Every step checks the
HTTP answer the scenario expects, and that the message arrives at the binding's endpoint.
A message the TCK sends twice in a scenario (a second counter-offer) carries a new offer
@id: an identical message is a retry, and the connector answers it as the first time.
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
from hansa.demo.federation import LocalFederation, RunningNode
from hansa.errors import Conflict
from hansa.serving import BackgroundServer
from ports import free_port_block

DSP = "/dsp/2025-1"
SCENARIOS = [s for s in load_catalogue() if s.area.startswith("negotiation")]
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
            self.received.put(("/" + path, body))
            initial = path.endswith("negotiations/request")
            ack = m.contract_negotiation(
                provider_pid=body.get("providerPid") or self.provider_pid,
                consumer_pid=body.get("consumerPid", ""),
                state="REQUESTED" if initial else "OFFERED",
            )
            return JSONResponse(ack, status_code=201 if initial else 200)

        return app

    def expect(self, message: str, path: str) -> dict[str, Any]:
        got_path, body = self.received.get(timeout=30)
        validate_message(body)
        kind = body["@type"]
        if kind == "ContractNegotiationEventMessage":
            kind += ":" + body["eventType"]
        assert kind == message, f"expected {message}, the connector sent {kind}"
        assert got_path.endswith(path), f"{kind} went to {got_path}, not to ...{path}"
        return body


@dataclass
class Setup:
    federation: LocalFederation
    tck: Counterparty
    tck_url: str
    offer_id: str
    dataset_id: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root: Path = tmp_path_factory.mktemp("tck-federation")
    with LocalFederation(root, base_port=free_port_block()) as federation:
        provider, consumer = federation["provider"], federation["consumer"]
        assets = provider.node.assets
        assert assets is not None
        assets.create_asset({"type": "HttpData", "baseUrl": "https://data.example.eu/x"}, id="ds")
        assets.create_policy(
            {"@context": "http://www.w3.org/ns/odrl.jsonld", "permission": [{"action": "use"}]},
            id="use",
        )
        assets.create_offer("ds", "use", id="offer")
        for running in (provider, consumer):
            assert running.node.negotiations is not None
            running.node.negotiations.auto_accept = False  # every move is the test's
        tck = Counterparty()
        # The TCK's server presents the consumer's localhost certificate (the federation CA).
        server = BackgroundServer(
            tck.app(),
            port=free_port_block(1),
            certfile=consumer.settings.tls_cert_file,
            keyfile=consumer.settings.tls_key_file,
        ).start()
        try:
            yield Setup(federation, tck, f"https://localhost:{server.port}", "offer", "ds")
        finally:
            # The nodes' idle keep-alive connections to the TCK's server close first.
            for running in federation.nodes.values():
                running.node.http.close()
            server.stop()


def _token(sender: RunningNode, receiver: RunningNode) -> dict[str, str]:
    sts = SecureTokenService(sender.did, wallet_signer(sender.did, sender.node.identity.wallet))
    return {"Authorization": f"Bearer {sts.id_token(receiver.did)}"}


def _check_answer(exchange: Exchange, response: httpx.Response) -> None:
    if exchange.response == ERROR:
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["@type"] == "ContractNegotiationError"
    elif exchange.response == ACK:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code in (200, 201), response.text
        assert response.json()["@type"] == exchange.response


def _act(node: RunningNode, pid: str, message: str, offer: dict[str, Any]) -> None:
    """Ask the node under test to send ``message`` through its management API."""
    action = {
        "ContractOfferMessage": "offer",
        "ContractRequestMessage": "request",
        "ContractAgreementMessage": "agree",
        "ContractAgreementVerificationMessage": "verify",
        "ContractNegotiationEventMessage:ACCEPTED": "accept",
        "ContractNegotiationTerminationMessage": "terminate",
        "ContractNegotiationEventMessage:FINALIZED": "finalize",
    }[message]
    service = node.node.negotiations
    assert service is not None
    deadline = time.monotonic() + 30
    while True:
        try:
            service.act(pid, action, offer=offer if action in ("offer", "request") else None)
            return
        except Conflict as exc:
            # A consumer learns the provider's pid from the answer to its request, which
            # its outbox may not have read yet: the error says to try again.
            if exc.code != "negotiation.counterparty_pid_unknown" or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _varied(message: dict[str, Any], seen: set[str]) -> dict[str, Any]:
    """A repeated offer or request with a new offer @id: an identical message would be a
    retry, which the connector answers as before (idempotency), not a new counter-offer."""
    kind = message["@type"]
    if "offer" in message and kind in seen:
        offer = {**message["offer"], "@id": f"{message['offer']['@id']}:{uuid.uuid4().hex[:6]}"}
        message = {**message, "offer": offer}
    seen.add(kind)
    return message


@pytest.mark.slow
@pytest.mark.parametrize("scenario", PROVIDER_SCENARIOS, ids=lambda s: s.id)
def test_provider_scenario(setup: Setup, scenario: Scenario) -> None:
    federation, tck = setup.federation, setup.tck
    provider, consumer = federation["provider"], federation["consumer"]
    ids = Ids(
        consumer_pid=f"urn:uuid:{uuid.uuid4()}",
        dataset_id=setup.dataset_id,
        offer_id=setup.offer_id,
        callback=setup.tck_url + "/callback",
        provider=provider.did,
        consumer=consumer.did,
    )
    offer = m.offer(ids.offer_id, permission=[m.rule("use")], target=ids.dataset_id)
    pid: str | None = None
    seen: set[str] = set()
    with provider.client(federation.ca_file, admin=False) as client:
        for exchange in scenario.protocol_exchanges:
            initial = pid is None
            if exchange.sender == "TCK":
                endpoint = endpoint_for(exchange.message, "provider", initial=initial)
                body = _varied(build_message(exchange.message, ids, initial=initial), seen)
                response = client.post(
                    DSP + endpoint.format(providerPid=ids.provider_pid),
                    json=body,
                    headers=_token(consumer, provider),
                )
                _check_answer(exchange, response)
                if initial:
                    pid = response.json()["providerPid"]
                    ids = ids.with_pids(pid, ids.consumer_pid)
            else:
                assert pid is not None
                _act(provider, pid, exchange.message, offer)
                endpoint = endpoint_for(exchange.message, "consumer", initial=False)
                tck.expect(exchange.message, endpoint.format(consumerPid=ids.consumer_pid))


@pytest.mark.slow
@pytest.mark.parametrize("scenario", CONSUMER_SCENARIOS, ids=lambda s: s.id)
def test_consumer_scenario(setup: Setup, scenario: Scenario) -> None:
    federation, tck = setup.federation, setup.tck
    provider, consumer = federation["provider"], federation["consumer"]
    service = consumer.node.negotiations
    assert service is not None
    tck.provider_pid = f"urn:uuid:{uuid.uuid4()}"
    offer = m.offer(setup.offer_id, permission=[m.rule("use")], target=setup.dataset_id)
    # The signal: the consumer starts a negotiation with the TCK (which signs as the provider).
    view = service.start(provider_address=setup.tck_url, provider_did=provider.did, offer=offer)
    ids = Ids(
        provider_pid=tck.provider_pid,
        consumer_pid=view["id"],
        dataset_id=setup.dataset_id,
        offer_id=setup.offer_id,
        provider=provider.did,
        consumer=consumer.did,
    )
    callback = DSP + "/callback"
    seen: set[str] = set()
    with consumer.client(federation.ca_file, admin=False) as client:
        for number, exchange in enumerate(scenario.protocol_exchanges):
            if exchange.sender == "CUT":
                if number > 0:
                    _act(consumer, view["id"], exchange.message, offer)
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


@pytest.mark.slow
def test_the_consumer_terminates_an_agreement_that_differs_from_its_request(setup: Setup) -> None:
    federation, tck = setup.federation, setup.tck
    provider, consumer = federation["provider"], federation["consumer"]
    service = consumer.node.negotiations
    assert service is not None
    tck.provider_pid = f"urn:uuid:{uuid.uuid4()}"
    offer = m.offer(setup.offer_id, permission=[m.rule("use")], target=setup.dataset_id)
    service.auto_accept = True  # it verifies agreements by itself, after checking them
    try:
        view = service.start(provider_address=setup.tck_url, provider_did=provider.did, offer=offer)
        tck.expect("ContractRequestMessage", "/negotiations/request")
        wider = m.agreement(
            "urn:uuid:wider",
            target=setup.dataset_id,
            assigner=provider.did,
            assignee=consumer.did,
            timestamp=datetime.now(UTC),
            permission=[m.rule("distribute")],
        )
        body = m.contract_agreement_message(
            provider_pid=tck.provider_pid, consumer_pid=view["id"], agreement=wider
        )
        with consumer.client(federation.ca_file, admin=False) as client:
            response = client.post(
                f"{DSP}/callback/negotiations/{view['id']}/agreement",
                json=body,
                headers=_token(provider, consumer),
            )
        assert response.status_code == 200
        assert response.json()["state"] == "AGREED"
        ended = tck.expect(
            "ContractNegotiationTerminationMessage", f"/negotiations/{tck.provider_pid}/termination"
        )
        assert ended["code"] == "negotiation.agreement_mismatch"
        assert "rules differ" in ended["reason"][0]
    finally:
        service.auto_accept = False
    assert service.view(view["id"])["state"] == "TERMINATED"
