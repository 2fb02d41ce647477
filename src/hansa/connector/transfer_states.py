"""The transfer process state machine of the Dataspace Protocol 2025-1, as pure functions.

The table, from the spec's state machine figure (C = consumer sends, P = provider)::

    (start)    TransferRequestMessage      C    -> REQUESTED
    REQUESTED  TransferStartMessage        P    -> STARTED
    STARTED    TransferSuspensionMessage   P/C  -> SUSPENDED
    STARTED    TransferCompletionMessage   P/C  -> COMPLETED
    SUSPENDED  TransferStartMessage        P/C  -> STARTED   (resume)
    REQUESTED, STARTED, SUSPENDED
               TransferTerminationMessage  P/C  -> TERMINATED

COMPLETED and TERMINATED are final. Only the provider starts a transfer the first
time (it alone knows the data address); either side may resume one that was
suspended. A suspended transfer cannot complete: it must be resumed first (TCK
TP:03-03, TP_C:03-03).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from hansa.connector.negotiation_states import PARTIES, InvalidTransition, Party
from hansa.errors import BadRequest

__all__ = [
    "FINAL_TRANSFER_STATES",
    "TRANSFER_MESSAGE_KINDS",
    "TRANSFER_SENDERS",
    "TRANSFER_TRANSITIONS",
    "InvalidTransition",
    "TransferState",
    "is_final_transfer_state",
    "transfer_messages_allowed",
    "transfer_messages_expected",
    "transfer_messages_to_send",
    "transfer_transition",
]


class TransferState(StrEnum):
    """The states of a transfer process, spelt as on the wire."""

    REQUESTED = "REQUESTED"
    STARTED = "STARTED"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    TERMINATED = "TERMINATED"


FINAL_TRANSFER_STATES = frozenset({TransferState.COMPLETED, TransferState.TERMINATED})

TRANSFER_REQUEST = "TransferRequestMessage"
TRANSFER_START = "TransferStartMessage"
TRANSFER_SUSPENSION = "TransferSuspensionMessage"
TRANSFER_COMPLETION = "TransferCompletionMessage"
TRANSFER_TERMINATION = "TransferTerminationMessage"

TRANSFER_MESSAGE_KINDS: tuple[str, ...] = (
    TRANSFER_REQUEST,
    TRANSFER_START,
    TRANSFER_SUSPENSION,
    TRANSFER_COMPLETION,
    TRANSFER_TERMINATION,
)

# Who may send each kind at all; the consumer's TransferStartMessage only resumes.
TRANSFER_SENDERS: Mapping[str, frozenset[Party]] = {
    TRANSFER_REQUEST: frozenset({"consumer"}),
    TRANSFER_START: frozenset({"provider", "consumer"}),
    TRANSFER_SUSPENSION: frozenset({"provider", "consumer"}),
    TRANSFER_COMPLETION: frozenset({"provider", "consumer"}),
    TRANSFER_TERMINATION: frozenset({"provider", "consumer"}),
}

_T = TransferState

TRANSFER_TRANSITIONS: Mapping[tuple[TransferState | None, str, Party], TransferState] = {
    (None, TRANSFER_REQUEST, "consumer"): _T.REQUESTED,
    (_T.REQUESTED, TRANSFER_START, "provider"): _T.STARTED,
    **{(_T.STARTED, TRANSFER_SUSPENSION, party): _T.SUSPENDED for party in PARTIES},
    **{(_T.STARTED, TRANSFER_COMPLETION, party): _T.COMPLETED for party in PARTIES},
    **{(_T.SUSPENDED, TRANSFER_START, party): _T.STARTED for party in PARTIES},
    **{
        (state, TRANSFER_TERMINATION, party): _T.TERMINATED
        for state in (_T.REQUESTED, _T.STARTED, _T.SUSPENDED)
        for party in PARTIES
    },
}


def transfer_messages_allowed(state: TransferState | None, sender: Party) -> list[str]:
    """The message kinds ``sender`` may send in ``state``, in protocol order."""
    return [
        kind for kind in TRANSFER_MESSAGE_KINDS if (state, kind, sender) in TRANSFER_TRANSITIONS
    ]


def transfer_messages_to_send(state: TransferState | None, role: Party) -> list[str]:
    """What we, playing ``role``, may send now (for the management API's actions)."""
    return transfer_messages_allowed(state, role)


def transfer_messages_expected(state: TransferState | None, role: Party) -> list[str]:
    """What the counter-party of ``role`` may send us now."""
    return transfer_messages_allowed(state, "consumer" if role == "provider" else "provider")


def is_final_transfer_state(state: TransferState | None) -> bool:
    """True for COMPLETED and TERMINATED, from which nothing moves."""
    return state in FINAL_TRANSFER_STATES


def transfer_transition(
    state: TransferState | None,
    message_type: str,
    *,
    role: Party,
    sender: Party,
) -> TransferState:
    """The state after ``sender`` sends ``message_type`` in ``state``.

    ``state`` None means no transfer process exists yet. ``role`` is the side we play;
    ``sender == role`` checks a message we are about to send, otherwise one we
    received. Raises ``InvalidTransition`` (400, answered with a ``TransferError``).
    """
    if message_type not in TRANSFER_SENDERS:
        raise BadRequest(
            f"{message_type!r} is not a transfer process message; use one of "
            f"{', '.join(TRANSFER_MESSAGE_KINDS)}.",
            code="dsp.unknown_message_type",
            pointer="/@type",
        )
    state = TransferState(state) if state is not None else None
    target = TRANSFER_TRANSITIONS.get((state, message_type, sender))
    if target is not None:
        return target
    raise InvalidTransition(
        _explain(state, message_type, role=role, sender=sender),
        current_state=state.value if state is not None else None,
        message_type=message_type,
        sender=sender,
        allowed=transfer_messages_allowed(state, sender),
    )


def _explain(state: TransferState | None, kind: str, *, role: Party, sender: Party) -> str:
    where = f"in state {state.value}" if state is not None else "without an existing process"
    direction = "we cannot send" if sender == role else f"the {sender} may not send"
    if sender not in TRANSFER_SENDERS[kind]:
        reason = f"only the {' or '.join(sorted(TRANSFER_SENDERS[kind]))} sends a {kind}"
    elif state is not None and state in FINAL_TRANSFER_STATES:
        reason = f"{state.value} is final; request a new transfer instead"
    elif state is None:
        reason = "a transfer process starts with a TransferRequestMessage from the consumer"
    elif kind == TRANSFER_START and sender == "consumer":
        reason = "the consumer may only resume a SUSPENDED transfer"
    else:
        reason = f"a {kind} does not apply {where}"
    allowed = transfer_messages_allowed(state, sender)
    allowed_text = ", ".join(allowed) if allowed else "nothing"
    return (
        f"Transfer process {where}: {direction} a {kind} ({reason}). "
        f"The {sender} may send: {allowed_text}."
    )
