"""The transfer process (DSP 2025-1) between real nodes: both sides, persisted, with an outbox.

Same shape as :mod:`hansa.connector.negotiations`: every state change and the message it
causes are written in one transaction (the message into the outbox); inbound messages are
validated, checked against :func:`~hansa.connector.transfer_states.transfer_transition`,
applied once (:mod:`hansa.connector.inbound`) and only by the process's counterparty (any
other caller gets 404).

Provider: a TransferRequestMessage must name a FINALIZED agreement whose consumer is the
caller (404 ``transfer.agreement_not_found`` otherwise, 403
``transfer.agreement_not_finalized`` / ``dataplane.agreement_*`` when it is not in force),
and a supported ``format`` (400 ``transfer.format_unsupported``). The provider starts at
once: for ``HttpData-PULL`` the TransferStartMessage carries a data token for
``{base}/data/{providerPid}``; for ``HttpData-PUSH`` / ``AmazonS3-PUSH`` the data is sent
after the start message was delivered, then a TransferCompletionMessage follows with the
content's SHA-256 (:mod:`hansa.connector.transfer_data`).

Consumer: :meth:`TransferService.start` requests a transfer under an agreement it holds;
on TransferStartMessage a pull runs in the background into the destination (default a
file under ``data_dir/files/transfers/``) and, once the size and SHA-256 are checked, the
consumer sends the completion. A failed pull terminates the transfer with the error's
code; a partial transfer is never COMPLETED. Suspension and termination (either side)
stop a running pull or push within one chunk; resuming sends a new TransferStartMessage
(the provider's carries a new token; a consumer resuming a pull asks for one).

Token renewal (Hansa extension): ``POST {dsp}/transfers/{providerPid}/token`` by the
consumer (DCP-authenticated) answers a fresh PULL DataAddress while the transfer is
STARTED and the agreement in force; the consumer's ``POST /management/transfers/{id}/token``
asks for one (409 ``transfer.token_refused`` with the provider's code otherwise). The
provider decides: tokens live 10 minutes and are renewed only on an authenticated request.

Usage: the provider's data endpoint logs every access (``dev.hansa.dataplane.access``), and
a refused transfer request; the consumer logs what it received or was refused
(``dev.hansa.dataplane.receipt``), both as CloudEvents in the same usage table.

Moving the data (:mod:`hansa.connector.transfer_movement`) and crashes
(:mod:`hansa.connector.transfer_leases`): the run that moves a STARTED transfer's data
holds a lease on the transfer row, renewed from its per-chunk guard; when its process dies,
the node's sweep (in any process on the database) claims the transfer once the lease has
run out and moves the data again from the start, a pull with a fresh token if its own ran
out. A suspended or terminated transfer is never moved again.

Not yet: the per-chunk "may bytes flow" state is kept per process, so a suspension taken
by another process of the node stops a running pull or push only at its next lease
renewal (a few seconds), and the provider's data endpoint sees it at the next request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hansa.connector import dsp_messages as dsp
from hansa.connector import transfer_data as data
from hansa.connector.dsp_process import check_pids, earlier_answer
from hansa.connector.dsp_schemas import validate_message
from hansa.connector.inbound import already_processed, message_digest, remember_processed
from hansa.connector.negotiation_checks import check_callback_address
from hansa.connector.outbox import OutboundMessage
from hansa.connector.process_models import ContractNegotiationRecord
from hansa.connector.transfer_models import TransferProcessRecord as Record
from hansa.connector.transfer_movement import TransferMovement
from hansa.connector.transfer_process import (
    CALLBACK_PATH,
    RECEIPT_EVENT_TYPE,
    TOPIC,
    Answer,
    default_pull_path,
    new_pid,
    transfer_view,
)
from hansa.connector.transfer_states import (
    TRANSFER_COMPLETION,
    TRANSFER_REQUEST,
    TRANSFER_START,
    TRANSFER_TERMINATION,
    InvalidTransition,
    TransferState,
)
from hansa.dataplane.errors import TRANSFER_NOT_FOUND
from hansa.dataplane.server import TransferTarget
from hansa.dataplane.usage import Access, access_event
from hansa.db import transaction
from hansa.errors import BadRequest, Conflict, HansaError, NotFound


class TransferService(TransferMovement):
    """Both sides of the transfer process for one node; see the module docstring."""

    # --- provider ------------------------------------------------------------------------

    def receive_request(self, caller_did: str, body: Any, *, path: str) -> Answer:
        """``POST /transfers/request`` (201 + TransferProcess in REQUESTED)."""
        validate_message(body, expected_type=TRANSFER_REQUEST)
        if "providerPid" in body:
            raise BadRequest(
                "a TransferRequestMessage has no providerPid",
                code="transfer.unexpected_provider_pid",
                pointer="/providerPid",
            )
        callback = check_callback_address(
            body.get("callbackAddress"),
            allow_loopback=self._allow_loopback,
            allow_private=self._allow_private,
        )
        digest = message_digest(path, body)
        with self._sessions() as session:
            done = already_processed(session, caller_did, digest)
        if done is not None:
            return done
        agreement = self.agreements.finalized(body["agreementId"], caller_did)
        kind = body["format"]
        if kind not in data.TRANSFER_TYPES:
            raise BadRequest(
                f"format {kind!r} is not supported; use one of {', '.join(data.TRANSFER_TYPES)}",
                code="transfer.format_unsupported",
                pointer="/format",
            )
        push_target = None
        if kind != data.PULL:
            push_target = data.check_push_address(kind, body.get("dataAddress"))
            data.check_push_target(
                push_target, allow_loopback=self._allow_loopback, allow_private=self._allow_private
            )
        asset_id = str(agreement.get("target"))
        try:
            self.agreements.check_now(body["agreementId"], caller_did, asset_id)
        except HansaError as exc:
            # A refused request is a use refused: it goes into the usage log too.
            refusal = Access(
                transfer_id=str(body["consumerPid"]),
                agreement_id=str(body["agreementId"]),
                counterparty=caller_did,
                asset_id=asset_id,
                bytes=0,
                outcome="refused",
                error=exc.code,
            )
            self.usage.record(access_event(refusal, source=f"{self.did}/dataplane"))
            raise
        record = Record(
            id=new_pid(),
            role="provider",
            state="",
            counterparty_did=caller_did,
            counterparty_pid=body["consumerPid"],
            counterparty_address=callback,
            agreement_id=body["agreementId"],
            asset_id=asset_id,
            transfer_type=kind,
            data_address=push_target,
            history=[],
        )
        try:
            with transaction(self._sessions) as session:
                session.add(record)
                self._move(record, TRANSFER_REQUEST, "consumer")
                answer: Answer = (201, self._ack(record))
                if self.auto_start:
                    self._send(session, record, self._start_message(record))
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
                return done
            raise Conflict(
                f"a transfer with consumerPid {body['consumerPid']!r} exists already",
                code="transfer.consumer_pid_taken",
                pointer="/consumerPid",
            ) from None
        self._committed(session)
        return answer

    def resolve(self, transfer_id: str) -> TransferTarget:
        """The data endpoint's ``resolve_transfer``: a STARTED transfer we provide."""
        with self._sessions() as session:
            record = session.get(Record, transfer_id)
            if record is None or record.role != "provider":
                raise NotFound(f"there is no transfer {transfer_id!r}", code=TRANSFER_NOT_FOUND)
            if record.state != TransferState.STARTED:
                raise Conflict(
                    f"transfer {transfer_id} is {record.state}, not STARTED",
                    code="dataplane.transfer_not_started",
                )
            return TransferTarget(
                transfer_id=record.id,
                agreement_id=record.agreement_id,
                consumer_did=record.counterparty_did,
                asset_id=record.asset_id,
                address=self._assets.get_asset(record.asset_id).data_address,
            )

    def renew_token(self, caller_did: str, pid: str) -> dict[str, Any]:
        """``POST /transfers/{pid}/token``: a fresh PULL DataAddress for a STARTED transfer."""
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.role != "provider" or record.counterparty_did != caller_did:
                raise NotFound(f"there is no transfer {pid!r} with you", code="transfer.not_found")
            if record.transfer_type != data.PULL or record.state != TransferState.STARTED:
                raise BadRequest(
                    f"a token is renewed only for a STARTED HttpData-PULL (it is {record.state})",
                    code="transfer.token_not_renewable",
                )
            self.agreements.check_now(record.agreement_id, caller_did, record.asset_id)
            return {"dataAddress": self._pull_address(record)}

    # --- both sides: messages on an existing process -------------------------------------

    def receive(
        self, caller_did: str, role: str, pid: str, body: Any, *, path: str, expected_type: str
    ) -> Answer:
        """A message on transfer ``pid`` where we play ``role`` (200 + TransferProcess)."""
        validate_message(body, expected_type=expected_type)
        digest = message_digest(path, body)
        after: Callable[[], None] | None = None
        try:
            with transaction(self._sessions) as session:
                record = self._lock(session, pid, role)
                if record is None or record.counterparty_did != caller_did:
                    raise NotFound(
                        f"there is no transfer process {pid!r} with you",
                        code="transfer.not_found",
                    )
                check_pids(record, body, process="transfer", code="transfer.pid_mismatch")
                self._check_completion(record, body, expected_type)
                try:
                    self._move(
                        record, expected_type, "consumer" if role == "provider" else "provider"
                    )
                except InvalidTransition:
                    done = already_processed(session, caller_did, digest)
                    if done is not None:
                        return done
                    raise
                answer: Answer = (200, self._ack(record))
                after = self._react(record, expected_type, body)
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
            if done is None:
                raise
            return done
        self._committed(session)
        if after is not None:
            after()
        return answer

    def _check_completion(self, record: Record, body: Mapping[str, Any], kind: str) -> None:
        """A push consumer refuses a completion whose content it can check and that differs."""
        if kind != TRANSFER_COMPLETION or record.role != "consumer":
            return
        claimed = body.get(data.SHA256_PROPERTY)
        if record.transfer_type == data.S3_PUSH and claimed and record.data_address:
            destination = data.s3_destination(record.data_address)
            backend = self.backends.for_address(destination)
            with backend.open(destination) as stream:
                from hansa.dataplane.streaming import HashingIterator

                hashed = HashingIterator(stream.chunks)
                for _ in hashed:
                    pass
            if hashed.hexdigest() != claimed:
                raise BadRequest(
                    "the data in the bucket does not match the completion's SHA-256",
                    code="transfer.integrity_failed",
                    pointer="/" + data.SHA256_PROPERTY,
                )

    def _react(
        self, record: Record, kind: str, body: Mapping[str, Any]
    ) -> Callable[[], None] | None:
        """Apply what an inbound message carries; what to run after the commit."""
        if kind == TRANSFER_TERMINATION:
            record.error_code = body.get("code")
            reason = body.get("reason")
            record.error_reason = "; ".join(map(str, reason)) if isinstance(reason, list) else None
            return None
        if kind == TRANSFER_COMPLETION:
            claimed, size = body.get(data.SHA256_PROPERTY), body.get(data.SIZE_PROPERTY)
            record.sha256 = str(claimed) if claimed else record.sha256
            if isinstance(size, str) and size.isdigit():
                record.size = int(size)
            if record.role == "consumer":
                receipt = self._receipt(record, record.size or 0, "completed")
                return lambda: self.usage.record(receipt)
            return None
        if kind == TRANSFER_START and record.role == "consumer":
            if isinstance(body.get("dataAddress"), dict):
                record.data_address = dict(body["dataAddress"])
            endpoint = (record.data_address or {}).get("endpoint")
            if record.transfer_type == data.PULL and isinstance(endpoint, str):
                pid, run = record.id, self.leases.new_run()
                self.leases.hold(record, run)  # with the state: no sweep races the pull
                return lambda: self._spawn(self._run_pull, pid, run)
        if (
            kind == TRANSFER_START
            and record.role == "provider"
            and record.transfer_type != data.PULL
        ):
            pid, run = record.id, self.leases.new_run()
            self.leases.hold(record, run)
            return lambda: self._spawn(self._run_push, pid, run)
        return None

    def get(self, caller_did: str, role: str, pid: str) -> dict[str, Any]:
        """``GET /transfers/{pid}``: the TransferProcess, for its counterparty only."""
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.role != role or record.counterparty_did != caller_did:
                raise NotFound(
                    f"there is no transfer process {pid!r} with you", code="transfer.not_found"
                )
            return self._ack(record)

    # --- management (the consumer's requests, either side's moves) ---------------------

    def start(
        self, *, agreement_id: str, transfer_type: str, destination: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Consumer: request a transfer under an agreement we hold (REQUESTED)."""
        if transfer_type not in data.TRANSFER_TYPES:
            raise BadRequest(
                f"type must be one of {', '.join(data.TRANSFER_TYPES)}",
                code="transfer.format_unsupported",
                pointer="/type",
            )
        with self._sessions() as session:
            negotiation = session.scalars(
                select(ContractNegotiationRecord).where(
                    ContractNegotiationRecord.agreement_id == agreement_id,
                    ContractNegotiationRecord.role == "consumer",
                )
            ).first()
            if negotiation is None or negotiation.state != "FINALIZED":
                raise NotFound(
                    f"this node holds no FINALIZED agreement {agreement_id!r}",
                    code="transfer.agreement_not_found",
                    pointer="/agreementId",
                )
            provider, address = negotiation.counterparty_did, negotiation.counterparty_address
            asset_id = str((negotiation.agreement or {}).get("target", ""))
        pid = new_pid()
        push_target = None
        local = None
        if transfer_type == data.PULL:
            local = dict(destination or {"type": "File", "path": default_pull_path(pid)})
        else:
            push_target = data.check_push_address(transfer_type, destination)
        record = Record(
            id=pid,
            role="consumer",
            state="",
            counterparty_did=provider,
            counterparty_address=address,
            agreement_id=agreement_id,
            asset_id=asset_id,
            transfer_type=transfer_type,
            data_address=push_target,
            destination=local,
            history=[],
        )
        body = dsp.transfer_request_message(
            consumer_pid=pid,
            agreement_id=agreement_id,
            format=transfer_type,
            callback_address=self.callback_url,
            data_address=push_target,
        )
        with transaction(self._sessions) as session:
            session.add(record)
            self._send(session, record, body)
        self._committed(session)
        return self.view(pid)

    def act(self, pid: str, action: str, reason: str | None = None) -> dict[str, Any]:
        """Our move: ``start`` (provider), ``suspend``, ``resume``, ``complete`` or
        ``terminate``, as the state machine allows (400 otherwise)."""
        with transaction(self._sessions) as session:
            record = self._lock(session, pid)
            if record is None:
                raise NotFound(f"there is no transfer {pid!r}", code="transfer.not_found")
            pids = self._pids(record)
            if action == "suspend":
                body = dsp.transfer_suspension_message(
                    **pids, code="transfer.suspended", reason=reason or "suspended by its operator"
                )
                self._send(session, record, body)
            elif action in ("start", "resume"):
                # A pull resumed by the consumer or a push starts once the start is delivered.
                self._send(session, record, self._start_message(record))
            elif action == "complete":
                self._send(session, record, self._completion(record))
            elif action == "terminate":
                self._terminate(
                    session, record, "transfer.terminated", reason or "terminated by its operator"
                )
            else:
                raise BadRequest(
                    f"unknown action {action!r}; use start, suspend, resume, complete or terminate",
                    code="transfer.unknown_action",
                )
        self._committed(session)
        return self.view(pid)

    # --- the outbox handler ------------------------------------------------------------

    def deliver(self, message: OutboundMessage) -> Any:
        """Send one message with a DCP token for the counterparty; keep its answer."""
        token = self._sts.id_token(message.audience, scopes=message.scopes)
        response = self._http.post_json(
            message.target_url, message.body, headers={"Authorization": f"Bearer {token}"}
        )
        answer = response.json() if response.content.strip() else None
        if message.message_type == TRANSFER_START:
            self._started(message.process_id)
        if message.message_type == TRANSFER_REQUEST and isinstance(answer, dict):
            with transaction(self._sessions) as session:
                record = self._lock(session, message.process_id, "consumer")
                if record is not None and record.counterparty_pid is None:
                    provider_pid = answer.get("providerPid")
                    record.counterparty_pid = (
                        provider_pid if isinstance(provider_pid, str) else None
                    )
        return answer

    def refused(self, message: OutboundMessage, error: HansaError) -> None:
        """The counterparty refused for good: the transfer ends (TERMINATED)."""
        code, reason = data.describe(error)
        with transaction(self._sessions) as session:
            record = session.get(Record, message.process_id)
            if record is None or record.state in ("COMPLETED", "TERMINATED"):
                if record is not None and message.message_type == TRANSFER_COMPLETION:
                    record.error_code, record.error_reason = code, reason
                return
            record.error_code, record.error_reason = code, f"{message.message_type}: {reason}"
            record.state = "TERMINATED"
            record.mover = record.lease_until = None
            self._stopped.add(record.id)
            record.history = [
                *(record.history or []),
                {"state": "TERMINATED", "at": self._clock().isoformat()},
            ]
            receipt = None
            if record.role == "consumer" and message.message_type == TRANSFER_REQUEST:
                receipt = self._receipt(record, 0, "refused", code)
        self._committed()
        if receipt is not None:
            self.usage.record(receipt)


__all__ = ["CALLBACK_PATH", "RECEIPT_EVENT_TYPE", "TOPIC", "TransferService", "transfer_view"]
