"""Contract negotiation plumbing both roles use: state moves, the outbox, views.

:class:`NegotiationProcesses` holds what every negotiation needs whichever side we play
(the locked read, the state move, sending through the outbox, the management views and the
outbox handler); :class:`hansa.connector.negotiations.NegotiationService` adds the
protocol's inbound messages and our own moves on top.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, update
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector import dsp_messages as dsp
from hansa.connector.assets import AssetService
from hansa.connector.catalog import DSP_BASE_PATH
from hansa.connector.credential_service import CredentialServiceClient, SecureTokenService
from hansa.connector.dsp_schemas import validate_message
from hansa.connector.negotiation_checks import (
    negotiation_view,
)
from hansa.connector.negotiation_rows import Negotiation, locked, newest, read, save
from hansa.connector.negotiation_states import (
    AGREEMENT_VERIFICATION,
    CONTRACT_AGREEMENT,
    CONTRACT_OFFER,
    CONTRACT_REQUEST,
    EVENT_ACCEPTED,
    EVENT_FINALIZED,
    NEGOTIATION_TERMINATION,
    NegotiationState,
    Party,
    negotiation_message_kind,
    negotiation_transition,
)
from hansa.connector.negotiation_terms import (
    agreement_for,
    scopes_for_policy,
)
from hansa.connector.outbox import OutboundMessage, OutboxWorker, enqueue
from hansa.connector.process_models import ContractNegotiationRecord
from hansa.connector.state_waits import StateWaiters
from hansa.db import transaction, utcnow
from hansa.errors import Conflict, HansaError, NotFound
from hansa.fetch import GuardedClient, HttpStatusError
from hansa.policy import parse_policy
from hansa.policy.errors import PolicyError

TOPIC = "negotiation"
CALLBACK_PATH = DSP_BASE_PATH + "/callback"
Answer = tuple[int, dict[str, Any]]
_TABLE = cast(Table, ContractNegotiationRecord.__table__)

# Where each message goes: provider endpoints (sent by the consumer) and callbacks.
_TO_PROVIDER = {
    CONTRACT_REQUEST: "/negotiations/{pid}/request",
    EVENT_ACCEPTED: "/negotiations/{pid}/events",
    AGREEMENT_VERIFICATION: "/negotiations/{pid}/agreement/verification",
    NEGOTIATION_TERMINATION: "/negotiations/{pid}/termination",
}
_TO_CONSUMER = {
    CONTRACT_OFFER: "/negotiations/{pid}/offers",
    CONTRACT_AGREEMENT: "/negotiations/{pid}/agreement",
    EVENT_FINALIZED: "/negotiations/{pid}/events",
    NEGOTIATION_TERMINATION: "/negotiations/{pid}/termination",
}


def other_party(role: Party) -> Party:
    return "consumer" if role == "provider" else "provider"


def new_pid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def offer_scopes(offer: Mapping[str, Any]) -> list[str]:
    """The DCP scopes of the claims an offer's policy reads (granted with our message)."""
    try:
        return scopes_for_policy(parse_policy(offer))
    except PolicyError:
        return []  # the provider reads its own copy of the policy and will say why


