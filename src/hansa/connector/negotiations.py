"""Contract negotiation (DSP 2025-1) between real nodes: both sides, persisted, with an outbox.

Every state change and the message it causes are written in one transaction (the message
into the outbox, :mod:`hansa.connector.outbox`), then the outbox worker is woken; the
worker sends the message with a DCP ID token for the counterparty and retries under the
same message id. Inbound messages are validated against the DSP schema, checked against
the state machine (:mod:`hansa.connector.negotiation_states`), applied once (a repeated
message gets its first answer, :mod:`hansa.connector.inbound`) and may only touch a
negotiation whose counterparty sent them: any other is "not found" (404), never revealed.

Provider: a contract request names one of its published offers (the same terms, else 400
``negotiation.offer_mismatch``); the consumer's claims the policy reads are fetched from
its credential service (DCP) and the policy is evaluated; a refusal is recorded as
TERMINATED and answered 403 ``negotiation.policy_not_satisfied`` with the reasons. With
``auto_accept`` (the default) the provider agrees at once, and finalizes on verification;
without it, every move waits for the management API.

Consumer: :meth:`NegotiationService.start` requests an offer; an agreement that grants
exactly the requested terms is verified automatically, a counter-offer with the same
terms accepted; anything else waits for the management API (accept, request, terminate).

Paths: provider endpoints under ``{base}/dsp/2025-1``; the consumer's callback address
is ``{base}/dsp/2025-1/callback`` (so that provider and consumer ``GET /negotiations/{pid}``
do not collide on one node).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector import dsp_messages as dsp
from hansa.connector.assets import AssetService
from hansa.connector.catalog import DSP_BASE_PATH
from hansa.connector.credential_service import CredentialServiceClient, SecureTokenService
from hansa.connector.dcp import IdTokenClaims
from hansa.connector.dsp_process import check_pids
from hansa.connector.dsp_schemas import validate_message
from hansa.connector.inbound import already_processed, message_digest, remember_processed
from hansa.connector.negotiation_checks import (
    check_callback_address,
    negotiation_view,
    policy_refusal,
    published_offer,
)
from hansa.connector.negotiation_states import (
    AGREEMENT_VERIFICATION,
    CONTRACT_AGREEMENT,
    CONTRACT_OFFER,
    CONTRACT_REQUEST,
    EVENT_ACCEPTED,
    EVENT_FINALIZED,
    NEGOTIATION_TERMINATION,
    InvalidTransition,
    NegotiationState,
    Party,
    negotiation_message_kind,
    negotiation_transition,
)
from hansa.connector.negotiation_terms import (
    agreement_for,
    same_terms,
    scopes_for_policy,
)
from hansa.connector.outbox import OutboundMessage, OutboxWorker, enqueue
from hansa.connector.process_models import ContractNegotiationRecord as Record
from hansa.connector.state_waits import StateWaiters
from hansa.db import transaction, utcnow
from hansa.errors import BadRequest, Conflict, HansaError, NotFound
from hansa.fetch import GuardedClient, HttpStatusError
from hansa.policy import parse_policy
from hansa.policy.errors import PolicyError

TOPIC = "negotiation"
CALLBACK_PATH = DSP_BASE_PATH + "/callback"
Answer = tuple[int, dict[str, Any]]

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


def _other(role: Party) -> Party:
    return "consumer" if role == "provider" else "provider"


def _new_pid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _scopes(offer: Mapping[str, Any]) -> list[str]:
    """The DCP scopes of the claims an offer's policy reads (granted with our message)."""
    try:
        return scopes_for_policy(parse_policy(offer))
    except PolicyError:
        return []  # the provider reads its own copy of the policy and will say why


