"""The contract negotiation state machine: every state x every message x every sender."""

from __future__ import annotations

import itertools

import pytest
from tck import figure_transitions

from hansa.connector.negotiation_states import (
    NEGOTIATION_MESSAGE_KINDS,
    NEGOTIATION_TRANSITIONS,
    InvalidTransition,
    NegotiationState,
    Party,
    is_final_negotiation_state,
    negotiation_message_kind,
    negotiation_messages_allowed,
    negotiation_messages_expected,
    negotiation_messages_to_send,
    negotiation_transition,
)
from hansa.errors import BadRequest, HansaError
from spec_paths import SPEC

S = NegotiationState
REQ = "ContractRequestMessage"
OFFER = "ContractOfferMessage"
AGREE = "ContractAgreementMessage"
VERIFY = "ContractAgreementVerificationMessage"
ACCEPTED = "ContractNegotiationEventMessage:ACCEPTED"
FINALIZED = "ContractNegotiationEventMessage:FINALIZED"
TERMINATE = "ContractNegotiationTerminationMessage"

# Written out by hand from the spec's figure and text, independently of the module.
EXPECTED: dict[tuple[NegotiationState | None, str, Party], NegotiationState] = {
    (None, REQ, "consumer"): S.REQUESTED,
    (None, OFFER, "provider"): S.OFFERED,
    (S.REQUESTED, OFFER, "provider"): S.OFFERED,
    (S.REQUESTED, AGREE, "provider"): S.AGREED,
    (S.REQUESTED, TERMINATE, "provider"): S.TERMINATED,
    (S.REQUESTED, TERMINATE, "consumer"): S.TERMINATED,
    (S.OFFERED, REQ, "consumer"): S.REQUESTED,
    (S.OFFERED, ACCEPTED, "consumer"): S.ACCEPTED,
    (S.OFFERED, TERMINATE, "provider"): S.TERMINATED,
    (S.OFFERED, TERMINATE, "consumer"): S.TERMINATED,
    (S.ACCEPTED, AGREE, "provider"): S.AGREED,
    (S.ACCEPTED, TERMINATE, "provider"): S.TERMINATED,
    (S.ACCEPTED, TERMINATE, "consumer"): S.TERMINATED,
    (S.AGREED, VERIFY, "consumer"): S.VERIFIED,
    (S.AGREED, TERMINATE, "provider"): S.TERMINATED,
    (S.AGREED, TERMINATE, "consumer"): S.TERMINATED,
    (S.VERIFIED, FINALIZED, "provider"): S.FINALIZED,
    (S.VERIFIED, TERMINATE, "provider"): S.TERMINATED,
    (S.VERIFIED, TERMINATE, "consumer"): S.TERMINATED,
}

STATES: list[NegotiationState | None] = [None, *S]
SENDERS: list[Party] = ["provider", "consumer"]
GRID = list(itertools.product(STATES, NEGOTIATION_MESSAGE_KINDS, SENDERS, SENDERS))


def test_the_module_table_is_the_spec_table() -> None:
    assert dict(NEGOTIATION_TRANSITIONS) == EXPECTED
    assert len(NEGOTIATION_MESSAGE_KINDS) == 7
    assert len(GRID) == 8 * 7 * 2 * 2


@pytest.mark.parametrize(
    ("state", "kind", "sender", "role"),
    GRID,
    ids=[f"{st.value if st else 'START'}-{k}-{s}-as-{r}" for st, k, s, r in GRID],
)
def test_every_state_message_and_sender(
    state: NegotiationState | None, kind: str, sender: Party, role: Party
) -> None:
    expected = EXPECTED.get((state, kind, sender))
    if expected is not None:
        assert negotiation_transition(state, kind, role=role, sender=sender) is expected
        return
    with pytest.raises(InvalidTransition) as caught:
        negotiation_transition(state, kind, role=role, sender=sender)
    error = caught.value
    assert isinstance(error, BadRequest)
    assert isinstance(error, HansaError)
    assert error.status_code == 400
    assert error.code == "dsp.invalid_state_transition"
    assert error.current_state == (state.value if state else None)
    assert error.message_type == kind
    assert error.sender == sender
    allowed = [k for k in NEGOTIATION_MESSAGE_KINDS if (state, k, sender) in EXPECTED]
    assert error.allowed == allowed
    assert kind in error.detail
    if state is not None:
        assert state.value in error.detail
    for name in allowed:
        assert name in error.detail
    if not allowed:
        assert "may send: nothing" in error.detail


def test_counter_offers_go_back_and_forth() -> None:
    state = negotiation_transition(None, REQ, role="provider", sender="consumer")
    state = negotiation_transition(state, OFFER, role="provider", sender="provider")
    state = negotiation_transition(state, REQ, role="provider", sender="consumer")
    state = negotiation_transition(state, OFFER, role="provider", sender="provider")
    assert state is S.OFFERED
    with pytest.raises(InvalidTransition):
        negotiation_transition(S.REQUESTED, REQ, role="provider", sender="consumer")


