"""The contract negotiation state machine of the Dataspace Protocol 2025-1, as pure functions.

Both parties track the same state; a message moves it when the receiver acknowledges
it. ``negotiation_transition`` answers, for the current state, a message kind and who
sends it, the next state, or raises ``InvalidTransition`` (HTTP 400, answered with a
``ContractNegotiationError``). The same table serves inbound messages (we check what
the counter-party sent) and outbound ones (we check what we are about to send).

The table, from the spec's state machine figure (C = consumer sends, P = provider)::

    (start)   ContractRequestMessage                C  -> REQUESTED
    (start)   ContractOfferMessage                  P  -> OFFERED
    REQUESTED ContractOfferMessage (counter-offer)  P  -> OFFERED
    REQUESTED ContractAgreementMessage              P  -> AGREED
    OFFERED   ContractRequestMessage (counter-offer) C -> REQUESTED
    OFFERED   ContractNegotiationEventMessage:ACCEPTED   C -> ACCEPTED
    ACCEPTED  ContractAgreementMessage              P  -> AGREED
    AGREED    ContractAgreementVerificationMessage  C  -> VERIFIED
    VERIFIED  ContractNegotiationEventMessage:FINALIZED  P -> FINALIZED
    any non-final state  ContractNegotiationTerminationMessage  C/P -> TERMINATED

FINALIZED and TERMINATED are final: nothing moves them. The figure labels a few
termination arrows with one party only (ACCEPTED and VERIFIED: P, AGREED: C), but the
normative text says the termination message "MAY be sent at any state" by either
party, and a party must always be able to walk away, so both may terminate.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from hansa.errors import BadRequest

Party = Literal["provider", "consumer"]
PARTIES: tuple[Party, Party] = ("provider", "consumer")


class NegotiationState(StrEnum):
    """The states of a contract negotiation, spelt as on the wire."""

    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"


FINAL_NEGOTIATION_STATES = frozenset({NegotiationState.FINALIZED, NegotiationState.TERMINATED})

# Message kinds: the @type, with the event type appended for event messages, because
# ACCEPTED and FINALIZED events move the machine differently.
CONTRACT_REQUEST = "ContractRequestMessage"
CONTRACT_OFFER = "ContractOfferMessage"
CONTRACT_AGREEMENT = "ContractAgreementMessage"
AGREEMENT_VERIFICATION = "ContractAgreementVerificationMessage"
EVENT_ACCEPTED = "ContractNegotiationEventMessage:ACCEPTED"
EVENT_FINALIZED = "ContractNegotiationEventMessage:FINALIZED"
NEGOTIATION_TERMINATION = "ContractNegotiationTerminationMessage"

NEGOTIATION_MESSAGE_KINDS: tuple[str, ...] = (
    CONTRACT_REQUEST,
    CONTRACT_OFFER,
    CONTRACT_AGREEMENT,
    AGREEMENT_VERIFICATION,
    EVENT_ACCEPTED,
    EVENT_FINALIZED,
    NEGOTIATION_TERMINATION,
)

# Who may send each kind at all (the spec's "Sent by").
NEGOTIATION_SENDERS: Mapping[str, frozenset[Party]] = {
    CONTRACT_REQUEST: frozenset({"consumer"}),
    CONTRACT_OFFER: frozenset({"provider"}),
    CONTRACT_AGREEMENT: frozenset({"provider"}),
    AGREEMENT_VERIFICATION: frozenset({"consumer"}),
    EVENT_ACCEPTED: frozenset({"consumer"}),
    EVENT_FINALIZED: frozenset({"provider"}),
    NEGOTIATION_TERMINATION: frozenset({"provider", "consumer"}),
}

_S = NegotiationState

NEGOTIATION_TRANSITIONS: Mapping[tuple[NegotiationState | None, str, Party], NegotiationState] = {
    (None, CONTRACT_REQUEST, "consumer"): _S.REQUESTED,
    (None, CONTRACT_OFFER, "provider"): _S.OFFERED,
    (_S.REQUESTED, CONTRACT_OFFER, "provider"): _S.OFFERED,
    (_S.REQUESTED, CONTRACT_AGREEMENT, "provider"): _S.AGREED,
    (_S.OFFERED, CONTRACT_REQUEST, "consumer"): _S.REQUESTED,
    (_S.OFFERED, EVENT_ACCEPTED, "consumer"): _S.ACCEPTED,
    (_S.ACCEPTED, CONTRACT_AGREEMENT, "provider"): _S.AGREED,
    (_S.AGREED, AGREEMENT_VERIFICATION, "consumer"): _S.VERIFIED,
    (_S.VERIFIED, EVENT_FINALIZED, "provider"): _S.FINALIZED,
    **{
        (state, NEGOTIATION_TERMINATION, party): _S.TERMINATED
        for state in _S
        if state not in FINAL_NEGOTIATION_STATES
        for party in PARTIES
    },
}


class InvalidTransition(BadRequest):
    """A message that the protocol does not allow in the process's current state.

    Answered with HTTP 400 and a ``ContractNegotiationError`` / ``TransferError``.
    ``current_state`` is None when no process exists yet; ``allowed`` lists the message
    kinds the same sender could send instead.
    """

    default_code = "dsp.invalid_state_transition"
    title = "Invalid state transition"

    def __init__(
        self,
        detail: str,
        *,
        current_state: str | None,
        message_type: str,
        sender: Party,
        allowed: list[str],
        **extra: Any,
    ) -> None:
        super().__init__(
            detail,
            state=current_state,
            messageType=message_type,
            sender=sender,
            allowed=allowed,
            **extra,
        )
        self.current_state = current_state
        self.message_type = message_type
        self.sender = sender
        self.allowed = allowed


def negotiation_message_kind(message: Mapping[str, Any]) -> str:
    """The kind of a (schema-valid) negotiation message: its @type, plus the event type."""
    message_type = str(message.get("@type"))
    if message_type == "ContractNegotiationEventMessage":
        return f"{message_type}:{str(message.get('eventType', '')).upper()}"
    return message_type


def _normalise_kind(message_type: str) -> str:
    # The TCK writes "ContractNegotiationEventMessage:accepted"; the wire says ACCEPTED.
    name, colon, event = message_type.partition(":")
    kind = f"{name}:{event.upper()}" if colon else name
    if kind not in NEGOTIATION_SENDERS:
        raise BadRequest(
            f"{message_type!r} is not a contract negotiation message; use one of "
            f"{', '.join(NEGOTIATION_MESSAGE_KINDS)}.",
            code="dsp.unknown_message_type",
            pointer="/@type",
        )
    return kind


def negotiation_messages_allowed(state: NegotiationState | None, sender: Party) -> list[str]:
    """The message kinds ``sender`` may send in ``state``, in protocol order."""
    return [
        kind
        for kind in NEGOTIATION_MESSAGE_KINDS
        if (state, kind, sender) in NEGOTIATION_TRANSITIONS
    ]


def negotiation_messages_to_send(state: NegotiationState | None, role: Party) -> list[str]:
    """What we, playing ``role``, may send now (for the management API's actions)."""
    return negotiation_messages_allowed(state, role)


def negotiation_messages_expected(state: NegotiationState | None, role: Party) -> list[str]:
    """What the counter-party of ``role`` may send us now."""
    return negotiation_messages_allowed(state, "consumer" if role == "provider" else "provider")


def is_final_negotiation_state(state: NegotiationState | None) -> bool:
    """True for FINALIZED and TERMINATED, from which nothing moves."""
    return state in FINAL_NEGOTIATION_STATES


def negotiation_transition(
    state: NegotiationState | None,
    message_type: str,
    *,
    role: Party,
    sender: Party,
) -> NegotiationState:
    """The state after ``sender`` sends ``message_type`` in ``state``.

    ``state`` None means no negotiation exists yet (an initiating message). ``role`` is
    the side we play; ``sender == role`` checks a message we are about to send, otherwise
    one we received. Event messages are named ``ContractNegotiationEventMessage:ACCEPTED``
    or ``...:FINALIZED`` (see ``negotiation_message_kind``). Raises ``InvalidTransition``.
    """
    kind = _normalise_kind(message_type)
    state = NegotiationState(state) if state is not None else None
    target = NEGOTIATION_TRANSITIONS.get((state, kind, sender))
    if target is not None:
        return target
    raise InvalidTransition(
        _explain(state, kind, role=role, sender=sender),
        current_state=state.value if state is not None else None,
        message_type=kind,
        sender=sender,
        allowed=negotiation_messages_allowed(state, sender),
    )


def _explain(state: NegotiationState | None, kind: str, *, role: Party, sender: Party) -> str:
    where = f"in state {state.value}" if state is not None else "without an existing negotiation"
    direction = "we cannot send" if sender == role else f"the {sender} may not send"
    if sender not in NEGOTIATION_SENDERS[kind]:
        reason = f"only the {' or '.join(sorted(NEGOTIATION_SENDERS[kind]))} sends a {kind}"
    elif state is not None and state in FINAL_NEGOTIATION_STATES:
        reason = f"{state.value} is final; start a new negotiation instead"
    elif state is None:
        reason = (
            "a negotiation starts with a ContractRequestMessage from the consumer "
            "or a ContractOfferMessage from the provider"
        )
    else:
        reason = f"a {kind} does not apply {where}"
    allowed = negotiation_messages_allowed(state, sender)
    allowed_text = ", ".join(allowed) if allowed else "nothing"
    return (
        f"Contract negotiation {where}: {direction} a {kind} ({reason}). "
        f"The {sender} may send: {allowed_text}."
    )
