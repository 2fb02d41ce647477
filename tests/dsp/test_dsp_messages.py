"""DSP message builders: every output validates, and rebuilding the official examples matches."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from hansa.connector import dsp_messages as m
from hansa.connector.dsp_schemas import DSP_CONTEXT, SCHEMA_DIR, validate_message
from hansa.connector.negotiation_states import InvalidTransition, negotiation_transition
from hansa.errors import NotFound

CONTEXTS = Path(__file__).parents[2] / "src/hansa/identity/contexts"
PROVIDER_PID = "urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab"
CONSUMER_PID = "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833"
PIDS = {"provider_pid": PROVIDER_PID, "consumer_pid": CONSUMER_PID}
TARGET = "urn:uuid:3dd1add8-4d2d-569e-d634-8394a8836a88"
CALLBACK = "https://example.com/callback"
USE = [m.rule("use")]
WHEN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def example(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMA_DIR / relative).read_text(encoding="utf-8"))
    return data


def an_offer(target: str | None = TARGET) -> dict[str, Any]:
    return m.offer("urn:uuid:offer-1", permission=USE, target=target)


def an_agreement() -> dict[str, Any]:
    return m.agreement(
        "urn:uuid:agreement-1",
        target=TARGET,
        assigner="did:web:provider.example",
        assignee="did:web:consumer.example",
        timestamp=WHEN,
        permission=[m.rule("use", m.constraint("dateTime", "lteq", "2026-12-31T00:00:00Z"))],
    )


def a_dataset(root: bool = True) -> dict[str, Any]:
    service = m.data_service("urn:uuid:service-1", "https://provider.example/dsp/2025-1")
    return m.dataset(
        TARGET,
        offers=[an_offer(target=None)],
        distributions=[m.distribution("HttpData-PULL", service)],
        root=root,
        title="Weather 2026",
    )


BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "CatalogRequestMessage": lambda: m.catalog_request_message(),
    "DatasetRequestMessage": lambda: m.dataset_request_message(TARGET),
    "Catalog": lambda: m.catalog(
        "urn:uuid:catalog-1",
        participant_id="did:web:provider.example",
        datasets=[a_dataset(root=True)],
        services=[m.data_service("urn:uuid:service-1", "https://provider.example/dsp")],
    ),
    "Dataset": a_dataset,
    "CatalogError": lambda: m.catalog_error("404", "no such dataset"),
    "ContractRequestMessage": lambda: m.contract_request_message(
        consumer_pid=CONSUMER_PID, offer=an_offer(), callback_address=CALLBACK
    ),
    "ContractOfferMessage": lambda: m.contract_offer_message(
        provider_pid=PROVIDER_PID, offer=an_offer(), consumer_pid=CONSUMER_PID
    ),
    "ContractAgreementMessage": lambda: m.contract_agreement_message(
        **PIDS, agreement=an_agreement()
    ),
    "ContractAgreementVerificationMessage": lambda: m.contract_agreement_verification_message(
        **PIDS
    ),
    "ContractNegotiationEventMessage": lambda: m.contract_negotiation_event_message(
        **PIDS, event_type="FINALIZED"
    ),
    "ContractNegotiationTerminationMessage": lambda: m.contract_negotiation_termination_message(
        **PIDS
    ),
    "ContractNegotiation": lambda: m.contract_negotiation(**PIDS, state="REQUESTED"),
    "ContractNegotiationError": lambda: m.contract_negotiation_error(**PIDS),
    "TransferRequestMessage": lambda: m.transfer_request_message(
        consumer_pid=CONSUMER_PID,
        agreement_id="urn:uuid:agreement-1",
        format="HttpData-PULL",
        callback_address=CALLBACK,
    ),
    "TransferStartMessage": lambda: m.transfer_start_message(
        **PIDS,
        data_address=m.data_address(
            "https://w3id.org/idsa/v4.1/HTTP",
            endpoint="https://provider.example/data",
            properties={"authorization": "token", "authType": "bearer"},
        ),
    ),
    "TransferSuspensionMessage": lambda: m.transfer_suspension_message(
        **PIDS, code="maintenance", reason=["back at noon"]
    ),
    "TransferCompletionMessage": lambda: m.transfer_completion_message(**PIDS),
    "TransferTerminationMessage": lambda: m.transfer_termination_message(**PIDS),
    "TransferProcess": lambda: m.transfer_process(**PIDS, state="STARTED"),
    "TransferError": lambda: m.transfer_error(**PIDS, code="x", reason="y"),
}


def test_there_is_a_builder_for_every_message_type() -> None:
    from hansa.connector.dsp_schemas import known_message_types

    assert set(BUILDERS) == set(known_message_types())


@pytest.mark.parametrize("message_type", sorted(BUILDERS))
def test_every_builder_output_validates(message_type: str) -> None:
    message = BUILDERS[message_type]()
    assert validate_message(message, expected_type=message_type) == message_type
    assert message["@context"] == [DSP_CONTEXT]
    json.dumps(message)  # plain JSON, nothing else


def test_the_context_is_bundled() -> None:
    bundled = json.loads((CONTEXTS / "dspace-2025-1.jsonld").read_text(encoding="utf-8"))
    assert "@context" in bundled
    assert DSP_CONTEXT == "https://w3id.org/dspace/2025/1/context.jsonld"


@pytest.mark.parametrize(
    ("relative", "build"),
    [
        (
            "negotiation/example/contract-offer-message_initial.json",
            lambda: m.contract_offer_message(
                provider_pid=PROVIDER_PID,
                offer=m.offer(
                    "urn:uuid:d526561f-528e-4d5a-ae12-9a9dd9b7a518", permission=USE, target=TARGET
                ),
                callback_address=CALLBACK,
            ),
        ),
        (
            "negotiation/example/contract-negotiation-event-message.json",
            lambda: m.contract_negotiation_event_message(**PIDS, event_type="ACCEPTED"),
        ),
        (
            "negotiation/example/contract-negotiation-termination-message.json",
            lambda: m.contract_negotiation_termination_message(
                **PIDS, code="99", reason="License model does not fit."
            ),
        ),
        (
            "negotiation/example/contract-negotiation-error.json",
            lambda: m.contract_negotiation_error(
                **PIDS, code="99", reason=["Catalog not provisioned for this requester."]
            ),
        ),
        (
            "transfer/example/transfer-request-message.json",
            lambda: m.transfer_request_message(
                consumer_pid=CONSUMER_PID,
                agreement_id="urn:uuid:e8dc8655-44c2-46ef-b701-4cffdc2faa44",
                format="example:HTTP_PUSH",
                callback_address=CALLBACK,
                data_address=m.data_address(
                    "https://w3id.org/idsa/v4.1/HTTP",
                    endpoint="http://example.com",
                    properties={"authorization": "TOKEN-ABCDEFG", "authType": "bearer"},
                ),
            ),
        ),
        ("catalog/example/catalog-request-message.json", lambda: m.catalog_request_message([])),
        (
            "negotiation/example/contract-negotiation.json",
            lambda: m.contract_negotiation(**PIDS, state="REQUESTED"),
        ),
        (
            "common/example/protocol-version.json",
            lambda: m.version_response(
                [
                    m.protocol_version(
                        "/some/path/2025-1", service_id="service-asdf", identifier_type="did:web"
                    ),
                    m.protocol_version(
                        "/some/path/2024-1",
                        version="2024-1",
                        service_id="service-asdf",
                        identifier_type="D-U-N-S",
                        auth={
                            "protocol": "OAuth",
                            "version": "2",
                            "profile": ["authorization_code", "refresh_token"],
                        },
                    ),
                    m.protocol_version(
                        "/different/path/2025-1",
                        service_id="service-qwerty",
                        auth={"protocol": "DCP", "version": "1.0", "profile": ["vc11-sl2021/jwt"]},
                    ),
                ]
            ),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_rebuilding_official_examples(relative: str, build: Callable[[], dict[str, Any]]) -> None:
    assert build() == example(relative)


def test_version_metadata_validates() -> None:
    body = m.version_response([m.protocol_version("/dsp/2025-1")])
    assert validate_message(body, expected_type="VersionResponse") == "VersionResponse"
    assert m.VERSION_METADATA_PATH == "/.well-known/dspace-version"
    with pytest.raises(ValueError, match="at least one"):
        m.version_response([])


def test_counter_offer_request_has_no_callback() -> None:
    message = m.contract_request_message(
        consumer_pid=CONSUMER_PID, offer=an_offer(), provider_pid=PROVIDER_PID
    )
    assert "callbackAddress" not in message
    validate_message(message)


@pytest.mark.parametrize("both", [True, False])
def test_request_and_offer_need_exactly_one_of_callback_and_pid(both: bool) -> None:
    extra: dict[str, str] = {"callback_address": CALLBACK} if both else {}
    with pytest.raises(ValueError, match="exactly one"):
        m.contract_request_message(
            consumer_pid=CONSUMER_PID,
            offer=an_offer(),
            **({"provider_pid": PROVIDER_PID} if both else {}),
            **extra,
        )
    with pytest.raises(ValueError, match="exactly one"):
        m.contract_offer_message(
            provider_pid=PROVIDER_PID,
            offer=an_offer(),
            **({"consumer_pid": CONSUMER_PID} if both else {}),
            **extra,
        )


def test_policy_needs_a_rule() -> None:
    with pytest.raises(ValueError, match="permission or prohibition"):
        m.offer("urn:uuid:x", obligation=USE)
    prohibited = m.offer("urn:uuid:x", prohibition=[m.rule("distribute")], target=TARGET)
    validate_message(
        m.contract_offer_message(
            provider_pid=PROVIDER_PID, offer=prohibited, callback_address=CALLBACK
        )
    )


def test_dataset_offers_must_not_have_a_target() -> None:
    with pytest.raises(ValueError, match="target"):
        m.dataset(TARGET, offers=[an_offer()], distributions=[])


def test_nested_datasets_lose_their_context() -> None:
    catalog = BUILDERS["Catalog"]()
    assert "@context" not in catalog["dataset"][0]
    assert "@context" not in a_dataset(root=False)
    assert catalog["dataset"][0]["title"] == "Weather 2026"


def test_agreement_timestamps_are_utc_and_aware() -> None:
    cest = timezone(timedelta(hours=2))
    assert m.xsd_datetime(datetime(2026, 5, 1, 14, 0, 30, 999, tzinfo=cest)) == (
        "2026-05-01T12:00:30Z"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        m.xsd_datetime(datetime(2026, 5, 1, 12, 0))
    assert an_agreement()["timestamp"] == "2026-05-01T12:00:00Z"


def test_unknown_event_type() -> None:
    with pytest.raises(ValueError, match="ACCEPTED or FINALIZED"):
        m.contract_negotiation_event_message(**PIDS, event_type="REJECTED")  # type: ignore[arg-type]


def test_empty_reason_is_left_out() -> None:
    assert "reason" not in m.transfer_error(**PIDS, reason=[])
    assert m.transfer_error(**PIDS, reason="why")["reason"] == ["why"]


def test_error_bodies_from_hansa_errors() -> None:
    with pytest.raises(InvalidTransition) as caught:
        negotiation_transition(None, "ContractAgreementMessage", role="consumer", sender="provider")
    body = m.negotiation_error_for(caught.value, **PIDS)
    assert validate_message(body) == "ContractNegotiationError"
    assert body["code"] == "dsp.invalid_state_transition"
    assert body["reason"] == [caught.value.detail]
    missing = NotFound("no such transfer process", code="dsp.unknown_process")
    assert validate_message(m.transfer_error_for(missing, **PIDS)) == "TransferError"
    assert validate_message(m.catalog_error_for(missing)) == "CatalogError"