class NegotiationProcesses:
    """Storage, state moves and outbox of a node's negotiations (both roles)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        did: str,
        base_url: str,
        http: GuardedClient,
        sts: SecureTokenService,
        claims_client: CredentialServiceClient | None,
        assets: AssetService | None,
        outbox: OutboxWorker | None = None,
        auto_accept: bool = True,
        allow_loopback_callbacks: bool = False,
        allow_private_callbacks: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.did = did
        self.endpoint_url = base_url.rstrip("/") + DSP_BASE_PATH
        self.callback_url = base_url.rstrip("/") + CALLBACK_PATH
        self._http = http
        self._sts = sts
        self._claims = claims_client
        self._assets = assets
        self._outbox = outbox
        self.auto_accept = auto_accept
        self._allow_loopback = allow_loopback_callbacks
        self._allow_private = allow_private_callbacks
        self._clock = clock
        self._waiters = StateWaiters()

    def _committed(self, session: Session | None = None, record: Negotiation | None = None) -> None:
        """After a commit: hand what it wrote to the outbox worker, wake ``record``'s waiters.

        The outbox first: the next message leaves before anyone reads the new state.
        """
        if session is not None and self._outbox is not None:
            self._outbox.dispatch(session)
        if record is None:
            self._waiters.committed(None)
        else:
            self._waiters.committed(record.id, record.state, lambda: negotiation_view(record))

    def wait(self, pid: str, states: tuple[str, ...], timeout: float) -> dict[str, Any]:
        """The negotiation once it is in one of ``states``, or as it is after ``timeout`` s.

        Woken by this process's commits on ``pid``; another process's (the database is
        shared) are seen within a second.
        """
        return self._waiters.wait(pid, states, timeout, lambda: self.view(pid))

    # --- state changes (inside a transaction) --------------------------------------------

    def _lock(self, session: Session, pid: str, role: Party) -> Negotiation | None:
        return locked(session, pid, role)

    def _move(self, record: Negotiation, kind: str, sender: Party) -> NegotiationState:
        current = NegotiationState(record.state) if record.state else None
        target = negotiation_transition(current, kind, role=record.role, sender=sender)  # type: ignore[arg-type]
        now = self._clock()
        record.state = target.value
        record.history = [*(record.history or []), {"state": target.value, "at": now.isoformat()}]
        record.updated_at = now
        return target

    def _send(
        self,
        session: Session,
        record: Negotiation,
        body: dict[str, Any],
        scopes: list[str] | None = None,
    ) -> None:
        """Move the state for a message we send and put the message in the outbox."""
        kind = negotiation_message_kind(body)
        self._move(record, kind, record.role)  # type: ignore[arg-type]
        # Only an initiating request (consumer) or offer (provider) carries a callbackAddress.
        initial = "callbackAddress" in body
        if record.role == "consumer":
            path = "/negotiations/request" if initial else _TO_PROVIDER[kind]
        else:
            path = "/negotiations/offers" if initial else _TO_CONSUMER[kind]
        if not initial and record.counterparty_pid is None:
            raise Conflict(
                "the provider has not answered the request yet (its pid is unknown); try again",
                code="negotiation.counterparty_pid_unknown",
            )
        validate_message(body)
        write = self._outbox.enqueue if self._outbox is not None else enqueue
        write(
            session,
            topic=TOPIC,
            process_id=record.id,
            target_url=record.counterparty_address + path.format(pid=record.counterparty_pid),
            audience=record.counterparty_did,
            body=body,
            scopes=scopes or (),
        )

    def _pids(self, record: Negotiation) -> dict[str, str]:
        other = record.counterparty_pid or ""
        if record.role == "provider":
            return {"provider_pid": record.id, "consumer_pid": other}
        return {"provider_pid": other, "consumer_pid": record.id}

    def _ack(self, record: Negotiation) -> dict[str, Any]:
        return dsp.contract_negotiation(**self._pids(record), state=record.state)

    def _terminate(self, session: Session, record: Negotiation, code: str, reason: str) -> None:
        record.error_code, record.error_reason = code, reason
        body = dsp.contract_negotiation_termination_message(
            **self._pids(record), code=code, reason=reason
        )
        self._send(session, record, body)

    def _agree(self, session: Session, record: Negotiation) -> None:
        now = self._clock()
        agreement = agreement_for(
            record.offer,
            agreement_id=new_pid(),
            target=record.dataset_id or str(record.offer.get("target", "")),
            provider_did=self.did,
            consumer_did=record.counterparty_did,
            timestamp=now,
        )
        record.agreement, record.agreement_id = agreement, agreement["@id"]
        body = dsp.contract_agreement_message(**self._pids(record), agreement=agreement)
        self._send(session, record, body)

    def view(self, pid: str) -> dict[str, Any]:
        """A negotiation as the management API shows it (404 ``negotiation.not_found``)."""
        with self._sessions() as session:
            record = read(session, pid)
        if record is None:
            raise NotFound(f"there is no negotiation {pid!r}", code="negotiation.not_found")
        return negotiation_view(record)

    def list(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest negotiations first, optionally in one state."""
        return [negotiation_view(record) for record in newest(self._sessions, state, limit)]

    # --- the outbox handler --------------------------------------------------------------

    def deliver(self, message: OutboundMessage) -> Any:
        """Send one message with a DCP token for the counterparty; keep its answer."""
        token = self._sts.id_token(message.audience, scopes=message.scopes)
        response = self._http.post_json(
            message.target_url, message.body, headers={"Authorization": f"Bearer {token}"}
        )
        return response.json() if response.content.strip() else None

    def apply_answer(self, session: Session, message: OutboundMessage, answer: Any) -> None:
        """In the outbox's "delivered" transaction: an initiating request (offer) learns the
        provider's (consumer's) pid from the answer."""
        if "callbackAddress" not in message.body or not isinstance(answer, dict):
            return
        role, key = (
            ("consumer", "providerPid")
            if message.message_type == "ContractRequestMessage"
            else ("provider", "consumerPid")
        )
        their_pid = answer.get(key)
        if isinstance(their_pid, str):
            # Conditional: their next message may have named their pid already (it can
            # arrive before this answer), and then it stays as it is.
            session.execute(
                update(_TABLE)
                .where(
                    _TABLE.c.id == message.process_id,
                    _TABLE.c.role == role,
                    _TABLE.c.counterparty_pid.is_(None),
                )
                .values(counterparty_pid=their_pid)
            )

    def refused(self, message: OutboundMessage, error: HansaError) -> None:
        """The counterparty refused a message for good: the negotiation ends (TERMINATED)."""
        code, reason = error.code, error.detail
        if isinstance(error, HttpStatusError):
            try:
                problem = error.response.json()
            except HansaError:
                problem = None
            if isinstance(problem, dict):
                code = str(problem.get("code") or code)
                reasons = problem.get("reason")
                reason = "; ".join(map(str, reasons)) if isinstance(reasons, list) else reason
        with transaction(self._sessions) as session:
            record = locked(session, message.process_id)
            if record is None or record.state in ("FINALIZED", "TERMINATED"):
                return
            record.error_code, record.error_reason = code, f"{message.message_type}: {reason}"
            record.state = "TERMINATED"
            record.history = [
                *(record.history or []),
                {"state": "TERMINATED", "at": self._clock().isoformat()},
            ]
            record.updated_at = self._clock()
            save(session, record)
        self._committed(record=record)


__all__ = [
    "CALLBACK_PATH",
    "TOPIC",
    "Answer",
    "NegotiationProcesses",
    "new_pid",
    "offer_scopes",
    "other_party",
]