class NegotiationService:
    """Both sides of contract negotiation for one node; see the module docstring."""

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

    def _committed(self, session: Session | None = None, record: Record | None = None) -> None:
        """After a commit: hand what it wrote to the outbox worker, wake ``record``'s waiters.

        The outbox first: the next message leaves before anyone reads the new state.
        """
        if session is not None and self._outbox is not None:
            self._outbox.dispatch(session)
        self._waiters.committed(
            record.id if record is not None else None, record.state if record else None
        )

    def wait(self, pid: str, states: tuple[str, ...], timeout: float) -> dict[str, Any]:
        """The negotiation once it is in one of ``states``, or as it is after ``timeout`` s.

        Woken by this process's commits on ``pid``; another process's (the database is
        shared) are seen within a second.
        """
        return self._waiters.wait(pid, states, timeout, lambda: self.view(pid))

    # --- state changes (inside a transaction) --------------------------------------------

    def _lock(self, session: Session, pid: str, role: Party) -> Record | None:
        if session.get_bind().dialect.name == "sqlite":
            # Take SQLite's write lock before reading, so no other writer slips in between.
            session.execute(
                update(Record)
                .where(Record.id == pid)
                .values(state=Record.state)
                .execution_options(synchronize_session=False)
            )
        return session.scalars(
            select(Record).where(Record.id == pid, Record.role == role).with_for_update()
        ).first()

    def _move(self, record: Record, kind: str, sender: Party) -> NegotiationState:
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
        record: Record,
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

    def _pids(self, record: Record) -> dict[str, str]:
        other = record.counterparty_pid or ""
        if record.role == "provider":
            return {"provider_pid": record.id, "consumer_pid": other}
        return {"provider_pid": other, "consumer_pid": record.id}

    def _ack(self, record: Record) -> dict[str, Any]:
        return dsp.contract_negotiation(**self._pids(record), state=record.state)

    def _terminate(self, session: Session, record: Record, code: str, reason: str) -> None:
        record.error_code, record.error_reason = code, reason
        body = dsp.contract_negotiation_termination_message(
            **self._pids(record), code=code, reason=reason
        )
        self._send(session, record, body)

    def _agree(self, session: Session, record: Record) -> None:
        now = self._clock()
        agreement = agreement_for(
            record.offer,
            agreement_id=_new_pid(),
            target=record.dataset_id or str(record.offer.get("target", "")),
            provider_did=self.did,
            consumer_did=record.counterparty_did,
            timestamp=now,
        )
        record.agreement, record.agreement_id = agreement, agreement["@id"]
        body = dsp.contract_agreement_message(**self._pids(record), agreement=agreement)
        self._send(session, record, body)

    # --- provider: the initial contract request -----------------------------------------

    def receive_request(
        self, caller_did: str, id_token: IdTokenClaims | None, body: Any, *, path: str
    ) -> Answer:
        """``POST /negotiations/request``: a consumer asks for one of our offers (201)."""
        validate_message(body, expected_type="ContractRequestMessage")
        if "providerPid" in body:
            raise BadRequest(
                "an initiating ContractRequestMessage has no providerPid; send counter-offers to "
                "/negotiations/{providerPid}/request",
                code="negotiation.unexpected_provider_pid",
                pointer="/providerPid",
            )
        callback = check_callback_address(
            body.get("callbackAddress"),
            allow_loopback=self._allow_loopback,
            allow_private=self._allow_private,
        )
        # A request seen before is found by the unique keys below (its consumerPid, its
        # digest), not looked up first: one query less for every new negotiation.
        digest = message_digest(path, body)
        offer = body["offer"]
        asset_id, policy = published_offer(self._assets, caller_did, offer)
        denial = policy_refusal(
            self._claims, caller_did, id_token, asset_id, policy.document, self._clock()
        )
        record = Record(
            id=_new_pid(),
            role="provider",
            state="",
            counterparty_did=caller_did,
            counterparty_pid=body["consumerPid"],
            counterparty_address=callback,
            offer_id=offer["@id"],
            dataset_id=asset_id,
            offer=dict(offer),
            history=[],
        )
        try:
            with transaction(self._sessions) as session:
                session.add(record)
                self._move(record, CONTRACT_REQUEST, "consumer")
                answer: Answer = (201, self._ack(record))
                if denial is not None:
                    record.error_code, record.error_reason = denial.code, denial.detail
                    self._move(record, NEGOTIATION_TERMINATION, "provider")
                elif self.auto_accept:
                    self._agree(session, record)
                if denial is None:
                    remember_processed(
                        session,
                        sender=caller_did,
                        digest=digest,
                        process_id=record.id,
                        status_code=answer[0],
                        response=answer[1],
                    )
        except IntegrityError:
            # The same request twice at once, or a consumerPid reused: answer as before.
            with self._sessions() as session:
                done = already_processed(session, caller_did, digest)
                earlier = session.scalars(
                    select(Record).where(
                        Record.role == "provider",
                        Record.counterparty_did == caller_did,
                        Record.counterparty_pid == body["consumerPid"],
                    )
                ).first()
            if done is not None:
                return done
            if denial is not None and earlier is not None and earlier.error_code == denial.code:
                # A refused request sent again: refused again, naming the same negotiation.
                denial.extra.update(providerPid=earlier.id, consumerPid=body["consumerPid"])
                raise denial from None
            raise Conflict(
                f"a negotiation with consumerPid {body['consumerPid']!r} exists already; "
                "use a new consumerPid for a new negotiation",
                code="negotiation.consumer_pid_taken",
                pointer="/consumerPid",
            ) from None
        self._committed(session, record)
        if denial is not None:
            denial.extra.update(providerPid=record.id, consumerPid=body["consumerPid"])
            raise denial
        return answer

    # --- consumer: an offer that starts a negotiation ------------------------------------

    def receive_offer(self, caller_did: str, body: Any, *, path: str) -> Answer:
        """``POST {callback}/negotiations/offers``: a provider offers us a contract (201).

        The negotiation waits in OFFERED for our operator (accept, request, terminate):
        nothing was asked for, so nothing is accepted automatically.
        """
        validate_message(body, expected_type="ContractOfferMessage")
        if "consumerPid" in body:
            raise BadRequest(
                "an initiating ContractOfferMessage has no consumerPid; send counter-offers to "
                "{callback}/negotiations/{consumerPid}/offers",
                code="negotiation.unexpected_consumer_pid",
                pointer="/consumerPid",
            )
        callback = check_callback_address(
            body.get("callbackAddress"),
            allow_loopback=self._allow_loopback,
            allow_private=self._allow_private,
        )
        offer = body["offer"]  # with its target: the schema requires it
        digest = message_digest(path, body)
        record = Record(
            id=_new_pid(),
            role="consumer",
            state="",
            counterparty_did=caller_did,
            counterparty_pid=body["providerPid"],
            counterparty_address=callback,
            offer_id=offer.get("@id"),
            dataset_id=offer["target"],
            offer=dict(offer),
            history=[],
        )
        try:
            with transaction(self._sessions) as session:
                session.add(record)
                self._move(record, CONTRACT_OFFER, "provider")
                answer: Answer = (201, self._ack(record))
                remember_processed(
                    session,
                    sender=caller_did,
                    digest=digest,
                    process_id=record.id,
                    status_code=answer[0],
                    response=answer[1],
                )
        except IntegrityError:
            with self._sessions() as session:
                done = already_processed(session, caller_did, digest)
            if done is not None:
                return done  # the same offer again: answered as the first time
            raise Conflict(
                f"a negotiation with providerPid {body['providerPid']!r} exists already; "
                "use a new providerPid for a new negotiation",
                code="negotiation.provider_pid_taken",
                pointer="/providerPid",
            ) from None
        self._committed(session, record)
        return answer

    # --- both sides: messages on an existing negotiation --------------------------------

    def receive(
        self,
        caller_did: str,
        role: Party,
        pid: str,
        body: Any,
        *,
        path: str,
        expected_type: str,
        id_token: IdTokenClaims | None = None,
    ) -> Answer:
        """A message on negotiation ``pid`` where we play ``role`` (200 + ContractNegotiation).

        A consumer accepting our offer is checked against the offer's policy first, with the
        claims its token lets us read (403 ``negotiation.policy_not_satisfied``, TERMINATED).
        """
        validate_message(body, expected_type=expected_type)
        kind = negotiation_message_kind(body)
        digest = message_digest(path, body)
        denial = self._acceptance_refusal(caller_did, role, pid, kind, id_token)
        try:
            with transaction(self._sessions) as session:
                record = self._lock(session, pid, role)
                if record is None or record.counterparty_did != caller_did:
                    raise NotFound(
                        f"there is no contract negotiation {pid!r} with you",
                        code="negotiation.not_found",
                    )
                check_pids(record, body, process="negotiation", code="negotiation.pid_mismatch")
                try:
                    self._move(record, kind, _other(role))
                except InvalidTransition:
                    # Applied before (a retry whose answer was lost)? Then answer as before.
                    done = already_processed(session, caller_did, digest)
                    if done is not None:
                        return done
                    raise
                if denial is not None:
                    record.error_code, record.error_reason = denial.code, denial.detail
                    self._move(record, NEGOTIATION_TERMINATION, "provider")
                    denial.extra.update(**self._pids_camel(record))
                answer: Answer = (200, self._ack(record))
                if denial is None:
                    self._react(session, record, kind, body)
                    remember_processed(
                        session,
                        sender=caller_did,
                        digest=digest,
                        process_id=record.id,
                        status_code=answer[0],
                        response=answer[1],
                    )
        except IntegrityError:
            # Applied before, and the state came back to where it allows the message again:
            # the processed-message log refuses the second effect; answer as the first time.
            with self._sessions() as session:
                done = already_processed(session, caller_did, digest)
            if done is None:
                raise
            return done
        self._committed(session, record)
        if denial is not None:
            raise denial
        return answer

    def _acceptance_refusal(
        self,
        caller_did: str,
        role: Party,
        pid: str,
        kind: str,
        id_token: IdTokenClaims | None,
    ) -> HansaError | None:
        """Why a consumer may not accept our offer on ``pid`` (None: it may, or not our turn).

        Read before the transaction: the claims come over HTTPS from the consumer.
        """
        if role != "provider" or kind != EVENT_ACCEPTED or not self.auto_accept:
            return None
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.role != "provider" or record.counterparty_did != caller_did:
                return None  # the transaction answers 404
            offer, target = dict(record.offer), record.dataset_id or ""
        return policy_refusal(self._claims, caller_did, id_token, target, offer, self._clock())

    def _pids_camel(self, record: Record) -> dict[str, str]:
        pids = self._pids(record)
        return {"providerPid": pids["provider_pid"], "consumerPid": pids["consumer_pid"]}

    def _react(self, session: Session, record: Record, kind: str, body: Mapping[str, Any]) -> bool:
        """Apply what an inbound message carries and answer it automatically when we may."""
        if kind == NEGOTIATION_TERMINATION:
            record.error_code = body.get("code")
            reason = body.get("reason")
            record.error_reason = "; ".join(map(str, reason)) if isinstance(reason, list) else None
            return False
        if kind in (CONTRACT_REQUEST, CONTRACT_OFFER):
            record.offer = dict(body["offer"])
        if record.role == "consumer":
            if (
                kind == CONTRACT_OFFER
                and self.auto_accept
                and self._requested(record, record.offer)
            ):
                self._accept(session, record)
                return True
            if kind == CONTRACT_AGREEMENT:
                agreement = dict(body["agreement"])
                record.agreement, record.agreement_id = agreement, agreement.get("@id")
                if not self.auto_accept:
                    return False  # verified (or not) through the management API
                problem = self._agreement_problem(record, agreement)
                if problem is not None:
                    self._terminate(session, record, "negotiation.agreement_mismatch", problem)
                else:
                    self._send(
                        session,
                        record,
                        dsp.contract_agreement_verification_message(**self._pids(record)),
                    )
                return True
            return False
        if kind == AGREEMENT_VERIFICATION and self.auto_accept:
            self._send(session, record, self._event(record, "FINALIZED"))
            return True
        # A counter-request is agreed to only when it asks for a published offer unchanged.
        agreeable = kind == EVENT_ACCEPTED or (
            kind == CONTRACT_REQUEST and self._is_published(record)
        )
        if self.auto_accept and agreeable:
            self._agree(session, record)
            return True
        return False

    def _accept(self, session: Session, record: Record) -> None:
        """Consumer: accept the offer, letting the provider read the claims its policy needs."""
        self._send(session, record, self._event(record, "ACCEPTED"), _scopes(record.offer))

    def _event(self, record: Record, event: Any) -> dict[str, Any]:
        return dsp.contract_negotiation_event_message(**self._pids(record), event_type=event)

    def _requested(self, record: Record, offer: Mapping[str, Any]) -> bool:
        return record.requested_offer is not None and same_terms(offer, record.requested_offer)

    def _is_published(self, record: Record) -> bool:
        try:
            published_offer(self._assets, record.counterparty_did, record.offer)
        except HansaError:
            return False
        return True

    def _agreement_problem(self, record: Record, agreement: Mapping[str, Any]) -> str | None:
        if agreement.get("assignee") != self.did:
            return f"the agreement's assignee is {agreement.get('assignee')!r}, not us ({self.did})"
        if agreement.get("assigner") != record.counterparty_did:
            return f"the agreement's assigner is not the provider {record.counterparty_did}"
        if record.dataset_id and agreement.get("target") != record.dataset_id:
            return f"the agreement's target is not the requested dataset {record.dataset_id}"
        if not same_terms(agreement, record.offer):
            return "the agreement's rules differ from the offer on the table"
        return None

    def get(self, caller_did: str, role: Party, pid: str) -> dict[str, Any]:
        """``GET /negotiations/{pid}``: the ContractNegotiation, for its counterparty only."""
        with self._sessions() as session:
            record = session.scalars(
                select(Record).where(Record.id == pid, Record.role == role)
            ).first()
            if record is None or record.counterparty_did != caller_did:
                raise NotFound(
                    f"there is no contract negotiation {pid!r} with you",
                    code="negotiation.not_found",
                )
            return self._ack(record)

    # --- management (our own decisions) ------------------------------------------------

    def start(
        self, *, provider_address: str, provider_did: str, offer: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Consumer: request ``offer`` (with its ``target``) from a provider; REQUESTED."""
        target = offer.get("target")
        if not isinstance(target, str) or not isinstance(offer.get("@id"), str):
            raise BadRequest(
                "the offer needs its @id and its target (the dataset @id it belongs to)",
                code="negotiation.offer_incomplete",
                pointer="/offer",
            )
        record = Record(
            id=_new_pid(),
            role="consumer",
            state="",
            counterparty_did=provider_did,
            counterparty_address=provider_address.rstrip("/"),
            offer_id=offer["@id"],
            dataset_id=target,
            offer=dict(offer),
            requested_offer=dict(offer),
            history=[],
        )
        body = dsp.contract_request_message(
            consumer_pid=record.id, offer=offer, callback_address=self.callback_url
        )
        with transaction(self._sessions) as session:
            session.add(record)
            self._send(session, record, body, _scopes(offer))
        self._committed(session, record)
        return negotiation_view(record)

    def offer(
        self, *, consumer_address: str, consumer_did: str, offer: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Provider: offer ``offer`` (on one of our datasets) to a consumer; OFFERED.

        ``consumer_address`` is where the consumer takes negotiation messages (a Hansa
        node's is ``{base}/dsp/2025-1/callback``); the offer goes to its
        ``/negotiations/offers``. When the consumer accepts, its claims are checked
        against the offer's policy before we agree.
        """
        target = offer.get("target")
        if not isinstance(target, str) or not isinstance(offer.get("@id"), str):
            raise BadRequest(
                "the offer needs its @id and its target (the dataset @id it is for)",
                code="negotiation.offer_incomplete",
                pointer="/offer",
            )
        if self._assets is None:
            raise Conflict("this node offers no datasets", code="negotiation.offer_unknown")
        try:
            self._assets.offered_asset(target)
            parse_policy(offer)
        except NotFound:
            raise BadRequest(
                f"{target!r} is not one of this node's offered datasets",
                code="negotiation.offer_unknown",
                pointer="/offer/target",
            ) from None
        except PolicyError as exc:
            raise BadRequest(
                f"the offer is not a policy this node can evaluate: {exc.detail}",
                code="negotiation.offer_invalid",
                pointer="/offer",
            ) from exc
        record = Record(
            id=_new_pid(),
            role="provider",
            state="",
            counterparty_did=consumer_did,
            counterparty_address=consumer_address.rstrip("/"),
            offer_id=offer["@id"],
            dataset_id=target,
            offer=dict(offer),
            history=[],
        )
        body = dsp.contract_offer_message(
            provider_pid=record.id, offer=offer, callback_address=self.endpoint_url
        )
        with transaction(self._sessions) as session:
            session.add(record)
            self._send(session, record, body)
        self._committed(session, record)
        return negotiation_view(record)

    def act(
        self,
        pid: str,
        action: str,
        *,
        offer: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Our move on ``pid``: agree, offer, finalize (provider), accept, request, verify
        (consumer) or terminate; the state machine refuses a move out of turn (400)."""
        with transaction(self._sessions) as session:
            record = self._lock(session, pid, "provider") or self._lock(session, pid, "consumer")
            if record is None:
                raise NotFound(f"there is no negotiation {pid!r}", code="negotiation.not_found")
            pids = self._pids(record)
            if action == "agree":
                self._agree(session, record)
            elif action == "verify":
                self._send(session, record, dsp.contract_agreement_verification_message(**pids))
            elif action == "finalize":
                self._send(session, record, self._event(record, "FINALIZED"))
            elif action == "accept":
                self._accept(session, record)
            elif action in ("offer", "request") and offer is not None:
                record.offer = dict(offer)
                if action == "offer":
                    body = dsp.contract_offer_message(offer=offer, **pids)
                else:
                    record.requested_offer = dict(offer)
                    body = dsp.contract_request_message(offer=offer, **pids)
                self._send(session, record, body)
            elif action == "terminate":
                self._terminate(
                    session,
                    record,
                    "negotiation.terminated",
                    reason or "terminated by its operator",
                )
            else:
                raise BadRequest(
                    f"unknown action {action!r} (or an offer is missing); use agree, offer, "
                    "finalize, accept, request, verify or terminate",
                    code="negotiation.unknown_action",
                )
        self._committed(session, record)
        return self.view(pid)

    def view(self, pid: str) -> dict[str, Any]:
        """A negotiation as the management API shows it (404 ``negotiation.not_found``)."""
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None:
                raise NotFound(f"there is no negotiation {pid!r}", code="negotiation.not_found")
            return negotiation_view(record)

    def list(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest negotiations first, optionally in one state."""
        with self._sessions() as session:
            query = select(Record).order_by(Record.created_at.desc()).limit(limit)
            if state:
                query = query.where(Record.state == state.upper())
            return [negotiation_view(r) for r in session.scalars(query)]

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
                update(Record)
                .where(
                    Record.id == message.process_id,
                    Record.role == role,
                    Record.counterparty_pid.is_(None),
                )
                .values(counterparty_pid=their_pid)
                .execution_options(synchronize_session=False)
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
            record = session.get(Record, message.process_id)
            if record is None or record.state in ("FINALIZED", "TERMINATED"):
                return
            record.error_code, record.error_reason = code, f"{message.message_type}: {reason}"
            record.state = "TERMINATED"
            record.history = [
                *(record.history or []),
                {"state": "TERMINATED", "at": self._clock().isoformat()},
            ]
            record.updated_at = self._clock()
        self._committed(record=record)


__all__ = ["CALLBACK_PATH", "TOPIC", "NegotiationService"]
