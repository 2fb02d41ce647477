"""The transfer process state machine: every state x every message x every sender."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from tck import figure_transitions

from hansa.connector.negotiation_states import Party
from hansa.connector.transfer_states import (
    TRANSFER_MESSAGE_KINDS,
    TRANSFER_TRANSITIONS,
    InvalidTransition,
    TransferState,
    is_final_transfer_state,
    transfer_messages_allowed,
    transfer_messages_expected,
    transfer_messages_to_send,
    transfer_transition,
)
from hansa.errors import BadRequest
from spec_paths import SPEC

T = TransferState
REQ = "TransferRequestMessage"
START = "TransferStartMessage"
SUSPEND = "TransferSuspensionMessage"
COMPLETE = "TransferCompletionMessage"
TERMINATE = "TransferTerminationMessage"

# Written out by hand from the spec's figure, independently of the module.
EXPECTED: dict[tuple[TransferState | None, str, Party], TransferState] = {
    (None, REQ, "consumer"): T.REQUESTED,
    (T.REQUESTED, START, "provider"): T.STARTED,
    (T.REQUESTED, TERMINATE, "provider"): T.TERMINATED,
    (T.REQUESTED, TERMINATE, "consumer"): T.TERMINATED,
    (T.STARTED, SUSPEND, "provider"): T.SUSPENDED,
    (T.STARTED, SUSPEND, "consumer"): T.SUSPENDED,
    (T.STARTED, COMPLETE, "provider"): T.COMPLETED,
    (T.STARTED, COMPLETE, "consumer"): T.COMPLETED,
    (T.STARTED, TERMINATE, "provider"): T.TERMINATED,
    (T.STARTED, TERMINATE, "consumer"): T.TERMINATED,
    (T.SUSPENDED, START, "provider"): T.STARTED,
    (T.SUSPENDED, START, "consumer"): T.STARTED,
    (T.SUSPENDED, TERMINATE, "provider"): T.TERMINATED,
    (T.SUSPENDED, TERMINATE, "consumer"): T.TERMINATED,
}

STATES: list[TransferState | None] = [None, *T]
SENDERS: list[Party] = ["provider", "consumer"]
GRID = list(itertools.product(STATES, TRANSFER_MESSAGE_KINDS, SENDERS, SENDERS))


def test_the_module_table_is_the_spec_table() -> None:
    assert dict(TRANSFER_TRANSITIONS) == EXPECTED
    assert len(GRID) == 6 * 5 * 2 * 2


@pytest.mark.parametrize(
    ("state", "kind", "sender", "role"),
    GRID,
    ids=[f"{st.value if st else 'START'}-{k}-{s}-as-{r}" for st, k, s, r in GRID],
)
def test_every_state_message_and_sender(
    state: TransferState | None, kind: str, sender: Party, role: Party
) -> None:
    expected = EXPECTED.get((state, kind, sender))
    if expected is not None:
        assert transfer_transition(state, kind, role=role, sender=sender) is expected
        return
    with pytest.raises(InvalidTransition) as caught:
        transfer_transition(state, kind, role=role, sender=sender)
    error = caught.value
    assert error.status_code == 400
    assert error.code == "dsp.invalid_state_transition"
    assert error.current_state == (state.value if state else None)
    assert error.message_type == kind
    allowed = [k for k in TRANSFER_MESSAGE_KINDS if (state, k, sender) in EXPECTED]
    assert error.allowed == allowed
    assert kind in error.detail
    if state is not None:
        assert state.value in error.detail


def test_suspend_and_resume_by_either_side() -> None:
    state = transfer_transition(None, REQ, role="provider", sender="consumer")
    state = transfer_transition(state, START, role="provider", sender="provider")
    state = transfer_transition(state, SUSPEND, role="provider", sender="consumer")
    state = transfer_transition(state, START, role="provider", sender="consumer")
    state = transfer_transition(state, SUSPEND, role="provider", sender="provider")
    state = transfer_transition(state, START, role="provider", sender="provider")
    assert transfer_transition(state, COMPLETE, role="provider", sender="consumer") is (T.COMPLETED)


@pytest.mark.parametrize(
    ("state", "kind", "sender", "reason"),
    [
        (T.REQUESTED, START, "consumer", "only resume a SUSPENDED transfer"),
        (T.SUSPENDED, COMPLETE, "provider", "does not apply in state SUSPENDED"),
        (T.COMPLETED, TERMINATE, "consumer", "COMPLETED is final"),
        (T.TERMINATED, START, "provider", "TERMINATED is final"),
        (None, START, "provider", "starts with a TransferRequestMessage"),
        (T.STARTED, REQ, "provider", "only the consumer sends"),
    ],
)
def test_reasons(state: TransferState | None, kind: str, sender: Party, reason: str) -> None:
    with pytest.raises(InvalidTransition, match=reason):
        transfer_transition(state, kind, role="provider", sender=sender)


def test_final_states() -> None:
    for state in (T.COMPLETED, T.TERMINATED):
        assert is_final_transfer_state(state)
        assert transfer_messages_allowed(state, "provider") == []
        assert transfer_messages_allowed(state, "consumer") == []
    assert not is_final_transfer_state(T.SUSPENDED)
    assert not is_final_transfer_state(None)


def test_unknown_message_kind() -> None:
    with pytest.raises(BadRequest) as caught:
        transfer_transition(T.STARTED, "ContractOfferMessage", role="provider", sender="consumer")
    assert not isinstance(caught.value, InvalidTransition)
    assert caught.value.code == "dsp.unknown_message_type"


def test_states_from_storage_may_be_plain_strings() -> None:
    stored = "STARTED"
    assert transfer_transition(stored, COMPLETE, role="consumer", sender="provider") is (  # type: ignore[arg-type]
        T.COMPLETED
    )


@pytest.mark.parametrize(
    ("state", "role", "to_send", "expected"),
    [
        (None, "consumer", [REQ], []),
        (None, "provider", [], [REQ]),
        (T.REQUESTED, "provider", [START, TERMINATE], [TERMINATE]),
        (T.REQUESTED, "consumer", [TERMINATE], [START, TERMINATE]),
        (T.STARTED, "consumer", [SUSPEND, COMPLETE, TERMINATE], [SUSPEND, COMPLETE, TERMINATE]),
        (T.SUSPENDED, "consumer", [START, TERMINATE], [START, TERMINATE]),
        (T.COMPLETED, "provider", [], []),
    ],
)
def test_what_may_i_send_now(
    state: TransferState | None, role: Party, to_send: list[str], expected: list[str]
) -> None:
    assert transfer_messages_to_send(state, role) == to_send
    assert transfer_messages_expected(state, role) == expected


def test_the_table_is_the_spec_figure() -> None:
    path = Path(SPEC / "dsp-2025-1/spec/transfer/figures/transfer-process-state-machine.puml")
    if not path.is_file():
        pytest.skip("spec figure not on this machine")
    figure = figure_transitions(path.read_text(encoding="utf-8"))
    assert figure == {(s.value if s else None, k, p) for s, k, p in TRANSFER_TRANSITIONS}