def test_nothing_moves_a_final_state() -> None:
    for state in (S.FINALIZED, S.TERMINATED):
        assert is_final_negotiation_state(state)
        for sender in SENDERS:
            assert negotiation_messages_allowed(state, sender) == []
        with pytest.raises(InvalidTransition, match="is final"):
            negotiation_transition(state, TERMINATE, role="consumer", sender="provider")
    assert not is_final_negotiation_state(None)
    assert not is_final_negotiation_state(S.VERIFIED)


def test_wrong_sender_is_named() -> None:
    with pytest.raises(InvalidTransition, match="only the provider sends"):
        negotiation_transition(S.VERIFIED, FINALIZED, role="provider", sender="consumer")
    with pytest.raises(InvalidTransition, match="only the consumer sends"):
        negotiation_transition(S.OFFERED, ACCEPTED, role="consumer", sender="provider")


def test_direction_in_the_message() -> None:
    with pytest.raises(InvalidTransition, match="we cannot send"):
        negotiation_transition(S.OFFERED, AGREE, role="provider", sender="provider")
    with pytest.raises(InvalidTransition, match="the provider may not send"):
        negotiation_transition(S.OFFERED, AGREE, role="consumer", sender="provider")
    with pytest.raises(InvalidTransition, match="without an existing negotiation"):
        negotiation_transition(None, AGREE, role="consumer", sender="provider")


def test_problem_json_carries_state_and_allowed_messages() -> None:
    with pytest.raises(InvalidTransition) as caught:
        negotiation_transition(S.REQUESTED, FINALIZED, role="consumer", sender="provider")
    problem = caught.value.to_problem()
    assert problem["status"] == 400
    assert problem["code"] == "dsp.invalid_state_transition"
    assert problem["state"] == "REQUESTED"
    assert problem["messageType"] == FINALIZED
    assert problem["allowed"] == [OFFER, AGREE, TERMINATE]


def test_event_kinds_and_spellings() -> None:
    assert negotiation_message_kind({"@type": "ContractNegotiationEventMessage"}) == (
        "ContractNegotiationEventMessage:"
    )
    event = {"@type": "ContractNegotiationEventMessage", "eventType": "FINALIZED"}
    assert negotiation_message_kind(event) == FINALIZED
    assert negotiation_message_kind({"@type": REQ}) == REQ
    # The TCK spells events in lower case.
    lower = "ContractNegotiationEventMessage:accepted"
    assert negotiation_transition(S.OFFERED, lower, role="provider", sender="consumer") is (
        S.ACCEPTED
    )


def test_states_from_storage_may_be_plain_strings() -> None:
    state = negotiation_transition(
        "AGREED",  # type: ignore[arg-type]
        VERIFY,
        role="provider",
        sender="consumer",
    )
    assert state is S.VERIFIED


@pytest.mark.parametrize(
    "kind",
    [
        "TransferStartMessage",
        "ContractNegotiationEventMessage",
        "ContractNegotiationEventMessage:X",
    ],
)
def test_unknown_message_kind(kind: str) -> None:
    with pytest.raises(BadRequest) as caught:
        negotiation_transition(S.OFFERED, kind, role="provider", sender="consumer")
    assert not isinstance(caught.value, InvalidTransition)
    assert caught.value.code == "dsp.unknown_message_type"
    assert caught.value.pointer == "/@type"


@pytest.mark.parametrize(
    ("state", "role", "to_send", "expected"),
    [
        (None, "consumer", [REQ], [OFFER]),
        (None, "provider", [OFFER], [REQ]),
        (S.REQUESTED, "provider", [OFFER, AGREE, TERMINATE], [TERMINATE]),
        (S.OFFERED, "consumer", [REQ, ACCEPTED, TERMINATE], [TERMINATE]),
        (S.ACCEPTED, "provider", [AGREE, TERMINATE], [TERMINATE]),
        (S.AGREED, "consumer", [VERIFY, TERMINATE], [TERMINATE]),
        (S.VERIFIED, "provider", [FINALIZED, TERMINATE], [TERMINATE]),
        (S.FINALIZED, "provider", [], []),
    ],
)
def test_what_may_i_send_now(
    state: NegotiationState | None, role: Party, to_send: list[str], expected: list[str]
) -> None:
    assert negotiation_messages_to_send(state, role) == to_send
    assert negotiation_messages_expected(state, role) == expected


FIGURES = SPEC / "dsp-2025-1" / "spec"


def test_the_table_covers_the_spec_figure() -> None:
    path = FIGURES / "negotiation/figures/contract.negotiation.state.machine.puml"
    if not path.is_file():
        pytest.skip("spec figure not on this machine")
    figure = figure_transitions(path.read_text(encoding="utf-8"))
    ours = {(s.value if s else None, k, p) for s, k, p in NEGOTIATION_TRANSITIONS}
    assert len(figure) == 16
    assert figure <= ours
    # What we add to the figure: the other party's termination in three states.
    assert ours - figure == {
        ("ACCEPTED", TERMINATE, "consumer"),
        ("AGREED", TERMINATE, "provider"),
        ("VERIFIED", TERMINATE, "consumer"),
    }
