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

from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hansa.connector import dsp_messages as dsp
from hansa.connector.dcp import IdTokenClaims
from hansa.connector.dsp_process import check_pids, earlier_answer
from hansa.connector.dsp_schemas import validate_message
from hansa.connector.inbound import already_processed, message_digest, remember_processed
from hansa.connector.negotiation_checks import (
    check_callback_address,
    negotiation_view,
    policy_refusal,
    published_offer,
)
from hansa.connector.negotiation_process import (
    CALLBACK_PATH,
    TOPIC,
    Answer,
    NegotiationProcesses,
    new_pid,
    offer_scopes,
    other_party,
)
from hansa.connector.negotiation_rows import Negotiation, locked, read, save, with_counterparty
from hansa.connector.negotiation_states import (
    AGREEMENT_VERIFICATION,
    CONTRACT_AGREEMENT,
    CONTRACT_OFFER,
    CONTRACT_REQUEST,
    EVENT_ACCEPTED,
    NEGOTIATION_TERMINATION,
    InvalidTransition,
    Party,
    negotiation_message_kind,
)
from hansa.connector.negotiation_terms import same_terms
from hansa.db import transaction
from hansa.errors import BadRequest, Conflict, HansaError, NotFound
from hansa.policy import parse_policy
from hansa.policy.errors import PolicyError


class NegotiationService(NegotiationProcesses):
    """Both sides of contract negotiation for one node; see the module docstring."""

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
        record = Negotiation(
            id=new_pid(),
            role="provider",
            state="",
            counterparty_did=caller_did,
            counterparty_pid=body["consumerPid"],
            counterparty_address=callback,
            offer_id=offer["@id"],
            dataset_id=asset_id,
            offer=dict(offer),
        )
        try:
            with transaction(self._sessions) as session:
                self._move(record, CONTRACT_REQUEST, "consumer")
                answer: Answer = (201, self._ack(record))
                if denial is not None:
                    record.error_code, record.error_reason = denial.code, denial.detail
                    self._move(record, NEGOTIATION_TERMINATION, "provider")
                elif self.auto_accept:
                    self._agree(session, record)
                save(session, record)
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
            done = earlier_answer(self._sessions, caller_did, digest)
            earlier = with_counterparty(self._sessions, "provider", caller_did, body["consumerPid"])
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
        record = Negotiation(
            id=new_pid(),
            role="consumer",
            state="",
            counterparty_did=caller_did,
            counterparty_pid=body["providerPid"],
            counterparty_address=callback,
            offer_id=offer.get("@id"),
            dataset_id=offer["target"],
            offer=dict(offer),
        )
        try:
            with transaction(self._sessions) as session:
                self._move(record, CONTRACT_OFFER, "provider")
                answer: Answer = (201, self._ack(record))
                save(session, record)
                remember_processed(
                    session,
                    sender=caller_did,
                    digest=digest,
                    process_id=record.id,
                    status_code=answer[0],
                    response=answer[1],
                )
        except IntegrityError:
            done = earlier_answer(self._sessions, caller_did, digest)
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
                    self._move(record, kind, other_party(role))
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
                save(session, record)
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
            # Applied before, and the state came back to where it allows the message again:
            # the processed-message log refuses the second effect; answer as the first time.
            done = earlier_answer(self._sessions, caller_did, digest)
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
            record = read(session, pid, "provider")
        if record is None or record.counterparty_did != caller_did:
            return None  # the transaction answers 404
        offer, target = record.offer, record.dataset_id or ""
        return policy_refusal(self._claims, caller_did, id_token, target, offer, self._clock())

    def _pids_camel(self, record: Negotiation) -> dict[str, str]:
        pids = self._pids(record)
        return {"providerPid": pids["provider_pid"], "consumerPid": pids["consumer_pid"]}

    def _react(
        self, session: Session, record: Negotiation, kind: str, body: Mapping[str, Any]
    ) -> bool:
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

    def _accept(self, session: Session, record: Negotiation) -> None:
        """Consumer: accept the offer, letting the provider read the claims its policy needs."""
        self._send(session, record, self._event(record, "ACCEPTED"), offer_scopes(record.offer))

    def _event(self, record: Negotiation, event: Any) -> dict[str, Any]:
        return dsp.contract_negotiation_event_message(**self._pids(record), event_type=event)

    def _requested(self, record: Negotiation, offer: Mapping[str, Any]) -> bool:
        return record.requested_offer is not None and same_terms(offer, record.requested_offer)

    def _is_published(self, record: Negotiation) -> bool:
        try:
            published_offer(self._assets, record.counterparty_did, record.offer)
        except HansaError:
            return False
        return True

    def _agreement_problem(self, record: Negotiation, agreement: Mapping[str, Any]) -> str | None:
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
            record = read(session, pid, role)
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
        record = Negotiation(
            id=new_pid(),
            role="consumer",
            state="",
            counterparty_did=provider_did,
            counterparty_address=provider_address.rstrip("/"),
            offer_id=offer["@id"],
            dataset_id=target,
            offer=dict(offer),
            requested_offer=dict(offer),
        )
        body = dsp.contract_request_message(
            consumer_pid=record.id, offer=offer, callback_address=self.callback_url
        )
        with transaction(self._sessions) as session:
            self._send(session, record, body, offer_scopes(offer))
            save(session, record)
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
        record = Negotiation(
            id=new_pid(),
            role="provider",
            state="",
            counterparty_did=consumer_did,
            counterparty_address=consumer_address.rstrip("/"),
            offer_id=offer["@id"],
            dataset_id=target,
            offer=dict(offer),
        )
        body = dsp.contract_offer_message(
            provider_pid=record.id, offer=offer, callback_address=self.endpoint_url
        )
        with transaction(self._sessions) as session:
            self._send(session, record, body)
            save(session, record)
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
            record = locked(session, pid)
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
            save(session, record)
        self._committed(session, record)
        return negotiation_view(record)


__all__ = ["CALLBACK_PATH", "TOPIC", "Answer", "NegotiationService"]
