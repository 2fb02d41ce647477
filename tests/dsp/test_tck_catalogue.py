"""The TCK catalogue, and a pure-logic replay of every scenario against the state machines."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from tck import (
    ACK,
    AREAS,
    CORRECTIONS,
    ERROR,
    Endpoint,
    Exchange,
    Ids,
    Scenario,
    build_message,
    endpoint_for,
    load_catalogue,
    scenario_from_json,
)

from hansa.connector import dsp_messages as m
from hansa.connector.dsp_schemas import validate_message
from hansa.connector.negotiation_states import (
    InvalidTransition,
    NegotiationState,
    Party,
    is_final_negotiation_state,
    negotiation_message_kind,
    negotiation_transition,
)
from hansa.connector.transfer_states import (
    TransferState,
    is_final_transfer_state,
    transfer_transition,
)

CATALOGUE = load_catalogue()
PROCESS_SCENARIOS = [s for s in CATALOGUE if s.area.startswith(("negotiation", "transfer"))]
DISCOVERY_SCENARIOS = [s for s in CATALOGUE if s.area in ("metadata", "catalog")]
IDS = Ids()


def test_the_catalogue_has_67_scenarios_in_6_areas() -> None:
    assert len(CATALOGUE) == 67
    assert len({s.id for s in CATALOGUE}) == 67
    assert Counter(s.area for s in CATALOGUE) == {
        "metadata": 1,
        "catalog": 3,
        "negotiation-provider": 15,
        "negotiation-consumer": 16,
        "transfer-provider": 16,
        "transfer-consumer": 16,
    }
    assert set(AREAS) == {s.area for s in CATALOGUE}


def test_hansa_plays_the_role_the_area_says() -> None:
    for scenario in CATALOGUE:
        expected = "consumer" if scenario.area.endswith("consumer") else "provider"
        assert scenario.hansa_role == expected, scenario.id
        assert scenario.counterparty_role != scenario.hansa_role


def test_consumer_scenarios_start_with_a_signal() -> None:
    for scenario in CATALOGUE:
        starts_with_signal = scenario.exchanges[0].is_signal
        assert starts_with_signal == scenario.area.endswith("consumer"), scenario.id
        assert all(not e.is_signal for e in scenario.exchanges[1:])


def test_errors_come_only_at_the_last_step() -> None:
    negative = [s for s in CATALOGUE if s.expects_error]
    assert len(negative) == 1 + 4 + 6 + 6 + 6  # CAT:01-03, CN_03, CN_C_03, TP_03, TP_C_03
    for scenario in negative:
        assert scenario.exchanges[-1].expects_error, scenario.id
        assert not any(e.expects_error for e in scenario.exchanges[:-1]), scenario.id


def test_the_corrections_are_applied_and_noted() -> None:
    corrected = {s.id for s in CATALOGUE if s.corrections}
    assert corrected == set(CORRECTIONS)
    finalized = next(s for s in CATALOGUE if s.id == "CN:01-03")
    assert finalized.exchanges[-1] == Exchange(
        "CUT", "ContractNegotiationEventMessage:FINALIZED", ACK
    )
    not_found = next(s for s in CATALOGUE if s.id == "CAT:01-03")
    assert not_found.exchanges[-1].expects_error


def test_aliases_are_resolved() -> None:
    names = {e.message for s in CATALOGUE for e in s.exchanges}
    names |= {e.response for s in CATALOGUE for e in s.exchanges if e.response}
    for alias in ("ContractVerificationMessage", "CatalogDatasetMessage", "TransferRequest"):
        assert alias not in names
    assert "ContractNegotiationEventMessage:ACCEPTED" in names


@pytest.mark.parametrize(
    ("sequence", "problem"),
    [
        (["TCK->>CUT: CatalogRequestMessage"], "has no answer"),
        (["CUT-->>TCK: Catalog"], "without a message"),
        (["TCK->>CUT: CatalogRequestMessage", "TCK-->>CUT: Catalog"], "answers its own"),
        (["TCK=>CUT: CatalogRequestMessage"], "unreadable"),
        (["ABC->>CUT: CatalogRequestMessage", "CUT-->>ABC: Catalog"], "unknown actor"),
    ],
)
def test_malformed_sequences_are_refused(sequence: list[str], problem: str) -> None:
    entry: dict[str, Any] = {
        "id": "CAT:99-99",
        "name": "x",
        "group": "x",
        "class": "X",
        "method": "x",
        "tag": "x",
        "sequence": ["participant CUT as Connector Under Test (provider)", *sequence],
    }
    with pytest.raises(ValueError, match=problem):
        scenario_from_json(entry)


def _check_process_response(scenario: Scenario, exchange: Exchange, state: str) -> None:
    process_type = (
        "ContractNegotiation" if scenario.area.startswith("negotiation") else ("TransferProcess")
    )
    assert exchange.response in (ACK, process_type), (scenario.id, exchange)
    if exchange.response == process_type:
        builder = (
            m.contract_negotiation
            if process_type == "ContractNegotiation"
            else (m.transfer_process)
        )
        body = builder(provider_pid=IDS.provider_pid, consumer_pid=IDS.consumer_pid, state=state)
        assert validate_message(body, expected_type=process_type) == process_type


def _error_body(scenario: Scenario, error: InvalidTransition) -> dict[str, Any]:
    pids = {"provider_pid": IDS.provider_pid, "consumer_pid": IDS.consumer_pid}
    if scenario.area.startswith("negotiation"):
        return m.negotiation_error_for(error, **pids)
    return m.transfer_error_for(error, **pids)


State = NegotiationState | TransferState


def _transition(scenario: Scenario, state: State | None, kind: str, sender: Party) -> State:
    if scenario.area.startswith("negotiation"):
        assert not isinstance(state, TransferState)
        return negotiation_transition(state, kind, role=scenario.hansa_role, sender=sender)
    assert not isinstance(state, NegotiationState)
    return transfer_transition(state, kind, role=scenario.hansa_role, sender=sender)


def _is_final(state: State | None) -> bool:
    if isinstance(state, NegotiationState):
        return is_final_negotiation_state(state)
    return isinstance(state, TransferState) and is_final_transfer_state(state)


@pytest.mark.parametrize("scenario", PROCESS_SCENARIOS, ids=lambda s: s.id)
def test_replay_against_the_state_machines(scenario: Scenario) -> None:
    negotiation = scenario.area.startswith("negotiation")
    state: State | None = None
    steps = scenario.protocol_exchanges
    for position, exchange in enumerate(steps):
        sender = scenario.party(exchange.sender)
        initial = state is None
        body = build_message(exchange.message, IDS, initial=initial)
        message_type = validate_message(body)
        kind = negotiation_message_kind(body) if negotiation else message_type
        assert kind == exchange.message
        receiver = scenario.party(exchange.receiver)
        assert endpoint_for(kind, receiver, initial=initial).method == "POST"
        if exchange.expects_error:
            assert position == len(steps) - 1
            # Hansa is the receiver of the refused message in every negative scenario.
            assert exchange.receiver == "CUT"
            with pytest.raises(InvalidTransition) as caught:
                _transition(scenario, state, kind, sender)
            assert caught.value.status_code == 400
            validate_message(_error_body(scenario, caught.value))
            return
        state = _transition(scenario, state, kind, sender)
        _check_process_response(scenario, exchange, state.value)
    # Every positive scenario runs the process to a final state.
    assert _is_final(state), (scenario.id, state)


@pytest.mark.parametrize("scenario", DISCOVERY_SCENARIOS, ids=lambda s: s.id)
def test_discovery_scenarios_build_valid_requests_and_answers(scenario: Scenario) -> None:
    (exchange,) = scenario.exchanges
    assert exchange.sender == "TCK"
    endpoint = endpoint_for(exchange.message, "provider", initial=True)
    if exchange.message == "MetadataRequest":
        assert endpoint == Endpoint("GET", "/.well-known/dspace-version")
        answer = m.version_response([m.protocol_version("/dsp/2025-1")])
        assert validate_message(answer, expected_type=exchange.response) == "VersionResponse"
        return
    request = build_message(exchange.message, IDS, initial=True)
    assert validate_message(request) == exchange.message
    service = m.data_service("urn:uuid:service", "https://provider.example/dsp/2025-1")
    dataset = m.dataset(
        IDS.dataset_id,
        offers=[m.offer(IDS.offer_id, permission=[m.rule("use")])],
        distributions=[m.distribution("HttpData-PULL", service["@id"])],
    )
    answers = {
        "Catalog": m.catalog(
            "urn:uuid:catalog", participant_id=IDS.provider, datasets=[dataset], services=[service]
        ),
        "Dataset": dataset,
        ERROR: m.catalog_error("404", "no such dataset"),
    }
    assert exchange.response is not None
    validate_message(answers[exchange.response])
    if exchange.message == "DatasetRequestMessage":
        assert endpoint.format(id="urn:uuid:x") == "/catalog/datasets/urn:uuid:x"


def test_endpoints_of_the_https_binding() -> None:
    assert endpoint_for("ContractRequestMessage", "provider", initial=True) == Endpoint(
        "POST", "/negotiations/request"
    )
    counter = endpoint_for("ContractRequestMessage", "provider", initial=False)
    assert counter.format(providerPid="p1") == "/negotiations/p1/request"
    verification = endpoint_for("ContractAgreementVerificationMessage", "provider", initial=False)
    assert verification.path == "/negotiations/{providerPid}/agreement/verification"
    assert endpoint_for("ContractOfferMessage", "consumer", initial=True).path == (
        "/negotiations/offers"
    )
    start = endpoint_for("TransferStartMessage", "consumer", initial=False)
    assert start.format(consumerPid="c1") == "/transfers/c1/start"
    with pytest.raises(KeyError):
        endpoint_for("ContractAgreementMessage", "provider", initial=False)


def test_ids_can_take_the_pids_a_counterparty_chose() -> None:
    ids = IDS.with_pids("urn:uuid:p", "urn:uuid:c")
    body = build_message("TransferCompletionMessage", ids, initial=False)
    assert (body["providerPid"], body["consumerPid"]) == ("urn:uuid:p", "urn:uuid:c")
